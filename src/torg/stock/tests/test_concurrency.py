"""Posting under real concurrency on PostgreSQL: row locks in one sorted order, stock control, no deadlock.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`).
"""
from __future__ import annotations

import random
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from torg.catalogs.models import Item, Organization, Partner, Warehouse
from torg.conftest import moment
from torg.core.errors import ErrorCode
from torg.core.posting import ShortageError, verify_register
from torg.stock.models import Stock, StockCost, StockMovement, Transfer, WriteOff
from torg.stock.tests.helpers import D, purchase, transfer, write_off

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 16


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set TORG_TEST_DATABASE_URL (make test-pg)")


def _run_at_once(work: list[Callable[[], Any]]) -> list[tuple[str, Any]]:
    """Run each callable in its own thread, all released together; return ("ok", result) or ("error", exc)."""
    barrier = threading.Barrier(len(work))
    results: list[tuple[str, Any]] = [("error", RuntimeError("did not run"))] * len(work)

    def runner(index: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 — every outcome is asserted by the test
            results[index] = ("error", exc)
        finally:
            connection.close()  # this thread's own connection

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a posting thread hung (lock wait?)"
    return results


def test_sixteen_issuers_of_the_last_units_issue_exactly_the_stock(
    organization: Organization, warehouse: Warehouse, warehouse2: Warehouse, supplier: Partner, milk: Item
) -> None:
    _require_postgresql()
    # Given 10 units of milk at Central, and 16 people who each issue 1 unit at the same moment:
    # half write it off, half transfer it to North.
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, "122.00")])

    def issue(n: int) -> Any:
        if n % 2:
            return write_off(organization, warehouse, moment("2026-03-11"), [(milk, 1)])
        return transfer(organization, warehouse, warehouse2, moment("2026-03-11"), [(milk, 1)])

    results = _run_at_once([lambda n=n: issue(n) for n in range(THREADS)])

    issued = [r for kind, r in results if kind == "ok"]
    errors = [r for kind, r in results if kind == "error"]
    assert len(issued) == 10
    assert len(errors) == THREADS - 10
    assert all(isinstance(e, ShortageError) for e in errors), [repr(e) for e in errors]
    for e in errors:
        assert e.code == ErrorCode.SHORTAGE
        assert "Milk 1L" in str(e) and "Central" in str(e)
        assert (e.shortfalls[0].need, e.shortfalls[0].have) == (D(1), D(0))
    transferred = sum(isinstance(d, Transfer) for d in issued)
    written_off = sum(isinstance(d, WriteOff) for d in issued)
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D("0.000")
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == D(transferred)
    # Cost leaves only with write-offs: 10 units cost 1000.00, each write-off takes 100.00.
    assert StockCost.balance(organization=organization, item=milk) == {
        "quantity": D(10 - written_off), "amount": D("1000.00") - 100 * written_off
    }
    # Refused documents stay unposted and wrote no movement.
    assert Transfer.objects.filter(posted=True).count() == transferred
    assert WriteOff.objects.filter(posted=True).count() == written_off
    assert StockMovement.objects.filter(record_type=-1).count() == 10
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_transfers_in_opposite_directions_over_several_items_never_deadlock(
    organization: Organization, warehouse: Warehouse, warehouse2: Warehouse, supplier: Partner, make_item: Any
) -> None:
    _require_postgresql()
    items = [make_item(f"Goods {n}") for n in range(6)]
    for w in (warehouse, warehouse2):
        purchase(organization, w, supplier, moment("2026-03-01"), [(i, 1000, 50) for i in items])

    def shuttle(n: int) -> int:
        rng = random.Random(n)
        source, target = (warehouse, warehouse2) if n % 2 else (warehouse2, warehouse)
        for _ in range(5):
            # Lines in a random order: the engine, not the caller, must order the locks.
            lines = [(i, rng.randint(1, 5)) for i in rng.sample(items, k=rng.randint(2, len(items)))]
            transfer(organization, source, target, moment("2026-03-15"), lines)
        return n

    results = _run_at_once([lambda n=n: shuttle(n) for n in range(THREADS)])

    assert [kind for kind, _r in results] == ["ok"] * THREADS, [repr(r) for k, r in results if k == "error"]
    assert Transfer.objects.filter(posted=True).count() == THREADS * 5
    for item in items:
        both = Stock.balances(["item"], item=item)
        assert both == {(item.pk,): {"quantity": Decimal("2000.000"), "free": Decimal("2000.000")}}
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_an_issue_that_waited_for_a_later_one_sees_it_and_queues_the_recalculation(
    organization: Organization, warehouse: Warehouse, supplier: Partner, milk: Item
) -> None:
    """A write-off dated 12 March waits for the cost totals that a write-off dated 14 March holds locked. Once that
    one commits, the earlier one must see the later issue (its own average leaves it out, and the later one's cost
    is stale): it takes the balance at its moment and queues the recalculation. The totals alone, read by the
    statement that waited, would already count the later issue while its movement stayed unseen."""
    from django.db import transaction

    from torg.core.models import Job
    from torg.stock import services
    from torg.stock.models import StockCostMovement, WriteOffLine

    _require_postgresql()
    organization.vat_payer = False
    organization.save()
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    later_holds_locks, earlier_started = threading.Event(), threading.Event()

    def later() -> Any:
        with transaction.atomic():
            doc = write_off(organization, warehouse, moment("2026-03-14"), [(milk, 4)])
            later_holds_locks.set()
            earlier_started.wait(timeout=30)
            threading.Event().wait(0.5)  # the earlier write-off is now waiting for the locks held here
        return doc

    def earlier() -> Any:
        later_holds_locks.wait(timeout=30)
        doc = WriteOff(organization=organization, warehouse=warehouse, date=moment("2026-03-12"), reason="damaged")
        earlier_started.set()
        services.save_stock_document(doc, [WriteOffLine(item=milk, quantity=D(2))], post=True)
        return doc

    results = _run_at_once([later, earlier])
    assert [kind for kind, _r in results] == ["ok", "ok"], results
    earlier_doc = results[1][1]
    assert earlier_doc.__dict__["_cost_nothing_from"] is None  # it saw the issue of 14 March
    assert StockCostMovement.objects.get(recorder_id=earlier_doc.pk, record_type=-1).amount == D("200.00")
    assert Job.objects.filter(name="stock.recalculate_costs").exists()
