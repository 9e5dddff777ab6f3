"""The managers' live board: trips of the day, stops, money by method, credit, receipts, the latest confirmations and
the couriers' cash — built from real orders shipped, put on trips and confirmed at the door; the fragment that the
page polls; a bounded number of queries; who may see it."""
from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from torg.catalogs.models import Partner
from torg.core.permissions import Role
from torg.delivery import services as delivery
from torg.delivery.board import board
from torg.delivery.courier import DoorPayment, confirm_stop, handover_lines
from torg.delivery.models import DeliveryTrip, StopStatus, TripStop, Vehicle
from torg.delivery.tests.door_fixtures import *  # noqa: F403  (fixtures are found by name)
from torg.fiscal.models import CashRegister, FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import drain

D = Decimal
pytestmark = pytest.mark.django_db
# The browser test below: Playwright runs an event loop in the test's thread; its database calls stay synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def stop_no(trip: DeliveryTrip, partner: Partner) -> int:
    return TripStop.objects.get(trip=trip, partner=partner).sequence


@pytest.fixture
def courier2(role_user: Any) -> Any:
    user = role_user(Role.COURIER, "courier2")
    user.first_name, user.last_name = "Pyotr", "Vtorov"
    user.save()
    return user


@pytest.fixture
def van2(courier2: Any) -> Vehicle:
    return Vehicle.objects.create(name="Van 2", plate="К222КК77", default_courier=courier2)


@pytest.fixture
def third_client(db: Any) -> Partner:
    return Partner.objects.create(name="Stolovaya 3", is_client=True)


@pytest.fixture
def fourth_client(db: Any) -> Partner:
    return Partner.objects.create(name="Bakery 4", is_client=True)


@pytest.fixture
def day_of_two_trips(order_to: Any, trip_on_route: Any, client_partner: Partner, second_client: Partner,
                     third_client: Partner, fourth_client: Partner, van2: Vehicle) -> tuple[DeliveryTrip,
                                                                                           DeliveryTrip]:
    """Trip 1 (the courier): 2,000.00 to the first client, 500.00 to the second, 100.00 to the third.
    Trip 2 (courier 2, another van): 300.00 to the fourth client. Both on route, nothing confirmed yet."""
    first = trip_on_route(order_to(client_partner), order_to(second_client, 5, 0), order_to(third_client, 0, 2))
    second = trip_on_route(order_to(fourth_client, 3, 0), vehicle=van2)
    return first, second


def test_the_board_adds_up_the_day(day_of_two_trips: Any, confirm: Any, fail: Any, client_partner: Partner,
                                   second_client: Partner, third_client: Partner, fourth_client: Partner,
                                   courier: Any, courier2: Any, door_day: dt.date, door_van: Vehicle,
                                   logistician: Any, register: CashRegister) -> None:
    trip1, trip2 = day_of_two_trips
    delivery.create_trip(door_day, door_van, user=logistician)  # still being formed: not on the board

    before = board(door_day)
    assert [t.number for t in before.trips] == [trip1.number, trip2.number]
    assert [(t.figures.pending, t.figures.done, t.figures.failed) for t in before.trips] == [(3, 0, 0), (1, 0, 0)]
    assert before.totals.collected == 0 and before.events == [] and before.couriers_cash == []

    # given: the first client pays 1,500.00 in cash and 500.00 by card, the third is closed, the second takes its
    # goods on credit; on trip 2 the fourth client hands 400.00 for 300.00 and gets 100.00 change
    confirm(trip1, stop_no(trip1, client_partner), cash="1500", card="500")
    fail(trip1, stop_no(trip1, third_client), reason="Closed for inventory")
    confirm(trip1, stop_no(trip1, second_client), on_credit=True)
    confirm(trip2, 1, cash="400")

    # when
    day = board(door_day)

    # then: per trip
    one, two = day.trips
    assert (one.number, one.status, one.vehicle, one.courier) == (trip1.number, "on_route", "Door van Е001КХ77",
                                                                   "courier")
    assert (one.figures.done, one.figures.pending, one.figures.failed, one.figures.percent) == (2, 0, 1, 100)
    assert (one.figures.cash, one.figures.card, one.figures.credit) == (D("1500"), D("500"), D("500.00"))
    assert (one.figures.receipts.waiting, one.figures.receipts.failed) == (1, 0)  # the credit sale needs none
    assert [(s.client, s.reason) for s in one.failed_stops] == [("Stolovaya 3", "Closed for inventory")]
    assert (two.courier, two.figures.done, two.figures.cash, two.figures.card) == ("Pyotr Vtorov", 1, D("300"), 0)
    assert two.figures.receipts.waiting == 1
    # the day
    t = day.totals
    assert (t.done, t.pending, t.failed) == (3, 0, 1)
    assert (t.cash, t.card, t.collected, t.credit, t.refunded) == (D("1800"), D("500"), D("2300"), D("500"), 0)
    assert (t.receipts.waiting, t.receipts.failed, t.receipts.registered) == (2, 0, 0)
    # the latest first
    assert [(e.client, e.status, e.collected, e.courier) for e in day.events] == [
        ("Bakery 4", StopStatus.DONE, D("300"), "Pyotr Vtorov"),
        ("Kafe Sever", StopStatus.DONE, 0, "courier"),
        ("Stolovaya 3", StopStatus.FAILED, 0, "courier"),
        ("Produkty na Lesnoy", StopStatus.DONE, D("2000"), "courier"),
    ]
    assert day.events[1].credit == D("500.00")
    # the cash each courier holds, the largest first
    assert [(c.courier, c.total) for c in day.couriers_cash] == [("courier", D("1500.00")),
                                                                  ("Pyotr Vtorov", D("300.00"))]
    assert day.cash_held == D("1800.00")

    # when the register takes the receipts, they are no longer waiting
    drain(register.pk)
    assert (board(door_day).totals.receipts.waiting, board(door_day).totals.receipts.registered) == (0, 2)
    # another day shows nothing of these
    assert board(door_day - dt.timedelta(days=1)).trips == []


def test_a_refund_is_deducted_and_a_refused_receipt_is_red_with_its_link(
        client: Any, order_to: Any, trip_on_route: Any, confirm: Any, pay: Any, client_partner: Partner,
        second_client: Partner, courier: Any, manager: Any, logistician: Any, register: CashRegister,
        door_day: dt.date) -> None:
    prepaid = order_to(second_client, 5, 0)
    pay(second_client, "500", {prepaid: "500"})  # paid in advance at the office
    trip = trip_on_route(order_to(client_partner), prepaid)
    confirm(trip, stop_no(trip, client_partner), cash="2000")
    # the second client takes 3 of the 5 prepaid bottles: 200.00 of its prepayment is given back in cash
    stop = TripStop.objects.get(trip=trip, partner=second_client)
    (line,) = handover_lines(stop)
    confirm_stop(stop, accepted={(line.shipment_id, line.line_no): D(3)}, payment=DoorPayment(refund_method="cash"),
                 user=courier, key="refund-at-the-door")
    # the register lost its address and refuses the receipts
    CashRegister.objects.filter(pk=register.pk).update(payments_address="")
    drain(register.pk)

    day = board(door_day)
    assert (day.totals.cash, day.totals.card, day.totals.refunded) == (D("1800.00"), 0, D("200.00"))
    assert day.couriers_cash[0].total == D("1800.00")
    refused = {r.receipt_id: r for r in day.failed_receipts}
    on_board = FiscalReceipt.objects.filter(pk__in=refused)
    # the first client's sale, the second's goods against its prepayment, and the prepayment given back
    assert sorted((r.operation, r.status, r.total) for r in on_board) == [
        ("sell", ReceiptStatus.FAILED, D("300.00")), ("sell", ReceiptStatus.FAILED, D("2000.00")),
        ("sell_return", ReceiptStatus.FAILED, D("200.00"))]
    assert all("1009" in r.error for r in refused.values())
    assert (day.totals.receipts.failed, day.totals.receipts.waiting) == (3, 0)

    client.force_login(manager)
    page = client.get(reverse("delivery:board_live"), {"day": door_day.isoformat()}).text
    for receipt_id in refused:
        assert f'id="failed-receipt-{receipt_id}"' in page
        assert f'href="{reverse("fiscal:receipt_detail", args=[receipt_id])}"' in page
    assert 'class="table-danger"' in page and "200.00 given back, deducted" in page
    # the logistician sees the refusal, without a link to a page it may not open
    client.force_login(logistician)
    page = client.get(reverse("delivery:board_live"), {"day": door_day.isoformat()}).text
    assert all(f'id="failed-receipt-{r}"' in page for r in refused)
    assert not any(reverse("fiscal:receipt_detail", args=[r]) in page for r in refused)


def test_the_page_shows_the_day_and_the_fragment_follows_the_confirmations(
        client: Any, day_of_two_trips: Any, confirm: Any, fail: Any, manager: Any, client_partner: Partner,
        third_client: Partner, door_day: dt.date) -> None:
    trip1, trip2 = day_of_two_trips
    client.force_login(manager)
    page = client.get(reverse("delivery:board"))
    assert page.status_code == 200
    html = page.text
    assert "<nav" in html and "htmx.min.js" in html  # the desktop shell
    live = reverse("delivery:board_live") + f"?day={door_day.isoformat()}"
    assert f'hx-get="{live}"' in html and 'hx-trigger="every 5s"' in html
    assert f'id="trip-{trip1.pk}"' in html and f'id="trip-{trip2.pk}"' in html
    assert f'href="{reverse("delivery:board")}"' in html  # the menu entry "Live board"

    before = client.get(live).text
    assert "<nav" not in before and before.lstrip().startswith('<div id="board-live"')
    assert "No stop confirmed yet." in before

    confirm(trip1, stop_no(trip1, client_partner), cash="1500", card="500")
    fail(trip1, stop_no(trip1, third_client), reason="Closed for inventory")
    after = client.get(live).text
    assert after != before
    assert 'id="total-collected">2,000.00<' in after
    assert "cash 1,500.00" in after and "card 500.00" in after
    assert 'id="event-' in after and "Produkty na Lesnoy" in after
    stop = TripStop.objects.get(trip=trip1, partner=third_client)
    assert f'id="failed-stop-{stop.pk}"' in after and "Closed for inventory" in after
    assert 'id="courier-cash-' in after


def test_the_day_filter(client: Any, day_of_two_trips: Any, manager: Any, door_day: dt.date) -> None:
    trip1, _trip2 = day_of_two_trips
    client.force_login(manager)
    yesterday = (door_day - dt.timedelta(days=1)).isoformat()
    other = client.get(reverse("delivery:board"), {"day": yesterday}).text
    assert f'id="trip-{trip1.pk}"' not in other and "No trips of this day have left planning yet." in other
    assert f'value="{yesterday}"' in other
    garbled = client.get(reverse("delivery:board_live"), {"day": "not-a-day"}).text  # today, then
    assert f'id="trip-{trip1.pk}"' in garbled


def test_queries_do_not_grow_with_trips_and_stops(client: Any, order_to: Any, trip_on_route: Any, confirm: Any,
                                                  fail: Any, client_partner: Partner, second_client: Partner,
                                                  third_client: Partner, fourth_client: Partner, manager: Any,
                                                  door_day: dt.date, django_assert_max_num_queries: Any) -> None:
    client.force_login(manager)
    live = reverse("delivery:board_live") + f"?day={door_day.isoformat()}"
    small = trip_on_route(order_to(client_partner, 1, 1))
    confirm(small, 1, cash="150")
    with django_assert_max_num_queries(4):
        board(door_day)
    client.get(live)  # the session and the user's groups are read once per request, then cached
    with CaptureQueriesContext(connection) as few:
        assert client.get(live).status_code == 200

    more = trip_on_route(order_to(second_client, 1, 0), order_to(third_client, 0, 1), order_to(fourth_client, 2, 0))
    confirm(more, 1, cash="100")
    confirm(more, 2, card="50")
    fail(more, 3)
    with django_assert_max_num_queries(4):
        day = board(door_day)
    assert (day.totals.done, day.totals.failed, len(day.trips)) == (3, 1, 2)
    with CaptureQueriesContext(connection) as many:
        assert client.get(live).status_code == 200
    assert len(many) == len(few)


@pytest.mark.parametrize("role, status", [
    (None, 302), (Role.COURIER, 403), (Role.STOREKEEPER, 403), (Role.CASHIER, 403),
    (Role.SALES_MANAGER, 200), (Role.SALES_DIRECTOR, 200), (Role.LOGISTICIAN, 200), (Role.ACCOUNTANT, 200),
    (Role.ADMINISTRATOR, 200),
])
@pytest.mark.parametrize("url_name", ["delivery:board", "delivery:board_live"])
def test_who_may_see_the_board(client: Any, role_user: Any, role: str | None, status: int, url_name: str) -> None:
    if role is not None:
        client.force_login(role_user(role, f"user_{role}"))
    response = client.get(reverse(url_name))
    assert response.status_code == status
    if role is None:
        assert response["Location"].startswith("/login/?next=")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_board_follows_the_door_in_chromium(live_server: Any, page: Any, day_of_two_trips: Any, confirm: Any,
                                                 fail: Any, manager: Any, client_partner: Partner,
                                                 third_client: Partner) -> None:
    """The manager keeps the board open; confirmations at the door appear on it without a reload."""
    from django.conf import settings

    from torg.sales.tests.test_pages_browser import log_in

    trip1, _trip2 = day_of_two_trips
    folder = settings.SCREENSHOT_DIR / "delivery"
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, live_server.url, "manager")
    page.goto(f"{live_server.url}/delivery/board/")
    assert page.locator("#total-collected").inner_text() == "0.00"
    page.evaluate("window.boardNotReloaded = true")
    page.screenshot(path=str(folder / "board-01-before.png"), full_page=True)

    confirm(trip1, stop_no(trip1, client_partner), cash="1500", card="500")
    fail(trip1, stop_no(trip1, third_client), reason="Closed for inventory")
    page.wait_for_function("document.getElementById('total-collected').innerText === '2,000.00'", timeout=15000)
    assert page.evaluate("window.boardNotReloaded") is True
    assert page.locator("#board-events li[id^=event-]").count() == 2
    assert "Closed for inventory" in page.locator("#board-trips").inner_text()
    assert page.locator("#board-stale").is_hidden()
    page.screenshot(path=str(folder / "board-02-after-confirmations.png"), full_page=True)
