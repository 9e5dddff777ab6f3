"""The whole order-to-cash flow, step by step, with the order's state asserted at every step.

quote → counter-offer → order → approval → advance paid → reserve → prepayment paid → release →
two shipments from two warehouses → credit payment → the order closes itself.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.core.errors import CoreError
from torg.core.posting import verify_register
from torg.payments.models import Funds, IncomingPayment, PaymentAllocation, PaymentMethod
from torg.payments.services import register_payment
from torg.sales import services
from torg.sales.models import (
    ApprovalState,
    ClientAdvances,
    ClientSettlements,
    OrderApproval,
    OrderBacklog,
    OrderStateCode,
    OrderStatus,
    Quote,
    QuoteLine,
    Reserves,
    SalesOrder,
    SalesTurnover,
    Securing,
)
from torg.stock.models import Stock

D = Decimal
pytestmark = pytest.mark.django_db


def state_of(order: SalesOrder) -> str:
    order.refresh_from_db()
    return order.state.state


def pay(order: SalesOrder, amount: str, *, user: Any, cash_desk: Any, key: str) -> IncomingPayment:
    payment = IncomingPayment(organization_id=order.organization_id, partner_id=order.partner_id,
                              method=PaymentMethod.CASH, cash_desk=cash_desk, amount=D(amount),
                              date=moment("2026-03-10", 15))
    return register_payment(payment, [PaymentAllocation(order=order, amount=D(amount))], user=user,
                            idempotency_key=key)


def test_quote_to_closed_order(organization, warehouse, warehouse2, client_partner, agreement, prices, milk, bread,
                               stocked, cash_desk, manager, director):
    # -- a quote from the agreement: prices come from its price type
    quote = Quote(organization=organization, partner=client_partner, agreement=agreement,
                  date=moment("2026-03-10", 9))
    services.save_quote(quote, [QuoteLine(item=milk, quantity=D(10)), QuoteLine(item=bread, quantity=D(20))],
                        user=manager)
    assert [ln.price for ln in quote.lines.order_by("line_no")] == [D(100), D(50)]
    assert quote.amount == D("2000.00")

    # -- the client answers: more bread at a lower price; that is the next version, linked to the first
    answer = services.create_quote_version(quote, user=manager, changes=[
        {"line_no": 1, "agreed": True}, {"line_no": 2, "quantity": 30, "price": 48, "agreed": True}])
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ANSWERED and answer.previous_id == quote.pk and answer.revision == 2
    second = answer.lines.get(line_no=2)
    assert (second.asked_quantity, second.asked_price, second.amount) == (D(30), D(48), D("1440.00"))

    # -- an order from the agreed lines; two lines from two warehouses
    order = services.order_from_quote(answer, user=manager)
    lines = list(order.lines.order_by("line_no"))
    lines[1].warehouse = warehouse2
    order.date = moment("2026-03-10", 10)
    services.save_order(order, lines, user=manager, post=True)
    assert order.amount == D("2440.00")
    assert [(s.kind, s.amount) for s in order.stages.all()] == [
        ("advance", D("732.00")), ("prepayment", D("976.00")), ("credit", D("732.00"))]
    assert state_of(order) == OrderStateCode.AWAITING_APPROVAL

    # -- the manager agrees it: the bread is below the agreement's price and ships from another warehouse,
    #    so it goes to the sales director's approval instead
    services.submit_order(order, user=manager)
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.NOT_AGREED, ApprovalState.PENDING)
    inbox = services.approval_inbox(director)
    assert [a.order_id for a in inbox] == [order.pk]
    assert {d["kind"] for d in inbox[0].deviations} == {"price", "warehouse"}
    assert services.approval_inbox(manager) == []

    services.decide_approval(inbox[0], approve=True, user=director, comment="regular client")
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.TO_SECURE, ApprovalState.APPROVED)
    assert state_of(order) == OrderStateCode.AWAITING_ADVANCE

    # -- reserving before the advance is refused for the manager
    with pytest.raises(CoreError) as refused:
        services.save_order(order, _reserve(order), user=manager)
    assert refused.value.code == services.PAYMENT_TERMS and "732" in refused.value.message

    # -- the advance arrives: the order is ready to secure; now the lines reserve
    pay(order, "732.00", user=manager, cash_desk=cash_desk, key="adv-1")
    assert state_of(order) == OrderStateCode.READY_TO_SECURE
    order.refresh_from_db()
    services.save_order(order, _reserve(order), user=manager)
    assert Reserves.balance(warehouse=warehouse, item=milk, order=order)["quantity"] == D(10)
    assert Reserves.balance(warehouse=warehouse2, item=bread, order=order)["quantity"] == D(30)
    assert Stock.balance(warehouse=warehouse2, item=bread) == {"quantity": D(50), "free": D(20)}
    assert state_of(order) == OrderStateCode.AWAITING_PREPAYMENT

    # -- releasing before the prepayment is refused; after it the order is released to ship
    with pytest.raises(CoreError) as refused:
        services.release_to_ship(order, user=manager)
    assert refused.value.code == services.PAYMENT_TERMS
    pay(order, "976.00", user=manager, cash_desk=cash_desk, key="pre-1")
    assert state_of(order) == OrderStateCode.READY_TO_SHIP
    services.release_to_ship(order, user=manager)
    assert state_of(order) == OrderStateCode.SHIPPING
    backlog = services.shipping_backlog()
    assert {(b.warehouse_id, b.item_id, b.quantity) for b in backlog} == {
        (warehouse.pk, milk.pk, D(10)), (warehouse2.pk, bread.pk, D(30))}

    # -- two shipments: the milk from Central, then the bread from North
    milk_row = next(b for b in backlog if b.item_id == milk.pk)
    bread_row = next(b for b in backlog if b.item_id == bread.pk)
    first = services.create_shipments_from_backlog([services.Pick(order.pk, milk_row.line_code)], user=manager,
                                                   date=moment("2026-03-11", 10))
    assert len(first) == 1 and first[0].posted
    assert state_of(order) == OrderStateCode.SHIPPING
    second_shipment = services.create_shipments_from_backlog([services.Pick(order.pk, bread_row.line_code)],
                                                             user=manager, date=moment("2026-03-11", 11))[0]
    assert state_of(order) == OrderStateCode.AWAITING_PAYMENT
    order.refresh_from_db()
    assert (order.state.shipped_percent, order.state.paid_percent, order.state.debt) == (D(100), D(70), D("732.00"))
    assert order.state.event_date.isoformat() == "2026-03-21"  # credit: 10 days after the last shipment

    # -- the reserve went with the goods; stock and free stock are down by what shipped
    assert Reserves.balance(warehouse=warehouse2, item=bread, order=order)["quantity"] == D(0)
    assert Stock.balance(warehouse=warehouse2, item=bread) == {"quantity": D(20), "free": D(20)}
    assert Stock.balance(warehouse=warehouse, item=milk) == {"quantity": D(90), "free": D(90)}
    assert OrderBacklog.balances(["order"], order=order) == {(order.pk,): {"quantity": D(0), "amount": D(0)}}

    # -- the credit payment: shipped and paid, the order closes itself
    pay(order, "732.00", user=manager, cash_desk=cash_desk, key="credit-1")
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED and order.state.state == OrderStateCode.CLOSED

    # -- registers at the end
    settlement = ClientSettlements.balances(["order"], order=order)[(order.pk,)]
    assert settlement == {"shipped": D("2440.00"), "paid": D("2440.00")}
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D(0)
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("2440.00")
    sales = SalesTurnover.turnovers(moment("2026-03-01"), moment("2026-04-01"), ["item"], order=order)
    assert sales[(milk.pk,)]["revenue"] == D("819.67")  # 1000 with 22 % VAT inside
    assert sales[(milk.pk,)]["cost"] == D("491.80")  # 10 × 60 bought with VAT, cost without it
    assert sales[(bread.pk,)]["quantity"] == D(30)
    assert services.shipping_backlog() == []  # nothing left to ship
    for register in (Stock, Reserves, OrderBacklog, ClientSettlements, ClientAdvances, Funds):
        assert verify_register(register) == []
    assert OrderApproval.objects.get(order=order).decided_by == director
    assert second_shipment.amount == D("1440.00")


def _reserve(order: SalesOrder) -> list[Any]:
    lines = list(order.lines.order_by("line_no"))
    for line in lines:
        line.securing = Securing.RESERVE
    return lines


def test_goods_an_order_based_warehouse_still_has_to_issue_hold_only_their_own_order(
        organization, warehouse, client_partner, supplier, milk, bread, stocked, manager, cash_desk):
    """One shipment carries two orders: one from an ordinary warehouse, one from an order-based depot. Paid,
    the first closes at once; the second waits until the depot issues its goods, then closes too."""
    from torg.catalogs.models import Warehouse
    from torg.sales.tests.test_refusals import released
    from torg.stock.tests.helpers import purchase

    depot = Warehouse.objects.create(name="Depot", order_based=True)
    purchase(organization, depot, supplier, moment("2026-03-01", 9), [(milk, 50, 60)])
    central = released(organization, client_partner, warehouse, [(bread, 4, 50)], user=manager)
    on_depot = released(organization, client_partner, depot, [(milk, 5, 100)], user=manager)
    shipments = services.create_shipments_from_backlog(
        [services.Pick(central.pk, 1), services.Pick(on_depot.pk, 1)], user=manager, date=moment("2026-03-11"))
    assert len(shipments) == 1
    pay(central, "200.00", user=manager, cash_desk=cash_desk, key="central")
    pay(on_depot, "500.00", user=manager, cash_desk=cash_desk, key="depot")
    assert state_of(central) == OrderStateCode.CLOSED
    assert state_of(on_depot) == OrderStateCode.READY_TO_SHIP  # sold, paid, not handed over yet

    services.issue_goods(shipments, user=manager)
    assert state_of(on_depot) == OrderStateCode.CLOSED
