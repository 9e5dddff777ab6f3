"""ATOL formats of a receipt: the JSON tasks of ATOL Driver 10 (ДТО) and the ATOL Online v5 request body.

Pure functions, no I/O: `dto_task()` and the shift/cash task builders produce what an ATOL Web Server executes
(integrations.md §2.1, §2.2), `online_body()` what ATOL Online v5 registers (§2.3), and the `*_from_*` parsers
turn the answers into `FiscalResult`, `ShiftReport` and `DeviceStatus`. The worked examples of §2.4 are
reproduced exactly by `tests/test_atol_format.py`.

Numbers. The formats take amounts as JSON numbers. A `Decimal` is rounded half-up to 2 places (quantities to 3)
and becomes an `int` when whole, otherwise a `float` made from the rounded decimal; `json.dumps` writes a float
as the shortest text that reads back as the same value, so 540.98 is written "540.98", never 540.9800000001.
Numbers in answers are read back through `str()` into `Decimal`.

What is not confirmed by a source (integrations.md marks these): ДТО `cashSum` of cashIn/cashOut; the names
`vat5`…`vat122` in the driver; the shapes of `getShiftStatus` (`shiftStatus {number, state, expiredTime}`) and
`getDeviceStatus` (`deviceStatus {…}`) results; the time zone of ATOL Online's `receipt_datetime` (read as the
project's time zone).
"""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils import timezone

from torg.core.money import ZERO
from torg.fiscal.devices import Cashier, DeviceReceipt, DeviceStatus, FiscalResult, ShiftReport
from torg.fiscal.receipts import CorrectionType, Method, Operation, PaymentSums, ReceiptDraft

# --- value tables (integrations.md §1.3, §2.1, §2.3) ---------------------------------------------------------------

DTO_TASK_TYPE = {
    Operation.SELL: "sell", Operation.SELL_RETURN: "sellReturn",
    Operation.BUY: "buy", Operation.BUY_RETURN: "buyReturn",
    Operation.SELL_CORRECTION: "sellCorrection", Operation.SELL_RETURN_CORRECTION: "sellReturnCorrection",
    Operation.BUY_CORRECTION: "buyCorrection", Operation.BUY_RETURN_CORRECTION: "buyReturnCorrection",
}
ONLINE_OPERATION = {
    Operation.SELL: "sell", Operation.SELL_RETURN: "sell_refund",
    Operation.BUY: "buy", Operation.BUY_RETURN: "buy_refund",
    Operation.SELL_CORRECTION: "sell_correction", Operation.SELL_RETURN_CORRECTION: "sell_refund_correction",
    Operation.BUY_CORRECTION: "buy_correction", Operation.BUY_RETURN_CORRECTION: "buy_refund_correction",
}
DTO_PAYMENT_METHOD = {
    Method.FULL_PREPAYMENT: "fullPrepayment", Method.PREPAYMENT: "prepayment", Method.ADVANCE: "advance",
    Method.FULL_PAYMENT: "fullPayment", Method.PARTIAL_PAYMENT: "partialPayment", Method.CREDIT: "credit",
    Method.CREDIT_PAYMENT: "creditPayment",
}
ONLINE_PAYMENT_METHOD = {
    Method.FULL_PREPAYMENT: "full_prepayment", Method.PREPAYMENT: "prepayment", Method.ADVANCE: "advance",
    Method.FULL_PAYMENT: "full_payment", Method.PARTIAL_PAYMENT: "partial_payment", Method.CREDIT: "credit",
    Method.CREDIT_PAYMENT: "credit_payment",
}
# Tag 1212 value → ДТО `paymentObject` (ATOL Online takes the number itself).
DTO_PAYMENT_OBJECT = {
    1: "commodity", 2: "excise", 3: "job", 4: "service", 5: "gamblingBet", 6: "gamblingPrize", 7: "lottery",
    8: "lotteryPrize", 9: "intellectualActivity", 10: "payment", 11: "agentCommission", 12: "pay", 13: "another",
    14: "proprietaryLaw", 15: "nonOperatingIncome", 16: "otherContributions", 17: "merchantTax", 18: "resortFee",
    19: "deposit", 20: "consumption", 21: "soleProprietorCPIContributions", 22: "cpiContributions",
    23: "soleProprietorCMIContributions", 24: "cmiContributions", 25: "csiContributions", 26: "casinoPayment",
    27: "fundsIssuance", 30: "exciseWithoutMarking", 31: "exciseWithMarking", 32: "commodityWithoutMarking",
    33: "commodityWithMarking",
}
# Tag 2108 value → ДТО `measurementUnit` (ФФД 1.2 names).
DTO_MEASUREMENT_UNIT = {
    0: "piece", 10: "gram", 11: "kilogram", 12: "ton", 20: "centimeter", 21: "decimeter", 22: "meter",
    30: "squareCentimeter", 31: "squareDecimeter", 32: "squareMeter", 40: "milliliter", 41: "liter",
    42: "cubicMeter", 50: "kilowattHour", 51: "gkal", 70: "day", 71: "hour", 72: "minute", 73: "second",
    80: "kilobyte", 81: "megabyte", 82: "gigabyte", 83: "terabyte", 255: "otherUnits",
}
# Tag 1055 as `DeviceReceipt.taxation` spells it → ДТО `taxationType` (ATOL Online `sno` is the same snake name).
DTO_TAXATION = {"osn": "osn", "usn_income": "usnIncome", "usn_income_outcome": "usnIncomeOutcome", "esn": "esn",
                "patent": "patent"}
ONLINE_TAXATION = {"osn", "usn_income", "usn_income_outcome", "esn", "patent"}
# PaymentSums field → (ДТО payments[].type, ATOL Online payments[].type), in the order receipts list them.
PAYMENT_TYPES = (("cash", "cash", 0), ("electronic", "electronically", 1), ("prepaid", "prepaid", 2),
                 ("credit", "credit", 3), ("other", "other", 4))
DTO_CORRECTION_TYPE = {CorrectionType.SELF: "self", CorrectionType.INSTRUCTION: "instruction"}

MONEY_QUANTUM = Decimal("0.01")
QUANTITY_QUANTUM = Decimal("0.001")


# --- numbers and dates ------------------------------------------------------------------------------------------------

def json_number(value: Decimal | int, quantum: Decimal = MONEY_QUANTUM) -> int | float:
    """A Decimal as a JSON number: rounded half-up to `quantum`, an int when whole, else the float of the rounded
    decimal (which `json.dumps` writes back as exactly those digits)."""
    rounded = Decimal(value).quantize(quantum, rounding=ROUND_HALF_UP)
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def money(value: Decimal) -> int | float:
    return json_number(value, MONEY_QUANTUM)


def quantity(value: Decimal) -> int | float:
    return json_number(value, QUANTITY_QUANTUM)


def decimal_from_json(value: Any) -> Decimal:
    """A number from an answer (int, float or string) as Decimal; ZERO for null or garbage."""
    if value is None or isinstance(value, bool):
        return ZERO
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return ZERO


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _aware(moment: dt.datetime) -> dt.datetime:
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, timezone.get_default_timezone())


def parse_device_datetime(value: Any) -> dt.datetime | None:
    """ДТО writes ISO 8601 with the offset ("2026-02-10T14:05:00+03:00"); ATOL Online "dd.mm.yyyy HH:MM:SS".
    A time without an offset is taken in the project's time zone."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    try:
        return _aware(dt.datetime.fromisoformat(text))
    except ValueError:
        pass
    for pattern in ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%Y.%m.%d %H:%M:%S"):
        try:
            return _aware(dt.datetime.strptime(text, pattern))
        except ValueError:
            continue
    return None


def online_timestamp(moment: dt.datetime) -> str:
    """ATOL Online's "dd.mm.yyyy HH:MM:SS", in the project's time zone when the moment is aware."""
    if timezone.is_aware(moment):
        moment = timezone.localtime(moment)
    return moment.strftime("%d.%m.%Y %H:%M:%S")


# --- ATOL Driver 10 JSON tasks -------------------------------------------------------------------------------------

def dto_operator(cashier: Cashier) -> dict[str, str]:
    operator = {"name": cashier.name}
    if cashier.inn:
        operator["vatin"] = cashier.inn
    return operator


def dto_payments(payments: PaymentSums) -> list[dict[str, Any]]:
    """Only the non-zero sums, in the order cash, electronically, prepaid, credit, other."""
    return [{"type": dto_type, "sum": money(getattr(payments, attr))}
            for attr, dto_type, _online in PAYMENT_TYPES if getattr(payments, attr) != 0]


def dto_task(receipt: DeviceReceipt) -> dict[str, Any]:
    """The ДТО 10 JSON task that registers the receipt (sell, sellReturn, …, sellCorrection, …)."""
    draft = receipt.draft
    task: dict[str, Any] = {"type": DTO_TASK_TYPE[draft.operation]}
    if receipt.taxation:
        task["taxationType"] = DTO_TAXATION.get(receipt.taxation, receipt.taxation)
    task["electronically"] = bool(receipt.electronically)
    task["operator"] = dto_operator(receipt.cashier)
    client = {key: value for key, value in (("emailOrPhone", draft.buyer_contact), ("name", draft.buyer_name),
                                            ("vatin", draft.buyer_inn)) if value}
    if client:
        task["clientInfo"] = client
    if receipt.payments_place:
        task["paymentsPlace"] = receipt.payments_place
    if receipt.payments_address:
        task["paymentsAddress"] = receipt.payments_address
    if draft.operation.is_correction and draft.correction is not None:
        task["correctionType"] = DTO_CORRECTION_TYPE[draft.correction.type]
        task["correctionBaseDate"] = draft.correction.base_date.strftime("%Y.%m.%d")
        if draft.correction.base_number:
            task["correctionBaseNumber"] = draft.correction.base_number
    task["items"] = [{
        "type": "position",
        "name": line.name,
        "price": money(line.price),
        "quantity": quantity(line.quantity),
        "amount": money(line.amount),
        "measurementUnit": DTO_MEASUREMENT_UNIT[int(line.unit)],
        "paymentMethod": DTO_PAYMENT_METHOD[line.method],
        "paymentObject": DTO_PAYMENT_OBJECT[int(line.subject)],
        "tax": {"type": line.vat.code},
    } for line in draft.lines]
    task["payments"] = dto_payments(draft.payments)
    task["total"] = money(draft.total)
    return task


def dto_open_shift(cashier: Cashier) -> dict[str, Any]:
    return {"type": "openShift", "operator": dto_operator(cashier)}


def dto_close_shift(cashier: Cashier) -> dict[str, Any]:
    return {"type": "closeShift", "operator": dto_operator(cashier)}


def dto_report_x(cashier: Cashier) -> dict[str, Any]:
    return {"type": "reportX", "operator": dto_operator(cashier)}


def dto_cash_in(amount: Decimal, cashier: Cashier) -> dict[str, Any]:
    return {"type": "cashIn", "cashSum": money(amount), "operator": dto_operator(cashier)}


def dto_cash_out(amount: Decimal, cashier: Cashier) -> dict[str, Any]:
    return {"type": "cashOut", "cashSum": money(amount), "operator": dto_operator(cashier)}


def dto_query(task_type: str) -> dict[str, Any]:
    """A service task without parameters: getShiftStatus, getDeviceStatus."""
    return {"type": task_type}


# --- ATOL Online v5 ---------------------------------------------------------------------------------------------------

def online_client(draft: ReceiptDraft) -> dict[str, str]:
    client: dict[str, str] = {}
    if draft.buyer_contact:
        client["email" if "@" in draft.buyer_contact else "phone"] = draft.buyer_contact
    if draft.buyer_name:
        client["name"] = draft.buyer_name
    if draft.buyer_inn:
        client["inn"] = draft.buyer_inn
    return client


def online_body(receipt: DeviceReceipt, *, callback_url: str = "",
                timestamp: dt.datetime | None = None) -> tuple[str, dict[str, Any]]:
    """The operation (the last part of the URL: sell, sell_refund, …) and the body ATOL Online v5 registers.

    `external_id` is the receipt's uuid (the idempotency key). The body omits what is empty: `service` without a
    callback, `client` without a contact, `company.location` without a place of settlement, `cashier` without a
    name (the cloud takes them from the group's settings where it has them)."""
    draft = receipt.draft
    moment = timestamp or receipt.created_at or timezone.now()
    document: dict[str, Any] = {}
    client = online_client(draft)
    if client:
        document["client"] = client
    company: dict[str, str] = {}
    if receipt.company_email:
        company["email"] = receipt.company_email
    if receipt.taxation:
        company["sno"] = receipt.taxation
    if receipt.company_inn:
        company["inn"] = receipt.company_inn
    if receipt.payments_address:
        company["payment_address"] = receipt.payments_address
    if receipt.payments_place:
        company["location"] = receipt.payments_place
    document["company"] = company
    if draft.operation.is_correction and draft.correction is not None:
        info = {"type": DTO_CORRECTION_TYPE[draft.correction.type],
                "base_date": draft.correction.base_date.strftime("%d.%m.%Y")}
        if draft.correction.base_number:
            info["base_number"] = draft.correction.base_number
        document["correction_info"] = info
    document["items"] = [{
        "name": line.name,
        "price": money(line.price),
        "quantity": quantity(line.quantity),
        "measure": int(line.unit),
        "sum": money(line.amount),
        "payment_method": ONLINE_PAYMENT_METHOD[line.method],
        "payment_object": int(line.subject),
        "vat": {"type": line.vat.code, "sum": money(line.vat_amount)},
    } for line in draft.lines]
    document["payments"] = [{"type": online_type, "sum": money(getattr(draft.payments, attr))}
                            for attr, _dto, online_type in PAYMENT_TYPES if getattr(draft.payments, attr) != 0]
    document["vats"] = [{"type": vat.code, "sum": money(amount)} for vat, amount in draft.vat_by_rate.items()]
    document["total"] = money(draft.total)
    if receipt.cashier.name:
        document["cashier"] = receipt.cashier.name
        if receipt.cashier.inn:
            document["cashier_inn"] = receipt.cashier.inn
    body: dict[str, Any] = {"timestamp": online_timestamp(moment), "external_id": receipt.uuid}
    if callback_url:
        body["service"] = {"callback_url": callback_url}
    body["correction" if draft.operation.is_correction else "receipt"] = document
    return ONLINE_OPERATION[draft.operation], body


# --- answers ----------------------------------------------------------------------------------------------------------

def fiscal_result_from_dto(result: dict[str, Any]) -> FiscalResult:
    """The `result` of a ready receipt task: `fiscalParams {fiscalDocumentDateTime, fiscalDocumentNumber,
    fiscalDocumentSign, fiscalReceiptNumber, fnNumber, registrationNumber, shiftNumber, total, fnsUrl}`."""
    params = result.get("fiscalParams") or {}
    return FiscalResult(
        fiscal_document_number=_int(params.get("fiscalDocumentNumber")),
        fiscal_sign=str(params.get("fiscalDocumentSign") or ""),
        fn_number=str(params.get("fnNumber") or ""),
        registered_at=parse_device_datetime(params.get("fiscalDocumentDateTime")) or timezone.now(),
        shift_number=_int(params.get("shiftNumber")),
        receipt_number=_int(params.get("fiscalReceiptNumber")),
        registration_number=str(params.get("registrationNumber") or ""),
        total=decimal_from_json(params.get("total")),
        ofd_url=str(params.get("fnsUrl") or ""),
        raw=result,
    )


def has_fiscal_params(result: Any) -> bool:
    return isinstance(result, dict) and isinstance(result.get("fiscalParams"), dict) and bool(
        result["fiscalParams"].get("fiscalDocumentNumber"))


def shift_report_from_dto(task_type: str, result: dict[str, Any] | None,
                          shift_status: dict[str, Any] | None = None) -> ShiftReport:
    """openShift / closeShift answer their fiscal document's `fiscalParams`; reportX is read together with a
    `getShiftStatus` result (`shiftStatus {number, state, expiredTime, …}`) sent in the same request."""
    result = result or {}
    params = result.get("fiscalParams") or {}
    state = (shift_status or {}).get("shiftStatus") or {}
    number = _int(params.get("shiftNumber")) or _int(state.get("number"))
    raw = {"result": result, **({"shiftStatus": state} if state else {})}
    if task_type == "openShift":
        return ShiftReport(shift_number=number, is_open=True,
                           opened_at=parse_device_datetime(params.get("fiscalDocumentDateTime")),
                           fiscal_document_number=_int(params.get("fiscalDocumentNumber")) or None, raw=raw)
    if task_type == "closeShift":
        return ShiftReport(shift_number=number, is_open=False, receipts=_int(params.get("receiptsCount")),
                           fiscal_document_number=_int(params.get("fiscalDocumentNumber")) or None, raw=raw)
    expires = parse_device_datetime(state.get("expiredTime"))
    return ShiftReport(shift_number=number, is_open=state.get("state") in ("opened", "expired"),
                       opened_at=expires - dt.timedelta(hours=24) if expires else None,
                       receipts=_int(state.get("documentsCount")), raw=raw)


def device_status_from_dto(device: dict[str, Any] | None, shift: dict[str, Any] | None) -> DeviceStatus:
    """`getDeviceStatus` and `getShiftStatus` results → DeviceStatus (the shift's opening time is its expiry
    minus 24 hours: ДТО reports when the shift expires, not when it was opened)."""
    state = (shift or {}).get("shiftStatus") or {}
    expires = parse_device_datetime(state.get("expiredTime"))
    shift_state = state.get("state") or ((device or {}).get("deviceStatus") or {}).get("shift") or "closed"
    return DeviceStatus(reachable=True, shift_open=shift_state in ("opened", "expired"),
                        shift_number=_int(state.get("number")),
                        shift_opened_at=expires - dt.timedelta(hours=24) if expires else None,
                        shift_expired=shift_state == "expired")


def fiscal_result_from_online(report: dict[str, Any]) -> FiscalResult:
    """A `done` report: `payload {total, fns_site, fn_number, shift_number, receipt_datetime,
    fiscal_receipt_number, fiscal_document_number, ecr_registration_number, fiscal_document_attribute,
    ofd_receipt_url, …}`."""
    payload = report.get("payload") or {}
    return FiscalResult(
        fiscal_document_number=_int(payload.get("fiscal_document_number")),
        fiscal_sign=str(payload.get("fiscal_document_attribute") or ""),
        fn_number=str(payload.get("fn_number") or ""),
        registered_at=parse_device_datetime(payload.get("receipt_datetime")) or timezone.now(),
        shift_number=_int(payload.get("shift_number")),
        receipt_number=_int(payload.get("fiscal_receipt_number")),
        registration_number=str(payload.get("ecr_registration_number") or ""),
        total=decimal_from_json(payload.get("total")),
        ofd_url=str(payload.get("ofd_receipt_url") or payload.get("fns_site") or ""),
        raw=report,
    )

