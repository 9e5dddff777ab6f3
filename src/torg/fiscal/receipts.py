"""A fiscal receipt in the ФФД 1.2 structure, as plain immutable data (no database, no I/O).

This module and its siblings in `torg.fiscal` are the only places that know the tag numbers of the ФНС
formats: 1054 (operation), 1214 (payment method of a line), 1212 (subject of a line), 1199 (VAT rate),
2108 (unit of measure), 1031/1081/1215/1216/1217 (payment sums), 1008 (buyer's phone or e-mail),
1173/1178/1179 (correction). The rest of torg speaks of payments, shipments and orders.

Amounts include VAT (receipt prices always do). All rounding of a receipt happens in `money.py`'s functions
called from here and from `builder.py`: a line's VAT is `amount × rate / (100 + rate)` rounded half-up to
kopecks, the receipt's VAT per rate is the sum of its lines' VAT, and a line's price × quantity equals its
amount (the builder splits a line whose amount does not divide into kopecks).
"""
from __future__ import annotations

import datetime as dt
import enum
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from torg.core.money import ZERO, round_money, vat_included


class Operation(enum.StrEnum):
    """Tag 1054 «признак расчёта», and whether the receipt is a correction receipt (ФД type 31)."""

    SELL = "sell"  # 1054 = 1 приход
    SELL_RETURN = "sell_return"  # 1054 = 2 возврат прихода
    BUY = "buy"  # 1054 = 3 расход
    BUY_RETURN = "buy_return"  # 1054 = 4 возврат расхода
    SELL_CORRECTION = "sell_correction"  # correction receipt, 1054 = 1
    SELL_RETURN_CORRECTION = "sell_return_correction"  # correction receipt, 1054 = 2
    BUY_CORRECTION = "buy_correction"
    BUY_RETURN_CORRECTION = "buy_return_correction"

    @property
    def tag_1054(self) -> int:
        return {"sell": 1, "sell_return": 2, "buy": 3, "buy_return": 4}[self.value.removesuffix("_correction")]

    @property
    def is_correction(self) -> bool:
        return self.value.endswith("_correction")

    @property
    def is_return(self) -> bool:
        return self.tag_1054 in (2, 4)


class Method(enum.IntEnum):
    """Tag 1214 «признак способа расчёта» of a line."""

    FULL_PREPAYMENT = 1  # ПРЕДОПЛАТА 100%
    PREPAYMENT = 2  # ПРЕДОПЛАТА (partial)
    ADVANCE = 3  # АВАНС (goods not known)
    FULL_PAYMENT = 4  # ПОЛНЫЙ РАСЧЕТ (handover, paid in full, incl. offset of prepayment)
    PARTIAL_PAYMENT = 5  # ЧАСТИЧНЫЙ РАСЧЕТ И КРЕДИТ
    CREDIT = 6  # ПЕРЕДАЧА В КРЕДИТ
    CREDIT_PAYMENT = 7  # ОПЛАТА КРЕДИТА

    @property
    def is_handover(self) -> bool:
        return self in (Method.FULL_PAYMENT, Method.PARTIAL_PAYMENT, Method.CREDIT)

    @property
    def is_prepayment(self) -> bool:
        return self in (Method.FULL_PREPAYMENT, Method.PREPAYMENT, Method.ADVANCE)


class Subject(enum.IntEnum):
    """Tag 1212 «признак предмета расчёта» of a line (the values torg uses; the table has 1–33)."""

    COMMODITY = 1  # товар
    EXCISE = 2  # подакцизный товар
    JOB = 3  # работа
    SERVICE = 4  # услуга
    PAYMENT = 10  # платёж (аванс, предоплата, оплата кредита)
    ANOTHER = 13  # иной предмет расчёта
    COMMODITY_WITHOUT_MARKING = 32  # ТНМ
    COMMODITY_WITH_MARKING = 33  # ТМ


class Vat(enum.IntEnum):
    """Tag 1199 «ставка НДС» of a line."""

    VAT20 = 1
    VAT10 = 2
    VAT120 = 3
    VAT110 = 4
    VAT0 = 5
    NONE = 6  # НДС не облагается
    VAT5 = 7
    VAT7 = 8
    VAT105 = 9
    VAT107 = 10
    VAT22 = 11
    VAT122 = 12

    @property
    def percent(self) -> Decimal:
        """The rate the VAT of an amount including it is computed with (0 for none and 0 %)."""
        return _VAT_PERCENT[self]

    @property
    def code(self) -> str:
        """The name ATOL and most ФФД-speaking software use (vat22, vat122, none…)."""
        return "none" if self is Vat.NONE else self.name.lower()


_VAT_PERCENT = {Vat.VAT20: Decimal(20), Vat.VAT10: Decimal(10), Vat.VAT120: Decimal(20), Vat.VAT110: Decimal(10),
                Vat.VAT0: ZERO, Vat.NONE: ZERO, Vat.VAT5: Decimal(5), Vat.VAT7: Decimal(7), Vat.VAT105: Decimal(5),
                Vat.VAT107: Decimal(7), Vat.VAT22: Decimal(22), Vat.VAT122: Decimal(22)}

CENT = Decimal("0.01")

# torg's VAT rates (catalogs.VatRate: percent, −1 = without VAT) → the full rate (handover) and the calculated
# rate (prepayment, advance: НК РФ ст. 164 п. 4).
FULL_RATE = {22: Vat.VAT22, 20: Vat.VAT20, 10: Vat.VAT10, 7: Vat.VAT7, 5: Vat.VAT5, 0: Vat.VAT0, -1: Vat.NONE}
CALCULATED_RATE = {22: Vat.VAT122, 20: Vat.VAT120, 10: Vat.VAT110, 7: Vat.VAT107, 5: Vat.VAT105, 0: Vat.VAT0,
                   -1: Vat.NONE}


class Unit(enum.IntEnum):
    """Tag 2108 «мера количества» (the common values)."""

    PIECE = 0
    GRAM = 10
    KILOGRAM = 11
    TON = 12
    CENTIMETER = 20
    METER = 22
    SQUARE_METER = 32
    MILLILITER = 40
    LITER = 41
    CUBIC_METER = 42
    DAY = 70
    HOUR = 71
    OTHER = 255


# OKEI codes of torg's units (catalogs.Unit.code) → tag 2108.
UNIT_BY_OKEI = {"796": Unit.PIECE, "163": Unit.GRAM, "166": Unit.KILOGRAM, "168": Unit.TON, "004": Unit.CENTIMETER,
                "006": Unit.METER, "055": Unit.SQUARE_METER, "111": Unit.MILLILITER, "112": Unit.LITER,
                "113": Unit.CUBIC_METER, "359": Unit.DAY, "356": Unit.HOUR}


class CorrectionType(enum.StrEnum):
    """Tag 1173 «тип коррекции»."""

    SELF = "self"  # 0: самостоятельно
    INSTRUCTION = "instruction"  # 1: по предписанию


@dataclass(frozen=True)
class Correction:
    type: CorrectionType
    base_date: dt.date  # 1178: the date of the settlement being corrected
    base_number: str = ""  # 1179: the number of the tax office's order (only «по предписанию»)


class ReceiptLine(NamedTuple):
    """One position (предмет расчёта) of a receipt. (A named tuple: receipts are built by the thousand.)"""

    name: str  # 1030, up to 128 characters
    quantity: Decimal  # 1023
    price: Decimal  # 1079, VAT included
    amount: Decimal  # 1043, VAT included
    method: Method  # 1214
    subject: Subject  # 1212
    vat: Vat  # 1199
    unit: Unit = Unit.PIECE  # 2108
    item_id: int | None = None  # torg's item, when the line is goods
    reference: str = ""  # what torg settled with this line: "order:12", "shipment:7", "" for an advance

    @property
    def vat_amount(self) -> Decimal:
        """1200: the VAT contained in the amount."""
        return vat_included(self.amount, self.vat.percent)


@dataclass(frozen=True)
class PaymentSums:
    """How the receipt's total was settled."""

    cash: Decimal = ZERO  # 1031 наличными
    electronic: Decimal = ZERO  # 1081 безналичными
    prepaid: Decimal = ZERO  # 1215 предоплатой (зачёт аванса и предыдущих платежей)
    credit: Decimal = ZERO  # 1216 постоплатой (в кредит)
    other: Decimal = ZERO  # 1217 встречным предоставлением

    @property
    def total(self) -> Decimal:
        return self.cash + self.electronic + self.prepaid + self.credit + self.other

    def as_tags(self) -> dict[str, Decimal]:
        return {"1031": self.cash, "1081": self.electronic, "1215": self.prepaid, "1216": self.credit,
                "1217": self.other}


@dataclass(frozen=True)
class ReceiptDraft:
    """A receipt as built, before a device registers it."""

    operation: Operation
    lines: tuple[ReceiptLine, ...]
    payments: PaymentSums
    buyer_contact: str = ""  # 1008: phone or e-mail for the electronic receipt
    buyer_name: str = ""  # 1227
    buyer_inn: str = ""  # 1228
    correction: Correction | None = None
    notes: tuple[str, ...] = field(default=())  # why the builder made the receipt this way (shown to people)

    @property
    def total(self) -> Decimal:
        """1020: the sum of the lines."""
        return sum((ln.amount for ln in self.lines), ZERO)

    @property
    def vat_by_rate(self) -> dict[Vat, Decimal]:
        """1102…1107-like totals: the VAT of the receipt per rate (sum of the lines' VAT)."""
        out: dict[Vat, Decimal] = {}
        for ln in self.lines:
            out[ln.vat] = out.get(ln.vat, ZERO) + ln.vat_amount
        return out

    def problems(self) -> list[str]:
        """What makes this receipt invalid (empty when it may be sent): the balance rules of the format."""
        found = []
        if not self.lines:
            found.append("no lines")
        total = ZERO
        for n, ln in enumerate(self.lines, 1):
            total += ln.amount
            if ln.amount <= 0 or ln.quantity <= 0 or ln.price < 0:
                found.append(f"line {n}: amount, quantity and price must be positive")
            product = ln.price * ln.quantity
            if product != ln.amount and abs(round_money(product) - ln.amount) > CENT:
                found.append(f"line {n}: price × quantity ≠ amount")
            if not ln.name or ln.name.isspace():
                found.append(f"line {n}: no name")
        if self.payments.total != total:
            found.append(f"payments {self.payments.total} ≠ total {self.total}")
        if self.operation.is_correction and self.correction is None:
            found.append("a correction receipt needs the correction's type and date (1173, 1178)")
        return found

    def tags(self) -> dict[str, Any]:
        """The receipt as ФФД tags (numbers as strings), for the API and the journal."""
        out: dict[str, Any] = {"1054": self.operation.tag_1054, "1020": self.total, **self.payments.as_tags()}
        if self.buyer_contact:
            out["1008"] = self.buyer_contact
        if self.buyer_name:
            out["1227"] = self.buyer_name
        if self.buyer_inn:
            out["1228"] = self.buyer_inn
        if self.correction is not None:
            out["1173"] = 0 if self.correction.type == CorrectionType.SELF else 1
            out["1178"] = self.correction.base_date.isoformat()
            if self.correction.base_number:
                out["1179"] = self.correction.base_number
        out["1059"] = [{"1030": ln.name, "1023": ln.quantity, "1079": ln.price, "1043": ln.amount,
                        "1214": int(ln.method), "1212": int(ln.subject), "1199": int(ln.vat),
                        "1200": ln.vat_amount, "2108": int(ln.unit)} for ln in self.lines]
        return out
