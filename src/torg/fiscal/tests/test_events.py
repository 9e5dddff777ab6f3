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


# ---------------------------------------------------------------- one settlement, one receipt
def settle_at_the_door(order: Any, user: Any, pay: Any, client_partner: Any, payments: list[tuple[str, str, str]],
                       buyer: str = "") -> list[FiscalReceipt]:
    """Hand the order over and take the money in one settlement: [(method, amount, allocated to the order)]."""
    from torg.core.documents import service_transaction
    from torg.fiscal.services import one_receipt

    with service_transaction(), one_receipt(buyer_contact=buyer, user=user) as settled:
        ship_all(order, user)
        for method, amount, allocated in payments:
            pay(client_partner, amount, {order: allocated}, method=method)
    return settled.receipts


def test_paid_at_the_door_in_cash_and_by_card_is_one_receipt(register, make_order, pay, manager, client_partner):
    order = make_order()
    (receipt,) = settle_at_the_door(order, manager, pay, client_partner,
                                    [(PaymentMethod.CASH, "800.00", "800.00"), (PaymentMethod.CARD, "1200.00",
                                                                                "1200.00")],
                                    buyer="+79161234567")
    assert lines_of(receipt) == [("Milk 1L", D(10), D("1000.00"), 4, 1, 11), ("Bread", D(20), D("1000.00"), 4, 1, 11)]
    assert sums_of(receipt) == (D("800.00"), D("1200.00"), 0, 0)
    assert receipt.buyer_contact == "+79161234567" and FiscalReceipt.objects.count() == 1


def test_overpayment_at_the_door_kept_as_an_advance(register, make_order, pay, manager, client_partner):
    order = make_order()
    (receipt,) = settle_at_the_door(order, manager, pay, client_partner, [(PaymentMethod.CASH, "2500.00",
                                                                           "2000.00")])
    assert [(ln[0], ln[2], ln[3]) for ln in lines_of(receipt)] == [
        ("Milk 1L", D("1000.00"), 4), ("Bread", D("1000.00"), 4), ("Аванс", D("500.00"), 3)]
    assert sums_of(receipt) == (D("2500.00"), 0, 0, 0)


def test_prepaid_part_offset_and_the_rest_in_cash_at_the_door(register, make_order, pay, manager, client_partner):
    order = make_order()
    pay(client_partner, "600.00", {order: "600.00"}, method=PaymentMethod.CARD)  # partial prepayment, receipted
    (receipt,) = settle_at_the_door(order, manager, pay, client_partner, [(PaymentMethod.CASH, "1400.00",
                                                                           "1400.00")])
    assert [ln[3] for ln in lines_of(receipt)] == [4, 4]
    assert sums_of(receipt) == (D("1400.00"), 0, D("600.00"), 0)
    assert FiscalReceipt.objects.count() == 2


def test_a_company_paying_by_bank_at_handover_needs_no_receipt(register, make_order, pay, manager, client_partner):
    order = make_order()
    assert settle_at_the_door(order, manager, pay, client_partner, [(PaymentMethod.BANK, "2000.00", "2000.00")]) == []
    assert not FiscalReceipt.objects.exists()


def test_a_refused_settlement_makes_no_receipt(register, make_order, pay, manager, client_partner):
    from torg.core.documents import service_transaction
    from torg.fiscal.services import one_receipt

    order = make_order()
    with pytest.raises(RuntimeError), service_transaction(), one_receipt(user=manager):
        ship_all(order, manager)
        pay(client_partner, "2000.00", {order: "2000.00"})
        raise RuntimeError("the card terminal declined")
    assert not FiscalReceipt.objects.exists()


def test_two_organizations_in_one_settlement_get_a_receipt_each_on_their_own_register(
        register, pay, manager, client_partner, organization, other_organization):
    from torg.catalogs.models import CashDesk
    from torg.core.documents import service_transaction
    from torg.fiscal.models import CashRegister
    from torg.fiscal.services import one_receipt

    other_register = CashRegister.objects.create(organization=other_organization, name="IP register",
                                                 payments_address="Химки", is_default=True)
    other_desk = CashDesk.objects.create(organization=other_organization, name="IP till")
    with service_transaction(), one_receipt(user=manager) as settled:
        pay(client_partner, "300.00", organization=organization)
        from torg.payments.models import IncomingPayment
        from torg.payments.services import register_payment

        register_payment(IncomingPayment(organization=other_organization, partner=client_partner,
                                         method=PaymentMethod.CASH, cash_desk=other_desk, amount=D("200.00"),
                                         date=moment("2026-03-10", 12)), [], user=manager, idempotency_key="ip-1")
    first, second = sorted(settled.receipts, key=lambda r: r.organization_id)
    assert (first.organization_id, first.cash_register_id, first.total) == (organization.pk, register.pk,
                                                                             D("300.00"))
    assert (second.organization_id, second.cash_register_id, second.total) == (other_organization.pk,
                                                                               other_register.pk, D("200.00"))
    assert [ln.vat for ln in second.lines.all()] == [6]  # the sole trader pays no VAT: «НДС не облагается»
