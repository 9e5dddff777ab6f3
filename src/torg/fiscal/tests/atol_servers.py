"""Local emulators of an ATOL Web Server and of ATOL Online v5 for the driver tests.

Each emulator is an `http.server.ThreadingHTTPServer` on 127.0.0.1 (a free port) in a thread. It checks every
request against the published format (integrations.md §2.1–2.3: methods, paths, headers, required keys, their
types and allowed values, no unknown keys at the top level of a task or document, amounts with at most 2 decimals
and quantities 3, items × price = amount, items = total = payments, and for ATOL Online the VAT of each item and
of the receipt), records what it received, and answers like the real service: the Web Server 201 then `wait` /
`inProgress` → `ready` with `fiscalParams`, or `error` with `errorCode`/`errorDescription`; ATOL Online a token,
401 for a missing or expired one, a document uuid, and a report `wait` → `done` (or `fail`).

A request that breaks the format is answered 400 and listed in `violations`: the tests' fixtures assert that the
list is empty, so a driver that sends something the real service would reject fails its test.

Tests steer the emulators: `go_down("refuse" | "503")` / `come_back()`, `delay_s` (slow answers),
`polls_before_ready` (how long the device "prints"), `refuse_next(...)`, `fail_next(...)`, `expire_tokens()`.
"""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from decimal import Decimal as D
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from torg.fiscal.devices import Cashier, DeviceReceipt
from torg.fiscal.receipts import (
    Correction,
    CorrectionType,
    Method,
    Operation,
    PaymentSums,
    ReceiptDraft,
    ReceiptLine,
    Subject,
    Vat,
)

MSK = dt.timezone(dt.timedelta(hours=3))
CENT = Decimal("0.01")

# --- the published value lists (integrations.md §1.3, §2.1, §2.3) -------------------------------------------------

DTO_RECEIPT_TYPES = {"sell", "sellReturn", "buy", "buyReturn"}
DTO_CORRECTION_TYPES = {"sellCorrection", "sellReturnCorrection", "buyCorrection", "buyReturnCorrection"}
DTO_TAXATION = {"osn", "usnIncome", "usnIncomeOutcome", "esn", "patent", "envd"}
DTO_PAYMENT_TYPES = {"cash", "electronically", "prepaid", "credit", "other", "5", "6", "7", "8", "9"}
DTO_PAYMENT_METHODS = {"fullPrepayment", "prepayment", "advance", "fullPayment", "partialPayment", "credit",
                       "creditPayment"}
DTO_PAYMENT_OBJECTS = {
    "commodity", "excise", "job", "service", "gamblingBet", "gamblingPrize", "lottery", "lotteryPrize",
    "intellectualActivity", "payment", "agentCommission", "pay", "composite", "another", "proprietaryLaw",
    "nonOperatingIncome", "otherContributions", "merchantTax", "resortFee", "deposit", "consumption",
    "soleProprietorCPIContributions", "cpiContributions", "soleProprietorCMIContributions", "cmiContributions",
    "csiContributions", "casinoPayment", "fundsIssuance", "exciseWithoutMarking", "exciseWithMarking",
    "commodityWithoutMarking", "commodityWithMarking",
}
DTO_MEASUREMENT_UNITS = {
    "piece", "gram", "kilogram", "ton", "centimeter", "decimeter", "meter", "squareCentimeter", "squareDecimeter",
    "squareMeter", "milliliter", "liter", "cubicMeter", "kilowattHour", "gkal", "day", "hour", "minute", "second",
    "kilobyte", "megabyte", "gigabyte", "terabyte", "otherUnits",
}
VAT_TYPES = {"none", "vat0", "vat10", "vat110", "vat20", "vat120", "vat5", "vat7", "vat105", "vat107", "vat22",
             "vat122"}
VAT_PERCENT = {"none": 0, "vat0": 0, "vat10": 10, "vat110": 10, "vat20": 20, "vat120": 20, "vat5": 5, "vat7": 7,
               "vat105": 5, "vat107": 7, "vat22": 22, "vat122": 22}
DTO_RECEIPT_KEYS = {
    "type", "taxationType", "electronically", "ignoreNonFiscalPrintErrors", "operator", "clientInfo", "companyInfo",
    "paymentsPlace", "paymentsAddress", "machineNumber", "agentInfo", "supplierInfo", "items", "payments", "taxes",
    "total", "preItems", "postItems", "customParameters", "validateMarkingCodes",
}
DTO_CORRECTION_KEYS = {"correctionType", "correctionBaseDate", "correctionBaseNumber"}
DTO_POSITION_KEYS = {
    "type", "name", "price", "quantity", "amount", "infoDiscountAmount", "department", "measurementUnit",
    "paymentMethod", "paymentObject", "tax", "nomenclatureCode", "imcParams", "agentInfo", "supplierInfo",
    "additionalAttribute", "industryInfo", "piece", "countryCode", "customsDeclaration", "exciseSum",
}
DTO_SERVICE_TASKS = {"getShiftStatus", "getDeviceStatus", "reportOfdExchangeStatus", "continuePrint"}

ONLINE_OPERATIONS = {"sell", "sell_refund", "buy", "buy_refund", "sell_correction", "sell_refund_correction",
                     "buy_correction", "buy_refund_correction"}
ONLINE_SNO = {"osn", "usn_income", "usn_income_outcome", "esn", "patent"}
ONLINE_PAYMENT_METHODS = {"full_prepayment", "prepayment", "advance", "full_payment", "partial_payment", "credit",
                          "credit_payment"}
ONLINE_MEASURES = {0, 10, 11, 12, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 70, 71, 72, 73, 80, 81, 82, 83, 255}
ONLINE_PAYMENT_OBJECTS = set(range(1, 28)) | {30, 31, 32, 33}
ONLINE_BODY_KEYS = {"timestamp", "external_id", "service", "receipt", "correction"}
ONLINE_RECEIPT_KEYS = {
    "client", "company", "agent_info", "supplier_info", "items", "payments", "vats", "total", "cashier",
    "cashier_inn", "additional_check_props", "additional_user_props", "operating_check_props",
    "sectoral_check_props", "device_number", "internet",
}
ONLINE_ITEM_KEYS = {
    "name", "price", "quantity", "measure", "sum", "payment_method", "payment_object", "vat", "user_data", "excise",
    "country_code", "declaration_number", "mark_quantity", "mark_processing_mode", "mark_code",
    "sectoral_item_props", "agent_info", "supplier_info",
}


# --- format checks (pure; usable on a parsed request or on what a format function returned) ------------------------

def wire(value: Any) -> Any:
    """What the other side reads: JSON text parsed back with numbers as Decimal (floats keep their digits)."""
    return json.loads(json.dumps(value, ensure_ascii=False), parse_float=Decimal)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool)


def _places(value: int | Decimal) -> int:
    exponent = Decimal(value).as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _round(value: Decimal) -> Decimal:
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


class Checker:
    """Collects the problems of one request; `where` names the place of each."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def obj(self, where: str, value: Any, required: set[str], allowed: set[str] | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(where, f"must be an object, not {type(value).__name__}")
            return {}
        for key in sorted(required - value.keys()):
            self.fail(where, f"missing {key!r}")
        if allowed is not None:
            for key in sorted(value.keys() - allowed - required):
                self.fail(where, f"unknown key {key!r}")
        return value

    def text(self, where: str, value: Any, *, max_length: int | None = None, pattern: str | None = None) -> None:
        if not isinstance(value, str) or not value.strip():
            self.fail(where, f"must be a non-empty string, not {value!r}")
        elif max_length is not None and len(value) > max_length:
            self.fail(where, f"longer than {max_length} characters")
        elif pattern is not None and not re.fullmatch(pattern, value):
            self.fail(where, f"{value!r} does not match {pattern}")

    def number(self, where: str, value: Any, *, places: int = 2, positive: bool = False) -> Decimal:
        if not _is_number(value):
            self.fail(where, f"must be a JSON number, not {value!r}")
            return Decimal(0)
        if _places(value) > places:
            self.fail(where, f"{value} has more than {places} decimals")
        if value < 0 or (positive and value == 0):
            self.fail(where, f"must be {'positive' if positive else 'non-negative'}, not {value}")
        return Decimal(value)

    def one_of(self, where: str, value: Any, allowed: set[Any]) -> None:
        if isinstance(value, bool) or value not in allowed:
            self.fail(where, f"{value!r} is not one of the allowed values")

    def flag(self, where: str, value: Any) -> None:
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false, not {value!r}")

    def equal(self, where: str, left: Decimal, right: Decimal, what: str) -> None:
        if left != right:
            self.fail(where, f"{what}: {left} ≠ {right}")


def dto_task_problems(task: Any) -> list[str]:
    """What is wrong with one ДТО 10 JSON task (numbers as parsed by `wire`)."""
    check = Checker()
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        return ["task: must be an object with a string 'type'"]
    kind = task["type"]
    where = f"task {kind}"
    if kind in DTO_RECEIPT_TYPES | DTO_CORRECTION_TYPES:
        _check_dto_receipt(check, where, task)
    elif kind in ("openShift", "closeShift", "reportX"):
        check.obj(where, task, {"type", "operator"}, {"electronically"})
        _check_dto_operator(check, where, task.get("operator"))
    elif kind in ("cashIn", "cashOut"):
        check.obj(where, task, {"type", "cashSum", "operator"}, set())
        check.number(f"{where}.cashSum", task.get("cashSum"), positive=True)
        _check_dto_operator(check, where, task.get("operator"))
    elif kind in DTO_SERVICE_TASKS:
        check.obj(where, task, {"type"}, set())
    else:
        check.fail(where, "unknown task type")
    return check.problems


def _check_dto_operator(check: Checker, where: str, operator: Any) -> None:
    operator = check.obj(f"{where}.operator", operator, {"name"}, {"vatin"})
    if operator:
        check.text(f"{where}.operator.name", operator.get("name"), max_length=64)
        if "vatin" in operator:
            check.text(f"{where}.operator.vatin", operator["vatin"], pattern=r"\d{12}")


def _check_dto_receipt(check: Checker, where: str, task: dict[str, Any]) -> None:
    is_correction = task["type"] in DTO_CORRECTION_TYPES
    allowed = DTO_RECEIPT_KEYS | (DTO_CORRECTION_KEYS if is_correction else set())
    required = {"type", "operator", "items", "payments", "paymentsAddress"}
    if is_correction:
        required |= {"correctionType", "correctionBaseDate"}
    check.obj(where, task, required, allowed)
    _check_dto_operator(check, where, task.get("operator"))
    check.text(f"{where}.paymentsAddress", task.get("paymentsAddress"), max_length=256)
    if "paymentsPlace" in task:
        check.text(f"{where}.paymentsPlace", task["paymentsPlace"], max_length=256)
    if "taxationType" in task:
        check.one_of(f"{where}.taxationType", task["taxationType"], DTO_TAXATION)
    if "electronically" in task:
        check.flag(f"{where}.electronically", task["electronically"])
    client = check.obj(f"{where}.clientInfo", task.get("clientInfo", {}), set(), {"emailOrPhone", "name", "vatin"})
    for key in ("emailOrPhone", "name"):
        if key in client:
            check.text(f"{where}.clientInfo.{key}", client[key])
    if "vatin" in client:
        check.text(f"{where}.clientInfo.vatin", client["vatin"], pattern=r"\d{10}|\d{12}")
    if task.get("electronically") is True and not client.get("emailOrPhone"):
        check.fail(where, "an electronic receipt needs clientInfo.emailOrPhone (1008)")
    if is_correction:
        check.one_of(f"{where}.correctionType", task.get("correctionType"), {"self", "instruction"})
        check.text(f"{where}.correctionBaseDate", task.get("correctionBaseDate"), pattern=r"\d{4}\.\d{2}\.\d{2}")
        if task.get("correctionType") == "instruction":
            check.text(f"{where}.correctionBaseNumber", task.get("correctionBaseNumber"))
    items = task.get("items")
    if not isinstance(items, list) or not items:
        check.fail(f"{where}.items", "must be a non-empty list")
        items = []
    items_total = Decimal(0)
    for n, item in enumerate(items, 1):
        at = f"{where}.items[{n}]"
        item = check.obj(at, item, {"type", "name", "price", "quantity", "amount", "tax", "paymentMethod",
                                    "paymentObject"}, DTO_POSITION_KEYS)
        if not item:
            continue
        check.one_of(f"{at}.type", item.get("type"), {"position"})
        check.text(f"{at}.name", item.get("name"), max_length=128)
        price = check.number(f"{at}.price", item.get("price"))
        qty = check.number(f"{at}.quantity", item.get("quantity"), places=3, positive=True)
        amount = check.number(f"{at}.amount", item.get("amount"), positive=True)
        if abs(_round(price * qty) - amount) > CENT:
            check.fail(at, f"price × quantity = {_round(price * qty)} ≠ amount {amount}")
        items_total += amount
        if "measurementUnit" in item:
            check.one_of(f"{at}.measurementUnit", item["measurementUnit"], DTO_MEASUREMENT_UNITS)
        check.one_of(f"{at}.paymentMethod", item.get("paymentMethod"), DTO_PAYMENT_METHODS)
        check.one_of(f"{at}.paymentObject", item.get("paymentObject"), DTO_PAYMENT_OBJECTS)
        tax = check.obj(f"{at}.tax", item.get("tax"), {"type"}, {"sum"})
        if tax:
            check.one_of(f"{at}.tax.type", tax.get("type"), VAT_TYPES)
    payments = task.get("payments")
    if not isinstance(payments, list) or not payments:
        check.fail(f"{where}.payments", "must be a non-empty list")
        payments = []
    paid = Decimal(0)
    for n, payment in enumerate(payments, 1):
        payment = check.obj(f"{where}.payments[{n}]", payment, {"type", "sum"}, set())
        if payment:
            check.one_of(f"{where}.payments[{n}].type", payment.get("type"), DTO_PAYMENT_TYPES)
            paid += check.number(f"{where}.payments[{n}].sum", payment.get("sum"), positive=True)
    total = check.number(f"{where}.total", task["total"]) if "total" in task else items_total
    check.equal(where, items_total, total, "sum of items' amounts vs total")
    check.equal(where, paid, total, "sum of payments vs total")


def dto_request_problems(body: Any) -> list[str]:
    """The body of `POST /api/v2/requests`."""
    check = Checker()
    body = check.obj("body", body, {"uuid", "request"}, set())
    if not body:
        return check.problems
    check.text("body.uuid", body.get("uuid"), max_length=128)
    tasks = body.get("request")
    if not isinstance(tasks, list) or not tasks:
        check.fail("body.request", "must be a non-empty list of tasks")
        return check.problems
    for task in tasks:
        check.problems.extend(dto_task_problems(task))
    return check.problems


def online_body_problems(operation: str, body: Any) -> list[str]:
    """The body of `POST /{group_code}/{operation}` of ATOL Online v5."""
    check = Checker()
    if operation not in ONLINE_OPERATIONS:
        return [f"operation {operation!r} is not one of {sorted(ONLINE_OPERATIONS)}"]
    is_correction = operation.endswith("_correction")
    document_key = "correction" if is_correction else "receipt"
    body = check.obj("body", body, {"timestamp", "external_id", document_key}, ONLINE_BODY_KEYS - {
        "receipt" if is_correction else "correction"})
    if not body:
        return check.problems
    check.text("body.timestamp", body.get("timestamp"), pattern=r"\d{2}\.\d{2}\.\d{4} \d{2}:\d{2}:\d{2}")
    check.text("body.external_id", body.get("external_id"), max_length=128)
    if "service" in body:
        service = check.obj("body.service", body["service"], set(), {"callback_url"})
        if "callback_url" in service:
            check.text("body.service.callback_url", service["callback_url"], pattern=r"https?://\S+")
    where = f"body.{document_key}"
    allowed = ONLINE_RECEIPT_KEYS | ({"correction_info"} if is_correction else set())
    required = {"company", "items", "payments", "total"} | ({"correction_info"} if is_correction else set())
    document = check.obj(where, body.get(document_key), required, allowed)
    if not document:
        return check.problems
    if "client" in document:
        client = check.obj(f"{where}.client", document["client"], set(), {
            "email", "phone", "name", "inn", "birthdate", "citizenship", "document_code", "document_data",
            "address"})
        if "email" in client:
            check.text(f"{where}.client.email", client["email"], pattern=r"[^@\s]+@[^@\s]+")
        if "phone" in client:
            check.text(f"{where}.client.phone", client["phone"], pattern=r"\+?\d{10,15}")
        if "inn" in client:
            check.text(f"{where}.client.inn", client["inn"], pattern=r"\d{10}|\d{12}")
    company = check.obj(f"{where}.company", document.get("company"), {"email", "sno", "inn", "payment_address"},
                        {"location"})
    if company:
        check.text(f"{where}.company.email", company.get("email"), pattern=r"[^@\s]+@[^@\s]+")
        check.one_of(f"{where}.company.sno", company.get("sno"), ONLINE_SNO)
        check.text(f"{where}.company.inn", company.get("inn"), pattern=r"\d{10}|\d{12}")
        check.text(f"{where}.company.payment_address", company.get("payment_address"), max_length=256)
        if "location" in company:
            check.text(f"{where}.company.location", company["location"], max_length=256)
    if is_correction:
        info = check.obj(f"{where}.correction_info", document.get("correction_info"), {"type", "base_date"},
                         {"base_number"})
        if info:
            check.one_of(f"{where}.correction_info.type", info.get("type"), {"self", "instruction"})
            check.text(f"{where}.correction_info.base_date", info.get("base_date"), pattern=r"\d{2}\.\d{2}\.\d{4}")
            if info.get("type") == "instruction":
                check.text(f"{where}.correction_info.base_number", info.get("base_number"))
    if "cashier" in document:
        check.text(f"{where}.cashier", document["cashier"], max_length=64)
    if "cashier_inn" in document:
        check.text(f"{where}.cashier_inn", document["cashier_inn"], pattern=r"\d{12}")
    items = document.get("items")
    if not isinstance(items, list) or not items:
        check.fail(f"{where}.items", "must be a non-empty list")
        items = []
    items_total = Decimal(0)
    vat_by_type: dict[str, Decimal] = {}
    for n, item in enumerate(items, 1):
        at = f"{where}.items[{n}]"
        item = check.obj(at, item, {"name", "price", "quantity", "measure", "sum", "payment_method",
                                    "payment_object", "vat"}, ONLINE_ITEM_KEYS)
        if not item:
            continue
        check.text(f"{at}.name", item.get("name"), max_length=128)
        price = check.number(f"{at}.price", item.get("price"))
        qty = check.number(f"{at}.quantity", item.get("quantity"), places=3, positive=True)
        amount = check.number(f"{at}.sum", item.get("sum"), positive=True)
        if abs(_round(price * qty) - amount) > CENT:
            check.fail(at, f"price × quantity = {_round(price * qty)} ≠ sum {amount}")
        items_total += amount
        check.one_of(f"{at}.measure", item.get("measure"), ONLINE_MEASURES)
        check.one_of(f"{at}.payment_method", item.get("payment_method"), ONLINE_PAYMENT_METHODS)
        check.one_of(f"{at}.payment_object", item.get("payment_object"), ONLINE_PAYMENT_OBJECTS)
        vat = check.obj(f"{at}.vat", item.get("vat"), {"type"}, {"sum"})
        if vat and vat.get("type") in VAT_TYPES:
            rate = Decimal(VAT_PERCENT[vat["type"]])
            expected = _round(amount * rate / (100 + rate))
            if "sum" in vat:
                check.equal(f"{at}.vat", check.number(f"{at}.vat.sum", vat["sum"]), expected, "VAT of the item")
            vat_by_type[vat["type"]] = vat_by_type.get(vat["type"], Decimal(0)) + expected
        elif vat:
            check.one_of(f"{at}.vat.type", vat.get("type"), VAT_TYPES)
    payments = document.get("payments")
    if not isinstance(payments, list) or not payments:
        check.fail(f"{where}.payments", "must be a non-empty list")
        payments = []
    paid = Decimal(0)
    for n, payment in enumerate(payments, 1):
        payment = check.obj(f"{where}.payments[{n}]", payment, {"type", "sum"}, set())
        if payment:
            check.one_of(f"{where}.payments[{n}].type", payment.get("type"), set(range(10)))
            paid += check.number(f"{where}.payments[{n}].sum", payment.get("sum"), positive=True)
    if "vats" in document:
        vats = document["vats"] if isinstance(document["vats"], list) else []
        seen: dict[str, Decimal] = {}
        for n, vat in enumerate(vats, 1):
            vat = check.obj(f"{where}.vats[{n}]", vat, {"type", "sum"}, set())
            if vat:
                check.one_of(f"{where}.vats[{n}].type", vat.get("type"), VAT_TYPES)
                if vat.get("type") in seen:
                    check.fail(f"{where}.vats[{n}]", f"{vat.get('type')} listed twice")
                seen[str(vat.get("type"))] = check.number(f"{where}.vats[{n}].sum", vat.get("sum"))
        for vat_type in sorted(set(seen) | set(vat_by_type)):
            check.equal(f"{where}.vats", seen.get(vat_type, Decimal(-1)), vat_by_type.get(vat_type, Decimal(-1)),
                        f"receipt VAT {vat_type} vs the items' VAT")
    total = check.number(f"{where}.total", document.get("total"), positive=True)
    check.equal(where, items_total, total, "sum of items vs total")
    check.equal(where, paid, total, "sum of payments vs total")
    return check.problems


# --- a receipt to send ---------------------------------------------------------------------------------------------

def sample_receipt(uuid: str, operation: Operation = Operation.SELL, **changes: Any) -> DeviceReceipt:
    """Scenario (d) of integrations.md §2.4: a kettle, two mugs and two packs of tea paid at the door, 800 in cash
    and 3,000 by card (a correction operation gets a self-correction of 15.01.2026)."""
    lines = (
        ReceiptLine("Чайник электрический", D(1), D(3000), D(3000), Method.FULL_PAYMENT, Subject.COMMODITY, Vat.VAT22),
        ReceiptLine("Кружка керамическая", D(2), D(250), D(500), Method.FULL_PAYMENT, Subject.COMMODITY, Vat.VAT22),
        ReceiptLine("Чай черный 100 г", D(2), D(150), D(300), Method.FULL_PAYMENT, Subject.COMMODITY, Vat.VAT10),
    )
    correction = Correction(CorrectionType.SELF, dt.date(2026, 1, 15)) if operation.is_correction else None
    draft = ReceiptDraft(operation, lines, PaymentSums(cash=D(800), electronic=D(3000)),
                         buyer_contact="+79161234567", correction=correction)
    receipt = DeviceReceipt(uuid=uuid, draft=draft, taxation="osn", payments_place="Доставка курьером",
                            payments_address="г. Москва, ул. Примерная, д. 1",
                            cashier=Cashier("Курьер Иванов И.И.", "770123456703"), company_inn="7728123459",
                            company_email="shop@example.ru")
    return dataclasses.replace(receipt, **changes)


# --- the servers ------------------------------------------------------------------------------------------------------

@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed with Decimal numbers, None without a body
    text: str


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"not JSON: {value!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up on a slow answer closed its socket: nothing to report."""


class EmulatorBase:
    """A ThreadingHTTPServer on 127.0.0.1 that hands every request to `handle()`."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.delay_s = 0.0
        self.down: str | None = None  # "refuse": nothing listens; "503": answers Service Unavailable
        self.lock = threading.RLock()
        self.port = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # life cycle
    def start(self) -> EmulatorBase:
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 — the base class's name
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    status, answer = emulator.dispatch(self.command, self.path, dict(self.headers.items()), raw)
                except Exception as error:  # a bug of the emulator must fail the test, not vanish in a thread
                    emulator.violations.append(f"the emulator failed on {self.command} {self.path}: {error!r}")
                    status, answer = 500, {"error": repr(error)}
                data = b"" if answer is None else json.dumps(answer, ensure_ascii=False, default=_encode).encode()
                self.send_response(status)
                if data:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = _serve  # noqa: N815 — http.server's naming

        self._server = _Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.01},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def go_down(self, how: str = "refuse") -> None:
        self.down = how
        if how == "refuse":
            self.stop()

    def come_back(self) -> None:
        if self.down == "refuse":
            self.start()
        self.down = None

    def __enter__(self) -> EmulatorBase:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # requests
    def dispatch(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any]:
        if self.delay_s:
            time.sleep(self.delay_s)
        text = raw.decode("utf-8", errors="replace")
        headers = {name.lower(): value for name, value in headers.items()}
        body: Any = None
        problems: list[str] = []
        if raw:
            try:
                body = json.loads(text, parse_float=Decimal)
            except ValueError:
                problems.append(f"{method} {path}: the body is not JSON")
            if not headers.get("content-type", "").startswith("application/json"):
                problems.append(f"{method} {path}: Content-Type is {headers.get('content-type')!r}")
        with self.lock:
            self.requests.append(Recorded(method, path, headers, body, text))
            if self.down == "503":
                return 503, {"error": "service unavailable"}
            if problems:
                return self.violation(problems)
            return self.handle(method, path, headers, body)

    def violation(self, problems: list[str]) -> tuple[int, Any]:
        self.violations.extend(problems)
        return 400, {"error": {"code": 32, "text": "; ".join(problems), "type": "system"}}

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        raise NotImplementedError


# --- ATOL Web Server --------------------------------------------------------------------------------------------------

@dataclass
class WebRequest:
    uuid: str
    tasks: list[dict[str, Any]]
    polls: int = 0
    results: list[dict[str, Any]] | None = None


@dataclass
class FiscalState:
    """What the emulated register keeps: the shift, the numbering, the drawer."""

    shift_open: bool = True
    shift_number: int = 7
    shift_opened_at: dt.datetime = field(default_factory=lambda: dt.datetime(2026, 2, 10, 9, 0, tzinfo=MSK))
    receipts_in_shift: int = 0
    document_number: int = 100
    receipt_number: int = 0
    cash: Decimal = Decimal("1000.00")
    fn_number: str = "9999078900012345"
    registration_number: str = "0000000001002292"


class AtolWebServerEmulator(EmulatorBase):
    """`POST /api/v2/requests`, `GET /api/v2/requests/<uuid>` with an emulated register behind them."""

    def __init__(self, *, login: str = "", password: str = "", polls_before_ready: int = 1) -> None:
        super().__init__()
        self.login, self.password = login, password
        self.polls_before_ready = polls_before_ready
        self.state = FiscalState()
        self.queued: dict[str, WebRequest] = {}
        self.posts: list[str] = []  # uuids in the order they were POSTed (a 409 included)
        self.refusals: list[tuple[int, str]] = []  # the next receipt tasks fail with (errorCode, errorDescription)
        self.final_statuses: list[str] = []  # the next request ends with this status (interrupted, canceled…)
        self.hide_once: set[str] = set()  # the next GET of these uuids answers 404 (a race with another client)
        self.now: Callable[[], dt.datetime] = lambda: dt.datetime(2026, 2, 10, 14, 5, tzinfo=MSK)

    @property
    def base_url(self) -> str:
        return self.root

    def refuse_next(self, code: int, description: str) -> None:
        self.refusals.append((code, description))

    def receipt_tasks(self) -> list[dict[str, Any]]:
        """Every receipt task POSTed, in order (a task re-POSTed under a known uuid is counted again)."""
        return [task for request in self.posted_bodies() for task in request["request"]
                if task["type"] in DTO_RECEIPT_TYPES | DTO_CORRECTION_TYPES]

    def posted_bodies(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.method == "POST" and isinstance(r.body, dict)]

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if self.login or self.password:
            expected = "Basic " + base64.b64encode(f"{self.login}:{self.password}".encode()).decode()
            if headers.get("authorization") != expected:
                return 401, {"error": "unauthorized"}
        if method == "POST" and path == "/api/v2/requests":
            problems = dto_request_problems(body)
            if problems:
                return self.violation(problems)
            self.posts.append(body["uuid"])
            if body["uuid"] in self.queued:
                return 409, {"error": {"code": 409, "description": f"uuid {body['uuid']} is already queued"}}
            self.queued[body["uuid"]] = WebRequest(body["uuid"], body["request"])
            return 201, None
        match = re.fullmatch(r"/api/v2/requests/([^/?]+)", path)
        if method == "GET" and match:
            request = self.queued.get(match[1])
            if request is None or match[1] in self.hide_once:
                self.hide_once.discard(match[1])
                return 404, {"error": {"code": 404, "description": "request not found"}}
            request.polls += 1
            if request.results is None and request.polls <= self.polls_before_ready:
                status = "wait" if request.polls == 1 else "inProgress"
                return 200, {"results": [{"status": status, "errorCode": 0, "errorDescription": "", "result": None}
                                         for _task in request.tasks]}
            if request.results is None:
                request.results = self.execute(request.tasks)
            return 200, {"results": request.results}
        return self.violation([f"{method} {path}: no such endpoint of the ATOL Web Server"])

    # the register
    def execute(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.final_statuses:
            status = self.final_statuses.pop(0)
            return [{"status": status, "errorCode": 0, "errorDescription": "", "result": None} for _ in tasks]
        results: list[dict[str, Any]] = []
        failed = False
        for task in tasks:
            if failed:
                results.append({"status": "blocked", "errorCode": 0, "errorDescription": "", "result": None})
                continue
            try:
                result = self.run_task(task)
            except _TaskError as error:
                failed = True
                results.append({"status": "error", "errorCode": error.code, "errorDescription": error.description,
                                "result": None})
            else:
                results.append({"status": "ready", "errorCode": 0, "errorDescription": "Ошибок нет",
                                "result": result})
        return results

    def _fiscal_params(self, **extra: Any) -> dict[str, Any]:
        s = self.state
        s.document_number += 1
        return {"fiscalDocumentDateTime": self.now().isoformat(), "fiscalDocumentNumber": s.document_number,
                "fiscalDocumentSign": f"{(s.document_number * 7919) % 10**10:010d}", "fnNumber": s.fn_number,
                "registrationNumber": s.registration_number, "shiftNumber": s.shift_number,
                "fnsUrl": "www.nalog.gov.ru", **extra}

    def _shift_status(self) -> dict[str, Any]:
        s = self.state
        return {"shiftStatus": {"documentsCount": s.receipts_in_shift,
                                "expiredTime": (s.shift_opened_at + dt.timedelta(hours=24)).isoformat(),
                                "number": s.shift_number, "state": "opened" if s.shift_open else "closed"}}

    def run_task(self, task: dict[str, Any]) -> dict[str, Any]:
        s = self.state
        kind = task["type"]
        if kind in DTO_RECEIPT_TYPES | DTO_CORRECTION_TYPES:
            if self.refusals:
                raise _TaskError(*self.refusals.pop(0))
            if not s.shift_open:
                raise _TaskError(68, "Смена закрыта - операция невозможна")
            s.receipts_in_shift += 1
            s.receipt_number += 1
            cash = sum((Decimal(p["sum"]) for p in task["payments"] if p["type"] == "cash"), Decimal(0))
            s.cash += -cash if kind in ("sellReturn", "buy", "sellReturnCorrection", "buyCorrection") else cash
            total = task.get("total", sum(Decimal(i["amount"]) for i in task["items"]))
            return {"fiscalParams": self._fiscal_params(fiscalReceiptNumber=s.receipt_number, total=total),
                    "warnings": {"notPrinted": False}}
        if kind == "openShift":
            if s.shift_open:
                raise _TaskError(67, "Смена открыта - операция невозможна")
            s.shift_open, s.shift_number, s.receipts_in_shift, s.receipt_number = True, s.shift_number + 1, 0, 0
            s.shift_opened_at = self.now()
            return {"fiscalParams": self._fiscal_params(), "warnings": {"notPrinted": False}}
        if kind == "closeShift":
            if not s.shift_open:
                raise _TaskError(68, "Смена закрыта - операция невозможна")
            s.shift_open = False
            return {"fiscalParams": self._fiscal_params(receiptsCount=s.receipts_in_shift),
                    "warnings": {"notPrinted": False}}
        if kind == "reportX":
            return {"warnings": {"notPrinted": False}}
        if kind in ("cashIn", "cashOut"):
            amount = Decimal(task["cashSum"])
            if kind == "cashOut" and amount > s.cash:
                raise _TaskError(70, "Не хватает наличности в денежном ящике")
            s.cash += amount if kind == "cashIn" else -amount
            return {"counters": {"cashSum": s.cash}}
        if kind == "getShiftStatus":
            return self._shift_status()
        if kind == "getDeviceStatus":
            return {"deviceStatus": {"blocked": False, "coverOpened": False, "currentDateTime": self.now().isoformat(),
                                     "fiscal": True, "fnFiscal": True, "fnPresent": True, "paperPresent": True,
                                     "shift": "opened" if s.shift_open else "closed"}}
        raise _TaskError(-1, f"unsupported task {kind}")


class _TaskError(Exception):
    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code, self.description = code, description


# --- ATOL Online v5 ---------------------------------------------------------------------------------------------------

@dataclass
class OnlineDocument:
    uuid: str
    external_id: str
    operation: str
    body: dict[str, Any]
    polls: int = 0
    failure: tuple[int, str] | None = None
    payload: dict[str, Any] | None = None  # made at the first `done` report, the same ever after


class AtolOnlineEmulator(EmulatorBase):
    """`/possystem/v5/getToken`, `/{group}/{operation}`, `/{group}/report/{uuid}`."""

    prefix = "/possystem/v5"

    def __init__(self, *, login: str = "shop-login", password: str = "shop-pass", group_code: str = "group-1",
                 polls_before_done: int = 1, duplicate_answer: str = "error") -> None:
        super().__init__()
        self.login, self.password, self.group_code = login, password, group_code
        self.polls_before_done = polls_before_done
        self.duplicate_answer = duplicate_answer  # "error": code 33 with the uuid; "same": 200 with the uuid
        self.tokens: set[str] = set()
        self.tokens_issued = 0
        self.documents: dict[str, OnlineDocument] = {}
        self.by_external_id: dict[str, str] = {}
        self.failures: list[tuple[int, str]] = []  # the next documents end in `fail` with (code, text)
        self.document_number = 500

    @property
    def base_url(self) -> str:
        return self.root + self.prefix

    def fail_next(self, code: int, text: str) -> None:
        self.failures.append((code, text))

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def registrations(self) -> list[Recorded]:
        """The POSTs of documents (not of tokens)."""
        return [r for r in self.requests if r.method == "POST" and not r.path.endswith("/getToken")]

    def _error(self, http_status: int, code: int, text: str, **extra: Any) -> tuple[int, Any]:
        return http_status, {"error": {"error_id": f"e-{code}", "code": code, "text": text, "type": "system"},
                        "timestamp": "10.02.2026 14:05:00", **extra}

    def handle(self, method: str, path: str, headers: dict[str, str], body: Any) -> tuple[int, Any]:
        if not path.startswith(self.prefix + "/"):
            return self.violation([f"{method} {path}: not under {self.prefix}"])
        rest = path[len(self.prefix) + 1:]
        if rest == "getToken":
            if method != "POST":
                return self.violation([f"{method} getToken: must be POST"])
            check = Checker()
            credentials = check.obj("getToken body", body, {"login", "pass"}, {"source"})
            if check.problems:
                return self.violation(check.problems)
            if credentials["login"] != self.login or credentials["pass"] != self.password:
                return self._error(401, 12, "Неверный логин или пароль")
            self.tokens_issued += 1
            token = f"token-{self.tokens_issued}"
            self.tokens.add(token)
            return 200, {"error": None, "token": token, "timestamp": "10.02.2026 14:05:00"}
        token = headers.get("token")
        if not token:
            self.violations.append(f"{method} {path}: no Token header")
            return self._error(401, 10, "Не передан токен")
        if token not in self.tokens:
            return self._error(401, 11, "Срок действия токена истек")
        group, _slash, action = rest.partition("/")
        if group != self.group_code:
            return self.violation([f"{method} {path}: group {group!r} is not {self.group_code!r}"])
        report = re.fullmatch(r"report/([^/?]+)", action)
        if method == "GET" and report:
            document = self.documents.get(report[1])
            if document is None:
                return self.violation([f"GET report of an unknown document {report[1]}"])
            return 200, self._report(document)
        if method == "POST" and "/" not in action:
            problems = online_body_problems(action, body)
            if problems:
                return self.violation(problems)
            existing = self.by_external_id.get(body["external_id"])
            if existing is not None:
                if self.duplicate_answer == "same":
                    return 200, {"uuid": existing, "status": "wait", "error": None, "timestamp": "10.02.2026 14:05:00"}
                return self._error(400, 33, f"В системе существует чек с external_id : {body['external_id']} и "
                                            f"group_code: {self.group_code}", uuid=existing, status="fail")
            document = OnlineDocument(uuid=f"doc-{len(self.documents) + 1:04d}", external_id=body["external_id"],
                                      operation=action, body=body,
                                      failure=self.failures.pop(0) if self.failures else None)
            self.documents[document.uuid] = document
            self.by_external_id[document.external_id] = document.uuid
            return 200, {"uuid": document.uuid, "status": "wait", "error": None, "timestamp": "10.02.2026 14:05:00"}
        return self.violation([f"{method} {path}: no such endpoint of ATOL Online v5"])

    def _report(self, document: OnlineDocument) -> dict[str, Any]:
        document.polls += 1
        common = {"uuid": document.uuid, "timestamp": "10.02.2026 14:05:01", "group_code": self.group_code,
                  "daemon_code": "prod-agent-1", "device_code": "KKT000001", "external_id": document.external_id,
                  "callback_url": (document.body.get("service") or {}).get("callback_url", "")}
        if document.polls <= self.polls_before_done:
            return {"status": "wait", "error": None, "payload": None, **common}
        if document.failure is not None:
            code, text = document.failure
            return {"status": "fail", "error": {"error_id": "f-1", "code": code, "text": text, "type": "agent"},
                    "payload": None, **common}
        if document.payload is None:
            self.document_number += 1
            content = document.body.get("receipt") or document.body.get("correction")
            document.payload = {
                "total": content["total"], "fns_site": "www.nalog.gov.ru", "fn_number": "9999078902004387",
                "shift_number": 23, "receipt_datetime": "10.02.2026 14:05:01",
                "fiscal_receipt_number": self.document_number - 480,
                "fiscal_document_number": self.document_number, "ecr_registration_number": "0000000003027865",
                "fiscal_document_attribute": 3326875773, "ofd_inn": "7704358518",
                "ofd_receipt_url": f"https://ofd.example/receipt/{document.uuid}"}
        return {"status": "done", "error": None, "payload": document.payload, **common}
