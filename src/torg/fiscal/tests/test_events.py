"""Which settlements make receipts, through the real services: payments, shipments, refunds, unposting — and
the receipts' lines and sums as the builder made them from the registers' facts."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.fiscal.models import FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import drain
from torg.payments.models import PaymentMethod, Refund
from torg.payments.services import refund, unpost_payment
from torg.sales import services as sales

D = Decimal
pytestmark = pytest.mark.django_db


def lines_of(receipt: FiscalReceipt) -> list[tuple[Any, ...]]:
    return [(ln.name, ln.quantity, ln.amount, ln.method, ln.subject, ln.vat) for ln in receipt.lines.all()]


def sums_of(receipt: FiscalReceipt) -> tuple[Decimal, ...]:
    return (receipt.cash, receipt.electronic, receipt.prepaid, receipt.credit)


def ship_all(order: Any, user: Any) -> Any:
    picks = [sales.Pick(order.pk, ln.code) for ln in order.lines.all()]
    (shipment,) = sales.create_shipments_from_backlog(picks, user=user, date=moment("2026-03-11", 10))
    return shipment


def test_cash_prepayment_then_handover(register, make_order, pay, manager, client_partner):
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    assert receipt.operation == "sell" and receipt.cash_register == register
    assert lines_of(receipt) == [("Milk 1L", D(10), D("1000.00"), 1, 1, 12), ("Bread", D(20), D("1000.00"), 1, 1, 12)]
    assert sums_of(receipt) == (D("2000.00"), 0, 0, 0)

    shipment = ship_all(order, manager)
    (handover,) = FiscalReceipt.objects.filter(shipment=shipment)
    assert lines_of(handover) == [("Milk 1L", D(10), D("1000.00"), 4, 1, 11), ("Bread", D(20), D("1000.00"), 4, 1, 11)]
    assert sums_of(handover) == (0, 0, D("2000.00"), 0)

    outcome = drain(register.pk)
    assert (outcome.registered, outcome.failed, outcome.waiting) == (2, 0, 0)
    receipt.refresh_from_db()
    handover.refresh_from_db()
    assert receipt.status == handover.status == ReceiptStatus.REGISTERED
    # 1 was the shift's opening; receipts follow in the order they were made
    assert (receipt.fiscal_document_number, handover.fiscal_document_number) == (2, 3)
    assert receipt.fiscal_sign and receipt.fn_number and receipt.shift_number == 1


def test_bank_transfer_from_a_company_needs_no_receipt(register, make_order, pay, manager, client_partner):
    order = make_order()
    pay(client_partner, "2000.00", {order: "2000.00"}, method=PaymentMethod.BANK)
    ship_all(order, manager)
    assert FiscalReceipt.objects.count() == 0


def test_partial_prepayment_by_card_then_handover_with_credit(register, make_order, pay, manager, client_partner):
    order = make_order()
    payment = pay(client_partner, "500.00", {order: "500.00"}, method=PaymentMethod.CARD)
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    title = f"заказу № {order.number} от 10.03.2026"
    assert lines_of(receipt) == [(f"Предоплата по {title}", D(1), D("500.00"), 2, 10, 12)]
    assert sums_of(receipt) == (0, D("500.00"), 0, 0)
    shipment = ship_all(order, manager)
    (handover,) = FiscalReceipt.objects.filter(shipment=shipment)
    assert [ln[3] for ln in lines_of(handover)] == [5, 5]
    assert sums_of(handover) == (0, 0, D("500.00"), D("1500.00"))


def test_private_person_on_credit_then_pays_the_debt(register, make_order, pay, manager, client_partner, person):
    order = make_order(counterparty=person)
    shipment = ship_all(order, manager)
    (handover,) = FiscalReceipt.objects.filter(shipment=shipment)
    assert [ln[3] for ln in lines_of(handover)] == [6, 6]
    assert sums_of(handover) == (0, 0, 0, D("2000.00"))
    payment = pay(client_partner, "2000.00", {order: "2000.00"}, counterparty=person)
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    assert lines_of(receipt) == [(f"Оплата долга по заказу № {order.number} от 10.03.2026", D(1), D("2000.00"),
                                  7, 10, 6)]


def test_advance_then_refund(register, pay, client_partner, organization, manager, cash_desk):
    payment = pay(client_partner, "3000.00", organization=organization)
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    assert lines_of(receipt) == [("Аванс", D(1), D("3000.00"), 3, 10, 12)]
    doc = refund(Refund(organization=organization, partner=client_partner, method=PaymentMethod.CASH,
                        cash_desk=cash_desk, amount=D("1200.00"), date=moment("2026-03-12", 10)), user=manager)
    (back,) = FiscalReceipt.objects.filter(refund=doc)
    assert back.operation == "sell_return"
    assert lines_of(back) == [("Аванс", D(1), D("1200.00"), 3, 10, 12)]
    assert sums_of(back) == (D("1200.00"), 0, 0, 0)
    drain(register.pk)
    assert FiscalReceipt.objects.filter(status=ReceiptStatus.REGISTERED).count() == 2


def test_one_payment_for_two_orders_is_one_receipt(register, make_order, pay, manager, client_partner):
    shipped = make_order()
    ship_all(shipped, manager)  # a company on credit: no receipt at handover
    waiting = make_order(milk_qty=5, bread_qty=0 + 2)
    payment = pay(client_partner, "3000.00", {shipped: "2000.00", waiting: "600.00"})
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    assert [(ln[0][:13], ln[2], ln[3]) for ln in lines_of(receipt)] == [
        ("Оплата долга ", D("2000.00"), 7), ("Milk 1L", D("500.00"), 1), ("Bread", D("100.00"), 1),
        ("Аванс", D("400.00"), 3)]
    assert receipt.total == receipt.cash == D("3000.00")


def test_unposting_a_payment_cancels_or_reverses_its_receipt(register, make_order, pay, manager, client_partner):
    order = make_order()
    first = pay(client_partner, "300.00", {order: "300.00"})
    unpost_payment(first, user=manager)
    (receipt,) = FiscalReceipt.objects.filter(payment=first)
    assert receipt.status == ReceiptStatus.CANCELLED  # never printed: nothing to take back

    second = pay(client_partner, "400.00", {order: "400.00"})
    drain(register.pk)
    unpost_payment(second, user=manager)
    original, reversal = FiscalReceipt.objects.filter(payment=second).order_by("pk")
    assert original.status == ReceiptStatus.REGISTERED
    assert (reversal.operation, reversal.original_id, lines_of(reversal), sums_of(reversal)) == (
        "sell_return", original.pk, lines_of(original), sums_of(original))


def test_no_register_keeps_the_receipt_as_failed_and_the_payment(make_order, pay, client_partner, organization,
                                                                  manager, cash_desk):
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    payment.refresh_from_db()
    assert payment.posted
    (receipt,) = FiscalReceipt.objects.filter(payment=payment)
    assert receipt.status == ReceiptStatus.FAILED and "no cash register" in receipt.last_error
    from torg.fiscal.models import CashRegister
    from torg.fiscal.services import retry_receipt

    register = CashRegister.objects.create(organization=organization, name="New register",
                                           payments_address="Москва", is_default=True)
    retry_receipt(receipt, user=manager)
    receipt.refresh_from_db()
    assert (receipt.status, receipt.cash_register_id) == (ReceiptStatus.QUEUED, register.pk)
    drain(register.pk)
    receipt.refresh_from_db()
    assert receipt.status == ReceiptStatus.REGISTERED
