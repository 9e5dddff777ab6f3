"""Moving weighted average cost, and recalculation after a back-dated document."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from torg.conftest import moment
from torg.core import jobs
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import Job
from torg.stock import services
from torg.stock.costing import recalculate_costs
from torg.stock.models import Purchase, Stock, StockCost, StockCostMovement, WriteOff, WriteOffLine
from torg.stock.tests.helpers import D, purchase, stock_count, write_off

pytestmark = pytest.mark.django_db


def issued_costs() -> list[tuple[int, Decimal]]:
    return list(
        StockCostMovement.objects.filter(record_type=-1).order_by("period", "recorder_id", "line_no")
        .values_list("line_no", "amount")
    )


def test_issue_takes_quantity_times_current_average(organization, warehouse, supplier, milk):
    organization.vat_payer = False
    organization.save()
    purchase(organization, warehouse, supplier, moment("2026-03-01"), [(milk, 10, 100)])
    purchase(organization, warehouse, supplier, moment("2026-03-02"), [(milk, 20, 130)])
    # average = (1000 + 2600) / 30 = 120.00
    write_off(organization, warehouse, moment("2026-03-03"), [(milk, 3)])
    assert issued_costs() == [(1, D("360.00"))]
    # taking all that is left takes all the amount left: no kopeck stays behind
    write_off(organization, warehouse, moment("2026-03-04"), [(milk, 27)])
    assert StockCost.balance(organization=organization, item=milk) == {"quantity": D(0), "amount": D("0.00")}


def test_average_with_repeating_decimals_leaves_nothing_behind(organization, warehouse, supplier, milk):
    organization.vat_payer = False
    organization.save()
    purchase(organization, warehouse, supplier, moment("2026-03-01"), [(milk, 3, 100), (milk, 3, "100.01")])
    for day in range(2, 8):  # 600.03 / 6 = 100.005 each: half-up, then the remainder follows the balance
        write_off(organization, warehouse, moment(f"2026-03-{day:02d}"), [(milk, 1)])
    assert [a for _n, a in issued_costs()] == [D(x) for x in ("100.01", "100.00", "100.01", "100.00", "100.01",
                                                               "100.00")]
    assert StockCost.balance(organization=organization, item=milk) == {"quantity": D(0), "amount": D("0.00")}


def test_an_issue_after_every_movement_takes_the_kept_totals_and_a_backdated_one_its_moment(
    organization, warehouse, supplier, milk, django_capture_on_commit_callbacks
):
    """A write-off dated after every movement of its item takes the kept cost totals (no later movement to leave
    out) and queues no recalculation; one dated between two receipts takes the balance at its own moment and
    queues the recalculation of what follows."""
    organization.vat_payer = False
    organization.save()
    purchase(organization, warehouse, supplier, moment("2026-03-01"), [(milk, 10, 100)])
    purchase(organization, warehouse, supplier, moment("2026-03-05"), [(milk, 10, 200)])
    key = StockCost.key_of((organization.pk, milk.pk))
    assert StockCost.kept_if_nothing_from(moment("2026-03-06"), [key]) == {
        key: {"quantity": D(20), "amount": D("3000.00")}}
    assert StockCost.kept_if_nothing_from(moment("2026-03-05"), [key]) is None  # a movement at that moment
    assert StockCost.kept_if_nothing_from(moment("2026-03-06"), []) == {}

    latest = WriteOff(organization=organization, warehouse=warehouse, date=moment("2026-03-06"), reason="damaged")
    with django_capture_on_commit_callbacks(execute=True):
        services.save_stock_document(latest, [WriteOffLine(item=milk, quantity=D(2))], post=True)
    assert latest.__dict__["_cost_nothing_from"] == (latest.date, {key})  # what spares the check for later issues
    assert issued_costs() == [(1, D("300.00"))]  # (1000 + 2000) / 20 × 2
    assert not Job.objects.filter(name="stock.recalculate_costs").exists()

    backdated = WriteOff(organization=organization, warehouse=warehouse, date=moment("2026-03-03"), reason="damaged")
    with django_capture_on_commit_callbacks(execute=True):
        services.save_stock_document(backdated, [WriteOffLine(item=milk, quantity=D(5))], post=True)
    assert backdated.__dict__["_cost_nothing_from"] is None
    assert StockCostMovement.objects.get(recorder_id=backdated.pk, record_type=-1).amount == D("500.00")  # 5 × 100
    assert Job.objects.filter(name="stock.recalculate_costs", status="queued").exists()


def _run_recalc_jobs() -> None:
    jobs.run_until_empty()


def test_backdated_purchase_then_recalculation_equals_date_order(
    organization, warehouse, supplier, milk, bread, django_capture_on_commit_callbacks
):
    organization.vat_payer = False
    organization.save()
    plan = [
        ("purchase", "2026-03-01", [(milk, 10, 100), (bread, 4, 50)]),
        ("write_off", "2026-03-05", [(milk, 4), (bread, 1)]),
        ("purchase", "2026-03-08", [(milk, 6, 160)]),
        ("write_off", "2026-03-10", [(milk, 5)]),
        ("purchase", "2026-03-03", [(milk, 10, 40), (bread, 4, 20)]),  # back-dated: before both write-offs
        ("write_off", "2026-03-12", [(milk, 9), (bread, 2)]),
    ]

    def run(order: list[int]) -> list[Decimal]:
        with django_capture_on_commit_callbacks(execute=True):
            for index in order:
                kind, day, lines = plan[index]
                if kind == "purchase":
                    purchase(organization, warehouse, supplier, moment(day), lines)
                else:
                    write_off(organization, warehouse, moment(day), lines)
        _run_recalc_jobs()
        return [m.amount for m in StockCostMovement.objects.filter(record_type=-1).order_by("period", "line_no")]

    as_entered = run([0, 1, 2, 3, 4, 5])
    assert Job.objects.filter(name="stock.recalculate_costs", status="done").exists()
    # Start again and post the same documents in date order.
    for doc in list(WriteOff.objects.order_by("-date")) + list(Purchase.objects.order_by("-date")):
        services.unpost(doc)
        doc.lines.all().delete()
        doc.delete()
    in_date_order = run([0, 4, 1, 2, 3, 5])
    assert as_entered == in_date_order
    # the figures themselves: 03-05 milk avg (1000+400)/20=70 → 4×70=280; bread (200+80)/8=35 → 35
    assert as_entered[:2] == [D("280.00"), D("35.00")]


def test_recalculation_by_hand_is_idempotent(organization, warehouse, supplier, milk):
    purchase(organization, warehouse, supplier, moment("2026-03-01"), [(milk, 10, 100)])
    write_off(organization, warehouse, moment("2026-03-05"), [(milk, 4)])
    start = moment("2026-01-01")
    assert recalculate_costs(organization.pk, start) == 0
    assert recalculate_costs(organization.pk, start - dt.timedelta(days=400)) == 0


def test_stock_count_completion_creates_posted_write_off_and_surplus(
    organization, warehouse, supplier, milk, bread, make_item
):
    organization.vat_payer = False
    organization.save()
    jam = make_item("Jam")
    purchase(organization, warehouse, supplier, moment("2026-03-01"), [(milk, 10, 100), (bread, 5, 40)])
    count = stock_count(organization, warehouse, moment("2026-03-20"), [(milk, 8), (bread, 6), (jam, 2)])
    services.fill_stock_count(count, all_items=False)
    count.refresh_from_db()
    books = {ln.item_id: ln.book_quantity for ln in count.lines.all()}
    assert books == {milk.pk: D(10), bread.pk: D(5), jam.pk: D(0)}

    write_off_doc, surplus_doc = services.complete_stock_count(count)

    assert write_off_doc.posted and surplus_doc.posted
    assert [(ln.item_id, ln.quantity) for ln in write_off_doc.lines.all()] == [(milk.pk, D(2))]
    assert [(ln.item_id, ln.quantity, ln.price) for ln in surplus_doc.lines.order_by("line_no")] == [
        (bread.pk, D(1), D("40.00")), (jam.pk, D(2), D("0.00"))]
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == 8
    assert Stock.balance(warehouse=warehouse, item=jam)["quantity"] == 2
    with pytest.raises(CoreError) as info:  # its results are based on it
        services.unpost(count)
    assert info.value.code == ErrorCode.HAS_DEPENDENTS
    assert write_off_doc.number in str(info.value) and surplus_doc.number in str(info.value)
