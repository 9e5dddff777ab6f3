"""A built-in emulator of an online cash register, behaving as a real one does where torg can tell.

- Shifts: a receipt needs an open shift; a shift older than 24 hours refuses receipts until it is closed (Z
  report); opening an open shift or closing a closed one is refused.
- Fiscal documents (receipts, shift openings and closings) are numbered one after another on its fiscal drive;
  each gets a fiscal sign (10 digits, derived from the drive, the number, the time and the total).
- Cash in the drawer: cash sales add, cash returns and pay-outs take away, and it cannot go below zero.
- It refuses a receipt that does not balance (lines, total, payment sums), a line without a name or with
  price × quantity ≠ amount, a receipt without the address of settlement (1009, required by ФФД 1.2), and an
  electronic-only receipt without the buyer's phone or e-mail (1008) — with messages in the device's words.
- Idempotent by the receipt's uuid: registering the same uuid again returns the first result.
- It can be switched off (`EmulatorState.online = False`): it then answers like a register that is unreachable.

Its memory is in the database (`EmulatorState`, `EmulatorDocument`), so several workers and the web pages see the
same device; each call runs in its own transaction with the state row locked.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from torg.core.documents import insert_rows
from torg.core.money import ZERO
from torg.fiscal.devices import (
    Cashier,
    DeviceReceipt,
    DeviceRefused,
    DeviceStatus,
    DeviceUnavailable,
    FiscalResult,
    ShiftReport,
)
from torg.fiscal.models import EmulatorDocument, EmulatorState

SHIFT_LIMIT = dt.timedelta(hours=24)


def OFFLINE() -> DeviceUnavailable:  # noqa: N802 — reads as the device's state
    return DeviceUnavailable("Нет связи с ККТ (порт закрыт)", code=-1)
PAYMENT_KINDS = ("cash", "electronic", "prepaid", "credit", "other")


class EmulatorDevice:
    """The `FiscalDevice` of a register whose driver is the emulator."""

    has_shifts = True
    in_database = True  # its memory is in torg's own database (the queue may share its transaction)

    def __init__(self, cash_register_id: int, *, clock: Callable[[], dt.datetime] = timezone.now) -> None:
        self.cash_register_id = cash_register_id
        self.clock = clock

    # ------------------------------------------------------------ state
    def _state(self, *, online_needed: bool = True) -> EmulatorState:
        # Plain SQL on this path: a receipt is a handful of statements, and building them through the ORM cost more
        # than running them.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        found = list(EmulatorState.objects.raw(
            f"SELECT * FROM fiscal_emulatorstate WHERE cash_register_id = %s{lock}", [self.cash_register_id]))
        state = found[0] if found else None
        if state is None:
            EmulatorState.objects.get_or_create(
                cash_register_id=self.cash_register_id,
                defaults={"fn_number": f"9999078900{self.cash_register_id:06d}"[-16:],
                          "registration_number": f"00000{self.cash_register_id:011d}"[-16:]})
            state = EmulatorState.objects.select_for_update().get(cash_register_id=self.cash_register_id)
        if online_needed and not state.online:
            raise OFFLINE()
        return state

    def _expired(self, state: EmulatorState, now: dt.datetime) -> bool:
        return bool(state.shift_open and state.shift_opened_at and now - state.shift_opened_at > SHIFT_LIMIT)

    def _sign(self, state: EmulatorState, number: int, when: dt.datetime, total: Decimal) -> str:
        digest = hashlib.sha256(f"{state.fn_number}|{number}|{when.isoformat()}|{total}".encode()).digest()
        return str(int.from_bytes(digest[:4], "big")).zfill(10)

    def _document(self, state: EmulatorState, kind: str, now: dt.datetime, *, uuid: str | None = None,
                  total: Decimal = ZERO, payload: dict[str, Any] | None = None,
                  receipt_number: int = 0) -> EmulatorDocument:
        state.last_document_number += 1
        document = EmulatorDocument(
            state=state, uuid=uuid, kind=kind, number=state.last_document_number,
            fiscal_sign=self._sign(state, state.last_document_number, now, total), shift_number=state.shift_number,
            receipt_number=receipt_number, registered_at=now, total=total, payload=payload or {})
        insert_rows(EmulatorDocument, [document])
        return document

    # ------------------------------------------------------------ receipts
    def register(self, receipt: DeviceReceipt) -> FiscalResult:
        # No savepoint of its own: inside the queue's transaction per receipt a failure rolls back that whole
        # receipt anyway. A refusal leaves the block normally (nothing written) and is raised after it, so the
        # caller's transaction stays usable.
        refusal: Exception | None = None
        with transaction.atomic(savepoint=False):
            state = self._state(online_needed=False)
            if not state.online:
                refusal = OFFLINE()
            else:
                done = list(EmulatorDocument.objects.raw(
                    "SELECT * FROM fiscal_emulatordocument WHERE uuid = %s AND state_id = %s",
                    [receipt.uuid, state.pk]))
                if done:
                    return self._result(state, done[0])
                now = self.clock()
                refusal = self._refusal(state, receipt, now)
                if refusal is None:
                    return self._register(state, receipt, now)
        raise refusal

    def _register(self, state: EmulatorState, receipt: DeviceReceipt, now: dt.datetime) -> FiscalResult:
        draft = receipt.draft
        state.receipts_in_shift += 1
        totals = dict(state.shift_totals)
        prefix = draft.operation.value
        for kind in PAYMENT_KINDS:
            value = getattr(draft.payments, kind)
            if value:
                key = f"{prefix}_{kind}"
                totals[key] = str(Decimal(totals.get(key, "0")) + value)
        totals[f"{prefix}_count"] = str(int(totals.get(f"{prefix}_count", "0")) + 1)
        state.shift_totals = totals
        sign = -1 if draft.operation.is_return else 1
        state.cash_in_drawer += sign * draft.payments.cash
        document = self._document(state, prefix, now, uuid=receipt.uuid, total=draft.total,
                                  receipt_number=state.receipts_in_shift,
                                  payload={"lines": len(draft.lines), "operation": prefix,
                                           "cash": str(draft.payments.cash),
                                           "electronic": str(draft.payments.electronic)})
        with connection.cursor() as cursor:
            cursor.execute("UPDATE fiscal_emulatorstate SET receipts_in_shift = %s, shift_totals = %s, "
                           "cash_in_drawer = %s, last_document_number = %s WHERE id = %s",
                           [state.receipts_in_shift, json.dumps(totals),
                            connection.ops.adapt_decimalfield_value(state.cash_in_drawer, 15, 2),
                            state.last_document_number, state.pk])
        return self._result(state, document)

    def _refusal(self, state: EmulatorState, receipt: DeviceReceipt, now: dt.datetime) -> DeviceRefused | None:
        """Why the device refuses the receipt, in its own words; None when it takes it."""
        draft = receipt.draft
        if not state.shift_open:
            return DeviceRefused("Смена закрыта — операция невозможна", code=-3801)
        if self._expired(state, now):
            return DeviceRefused("Смена превысила 24 часа", code=-3822)
        problems = draft.problems()
        if problems:
            return DeviceRefused("Неверные данные чека: " + "; ".join(problems), code=-3807)
        if not receipt.payments_address.strip():
            return DeviceRefused("Не задан обязательный реквизит 1009 (адрес расчётов)", code=-4025)
        if receipt.electronically and not draft.buyer_contact:
            return DeviceRefused("Для электронного чека нужен реквизит 1008 (телефон или e-mail покупателя)",
                                 code=-4026)
        if draft.operation.is_correction and draft.correction is None:
            return DeviceRefused("Не заданы реквизиты коррекции 1173/1178", code=-4027)
        if draft.operation.is_return and draft.payments.cash > state.cash_in_drawer:
            return DeviceRefused("Недостаточно наличных в денежном ящике", code=-3816)
        return None

    def _result(self, state: EmulatorState, document: EmulatorDocument) -> FiscalResult:
        return FiscalResult(
            fiscal_document_number=document.number, fiscal_sign=document.fiscal_sign, fn_number=state.fn_number,
            registered_at=document.registered_at, shift_number=document.shift_number,
            receipt_number=document.receipt_number, registration_number=state.registration_number,
            total=document.total, ofd_url="",
            raw={"fiscalDocumentNumber": document.number, "fiscalDocumentSign": document.fiscal_sign,
                 "fnNumber": state.fn_number, "shiftNumber": document.shift_number,
                 "fiscalReceiptNumber": document.receipt_number,
                 "fiscalDocumentDateTime": document.registered_at.isoformat()})

    # ------------------------------------------------------------ shifts and cash
    def status(self) -> DeviceStatus:
        with transaction.atomic():
            state = self._state(online_needed=False)
            if not state.online:
                return DeviceStatus(reachable=False, message="Нет связи с ККТ")
            now = self.clock()
            return DeviceStatus(reachable=True, shift_open=state.shift_open, shift_number=state.shift_number,
                                shift_opened_at=state.shift_opened_at, shift_expired=self._expired(state, now),
                                cash_in_drawer=state.cash_in_drawer)

    def open_shift(self, cashier: Cashier) -> ShiftReport:
        with transaction.atomic():
            state = self._state()
            if state.shift_open:
                raise DeviceRefused("Смена уже открыта", code=-3800)
            now = self.clock()
            state.shift_number += 1
            state.shift_open, state.shift_opened_at = True, now
            state.receipts_in_shift, state.shift_totals = 0, {}
            document = self._document(state, "openShift", now, payload={"cashier": cashier.name})
            state.save()
            return ShiftReport(shift_number=state.shift_number, is_open=True, opened_at=now,
                               cash_in_drawer=state.cash_in_drawer, fiscal_document_number=document.number)

    def close_shift(self, cashier: Cashier) -> ShiftReport:
        with transaction.atomic():
            state = self._state()
            if not state.shift_open:
                raise DeviceRefused("Смена закрыта — операция невозможна", code=-3801)
            now = self.clock()
            report = self._report(state, is_open=False)
            document = self._document(state, "closeShift", now, payload={
                "cashier": cashier.name, "receipts": state.receipts_in_shift, "totals": state.shift_totals})
            state.shift_open = False
            state.save()
            return ShiftReport(shift_number=report.shift_number, is_open=False, opened_at=report.opened_at,
                               receipts=report.receipts, totals=report.totals, cash_in_drawer=report.cash_in_drawer,
                               fiscal_document_number=document.number)

    def report_x(self, cashier: Cashier) -> ShiftReport:
        with transaction.atomic():
            return self._report(self._state(), is_open=None)

    def _report(self, state: EmulatorState, *, is_open: bool | None) -> ShiftReport:
        totals = {k: Decimal(v) for k, v in state.shift_totals.items()}
        return ShiftReport(shift_number=state.shift_number,
                           is_open=state.shift_open if is_open is None else is_open,
                           opened_at=state.shift_opened_at, receipts=state.receipts_in_shift, totals=totals,
                           cash_in_drawer=state.cash_in_drawer)

    def cash_in(self, amount: Decimal, cashier: Cashier) -> None:
        self._move_cash(amount, cashier, "cash_in")

    def cash_out(self, amount: Decimal, cashier: Cashier) -> None:
        self._move_cash(-amount, cashier, "cash_out")

    def _move_cash(self, delta: Decimal, cashier: Cashier, key: str) -> None:
        with transaction.atomic():
            state = self._state()
            if not state.shift_open:
                raise DeviceRefused("Смена закрыта — операция невозможна", code=-3801)
            if delta == 0:
                raise DeviceRefused("Сумма должна быть больше нуля", code=-3808)
            if state.cash_in_drawer + delta < 0:
                raise DeviceRefused("Недостаточно наличных в денежном ящике", code=-3816)
            state.cash_in_drawer += delta
            totals = dict(state.shift_totals)
            totals[key] = str(Decimal(totals.get(key, "0")) + abs(delta))
            state.shift_totals = totals
            state.save()
