"""The fiscal queue: a register that is down for a while then comes back gets every receipt exactly once, in
order; a refused receipt stops as failed with the device's text and the rest go on; a crash after the device
answered does not print twice; only one worker drains a register at a time; receipts wait for commit."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.utils import timezone

from torg.core.jobs import run_until_empty
from torg.core.models import Job
from torg.fiscal.builder import Goods, Settlement, SettlementObject, build
from torg.fiscal.models import CashRegister, EmulatorDocument, EmulatorState, FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import backoff, drain, queue_receipts
from torg.fiscal.services import cancel_receipt, retry_receipt

D = Decimal
pytestmark = pytest.mark.django_db


def drafts(n: int, start: int = 1):
    out = []
    for k in range(start, start + n):
        ref = f"lot:{k}"  # (not an order: these receipts stand alone)
        obj = SettlementObject(ref, f"заказу № {k}")
        out += build(Settlement(objects=(obj,), handed_over=(Goods(f"Товар {k}", D(1), D(k * 10), 22, ref),),
                                allocations=((ref, D(k * 10)),), cash=D(k * 10)))
    return out


def switch(register: CashRegister, online: bool) -> None:
    EmulatorState.objects.update_or_create(
        cash_register=register, defaults={"online": online, "fn_number": "9999078900000001",
                                          "registration_number": "0000000000000001"})


def test_down_for_a_while_then_back(register, organization):
    receipts = queue_receipts(drafts(5), organization_id=organization.pk, cash_register=register)
    switch(register, online=False)
    first = drain(register.pk)
    assert (first.registered, first.waiting) == (0, 1)
    waiting = FiscalReceipt.objects.get(pk=receipts[0].pk)
    assert waiting.status == ReceiptStatus.QUEUED and "Нет связи" in waiting.last_error
    assert waiting.next_attempt_at > timezone.now()
    # the others did not jump the queue
    assert not FiscalReceipt.objects.filter(status=ReceiptStatus.REGISTERED).exists()
    # another try while still down, honouring the backoff: nothing is sent
    assert drain(register.pk).registered == 0
    assert FiscalReceipt.objects.get(pk=receipts[0].pk).attempts == 1
    drain(register.pk, force=True)
    assert FiscalReceipt.objects.get(pk=receipts[0].pk).attempts == 2

    switch(register, online=True)
    back = drain(register.pk, force=True)
    assert back.registered == 5
    rows = list(FiscalReceipt.objects.order_by("pk").values_list("status", "fiscal_document_number", "total"))
    assert [r[0] for r in rows] == [ReceiptStatus.REGISTERED] * 5
    numbers = [r[1] for r in rows]
    assert numbers == sorted(numbers) == list(range(numbers[0], numbers[0] + 5))  # in order, none skipped
    assert drain(register.pk, force=True).registered == 0
    assert EmulatorDocument.objects.filter(kind="sell").count() == 5  # exactly once


def test_backoff_grows_and_is_capped():
    assert [backoff(n).total_seconds() for n in (1, 2, 3, 4, 10)] == [5, 10, 20, 40, 300]


def test_a_crash_after_the_device_answered_does_not_print_twice(register, organization):
    (receipt,) = queue_receipts(drafts(1), organization_id=organization.pk, cash_register=register)
    drain(register.pk)
    registered = FiscalReceipt.objects.get(pk=receipt.pk)
    # as if the worker died after the device registered it and before our row said so
    FiscalReceipt.objects.filter(pk=receipt.pk).update(status=ReceiptStatus.SENT, fiscal_document_number=None)
    drain(register.pk)
    again = FiscalReceipt.objects.get(pk=receipt.pk)
    assert again.status == ReceiptStatus.REGISTERED
    assert again.fiscal_document_number == registered.fiscal_document_number
    assert EmulatorDocument.objects.filter(kind="sell").count() == 1


def test_a_refused_receipt_fails_with_the_device_text_and_the_rest_go_on(register, organization, manager):
    good1, bad, good2 = queue_receipts(drafts(3), organization_id=organization.pk, cash_register=register)
    # the register's address was lost: the device refuses (ФФД 1.2 requires 1009) …
    CashRegister.objects.filter(pk=register.pk).update(payments_address="")
    FiscalReceipt.objects.filter(pk__in=[good1.pk, good2.pk]).update(status=ReceiptStatus.REGISTERED)
    outcome = drain(register.pk)
    assert (outcome.registered, outcome.failed) == (0, 1)
    bad.refresh_from_db()
    assert bad.status == ReceiptStatus.FAILED and "1009" in bad.last_error
    # … a person fixes the register and sends it again
    CashRegister.objects.filter(pk=register.pk).update(payments_address="Москва, Лесная, 5")
    retry_receipt(bad, user=manager)
    assert drain(register.pk).registered == 1
    bad.refresh_from_db()
    assert bad.status == ReceiptStatus.REGISTERED


def test_cancel_needs_a_reason_and_is_not_for_registered_receipts(register, organization, manager):
    from torg.core.errors import CoreError

    first, second = queue_receipts(drafts(2), organization_id=organization.pk, cash_register=register)
    with pytest.raises(CoreError, match="Say why"):
        cancel_receipt(first, reason=" ", user=manager)
    cancel_receipt(first, reason="printed on the old register", user=manager)
    assert drain(register.pk).registered == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == ReceiptStatus.CANCELLED and "printed on the old register" in first.last_error
    with pytest.raises(CoreError, match="registered"):
        cancel_receipt(second, reason="oops", user=manager)


def test_only_one_worker_drains_a_register(register, organization):
    queue_receipts(drafts(2), organization_id=organization.pk, cash_register=register)
    CashRegister.objects.filter(pk=register.pk).update(
        lease_owner="other-worker", lease_until=timezone.now() + timezone.timedelta(minutes=1))
    assert drain(register.pk, owner="me").busy
    assert not FiscalReceipt.objects.filter(status=ReceiptStatus.REGISTERED).exists()
    CashRegister.objects.filter(pk=register.pk).update(lease_until=timezone.now() - timezone.timedelta(seconds=1))
    assert drain(register.pk, owner="me").registered == 2


def test_receipts_go_out_through_the_worker_after_commit(register, organization, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        queue_receipts(drafts(3), organization_id=organization.pk, cash_register=register)
    job = Job.objects.get(name="fiscal.drain")
    assert job.payload == {"register": register.pk}
    assert run_until_empty() >= 1
    assert FiscalReceipt.objects.filter(status=ReceiptStatus.REGISTERED).count() == 3


def test_nothing_is_queued_when_the_transaction_rolls_back(register, organization,
                                                           django_capture_on_commit_callbacks):
    from django.db import transaction

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                queue_receipts(drafts(1), organization_id=organization.pk, cash_register=register)
                raise RuntimeError("the payment was refused")
        except RuntimeError:
            pass
    assert callbacks == [] and not FiscalReceipt.objects.exists() and not Job.objects.exists()
