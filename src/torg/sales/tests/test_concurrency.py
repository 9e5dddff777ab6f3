"""Order to cash under real concurrency on PostgreSQL: payments for one order from 8 threads at once with distinct
and repeated idempotency keys, allocations racing for what is left of an order, and two people shipping the same
last units.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`).
"""
from __future__ import annotations

from typing import Any

import pytest

from torg.catalogs.models import CashDesk, Item, Organization, Partner, Warehouse
from torg.conftest import moment
from torg.core.errors import CoreError, ErrorCode
from torg.core.posting import ShortageError, verify_register
from torg.payments.models import Funds, IncomingPayment, PaymentAllocation, PaymentMethod
from torg.payments.services import register_payment
from torg.sales import services
from torg.sales.models import (
    ClientAdvances,
    ClientSettlements,
    OrderBacklog,
    OrderState,
    OrderStateCode,
    SalesOrder,
    SalesOrderLine,
    Shipment,
)
from torg.stock.models import Stock, StockCost
from torg.stock.tests.helpers import D, purchase
from torg.stock.tests.test_concurrency import _require_postgresql, _run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 8


def _order(organization: Organization, client: Partner, warehouse: Warehouse, item: Item, quantity: int,
           price: str, user: Any) -> SalesOrder:
    """A posted order without payment terms, released to ship."""
    order = SalesOrder(organization=organization, partner=client, warehouse=warehouse, date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=item, quantity=D(quantity), price=D(price))], stages=[],
                        user=user, post=True)
    services.release_to_ship(order, user=user)
    return SalesOrder.objects.get(pk=order.pk)


def _pay(order: SalesOrder, cash_desk: CashDesk, amount: str, key: str, user: Any) -> IncomingPayment:
    payment = IncomingPayment(organization_id=order.organization_id, partner_id=order.partner_id,
                              method=PaymentMethod.CASH, cash_desk=cash_desk, amount=D(amount),
                              date=moment("2026-03-11", 12))
    return register_payment(payment, [PaymentAllocation(order_id=order.pk, amount=D(amount))], user=user,
                            idempotency_key=key)


def _settlement_registers_verify() -> None:
    for register in (ClientSettlements, ClientAdvances, Funds):
        assert verify_register(register) == [], register.label


def test_eight_threads_paying_one_order_with_repeated_keys_register_each_key_once(
        organization: Organization, warehouse: Warehouse, client_partner: Partner, milk: Item, stocked: None,
        cash_desk: CashDesk, manager: Any) -> None:
    _require_postgresql()
    order = _order(organization, client_partner, warehouse, milk, 10, "100", manager)  # 1,000.00
    # 4 distinct keys, each sent twice (a client retrying), all 8 at the same moment.
    keys = [f"pay-{n % 4}" for n in range(THREADS)]

    results = _run_at_once([lambda key=key: _pay(order, cash_desk, "150.00", key, manager) for key in keys])

    assert [kind for kind, _r in results] == ["ok"] * THREADS, [repr(r) for k, r in results if k == "error"]
    by_key: dict[str, set[int]] = {}
    for key, (_kind, payment) in zip(keys, results, strict=True):
        by_key.setdefault(key, set()).add(payment.pk)
    assert all(len(ids) == 1 for ids in by_key.values()), by_key  # a retry returns the first payment
    assert IncomingPayment.objects.count() == 4
    assert sorted(IncomingPayment.objects.values_list("idempotency_key", flat=True)) == sorted(set(keys))
    assert IncomingPayment.objects.filter(posted=True).count() == 4
    assert len(set(IncomingPayment.objects.values_list("number", flat=True))) == 4

    # The balance is exact: 4 × 150.00 on the order, in the till, nothing as an advance.
    assert ClientSettlements.balances(["order"], order=order)[(order.pk,)] == {"shipped": D(0), "paid": D("600.00")}
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("600.00")
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D(0)
    state = OrderState.objects.get(order=order)
    assert (state.paid_amount, state.paid_percent) == (D("600.00"), D(60))
    _settlement_registers_verify()


def test_allocations_racing_for_what_is_left_of_an_order_never_pay_it_twice(
        organization: Organization, warehouse: Warehouse, client_partner: Partner, milk: Item, stocked: None,
        cash_desk: CashDesk, manager: Any) -> None:
    _require_postgresql()
    order = _order(organization, client_partner, warehouse, milk, 5, "100", manager)  # 500.00
    # 8 cashiers each allocate 100.00 to the order at once: only 5 of them fit.
    results = _run_at_once([lambda n=n: _pay(order, cash_desk, "100.00", f"race-{n}", manager)
                            for n in range(THREADS)])

    paid = [r for kind, r in results if kind == "ok"]
    refused = [r for kind, r in results if kind == "error"]
    assert len(paid) == 5, [repr(r) for r in refused]
    assert len(refused) == THREADS - 5
    for error in refused:
        assert isinstance(error, CoreError) and error.code == ErrorCode.INVALID, repr(error)
        assert error.fields["lines.1.amount"] == [
            "Line 1: only 0.00 is left to pay on it; the excess 100.00 would go to the advance."]
    assert IncomingPayment.objects.count() == 5
    assert ClientSettlements.balances(["order"], order=order)[(order.pk,)]["paid"] == D("500.00")
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("500.00")
    assert OrderState.objects.get(order=order).paid_percent == D(100)
    _settlement_registers_verify()


def test_two_people_shipping_the_same_last_units_one_wins_the_other_gets_the_shortage(
        organization: Organization, warehouse2: Warehouse, client_partner: Partner, supplier: Partner,
        make_item: Any, manager: Any) -> None:
    _require_postgresql()
    cheese = make_item("Cheese")
    purchase(organization, warehouse2, supplier, moment("2026-03-01", 9), [(cheese, 5, 300)])
    # Two orders of the last 5 units, both released; two storekeepers ship them at the same moment.
    first = _order(organization, client_partner, warehouse2, cheese, 5, "500", manager)
    second = _order(organization, client_partner, warehouse2, cheese, 5, "500", manager)

    results = _run_at_once([
        lambda o=o: services.create_shipments_from_backlog([services.Pick(o.pk, 1)], user=manager,
                                                           date=moment("2026-03-11", 10))
        for o in (first, second)])

    won = [r for kind, r in results if kind == "ok"]
    lost = [r for kind, r in results if kind == "error"]
    assert len(won) == 1 and len(lost) == 1, [repr(r) for r in lost]
    error = lost[0]
    assert isinstance(error, ShortageError) and error.code == ErrorCode.SHORTAGE, repr(error)
    assert error.message == "Line 1: Not enough “Cheese” at North: need 5, have 0"
    assert Shipment.objects.count() == 1 and Shipment.objects.get().posted
    assert Stock.balance(warehouse=warehouse2, item=cheese) == {"quantity": D(0), "free": D(0)}
    assert StockCost.balance(organization=organization, item=cheese) == {"quantity": D(0), "amount": D(0)}
    shipped = won[0][0].lines.get().order_id
    loser = second if shipped == first.pk else first
    assert OrderState.objects.get(order=loser).state == OrderStateCode.SHIPPING
    assert OrderBacklog.balances(["order"], order=loser)[(loser.pk,)]["quantity"] == D(5)
    for register in (Stock, StockCost, OrderBacklog, ClientSettlements):
        assert verify_register(register) == [], register.label


def test_two_people_shipping_the_same_order_line_ship_it_once(
        organization: Organization, warehouse: Warehouse, client_partner: Partner, milk: Item, stocked: None,
        manager: Any) -> None:
    _require_postgresql()
    order = _order(organization, client_partner, warehouse, milk, 5, "100", manager)

    results = _run_at_once([
        lambda: services.create_shipments_from_backlog([services.Pick(order.pk, 1, D(5))], user=manager,
                                                       date=moment("2026-03-11", 10))
        for _ in range(2)])

    won = [r for kind, r in results if kind == "ok"]
    lost = [r for kind, r in results if kind == "error"]
    assert len(won) == 1 and len(lost) == 1, [repr(r) for r in lost]
    assert isinstance(lost[0], CoreError) and lost[0].code in (ErrorCode.SHORTAGE, services.BEYOND_ORDER)
    assert "Milk 1L" in lost[0].message or "line 1" in lost[0].message, lost[0].message
    assert Shipment.objects.filter(posted=True).count() == 1
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(95)
    assert ClientSettlements.balances(["order"], order=order)[(order.pk,)]["shipped"] == D("500.00")
    assert OrderState.objects.get(order=order).state == OrderStateCode.AWAITING_PAYMENT
    for register in (Stock, OrderBacklog, ClientSettlements):
        assert verify_register(register) == [], register.label


def test_two_shipments_for_a_client_holding_an_advance_both_post_and_use_it_once(
        organization: Organization, warehouse: Warehouse, warehouse2: Warehouse, client_partner: Partner,
        milk: Item, bread: Item, stocked: None, cash_desk: CashDesk, manager: Any) -> None:
    _require_postgresql()
    # Different goods from different warehouses: the two shipments share no stock or cost rows, only the client.
    first = _order(organization, client_partner, warehouse, milk, 3, "100", manager)
    second = _order(organization, client_partner, warehouse2, bread, 4, "100", manager)
    # 500.00 paid ahead and kept as an advance: it covers one order and part of the other.
    register_payment(IncomingPayment(organization=organization, partner=client_partner, method=PaymentMethod.CASH,
                                     cash_desk=cash_desk, amount=D("500.00"), date=moment("2026-03-10", 11)),
                     user=manager, idempotency_key="advance", auto_allocate=False)

    results = _run_at_once([
        lambda o=o: services.create_shipments_from_backlog([services.Pick(o.pk, 1)], user=manager,
                                                           date=moment("2026-03-11", 10))
        for o in (first, second)])

    assert [kind for kind, _r in results] == ["ok", "ok"], [repr(r) for k, r in results if k == "error"]
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D(0)
    settled = ClientSettlements.balances(["order"], partner=client_partner)
    assert settled[(first.pk,)]["shipped"] + settled[(second.pk,)]["shipped"] == D("700.00")
    assert settled[(first.pk,)]["paid"] + settled[(second.pk,)]["paid"] == D("500.00")
    assert services.client_debt(organization.pk, client_partner.pk) == D("200.00")
    _settlement_registers_verify()
