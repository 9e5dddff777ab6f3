"""The logistician plans a trip in Chromium: ticks waiting shipments and a transfer to our store, drags the last
stop to the top, moves one back with the arrow button, loads the trip. Screenshots go to
settings.SCREENSHOT_DIR / "delivery"."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from torg.delivery import services
from torg.delivery.models import DeliveryTrip, TripStatus
from torg.delivery.tests.conftest import DAY
from torg.sales.tests.test_pages_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page: Any, name: str) -> None:
    folder: Path = settings.SCREENSHOT_DIR / "delivery"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def test_logistician_plans_a_trip(live_server: Any, page: Any, logistician: Any, van: Any, ship: Any, shop: Any,
                                  cafe: Any, shop_address: Any, cafe_address: Any, centre_zone: Any,
                                  move: Any) -> None:
    # the third goes to the shop's own address ("Lesnaya 1"), another door than its back door: three stops
    to_shop, to_cafe, no_address = ship(shop, 2, shop_address), ship(cafe, 1, cafe_address), ship(shop, 1)
    to_store = move(1)  # and goods for our store: a fourth stop, at the end of the route
    cafe.latitude, cafe.longitude = cafe_address.latitude, cafe_address.longitude
    cafe.save()
    trip = services.create_trip(DAY, van, user=logistician)
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, "logistician")
    page.goto(f"{base}/delivery/trips/{trip.pk}/?without_address=1")
    shot(page, "01-trip-empty")
    for s in (to_shop, to_cafe, no_address):
        page.check(f"#w-{s.pk}")
    page.check(f"#wt-{to_store.pk}")
    page.click("#add-shipments")
    page.wait_for_selector("#stop-rows tr.stop-row")
    assert page.locator("#stop-rows tr.stop-row").count() == 4
    assert "Store on Tverskaya" in page.locator("#stop-rows tr.stop-row").last.inner_text()
    shot(page, "02-trip-with-stops")

    first = services.stops_of(trip)[0]
    last = services.stops_of(trip)[-1]
    with page.expect_navigation():
        page.drag_and_drop(f"tr[data-stop='{last.pk}'] td.stop-no", f"tr[data-stop='{first.pk}'] td.stop-no",
                           target_position={"x": 2, "y": 1})
    assert [s.pk for s in services.stops_of(trip)][0] == last.pk
    shot(page, "03-dragged")

    page.click(f"tr[data-stop='{last.pk}'] button[value='{last.pk}:down']")
    page.wait_for_load_state()
    assert [s.pk for s in services.stops_of(trip)][1] == last.pk

    page.click("#to-loading")
    page.wait_for_selector("#trip-status")
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.LOADING
    shot(page, "04-loading")


def test_logistician_draws_a_zone_on_the_map(live_server: Any, page: Any, logistician: Any, shop_address: Any,
                                             cafe_address: Any, store: Any, north_zone: Any) -> None:
    """Four clicks around the shop's back door make the zone's polygon; saved, the shop is in it, the cafe is not."""
    from torg.delivery.geometry import contains
    from torg.delivery.models import DeliveryZone

    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, "logistician")
    page.goto(f"{base}/delivery/zones/new/")
    page.fill("#id_name", "Lesnaya")
    frame = services.zone_map(None).frame  # type: ignore[union-attr]

    def click(lat: float, lon: float) -> None:
        """A click where the map draws this point (the picture is scaled to the page: the browser says how)."""
        x, y = frame.xy(lat, lon)
        at = page.evaluate("""([x, y]) => { const svg = document.getElementById('zone-svg');
            const p = svg.createSVGPoint(); p.x = x; p.y = y; const s = p.matrixTransform(svg.getScreenCTM());
            return [s.x, s.y]; }""", [x, y])
        page.mouse.click(at[0], at[1])

    for lat, lon in [(55.74, 37.59), (55.76, 37.59), (55.76, 37.62), (55.74, 37.62)]:
        click(lat, lon)
    page.click("#zone-undo")  # one too many? take the last back, and click it again
    click(55.74, 37.62)
    assert page.locator("#zone-vertices circle").count() == 4
    shot(page, "05-zone-drawn")
    with page.expect_navigation():
        page.click("#catalog-form button[type=submit]")
    zone = DeliveryZone.objects.get(name="Lesnaya")
    assert len(zone.polygon) == 4
    assert contains(zone.polygon, shop_address.latitude, shop_address.longitude)
    assert not contains(zone.polygon, cafe_address.latitude, cafe_address.longitude)
    assert page.locator("#current-zone").count() == 1
    shot(page, "06-zone-saved")
