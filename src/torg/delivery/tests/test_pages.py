"""The logistician's pages: catalogs, the trips list, planning a trip (add, overload, reorder by dragging and by
buttons, remove, statuses), the map, the route sheet PDF, and who may do what."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.urls import reverse

from torg.core.permissions import Role
from torg.delivery import services
from torg.delivery.models import Carrier, DeliveryTrip, DeliveryZone, TripStatus, TripStopDocument, Vehicle
from torg.delivery.tests.conftest import DAY

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def trip(van: Any, logistician: Any) -> DeliveryTrip:
    return services.create_trip(DAY, van, user=logistician)


def test_catalog_pages_create_and_edit(client: Any, logistician: Any, courier: Any) -> None:
    client.force_login(logistician)
    page = client.post(reverse("delivery:zone_new"), {
        "name": "Centre", "districts": "Arbat\nTverskoy", "polygon": "[[55.7, 37.5], [55.8, 37.5], [55.8, 37.7]]"})
    zone = DeliveryZone.objects.get()
    assert page.status_code == 302 and zone.polygon == [[55.7, 37.5], [55.8, 37.5], [55.8, 37.7]]
    bad = client.post(reverse("delivery:zone_edit", args=[zone.pk]), {"name": "Centre", "polygon": "[[1, 2]]",
                                                                     "version": zone.version})
    assert bad.status_code == 200 and "at least 3 points" in bad.text
    client.post(reverse("delivery:carrier_new"), {"name": "FastTrans", "phone": "+7 495 000-00-00"})
    carrier = Carrier.objects.get()
    client.post(reverse("delivery:vehicle_new"), {"name": "Gazelle", "plate": "В777ОР77", "capacity_kg": "1500",
                                                  "capacity_m3": "9.5", "carrier": carrier.pk,
                                                  "default_courier": courier.pk})
    vehicle = Vehicle.objects.get()
    assert (vehicle.capacity_kg, vehicle.capacity_m3, vehicle.carrier, vehicle.default_courier) == (
        D("1500"), D("9.5"), carrier, courier)
    for name in ("zone_list", "vehicle_list", "carrier_list"):
        assert client.get(reverse(f"delivery:{name}")).status_code == 200
    assert "Gazelle" in client.get(reverse("delivery:vehicle_list")).text


def test_the_zone_page_draws_the_zones_and_the_places_deliveries_go_to(
        client: Any, logistician: Any, manager: Any, centre_zone: Any, north_zone: Any, shop_address: Any,
        cafe_address: Any, store: Any, django_assert_max_num_queries: Any) -> None:
    from torg.catalogs.models import DeliveryAddress

    lost = DeliveryAddress.objects.create(partner=shop_address.partner, address="Far away 1", latitude=D("56.50"),
                                          longitude=D("38.50"))
    client.force_login(logistician)
    with django_assert_max_num_queries(12):
        page = client.get(reverse("delivery:zone_edit", args=[centre_zone.pk])).text
    assert 'id="zone-svg"' in page and 'data-editable="1"' in page and 'id="zone-clear"' in page
    assert page.count("<polygon") == 2 and 'id="current-zone"' in page  # North drawn grey, Centre orange
    # the shop's back door is in the centre (blue), the far address in no zone (red), the store is ours (green)
    assert re.search(r'fill="#0d6efd"><title>Shop on Lesnaya: Lesnaya 1, back door — Centre</title>', page)
    assert re.search(r'fill="#dc3545"><title>Shop on Lesnaya: Far away 1</title>', page) and lost.pk
    assert "<title>Store on Tverskaya</title></rect>" in page
    # the map's frame keeps every point inside the picture, and a click turns back into the point (to 0.1 px)
    frame = services.zone_map(centre_zone).frame  # type: ignore[union-attr]
    for lat, lon in [(56.50, 38.50), (55.70, 37.50), (55.95, 37.70)]:
        x, y = frame.xy(lat, lon)
        assert 0 <= x <= frame.width and 0 <= y <= frame.height
        back = frame.lat_lon(x, y)
        assert abs(back[0] - lat) < 0.001 and abs(back[1] - lon) < 0.001
    # who may only look gets the map without the drawing tools
    client.force_login(manager)
    page = client.get(reverse("delivery:zone_edit", args=[centre_zone.pk])).text
    assert 'id="zone-svg"' in page and "data-editable" not in page and 'id="zone-clear"' not in page


def test_plan_a_trip_through_the_pages(client: Any, logistician: Any, van: Any, courier: Any, ship: Any, shop: Any,
                                       cafe: Any, shop_address: Any, cafe_address: Any, centre_zone: Any) -> None:
    client.force_login(logistician)
    created = client.post(reverse("delivery:trip_new"), {"trip_date": DAY.isoformat(), "vehicle": van.pk})
    trip = DeliveryTrip.objects.get()
    assert created["Location"] == reverse("delivery:trip_detail", args=[trip.pk])
    assert trip.courier == courier and trip.number.startswith("РЛ-")
    a, b = ship(shop, 1, shop_address), ship(cafe, 2, cafe_address)
    page = client.get(reverse("delivery:trip_detail", args=[trip.pk]))
    assert page.status_code == 200 and a.number in page.text and b.number in page.text
    in_zone = client.get(reverse("delivery:trip_detail", args=[trip.pk]), {"zone": centre_zone.pk})
    assert a.number in in_zone.text and b.number not in in_zone.text
    client.post(reverse("delivery:trip_add", args=[trip.pk]), {"shipment": [a.pk, b.pk]})
    s1, s2 = services.stops_of(trip)
    page = client.get(reverse("delivery:trip_detail", args=[trip.pk]))
    assert 'id="stop-rows"' in page.text and "<svg" in page.text and "57.0 %" in page.text
    # Dragging posts the whole order and gets JSON; the buttons post one move and come back to the page.
    answer = client.post(reverse("delivery:trip_reorder", args=[trip.pk]), {"stop": [s2.pk, s1.pk]})
    assert answer.json() == {"ok": True}
    assert [s.pk for s in services.stops_of(trip)] == [s2.pk, s1.pk]
    assert client.post(reverse("delivery:trip_reorder", args=[trip.pk]), {"stop": [s1.pk]}).status_code == 409
    moved = client.post(reverse("delivery:trip_reorder", args=[trip.pk]), {"move": f"{s1.pk}:up"})
    assert moved.status_code == 302 and [s.pk for s in services.stops_of(trip)] == [s1.pk, s2.pk]
    client.post(reverse("delivery:trip_remove", args=[trip.pk]), {"shipment": b.pk})
    assert list(TripStopDocument.objects.values_list("shipment_id", flat=True)) == [a.pk]
    client.post(reverse("delivery:trip_status", args=[trip.pk]), {"status": "loading"})
    trip.refresh_from_db()
    assert trip.status == TripStatus.LOADING


def test_overload_on_the_page_is_refused_for_one_and_red_for_the_other(client: Any, admin_user: Any, van: Any,
                                                                       ship: Any, shop: Any, shop_address: Any,
                                                                       trip: DeliveryTrip) -> None:
    big = ship(shop, 6, shop_address)
    # An administrator has every capability (the overload one too): the load goes on and shows in red.
    client.force_login(admin_user)
    client.post(reverse("delivery:trip_add", args=[trip.pk]), {"shipment": [big.pk]})
    page = client.get(reverse("delivery:trip_detail", args=[trip.pk]))
    assert 'id="overloaded"' in page.text and "bg-danger" in page.text


def test_overload_refused_message_on_the_page(client: Any, logistician: Any, trip: DeliveryTrip, ship: Any,
                                              shop: Any, shop_address: Any, monkeypatch: Any) -> None:
    from torg.core import permissions

    monkeypatch.setitem(permissions.ROLE_CAPS, Role.LOGISTICIAN,
                        permissions.ROLE_CAPS[Role.LOGISTICIAN] - {permissions.Cap.DELIVERY_OVERLOAD})
    client.force_login(logistician)
    page = client.post(reverse("delivery:trip_add", args=[trip.pk]), {"shipment": [ship(shop, 6, shop_address).pk]},
                       follow=True)
    assert "114 kg against a capacity of 100 kg" in page.text
    assert not TripStopDocument.objects.exists()


def test_route_sheet_is_a_pdf(client: Any, logistician: Any, trip: DeliveryTrip, ship: Any, shop: Any,
                              shop_address: Any) -> None:
    services.add_shipments(trip, [ship(shop, 1, shop_address)], logistician)
    client.force_login(logistician)
    response = client.get(reverse("delivery:route_sheet", args=[trip.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_transfers_to_our_store_through_the_pages_and_on_the_route_sheet(
        client: Any, logistician: Any, trip: DeliveryTrip, move: Any, ship: Any, shop: Any, shop_address: Any,
        store: Any, tmp_path: Any) -> None:
    import subprocess

    to_store, to_shop = move(2), ship(shop, 1, shop_address)
    client.force_login(logistician)
    page = client.get(reverse("delivery:trip_detail", args=[trip.pk]))
    assert 'id="waiting-transfers"' in page.text and to_store.number in page.text and "Tverskaya 7" in page.text
    added = client.post(reverse("delivery:trip_add", args=[trip.pk]),
                        {"transfer": [to_store.pk], "shipment": [to_shop.pk]}, follow=True)
    assert "Documents added: 2." in added.text
    assert 'id="waiting-transfers"' not in added.text and "our warehouse" in added.text
    store_stop = next(s for s in services.stops_of(trip) if s.warehouse_id)
    assert store_stop.warehouse == store and store_stop.partner is None
    pdf = client.get(reverse("delivery:route_sheet", args=[trip.pk]))
    assert pdf.status_code == 200
    (tmp_path / "sheet.pdf").write_bytes(pdf.content)
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(tmp_path / "sheet.pdf"), "-"], check=True,
                                   capture_output=True, text=True).stdout.split())
    # (the columns interleave in the text: the number of a document follows its weight)
    assert "Store on Tverskaya Transfer No." in text and "our warehouse" in text and "Shop on Lesnaya" in text
    removed = client.post(reverse("delivery:trip_remove", args=[trip.pk]), {"transfer": to_store.pk}, follow=True)
    assert "The transfer is taken off the trip." in removed.text
    assert list(TripStopDocument.objects.values_list("shipment_id", "transfer_id")) == [(to_shop.pk, None)]


def test_trips_list_filters_by_day_and_status(client: Any, manager: Any, van: Any, logistician: Any) -> None:
    services.create_trip(DAY, van, user=logistician)
    other = services.create_trip(DAY.replace(day=11), van, user=logistician)
    client.force_login(manager)
    page = client.get(reverse("delivery:trip_list"), {"day": DAY.isoformat()})
    assert page.status_code == 200 and "РЛ-000001" in page.text and other.number not in page.text
    assert "РЛ-000002" in client.get(reverse("delivery:trip_list"), {"status": "forming"}).text


def test_who_may_do_what(client: Any, manager: Any, courier: Any, trip: DeliveryTrip) -> None:
    detail = reverse("delivery:trip_detail", args=[trip.pk])
    assert client.get(detail).status_code == 302  # to the login page
    client.force_login(courier)
    assert client.get(detail).status_code == 403
    client.force_login(manager)  # a sales manager sees trips but does not plan them
    page = client.get(detail)
    assert page.status_code == 200 and 'id="waiting"' not in page.text
    assert client.post(reverse("delivery:trip_status", args=[trip.pk]), {"status": "loading"}).status_code == 403
    assert client.post(detail, {"trip_date": "2026-03-11"}).status_code == 403
    assert client.get(reverse("delivery:trip_new")).status_code == 403
    trip.refresh_from_db()
    assert trip.status == TripStatus.FORMING
