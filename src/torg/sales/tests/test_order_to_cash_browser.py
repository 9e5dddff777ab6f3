"""Order to cash after the order is agreed, through the pages in Chromium, as the people who do it.

The sales manager releases an order to ship, ships it from the shipping backlog, ships a second order from an
order-based warehouse, and registers the client's bank payment, allocated oldest due first to both orders: the
first order closes. The storekeeper issues the second order's goods from the goods-issue desk: that order closes
too. The accountant downloads the first shipment's УПД and the акт сверки from their pages; both PDFs are rendered
to PNG and read back with pdftotext, and carry the client's name.

Screenshots, the PDFs and their PNGs go to settings.SCREENSHOT_DIR / "sales-o2c".
"""
from __future__ import annotations

import os
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from django.conf import settings
from django.utils import timezone

from torg.catalogs.models import Partner, Warehouse
from torg.conftest import moment
from torg.payments.models import IncomingPayment
from torg.sales import services
from torg.sales.models import GoodsIssue, OrderStatus, SalesOrder, SalesOrderLine, Shipment
from torg.sales.tests.test_pages_browser import log_in
from torg.stock.models import Stock
from torg.stock.tests.helpers import purchase

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

D = Decimal
CLIENT_NAME = "Продукты на Лесной"


def folder() -> Path:
    path = settings.SCREENSHOT_DIR / "sales-o2c"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(folder() / f"{name}.png"), full_page=True)


def text_of(page: Any, selector: str) -> str:
    """What a person reads in an element, white space collapsed."""
    return " ".join(page.inner_text(selector).split())


def download_pdf(page: Any, link: Any, name: str) -> Path:
    """Click a print link as a person does: it opens the PDF in a new tab, served inline as application/pdf.

    This Chromium shows a PDF in its own viewer instead of downloading it (no "download" event), and what the
    tab's response hands back is the viewer's page; so the file is fetched again from the tab's address with
    the browser's own request context, which carries the logged-in session, and kept under `name`."""
    with page.context.expect_event("response", predicate=lambda r: "/print/" in r.url) as response_info, \
            page.context.expect_page() as tab_info:
        link.click()
    response, tab = response_info.value, tab_info.value
    assert (response.status, response.headers["content-type"]) == (200, "application/pdf")
    assert tab.url == response.url == urljoin(page.url, link.get_attribute("href"))
    fetched = page.request.get(tab.url)
    assert fetched.ok and fetched.headers["content-type"] == "application/pdf"
    tab.close()
    path = folder() / name
    path.write_bytes(fetched.body())
    return path


def render_and_read(pdf: Path) -> tuple[Path, str]:
    """The PDF's first page as a PNG (pdftoppm) and its whole text (pdftotext), white space collapsed."""
    assert pdf.read_bytes()[:5] == b"%PDF-"
    prefix = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(prefix)],
                   check=True, capture_output=True, timeout=30)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=30).stdout
    return prefix.with_suffix(".png"), " ".join(text.split())


def assert_real_picture(png: Path) -> None:
    """A rendered page, not an empty or broken file: a PNG of a page's size with some weight of ink in it."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 300 and height > 300, (width, height)  # an A4 page at 60 dpi is about 496 × 702
    assert len(data) > 10_000, len(data)  # a blank page of that size compresses to a few hundred bytes


def test_order_to_cash_after_agreement_through_the_pages(
        live_server: Any, page: Any, manager: Any, storekeeper: Any, accountant: Any, organization: Any,
        warehouse: Any, supplier: Any, milk: Any, bread: Any, bank_account: Any) -> None:
    # -- given: a client; stock in Central and in an order-based depot; a posted order on Central not released yet
    #    (10 milk at 100, 4 bread at 50 = 1,200) and an order on the depot released to ship (5 milk at 100 = 500)
    client = Partner.objects.create(name=CLIENT_NAME, is_client=True)
    depot = Warehouse.objects.create(name="Depot", order_based=True)
    purchase(organization, warehouse, supplier, moment("2026-03-01", 9), [(milk, 100, 60), (bread, 100, 30)])
    purchase(organization, depot, supplier, moment("2026-03-01", 9), [(milk, 50, 60)])
    first = SalesOrder(organization=organization, partner=client, warehouse=warehouse, date=moment("2026-03-05", 10))
    services.save_order(first, [SalesOrderLine(item=milk, quantity=D(10), price=D(100)),
                                SalesOrderLine(item=bread, quantity=D(4), price=D(50))], user=manager, post=True)
    second = SalesOrder(organization=organization, partner=client, warehouse=depot, date=moment("2026-03-06", 10))
    services.save_order(second, [SalesOrderLine(item=milk, quantity=D(5), price=D(100))], user=manager, post=True)
    services.release_to_ship(second, user=manager)
    assert (first.amount, second.amount) == (D("1200.00"), D("500.00"))
    first_keys = [f"{first.pk}:{line.code}" for line in first.lines.order_by("line_no")]
    second_key = f"{second.pk}:{second.lines.get().code}"

    page.set_viewport_size({"width": 1440, "height": 900})
    base = live_server.url

    # ================================================================ the sales manager
    log_in(page, base, "manager")

    # -- the agreed order is released to ship from its page
    page.goto(base + f"/sales/orders/{first.pk}/")
    assert "Status: not agreed" in text_of(page, "#order-state")
    page.click("button[name=do][value=release]")
    page.wait_for_selector(".torg-messages")
    assert f"Released to ship: {first} is in the shipping backlog." in text_of(page, ".torg-messages")
    state = text_of(page, "#order-state")
    assert "State Shipping" in state and "Status: to ship" in state and "Shipped 0 %" in state
    shot(page, "01-order-released")

    # -- the backlog lists both orders' lines under their warehouses; the manager ships the first order's lines
    page.goto(base + "/shipping/")
    backlog = text_of(page, "#backlog-table")
    assert page.locator(".backlog-row").count() == 3
    assert "Central" in backlog and "Depot" in backlog and CLIENT_NAME in backlog
    assert f"{first} {CLIENT_NAME} Milk 1L 10" in backlog and f"{first} {CLIENT_NAME} Bread 4" in backlog
    assert f"{second} {CLIENT_NAME} Milk 1L 5" in backlog
    for key in first_keys:
        page.check(f"[id='pick-{key}']")
    page.check("#post-now")
    shot(page, "02-backlog-first-order-ticked")
    page.click("#create-shipments")
    page.wait_for_selector("#doc-status")
    shipment = Shipment.objects.get()
    assert text_of(page, "#doc-status") == "Posted"
    assert str(shipment) in text_of(page, "h1")
    assert text_of(page, "#shipment-orders") == f"Orders: {first}"
    assert [text_of(page, f"#shipment-prints a >> nth={n}") for n in range(3)] == ["UPD", "TORG-12", "VAT invoice"]
    shot(page, "03-shipment-posted")
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(90)

    # -- the order is shipped in full and waits for the client's money
    page.goto(base + f"/sales/orders/{first.pk}/")
    state = text_of(page, "#order-state")
    assert "State Awaiting payment" in state and "Shipped 100 %" in state and "Debt 1,200.00" in state
    shot(page, "04-order-awaiting-payment")

    # -- the depot's order ships too: what is left in the backlog is its line
    page.goto(base + "/shipping/")
    assert page.locator(".backlog-row").count() == 1
    page.check(f"[id='pick-{second_key}']")
    page.check("#post-now")
    page.click("#create-shipments")
    page.wait_for_selector("#doc-status")
    depot_shipment = Shipment.objects.exclude(pk=shipment.pk).get()
    assert text_of(page, "#doc-status") == "Posted"
    assert text_of(page, "#shipment-orders") == f"Orders: {second}"
    assert "Depot Milk 1L 5 0 5" in text_of(page, "#issue-difference")  # shipped 5, issued 0, to issue 5
    shot(page, "05-depot-shipment-posted")
    # sold, still on the depot's shelf until the storekeeper issues it
    assert Stock.balance(warehouse=depot, item=milk) == {"quantity": D(50), "free": D(45)}

    # -- the client pays 1,700 by bank transfer: the page proposes it oldest due first, to both orders
    page.goto(base + "/payments/new/")
    page.select_option("#id_organization", str(organization.pk))
    page.select_option("#id_partner", str(client.pk))
    page.wait_for_selector("#allocation-table")
    page.select_option("#id_method", "bank")
    page.select_option("#id_bank_account", str(bank_account.pk))
    page.fill("#id_purpose", "Payment for orders РМ-000001, РМ-000002")
    page.fill("#id_amount", "1700")
    page.press("#id_amount", "Tab")
    page.wait_for_function("() => document.querySelector('#allocated-total')?.innerText.trim() === '1,700.00'")
    assert page.input_value(f"input[name='alloc-o{first.pk}']") == "1200.00"
    assert page.input_value(f"input[name='alloc-o{second.pk}']") == "500.00"
    assert text_of(page, "#to-advance") == "0.00"
    shot(page, "06-payment-allocation")
    page.click("#register-payment")
    page.wait_for_selector("#payment-lines")
    payment = IncomingPayment.objects.get()
    assert f"Registered: {payment}." in text_of(page, ".torg-messages")
    header = text_of(page, "#payment-header")
    assert f"Client {CLIENT_NAME}" in header and f"Method Bank transfer · {bank_account.number}" in header
    assert "Amount 1,700.00 Allocated 1,700.00 To the advance 0.00" in header
    assert text_of(page, "#payment-lines") == f"Order or shipment Amount {first} 1,200.00 {second} 500.00"
    shot(page, "07-payment-registered")

    # -- the first order is shipped and paid: it closed itself; the second is paid but waits for its goods issue
    page.goto(base + f"/sales/orders/{first.pk}/")
    state = text_of(page, "#order-state")
    assert "State Closed" in state and "Status: closed" in state and "Paid 100 %" in state and "Debt 0.00" in state
    shot(page, "08-order-closed")
    page.goto(base + "/sales/orders/")
    first_row = " ".join(page.locator("#orders-table tbody tr", has_text=first.number).inner_text().split())
    second_row = " ".join(page.locator("#orders-table tbody tr", has_text=second.number).inner_text().split())
    assert "1,200.00 Closed Closed 100.00 100.00 0.00" in first_row
    # shipped and paid in full, but the depot has not handed the goods over yet
    assert "500.00 To ship Ready to ship 100.00 100.00 0.00" in second_row
    shot(page, "09-orders-list")

    # ================================================================ the storekeeper
    log_in(page, base, "storekeeper")
    page.goto(base + "/shipping/goods-issue/")
    waiting = page.locator(f"tbody.issue-shipment[data-shipment='{depot_shipment.pk}']")
    assert " ".join(waiting.inner_text().split()) == f"{depot_shipment} {CLIENT_NAME} Depot Milk 1L 5"
    assert page.locator("tbody.issue-shipment").count() == 1  # the shipment from Central issues nothing here
    page.check(f"#ship-{depot_shipment.pk}")
    shot(page, "10-goods-issue-desk")
    page.click("#issue-goods")
    page.wait_for_selector("#doc-status")
    issue = GoodsIssue.objects.get()
    assert f"Goods issued: {issue}." in text_of(page, ".torg-messages")
    assert str(issue) in text_of(page, "h1") and text_of(page, "#doc-status") == "Posted"
    shot(page, "11-goods-issued")
    assert Stock.balance(warehouse=depot, item=milk) == {"quantity": D(45), "free": D(45)}
    page.goto(base + "/shipping/goods-issue/")
    assert "No shipment is waiting for its goods." in text_of(page, "#issue-table")
    # the second order's goods left the depot and it is paid: it closed itself
    page.goto(base + f"/sales/orders/{second.pk}/")
    assert "State Closed" in text_of(page, "#order-state")
    shot(page, "12-second-order-closed")
    assert set(SalesOrder.objects.values_list("status", flat=True)) == {OrderStatus.CLOSED}

    # ================================================================ the accountant
    log_in(page, base, "accountant")

    # -- the УПД from the shipment's page
    page.goto(base + f"/shipping/shipments/{shipment.pk}/")
    upd = download_pdf(page, page.locator("#shipment-prints a", has_text="UPD"), "upd.pdf")
    png, text = render_and_read(upd)
    assert_real_picture(png)
    assert CLIENT_NAME in text
    assert f"Покупатель: {CLIENT_NAME}" in text and f"Грузополучатель и его адрес: {CLIENT_NAME}" in text
    assert f"Счет-фактура № {shipment.number}" in text and "Продавец: ООО «Ромашка»" in text
    assert "Всего к оплате (9) 983,60 Х 216,40 1 200,00" in text  # without VAT, VAT 22 %, with VAT
    assert f"Заказ клиента № {first.number} от 05.03.2026" in text  # the basis of the transfer

    # -- the акт сверки: the statement's page for the client and the year so far, then its PDF
    page.goto(base + "/reports/reconciliation/")
    page.select_option("#report-form select[name=partner]", str(client.pk))
    page.fill("#report-form input[name=start]", "2026-01-01")
    page.fill("#report-form input[name=end]", timezone.localdate().isoformat())
    page.click("#report-form button[type=submit]")
    page.wait_for_selector("#report-table")
    assert CLIENT_NAME in text_of(page, "h1")
    table = text_of(page, "#report-table")
    assert str(shipment) in table and str(depot_shipment) in table and str(payment) in table
    assert text_of(page, "#reconciliation-turnover") == "Turnover for the period 1,700.00 1,700.00 1,700.00 1,700.00"
    assert "there is no debt either way" in text_of(page, "#reconciliation-verdict")
    shot(page, "13-reconciliation")
    act = download_pdf(page, page.locator("#print-reconciliation"), "reconciliation.pdf")
    png, text = render_and_read(act)
    assert_real_picture(png)
    assert CLIENT_NAME in text
    assert "Акт сверки" in text and "ООО «Ромашка»" in text and "1 700,00" in text
