"""The posting engine seen through stock documents: movements, kept totals, control, refusals."""
from __future__ import annotations

from decimal import Decimal

import pytest

from torg.conftest import moment
from torg.core.documents import save_document, unpost_document
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry, SystemSettings
from torg.core.posting import ShortageError, verify_register
from torg.stock import services
from torg.stock.models import (
    Stock,
    StockCost,
    StockCostMovement,
    StockMonthlyTotal,
    StockMovement,
    StockTotal,
    TransferLine,
    WriteOffLine,
)
from torg.stock.tests.helpers import D, purchase, transfer, write_off

pytestmark = pytest.mark.django_db


def test_purchase_posts_stock_and_cost(organization, warehouse, supplier, milk, bread):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, "122.00"), (bread, 5, 61)])

    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D("10.000")
    assert Stock.balance(warehouse=warehouse, item=bread)["quantity"] == D("5.000")
    # The organization pays VAT, so goods cost the amount without the 22 % VAT: 1220 − 1220×22/122 = 1000.00
    assert StockCost.balance(organization=organization, item=milk) == {"quantity": D(10), "amount": D("1000.00")}
    assert len(Stock.movements_of(doc)) == 2
    month = StockMonthlyTotal.objects.get(key=Stock.key_of((warehouse.pk, milk.pk)))
    assert (month.month.isoformat(), month.quantity_receipt, month.quantity_expense) == ("2026-03-01", 10, 0)
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_shortage_names_line_item_place_need_have_and_writes_nothing(organization, warehouse, supplier, milk, bread):
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 7, 100)])
    before = (StockMovement.objects.count(), StockCostMovement.objects.count(), list(StockTotal.objects.values()))

    doc = write_off(organization, warehouse, moment("2026-03-11"), [(bread, 1), (milk, 12)], post=False)
    with pytest.raises(ShortageError) as info:
        services.post(doc)

    assert info.value.code == ErrorCode.SHORTAGE
    message = str(info.value)
    assert "Milk 1L" in message and "Central" in message and "12" in message and "7" in message
    assert "Bread" in message  # both shortages are reported at once
    shortfall = next(s for s in info.value.shortfalls if s.names["item"] == "Milk 1L")
    assert (shortfall.need, shortfall.have, shortfall.line_nos) == (D(12), D(7), [2])
    doc.refresh_from_db()
    assert doc.posted is False
    assert (StockMovement.objects.count(), StockCostMovement.objects.count(),
            list(StockTotal.objects.values())) == before


def test_repost_changes_totals_by_the_difference(organization, warehouse, warehouse2, supplier, milk):
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    doc = transfer(organization, warehouse, warehouse2, moment("2026-03-12"), [(milk, 4)])
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == 4

    doc.refresh_from_db()
    services.save_stock_document(doc, [TransferLine(item=milk, quantity=D(6))], expected_version=doc.version)

    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == 4
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == 6
    assert len(Stock.movements_of(doc)) == 2
    assert verify_register(Stock) == []
    assert ChangeLogEntry.objects.filter(object_id=doc.pk, action="reposted").exists()


def test_repost_that_would_overdraw_is_refused_and_keeps_the_old_version(
    organization, warehouse, warehouse2, supplier, milk
):
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    doc = transfer(organization, warehouse, warehouse2, moment("2026-03-12"), [(milk, 4)])
    doc.refresh_from_db()
    with pytest.raises(ShortageError):
        services.save_stock_document(doc, [TransferLine(item=milk, quantity=D(11))], expected_version=doc.version)
    assert list(doc.lines.values_list("quantity", flat=True)) == [D(4)]
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == 4


@pytest.mark.parametrize("combined_params", [20_000, 12])
def test_a_documents_register_statements_run_together_or_in_parts_with_the_same_result(
    organization, warehouse, warehouse2, supplier, milk, bread, monkeypatch, combined_params
):
    """On PostgreSQL a document's register statements go as one; past COMBINED_PARAMS parameters (here forced
    down to 12, so that each statement goes alone, and with one row per upsert, as a document of more than
    UPSERT_CHUNK keys has several) they are sent in parts. Totals, the control of a controlled register and a
    re-post that deletes the old movements come out the same either way."""
    from torg.core import posting

    monkeypatch.setattr(posting, "COMBINED_PARAMS", combined_params)
    if combined_params < 100:
        monkeypatch.setattr(posting, "UPSERT_CHUNK", 1)
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100), (bread, 5, 50)])
    doc = transfer(organization, warehouse, warehouse2, moment("2026-03-12"), [(milk, 4), (bread, 2)])
    doc.refresh_from_db()
    services.save_stock_document(doc, [TransferLine(item=milk, quantity=D(6)), TransferLine(item=bread, quantity=D(5))],
                                 expected_version=doc.version)
    assert (Stock.balance(warehouse=warehouse, item=milk)["quantity"],
            Stock.balance(warehouse=warehouse2, item=bread)["quantity"]) == (D(4), D(5))

    doc.refresh_from_db()
    with pytest.raises(ShortageError) as info:
        services.save_stock_document(doc, [TransferLine(item=milk, quantity=D(6)),
                                           TransferLine(item=bread, quantity=D(7))], expected_version=doc.version)
    assert [(s.names["item"], s.need, s.have) for s in info.value.shortfalls] == [("Bread", D(7), D(5))]
    assert len(Stock.movements_of(doc)) == 4 and Stock.balance(warehouse=warehouse, item=bread)["quantity"] == 0
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_unpost_of_a_receipt_used_later_is_refused_with_the_later_documents(
    organization, warehouse, supplier, milk
):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    later = write_off(organization, warehouse, moment("2026-03-15"), [(milk, 8)])
    with pytest.raises(ShortageError) as info:
        unpost_document(doc)
    assert later.number in str(info.value)
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == 2


def test_unpost_removes_movements_and_totals(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    services.unpost(doc)
    assert StockMovement.objects.count() == 0
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == 0
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_period_lock_refuses_posting_and_editing(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    settings_row = SystemSettings.get()
    settings_row.period_lock_date = moment("2026-03-31").date()
    settings_row.save()

    with pytest.raises(CoreError) as info:
        services.unpost(doc)
    assert info.value.code == ErrorCode.PERIOD_LOCKED
    with pytest.raises(CoreError) as info:
        write_off(organization, warehouse, moment("2026-03-20"), [(milk, 1)], post=False)
    assert info.value.code == ErrorCode.PERIOD_LOCKED
    doc.date = moment("2026-04-02")
    with pytest.raises(CoreError) as info:  # moving a locked document out of the locked period is refused too
        save_document(doc)
    assert info.value.code == ErrorCode.PERIOD_LOCKED
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == 10


def test_concurrent_edit_refused_for_the_second_save(organization, warehouse, supplier, milk):
    doc = write_off(organization, warehouse, moment("2026-03-10"), [(milk, 1)], post=False)
    first = type(doc).objects.get(pk=doc.pk)
    second = type(doc).objects.get(pk=doc.pk)
    first.reason = "broken"
    services.save_stock_document(first, [WriteOffLine(item=milk, quantity=D(2))], expected_version=first.version)
    second.reason = "expired"
    with pytest.raises(CoreError) as info:
        services.save_stock_document(second, [WriteOffLine(item=milk, quantity=D(3))], expected_version=second.version)
    assert info.value.code == ErrorCode.CONCURRENT_EDIT
    doc.refresh_from_db()
    assert doc.reason == "broken"
    assert list(doc.lines.values_list("quantity", flat=True)) == [D(2)]


def test_numbers_are_gap_free_per_prefix_and_year(organization, other_organization, warehouse, supplier, milk):
    a1 = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 1, 1)], post=False)
    b1 = purchase(other_organization, warehouse, supplier, moment("2026-03-10"), [(milk, 1, 1)], post=False)
    a2 = purchase(organization, warehouse, supplier, moment("2026-03-11"), [(milk, 1, 1)], post=False)
    with pytest.raises(CoreError):  # a refused save gives its number back
        purchase(organization, warehouse, supplier, moment("2026-03-11"), [(milk, -1, 1)], post=False)
    a3 = purchase(organization, warehouse, supplier, moment("2026-03-12"), [(milk, 1, 1)], post=False)
    next_year = purchase(organization, warehouse, supplier, moment("2027-01-02"), [(milk, 1, 1)], post=False)
    assert [a1.number, a2.number, a3.number] == ["РМ-000001", "РМ-000002", "РМ-000003"]
    assert b1.number == "ИП-000001"
    assert next_year.number == "РМ-000001"


def test_balance_at_past_moments_and_turnovers(organization, warehouse, warehouse2, supplier, milk):
    purchase(organization, warehouse, supplier, moment("2026-01-15"), [(milk, 10, 100)])
    transfer(organization, warehouse, warehouse2, moment("2026-02-10"), [(milk, 3)])
    purchase(organization, warehouse, supplier, moment("2026-02-20"), [(milk, 5, 100)])
    write_off(organization, warehouse, moment("2026-04-05"), [(milk, 2)])

    def at(day: str) -> Decimal:
        return Stock.balances_at(moment(day, 0), ["warehouse"], item=milk).get((warehouse.pk,), {}).get(
            "quantity", D(0))

    assert [at("2026-01-01"), at("2026-01-16"), at("2026-02-15"), at("2026-03-01"), at("2026-04-30")] == [
        0, 10, 7, 12, 10]
    turnovers = Stock.turnovers(moment("2026-02-01", 0), moment("2026-04-06", 0), ["warehouse"], item=milk)
    # Nothing is reserved: free stock turns over with the quantity.
    assert turnovers[(warehouse.pk,)] == {"quantity_receipt": D(5), "quantity_expense": D(5),
                                          "free_receipt": D(5), "free_expense": D(5)}
    assert turnovers[(warehouse2.pk,)] == {"quantity_receipt": D(3), "quantity_expense": D(0),
                                           "free_receipt": D(3), "free_expense": D(0)}


def test_services_do_not_touch_stock(organization, warehouse, supplier, make_item):
    delivery = make_item("Delivery", kind="service")
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(delivery, 1, 500)])
    assert doc.posted
    assert StockMovement.objects.count() == 0


def test_invalid_lines_are_refused_with_field_errors(organization, warehouse, supplier, milk):
    with pytest.raises(CoreError) as info:
        transfer(organization, warehouse, warehouse, moment("2026-03-10"), [(milk, 0)], post=False)
    assert info.value.code == ErrorCode.INVALID
    assert set(info.value.fields) >= {"warehouse_to", "lines.1.quantity"}


def test_a_register_still_protects_the_rows_it_refers_to_without_database_constraints(
        organization, warehouse, supplier, milk):
    """Register tables carry no foreign-key constraints in the database (core DESIGN.md); deleting an item their
    rows refer to is refused all the same, by Django, and deletes nothing."""
    from django.db.models import ProtectedError

    from torg.stock.models import PurchaseLine

    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100)])
    PurchaseLine.objects.filter(document=doc).delete()  # only the register's rows refer to the item now

    with pytest.raises(ProtectedError) as info:
        milk.delete()

    protected = {type(obj) for obj in info.value.protected_objects}
    assert {StockMovement, StockTotal, StockMonthlyTotal, StockCostMovement} <= protected
    assert type(milk).objects.filter(pk=milk.pk).exists()
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D("10.000")
