"""Planning a trip through the services: what waits for delivery, stops, capacity, one trip per shipment,
the order of stops, and the statuses."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.core.errors import CoreError
from torg.core.models import ChangeLogEntry
from torg.delivery import services
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, TripStatus, TripStop, TripStopDocument
from torg.delivery.tests.conftest import DAY

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def trip(van: Any, logistician: Any, warehouse: Any) -> DeliveryTrip:
    return services.create_trip(DAY, van, warehouse=warehouse, user=logistician)


def test_a_trip_is_numbered_with_its_own_prefix_and_takes_the_vehicles_courier(trip: DeliveryTrip, van: Any,
                                                                                 courier: Any) -> None:
    trip.refresh_from_db()
    assert trip.number == "РЛ-000001" and str(trip) == "Delivery trip No. РЛ-000001 of 03/10/2026"
    assert trip.courier == courier and trip.status == TripStatus.FORMING


def test_waiting_for_delivery_weighs_and_zones_shipments(ship: Any, shop: Any, cafe: Any, shop_address: Any,
                                                         cafe_address: Any, centre_zone: Any, north_zone: Any,
                                                         trip: DeliveryTrip, logistician: Any) -> None:
    to_shop = ship(shop, 2, shop_address)
    to_cafe = ship(cafe, 1, cafe_address)
    ship(cafe, 1, cafe_address, posted=False)  # not posted: not waiting
    ship(shop, 1, None)  # no delivery address: not waiting unless asked
    ship(shop, 1, shop_address, day="2026-03-12")  # after the day
    waiting = services.waiting_for_delivery(DAY)
    assert [(w.shipment, w.weight_kg, w.volume_m3, w.zone) for w in waiting] == [
        (to_shop, D("38.000"), D("0.040000"), centre_zone), (to_cafe, D("19.000"), D("0.020000"), north_zone)]
    assert [w.shipment for w in services.waiting_for_delivery(DAY, north_zone)] == [to_cafe]
    assert len(services.waiting_for_delivery(DAY, without_address=True)) == 3
    services.add_shipments(trip, [to_shop], logistician)
    assert [w.shipment for w in services.waiting_for_delivery(DAY)] == [to_cafe]


def test_shipments_to_one_address_share_a_stop_and_without_an_address_a_stop_per_partner(
        ship: Any, shop: Any, cafe: Any, shop_address: Any, trip: DeliveryTrip, logistician: Any) -> None:
    a, b = ship(shop, 1, shop_address), ship(shop, 2, shop_address)
    c, d = ship(cafe, 1), ship(cafe, 1)
    services.add_shipments(trip, [a, c], logistician)
    services.add_shipments(trip, [b, d], logistician)
    stops = services.stops_of(trip)
    assert [(s.sequence, s.address, s.partner, sorted(x.shipment_id for x in s.documents.all())) for s in stops] == [
        (1, "Lesnaya 1, back door", shop, [a.pk, b.pk]), (2, "Polar 5", cafe, [c.pk, d.pk])]
    assert stops[0].latitude == D("55.75") and stops[1].latitude is None
    load = services.load_of(trip)
    assert (load.weight_kg, load.volume_m3, load.weight_percent, load.volume_percent) == (
        D("95.000"), D("0.100000"), D("95.0"), D("10.0"))
    assert not load.overloaded


def test_two_address_records_written_alike_are_one_door(ship: Any, shop: Any, shop_address: Any,
                                                        trip: DeliveryTrip, logistician: Any) -> None:
    from torg.catalogs.models import DeliveryAddress

    again = DeliveryAddress.objects.create(partner=shop, address="  lesnaya 1,  Back door. ")
    other = DeliveryAddress.objects.create(partner=shop, address="Lesnaya 3")
    a, b, c = ship(shop, 1, shop_address), ship(shop, 1, again), ship(shop, 1, other)
    services.add_shipments(trip, [a, b, c], logistician)
    stops = services.stops_of(trip)
    assert [sorted(x.shipment_id for x in s.documents.all()) for s in stops] == [[a.pk, b.pk], [c.pk]]


def test_fill_from_zone_adds_what_waits_there(ship: Any, shop: Any, cafe: Any, shop_address: Any, cafe_address: Any,
                                              centre_zone: Any, trip: DeliveryTrip, logistician: Any) -> None:
    to_shop = ship(shop, 1, shop_address)
    ship(cafe, 1, cafe_address)
    services.fill_from_zone(trip, centre_zone, DAY, logistician)
    assert list(TripStopDocument.objects.values_list("shipment_id", flat=True)) == [to_shop.pk]


def test_overload_is_refused_without_the_right_and_nothing_is_written(ship: Any, shop: Any, shop_address: Any,
                                                                      trip: DeliveryTrip, manager: Any) -> None:
    big = ship(shop, 6, shop_address)  # 114 kg in a 100 kg van
    with pytest.raises(CoreError) as refused:
        services.add_shipments(trip, [big], manager)
    assert refused.value.code == DeliveryError.OVERLOAD
    assert "114 kg against a capacity of 100 kg" in refused.value.message
    assert not TripStop.objects.exists() and not TripStopDocument.objects.exists()


def test_overload_is_allowed_with_the_right_and_shown(ship: Any, shop: Any, shop_address: Any, trip: DeliveryTrip,
                                                      logistician: Any) -> None:
    services.add_shipments(trip, [ship(shop, 6, shop_address)], logistician)
    load = services.load_of(trip)
    assert load.overloaded and load.overweight and not load.over_volume and load.percent == D("114.0")


def test_a_shipment_on_an_active_trip_is_refused_on_a_second_one(ship: Any, shop: Any, shop_address: Any, van: Any,
                                                                  trip: DeliveryTrip, logistician: Any) -> None:
    shipment = ship(shop, 1, shop_address)
    services.add_shipments(trip, [shipment], logistician)
    second = services.create_trip(DAY, van, user=logistician)
    with pytest.raises(CoreError) as refused:
        services.add_shipments(second, [shipment], logistician)
    assert refused.value.code == DeliveryError.ALREADY_ON_TRIP
    assert trip.number in refused.value.message
    assert not TripStop.objects.filter(trip=second).exists()
    # Once the first trip is done, the shipment (say, not delivered) may go again.
    for step in (services.start_loading, services.send_on_route, services.close_trip):
        step(trip, logistician)
    services.add_shipments(second, [shipment], logistician)
    assert TripStopDocument.objects.filter(stop__trip=second, shipment=shipment).exists()


def test_a_shipment_not_posted_is_refused(ship: Any, shop: Any, trip: DeliveryTrip, logistician: Any) -> None:
    with pytest.raises(CoreError) as refused:
        services.add_shipments(trip, [ship(shop, 1, posted=False)], logistician)
    assert refused.value.code == DeliveryError.NOT_POSTED


def test_reorder_remove_and_move(ship: Any, shop: Any, cafe: Any, shop_address: Any, cafe_address: Any,
                                 trip: DeliveryTrip, logistician: Any) -> None:
    # the third goes to the shop's own address ("Lesnaya 1"): another door than its back door
    a, b, c = ship(shop, 1, shop_address), ship(cafe, 1, cafe_address), ship(shop, 1)
    services.add_shipments(trip, [a, b, c], logistician)
    s1, s2, s3 = services.stops_of(trip)
    services.reorder_stops(trip, [s3.pk, s1.pk, s2.pk], logistician)
    assert [s.pk for s in services.stops_of(trip)] == [s3.pk, s1.pk, s2.pk]
    with pytest.raises(CoreError) as refused:
        services.reorder_stops(trip, [s3.pk, s1.pk], logistician)
    assert refused.value.code == DeliveryError.BAD_ORDER
    services.move_stop(trip, s2.pk, -1, logistician)
    assert [s.pk for s in services.stops_of(trip)] == [s3.pk, s2.pk, s1.pk]
    services.remove_shipment(trip, c, logistician)
    stops = services.stops_of(trip)
    assert [(s.pk, s.sequence) for s in stops] == [(s2.pk, 1), (s1.pk, 2)]
    with pytest.raises(CoreError) as refused:
        services.remove_shipment(trip, c, logistician)
    assert refused.value.code == DeliveryError.NOT_ON_TRIP


def test_status_transitions_are_logged_and_guarded(ship: Any, shop: Any, shop_address: Any, trip: DeliveryTrip,
                                                   logistician: Any) -> None:
    with pytest.raises(CoreError) as refused:
        services.start_loading(trip, logistician)  # no stops yet
    assert refused.value.code == DeliveryError.WRONG_STATUS
    services.add_shipments(trip, [ship(shop, 1, shop_address)], logistician)
    with pytest.raises(CoreError):
        services.send_on_route(trip, logistician)  # forming → on route skips loading
    services.start_loading(trip, logistician)
    with pytest.raises(CoreError) as refused:
        services.add_shipments(trip, [ship(shop, 1, shop_address)], logistician)  # loading: the plan is fixed
    assert refused.value.code == DeliveryError.WRONG_STATUS
    services.back_to_forming(trip, logistician)
    services.start_loading(trip, logistician)
    services.send_on_route(trip, logistician)
    services.close_trip(trip, logistician)
    trip.refresh_from_db()
    assert trip.status == TripStatus.DONE
    statuses = [e.changes["status"] for e in ChangeLogEntry.objects.filter(object_id=trip.pk).order_by("pk")
                if "status" in e.changes]
    assert statuses == [["forming", "loading"], ["loading", "forming"], ["forming", "loading"],
                        ["loading", "on_route"], ["on_route", "done"]]
    with pytest.raises(CoreError):
        services.back_to_forming(trip, logistician)


def test_a_smaller_vehicle_is_refused_when_the_load_does_not_fit(ship: Any, shop: Any, shop_address: Any,
                                                                 trip: DeliveryTrip, logistician: Any,
                                                                 manager: Any) -> None:
    from torg.delivery.models import Vehicle

    services.add_shipments(trip, [ship(shop, 3, shop_address)], logistician)  # 57 kg
    scooter = Vehicle.objects.create(name="Scooter", capacity_kg=D("30"))
    trip.vehicle = scooter
    with pytest.raises(CoreError) as refused:
        services.save_trip(trip, user=manager)
    assert refused.value.code == DeliveryError.OVERLOAD and "vehicle" in refused.value.fields
    assert DeliveryTrip.objects.get(pk=trip.pk).vehicle.name == "Van"
    trip = DeliveryTrip.objects.get(pk=trip.pk)
    trip.vehicle = scooter
    services.save_trip(trip, user=logistician)  # the logistician may overload
    assert DeliveryTrip.objects.get(pk=trip.pk).vehicle == scooter


def test_the_trip_page_reads_a_constant_number_of_queries(client: Any, ship: Any, shop: Any, cafe: Any,
                                                          shop_address: Any, cafe_address: Any, trip: DeliveryTrip,
                                                          logistician: Any, centre_zone: Any,
                                                          django_assert_max_num_queries: Any) -> None:
    from django.urls import reverse

    services.add_shipments(trip, [ship(shop, 1, shop_address), ship(cafe, 1, cafe_address), ship(cafe, 1)],
                           logistician)
    for _n in range(5):
        ship(shop, 1, shop_address)
        ship(cafe, 1)
    client.force_login(logistician)
    with django_assert_max_num_queries(25):
        page = client.get(reverse("delivery:trip_detail", args=[trip.pk]), {"without_address": "1"})
    assert page.status_code == 200
    with django_assert_max_num_queries(15):
        assert client.get(reverse("delivery:route_sheet", args=[trip.pk])).status_code == 200


# ------------------------------------------------------------------ transfers to our own warehouses
def test_transfers_marked_for_delivery_wait_with_their_weight_and_the_store_zone(
        move: Any, store: Any, warehouse2: Any, centre_zone: Any, north_zone: Any, trip: DeliveryTrip,
        logistician: Any) -> None:
    to_store = move(2)
    move(1, delivery_needed=False)  # carried by the store's own people: not waiting
    move(1, posted=False)  # not posted: not waiting
    move(1, day="2026-03-12")  # after the day
    to_north = move(1, to=warehouse2)  # a warehouse without an address or coordinates: no zone
    waiting = services.transfers_waiting(DAY)
    assert [(w.transfer, w.weight_kg, w.volume_m3, w.zone, w.address) for w in waiting] == [
        (to_store, D("38.000"), D("0.040000"), centre_zone, "Tverskaya 7"), (to_north, D("19.000"), D("0.020000"),
                                                                             None, "")]
    assert [w.transfer for w in services.transfers_waiting(DAY, centre_zone)] == [to_store]
    assert services.transfers_waiting(DAY, north_zone) == []
    services.add_transfers(trip, [to_store], logistician)
    assert [w.transfer for w in services.transfers_waiting(DAY)] == [to_north]


def test_transfers_to_one_warehouse_share_a_stop_apart_from_the_clients_doors(
        move: Any, ship: Any, shop: Any, shop_address: Any, store: Any, trip: DeliveryTrip,
        logistician: Any) -> None:
    to_shop = ship(shop, 1, shop_address)
    a, b = move(1), move(2, day="2026-03-08")
    services.add_documents(trip, shipments=[to_shop], transfers=[a, b], user=logistician)
    stops = services.stops_of(trip)
    # in the order the documents were made: the older transfer first
    assert [(s.sequence, s.address, s.partner, s.warehouse, s.is_transfer, s.recipient) for s in stops] == [
        (1, "Tverskaya 7", None, store, True, store), (2, "Lesnaya 1, back door", shop, None, False, shop)]
    assert sorted(d.transfer_id for d in stops[0].documents.all()) == [a.pk, b.pk]
    assert all(d.shipment_id is None and d.document.number for d in stops[0].documents.all())
    assert (stops[0].latitude, stops[0].total_kg) == (D("55.76"), D("57.000"))
    assert services.load_of(trip).weight_kg == D("76.000")
    entry = ChangeLogEntry.objects.filter(object_id=trip.pk).order_by("pk").last()
    assert entry is not None and entry.changes == {"transfers_added": [b.number, a.number]}


def test_a_transfer_is_refused_when_not_posted_on_another_trip_or_overloading(
        move: Any, van: Any, trip: DeliveryTrip, logistician: Any, manager: Any) -> None:
    with pytest.raises(CoreError) as refused:
        services.add_transfers(trip, [move(1, posted=False)], logistician)
    assert refused.value.code == DeliveryError.NOT_POSTED and "only posted documents" in refused.value.message
    transfer = move(1)
    services.add_transfers(trip, [transfer], logistician)
    second = services.create_trip(DAY, van, user=logistician)
    with pytest.raises(CoreError) as refused:
        services.add_transfers(second, [transfer], logistician)
    assert refused.value.code == DeliveryError.ALREADY_ON_TRIP and trip.number in refused.value.message
    assert refused.value.fields == {"transfers": [str(transfer)]}
    third = services.create_trip(DAY, van, user=manager)
    with pytest.raises(CoreError) as refused:
        services.add_transfers(third, [move(6)], manager)  # 114 kg in a van of 100 kg, without the right
    assert refused.value.code == DeliveryError.OVERLOAD
    assert not TripStop.objects.filter(trip__in=[second, third]).exists()


def test_fill_from_zone_takes_the_transfers_too_and_a_removed_transfer_takes_its_stop(
        move: Any, ship: Any, shop: Any, shop_address: Any, centre_zone: Any, trip: DeliveryTrip,
        logistician: Any) -> None:
    to_shop, to_store = ship(shop, 1, shop_address), move(1)
    services.fill_from_zone(trip, centre_zone, DAY, logistician)
    assert [(s.partner_id, s.warehouse_id) for s in services.stops_of(trip)] == [
        (shop.pk, None), (None, to_store.warehouse_to_id)]
    services.remove_transfer(trip, to_store, logistician)
    assert [s.partner_id for s in services.stops_of(trip)] == [shop.pk]
    assert [w.transfer for w in services.transfers_waiting(DAY)] == [to_store]
    with pytest.raises(CoreError) as refused:
        services.remove_transfer(trip, to_store, logistician)
    assert refused.value.code == DeliveryError.NOT_ON_TRIP and "transfer" in refused.value.message
    assert TripStopDocument.objects.filter(stop__trip=trip, shipment=to_shop).exists()


def test_a_stop_is_a_clients_door_or_our_warehouse_never_both_nor_neither(trip: DeliveryTrip, shop: Any,
                                                                         store: Any) -> None:
    from django.db import IntegrityError, transaction

    for partner, warehouse in ((shop, store), (None, None)):
        with pytest.raises(IntegrityError), transaction.atomic():
            TripStop.objects.create(trip=trip, sequence=1, partner=partner, warehouse=warehouse)
