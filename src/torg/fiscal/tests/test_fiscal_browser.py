"""The cashier's fiscal day through the pages in Chromium.

The office register (the emulator) is switched off; a client pays an order in cash at the till: the payment's page
shows its receipt waiting, and so does the journal. The cashier switches the register on and sends the waiting
receipts: the receipt is registered (a shift was opened for it). The cashier opens the receipt as printed, takes an
X report, and downloads the PDF copy, rendered to PNG and read back with pdftotext.

Screenshots go to settings.SCREENSHOT_DIR / "fiscal".
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from torg.core.permissions import Role
from torg.fiscal.models import FiscalReceipt, ReceiptStatus
from torg.sales.tests.test_order_to_cash_browser import render_and_read
from torg.sales.tests.test_pages_browser import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def folder() -> Path:
    path = settings.SCREENSHOT_DIR / "fiscal"
    path.mkdir(parents=True, exist_ok=True)
    return path


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(folder() / f"{name}.png"), full_page=True)


def test_cashier_sends_waiting_receipts_and_reads_one(live_server: Any, page: Any, role_user: Any, register: Any,
                                                      make_order: Any, pay: Any, client_partner: Any) -> None:
    role_user(Role.CASHIER, "cashier")
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, base, "cashier")

    # -- the register is off
    page.goto(f"{base}/fiscal/registers/{register.pk}/")
    page.click("#emulator-off")
    page.wait_for_selector("#emulator-on")
    shot(page, "01-register-off")

    # -- a cash payment: its receipt waits
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    receipt = FiscalReceipt.objects.get(payment=payment)
    from torg.fiscal.queue import drain

    drain(register.pk)  # the worker's try: the register does not answer
    page.goto(f"{base}/payments/{payment.pk}/")
    assert "waiting" in page.inner_text("#fiscal-receipts")
    shot(page, "02-payment-receipt-waiting")
    page.goto(f"{base}/fiscal/?status=queued")
    assert "Нет связи" in page.inner_text("#list-table")
    shot(page, "03-journal-waiting")

    # -- on again, send now
    page.goto(f"{base}/fiscal/registers/{register.pk}/")
    page.click("#emulator-on")
    page.wait_for_selector("#emulator-off")
    page.click("#send-now")
    page.wait_for_selector(".alert")
    receipt.refresh_from_db()
    assert receipt.status == ReceiptStatus.REGISTERED and receipt.fiscal_document_number == 2
    assert "No. 1, open" in page.inner_text("#device-shift")
    shot(page, "04-register-sent")

    # -- the receipt as printed
    page.goto(f"{base}/fiscal/receipts/{receipt.pk}/")
    tape = page.inner_text(".receipt-tape")
    assert "КАССОВЫЙ ЧЕК" in tape and "ПРЕДОПЛАТА 100%" in tape and receipt.fiscal_sign in tape
    assert page.inner_text("#receipt-fd").strip() == "2"
    shot(page, "05-receipt")

    # -- an X report
    page.goto(f"{base}/fiscal/registers/{register.pk}/")
    page.click("button[value=report_x]")
    page.wait_for_selector("#device-report")
    assert "Sales, cash" in page.inner_text("#device-report") and "2000" in page.inner_text("#device-report")
    shot(page, "06-x-report")

    # -- the PDF copy, rendered and read back
    pdf = folder() / "receipt.pdf"
    pdf.write_bytes(page.request.get(f"{base}/fiscal/receipts/{receipt.pk}/pdf/").body())
    png, text = render_and_read(pdf)
    assert "КАССОВЫЙ ЧЕК" in text and "ПРИХОД" in text and "2000.00" in text and receipt.fiscal_sign in text
    data = png.read_bytes()  # a narrow tape (80 mm), not an A4 page
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000
