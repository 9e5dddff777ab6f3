"""The demo company's delivery day: today's trip of the courier on route, its first stop delivered and paid."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.demo import load_demo
from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, Vehicle
from torg.payments.cash_handover import couriers_cash
from torg.payments.models import IncomingPayment, PaymentMethod

TODAY = dt.date(2025, 6, 18)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def test_the_demo_has_a_trip_on_route_with_a_stop_paid_at_the_door(db: Any) -> None:
    load_demo(seed=1, scale="small", today=TODAY)

    assert Vehicle.objects.count() == 2
    trip = DeliveryTrip.objects.get(trip_date=TODAY)
    assert trip.status == TripStatus.ON_ROUTE and trip.courier.username == "courier"
    stops = list(trip.stops.order_by("sequence"))
    assert len(stops) >= 2
    # the last stop takes goods to one of our stores: a transfer, no money
    store = stops[-1]
    assert store.warehouse is not None and store.warehouse.is_retail_store and store.partner is None
    assert [d.transfer.warehouse_to for d in store.documents.all()] == [store.warehouse]
    (done,) = [s for s in stops if s.status == StopStatus.DONE]
    assert {s.status for s in stops if s != done} == {StopStatus.PENDING}
    taken = [p for p in done.result["payments"] if p["method"] == PaymentMethod.CASH]
    assert taken and Decimal(done.result["change"]) >= 0
    held = {c.courier.username: c.balance for c in couriers_cash()}
    assert held.get("courier", Decimal(0)) == sum((Decimal(p["amount"]) for p in taken), Decimal(0))
    assert IncomingPayment.objects.filter(pk__in=[p["id"] for p in taken], cash_desk__holder=trip.courier).count() \
        == len(taken)
