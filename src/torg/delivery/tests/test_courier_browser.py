"""A courier's day on the phone in Chromium (390 × 844, touch): a trip of four stops —
(a) fully prepaid: hand over, nothing to pay; (b) partly prepaid: cash, the change counted; (c) a line partly
refused, paid by card and cash; (d) not delivered, with a reason — then the end of the trip.

Meanwhile a sales manager keeps the live board open on a desktop: its count of delivered stops follows the courier
without a reload. Every screen is saved to settings.SCREENSHOT_DIR / "delivery" (courier-*.png); every page must
arrive under 30 KB, every touch target be at least 48 px high, and nothing be wider than the phone.
"""
from __future__ import annotations

import os
import re
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.urls import NoReverseMatch, reverse

from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop
from torg.delivery.tests import test_courier_pages as pages
from torg.fiscal.models import FiscalReceipt, ReceiptStatus
from torg.payments.models import IncomingPayment, PaymentMethod
from torg.sales.tests.test_pages_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# The page tests' trip on route and the company behind it (pytest finds fixtures by these names).
Door = pages.Door
bank_account = pages.bank_account
cash_desk = pages.cash_desk
client_partner = pages.client_partner
courier_trip = pages.courier_trip
credit_agreement = pages.credit_agreement
director = pages.director
manager = pages.manager
pay = pages.pay
price_type = pages.price_type
prices = pages.prices
register = pages.register
stocked = pages.stocked
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
MAX_PAGE = 30_000

# What every phone screen must hold to: targets a thumb can hit, nothing wider than the screen.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const targets = 'a.btn, button, .back, a.item, label.choice, input[type=text], textarea';
  for (const el of document.querySelectorAll(targets)) {
    const box = el.getBoundingClientRect();
    if ((box.width === 0 && box.height === 0) || el.getAttribute('aria-hidden') === 'true') continue;  // hidden
    const name = el.id || el.textContent.trim().slice(0, 20);
    if (box.height < 48) problems.push(`${el.tagName}#${name}: ${box.height}px high`);
  }
  if (document.documentElement.scrollWidth > window.innerWidth)
    problems.push(`the page is ${document.documentElement.scrollWidth}px wide`);
  return problems;
}"""


def shot(page: Any, name: str) -> None:
    folder = settings.SCREENSHOT_DIR / "delivery"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"courier-{name}.png"), full_page=True)


def screen(page: Any, name: str) -> None:
    """A phone screen: checked for touch targets and width, then saved."""
    page.wait_for_load_state()
    assert page.evaluate(LAYOUT_PROBLEMS) == [], name
    shot(page, name)


def tap(page: Any, selector: str) -> None:
    with page.expect_navigation():
        page.locator(selector).tap()


def board_stops(board: Any) -> str:
    return re.sub(r"\s+", "", board.inner_text("#total-stops"))


def test_courier_completes_a_trip_of_four_stops(live_server: Any, browser: Any, courier_trip: Any, courier: Any,
                                                manager: Any, register: Any) -> None:
    from torg.fiscal.queue import drain

    trip, (a, b, c, d) = courier_trip(Door(prepaid="2000.00"), Door(prepaid="500.00"), Door(), Door())
    base = live_server.url

    # -- the manager's live board, on a desktop (the board is another part of the system: used when present)
    try:
        board_url = reverse("delivery:board")
    except NoReverseMatch:
        board_url = ""
    board = None
    if board_url:
        office = browser.new_context(viewport={"width": 1440, "height": 900}, locale="en-US")
        board = office.new_page()
        log_in(board, base, manager.username)
        board.goto(base + board_url)
        board.wait_for_selector(f"#trip-{trip.pk}")
        assert board_stops(board) == "0/4/0"
        board.evaluate("window.stillTheSamePage = true")
        board.screenshot(path=str(settings.SCREENSHOT_DIR / "delivery" / "courier-board-01-before.png"),
                         full_page=True)

    # -- the courier's phone
    mobile = browser.new_context(**PHONE, locale="en-US")
    page = mobile.new_page()
    sizes: list[tuple[str, int]] = []
    page.on("response", lambda r: sizes.append((r.url, len(r.body()))) if r.request.resource_type == "document"
            and r.status == 200 else None)
    log_in(page, base, courier.username)
    page.goto(base + reverse("courier:trips"))
    assert trip.number in page.inner_text("#trips")
    screen(page, "01-trips")
    tap(page, "#trips a.item")
    assert page.locator("#stops li").count() == 4
    screen(page, "02-trip")

    # (a) fully prepaid: hand over, nothing to pay
    tap(page, "#next-stop")
    assert page.get_attribute("#call", "href") == "tel:+79000000001"
    assert page.get_attribute("#map", "href").startswith("geo:55.760000,37.600000")
    screen(page, "03-stop")
    tap(page, "#hand-over")
    assert "Milk 1L" in page.inner_text("#lines") and "Bread" in page.inner_text("#lines")
    screen(page, "04-goods")
    tap(page, "#accept-all")
    assert page.inner_text("#due-total") == "0.00"
    screen(page, "05-due-prepaid")
    tap(page, "#to-pay")
    page.locator("#id_buyer_contact").fill("+7 900 123-45-67")
    screen(page, "06-receipt-contact")
    tap(page, "#contact-next")
    screen(page, "07-confirm-prepaid")
    tap(page, "#confirm")
    assert "Delivered" in page.inner_text("header")
    assert page.inner_text(".receipt-status") == "waiting"
    screen(page, "08-result-waiting")
    if board is not None:  # the board follows without a reload
        board.wait_for_function("() => document.querySelector('#total-stops').innerText.replace(/\\s/g, '') "
                                "=== '1/3/0'", timeout=15_000)
        assert board.evaluate("window.stillTheSamePage") is True
    drain(register.pk)  # the office register prints: the result page shows it by itself
    page.wait_for_function("() => document.querySelector('.receipt-status').innerText === 'registered'",
                           timeout=12_000)
    screen(page, "09-result-registered")

    # (b) partly prepaid: cash, with change
    tap(page, "#next-stop")
    tap(page, "#hand-over")
    tap(page, "#accept-all")
    assert page.inner_text("#due-total") == "1,500.00"
    screen(page, "10-due-partly-prepaid")
    tap(page, "#to-pay")
    screen(page, "11-how-the-client-pays")
    tap(page, "#pay-cash")
    page.locator("#id_cash").tap()
    page.keyboard.type("2000")
    assert page.inner_text("#calc-label") == "Change" and page.inner_text("#calc-value") == "500.00"
    screen(page, "12-cash-change")
    with page.expect_navigation():
        page.keyboard.press("Enter")  # the keyboard's "Go" is "Continue"
    assert page.inner_text("#overpaid") == "500.00"
    screen(page, "13-overpayment")
    tap(page, "#give-change")
    tap(page, "#contact-skip")
    tap(page, "#confirm")
    assert page.inner_text("#change") == "500.00"
    screen(page, "14-result-change")
    if board is not None:
        board.wait_for_function("() => document.querySelector('#total-stops').innerText.replace(/\\s/g, '') "
                                "=== '2/2/0'", timeout=15_000)

    # (c) milk partly refused; card and cash
    tap(page, "#next-stop")
    tap(page, "#hand-over")
    tap(page, "#change-quantities")
    milk = page.locator("input.num").first
    milk.fill("40")
    tap(page, "#save-quantities")
    assert "Milk 1L: 10 shipped, the client cannot accept 40." in page.inner_text("#quantities .field-err")
    screen(page, "15-quantities-refused")
    page.locator("input.num").first.fill("4")
    tap(page, "#save-quantities")
    assert page.inner_text("#due-total") == "1,400.00"
    screen(page, "16-due-refused")
    tap(page, "#to-pay")
    tap(page, "#pay-mixed")
    page.locator("#id_card").fill("1000")
    page.locator("#id_cash").fill("400")
    tap(page, "#amount-next")  # no approval code: refused on the spot
    assert "approval code" in page.inner_text(".field-err")
    screen(page, "17-card-without-approval")
    page.locator("#id_card_approval").fill("A7B2C3")
    tap(page, "#amount-next")
    tap(page, "#contact-skip")
    assert "4 of 10" in page.inner_text("#summary")
    screen(page, "18-confirm-mixed")
    tap(page, "#confirm")
    screen(page, "19-result-mixed")

    # (d) not delivered
    tap(page, "#next-stop")
    tap(page, "#not-delivered")
    page.locator("label.choice", has_text="Nobody at the address").tap()
    page.locator("#id_comment").fill("phone off")
    screen(page, "20-not-delivered")
    tap(page, "#fail-confirm")
    assert "Nobody at the address: phone off" in page.inner_text("#result-status")
    screen(page, "21-result-not-delivered")

    # the end of the trip
    tap(page, "#to-end")
    assert page.inner_text("#cash-total") == "1,900.00"
    goods = page.inner_text("#goods")
    assert "Milk 1L" in goods and "16" in goods and "Bread" in goods
    screen(page, "22-end-of-trip")
    tap(page, "#finish-trip")
    assert "is over" in page.inner_text("main")
    screen(page, "23-trips-after")

    # what the system recorded
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.DONE
    assert [s.status for s in TripStop.objects.filter(trip=trip).order_by("sequence")] == [
        StopStatus.DONE, StopStatus.DONE, StopStatus.DONE, StopStatus.FAILED]
    cash = IncomingPayment.objects.filter(partner__in=[b.partner, c.partner], method=PaymentMethod.CASH,
                                          purpose__startswith="Paid at delivery")
    assert sorted(p.amount for p in cash) == [Decimal("400.00"), Decimal("1500.00")]
    assert FiscalReceipt.objects.get(pk__in=TripStop.objects.get(pk=a.pk).result["receipts"]).status == \
        ReceiptStatus.REGISTERED
    too_big = [(url, n) for url, n in sizes if n >= MAX_PAGE]
    assert sizes and too_big == []

    if board is not None:
        board.wait_for_function("() => document.querySelector('#total-stops').innerText.replace(/\\s/g, '') "
                                "=== '3/0/1'", timeout=15_000)
        assert board.evaluate("window.stillTheSamePage") is True
        board.screenshot(path=str(settings.SCREENSHOT_DIR / "delivery" / "courier-board-02-after.png"),
                         full_page=True)


def test_change_is_counted_without_javascript(live_server: Any, browser: Any, courier_trip: Any, courier: Any
                                              ) -> None:
    """A phone with JavaScript off: the forms still work, and the server counts the change."""
    trip, (stop,) = courier_trip(Door(prepaid="500.00"))
    base = live_server.url
    phone = browser.new_context(**PHONE, locale="en-US", java_script_enabled=False)
    page = phone.new_page()
    log_in(page, base, courier.username)
    page.goto(base + reverse("courier:stop", args=[stop.pk]))
    tap(page, "#hand-over")
    tap(page, "#accept-all")
    tap(page, "#to-pay")
    tap(page, "#pay-cash")
    assert page.inner_text("#calc-value") == ""
    page.locator("#id_cash").fill("2000")
    tap(page, "button[name=calc]")
    assert page.inner_text("#calc-label") == "Change" and page.inner_text("#calc-value") == "500.00"
    assert page.input_value("#id_cash") == "2000"  # what was typed stays
    screen(page, "24-no-javascript-count")
    tap(page, "#amount-next")
    assert page.inner_text("#overpaid") == "500.00"


def test_courier_delivers_goods_to_our_store(live_server: Any, browser: Any, courier_trip: Any, courier: Any,
                                            organization: Any, warehouse: Any, store: Any, milk: Any, bread: Any,
                                            logistician: Any) -> None:
    """A stop at our own store: the goods of a transfer, part of the milk stays in the vehicle; no money screens."""
    from torg.conftest import moment
    from torg.delivery import services as delivery
    from torg.stock.models import StockTotal, Transfer, TransferLine
    from torg.stock.services import save_stock_document

    trip, _stops = courier_trip(Door(), status=TripStatus.FORMING)
    transfer = Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=store,
                        date=moment("2026-03-10", 8), delivery_needed=True)
    save_stock_document(transfer, [TransferLine(item=milk, quantity=Decimal(10)),
                                   TransferLine(item=bread, quantity=Decimal(5))], user=logistician, post=True)
    delivery.add_transfers(trip, [transfer], logistician)
    delivery.start_loading(trip, logistician)
    delivery.send_on_route(trip, logistician)
    stop = TripStop.objects.get(trip=trip, warehouse=store)
    base = live_server.url
    phone = browser.new_context(**PHONE, locale="en-US")
    page = phone.new_page()
    log_in(page, base, courier.username)
    page.goto(base + reverse("courier:stop", args=[stop.pk]))
    assert "Store on Tverskaya" in page.inner_text("#address") and page.locator("#contact").count() == 0
    screen(page, "30-store-stop")
    tap(page, "#hand-over")
    assert page.inner_text("#accept-all") == "The warehouse receives all"
    screen(page, "31-store-goods")
    tap(page, "#change-quantities")
    page.locator(f"input[name=q_{transfer.pk}_1]").fill("8")
    screen(page, "32-store-quantities")
    tap(page, "#save-quantities")
    assert "8 of 10" in page.inner_text("#summary") and page.locator("#money").count() == 0
    screen(page, "33-store-confirm")
    tap(page, "#confirm")
    assert "8 of 10" in page.inner_text("#result-received") and "Milk 1L" in page.inner_text("#returned")
    screen(page, "34-store-result")
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.DONE
    assert StockTotal.objects.get(warehouse=store, item=milk).quantity == Decimal(8)
    assert not IncomingPayment.objects.exists()  # the client stop is still to come; nothing paid at the store
