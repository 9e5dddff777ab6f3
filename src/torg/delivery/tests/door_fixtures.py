"""Shared fixtures for the courier at the door: the fiscal tests' company (orders, payments, a cash register on the
emulator) and a trip on route built through the real services — orders agreed and released, shipped from the
backlog to a delivery address, put on a trip, loaded and sent on route.

Import what a test module needs from here (`from torg.delivery.tests.door_fixtures import *` or by name), the way
`fiscal/tests/conftest.py` imports the sales fixtures: pytest finds fixtures by the module's names.
"""
from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from torg.catalogs.models import DeliveryAddress, Partner
from torg.conftest import moment
from torg.delivery import services as delivery
from torg.delivery.courier import Confirmation, DoorPayment, confirm_stop, fail_stop
from torg.delivery.models import DeliveryTrip, TripStop, Vehicle
from torg.fiscal.tests import conftest as fiscal_fixtures
from torg.sales import services as sales
from torg.sales.models import SalesOrder, SalesOrderLine, Shipment

D = Decimal

# The fiscal tests' company (which brings the sales tests' one): a client on a 7-day credit agreement, prices
# (milk 100.00, bread 50.00), stock, a till, a bank account and the office register on the emulator.
accountant = fiscal_fixtures.accountant
agreement = fiscal_fixtures.agreement
bank_account = fiscal_fixtures.bank_account
cash_desk = fiscal_fixtures.cash_desk
client_partner = fiscal_fixtures.client_partner
credit_agreement = fiscal_fixtures.credit_agreement
director = fiscal_fixtures.director
make_order = fiscal_fixtures.make_order
manager = fiscal_fixtures.manager
pay = fiscal_fixtures.pay
person = fiscal_fixtures.person
price_type = fiscal_fixtures.price_type
prices = fiscal_fixtures.prices
register = fiscal_fixtures.register
schedule = fiscal_fixtures.schedule
stocked = fiscal_fixtures.stocked

__all__ = [
    "accountant", "agreement", "bank_account", "cash_desk", "client_partner", "credit_agreement", "director",
    "make_order", "manager", "pay", "person", "price_type", "prices", "register", "schedule", "stocked",
    "door_day", "second_client", "door_address", "order_to", "ship_to_door", "door_van", "trip_on_route",
    "door_key", "confirm", "fail",
]


@pytest.fixture
def door_day() -> dt.date:
    """The trip's day: today, so that pages defaulting to today show it."""
    return timezone.localdate()


@pytest.fixture
def second_client(db: Any) -> Partner:
    return Partner.objects.create(name="Kafe Sever", is_client=True, phone="+7 900 444-55-66")


@pytest.fixture
def door_address(db: Any) -> Any:
    """A delivery address of a partner (one per partner and text; made on first need)."""
    def make(partner: Partner, text: str | None = None) -> DeliveryAddress:
        address, _ = DeliveryAddress.objects.get_or_create(
            partner=partner, address=text or f"{partner.name}, front door",
            defaults={"latitude": D("55.75"), "longitude": D("37.60")})
        return address

    return make


@pytest.fixture
def order_to(organization: Any, credit_agreement: Any, warehouse: Any, prices: Any, stocked: Any, milk: Any,
             bread: Any, manager: Any, door_address: Any) -> Any:
    """An order of a client to its delivery address, agreed and released to ship (milk 100.00, bread 50.00 each;
    on the 7-day credit agreement, so nothing has to be paid before it ships)."""
    def make(partner: Partner, milk_qty: int = 10, bread_qty: int = 20, counterparty: Any = None) -> SalesOrder:
        order = SalesOrder(organization=organization, partner=partner, agreement=credit_agreement,
                           warehouse=warehouse, counterparty=counterparty, date=moment("2026-03-10", 10),
                           delivery_address=door_address(partner))
        lines = [SalesOrderLine(item=milk, quantity=D(milk_qty))] if milk_qty else []
        lines += [SalesOrderLine(item=bread, quantity=D(bread_qty))] if bread_qty else []
        sales.save_order(order, lines, user=manager, post=True)
        sales.submit_order(order, user=manager)
        sales.release_to_ship(order, user=manager)
        return order

    return make


@pytest.fixture
def ship_to_door(manager: Any) -> Any:
    """Posted shipments of every line left of the orders (one per organization and client), from the backlog."""
    def make(*orders: SalesOrder) -> list[Shipment]:
        picks = [sales.Pick(order.pk, line.code) for order in orders for line in order.lines.order_by("code")]
        return sales.create_shipments_from_backlog(picks, user=manager)

    return make


@pytest.fixture
def door_van(courier: Any) -> Vehicle:
    """A van without capacity limits, driven by the courier."""
    return Vehicle.objects.create(name="Door van", plate="Е001КХ77", default_courier=courier)


@pytest.fixture
def trip_on_route(door_van: Vehicle, logistician: Any, door_day: dt.date, ship_to_door: Any) -> Any:
    """A trip of the day on route with the orders' shipments: one stop per delivery address, in the given order.
    `vehicle=` and `courier=` put it on another van or with another courier."""
    def make(*orders: SalesOrder, vehicle: Vehicle | None = None, courier: Any = None,
             day: dt.date | None = None) -> DeliveryTrip:
        shipments = ship_to_door(*orders)
        trip = delivery.create_trip(day or door_day, vehicle or door_van, courier=courier, user=logistician)
        delivery.add_shipments(trip, shipments, logistician)
        delivery.start_loading(trip, logistician)
        delivery.send_on_route(trip, logistician)
        trip.refresh_from_db()
        return trip

    return make


@pytest.fixture
def door_key() -> Any:
    """A fresh idempotency key for each confirmation."""
    counter = itertools.count(1)
    return lambda: f"door-{next(counter)}"


def _stop(trip: DeliveryTrip, sequence: int) -> TripStop:
    return TripStop.objects.get(trip=trip, sequence=sequence)


@pytest.fixture
def confirm(courier: Any, door_key: Any, bank_account: Any, register: Any) -> Any:
    """The courier confirms stop No. `sequence` of the trip: everything handed over, paid as given (card payments
    go to the organization's bank account; receipts are queued for the office register)."""
    def run(trip: DeliveryTrip, sequence: int, *, cash: str = "0", card: str = "0", on_credit: bool = False,
            user: Any = None, **payment: Any) -> Confirmation:
        door = DoorPayment(cash=D(cash), card=D(card), card_approval="A1B2C3" if D(card) else "",
                           on_credit=on_credit, **payment)
        return confirm_stop(_stop(trip, sequence), payment=door, user=user or trip.courier or courier,
                            key=door_key())

    return run


@pytest.fixture
def fail(courier: Any, door_key: Any) -> Any:
    """The courier reports stop No. `sequence` of the trip not delivered."""
    def run(trip: DeliveryTrip, sequence: int, reason: str = "Closed, nobody answers", user: Any = None
            ) -> Confirmation:
        return fail_stop(_stop(trip, sequence), reason=reason, user=user or trip.courier or courier, key=door_key())

    return run
