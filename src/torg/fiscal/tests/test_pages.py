"""The fiscal pages as a cashier and an accountant use them: the journal and its filters, a receipt as printed,
sending a failed receipt again, cancelling, returning goods, a correction receipt, the register's panel (shifts,
X report, cash in, the emulator off and on), the receipts on a payment's and an order's page, an e-mailed copy."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse

from torg.core.permissions import Role
from torg.fiscal.models import EmulatorState, FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import drain

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def cashier(role_user):
    return role_user(Role.CASHIER, "cashier")


@pytest.fixture
def paid(register, make_order, pay, client_partner):
    """An order prepaid in cash and its receipt registered on the emulator."""
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    drain(register.pk)
    return order, payment, FiscalReceipt.objects.get(payment=payment)


def test_journal_filters_and_the_receipt_as_printed(client, cashier, paid, register):
    order, payment, receipt = paid
    client.force_login(cashier)
    page = client.get(reverse("fiscal:receipt_list"), {"status": "registered", "cash_register": register.pk})
    assert page.status_code == 200 and reverse("fiscal:receipt_detail", args=[receipt.pk]) in page.text
    assert reverse("fiscal:receipt_detail", args=[receipt.pk]) not in client.get(
        reverse("fiscal:receipt_list"), {"status": "failed"}).text
    by_order = client.get(reverse("fiscal:receipt_list"), {"order": order.pk})
    assert reverse("fiscal:receipt_detail", args=[receipt.pk]) in by_order.text
    by_shift = client.get(reverse("fiscal:receipt_list"), {"shift_number": 1})
    assert reverse("fiscal:receipt_detail", args=[receipt.pk]) in by_shift.text
    detail = client.get(reverse("fiscal:receipt_detail", args=[receipt.pk]))
    text = detail.text
    assert "КАССОВЫЙ ЧЕК" in text and "ПРИХОД" in text and "ПРЕДОПЛАТА 100%" in text and "НДС 22/122" in text
    assert f"ФП</span><span>{receipt.fiscal_sign}" in text and "НАЛИЧНЫМИ" in text
    assert "1214: 1" in text  # the tags block
    pdf = client.get(reverse("fiscal:receipt_pdf", args=[receipt.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def test_receipts_on_the_payment_and_order_pages(client, accountant, paid):
    order, payment, receipt = paid
    client.force_login(accountant)
    on_payment = client.get(reverse("payments:payment_detail", args=[payment.pk]))
    assert 'id="fiscal-receipts"' in on_payment.text
    assert reverse("fiscal:receipt_detail", args=[receipt.pk]) in on_payment.text
    on_order = client.get(reverse("sales:orders_edit", args=[order.pk]))
    assert reverse("fiscal:receipt_detail", args=[receipt.pk]) in on_order.text


def test_a_register_down_shows_waiting_then_send_now(client, cashier, register, make_order, pay, client_partner):
    client.force_login(cashier)
    panel = reverse("fiscal:register_operation", args=[register.pk])
    client.post(panel, {"operation": "offline"})
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    drain(register.pk)
    receipt = FiscalReceipt.objects.get(payment=payment)
    assert receipt.status == ReceiptStatus.QUEUED
    detail = client.get(reverse("fiscal:receipt_detail", args=[receipt.pk])).text
    assert "Waiting for the cash register" in detail and "Нет связи" in detail
    page = client.get(reverse("fiscal:register_edit", args=[register.pk])).text
    assert 'id="device-unreachable"' in page
    client.post(panel, {"operation": "online"})
    client.post(panel, {"operation": "send_now"})
    receipt.refresh_from_db()
    assert receipt.status == ReceiptStatus.REGISTERED


def test_a_failed_receipt_sent_again_or_cancelled(client, cashier, register, make_order, pay, client_partner):
    register.payments_address = ""
    register.save()
    order = make_order()
    first = FiscalReceipt.objects.get(payment=pay(client_partner, "500.00", {order: "500.00"}))
    second = FiscalReceipt.objects.get(payment=pay(client_partner, "300.00", {order: "300.00"}))
    drain(register.pk)
    first.refresh_from_db()
    assert first.status == ReceiptStatus.FAILED and "1009" in first.last_error
    client.force_login(cashier)
    url = reverse("fiscal:receipt_detail", args=[first.pk])
    assert "1009" in client.get(url).text
    register.payments_address = "Москва, Лесная, 5"
    register.save()
    old_uuid = first.uuid
    client.post(url, {"action": "retry"})
    first.refresh_from_db()
    assert first.status == ReceiptStatus.QUEUED and first.uuid != old_uuid
    # the second one: cancelled, with the reason kept; an empty reason changes nothing
    second_url = reverse("fiscal:receipt_detail", args=[second.pk])
    client.post(second_url, {"action": "cancel", "reason": ""})
    second.refresh_from_db()
    assert second.status == ReceiptStatus.FAILED
    client.post(second_url, {"action": "cancel", "reason": "printed on the spare register"})
    second.refresh_from_db()
    assert second.status == ReceiptStatus.CANCELLED and "spare register" in second.last_error
    drain(register.pk)
    first.refresh_from_db()
    assert first.status == ReceiptStatus.REGISTERED


def test_returning_goods_from_the_receipt_page(client, cashier, register, make_order, pay, client_partner, manager):
    from torg.conftest import moment
    from torg.sales import services as sales

    order = make_order()
    pay(client_partner, "2000.00", {order: "2000.00"})
    picks = [sales.Pick(order.pk, ln.code) for ln in order.lines.all()]
    (shipment,) = sales.create_shipments_from_backlog(picks, user=manager, date=moment("2026-03-11", 10))
    drain(register.pk)
    handover = FiscalReceipt.objects.get(shipment=shipment)
    client.force_login(cashier)
    url = reverse("fiscal:receipt_return", args=[handover.pk])
    refused = client.post(url, {"qty-1": "11"})
    assert "only 10 sold" in refused.text and not FiscalReceipt.objects.filter(original=handover).exists()
    made = client.post(url, {"qty-1": "2", "cash": "200.00", "electronic": "0"})
    back = FiscalReceipt.objects.get(original=handover)
    assert made.status_code == 302 and made["Location"] == reverse("fiscal:receipt_detail", args=[back.pk])
    assert (back.operation, back.total, back.cash) == ("sell_return", D("200.00"), D("200.00"))
    assert [(ln.quantity, ln.method, ln.vat) for ln in back.lines.all()] == [(D(2), 4, 11)]
    # nine more would be more than sold less returned
    assert "only 8 sold and not yet returned" in client.post(url, {"qty-1": "9"}).text


def test_correction_receipt_form(client, cashier, register):
    client.force_login(cashier)
    url = reverse("fiscal:correction_new")
    data = {"cash_register": register.pk, "operation": "sell_correction", "correction_type": "self",
            "base_date": "2026-03-01", "name": "Молоко 1 л", "quantity": "3", "price": "100.00", "vat_rate": "10",
            "method": "4", "cash": "250.00", "electronic": "0"}
    wrong = client.post(url, data)
    assert "must add up to the amount, 300.00" in wrong.text and not FiscalReceipt.objects.exists()
    client.post(url, {**data, "cash": "300.00"})
    receipt = FiscalReceipt.objects.get()
    assert (receipt.operation, receipt.correction_type, str(receipt.correction_date)) == (
        "sell_correction", "self", "2026-03-01")
    assert [(ln.method, ln.vat, ln.amount) for ln in receipt.lines.all()] == [(4, 2, D("300.00"))]
    drain(register.pk)
    receipt.refresh_from_db()
    assert receipt.status == ReceiptStatus.REGISTERED


def test_register_panel_shifts_reports_cash(client, cashier, register):
    client.force_login(cashier)
    panel = reverse("fiscal:register_operation", args=[register.pk])
    client.post(panel, {"operation": "open_shift"})
    client.post(panel, {"operation": "cash_in", "amount": "1500"})
    refused = client.post(panel, {"operation": "cash_out", "amount": "2000"}, follow=True)
    assert "Недостаточно наличных" in refused.text
    page = client.post(panel, {"operation": "report_x"}, follow=True).text
    assert 'id="device-report"' in page and "Cash put in" in page
    assert EmulatorState.objects.get(cash_register=register).cash_in_drawer == D("1500.00")
    client.post(panel, {"operation": "close_shift"})
    assert not EmulatorState.objects.get(cash_register=register).shift_open


def test_registers_are_set_up_by_the_accountant_not_the_cashier(client, cashier, accountant, organization):
    url = reverse("fiscal:register_new")
    client.force_login(cashier)
    assert client.get(url).status_code == 403
    client.force_login(accountant)
    missing = client.post(url, {"organization": organization.pk, "name": "Till 2", "taxation": "osn",
                                "ffd_version": "1.2", "driver": "atol_web", "connection": "{}", "version": 1})
    assert "needs at least base_url" in missing.text and "address of settlement" in missing.text.lower()
    saved = client.post(url, {"organization": organization.pk, "name": "Till 2", "taxation": "osn",
                              "ffd_version": "1.2", "driver": "atol_web", "payments_address": "Москва",
                              "connection": '{"base_url": "http://127.0.0.1:9"}', "version": 1})
    assert saved.status_code == 302
    page = client.get(saved["Location"])
    assert page.status_code == 200 and 'id="device-unreachable"' in page.text


def test_an_e_mailed_copy(client, cashier, paid, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    _order, _payment, receipt = paid
    client.force_login(cashier)
    client.post(reverse("fiscal:receipt_detail", args=[receipt.pk]), {"action": "email", "email": "ivan@example.ru"})
    (message,) = mail.outbox
    assert message.to == ["ivan@example.ru"] and message.attachments[0][2] == "application/pdf"
    receipt.refresh_from_db()
    assert receipt.emailed_to == "ivan@example.ru"


def test_the_connection_password_is_never_shown_and_kept_when_not_retyped(client, accountant, register):
    register.connection = {"base_url": "http://127.0.0.1:9", "login": "kassa", "password": "s3cret"}
    register.save()
    client.force_login(accountant)
    url = reverse("fiscal:register_edit", args=[register.pk])
    page = client.get(url).text
    assert "s3cret" not in page and "********" in page
    data = {"organization": register.organization_id, "name": "Office register", "taxation": "osn",
            "ffd_version": "1.2", "driver": "emulator", "payments_address": "Москва", "version": register.version,
            "connection": '{"base_url": "http://127.0.0.1:9", "login": "kassa", "password": "********"}'}
    assert client.post(url, data).status_code == 302
    register.refresh_from_db()
    assert register.connection["password"] == "s3cret"


def test_a_return_with_a_word_for_a_quantity_is_refused_with_nothing_made(client, cashier, paid):
    _order, _payment, receipt = paid
    client.force_login(cashier)
    page = client.post(reverse("fiscal:receipt_return", args=[receipt.pk]), {"qty-1": "two"})
    assert "Quantities and amounts are numbers" in page.text
    assert not FiscalReceipt.objects.filter(original=receipt).exists()
