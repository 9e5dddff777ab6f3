"""The fiscal queue: receipts are stored with the settlement that needs them and sent after it commits.

    queue_receipts(drafts, …)   in the caller's transaction: FiscalReceipt rows (status queued) and, on commit,
                                a `fiscal.drain` job for each register concerned
    drain(register)             the job: one worker at a time per register (a lease on the register row) sends the
                                register's waiting receipts in the order they were created

Exactly once: each receipt carries a uuid the driver gives the device; a device asked again for a uuid it knows
answers with the first result, so a crash between the device's answer and our update is harmless.

In order, and nothing lost: a register that cannot be reached stops the drain at the first waiting receipt,
which keeps its place (status waiting, with the reason) and is tried again with backoff (5 s, 10 s, 20 s … up
to 5 minutes). A receipt the device refuses stops as failed with the device's message and the drain goes on
with the next; a person retries or cancels it. The payment or shipment it belongs to stays as it is.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from torg.core.jobs import enqueue, job
from torg.fiscal.devices import Cashier, DeviceReceipt, DeviceRefused, DeviceUnavailable, FiscalDevice, FiscalResult
from torg.fiscal.drivers import device_for, has_shifts
from torg.fiscal.models import CashRegister, FiscalReceipt, FiscalReceiptLine, ReceiptStatus
from torg.fiscal.receipts import ReceiptDraft

log = logging.getLogger("torg.fiscal")
LEASE = dt.timedelta(minutes=2)
BACKOFF_FIRST_S = 5
BACKOFF_MAX_S = 300
BATCH = 200


def backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(BACKOFF_FIRST_S * 2 ** max(attempts - 1, 0), BACKOFF_MAX_S))


# ================================================================ choosing a register
def register_for(organization_id: int, cash_desk_id: int | None = None) -> CashRegister | None:
    """The register that registers an organization's receipts: the one of the cash desk, else the organization's
    default one, else its only active one."""
    registers = list(CashRegister.objects.filter(organization_id=organization_id, deletion_mark=False)
                     .only("pk", "cash_desk_id", "is_default").order_by("pk"))
    if cash_desk_id:
        for register in registers:
            if register.cash_desk_id == cash_desk_id:
                return register
    defaults = [r for r in registers if r.is_default]
    if defaults:
        return defaults[0]
    return registers[0] if len(registers) == 1 else None


# ================================================================ adding to the queue
def queue_receipts(drafts: Sequence[ReceiptDraft], *, organization_id: int, partner_id: int | None = None,
                   cash_register: CashRegister | None = None, cash_desk_id: int | None = None,
                   payment_id: int | None = None, shipment_id: int | None = None, refund_id: int | None = None,
                   original_id: int | None = None, event_key: str | None = None, user: Any = None,
                   notes: str = "") -> list[FiscalReceipt]:
    """Store receipts for sending (in the caller's transaction). An `event_key` already used adds nothing: the
    receipts of one event are made once however often the event is reported."""
    if not drafts:
        return []
    if event_key and FiscalReceipt.objects.filter(event_key__startswith=f"{event_key}#").exists():
        return list(FiscalReceipt.objects.filter(event_key__startswith=f"{event_key}#").order_by("pk"))
    register = cash_register or register_for(organization_id, cash_desk_id)
    now = timezone.now()
    receipts = []
    for n, draft in enumerate(drafts):
        receipt = FiscalReceipt(
            cash_register=register, organization_id=organization_id, partner_id=partner_id,
            operation=draft.operation.value, payment_id=payment_id, shipment_id=shipment_id, refund_id=refund_id,
            original_id=original_id, event_key=f"{event_key}#{n}" if event_key else None, total=draft.total,
            cash=draft.payments.cash, electronic=draft.payments.electronic, prepaid=draft.payments.prepaid,
            credit=draft.payments.credit, other=draft.payments.other, buyer_contact=draft.buyer_contact,
            buyer_name=draft.buyer_name, buyer_inn=draft.buyer_inn, created_at=now,
            created_by=user if getattr(user, "pk", None) else None, notes=notes)
        if draft.correction is not None:
            receipt.correction_type = draft.correction.type.value
            receipt.correction_date = draft.correction.base_date
            receipt.correction_number = draft.correction.base_number
        if register is None:
            receipt.status = ReceiptStatus.FAILED
            receipt.last_error = str(_no_register_message())
        receipts.append(receipt)
    FiscalReceipt.objects.bulk_create(receipts)
    if connection.vendor != "postgresql" or any(r.pk is None for r in receipts):
        # (SQLite returns the keys too; this guards a backend that does not.)
        keys = [r.uuid for r in receipts]
        by_uuid = dict(FiscalReceipt.objects.filter(uuid__in=keys).values_list("uuid", "pk"))
        for receipt in receipts:
            receipt.pk = by_uuid[receipt.uuid]
    lines = []
    for receipt, draft in zip(receipts, drafts, strict=True):
        for no, ln in enumerate(draft.lines, 1):
            kind, _, ref = ln.reference.partition(":")
            lines.append(FiscalReceiptLine(
                receipt_id=receipt.pk, line_no=no, name=ln.name, quantity=ln.quantity, price=ln.price,
                amount=ln.amount, method=int(ln.method), subject=int(ln.subject), vat=int(ln.vat),
                vat_amount=ln.vat_amount, unit=int(ln.unit), item_id=ln.item_id,
                order_id=int(ref) if kind == "order" and ref else None,
                shipment_id=int(ref) if kind == "shipment" and ref else None))
    FiscalReceiptLine.objects.bulk_create(lines)
    if register is not None:
        schedule_drain(register.pk)
    return receipts


def _no_register_message() -> str:
    from django.utils.translation import gettext

    return gettext("The organization has no cash register to print this receipt: add one (Fiscal → Cash "
                   "registers), then retry the receipt.")


def schedule_drain(register_id: int, run_after: dt.datetime | None = None) -> None:
    """Have a worker drain the register's queue (after the current transaction commits)."""
    enqueue("fiscal.drain", {"register": register_id}, unique_key=f"fiscal-drain:{register_id}",
            run_after=run_after)


# ================================================================ draining
@dataclass
class DrainResult:
    registered: int = 0
    failed: int = 0
    waiting: int = 0  # receipts left waiting because the device was unreachable
    busy: bool = False  # another worker held the register


def _take_lease(register_id: int, owner: str) -> bool:
    now = timezone.now()
    taken = CashRegister.objects.filter(pk=register_id).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner)
    ).update(lease_until=now + LEASE, lease_owner=owner)
    return taken == 1


def _release_lease(register_id: int, owner: str) -> None:
    CashRegister.objects.filter(pk=register_id, lease_owner=owner).update(lease_until=None, lease_owner="")


def device_receipt(receipt: FiscalReceipt, register: CashRegister,
                   lines: list[FiscalReceiptLine] | None = None) -> DeviceReceipt:
    return DeviceReceipt(
        uuid=str(receipt.uuid), draft=receipt.to_draft(lines), taxation=register.taxation,
        payments_place=register.payments_place, payments_address=register.payments_address,
        cashier=cashier_of(register), company_inn=register.organization.inn, created_at=receipt.created_at)


def cashier_of(register: CashRegister, user: Any = None) -> Cashier:
    name = register.cashier_name
    if user is not None and getattr(user, "pk", None):
        name = user.get_full_name() or user.get_username()
    return Cashier(name=name or register.organization.director or register.organization.name,
                   inn=register.cashier_inn)


def drain(register_id: int, *, owner: str | None = None, force: bool = False) -> DrainResult:
    """Send the register's waiting receipts in order. `force` ignores the backoff (a person pressed «send now»)."""
    owner = owner or f"{socket.gethostname()}:{os.getpid()}"
    result = DrainResult()
    if not _take_lease(register_id, owner):
        result.busy = True
        return result
    relaxed = _relax_commits()
    try:
        register = CashRegister.objects.select_related("organization").get(pk=register_id)
        device = device_for(register)
        shift_ready = not (register.auto_shift and has_shifts(device))
        in_database = bool(getattr(device, "in_database", False))
        while True:
            batch = list(FiscalReceipt.objects.filter(
                cash_register_id=register_id, status__in=[ReceiptStatus.QUEUED, ReceiptStatus.SENT])
                .order_by("pk").prefetch_related("lines")[:BATCH])
            if not batch:
                break
            for receipt in batch:
                now = timezone.now()
                if not force and receipt.next_attempt_at and receipt.next_attempt_at > now:
                    result.waiting += 1
                    schedule_drain(register_id, receipt.next_attempt_at)
                    return result
                if not shift_ready:
                    try:
                        ensure_shift(device, register)
                    except DeviceUnavailable as exc:
                        receipt.attempts += 1  # a try that did not get as far as the receipt still counts
                        _wait(receipt, exc, result, register_id)
                        return result
                    shift_ready = True
                if in_database:
                    # The emulator keeps its fiscal drive in this database: its registration and our record of
                    # it commit together (one transaction per receipt instead of three).
                    with transaction.atomic():
                        unreachable = _send(device, register, receipt, result, in_database=True)
                else:
                    unreachable = _send(device, register, receipt, result)
                if unreachable is not None:
                    _wait(receipt, unreachable, result, register_id)
                    return result
            _touch_lease(register_id, owner)
    finally:
        if relaxed:
            _restore_commits()
        _release_lease(register_id, owner)
    return result


def _relax_commits() -> bool:
    """On PostgreSQL, the drain's commits do not wait for the disk (synchronous_commit off, this session only).

    Safe here by design: what such a commit records — a receipt sent, the device's answer — is recovered after a
    crash by sending the receipt again under the same uuid, which the device answers with its first result (and
    the emulator's own registration is in the same transaction, so it is lost or kept with our record). It takes
    the queue from one disk flush per receipt to none."""
    if connection.vendor != "postgresql" or not transaction.get_autocommit():
        return False
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit TO OFF")
    return True


def _restore_commits() -> None:
    with connection.cursor() as cursor:
        cursor.execute("RESET synchronous_commit")


def _touch_lease(register_id: int, owner: str) -> None:
    CashRegister.objects.filter(pk=register_id, lease_owner=owner).update(lease_until=timezone.now() + LEASE)


def ensure_shift(device: FiscalDevice, register: CashRegister) -> None:
    """Open a shift if none is open; close (Z report) and reopen one that has run past 24 hours."""
    status = device.status()
    if not status.reachable:
        raise DeviceUnavailable(status.message or "unreachable")
    cashier = cashier_of(register)
    if status.shift_open and status.shift_expired:
        device.close_shift(cashier)
        device.open_shift(cashier)
    elif not status.shift_open:
        device.open_shift(cashier)


def _send(device: FiscalDevice, register: CashRegister, receipt: FiscalReceipt,
          result: DrainResult, *, in_database: bool = False) -> DeviceUnavailable | None:
    """Send one receipt; the error when the device could not be reached (the receipt keeps waiting)."""
    now = timezone.now()
    attempts = receipt.attempts + 1
    receipt.attempts, receipt.sent_at = attempts, now
    if not in_database:  # (in one transaction with the device's answer, "sent" would never be seen)
        FiscalReceipt.objects.filter(pk=receipt.pk).update(status=ReceiptStatus.SENT, attempts=attempts, sent_at=now)
    try:
        answer = device.register(device_receipt(receipt, register, list(receipt.lines.all())))
    except DeviceUnavailable as exc:
        return exc
    except DeviceRefused as exc:
        FiscalReceipt.objects.filter(pk=receipt.pk).update(
            status=ReceiptStatus.FAILED, last_error=_device_text(exc), next_attempt_at=None, attempts=attempts,
            sent_at=now)
        result.failed += 1
        log.warning("receipt %s refused by %s: %s", receipt.uuid, register, exc.message)
        return None
    _store_result(receipt, answer)
    result.registered += 1
    return None


def _device_text(exc: Exception) -> str:
    code = getattr(exc, "code", None)
    message = getattr(exc, "message", str(exc))
    return f"{message} ({code})" if code not in (None, "") else message


STORE_RESULT_SQL = (
    "UPDATE fiscal_fiscalreceipt SET status = %s, last_error = '', next_attempt_at = NULL, attempts = %s, "
    "sent_at = %s, fiscal_document_number = %s, fiscal_sign = %s, fn_number = %s, registered_at = %s, "
    "shift_number = %s, receipt_number = %s, registration_number = %s, ofd_url = %s, device_answer = %s "
    "WHERE id = %s")


def _store_result(receipt: FiscalReceipt, answer: FiscalResult) -> None:
    import json

    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:  # (plain SQL: once per receipt, and the ORM's update costs more than it)
        cursor.execute(STORE_RESULT_SQL, [
            ReceiptStatus.REGISTERED.value, receipt.attempts, adapt(receipt.sent_at), answer.fiscal_document_number,
            answer.fiscal_sign, answer.fn_number, adapt(answer.registered_at), answer.shift_number or None,
            answer.receipt_number or None, answer.registration_number, answer.ofd_url,
            json.dumps(answer.raw, default=str), receipt.pk])
    if receipt.buyer_contact and "@" in receipt.buyer_contact:
        enqueue("fiscal.email_copy", {"receipt": receipt.pk, "to": receipt.buyer_contact},
                unique_key=f"fiscal-email:{receipt.pk}")


def _wait(receipt: FiscalReceipt, exc: DeviceUnavailable, result: DrainResult, register_id: int) -> None:
    attempts = max(receipt.attempts, 1)
    when = timezone.now() + backoff(attempts)
    FiscalReceipt.objects.filter(pk=receipt.pk).update(
        status=ReceiptStatus.QUEUED, attempts=attempts, next_attempt_at=when, last_error=_device_text(exc))
    result.waiting += 1
    schedule_drain(register_id, when)


@job("fiscal.drain")
def _drain_job(payload: dict[str, Any]) -> None:
    register_id = int(payload["register"])
    outcome = drain(register_id)
    if outcome.busy:
        # Another worker is draining; look again shortly in case receipts arrived after its last look.
        schedule_drain(register_id, timezone.now() + dt.timedelta(seconds=5))


def pending_registers() -> list[int]:
    """Registers with receipts waiting (for a periodic sweep and the journal's «send now»)."""
    return sorted(set(FiscalReceipt.objects.filter(status__in=[ReceiptStatus.QUEUED, ReceiptStatus.SENT],
                                                   cash_register__isnull=False)
                      .values_list("cash_register_id", flat=True)))
