"""The order-to-cash company of the sales tests (client, agreement, prices, stock, money places, roles) and a
month of trade made through the services, for the settlement and sales reports."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import Partner
from torg.conftest import moment
from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod
from torg.payments.services import register_payment
from torg.sales import services
from torg.sales.models import SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from torg.sales.tests import conftest as sales_fixtures

accountant = sales_fixtures.accountant
agreement = sales_fixtures.agreement
cash_desk = sales_fixtures.cash_desk
client_partner = sales_fixtures.client_partner
director = sales_fixtures.director
manager = sales_fixtures.manager
price_type = sales_fixtures.price_type
prices = sales_fixtures.prices
schedule = sales_fixtures.schedule
stocked = sales_fixtures.stocked

D = Decimal


def make_order(agreement: Any, partner: Partner, lines: list[tuple[Any, int]], day: str, user: Any) -> SalesOrder:
    """An order from the agreement, posted and agreed (to secure)."""
    order = SalesOrder(organization=agreement.organization, partner=partner, agreement=agreement,
                       warehouse=agreement.warehouse, date=moment(day, 10))
    services.save_order(order, [SalesOrderLine(item=item, quantity=D(q)) for item, q in lines], user=user, post=True)
    services.submit_order(order, user=user)
    order.refresh_from_db()
    return order


def ship_order(order: SalesOrder, day: str, user: Any) -> Shipment:
    """Release the whole order and ship all of it."""
    services.release_to_ship(order, user=user)
    picks = [services.Pick(b.order_id, b.line_code) for b in services.shipping_backlog(order=order.pk)]
    return services.create_shipments_from_backlog(picks, user=user, date=moment(day, 11))[0]


def sell(organization: Any, partner: Partner, warehouse: Any, lines: list[tuple[Any, int, str]], day: str,
         due: dt.date | None, user: Any) -> Shipment:
    """A sale on credit without an order."""
    shipment = Shipment(organization=organization, partner=partner, warehouse=warehouse, date=moment(day, 12),
                        due_date=due)
    services.save_shipment(shipment, [ShipmentLine(item=item, quantity=D(q), price=D(p)) for item, q, p in lines],
                           user=user, post=True)
    return shipment


def pay(organization: Any, partner: Partner, cash_desk: Any, amount: str, day: str, user: Any, *,
        order: SalesOrder | None = None, shipment: Shipment | None = None, hour: int = 15) -> IncomingPayment:
    """A cash payment allocated to one order or shipment, or (neither given) kept as an advance."""
    lines = [PaymentAllocation(order=order, shipment=shipment, amount=D(amount))] if order or shipment else []
    payment = IncomingPayment(organization=organization, partner=partner, method=PaymentMethod.CASH,
                              cash_desk=cash_desk, amount=D(amount), date=moment(day, hour))
    return register_payment(payment, lines, user=user)


@dataclass
class History:
    produkty: Partner  # orders A (shipped, credit unpaid), B (awaiting its advance), C (prepaid, not shipped), D
    bakery: Partner  # two sales on credit without an order, one partly paid
    cafe: Partner  # an advance and nothing else
    order_a: SalesOrder
    order_b: SalesOrder
    order_c: SalesOrder
    order_d: SalesOrder
    ship_a: Shipment
    ship_d: Shipment
    sale_1: Shipment
    sale_2: Shipment
    payments: dict[str, IncomingPayment]


@pytest.fixture
def history(organization: Any, warehouse: Any, client_partner: Partner, agreement: Any, prices: Any, milk: Any,
            bread: Any, stocked: None, cash_desk: Any, manager: Any, director: Any) -> History:
    """March 2026 (schedule 30 % advance 1 day after the order, 40 % prepayment in 3 days, 30 % credit 10 days
    after shipment; milk 100, bread 50, VAT 22 % inside; bought at 60 and 30):

    Produkty na Lesnoy — A 10 milk (1000): advance 300 and prepayment 400 paid 10.03, shipped 11.03, credit 300
      due 21.03 unpaid; B 20 bread (1000) of 12.03, nothing paid; C 5 milk (500) of 12.03, 150 + 200 paid 14.03,
      not shipped; D 2 milk (200) of 12.03, paid in full and shipped the same day (closed).
    Bakery Nord — sale 1 of 05.03: 10 bread at 45 (450) due 15.03, 200 paid 12.03 (by the director);
      sale 2 of 10.03: 4 bread at 50 (200) due 01.05.
    Cafe Luna — 150 paid 14.03 with nothing to pay: an advance."""
    produkty = client_partner
    bakery = Partner.objects.create(name="Bakery Nord", is_client=True)
    cafe = Partner.objects.create(name="Cafe Luna", is_client=True)
    org = organization
    payments = {}
    order_a = make_order(agreement, produkty, [(milk, 10)], "2026-03-10", manager)
    payments["a_advance"] = pay(org, produkty, cash_desk, "300.00", "2026-03-10", manager, order=order_a, hour=13)
    payments["a_prepayment"] = pay(org, produkty, cash_desk, "400.00", "2026-03-10", manager, order=order_a)
    ship_a = ship_order(order_a, "2026-03-11", manager)
    order_b = make_order(agreement, produkty, [(bread, 20)], "2026-03-12", manager)
    order_c = make_order(agreement, produkty, [(milk, 5)], "2026-03-12", manager)
    payments["c_advance"] = pay(org, produkty, cash_desk, "150.00", "2026-03-14", manager, order=order_c, hour=10)
    payments["c_prepayment"] = pay(org, produkty, cash_desk, "200.00", "2026-03-14", manager, order=order_c)
    order_d = make_order(agreement, produkty, [(milk, 2)], "2026-03-12", manager)
    payments["d_full"] = pay(org, produkty, cash_desk, "200.00", "2026-03-12", manager, order=order_d, hour=11)
    ship_d = ship_order(order_d, "2026-03-12", manager)
    sale_1 = sell(org, bakery, warehouse, [(bread, 10, "45")], "2026-03-05", dt.date(2026, 3, 15), director)
    sale_2 = sell(org, bakery, warehouse, [(bread, 4, "50")], "2026-03-10", dt.date(2026, 5, 1), manager)
    payments["sale_1"] = pay(org, bakery, cash_desk, "200.00", "2026-03-12", manager, shipment=sale_1)
    payments["cafe"] = pay(org, cafe, cash_desk, "150.00", "2026-03-14", manager)
    for order in (order_a, order_b, order_c, order_d):
        order.refresh_from_db()
    return History(produkty, bakery, cafe, order_a, order_b, order_c, order_d, ship_a, ship_d, sale_1, sale_2,
                   payments)
