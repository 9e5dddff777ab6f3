"""The one interface every fiscal device driver implements, and what passes through it.

A driver turns a `DeviceReceipt` into whatever its device speaks (the built-in emulator, ATOL Driver 10 JSON
tasks through an ATOL Web Server, ATOL Online v5) and the device's answer into a `FiscalResult`.

Contract (the fiscal queue relies on it):
- `register(receipt)` is idempotent by `receipt.uuid`: a receipt sent again returns the first result and is
  never printed twice.
- A device that cannot be reached, is busy or has not answered yet raises `DeviceUnavailable`: the queue keeps
  the receipt and tries again later. A device that refuses the receipt raises `DeviceRefused` with the device's
  own message: the receipt stops as failed until a person retries or cancels it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol

from torg.core.money import ZERO
from torg.fiscal.receipts import ReceiptDraft


class DeviceError(Exception):
    """Base of what a driver raises. `message` is the device's (or the transport's) own text."""

    def __init__(self, message: str, *, code: int | str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class DeviceUnavailable(DeviceError):
    """Not reachable, busy, or the result is not ready yet: try again later with the same uuid."""


class DeviceRefused(DeviceError):
    """The device refused the task (unbalanced receipt, missing tag, shift expired…): a person must act."""


@dataclass(frozen=True)
class Cashier:
    name: str  # 1021
    inn: str = ""  # 1203


@dataclass(frozen=True)
class DeviceReceipt:
    """A receipt as a driver receives it: the draft plus what the register adds."""

    uuid: str  # unique id of this receipt; the driver passes it to the device as the idempotency key
    draft: ReceiptDraft
    taxation: str  # 1055: osn, usn_income, usn_income_outcome, esn, patent
    payments_place: str  # 1187
    payments_address: str  # 1009
    cashier: Cashier
    company_inn: str = ""  # 1018
    company_email: str = ""  # 1117
    electronically: bool = False  # only an electronic receipt (needs 1008)
    created_at: dt.datetime | None = None


@dataclass(frozen=True)
class FiscalResult:
    """What the device answers for a registered receipt (фискальные реквизиты)."""

    fiscal_document_number: int  # 1040
    fiscal_sign: str  # 1077
    fn_number: str  # 1041
    registered_at: dt.datetime  # 1012
    shift_number: int = 0  # 1038
    receipt_number: int = 0  # 1042: number of the receipt in the shift
    registration_number: str = ""  # 1037
    total: Decimal = ZERO
    ofd_url: str = ""  # 1060 or the OFD's receipt page
    raw: dict[str, Any] = field(default_factory=dict)  # the device's answer as received


@dataclass(frozen=True)
class ShiftReport:
    """An X or Z report, or the state after opening a shift, as the device tells it."""

    shift_number: int
    is_open: bool
    opened_at: dt.datetime | None = None
    receipts: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # e.g. sell_cash, sell_electronic, return_cash…
    cash_in_drawer: Decimal = ZERO
    fiscal_document_number: int | None = None  # for the shift opening and closing (Z) documents
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeviceStatus:
    reachable: bool
    shift_open: bool = False
    shift_number: int = 0
    shift_opened_at: dt.datetime | None = None
    shift_expired: bool = False
    cash_in_drawer: Decimal = ZERO
    message: str = ""


class FiscalDevice(Protocol):
    """What the fiscal queue and the pages ask of a cash register."""

    def register(self, receipt: DeviceReceipt) -> FiscalResult: ...

    def status(self) -> DeviceStatus: ...

    def open_shift(self, cashier: Cashier) -> ShiftReport: ...

    def close_shift(self, cashier: Cashier) -> ShiftReport: ...

    def report_x(self, cashier: Cashier) -> ShiftReport: ...

    def cash_in(self, amount: Decimal, cashier: Cashier) -> None: ...

    def cash_out(self, amount: Decimal, cashier: Cashier) -> None: ...
