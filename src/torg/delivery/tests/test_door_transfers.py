"""A stop at our own store: the transfers delivered there are received (all, or part with the rest riding back in
the vehicle), or the stop fails and the transfers are undone — always through the stock services, never with money."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.core.errors import CoreError
from torg.core.permissions import Role
from torg.delivery import courier as door
from torg.delivery import services as planning
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, StopStatus, TripStop, Vehicle
from torg.fiscal.models import FiscalReceipt
from torg.payments.models import IncomingPayment
from torg.stock import services as stock_services
from torg.stock.models import StockTotal, Transfer, TransferLine
from torg.stock.services import save_stock_document
from torg.stock.tests.helpers import purchase

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def courier(role_user: Any) -> Any:
    return role_user(Role.COURIER, "courier")


@pytest.fixture
def stocked(organization: Any, warehouse: Any, supplier: Any, milk: Any, bread: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2026-03-01", 9), [(milk, 100, 60), (bread, 100, 30)])


@pytest.fixture
def sent(organization: Any, warehouse: Any, store: Any, milk: Any, bread: Any, stocked: Any, courier: Any,
         logistician: Any) -> Transfer:
    """10 milk and 20 bread transferred (posted) from the central warehouse to the store, on a trip on route."""
    transfer = Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=store,
                        date=moment("2026-03-11", 8), delivery_needed=True)
    save_stock_document(transfer, [TransferLine(item=milk, quantity=D(10)), TransferLine(item=bread, quantity=D(20))],
                        user=logistician, post=True)
    van = Vehicle.objects.create(name="Van", plate="А777АА77", default_courier=courier)
    trip = planning.create_trip(moment("2026-03-11").date(), van, user=logistician)
    planning.add_transfers(trip, [transfer], logistician)
    planning.start_loading(trip, logistician)
    planning.send_on_route(trip, logistician)
    return transfer


def stock(warehouse: Any, item: Any) -> Decimal:
    row = StockTotal.objects.filter(warehouse=warehouse, item=item).first()
    return row.quantity if row else D(0)


def the_stop() -> TripStop:
    return TripStop.objects.select_related("trip__vehicle", "warehouse").get()


def test_the_store_receives_everything_no_money_no_receipt(sent: Transfer, courier: Any, warehouse: Any,
                                                           store: Any, milk: Any, bread: Any) -> None:
    stop = the_stop()
    lines = door.handover_lines(stop)
    assert [(ln.shipment_id, ln.line_no, ln.name, ln.quantity, ln.amount) for ln in lines] == [
        (sent.pk, 1, milk.name, D(10), D(0)), (sent.pk, 2, bread.name, D(20), D(0))]
    done = door.confirm_stop(stop, user=courier, key="t1")  # the courier's one confirmation works here too
    assert done.stop.status == StopStatus.DONE and done.stop.confirmed_by == courier
    assert done.result["transfers"] == [sent.pk] and done.result["returned"] == []
    assert [(ln["shipped"], ln["accepted"]) for ln in done.result["lines"]] == [
        ("10.000", "10.000"), ("20.000", "20.000")]
    sent.refresh_from_db()
    assert sent.posted and [ln.quantity for ln in sent.lines.order_by("line_no")] == [D(10), D(20)]
    assert (stock(store, milk), stock(warehouse, milk), stock(store, bread)) == (D(10), D(90), D(20))
    assert not IncomingPayment.objects.exists() and not FiscalReceipt.objects.exists()
    again = door.confirm_stop(stop, user=courier, key="t1")  # the phone lost the answer and asks again
    assert again.replay and again.same_request and again.result == done.result
    assert door.trip_end(stop.trip).cash == {}


def test_part_received_the_rest_rides_back_and_is_unloaded(sent: Transfer, courier: Any, warehouse: Any,
                                                          store: Any, milk: Any, bread: Any) -> None:
    stop = the_stop()
    done = door.deliver_transfers(stop, accepted={(sent.pk, 1): D(8), (sent.pk, 2): D(20)}, user=courier, key="t2")
    sent.refresh_from_db()
    assert sent.posted and [(ln.item_id, ln.quantity) for ln in sent.lines.order_by("line_no")] == [
        (milk.pk, D(8)), (bread.pk, D(20))]
    vehicle = Vehicle.objects.get().warehouse
    assert (stock(store, milk), stock(vehicle, milk), stock(warehouse, milk)) == (D(8), D(2), D(90))
    assert done.result["returned"] == [{"organization": sent.organization_id, "warehouse": warehouse.pk,
                                        "item": milk.pk, "quantity": "2.000"}]
    trip = DeliveryTrip.objects.get()
    door.finish_trip(trip, user=courier)
    door.unload_trip(trip, user=courier)
    assert (stock(vehicle, milk), stock(warehouse, milk), stock(store, milk)) == (D(0), D(92), D(8))


def test_nothing_received_undoes_the_transfer(sent: Transfer, courier: Any, warehouse: Any, store: Any,
                                             milk: Any) -> None:
    door.deliver_transfers(the_stop(), accepted={(sent.pk, 1): D(0), (sent.pk, 2): D(0)}, user=courier, key="t3")
    sent.refresh_from_db()
    assert not sent.posted
    assert (stock(store, milk), stock(Vehicle.objects.get().warehouse, milk)) == (D(0), D(10))


def test_money_or_more_than_sent_is_refused_and_nothing_is_written(sent: Transfer, courier: Any, store: Any,
                                                                   milk: Any) -> None:
    stop = the_stop()
    with pytest.raises(CoreError) as refused:
        door.confirm_stop(stop, payment=door.DoorPayment(cash=D("100.00")), user=courier, key="t4")
    assert refused.value.fields == {"cash": ["Must be empty at our own warehouse."]}
    with pytest.raises(CoreError) as refused:
        door.deliver_transfers(stop, accepted={(sent.pk, 1): D(11)}, user=courier, key="t4")
    assert refused.value.code == DeliveryError.ABOVE_SHIPPED
    assert refused.value.fields == {f"lines.{sent.pk}.1": [f"{milk.name}: 10 sent, the warehouse cannot receive 11."]}
    with pytest.raises(CoreError) as refused:
        door.deliver_transfers(stop, accepted={(sent.pk, 9): D(1)}, user=courier, key="t4")
    assert refused.value.fields == {f"lines.{sent.pk}.9": ["This line is not delivered at this stop."]}
    stop.refresh_from_db()
    assert stop.status == StopStatus.PENDING and stock(store, milk) == D(10)


def test_a_store_stop_not_delivered_undoes_the_transfer(sent: Transfer, courier: Any, warehouse: Any, store: Any,
                                                       milk: Any, bread: Any) -> None:
    failed = door.fail_stop(the_stop(), reason="The store is closed for stocktaking", user=courier, key="t5")
    assert failed.stop.status == StopStatus.FAILED
    sent.refresh_from_db()
    assert not sent.posted
    vehicle = Vehicle.objects.get().warehouse
    assert (stock(store, milk), stock(vehicle, milk), stock(vehicle, bread), stock(warehouse, milk)) == (
        D(0), D(10), D(20), D(90))
    # undone, it waits for nothing; posted again (say, for tomorrow), it waits for a trip once this one is over
    assert planning.transfers_waiting() == []
    stock_services.post(sent, user=courier)
    assert planning.transfers_waiting() == []  # still on a trip that is not done
    door.finish_trip(failed.stop.trip, user=courier)
    assert [w.transfer for w in planning.transfers_waiting()] == [sent]
