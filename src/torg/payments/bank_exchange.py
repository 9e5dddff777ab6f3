"""The 1CClientBankExchange file format (version 1.03, the text files banks and 1C exchange): read a bank
statement, write a file of payment orders. Pure: no database, no models — bytes in, dataclasses out, and back.

A file is `Key=Value` lines (CRLF) in Windows-1251 or DOS (CP866) as its header says (`Кодировка=`): the header
(first line `1CClientBankExchange`), balance sections `СекцияРасчСчет … КонецРасчСчет`, document sections
`СекцияДокумент=<kind> … КонецДокумента`, and `КонецФайла`. Reading never stops at the first fault: a broken
section is skipped and reported with its line number, the other sections are read. Unknown keys are ignored
(banks add their own). Every problem carries a code, the line it was found on and the values of its message,
so that it can be stored and shown later in the reader's language.

The acquiring helpers at the end read the purpose text of a bank's credit for card payments (merchant, registry
date, commission, refunds).
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

from django.utils.translation import gettext_lazy as _

HEADER_LINE = "1CClientBankExchange"
END_OF_FILE = "КонецФайла"
DOCUMENT_START = "СекцияДокумент"
DOCUMENT_END = "КонецДокумента"
BALANCE_START = "СекцияРасчСчет"
BALANCE_END = "КонецРасчСчет"
PAYMENT_ORDER = "Платежное поручение"

# Codecs by the header's `Кодировка`; the names people know them by, for messages.
DECLARED_ENCODINGS = {"windows": "cp1251", "dos": "cp866"}
ENCODING_NAMES = {"cp1251": "Windows-1251", "cp866": "DOS (CP866)", "utf-8": "UTF-8"}
# Words that appear in every real file: the encoding that shows most of them is the one the file is in.
_MARKERS = ("ВерсияФормата", "Кодировка", "Отправитель", "ДатаНачала", "РасчСчет", "СекцияДокумент",
            "КонецДокумента", "КонецФайла", "Номер", "Дата", "Сумма", "Плательщик", "Получатель")
_DATE = re.compile(r"(\d{2})\.(\d{2})\.(\d{4})")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_INN_IN_NAME = re.compile(r"^\s*ИНН\s*(\d{10}|\d{12})\s*")
CENT = Decimal("0.01")


class ProblemCode(StrEnum):
    """What can be wrong in a bank file (or with one of its documents when it is imported)."""

    EMPTY_FILE = "empty_file"
    NOT_A_BANK_FILE = "not_a_bank_file"
    ENCODING_MISMATCH = "encoding_mismatch"  # the header names one encoding, the bytes are in another
    UNKNOWN_ENCODING = "unknown_encoding"  # the header names an encoding the format does not have
    UNREADABLE_BYTES = "unreadable_bytes"  # bytes that are no character of the encoding (replaced)
    UNKNOWN_VERSION = "unknown_version"
    NOT_KEY_VALUE = "not_key_value"  # a line without "=" inside a section: the section is skipped
    UNTERMINATED_SECTION = "unterminated_section"  # a section without its end line: skipped
    STRAY_LINE = "stray_line"  # an end line or a key outside any section: ignored
    NO_END_OF_FILE = "no_end_of_file"  # the file may be cut short
    MISSING_FIELD = "missing_field"  # a document without a number, date, amount or account: skipped
    BAD_DATE = "bad_date"
    BAD_AMOUNT = "bad_amount"
    BALANCE_DOES_NOT_ADD_UP = "balance_does_not_add_up"
    # found when importing, against the company's catalogs
    UNKNOWN_ACCOUNT = "unknown_account"  # neither side of a document is our account: not imported
    UNKNOWN_HEADER_ACCOUNT = "unknown_header_account"
    NO_POSTING_DATE = "no_posting_date"  # neither ДатаПоступило nor ДатаСписано for our side: not imported
    DUPLICATE_IN_FILE = "duplicate_in_file"  # the same document twice in one file: imported once
    INVALID_INN = "invalid_inn"  # the counterparty's INN fails its check digits: not used to find the client
    INVALID_ACCOUNT = "invalid_account"  # the counterparty's account fails the key check against its BIK


MESSAGES: dict[str, Any] = {
    ProblemCode.EMPTY_FILE: _("The file is empty."),
    ProblemCode.NOT_A_BANK_FILE: _("This is not a 1CClientBankExchange file: its first line is “%(first)s”. "
                                   "Save the statement from the bank's client in the 1C format and try again."),
    ProblemCode.ENCODING_MISMATCH: _("The header says the encoding is “%(declared)s”, but the file is written in "
                                     "%(actual)s; it was read as %(actual)s."),
    ProblemCode.UNKNOWN_ENCODING: _("Unknown encoding “%(declared)s” (the format has Windows and DOS); the file "
                                    "was read as %(actual)s."),
    ProblemCode.UNREADABLE_BYTES: _("The line has bytes that are no character in %(encoding)s: they are shown "
                                    "as “\ufffd”."),
    ProblemCode.UNKNOWN_VERSION: _("Format version “%(version)s” is not 1.01–1.03; the file was read as 1.03."),
    ProblemCode.NOT_KEY_VALUE: _("“%(text)s” is not a Key=Value line: the section that starts at line %(start)s "
                                 "is skipped."),
    ProblemCode.UNTERMINATED_SECTION: _("The section that starts at line %(start)s has no “%(end)s” before line "
                                        "%(next)s: it is skipped."),
    ProblemCode.STRAY_LINE: _("“%(text)s” is outside any section: ignored."),
    ProblemCode.NO_END_OF_FILE: _("The file has no “КонецФайла” line: it may have been cut short. The complete "
                                  "sections were read."),
    ProblemCode.MISSING_FIELD: _("The document that starts at line %(start)s has no %(field)s: it is skipped."),
    ProblemCode.BAD_DATE: _("%(field)s “%(value)s” is not a date of the form DD.MM.YYYY: the section that starts "
                            "at line %(start)s is skipped."),
    ProblemCode.BAD_AMOUNT: _("%(field)s “%(value)s” is not an amount of the form 12354.00 above zero: the "
                              "section that starts at line %(start)s is skipped."),
    ProblemCode.BALANCE_DOES_NOT_ADD_UP: _("Account %(account)s: the opening balance %(opening)s + received "
                                           "%(received)s − paid %(paid)s is not the closing balance %(closing)s."),
    ProblemCode.UNKNOWN_ACCOUNT: _("Document No. %(number)s of %(date)s for %(amount)s: neither the payer's "
                                   "account %(payer)s nor the payee's account %(payee)s is one of our bank "
                                   "accounts: not imported."),
    ProblemCode.UNKNOWN_HEADER_ACCOUNT: _("Account %(account)s is not one of our bank accounts: its documents are "
                                          "not imported. Add the account to the organization to import them."),
    ProblemCode.NO_POSTING_DATE: _("Document No. %(number)s of %(date)s for %(amount)s has no %(field)s (the date "
                                   "the money moved on account %(account)s): not imported."),
    ProblemCode.DUPLICATE_IN_FILE: _("Document No. %(number)s of %(date)s for %(amount)s is the same as at line "
                                     "%(first)s: imported once."),
    ProblemCode.INVALID_INN: _("The payer's INN %(inn)s is not valid (its check digits do not match): the client "
                               "is not looked up by it."),
    ProblemCode.INVALID_ACCOUNT: _("Account %(account)s does not match BIK %(bik)s (the control key is wrong)."),
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong, at a line of the file (0: the file as a whole). Stored as `as_dict()`."""

    line: int
    code: str
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def message(self) -> str:
        template = MESSAGES.get(self.code)
        if template is None:
            return self.code
        try:
            return str(template) % self.params
        except (KeyError, TypeError, ValueError):
            return str(template)

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": str(self.code), "params": {k: str(v) for k, v in self.params.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Problem:
        return cls(int(data.get("line") or 0), str(data.get("code") or ""), dict(data.get("params") or {}))


@dataclass(frozen=True)
class Party:
    """The payer or the payee of a document."""

    account: str = ""
    inn: str = ""
    kpp: str = ""
    name: str = ""
    bank: str = ""
    bank_city: str = ""
    bik: str = ""
    correspondent_account: str = ""


@dataclass
class ExchangeDocument:
    """One `СекцияДокумент`: its raw fields and what they mean."""

    kind: str
    first_line: int
    last_line: int
    number: str
    date: dt.date
    amount: Decimal
    payer: Party
    payee: Party
    debited_on: dt.date | None  # ДатаСписано: the day the money left the payer's account
    credited_on: dt.date | None  # ДатаПоступило: the day it arrived on the payee's account
    purpose: str
    fields: dict[str, str] = field(default_factory=dict)
    field_lines: dict[str, int] = field(default_factory=dict)

    def line_of(self, key: str) -> int:
        return self.field_lines.get(key, self.first_line)


@dataclass(frozen=True)
class AccountBalance:
    """One `СекцияРасчСчет`: an account's balances and turnovers for the statement's period."""

    line: int
    account: str
    start: dt.date | None
    end: dt.date | None
    opening: Decimal | None
    received: Decimal | None
    paid: Decimal | None
    closing: Decimal | None


@dataclass
class ParsedStatement:
    encoding: str = "cp1251"  # the codec the file was read with
    header: dict[str, str] = field(default_factory=dict)
    header_lines: dict[str, int] = field(default_factory=dict)
    accounts: list[tuple[int, str]] = field(default_factory=list)  # the header's РасчСчет lines: (line, account)
    balances: list[AccountBalance] = field(default_factory=list)
    documents: list[ExchangeDocument] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    is_bank_file: bool = False
    sections: int = 0  # document sections seen, good or broken

    @property
    def version(self) -> str:
        return self.header.get("ВерсияФормата", "")

    @property
    def sender(self) -> str:
        return self.header.get("Отправитель", "")

    @property
    def period_start(self) -> dt.date | None:
        return _date_or_none(self.header.get("ДатаНачала", ""))

    @property
    def period_end(self) -> dt.date | None:
        return _date_or_none(self.header.get("ДатаКонца", ""))


# ------------------------------------------------------------------ reading
def parse(data: bytes) -> ParsedStatement:
    """Read a 1CClientBankExchange file. Never raises on bad input: what cannot be read is in `problems`."""
    result = ParsedStatement()
    if not data.strip():
        result.problems.append(Problem(0, ProblemCode.EMPTY_FILE))
        return result
    text, result.encoding, problems = _decode(data)
    lines = _LINE_BREAK.split(text)
    first = lines[0].strip()
    if first != HEADER_LINE:
        result.problems.append(Problem(1, ProblemCode.NOT_A_BANK_FILE, {"first": first[:60]}))
        return result
    result.is_bank_file = True
    result.problems.extend(problems)
    _read_sections(lines, result)
    version = result.version
    if version and version not in ("1.01", "1.02", "1.03"):
        result.problems.append(Problem(result.header_lines.get("ВерсияФормата", 0), ProblemCode.UNKNOWN_VERSION,
                                       {"version": version}))
    result.problems.sort(key=lambda p: p.line)
    return result


def _decode(data: bytes) -> tuple[str, str, list[Problem]]:
    """The text of the file and the codec it was read with.

    The header names the encoding (Windows → CP1251, DOS → CP866); some banks write UTF-8 and still say
    Windows. So each codec of the format is tried and the one under which the format's own words appear is taken;
    a header that says otherwise is reported. Bytes that are no character of that codec are replaced and their
    lines reported."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        candidates = ["utf-8"]
    else:
        candidates = ["utf-8", "cp1251", "cp866"]
    best: tuple[int, int, str, str] | None = None
    for order, codec in enumerate(candidates):
        strict = True
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            strict = False
            text = data.decode(codec, errors="replace")
        head = text[:20000]
        score = sum(head.count(marker) for marker in _MARKERS) * 2 + (1 if strict else 0)
        if best is None or score > best[0]:
            best = (score, -order, codec, text)
    assert best is not None
    _score, _order, codec, text = best
    problems: list[Problem] = []
    lines = _LINE_BREAK.split(text)
    for number, line in enumerate(lines, start=1):
        if line.startswith("Кодировка="):
            declared = line.partition("=")[2].strip()
            expected = DECLARED_ENCODINGS.get(declared.lower())
            if expected is None:
                problems.append(Problem(number, ProblemCode.UNKNOWN_ENCODING,
                                        {"declared": declared, "actual": ENCODING_NAMES[codec]}))
            elif expected != codec and not (codec == "utf-8" and expected == "cp1251"):
                # UTF-8 under "Windows" is common and harmless once read right; another mismatch is reported.
                problems.append(Problem(number, ProblemCode.ENCODING_MISMATCH,
                                        {"declared": declared, "actual": ENCODING_NAMES[codec]}))
            break
    for number, line in enumerate(lines, start=1):
        if "\ufffd" in line:
            problems.append(Problem(number, ProblemCode.UNREADABLE_BYTES, {"encoding": ENCODING_NAMES[codec]}))
    return text, codec, problems


@dataclass
class _Section:
    kind: str  # "document" or "balance"
    start: int
    title: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    lines: dict[str, int] = field(default_factory=dict)
    broken: Problem | None = None


def _read_sections(lines: Sequence[str], result: ParsedStatement) -> None:
    section: _Section | None = None
    ended = False
    in_header = True
    last = len(lines)
    for number, raw in enumerate(lines[1:], start=2):
        line = raw.strip()
        if not line:
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        starts = key == DOCUMENT_START or line == BALANCE_START or line == END_OF_FILE
        if section is not None and starts:
            end = DOCUMENT_END if section.kind == "document" else BALANCE_END
            result.problems.append(Problem(section.start, ProblemCode.UNTERMINATED_SECTION,
                                           {"start": section.start, "end": end, "next": number}))
            section = None
        if section is not None:
            if line in (DOCUMENT_END, BALANCE_END):
                expected = DOCUMENT_END if section.kind == "document" else BALANCE_END
                if line != expected:
                    result.problems.append(Problem(section.start, ProblemCode.UNTERMINATED_SECTION,
                                                   {"start": section.start, "end": expected, "next": number}))
                elif section.broken is not None:
                    result.problems.append(section.broken)
                elif section.kind == "document":
                    _add_document(section, number, result)
                else:
                    _add_balance(section, result)
                section = None
            elif not sep:
                if section.broken is None:
                    section.broken = Problem(number, ProblemCode.NOT_KEY_VALUE,
                                             {"text": line[:80], "start": section.start})
            else:
                section.fields[key] = value
                section.lines.setdefault(key, number)
            continue
        if key == DOCUMENT_START and sep:
            in_header = False
            result.sections += 1
            section = _Section("document", number, title=value)
        elif line == BALANCE_START:
            in_header = False
            section = _Section("balance", number)
        elif line == END_OF_FILE:
            ended = True
            break
        elif in_header and sep:
            if key == "РасчСчет":
                result.accounts.append((number, value))
            elif key != "Документ":
                result.header[key] = value
                result.header_lines[key] = number
        else:
            result.problems.append(Problem(number, ProblemCode.STRAY_LINE, {"text": line[:80]}))
    if section is not None:
        end = DOCUMENT_END if section.kind == "document" else BALANCE_END
        result.problems.append(Problem(section.start, ProblemCode.UNTERMINATED_SECTION,
                                       {"start": section.start, "end": end, "next": last + 1}))
    if not ended:
        result.problems.append(Problem(last, ProblemCode.NO_END_OF_FILE))


def _date_or_none(value: str) -> dt.date | None:
    match = _DATE.fullmatch(value.strip())
    if not match:
        return None
    day, month, year = (int(g) for g in match.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _amount_or_none(value: str) -> Decimal | None:
    text = value.strip().replace(",", ".")
    if not re.fullmatch(r"-?\d{1,15}(?:\.\d{1,2})?", text):
        return None
    try:
        return Decimal(text).quantize(CENT)
    except InvalidOperation:
        return None


def _party(fields: dict[str, str], side: str) -> Party:
    """Плательщик… or Получатель… fields as a Party. The account is `<side>Счет` (the account in this bank's books),
    else `<side>РасчСчет`; the name is `<side>1`, else `<side>` without the "ИНН …" it often starts with."""
    full = fields.get(side, "")
    name = fields.get(f"{side}1", "") or _INN_IN_NAME.sub("", full)
    inn = fields.get(f"{side}ИНН", "").strip()
    if inn in ("0", "00"):  # banks write 0 for a person without an INN
        inn = ""
    if not inn:
        found = _INN_IN_NAME.match(full)
        inn = found.group(1) if found else ""
    kpp = fields.get(f"{side}КПП", "").strip()
    return Party(
        account=(fields.get(f"{side}Счет", "") or fields.get(f"{side}РасчСчет", "")).strip(),
        inn=inn, kpp="" if kpp in ("0", "000000000") else kpp, name=name.strip(),
        bank=fields.get(f"{side}Банк1", "").strip(), bank_city=fields.get(f"{side}Банк2", "").strip(),
        bik=fields.get(f"{side}БИК", "").strip(), correspondent_account=fields.get(f"{side}Корсчет", "").strip(),
    )


def _purpose(fields: dict[str, str]) -> str:
    """НазначениеПлатежа, with the numbered parts (НазначениеПлатежа1…6) some banks add that it does not already
    contain; banks that write only the parts get them joined."""
    main = fields.get("НазначениеПлатежа", "").strip()
    parts = [main] if main else []
    for n in range(1, 7):
        part = fields.get(f"НазначениеПлатежа{n}", "").strip()
        if part and part not in main:
            parts.append(part)
    return " ".join(parts)


def _add_document(section: _Section, end_line: int, result: ParsedStatement) -> None:
    fields, start = section.fields, section.start

    def problem(code: str, key: str, **params: Any) -> None:
        result.problems.append(Problem(section.lines.get(key, start), code, {"start": start, **params}))

    number = fields.get("Номер", "").strip()
    if not number:
        problem(ProblemCode.MISSING_FIELD, "Номер", field="Номер")
        return
    if not fields.get("Дата", "").strip():
        problem(ProblemCode.MISSING_FIELD, "Дата", field="Дата")
        return
    date = _date_or_none(fields["Дата"])
    if date is None:
        problem(ProblemCode.BAD_DATE, "Дата", field="Дата", value=fields["Дата"])
        return
    if not fields.get("Сумма", "").strip():
        problem(ProblemCode.MISSING_FIELD, "Сумма", field="Сумма")
        return
    amount = _amount_or_none(fields["Сумма"])
    if amount is None or amount <= 0:
        problem(ProblemCode.BAD_AMOUNT, "Сумма", field="Сумма", value=fields["Сумма"])
        return
    posting: dict[str, dt.date | None] = {}
    for key in ("ДатаСписано", "ДатаПоступило"):
        raw = fields.get(key, "").strip()
        posting[key] = _date_or_none(raw) if raw else None
        if raw and posting[key] is None:
            problem(ProblemCode.BAD_DATE, key, field=key, value=raw)
            return
    payer, payee = _party(fields, "Плательщик"), _party(fields, "Получатель")
    if not payer.account or not payee.account:
        missing = "ПлательщикСчет" if not payer.account else "ПолучательСчет"
        problem(ProblemCode.MISSING_FIELD, missing, field=missing)
        return
    result.documents.append(ExchangeDocument(
        kind=section.title, first_line=start, last_line=end_line, number=number, date=date, amount=amount,
        payer=payer, payee=payee, debited_on=posting["ДатаСписано"], credited_on=posting["ДатаПоступило"],
        purpose=_purpose(fields), fields=dict(fields), field_lines=dict(section.lines)))


def _add_balance(section: _Section, result: ParsedStatement) -> None:
    fields = section.fields
    values: dict[str, Decimal | None] = {}
    for key in ("НачальныйОстаток", "ВсегоПоступило", "ВсегоСписано", "КонечныйОстаток"):
        raw = fields.get(key, "").strip()
        values[key] = _amount_or_none(raw) if raw else None
        if raw and values[key] is None:
            result.problems.append(Problem(section.lines.get(key, section.start), ProblemCode.BAD_AMOUNT,
                                           {"field": key, "value": raw, "start": section.start}))
            return
    balance = AccountBalance(
        line=section.start, account=fields.get("РасчСчет", "").strip(),
        start=_date_or_none(fields.get("ДатаНачала", "")), end=_date_or_none(fields.get("ДатаКонца", "")),
        opening=values["НачальныйОстаток"], received=values["ВсегоПоступило"], paid=values["ВсегоСписано"],
        closing=values["КонечныйОстаток"])
    result.balances.append(balance)
    if None not in (balance.opening, balance.received, balance.paid, balance.closing):
        assert balance.opening is not None and balance.received is not None
        assert balance.paid is not None and balance.closing is not None
        if balance.opening + balance.received - balance.paid != balance.closing:
            result.problems.append(Problem(section.start, ProblemCode.BALANCE_DOES_NOT_ADD_UP, {
                "account": balance.account, "opening": balance.opening, "received": balance.received,
                "paid": balance.paid, "closing": balance.closing}))


# ------------------------------------------------------------------ writing
@dataclass(frozen=True)
class PaymentOrder:
    """A payment order to send to the bank (платёжное поручение)."""

    number: str
    date: dt.date
    amount: Decimal
    payer: Party
    payee: Party
    purpose: str
    kind: str = PAYMENT_ORDER
    operation_kind: str = "01"  # ВидОплаты: 01 = payment order
    priority: str = "5"  # Очередность: 5 = ordinary payments


@dataclass(frozen=True)
class ExportFile:
    """What a file of payment orders says about itself, and its documents."""

    accounts: Sequence[str]
    start: dt.date
    end: dt.date
    documents: Sequence[PaymentOrder]
    created_at: dt.datetime
    sender: str = "torg"
    receiver: str = ""


def _clean(value: object) -> str:
    return _LINE_BREAK.sub(" ", str(value)).strip()


def _day(value: dt.date) -> str:
    return value.strftime("%d.%m.%Y")


def _party_lines(side: str, party: Party) -> list[tuple[str, str]]:
    shown = f"ИНН {party.inn} {party.name}" if party.inn else party.name
    return [
        (f"{side}Счет", party.account), (side, shown), (f"{side}ИНН", party.inn), (f"{side}КПП", party.kpp),
        (f"{side}1", party.name), (f"{side}РасчСчет", party.account), (f"{side}Банк1", party.bank),
        (f"{side}Банк2", party.bank_city), (f"{side}БИК", party.bik),
        (f"{side}Корсчет", party.correspondent_account),
    ]


def render(export: ExportFile) -> bytes:
    """The file the bank's client imports: CRLF lines in Windows-1251 (a character the encoding lacks becomes
    "?"). Payment orders carry no posting dates: the bank fills them in its statement."""
    pairs: list[tuple[str, str]] = [
        ("ВерсияФормата", "1.03"), ("Кодировка", "Windows"), ("Отправитель", export.sender),
        ("Получатель", export.receiver), ("ДатаСоздания", _day(export.created_at.date())),
        ("ВремяСоздания", export.created_at.strftime("%H:%M:%S")), ("ДатаНачала", _day(export.start)),
        ("ДатаКонца", _day(export.end)),
    ]
    pairs += [("РасчСчет", account) for account in export.accounts]
    pairs.append(("Документ", PAYMENT_ORDER))
    out = [HEADER_LINE, *(f"{k}={_clean(v)}" for k, v in pairs)]
    for doc in export.documents:
        body: list[tuple[str, str]] = [
            ("Номер", doc.number), ("Дата", _day(doc.date)), ("Сумма", f"{doc.amount.quantize(CENT):f}"),
            *_party_lines("Плательщик", doc.payer), *_party_lines("Получатель", doc.payee),
            ("ВидПлатежа", ""), ("ВидОплаты", doc.operation_kind), ("Очередность", doc.priority),
            ("НазначениеПлатежа", doc.purpose),
        ]
        out.append(f"{DOCUMENT_START}={_clean(doc.kind)}")
        out += [f"{k}={_clean(v)}" for k, v in body]
        out.append(DOCUMENT_END)
    out.append(END_OF_FILE)
    return ("\r\n".join(out) + "\r\n").encode("cp1251", errors="replace")


# ------------------------------------------------------------------ acquiring credits
TRANSIT_ACCOUNT_PREFIXES = ("30233", "47422")
_ACQUIRING_WORDS = re.compile(r"эквайр|возмещение.{0,80}?экв", re.IGNORECASE | re.DOTALL)
_MERCHANT = re.compile(r"(?:мерчант|merchant|ТСТ)\s*(?:№|N|No\.?|#)?\s*:?\s*(\d{4,20})", re.IGNORECASE)
_REGISTRY_DATE = re.compile(r"(?:дата\s+реестра|реестр\S*\s+(?:от|за))\s*:?\s*(\d{2}\.\d{2}\.\d{4})",
                            re.IGNORECASE)
_OPERATIONS_DATE = re.compile(r"\bза\s+(\d{2}\.\d{2}\.\d{4})", re.IGNORECASE)
_COMMISSION = re.compile(r"комисси[яи]", re.IGNORECASE)
_SEGMENT_END = re.compile(r"возврат|мерчант|дата\s+реестра|оборот|ндс\s+не\s+облагается|;", re.IGNORECASE)
_REFUNDS = re.compile(r"возврат\S*(?:\s+покупк\S*)?\s*:?\s*(\d{1,15}(?:[.,]\d{1,2})?)", re.IGNORECASE)
_TURNOVER = re.compile(r"оборот\S*\s*:?\s*(\d{1,15}(?:[.,]\d{1,2})?)", re.IGNORECASE)
_PARENTHESES = re.compile(r"\([^)]*\)")
_DATES_AND_PERCENTS = re.compile(r"\d{2}\.\d{2}\.\d{4}|\d+(?:[.,]\d+)?\s*%")
_KOPECK_AMOUNT = re.compile(r"(?<![\d.,])\d{1,15}[.,]\d{2}(?![\d.,]\d)")


@dataclass(frozen=True)
class AcquiringDetails:
    """What a bank's credit for card payments says about itself."""

    merchant: str  # the merchant (terminal contract) number, "" when the text names none
    registry_date: dt.date | None  # the day of the card operations it pays for
    commission: Decimal  # the bank's commission, all its parts
    refunds: Decimal  # card refunds the bank deducted
    turnover: Decimal | None  # the gross the text names ("Оборот: …"), when it does
    commission_found: bool


def _money(text: str) -> Decimal:
    return Decimal(text.replace(",", ".")).quantize(CENT)


def is_acquiring_credit(payer_account: str, purpose: str) -> bool:
    """A bank's credit for card payments: from a transit account (30233…, 47422…) with a purpose about acquiring,
    or any credit whose purpose says «эквайринг» / «Возмещение … экв»."""
    if _ACQUIRING_WORDS.search(purpose):
        return True
    return payer_account.startswith(TRANSIT_ACCOUNT_PREFIXES) and bool(
        re.search(r"карт|мерчант|реестр", purpose, re.IGNORECASE))


def read_acquiring_credit(purpose: str) -> AcquiringDetails:
    """Merchant, registry date, commission (the sum of all its parts; VAT «в т.ч.» inside them is not added),
    refunds and turnover from the purpose of an acquiring credit, e.g. «Зачисление средств по операциям
    эквайринга. Мерчант №781000000001. Дата реестра 08.02.2026. Комиссия 58.50. Возврат покупки 0.00/0.00.»"""
    merchant = _MERCHANT.search(purpose)
    registry = _REGISTRY_DATE.search(purpose) or _OPERATIONS_DATE.search(purpose)
    commission = Decimal("0.00")
    found = False
    for start in _COMMISSION.finditer(purpose):
        rest = purpose[start.end():]
        stop = _SEGMENT_END.search(rest)
        segment = _PARENTHESES.sub(" ", rest[:stop.start()] if stop else rest)
        for amount in _KOPECK_AMOUNT.findall(_DATES_AND_PERCENTS.sub(" ", segment)):
            commission += _money(amount)
            found = True
    refunds = _REFUNDS.search(purpose)
    turnover = _TURNOVER.search(purpose)
    return AcquiringDetails(
        merchant=merchant.group(1) if merchant else "",
        registry_date=_date_or_none(registry.group(1)) if registry else None,
        commission=commission, refunds=_money(refunds.group(1)) if refunds else Decimal("0.00"),
        turnover=_money(turnover.group(1)) if turnover else None, commission_found=found)


# ------------------------------------------------------------------ order numbers in a purpose text
_NUMBER_REF = re.compile(r"(?:№|N\s|No\.?|#)\s*([A-Za-zА-ЯЁа-яё]{0,4}\s?-?\s?\d{1,12})")
_PREFIXED = re.compile(r"(?<![\w-])([A-ZА-ЯЁ]{1,4})-(\d{1,12})(?!\d)")


@dataclass(frozen=True)
class NumberRef:
    prefix: str  # upper-case letters before the digits, "" for a bare number
    value: int  # the digits as a number: "000012" and "12" are one number


def number_refs(purpose: str) -> set[NumberRef]:
    """Document numbers named in a purpose text: after «№» («N», «No», «#») and in the prefixed form «РМ-000012».
    Amounts and dates are not numbers of documents: they are never after «№» and have no prefix."""
    refs: set[NumberRef] = set()
    for match in _NUMBER_REF.finditer(purpose):
        token = re.sub(r"[\s-]", "", match.group(1))
        letters = re.match(r"[^\d]*", token).group(0)  # type: ignore[union-attr]
        refs.add(NumberRef(letters.upper(), int(token[len(letters):])))
    for match in _PREFIXED.finditer(purpose):
        refs.add(NumberRef(match.group(1).upper(), int(match.group(2))))
    return refs


def split_number(number: str) -> NumberRef | None:
    """Our document number «РМ-000012» as (prefix, value)."""
    match = re.fullmatch(r"\s*([^\d]*?)\s*-?\s*(\d+)\s*", number)
    if not match:
        return None
    return NumberRef(match.group(1).upper(), int(match.group(2)))


def refers_to(refs: Iterable[NumberRef], number: str) -> bool:
    """Whether the purpose's numbers name this document: the same prefix and digits, or the bare digits."""
    own = split_number(number)
    if own is None:
        return False
    return any(ref.value == own.value and ref.prefix in ("", own.prefix) for ref in refs)
