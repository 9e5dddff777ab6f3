"""Register invariants under random sequences of stock operations (hypothesis).

Random create / post / edit / re-post / unpost of purchases, transfers, write-offs and
surpluses on a small random company (3 warehouses, 4 items, 2 organizations, dates
across four months, some near local midnight at a month's edge) must never:

* leave the kept totals or the monthly totals different from the sum of movements
  (`verify_register` for Stock and StockCost returns []);
* commit a negative kept Stock balance;
* change anything when an operation is refused (movements, totals, the document).

After each sequence, `balances_at` at random moments and `turnovers` for random periods
equal a brute-force sum of the movements.

Each hypothesis example runs inside a savepoint that is rolled back, so examples do not
see each other's documents; the catalogs are made once per test.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torg.catalogs.models import Item, Organization, Partner, Unit, Warehouse
from torg.core import jobs
from torg.core.errors import CoreError
from torg.core.models import ChangeLogEntry, Job, NumberSequence
from torg.core.posting import ShortageError, verify_register
from torg.core.registers import RecordType
from torg.stock import services
from torg.stock.models import (
    Purchase,
    PurchaseLine,
    Stock,
    StockCost,
    StockCostMonthlyTotal,
    StockCostMovement,
    StockCostTotal,
    StockMonthlyTotal,
    StockMovement,
    StockTotal,
    Surplus,
    SurplusLine,
    Transfer,
    TransferLine,
    WriteOff,
    WriteOffLine,
)

pytestmark = pytest.mark.django_db

N_WAREHOUSES = 3
N_ITEMS = 4
KINDS = ("purchase", "transfer", "write_off", "surplus")


def _local(year: int, month: int, day: int, hour: int = 12, minute: int = 0) -> dt.datetime:
    return timezone.make_aware(dt.datetime(year, month, day, hour, minute))


# Document dates: several per month, some exactly at or near a month's local midnight edge
# (23:30 on the last day; 00:00 and 01:00 on the first day, which is still the previous month in UTC).
DATES = [
    _local(2026, 1, 5, 9),
    _local(2026, 1, 20, 15),
    _local(2026, 1, 31, 23, 30),
    _local(2026, 2, 1, 0, 0),
    _local(2026, 2, 1, 1, 0),
    _local(2026, 2, 14, 12),
    _local(2026, 3, 1, 0, 0),
    _local(2026, 3, 18, 10),
    _local(2026, 4, 2, 8),
    _local(2026, 4, 30, 23, 59),
]
# Moments to read balances at and period edges for turnovers: the document dates themselves
# (movements *at* the moment are not counted), month starts, and points between them.
MOMENTS = sorted({
    *DATES,
    _local(2025, 12, 31, 0),
    _local(2026, 1, 1, 0, 0),
    _local(2026, 1, 31, 23, 45),
    _local(2026, 2, 10, 0),
    _local(2026, 4, 1, 0, 0),
    _local(2026, 5, 1, 0, 0),
    _local(2026, 6, 15, 0),
})

quantities = st.sampled_from(["1", "2", "3", "5", "8", "0.5", "1.250", "12"])
prices = st.sampled_from(["10.00", "99.90", "0.01", "123.45", "7"])
line_st = st.tuples(st.integers(0, N_ITEMS - 1), quantities, prices)
lines_st = st.lists(line_st, min_size=1, max_size=4)

create_op = st.builds(
    lambda kind, org, date, wh, wh2, lines, post: ("create", kind, org, date, wh, wh2, lines, post),
    st.sampled_from(KINDS), st.integers(0, 1), st.integers(0, len(DATES) - 1),
    st.integers(0, N_WAREHOUSES - 1), st.integers(0, N_WAREHOUSES - 1), lines_st, st.booleans(),
)
edit_op = st.builds(
    lambda doc, org, date, wh, wh2, lines: ("edit", doc, org, date, wh, wh2, lines),
    st.integers(0, 20), st.integers(0, 1), st.integers(0, len(DATES) - 1),
    st.integers(0, N_WAREHOUSES - 1), st.integers(0, N_WAREHOUSES - 1), lines_st,
)
post_op = st.tuples(st.just("post"), st.integers(0, 20))
unpost_op = st.tuples(st.just("unpost"), st.integers(0, 20))
recalc_op = st.just(("recalculate",))
# A few documents first, then anything: edits, posts and unposts need documents to act on.
operations = st.tuples(
    st.lists(create_op, min_size=2, max_size=4),
    st.lists(st.one_of(create_op, edit_op, edit_op, post_op, unpost_op, recalc_op), min_size=2, max_size=18),
).map(lambda parts: parts[0] + parts[1])


@dataclass
class World:
    organizations: list[Organization]
    warehouses: list[Warehouse]
    items: list[Item]
    supplier: Partner


@pytest.fixture
def world(db: Any) -> World:
    unit = Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")
    return World(
        organizations=[
            Organization.objects.create(name="ООО «Ромашка»", prefix="РМ", inn="7707083893", kpp="773601001"),
            Organization.objects.create(name="ИП Северов", prefix="ИП", inn="500100732259", vat_payer=False),
        ],
        warehouses=[Warehouse.objects.create(name=f"Warehouse {i}") for i in range(N_WAREHOUSES)],
        items=[Item.objects.create(name=f"Item {i}", unit=unit) for i in range(N_ITEMS)],
        supplier=Partner.objects.create(name="Supplier", is_client=False, is_supplier=True),
    )


# ------------------------------------------------------------------ operations
def _build(kind: str, world: World, org: int, date: int, wh: int, wh2: int,
           lines: list[tuple[int, str, str]], document: Any = None) -> tuple[Any, list[Any]]:
    header: dict[str, Any] = {"organization": world.organizations[org], "date": DATES[date]}
    w, w2 = world.warehouses[wh], world.warehouses[wh2]
    if kind == "purchase":
        header.update(warehouse=w, supplier=world.supplier)
        doc_lines = [PurchaseLine(item=world.items[i], quantity=Decimal(q), price=Decimal(p),
                                  vat_rate=world.items[i].vat_rate) for i, q, p in lines]
    elif kind == "transfer":
        header.update(warehouse_from=w, warehouse_to=w2)
        doc_lines = [TransferLine(item=world.items[i], quantity=Decimal(q)) for i, q, _p in lines]
    elif kind == "write_off":
        header.update(warehouse=w)
        doc_lines = [WriteOffLine(item=world.items[i], quantity=Decimal(q)) for i, q, _p in lines]
    else:
        header.update(warehouse=w)
        doc_lines = [SurplusLine(item=world.items[i], quantity=Decimal(q), price=Decimal(p)) for i, q, p in lines]
    model = {"purchase": Purchase, "transfer": Transfer, "write_off": WriteOff, "surplus": Surplus}[kind]
    if document is None:
        document = model(**header)
    else:  # an edit: every header field and all lines may change, the organization too
        for name, value in header.items():
            setattr(document, name, value)
    return document, doc_lines


def _state(doc_ref: tuple[type, int] | None = None) -> dict[str, Any]:
    """Every register row (and the document with its lines), to compare before and after a refusal."""
    state: dict[str, Any] = {
        "stock_movements": sorted(StockMovement.objects.values_list(
            "id", "recorder_type_id", "recorder_id", "line_no", "period", "record_type", "key", "quantity")),
        "cost_movements": sorted(StockCostMovement.objects.values_list(
            "id", "recorder_type_id", "recorder_id", "line_no", "period", "record_type", "key", "quantity",
            "amount")),
        "stock_totals": sorted(StockTotal.objects.values_list("key", "quantity")),
        "cost_totals": sorted(StockCostTotal.objects.values_list("key", "quantity", "amount")),
        "stock_monthly": sorted(StockMonthlyTotal.objects.values_list(
            "key", "month", "quantity_receipt", "quantity_expense")),
        "cost_monthly": sorted(StockCostMonthlyTotal.objects.values_list(
            "key", "month", "quantity_receipt", "quantity_expense", "amount_receipt", "amount_expense")),
        "change_log": ChangeLogEntry.objects.count(),
        "numbers": sorted(NumberSequence.objects.values_list("scope", "last_value")),
        "jobs": sorted(Job.objects.values_list("id", "status", "payload")),
    }
    if doc_ref is not None:
        model, pk = doc_ref
        state["document"] = list(model.objects.filter(pk=pk).values())
        state["lines"] = sorted(model.lines.field.model.objects.filter(document_id=pk).values_list(
            "line_no", "item_id", "quantity"))
    return state


def _assert_invariants() -> None:
    assert verify_register(Stock) == []
    assert verify_register(StockCost) == []
    negative = list(StockTotal.objects.filter(quantity__lt=0).values_list("key", "quantity"))
    assert negative == []


def _run(op: tuple[Any, ...], world: World, docs: list[tuple[str, type, int]]) -> str:
    """Apply one operation; return "ok" or "refused" (after checking that a refusal changed nothing)."""
    name = op[0]
    if name == "recalculate":
        jobs.run_until_empty()
        return "ok"
    doc_ref: tuple[type, int] | None = None
    if name == "create":
        _n, kind, org, date, wh, wh2, lines, post = op
        document, doc_lines = _build(kind, world, org, date, wh, wh2, lines)
        before = _state()
        try:
            services.save_stock_document(document, doc_lines)
        except CoreError:
            assert _state() == before
            return "refused"
        docs.append((kind, type(document), document.pk))
        if not post:
            return "ok"
        doc_ref = (type(document), document.pk)
        action = "post"
    else:
        if not docs:
            return "skipped (no document yet)"
        kind, model, pk = docs[op[1] % len(docs)]
        doc_ref = (model, pk)
        action = name
    model, pk = doc_ref
    document = model.objects.get(pk=pk)  # fresh: a refused operation leaves in-memory objects dirty
    before = _state(doc_ref)
    try:
        if action == "post":
            services.post(document)  # a posted document is re-posted
        elif action == "unpost":
            services.unpost(document)
        else:
            _n, _doc, org, date, wh, wh2, lines = op
            document, doc_lines = _build(kind, world, org, date, wh, wh2, lines, document=document)
            services.save_stock_document(document, doc_lines, expected_version=document.version)
    except ShortageError as exc:
        assert str(exc)  # names what is short
        assert _state(doc_ref) == before
        return "refused"
    except CoreError:
        assert _state(doc_ref) == before
        return "refused"
    # A posted document's movements are exactly movements() of its current state.
    document = model.objects.get(pk=pk)
    wanted = sorted(m.comparable() for m in document.movements() if m.register is Stock) if document.posted else []
    stored = sorted(
        (m.line_no, m.period, m.record_type, (m.warehouse_id, m.item_id), (m.quantity, m.free))
        for m in Stock.movements_of(document)
    )
    assert stored == wanted
    return "ok"


# ---------------------------------------------------------------- brute force
def _brute_balances(rows: list[tuple[Any, ...]], moment: dt.datetime, n_res: int) -> dict[tuple, tuple]:
    acc: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * n_res)
    for dims, period, record_type, *res in rows:
        if period < moment:
            for i in range(n_res):
                acc[dims][i] += Decimal(str(res[i])) * record_type
    return {k: tuple(v) for k, v in acc.items() if any(v)}


def _brute_turnovers(rows: list[tuple[Any, ...]], start: dt.datetime, end: dt.datetime,
                     n_res: int) -> dict[tuple, tuple]:
    acc: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * (2 * n_res))
    for dims, period, record_type, *res in rows:
        if start <= period < end:
            side = 0 if record_type == RecordType.RECEIPT else n_res
            for i in range(n_res):
                acc[dims][side + i] += Decimal(str(res[i]))
    return {k: tuple(v) for k, v in acc.items() if any(v)}


def _nonzero(result: dict[tuple, dict[str, Decimal]], names: list[str]) -> dict[tuple, tuple]:
    out = {k: tuple(v[n] for n in names) for k, v in result.items()}
    return {k: v for k, v in out.items() if any(v)}


def _check_reads(data: st.DataObject) -> None:
    stock_rows = [((w, i), p, rt, q) for w, i, p, rt, q in StockMovement.objects.values_list(
        "warehouse_id", "item_id", "period", "record_type", "quantity")]
    cost_rows = [((o, i), p, rt, q, a) for o, i, p, rt, q, a in StockCostMovement.objects.values_list(
        "organization_id", "item_id", "period", "record_type", "quantity", "amount")]
    for _ in range(3):
        moment = data.draw(st.sampled_from(MOMENTS), label="moment")
        assert _nonzero(Stock.balances_at(moment, ["warehouse", "item"]), ["quantity"]) == \
            _brute_balances(stock_rows, moment, 1)
        assert _nonzero(StockCost.balances_at(moment, ["organization", "item"]), ["quantity", "amount"]) == \
            _brute_balances(cost_rows, moment, 2)
        start, end = sorted(data.draw(st.lists(st.sampled_from(MOMENTS), min_size=2, max_size=2), label="period"))
        assert _nonzero(Stock.turnovers(start, end, ["warehouse", "item"]),
                        ["quantity_receipt", "quantity_expense"]) == _brute_turnovers(stock_rows, start, end, 1)
        assert _nonzero(StockCost.turnovers(start, end, ["organization", "item"]),
                        ["quantity_receipt", "amount_receipt", "quantity_expense", "amount_expense"]) == \
            _brute_turnovers(cost_rows, start, end, 2)
    # A filter on one key gives the same figures as the grouped read.
    moment = data.draw(st.sampled_from(MOMENTS), label="moment for one key")
    for (w, i), (qty,) in _brute_balances(stock_rows, moment, 1).items():
        assert Stock.balances_at(moment, ["warehouse", "item"], warehouse=w, item=i) == {
            (w, i): {"quantity": qty, "free": qty}}  # nothing reserved here: all of it is free


# ---------------------------------------------------------------------- test
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(ops=operations, data=st.data())
def test_random_operations_keep_totals_equal_to_movements(world: World, ops: list[tuple[Any, ...]],
                                                          data: st.DataObject) -> None:
    savepoint = transaction.savepoint()
    try:
        docs: list[tuple[str, type, int]] = []
        for op in ops:
            event(f"{op[0]}: {_run(op, world, docs)}")
            _assert_invariants()
        _check_reads(data)
    finally:
        transaction.savepoint_rollback(savepoint)
