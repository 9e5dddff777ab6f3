"""Bad input gets a clear answer and loses nothing (issue 3): each refusal names what is wrong with the figures a
person needs, and writes nothing — no document, no movement, no number, no history row."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import Partner
from torg.conftest import moment
from torg.core.errors import CoreError, ErrorCode
from torg.core.posting import ShortageError, verify_register
from torg.payments.models import Funds, IncomingPayment, PaymentAllocation, PaymentMethod, Refund
from torg.payments.services import advance_held, refund, register_payment, suggest_allocation
from torg.sales import services
from torg.sales.models import (
    AgreementStatus,
    ClientAdvances,
    ClientSettlements,
    OrderBacklog,
    OrderPaymentStage,
    OrderStateCode,
    PaymentSchedule,
    PaymentScheduleStage,
    Reserves,
    SalesOrder,
    SalesOrderLine,
    Securing,
    Shipment,
    ShipmentLine,
    StageKind,
)
from torg.sales.settlements import receivables
from torg.sales.tests.test_properties import _snapshot
from torg.stock.models import Stock

D = Decimal
pytestmark = pytest.mark.django_db


# ================================================================== helpers
def make_order(organization: Any, client: Any, warehouse: Any, lines: list[tuple[Any, Any, Any]], *, user: Any,
               day: str = "2026-03-10", agreement: Any = None, stages: list[OrderPaymentStage] | None = None,
               securing: str = Securing.NONE) -> SalesOrder:
    """A posted order, not agreed yet; lines are (item, quantity, price)."""
    order = SalesOrder(organization=organization, partner=client, warehouse=warehouse, agreement=agreement,
                       date=moment(day, 10))
    services.save_order(order, [SalesOrderLine(item=i, quantity=D(q), price=D(p), securing=securing)
                                for i, q, p in lines], stages=stages or [], user=user, post=True)
    return order


def released(organization: Any, client: Any, warehouse: Any, lines: list[tuple[Any, Any, Any]], *, user: Any,
             day: str = "2026-03-10") -> SalesOrder:
    """An order without payment terms, agreed and released to ship."""
    order = make_order(organization, client, warehouse, lines, user=user, day=day)
    services.release_to_ship(order, user=user)
    order.refresh_from_db()
    return order


def cash(organization: Any, client: Any, cash_desk: Any, amount: str, day: str = "2026-03-10") -> IncomingPayment:
    return IncomingPayment(organization=organization, partner=client, method=PaymentMethod.CASH,
                           cash_desk=cash_desk, amount=D(amount), date=moment(day, 15))


def refused(call: Any) -> CoreError:
    """Run a call that must be refused; assert it wrote nothing; return the refusal."""
    before = _snapshot()
    with pytest.raises(CoreError) as info:
        call()
    assert _snapshot() == before, "a refused operation wrote something"
    return info.value


def registers_verify() -> None:
    for register in (Stock, Reserves, OrderBacklog, ClientSettlements, ClientAdvances, Funds):
        assert verify_register(register) == [], register.label


# ========================================================= the prepayment rule
def test_an_order_awaiting_its_prepayment_does_not_ship_by_hand_either(
        organization, warehouse, client_partner, milk, stocked, manager, director):
    """The backlog refuses orders awaiting their prepayment; a shipment typed by hand with the order's lines is
    refused the same way, unless the user may override the payment terms."""
    order = make_order(organization, client_partner, warehouse, [(milk, 4, 100)], user=manager, securing=Securing.SHIP,
                       stages=[OrderPaymentStage(kind=StageKind.PREPAYMENT, percent=D(100), days=0)])
    services.submit_order(order, user=director)  # the director may release before the prepayment
    order.refresh_from_db()
    assert order.state.state == OrderStateCode.AWAITING_PREPAYMENT

    def by_hand(user: Any) -> Shipment:
        shipment = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                            date=moment("2026-03-11"))
        return services.save_shipment(shipment, [
            ShipmentLine(order=order, order_line_code=1, item=milk, quantity=D(4), price=D(100))], user=user,
            post=True)

    error = refused(lambda: by_hand(manager))
    assert error.code == services.PAYMENT_TERMS
    assert error.message == f"These orders await their prepayment and cannot ship yet: {order}."
    error = refused(lambda: services.create_shipments_from_backlog([services.Pick(order.pk, 1)], user=manager))
    assert error.code == services.PAYMENT_TERMS

    shipment = by_hand(director)
    assert shipment.posted
    assert OrderBacklog.balance(order=order, line_code="1", item=milk, warehouse=warehouse)["quantity"] == D(0)
    registers_verify()


# ===================================================== shipping more than ordered
def test_shipping_more_than_ordered_names_order_line_ordered_shipped_and_asked(
        organization, warehouse, client_partner, milk, bread, stocked, manager):
    order = released(organization, client_partner, warehouse, [(bread, 5, 50), (milk, 10, 100)], user=manager)
    services.create_shipments_from_backlog([services.Pick(order.pk, 2, D(4))], user=manager,
                                           date=moment("2026-03-11"))

    # From the backlog: 7 more of line 2, of which 6 are left.
    error = refused(lambda: services.create_shipments_from_backlog(
        [services.Pick(order.pk, 2, D(7))], user=manager, date=moment("2026-03-12")))
    assert error.code == services.BEYOND_ORDER
    assert error.message == (f"Shipping more than ordered: {order}, line 2: ordered 10, shipped 4, asked 7.")

    # By hand, the same.
    shipment = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                        date=moment("2026-03-12"))
    error = refused(lambda: services.save_shipment(shipment, [
        ShipmentLine(order=order, order_line_code=2, item=milk, quantity=D(7), price=D(100))], user=manager,
        post=True))
    assert error.code == services.BEYOND_ORDER
    assert error.extra["problems"] == [f"{order}, line 2: ordered 10, shipped 4, asked 7"]

    # What is left ships.
    services.create_shipments_from_backlog([services.Pick(order.pk, 2, D(6))], user=manager,
                                           date=moment("2026-03-12"))
    assert OrderBacklog.balance(order=order, line_code="2", item=milk, warehouse=warehouse)["quantity"] == D(0)
    registers_verify()


def test_goods_beyond_the_order_need_the_right(organization, warehouse, client_partner, milk, bread, stocked, manager,
                                               director):
    """Goods the order does not have ride on its shipment only for someone with the right to ship beyond orders."""
    order = released(organization, client_partner, warehouse, [(milk, 10, 100)], user=director)

    def shipment_with_extra_bread(user: Any) -> Shipment:
        shipment = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                            date=moment("2026-03-11"))
        return services.save_shipment(shipment, [
            ShipmentLine(order=order, order_line_code=1, item=milk, quantity=D(10), price=D(100)),
            ShipmentLine(order=order, order_line_code=0, item=bread, quantity=D(2), price=D(50))], user=user,
            post=True)

    error = refused(lambda: shipment_with_extra_bread(manager))
    assert error.code == ErrorCode.INVALID
    assert error.fields["lines.2.item"] == [
        f"Line 2 is not in {order}: shipping beyond an order needs the right to do so."]

    shipment = shipment_with_extra_bread(director)
    assert shipment.posted and shipment.amount == D("1100.00")
    assert ClientSettlements.balances(["order"], order=order)[(order.pk,)]["shipped"] == D("1100.00")
    assert Stock.balance(warehouse=warehouse, item=bread)["quantity"] == D(98)
    assert OrderBacklog.balances(["order"], order=order)[(order.pk,)]["quantity"] == D(0)
    order.refresh_from_db()
    assert order.state.state == OrderStateCode.AWAITING_PAYMENT and order.state.debt == D("1100.00")
    registers_verify()


# ==================================================== reserving more than free
def test_reserving_more_than_free_is_refused_with_the_free_quantity(
        organization, warehouse, client_partner, milk, stocked, director):
    # Central holds 100 milk; another order reserves 95 of it.
    first = make_order(organization, client_partner, warehouse, [(milk, 95, 100)], user=director,
                       securing=Securing.RESERVE)
    services.submit_order(first, user=director)
    assert Stock.balance(warehouse=warehouse, item=milk) == {"quantity": D(100), "free": D(5)}

    second = make_order(organization, client_partner, warehouse, [(milk, 10, 100)], user=director,
                        securing=Securing.RESERVE)
    error = refused(lambda: services.submit_order(SalesOrder.objects.get(pk=second.pk), user=director))
    assert isinstance(error, ShortageError) and error.code == ErrorCode.SHORTAGE
    assert error.message == "Line 1: Not enough free “Milk 1L” at Central (the rest is reserved): need 10, have 5"
    assert (error.shortfalls[0].need, error.shortfalls[0].have) == (D(10), D(5))

    # Five reserve.
    lines = list(second.lines.all())
    lines[0].quantity = D(5)
    services.save_order(second, lines, user=director, expected_version=second.version)
    services.submit_order(second, user=director)
    assert Reserves.balance(warehouse=warehouse, item=milk, order=second)["quantity"] == D(5)
    assert Stock.balance(warehouse=warehouse, item=milk) == {"quantity": D(100), "free": D(0)}
    registers_verify()


# ================================================= payments above what is left
def test_a_payment_allocated_above_the_order_is_refused_naming_the_excess(
        organization, warehouse, client_partner, milk, stocked, cash_desk, manager):
    order = released(organization, client_partner, warehouse, [(milk, 20, 100)], user=manager)  # 2,000.00

    error = refused(lambda: register_payment(cash(organization, client_partner, cash_desk, "2500.00"),
                                             [PaymentAllocation(order=order, amount=D("2500.00"))], user=manager,
                                             idempotency_key="over-1"))
    assert error.code == ErrorCode.INVALID
    assert error.fields["lines.1.amount"] == [
        "Line 1: only 2,000.00 is left to pay on it; the excess 500.00 would go to the advance."]

    # What the page shows before saving: the order takes 2,000.00, the excess 500.00 goes to the advance.
    lines, rest = suggest_allocation(organization.pk, client_partner.pk, D("2500.00"))
    assert [(ln.order_id, ln.amount) for ln in lines] == [(order.pk, D("2000.00"))] and rest == D("500.00")
    register_payment(cash(organization, client_partner, cash_desk, "2500.00"), lines, user=manager,
                     idempotency_key="over-2")
    assert ClientSettlements.balances(["order"], order=order)[(order.pk,)]["paid"] == D("2000.00")
    assert advance_held(organization.pk, client_partner.pk) == D("500.00")
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("2500.00")
    order.refresh_from_db()
    assert order.state.paid_percent == D(100)
    registers_verify()


# =============================================================== refunds
def test_a_refund_above_the_advance_is_refused(organization, client_partner, cash_desk, accountant):
    register_payment(cash(organization, client_partner, cash_desk, "500.00"), user=accountant, idempotency_key="a-1")
    assert advance_held(organization.pk, client_partner.pk) == D("500.00")

    def refund_of(amount: str, key: str) -> Refund:
        return refund(Refund(organization=organization, partner=client_partner, method=PaymentMethod.CASH,
                             cash_desk=cash_desk, amount=D(amount), date=moment("2026-03-11")), user=accountant,
                      idempotency_key=key)

    error = refused(lambda: refund_of("600.00", "r-1"))
    assert error.code == ErrorCode.SHORTAGE
    assert error.message == "A refund cannot exceed the advance the client holds: 500.00 is held, 600.00 asked."
    assert error.fields == {"amount": ["At most 500.00."]}

    refund_of("500.00", "r-2")
    assert advance_held(organization.pk, client_partner.pk) == D(0)
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D(0)
    # Nothing left to refund: even a kopeck is refused.
    assert refused(lambda: refund_of("0.01", "r-3")).code == ErrorCode.SHORTAGE
    registers_verify()


# ========================================================== payment schedules
def test_stages_not_adding_up_to_100_percent_are_a_field_error(organization, warehouse, client_partner, milk,
                                                               manager):
    schedule = PaymentSchedule(name="Broken")
    error = refused(lambda: services.save_payment_schedule(schedule, [
        PaymentScheduleStage(kind=StageKind.ADVANCE, percent=D(30), days=0),
        PaymentScheduleStage(kind=StageKind.CREDIT, percent=D(40), days=10)]))
    assert error.code == ErrorCode.INVALID
    assert error.fields == {"stages": ["The stages add up to 70%; they must add up to 100%."]}
    assert not PaymentSchedule.objects.exists()

    order = SalesOrder(organization=organization, partner=client_partner, warehouse=warehouse,
                       date=moment("2026-03-10"))
    error = refused(lambda: services.save_order(order, [SalesOrderLine(item=milk, quantity=D(1), price=D(100))],
                                                stages=[OrderPaymentStage(kind=StageKind.PREPAYMENT, percent=D(50)),
                                                        OrderPaymentStage(kind=StageKind.CREDIT, percent=D(60))],
                                                user=manager, post=True))
    assert error.fields == {"stages": ["The stages add up to 110%; they must add up to 100%."]}
    assert order.pk is None


# =========================================================== closed agreement
def test_an_order_under_a_closed_agreement_is_refused(organization, warehouse, client_partner, agreement, prices,
                                                      milk, manager):
    agreement.status = AgreementStatus.CLOSED
    agreement.save()
    order = SalesOrder(organization=organization, partner=client_partner, warehouse=warehouse, agreement=agreement,
                       date=moment("2026-03-10"))
    error = refused(lambda: services.save_order(order, [SalesOrderLine(item=milk, quantity=D(1))], user=manager,
                                                post=True))
    assert error.code == services.AGREEMENT
    assert error.message == "The agreement “Wholesale 30/40/30” is closed: choose an active agreement."
    assert error.fields == {"agreement": ["This agreement is closed."]}


# ============================================== the same last units, one after the other
def test_the_second_of_two_shipping_the_last_units_gets_the_shortage(organization, warehouse2, client_partner, milk,
                                                                    stocked, manager):
    # North holds 50 milk; two orders of 30 are released, each thinking there is enough.
    first = released(organization, client_partner, warehouse2, [(milk, 30, 100)], user=manager)
    second = released(organization, client_partner, warehouse2, [(milk, 30, 100)], user=manager)
    services.create_shipments_from_backlog([services.Pick(first.pk, 1)], user=manager, date=moment("2026-03-11"))

    error = refused(lambda: services.create_shipments_from_backlog([services.Pick(second.pk, 1)], user=manager,
                                                                   date=moment("2026-03-11")))
    assert isinstance(error, ShortageError)
    assert error.message == "Line 1: Not enough “Milk 1L” at North: need 30, have 20"
    assert Stock.balance(warehouse=warehouse2, item=milk) == {"quantity": D(20), "free": D(20)}
    second.refresh_from_db()
    assert second.state.state == OrderStateCode.SHIPPING and second.state.shipped_amount == D(0)
    registers_verify()


# ====================================================== a sale without an order
def test_a_sale_without_an_order_on_credit_is_owed_by_its_due_date(organization, warehouse, client_partner, milk,
                                                                   stocked, cash_desk, manager):
    shipment = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                        date=moment("2026-03-10"), due_date=dt.date(2026, 3, 20))
    services.save_shipment(shipment, [ShipmentLine(item=milk, quantity=D(3), price=D(100))], user=manager, post=True)

    assert ClientSettlements.balance(organization=organization, partner=client_partner, order=None,
                                     shipment=shipment) == {"shipped": D("300.00"), "paid": D(0)}
    assert services.client_debt(organization.pk, client_partner.pk) == D("300.00")
    [row] = receivables(organization=organization.pk, today=dt.date(2026, 3, 20))
    assert (row.shipment_id, row.due_date, row.debt, row.overdue) == (shipment.pk, dt.date(2026, 3, 20),
                                                                      D("300.00"), D(0))
    [row] = receivables(organization=organization.pk, today=dt.date(2026, 3, 25))
    assert (row.days_overdue, row.overdue) == (5, D("300.00"))

    # A payment with no allocation goes to the oldest debt: this shipment.
    register_payment(cash(organization, client_partner, cash_desk, "300.00", day="2026-03-21"), user=manager,
                     idempotency_key="sale-1")
    assert services.client_debt(organization.pk, client_partner.pk) == D(0)
    assert receivables(organization=organization.pk, today=dt.date(2026, 3, 25)) == []
    registers_verify()


# ================================================================ credit limit
def test_over_the_credit_limit_a_manager_is_refused_and_the_director_may_ship(
        organization, warehouse, client_partner, milk, stocked, manager, director):
    Partner.objects.filter(pk=client_partner.pk).update(credit_limit=D("1000.00"))
    order = released(organization, client_partner, warehouse, [(milk, 15, 100)], user=manager)

    error = refused(lambda: services.create_shipments_from_backlog([services.Pick(order.pk, 1)], user=manager,
                                                                   date=moment("2026-03-11")))
    assert error.code == services.CREDIT_LIMIT
    assert error.message == ("Produkty na Lesnoy would owe 1,500.00, above its credit limit of 1,000.00 by 500.00.")

    # Within the limit the manager ships.
    services.create_shipments_from_backlog([services.Pick(order.pk, 1, D(10))], user=manager,
                                           date=moment("2026-03-11"))
    # Beyond it, the director (who has the right to override) ships the rest.
    assert refused(lambda: services.create_shipments_from_backlog(
        [services.Pick(order.pk, 1)], user=manager, date=moment("2026-03-11"))).code == services.CREDIT_LIMIT
    services.create_shipments_from_backlog([services.Pick(order.pk, 1)], user=director, date=moment("2026-03-11"))
    assert services.client_debt(organization.pk, client_partner.pk) == D("1500.00")
    registers_verify()


# ============================================================ overdue-debt stop
def test_overdue_debt_stops_shipping_until_paid_unless_overridden(
        organization, warehouse, client_partner, milk, stocked, cash_desk, manager, director):
    old = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                   date=moment("2026-03-01"), due_date=dt.date(2026, 3, 5))
    services.save_shipment(old, [ShipmentLine(item=milk, quantity=D(2), price=D(100))], user=manager, post=True)

    def sell(user: Any) -> Shipment:
        shipment = Shipment(organization=organization, partner=client_partner, warehouse=warehouse,
                            date=moment("2026-03-10"), due_date=dt.date(2026, 3, 20))
        return services.save_shipment(shipment, [ShipmentLine(item=milk, quantity=D(1), price=D(100))], user=user,
                                      post=True)

    error = refused(lambda: sell(manager))
    assert error.code == services.CREDIT_LIMIT
    assert error.message == ("Produkty na Lesnoy has overdue debt of 200.00: shipping stops until it is paid "
                             "(or someone with the right overrides).")
    assert sell(director).posted  # the director may override

    register_payment(cash(organization, client_partner, cash_desk, "200.00", day="2026-03-09"),
                     [PaymentAllocation(shipment=old, amount=D("200.00"))], user=manager, idempotency_key="od-1")
    assert sell(manager).posted  # paid: the manager ships again
    assert services.client_debt(organization.pk, client_partner.pk) == D("200.00")
    registers_verify()


# ====================================================== securing of a shipped line
def test_a_line_that_has_shipped_keeps_whether_it_is_reserved(organization, warehouse, client_partner, milk, bread,
                                                              stocked, director):
    """Reserving a line after part of it shipped without a reserve would keep the shipped part reserved for ever
    (free stock lower by it after the order is done); un-reserving one shipped with a reserve would take that
    reserve twice. Both are refused by name; lines that have not shipped may still change."""
    order = released(organization, client_partner, warehouse, [(milk, 10, 100), (bread, 4, 50)], user=director)
    services.create_shipments_from_backlog([services.Pick(order.pk, 1, D(4))], user=director,
                                           date=moment("2026-03-11"))

    lines = list(order.lines.order_by("line_no"))
    for line in lines:
        line.securing = Securing.RESERVE
    error = refused(lambda: services.save_order(order, lines, user=director, expected_version=order.version))
    assert error.fields == {"lines.1.securing": [
        "Line 1 has shipped 4 already: whether it is reserved can no longer change. "
        "Cancel what is left of it and order that as a new line."]}

    lines = list(order.lines.order_by("line_no"))
    lines[1].securing = Securing.RESERVE  # the bread has not shipped: it may be reserved
    services.save_order(order, lines, user=director, expected_version=order.version)
    assert Reserves.balance(warehouse=warehouse, item=bread, order=order)["quantity"] == D(4)
    assert Reserves.balance(warehouse=warehouse, item=milk, order=order)["quantity"] == D(0)

    services.create_shipments_from_backlog([services.Pick(order.pk, 1), services.Pick(order.pk, 2, D(1))],
                                           user=director, date=moment("2026-03-12"))
    lines = list(order.lines.order_by("line_no"))
    lines[1].securing = Securing.NONE
    error = refused(lambda: services.save_order(order, lines, user=director, expected_version=order.version))
    assert list(error.fields) == ["lines.2.securing"]

    # Shipped whole, reserved only what was left: nothing stays reserved, free stock is what is on hand.
    services.create_shipments_from_backlog([services.Pick(order.pk, 2)], user=director, date=moment("2026-03-13"))
    assert Reserves.balances(["order"], order=order) == {(order.pk,): {"quantity": D(0)}}
    assert Stock.balance(warehouse=warehouse, item=milk) == {"quantity": D(90), "free": D(90)}
    assert Stock.balance(warehouse=warehouse, item=bread) == {"quantity": D(96), "free": D(96)}
    registers_verify()
