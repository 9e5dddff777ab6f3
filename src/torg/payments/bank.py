"""Bank statements: import a 1CClientBankExchange file, recognise each line (a client's payment, the bank's credit
for card payments, our own refund, a transfer between our accounts), post what is recognised, let a person match
the rest; export payment orders for the bank.

    import_bank_statement(data, user, file_name)   the file's lines on our accounts, each once (dedup key)
    match_statement_line(line, partner, allocations, user)   a person chooses the client and the orders
    ignore_statement_line / restore_statement_line  a person says a line needs nothing / changes their mind
    correct_acquiring_line(line, registry_date, commission, merchant, user)   a person fixes what was read
    post_statement_lines(lines, user)   matched lines become incoming payments, acquiring lines acquiring credits
    export_payment_orders(bank_account, start, end)   refunds by bank transfer as a file for the bank

Every change goes through these functions, inside one transaction per call (posting: one per line, so that one
refused line does not hold back the others), and writes a change-log entry on the line.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.db.models import Q, Sum
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import BankAccount, Counterparty, Partner
from torg.core.documents import log_change, save_document, service_transaction
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.money import round_money
from torg.core.validators import validate_bank_account, validate_inn
from torg.payments import bank_exchange as bx
from torg.payments.bank_exchange import Problem, ProblemCode
from torg.payments.models import (
    AcquiringClearing,
    AcquiringClearingTotal,
    AcquiringCredit,
    BankLineAllocation,
    BankStatement,
    BankStatementLine,
    IncomingPayment,
    LineDirection,
    LineStatus,
    PaymentAllocation,
    PaymentMethod,
    Refund,
)
from torg.payments.services import _idempotent_create, _left_on_order, register_payment
from torg.sales.models import ClientSettlementsTotal, OrderStatus, SalesOrder

ZERO = Decimal("0.00")


class BankErrorCode(StrEnum):
    """Refusals of the bank-statement services (tests assert these)."""

    NOT_A_BANK_FILE = "not_a_bank_file"  # nothing could be read: nothing imported
    NOT_MATCHABLE = "line_not_matchable"  # only incoming lines of clients, not yet posted, are matched
    NOT_READY = "line_not_ready"  # only matched and acquiring lines are posted
    ACQUIRING_DIFFERENCE = "acquiring_difference"  # the gross differs from the card payments in the clearing
    NO_REGISTRY_DATE = "no_registry_date"  # an acquiring credit needs the day of the card operations


class NoteCode(StrEnum):
    """Why a line has its status, shown on the line (stored as code and values, shown in the reader's language)."""

    BY_INN = "by_inn"
    BY_ACCOUNT = "by_account"
    NO_CLIENT = "no_client"
    SEVERAL_CLIENTS = "several_clients"
    ORDERS_NAMED = "orders_named"
    ORDER_BY_AMOUNT = "order_by_amount"
    ORDERS_BY_AMOUNT = "orders_by_amount"
    TO_ADVANCE = "to_advance"
    INTERNAL = "internal"
    ACQUIRING = "acquiring"
    NO_REGISTRY_DATE = "no_registry_date"
    NO_COMMISSION = "no_commission"
    TURNOVER_DIFFERS = "turnover_differs"
    OUR_REFUND = "our_refund"
    OUTGOING = "outgoing"
    MATCHED_BY_PERSON = "matched_by_person"
    IGNORED_BY_PERSON = "ignored_by_person"
    CORRECTED_BY_PERSON = "corrected_by_person"


NOTES: dict[str, Any] = {
    NoteCode.BY_INN: gettext_lazy("Client found by the payer's INN %(inn)s."),
    NoteCode.BY_ACCOUNT: gettext_lazy("Client found by the payer's account %(account)s."),
    NoteCode.NO_CLIENT: gettext_lazy("No client has the payer's INN %(inn)s or account %(account)s: choose the "
                                     "client, or ignore the line."),
    NoteCode.SEVERAL_CLIENTS: gettext_lazy("The payer's INN %(inn)s belongs to several clients (%(names)s): "
                                           "choose one."),
    NoteCode.ORDERS_NAMED: gettext_lazy("Orders named in the purpose: %(orders)s."),
    NoteCode.ORDER_BY_AMOUNT: gettext_lazy("No order is named in the purpose; order %(order)s has exactly this "
                                           "amount left to pay."),
    NoteCode.ORDERS_BY_AMOUNT: gettext_lazy("No order is named in the purpose; %(count)s orders have exactly this "
                                            "amount left to pay, the oldest is proposed: %(order)s."),
    NoteCode.TO_ADVANCE: gettext_lazy("%(amount)s is not for any open order named in the purpose or of this "
                                      "amount: it becomes the client's advance (and pays its open shipments)."),
    NoteCode.INTERNAL: gettext_lazy("A transfer between our own accounts: nothing to post."),
    NoteCode.ACQUIRING: gettext_lazy("The bank's credit for card payments: %(gross)s of card payments = "
                                     "%(amount)s credited + %(commission)s commission."),
    NoteCode.NO_REGISTRY_DATE: gettext_lazy("The purpose names no registry date: enter the day of the card "
                                            "payments it pays for."),
    NoteCode.NO_COMMISSION: gettext_lazy("The purpose names no commission: 0.00 is taken; correct it if the bank "
                                         "kept one."),
    NoteCode.TURNOVER_DIFFERS: gettext_lazy("The purpose names a turnover of %(turnover)s, not the credited amount "
                                            "plus the commission (%(gross)s)."),
    NoteCode.OUR_REFUND: gettext_lazy("Our refund %(refund)s: already in the books."),
    NoteCode.OUTGOING: gettext_lazy("Money paid out with no document of ours to match it (payments to suppliers "
                                    "are not kept in torg yet)."),
    NoteCode.MATCHED_BY_PERSON: gettext_lazy("Matched by %(user)s."),
    NoteCode.IGNORED_BY_PERSON: gettext_lazy("Ignored by %(user)s: %(reason)s"),
    NoteCode.CORRECTED_BY_PERSON: gettext_lazy("Registry date, commission or merchant corrected by %(user)s."),
}


def note(code: str, **params: Any) -> dict[str, Any]:
    return {"code": str(code), "params": {k: str(v) for k, v in params.items()}}


def note_texts(line: BankStatementLine) -> list[str]:
    texts = []
    for entry in line.notes or []:
        template = NOTES.get(entry.get("code", ""))
        if template is None:
            continue
        try:
            texts.append(str(template) % entry.get("params", {}))
        except (KeyError, TypeError, ValueError):
            texts.append(str(template))
    return texts


def _fmt(value: Decimal) -> str:
    return number_format(value, 2, use_l10n=True, force_grouping=True)


def _day(value: dt.date | None) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else "—"


def _moment(day: dt.date) -> dt.datetime:
    """A document made from a statement line is dated at noon of the day the money moved (ДатаПоступило /
    ДатаСписано, never the document's own date): noon keeps it on that day in any time zone setting."""
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day, 12))


def problems_of(statement: BankStatement) -> list[Problem]:
    return [Problem.from_dict(p) for p in statement.problems or []]


def _user_name(user: Any) -> str:
    if user is None or not getattr(user, "pk", None):
        return "—"
    return user.get_full_name() or user.get_username()


# ------------------------------------------------------------------ import
@dataclass
class ImportResult:
    """What an import did: the statement it made (or the earlier one, when the file brought nothing new)."""

    statement: BankStatement | None
    documents: int = 0  # document sections in the file
    new: int = 0  # lines added
    duplicates: int = 0  # documents already imported (or twice in the file)
    not_imported: int = 0  # broken sections, documents of accounts we do not have, without a posting date
    problems: list[Problem] = field(default_factory=list)
    already_imported: bool = False  # the same file was imported before and brings nothing new
    by_status: dict[str, int] = field(default_factory=dict)


@dataclass
class _Side:
    """One of our accounts' side of a document: where the money moved for us."""

    direction: str
    account: BankAccount
    counterparty: bx.Party
    posting_date: dt.date


def dedup_key(account: str, direction: str, number: str, date: dt.date, amount: Decimal, counterparty_account: str,
              counterparty_inn: str) -> str:
    """(our account, direction, Номер, Дата, Сумма, counterparty account, INN): the identity of a statement line
    whatever file brings it (reference §3.1)."""
    key = "|".join([account, direction, number, date.isoformat(), f"{round_money(amount):f}", counterparty_account,
                    counterparty_inn])
    return key if len(key) <= 200 else "sha256:" + hashlib.sha256(key.encode()).hexdigest()


def import_bank_statement(data: bytes, *, user: Any = None, file_name: str = "") -> ImportResult:
    """Import a bank statement file: each document on one of our accounts becomes a statement line, once.

    The file is read whatever is wrong with parts of it: broken sections, documents of accounts we do not have and
    documents without a posting date are reported line by line and not imported; the rest is. A document already
    imported (from this file or another) is counted as a duplicate and not added; a file that brings nothing new
    leaves no trace. Incoming lines are matched to clients (by the payer's INN and account) and to their orders
    (by the numbers in the purpose, or the amount); the bank's credits for card payments, our own refunds and
    transfers between our accounts are recognised. Nothing is posted: `post_statement_lines` does that.
    Refused (nothing written) only when the file is not a bank file at all."""
    parsed = bx.parse(data)
    if not parsed.is_bank_file:
        return ImportResult(None, problems=parsed.problems)
    sha = hashlib.sha256(data).hexdigest()
    for attempt in (1, 2):
        try:
            with service_transaction(own_savepoint=True):
                return _import(parsed, sha, user=user, file_name=file_name)
        except IntegrityError:
            # Someone imported the same documents at the same moment: their lines are in now, ours are duplicates.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _our_accounts(parsed: bx.ParsedStatement) -> dict[str, list[BankAccount]]:
    numbers = {a for _line, a in parsed.accounts}
    for doc in parsed.documents:
        numbers |= {doc.payer.account, doc.payee.account}
    ours: dict[str, list[BankAccount]] = defaultdict(list)
    for account in (BankAccount.objects.filter(organization__isnull=False, number__in=sorted(numbers))
                    .select_related("organization").order_by("deletion_mark", "pk")):
        ours[account.number].append(account)
    return ours


def _pick(accounts: list[BankAccount], bik: str) -> BankAccount | None:
    if not accounts:
        return None
    return next((a for a in accounts if a.bik == bik), accounts[0])


def _sides(doc: bx.ExchangeDocument, ours: dict[str, list[BankAccount]],
           problems: list[Problem]) -> list[_Side]:
    """Our sides of a document: incoming on the payee's account if it is ours (ДатаПоступило), outgoing on the
    payer's (ДатаСписано). A transfer between two of our accounts has both."""
    payee = _pick(ours.get(doc.payee.account, []), doc.payee.bik)
    payer = _pick(ours.get(doc.payer.account, []), doc.payer.bik)
    params = {"number": doc.number, "date": _day(doc.date), "amount": _fmt(doc.amount)}
    if payee is None and payer is None:
        problems.append(Problem(doc.first_line, ProblemCode.UNKNOWN_ACCOUNT,
                                {**params, "payer": doc.payer.account, "payee": doc.payee.account}))
        return []
    sides = []
    if payee is not None and doc.credited_on:
        sides.append(_Side(LineDirection.IN, payee, doc.payer, doc.credited_on))
    if payer is not None and doc.debited_on:
        sides.append(_Side(LineDirection.OUT, payer, doc.payee, doc.debited_on))
    if not sides:
        account, key = (payee.number, "ДатаПоступило") if payee is not None else (payer.number, "ДатаСписано")  # type: ignore[union-attr]
        problems.append(Problem(doc.first_line, ProblemCode.NO_POSTING_DATE, {**params, "field": key,
                                                                              "account": account}))
    return sides


def _import(parsed: bx.ParsedStatement, sha: str, *, user: Any, file_name: str) -> ImportResult:
    problems = list(parsed.problems)
    ours = _our_accounts(parsed)
    for line_no, account in parsed.accounts:
        if account not in ours:
            problems.append(Problem(line_no, ProblemCode.UNKNOWN_HEADER_ACCOUNT, {"account": account}))
    result = ImportResult(None, documents=parsed.sections)
    result.not_imported = parsed.sections - len(parsed.documents)
    lines: list[BankStatementLine] = []
    first_seen: dict[str, int] = {}
    for doc in parsed.documents:
        sides = _sides(doc, ours, problems)
        if not sides:
            result.not_imported += 1
        for side in sides:
            key = dedup_key(side.account.number, side.direction, doc.number, doc.date, doc.amount,
                            side.counterparty.account, side.counterparty.inn)
            if key in first_seen:
                result.duplicates += 1
                problems.append(Problem(doc.first_line, ProblemCode.DUPLICATE_IN_FILE, {
                    "number": doc.number, "date": _day(doc.date), "amount": _fmt(doc.amount),
                    "first": first_seen[key]}))
                continue
            first_seen[key] = doc.first_line
            lines.append(_new_line(doc, side, key))
    existing = set(BankStatementLine.objects.filter(dedup_key__in=list(first_seen)).values_list("dedup_key",
                                                                                                flat=True))
    result.duplicates += len(existing)
    lines = [ln for ln in lines if ln.dedup_key not in existing]
    if not lines:
        result.problems = sorted(problems, key=lambda p: p.line)
        earlier = BankStatement.objects.filter(sha256=sha).order_by("imported_at", "pk").first()
        if earlier is not None:
            result.statement, result.already_imported = earlier, True
            return result
    _recognise(lines, problems=problems)
    result.problems = sorted(problems, key=lambda p: p.line)
    accounts = {ln.bank_account_id for ln in lines}
    statement = BankStatement.objects.create(
        file_name=file_name[:255], sha256=sha, encoding=parsed.encoding, format_version=parsed.version[:10],
        sender=parsed.sender[:200], period_start=parsed.period_start, period_end=parsed.period_end,
        bank_account_id=accounts.pop() if len(accounts) == 1 else None, imported_by=_user_or_none(user),
        documents=result.documents, new_lines=len(lines), duplicates=result.duplicates,
        not_imported=result.not_imported, problems=[p.as_dict() for p in result.problems],
        balances=[_balance_dict(b) for b in parsed.balances])
    for ln in lines:
        ln.statement = statement
    BankStatementLine.objects.bulk_create(lines)
    BankLineAllocation.objects.bulk_create([BankLineAllocation(line=ln, order_id=order_id, amount=amount)
                                            for ln in lines for order_id, amount in getattr(ln, "_proposed", [])])
    log_change(statement, ChangeLogEntry.Action.CREATED, user,
               {"new_lines": len(lines), "duplicates": result.duplicates, "not_imported": result.not_imported})
    result.statement, result.new = statement, len(lines)
    counts: dict[str, int] = defaultdict(int)
    for ln in lines:
        counts[ln.status] += 1
    result.by_status = dict(counts)
    return result


def _user_or_none(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None


def _balance_dict(balance: bx.AccountBalance) -> dict[str, Any]:
    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {"line": balance.line, "account": balance.account, "start": text(balance.start),
            "end": text(balance.end), "opening": text(balance.opening), "received": text(balance.received),
            "paid": text(balance.paid), "closing": text(balance.closing)}


def _new_line(doc: bx.ExchangeDocument, side: _Side, key: str) -> BankStatementLine:
    party = side.counterparty
    line = BankStatementLine(
        source_line=doc.first_line, organization_id=side.account.organization_id, bank_account=side.account,
        direction=side.direction, kind=doc.kind[:60], number=doc.number[:30], date=doc.date,
        posting_date=side.posting_date, amount=doc.amount, counterparty_name=party.name[:300],
        counterparty_inn=party.inn[:12], counterparty_kpp=party.kpp[:9], counterparty_account=party.account[:20],
        counterparty_bik=party.bik[:9], counterparty_bank=party.bank[:300], purpose=doc.purpose,
        dedup_key=key, fields=doc.fields, status=LineStatus.UNMATCHED,
    )
    line._field_lines = doc.field_lines  # type: ignore[attr-defined]  # where each key was, for problems
    return line


# ------------------------------------------------------------------ recognising lines
def _recognise(lines: Sequence[BankStatementLine], *, problems: list[Problem]) -> None:
    """Give each new line its status: internal transfer, acquiring credit, our refund, outgoing, or an incoming
    payment matched to a client (and orders) or left for a person."""
    our_numbers = set(BankAccount.objects.filter(organization__isnull=False,
                                                 number__in={ln.counterparty_account for ln in lines})
                      .values_list("number", flat=True))
    clients: list[BankStatementLine] = []
    outgoing: list[BankStatementLine] = []
    for ln in lines:
        if ln.counterparty_account in our_numbers:
            ln.status, ln.notes = LineStatus.IGNORED, [note(NoteCode.INTERNAL)]
        elif ln.direction == LineDirection.OUT:
            outgoing.append(ln)
        elif bx.is_acquiring_credit(ln.counterparty_account, ln.purpose):
            _read_acquiring(ln)
        else:
            clients.append(ln)
    _link_refunds(outgoing)
    _find_clients(clients, problems)
    _propose_allocations([ln for ln in clients if ln.status == LineStatus.MATCHED])


def _read_acquiring(ln: BankStatementLine) -> None:
    details = bx.read_acquiring_credit(ln.purpose)
    ln.status, ln.is_acquiring = LineStatus.ACQUIRING, True
    ln.merchant, ln.registry_date = details.merchant[:20], details.registry_date
    ln.commission, ln.card_refunds = details.commission, details.refunds
    ln.notes = [note(NoteCode.ACQUIRING, gross=_fmt(ln.gross), amount=_fmt(ln.amount),
                     commission=_fmt(ln.commission))]
    if details.registry_date is None:
        ln.notes.append(note(NoteCode.NO_REGISTRY_DATE))
    if not details.commission_found:
        ln.notes.append(note(NoteCode.NO_COMMISSION))
    if details.turnover is not None and details.turnover != ln.gross:
        ln.notes.append(note(NoteCode.TURNOVER_DIFFERS, turnover=_fmt(details.turnover), gross=_fmt(ln.gross)))


def export_number(number: str) -> str:
    """The number a payment order carries for the bank: our number's digits without the prefix and leading zeros
    («РМ-000012» → «12»), as 1C writes them."""
    ref = bx.split_number(number)
    return str(ref.value) if ref is not None else number


def _link_refunds(lines: Sequence[BankStatementLine]) -> None:
    """An outgoing line that is a refund we exported (same account, number, date and amount) is already in the books;
    the rest are payments we keep no document for."""
    for ln in lines:
        ln.status, ln.notes = LineStatus.OUTGOING, [note(NoteCode.OUTGOING)]
    if not lines:
        return
    low, high = min(ln.date for ln in lines), max(ln.date for ln in lines)
    refunds = (Refund.objects.filter(posted=True, method=PaymentMethod.BANK,
                                     bank_account_id__in={ln.bank_account_id for ln in lines},
                                     amount__in={ln.amount for ln in lines}, statement_line__isnull=True,
                                     date__gte=_moment(low) - dt.timedelta(days=1),
                                     date__lt=_moment(high) + dt.timedelta(days=1))
               .order_by("date", "pk"))
    by_key: dict[tuple[Any, ...], list[Refund]] = defaultdict(list)
    for refund_doc in refunds:
        by_key[(refund_doc.bank_account_id, export_number(refund_doc.number), round_money(refund_doc.amount),
                timezone.localtime(refund_doc.date).date())].append(refund_doc)
    for ln in lines:
        found = by_key.get((ln.bank_account_id, ln.number.lstrip("0") or "0", ln.amount, ln.date))
        if found:
            refund_doc = found.pop(0)
            ln.status, ln.refund, ln.partner_id = LineStatus.POSTED, refund_doc, refund_doc.partner_id
            ln.notes = [note(NoteCode.OUR_REFUND, refund=refund_doc)]


def _valid_inn(inn: str) -> bool:
    try:
        validate_inn(inn)
    except ValidationError:
        return False
    return True


def _find_clients(lines: Sequence[BankStatementLine], problems: list[Problem]) -> None:
    """The client of each incoming line: by the payer's account among the counterparties' accounts (the most
    specific), else by the payer's INN when it belongs to one client. Invalid INNs are reported and not used."""
    inns: set[str] = set()
    for ln in lines:
        if ln.counterparty_inn and not _valid_inn(ln.counterparty_inn):
            problems.append(Problem(_field_line(ln, "ПлательщикИНН"), ProblemCode.INVALID_INN,
                                    {"inn": ln.counterparty_inn}))
        elif ln.counterparty_inn:
            inns.add(ln.counterparty_inn)
        if ln.counterparty_account and ln.counterparty_bik:
            try:
                validate_bank_account(ln.counterparty_account, ln.counterparty_bik)
            except ValidationError:
                problems.append(Problem(_field_line(ln, "ПлательщикСчет"), ProblemCode.INVALID_ACCOUNT,
                                        {"account": ln.counterparty_account, "bik": ln.counterparty_bik}))
    by_account: dict[str, list[BankAccount]] = defaultdict(list)
    for account in (BankAccount.objects.filter(counterparty__isnull=False, deletion_mark=False,
                                               number__in={ln.counterparty_account for ln in lines})
                    .select_related("counterparty__partner")):
        by_account[account.number].append(account)
    by_inn: dict[str, list[Counterparty]] = defaultdict(list)
    for cp in (Counterparty.objects.filter(inn__in=inns, deletion_mark=False).select_related("partner")
               .order_by("pk")):
        by_inn[cp.inn].append(cp)
    for ln in lines:
        inn = ln.counterparty_inn if ln.counterparty_inn in inns else ""
        cps = [a.counterparty for a in by_account.get(ln.counterparty_account, [])
               if (not a.bik or not ln.counterparty_bik or a.bik == ln.counterparty_bik)
               and (not inn or not a.counterparty.inn or a.counterparty.inn == inn)]
        how = note(NoteCode.BY_ACCOUNT, account=ln.counterparty_account)
        if not cps and inn:
            cps, how = by_inn.get(inn, []), note(NoteCode.BY_INN, inn=inn)
        partners = {cp.partner_id: cp.partner for cp in cps if not cp.partner.deletion_mark}
        if len(partners) == 1:
            chosen = [cp for cp in cps if cp.partner_id in partners]
            cp = next((c for c in chosen if ln.counterparty_kpp and c.kpp == ln.counterparty_kpp), chosen[0])
            ln.status, ln.partner, ln.counterparty, ln.notes = LineStatus.MATCHED, cp.partner, cp, [how]
        elif partners:
            ln.status = LineStatus.UNMATCHED
            ln.notes = [note(NoteCode.SEVERAL_CLIENTS, inn=inn or ln.counterparty_account,
                             names=", ".join(sorted(p.name for p in partners.values())))]
        else:
            ln.status = LineStatus.UNMATCHED
            ln.notes = [note(NoteCode.NO_CLIENT, inn=ln.counterparty_inn or "—",
                             account=ln.counterparty_account or "—")]


def _field_line(ln: BankStatementLine, key: str) -> int:
    return getattr(ln, "_field_lines", {}).get(key, ln.source_line)


@dataclass
class OpenOrder:
    order: SalesOrder
    left: Decimal  # what is left to pay on it, less what matched lines not yet posted will pay


def open_orders(pairs: Iterable[tuple[int, int]], *,
                exclude_line: int | None = None) -> dict[tuple[int, int], list[OpenOrder]]:
    """The open orders of many (organization, client) pairs at once, oldest first, with what is left to pay on each
    (the same figure the payment page shows) less what lines already matched to them, not yet posted, will pay.
    Three queries whatever the number of clients."""
    pairs = set(pairs)
    if not pairs:
        return {}
    orders = [o for o in SalesOrder.objects.filter(organization_id__in={o for o, _p in pairs},
                                                   partner_id__in={p for _o, p in pairs}, posted=True)
              .exclude(status=OrderStatus.NOT_AGREED).order_by("date", "pk")
              .only("pk", "number", "date", "amount", "status", "organization_id", "partner_id")
              if (o.organization_id, o.partner_id) in pairs]
    ids = [o.pk for o in orders]
    settled = {(r["order_id"], None): (round_money(r["shipped"]), round_money(r["paid"]))
               for r in ClientSettlementsTotal.objects.filter(order_id__in=ids, shipment_id__isnull=True)
               .values("order_id", "shipped", "paid")}
    pending_qs = BankLineAllocation.objects.filter(order_id__in=ids, line__status=LineStatus.MATCHED)
    if exclude_line is not None:
        pending_qs = pending_qs.exclude(line_id=exclude_line)
    pending = {r["order_id"]: round_money(r["s"]) for r in
               pending_qs.values("order_id").annotate(s=Sum("amount")).order_by()}
    result: dict[tuple[int, int], list[OpenOrder]] = defaultdict(list)
    for order in orders:
        left = _left_on_order(order, settled) - pending.get(order.pk, ZERO)
        if left > 0:
            result[(order.organization_id, order.partner_id)].append(OpenOrder(order, left))
    return result


def _propose_allocations(lines: Sequence[BankStatementLine]) -> None:
    """Orders each matched line pays: those its purpose names (oldest first, each up to what is left on it), else
    the one open order with exactly this amount left; the rest of the line is the client's advance."""
    available = open_orders({(ln.organization_id, ln.partner_id) for ln in lines})  # type: ignore[misc]
    for ln in lines:
        orders = [o for o in available.get((ln.organization_id, ln.partner_id), []) if o.left > 0]  # type: ignore[arg-type]
        ln._proposed, notes = propose(ln.purpose, ln.amount, orders)  # type: ignore[attr-defined]
        ln.notes.extend(notes)


def propose(purpose: str, amount: Decimal,
            orders: list[OpenOrder]) -> tuple[list[tuple[int, Decimal]], list[dict[str, Any]]]:
    """(order id, amount) pairs for a payment of `amount` with this purpose, and the notes that say why; the
    open orders' `left` is lowered by what is taken (so the next line of the same file sees it)."""
    refs = bx.number_refs(purpose)
    named = [o for o in orders if bx.refers_to(refs, o.order.number)]
    taken: list[tuple[int, Decimal]] = []
    rest = amount
    if named:
        for o in named:
            take = min(o.left, rest)
            if take <= 0:
                break
            taken.append((o.order.pk, take))
            o.left -= take
            rest -= take
        how = note(NoteCode.ORDERS_NAMED, orders=", ".join(o.order.number for o in named))
    else:
        exact = [o for o in orders if o.left == amount]
        if exact:
            chosen = exact[0]
            taken.append((chosen.order.pk, amount))
            chosen.left -= amount
            rest = ZERO
            how = (note(NoteCode.ORDER_BY_AMOUNT, order=chosen.order.number) if len(exact) == 1 else
                   note(NoteCode.ORDERS_BY_AMOUNT, count=len(exact), order=chosen.order.number))
        else:
            return [], [note(NoteCode.TO_ADVANCE, amount=_fmt(amount))]
    notes = [how]
    if rest > 0:
        notes.append(note(NoteCode.TO_ADVANCE, amount=_fmt(rest)))
    return taken, notes


# ------------------------------------------------------------------ a person's decisions
def _locked(line: BankStatementLine) -> BankStatementLine:
    return BankStatementLine.objects.select_for_update().get(pk=line.pk)


def _set_status(line: BankStatementLine, status: str, user: Any, comment: str = "", **changes: Any) -> None:
    before = line.status
    line.status = status
    line.save()
    log_change(line, ChangeLogEntry.Action.CHANGED, user, {"status": [before, status], **changes}, comment)


def match_statement_line(line: BankStatementLine, partner: Partner, allocations: Sequence[tuple[int, Decimal]], *,
                         user: Any = None, counterparty: Counterparty | None = None) -> BankStatementLine:
    """A person says whose money an incoming line is, and which of the client's open orders it pays (order id,
    amount); the rest is the client's advance. The line becomes matched, ready to post.

    Refused: a line that is not an incoming client payment or is already posted; an order that is not an open
    order of this client in the line's organization; an amount above what is left to pay on the order; an
    allocation above the line's amount. Nothing is changed on a refusal."""
    with service_transaction():
        current = _locked(line)
        if not current.can_match():
            raise CoreError(BankErrorCode.NOT_MATCHABLE, _(
                "%(line)s is %(status)s: only an incoming client payment not yet posted is matched.")
                % {"line": current, "status": current.get_status_display()})
        errors: dict[str, list[str]] = {}
        # Its own earlier proposal is not "someone else's pending payment".
        left = {o.order.pk: o for o in open_orders([(current.organization_id, partner.pk)], exclude_line=current.pk)
                .get((current.organization_id, partner.pk), [])}
        total = ZERO
        chosen: list[tuple[int, Decimal]] = []
        for n, (order_id, amount) in enumerate(allocations, start=1):
            amount = round_money(amount)
            if amount <= 0:
                continue
            if order_id not in left:
                errors.setdefault(f"orders.{n}", []).append(
                    _("Line %(n)s: this is not an open order of %(client)s.") % {"n": n, "client": partner})
                continue
            if amount > left[order_id].left:
                errors.setdefault(f"orders.{n}", []).append(
                    _("Line %(n)s: only %(left)s is left to pay on %(order)s.")
                    % {"n": n, "left": _fmt(left[order_id].left), "order": left[order_id].order.number})
            total += amount
            chosen.append((order_id, amount))
        if total > current.amount:
            errors.setdefault("orders", []).append(
                _("The orders add up to %(total)s, more than the line's %(amount)s.")
                % {"total": _fmt(total), "amount": _fmt(current.amount)})
        if counterparty is not None and counterparty.partner_id != partner.pk:
            errors.setdefault("counterparty", []).append(_("This counterparty is not the client's."))
        if errors:
            raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
        before_partner = current.partner_id
        current.partner, current.counterparty = partner, counterparty
        current.notes = [note(NoteCode.MATCHED_BY_PERSON, user=_user_name(user))]
        if total < current.amount:
            current.notes.append(note(NoteCode.TO_ADVANCE, amount=_fmt(current.amount - total)))
        current.allocations.all().delete()
        BankLineAllocation.objects.bulk_create([BankLineAllocation(line=current, order_id=o, amount=a)
                                                for o, a in chosen])
        _set_status(current, LineStatus.MATCHED, user, partner=[before_partner, partner.pk],
                    orders=[[o, str(a)] for o, a in chosen])
    line.refresh_from_db()
    return line


def ignore_statement_line(line: BankStatementLine, *, user: Any = None, reason: str = "") -> BankStatementLine:
    """A person says a line needs nothing (a loan, a tax refund, a payment already entered by hand). Refused for a
    posted line."""
    with service_transaction():
        current = _locked(line)
        if not current.can_ignore():
            raise CoreError(BankErrorCode.NOT_MATCHABLE, _("%(line)s is %(status)s: it cannot be ignored.")
                            % {"line": current, "status": current.get_status_display()})
        current.notes = [*current.notes, note(NoteCode.IGNORED_BY_PERSON, user=_user_name(user),
                                              reason=reason.strip() or "—")]
        _set_status(current, LineStatus.IGNORED, user, comment=reason)
    line.refresh_from_db()
    return line


def restore_statement_line(line: BankStatementLine, *, user: Any = None) -> BankStatementLine:
    """Take back "ignore": the line is recognised again as it was imported (acquiring, outgoing, or matched to the
    client it had — else to be matched)."""
    with service_transaction():
        current = _locked(line)
        if not current.can_restore():
            raise CoreError(BankErrorCode.NOT_MATCHABLE, _("%(line)s is not ignored.") % {"line": current})
        if current.is_acquiring:
            status = LineStatus.ACQUIRING
        elif current.direction == LineDirection.OUT:
            status = LineStatus.OUTGOING
        else:
            status = LineStatus.MATCHED if current.partner_id else LineStatus.UNMATCHED
        current.notes = [n for n in current.notes if n.get("code") != NoteCode.IGNORED_BY_PERSON]
        _set_status(current, status, user)
    line.refresh_from_db()
    return line


def correct_acquiring_line(line: BankStatementLine, *, registry_date: dt.date | None, commission: Decimal,
                           merchant: str = "", user: Any = None) -> BankStatementLine:
    """A person corrects what was read from an acquiring credit's purpose: the day of the card operations, the
    commission, the merchant number. Refused unless the line is an acquiring credit not yet posted."""
    with service_transaction():
        current = _locked(line)
        if current.status != LineStatus.ACQUIRING:
            raise CoreError(BankErrorCode.NOT_MATCHABLE, _("%(line)s is not an acquiring credit to post.")
                            % {"line": current})
        commission = round_money(commission)
        if commission < 0:
            raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."),
                            fields={"commission": [_("The commission cannot be negative.")]})
        before = [str(current.registry_date), str(current.commission), current.merchant]
        current.registry_date, current.commission, current.merchant = registry_date, commission, merchant[:20]
        current.notes = [note(NoteCode.ACQUIRING, gross=_fmt(current.gross), amount=_fmt(current.amount),
                              commission=_fmt(current.commission)),
                         note(NoteCode.CORRECTED_BY_PERSON, user=_user_name(user))]
        _set_status(current, LineStatus.ACQUIRING, user,
                    acquiring=[before, [str(registry_date), str(commission), current.merchant]])
    line.refresh_from_db()
    return line


# ------------------------------------------------------------------ acquiring: what the clearing holds
@dataclass
class ClearingCheck:
    """An acquiring line against the card payments still in the clearing for its day."""

    expected: Decimal  # card payments (less card refunds) of that day still owed by the bank
    merchant: str  # the clearing key it closes: its merchant when card payments name it, else ""
    gross: Decimal

    @property
    def difference(self) -> Decimal:
        return self.gross - self.expected


def clearing_checks(lines: Iterable[BankStatementLine]) -> dict[int, ClearingCheck]:
    """For acquiring lines, in one query: what the clearing holds for the day and merchant each pays for. A
    merchant's own key is used when card payments name that merchant, else the day's payments without one."""
    lines = [ln for ln in lines if ln.is_acquiring and ln.registry_date]
    wanted: set[str] = set()
    for ln in lines:
        for merchant in {ln.merchant, ""}:
            wanted.add(AcquiringClearing.key_of([ln.organization_id, ln.bank_account_id, merchant,
                                                 ln.registry_date.isoformat()]))  # type: ignore[union-attr]
    balances = {r["key"]: round_money(r["amount"]) for r in
                AcquiringClearingTotal.objects.filter(key__in=sorted(wanted)).values("key", "amount")}
    result = {}
    for ln in lines:
        day = ln.registry_date.isoformat()  # type: ignore[union-attr]
        own = balances.get(AcquiringClearing.key_of([ln.organization_id, ln.bank_account_id, ln.merchant, day]))
        if ln.merchant and own:
            result[ln.pk] = ClearingCheck(own, ln.merchant, ln.gross)
        else:
            blank = balances.get(AcquiringClearing.key_of([ln.organization_id, ln.bank_account_id, "", day]), ZERO)
            result[ln.pk] = ClearingCheck(blank, "", ln.gross)
    return result


# ------------------------------------------------------------------ posting
@dataclass
class PostResult:
    posted: list[BankStatementLine] = field(default_factory=list)
    refused: list[tuple[BankStatementLine, str]] = field(default_factory=list)


def post_statement_lines(lines: Iterable[BankStatementLine], *, user: Any = None,
                         accept_difference: bool = False) -> PostResult:
    """Post statement lines, each in its own transaction: a matched line becomes a client's bank payment (on the
    statement's account, dated the day the money arrived, allocated as matched, the rest an advance), an acquiring
    line an acquiring credit. Each line is posted once: a posted line is skipped, and the payment's idempotency key
    comes from the line's identity. A line refused (an order paid meanwhile, a locked period, an acquiring credit
    whose gross differs from the card payments in the clearing unless `accept_difference`) stays as it was, with
    the reason in the result."""
    result = PostResult()
    for line in lines:
        try:
            with service_transaction(own_savepoint=True):
                current = BankStatementLine.objects.select_for_update().get(pk=line.pk)
                if current.status == LineStatus.POSTED:
                    continue
                if current.status == LineStatus.MATCHED:
                    _post_payment(current, user)
                elif current.status == LineStatus.ACQUIRING:
                    _post_acquiring(current, user, accept_difference)
                else:
                    raise CoreError(BankErrorCode.NOT_READY, _(
                        "%(line)s is %(status)s: only matched lines and acquiring credits are posted.")
                        % {"line": current, "status": current.get_status_display()})
        except CoreError as exc:
            messages = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
            result.refused.append((line, " ".join(dict.fromkeys(messages))))
        else:
            line.refresh_from_db()
            if line.status == LineStatus.POSTED:
                result.posted.append(line)
    return result


def _post_payment(line: BankStatementLine, user: Any) -> None:
    allocations = list(line.allocations.all())
    payment = IncomingPayment(
        organization_id=line.organization_id, partner_id=line.partner_id, counterparty_id=line.counterparty_id,
        method=PaymentMethod.BANK, bank_account_id=line.bank_account_id, amount=line.amount,
        date=_moment(line.posting_date), purpose=line.purpose[:500],
        comment=_("From the bank statement: document No. %(number)s of %(date)s, %(name)s")
        % {"number": line.number, "date": _day(line.date), "name": line.counterparty_name})
    saved = register_payment(payment, [PaymentAllocation(order_id=a.order_id, amount=a.amount) for a in allocations],
                             user=user, idempotency_key=line.idempotency_key, auto_allocate=False)
    line.payment = saved
    _set_status(line, LineStatus.POSTED, user, payment=saved.pk)


def _post_acquiring(line: BankStatementLine, user: Any, accept_difference: bool) -> None:
    if line.registry_date is None:
        raise CoreError(BankErrorCode.NO_REGISTRY_DATE, _(
            "%(line)s: enter the registry date (the day of the card payments it pays for) first.") % {"line": line})
    check = clearing_checks([line])[line.pk]
    if check.difference and not accept_difference:
        raise CoreError(BankErrorCode.ACQUIRING_DIFFERENCE, _(
            "%(line)s: the card payments it pays for (%(gross)s = %(amount)s credited + %(commission)s commission) "
            "differ from the card payments of %(day)s still owed by the bank (%(expected)s) by %(difference)s. "
            "Check the card payments of that day and the commission, or post it with the difference.")
            % {"line": line, "gross": _fmt(check.gross), "amount": _fmt(line.amount),
               "commission": _fmt(line.commission), "day": _day(line.registry_date),
               "expected": _fmt(check.expected), "difference": _fmt(check.difference)},
            expected=check.expected, difference=check.difference)

    def create() -> AcquiringCredit:
        credit = AcquiringCredit(
            organization_id=line.organization_id, bank_account_id=line.bank_account_id, merchant=check.merchant,
            registry_date=line.registry_date, amount=line.amount, commission=line.commission,
            card_refunds=line.card_refunds, date=_moment(line.posting_date), idempotency_key=line.idempotency_key,
            comment=_("From the bank statement: document No. %(number)s of %(date)s") % {
                "number": line.number, "date": _day(line.date)})
        save_document(credit, None, user=user, post=True)
        return credit

    credit = _idempotent_create(AcquiringCredit, line.idempotency_key, create)
    line.acquiring_credit = credit
    _set_status(line, LineStatus.POSTED, user, acquiring_credit=credit.pk,
                difference=str(check.difference))


# ------------------------------------------------------------------ export
@dataclass
class ExportResult:
    content: bytes
    file_name: str
    orders: list[tuple[Refund, bx.PaymentOrder]]
    skipped: list[tuple[Refund, str]]  # refunds not in the file, with the reason


def _payee_accounts(partner_ids: set[int]) -> dict[int, tuple[bx.Party | None, str]]:
    """The account each client is paid back to: the one its latest bank payment came from (statements), else its
    counterparties' only account in the catalogs; (None, reason) when there is none or several to choose from."""
    result: dict[int, tuple[bx.Party | None, str]] = {}
    latest = (BankStatementLine.objects.filter(partner_id__in=partner_ids, direction=LineDirection.IN,
                                               is_acquiring=False)
              .exclude(counterparty_account="").order_by("partner_id", "-posting_date", "-pk"))
    for ln in latest:
        if ln.partner_id not in result:
            result[ln.partner_id] = (bx.Party(
                account=ln.counterparty_account, inn=ln.counterparty_inn, kpp=ln.counterparty_kpp,
                name=ln.counterparty_name, bank=ln.counterparty_bank, bik=ln.counterparty_bik,
                correspondent_account=ln.fields.get("ПлательщикКорсчет", "")), "")
    rest = partner_ids - set(result)
    accounts: dict[int, list[BankAccount]] = defaultdict(list)
    for account in (BankAccount.objects.filter(counterparty__partner_id__in=rest, deletion_mark=False)
                    .select_related("counterparty")):
        accounts[account.counterparty.partner_id].append(account)  # type: ignore[union-attr]
    for partner_id in rest:
        found = accounts.get(partner_id, [])
        if len(found) == 1:
            account = found[0]
            cp = account.counterparty
            assert cp is not None
            result[partner_id] = (bx.Party(account=account.number, inn=cp.inn, kpp=cp.kpp,
                                           name=cp.full_name or cp.name, bank=account.bank_name, bik=account.bik,
                                           correspondent_account=account.correspondent_account), "")
        elif found:
            result[partner_id] = (None, _("the client has %(count)s bank accounts and none of its payments came "
                                          "from a statement: it is not known which to pay to") % {"count": len(found)})
        else:
            result[partner_id] = (None, _("the client has no bank account in the catalogs"))
    return result


def _requisite_problems(party: bx.Party, whose: str) -> list[str]:
    problems = []
    if party.inn:  # a private person may have none
        try:
            validate_inn(party.inn)
        except ValidationError as exc:
            problems.append(f"{whose}: {' '.join(exc.messages)}")
    try:
        validate_bank_account(party.account, party.bik)
    except ValidationError as exc:
        problems.append(f"{whose}: {' '.join(exc.messages)}")
    return problems


def outgoing_refunds(bank_account: BankAccount, start: dt.date, end: dt.date) -> list[Refund]:
    return list(Refund.objects.filter(
        posted=True, method=PaymentMethod.BANK, bank_account=bank_account,
        date__gte=timezone.make_aware(dt.datetime.combine(start, dt.time.min)),
        date__lt=timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min)))
        .select_related("partner", "organization").order_by("date", "pk"))


def export_payment_orders(bank_account: BankAccount, start: dt.date, end: dt.date, *,
                          created_at: dt.datetime | None = None) -> ExportResult:
    """Payment orders for the bank's client: the posted refunds by bank transfer from this account in the period
    (the only outgoing bank payments torg keeps today), in the 1CClientBankExchange format. A refund whose
    payee's account is not known, or whose requisites fail their checks (INN check digits, the account's control
    key against the BIK), is left out with the reason. Writes nothing."""
    organization = bank_account.organization
    if organization is None:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."),
                        fields={"bank_account": [_("Choose an account of one of our organizations.")]})
    refunds = outgoing_refunds(bank_account, start, end)
    payees = _payee_accounts({r.partner_id for r in refunds})
    payer = bx.Party(account=bank_account.number, inn=organization.inn, kpp=organization.kpp,
                     name=organization.full_name or organization.name, bank=bank_account.bank_name,
                     bik=bank_account.bik, correspondent_account=bank_account.correspondent_account)
    orders: list[tuple[Refund, bx.PaymentOrder]] = []
    skipped: list[tuple[Refund, str]] = []
    payer_problems = _requisite_problems(payer, _("our account"))
    for refund_doc in refunds:
        payee, reason = payees.get(refund_doc.partner_id, (None, ""))
        if payee is None:
            skipped.append((refund_doc, reason))
            continue
        problems = payer_problems + _requisite_problems(payee, _("the client's account"))
        if problems:
            skipped.append((refund_doc, "; ".join(problems)))
            continue
        day = timezone.localtime(refund_doc.date).date()
        purpose = (f"Возврат аванса (переплаты) по документу № {refund_doc.number} от {day:%d.%m.%Y}. "
                   f"Сумма {refund_doc.amount:.2f} руб. Без налога (НДС)")
        orders.append((refund_doc, bx.PaymentOrder(number=export_number(refund_doc.number), date=day,
                                                   amount=round_money(refund_doc.amount), payer=payer,
                                                   payee=payee, purpose=purpose)))
    created = timezone.localtime(created_at or timezone.now())
    content = bx.render(bx.ExportFile(accounts=[bank_account.number], start=start, end=end,
                                      documents=[o for _r, o in orders], created_at=created))
    file_name = f"kl_to_1c_{bank_account.number}_{start:%Y%m%d}_{end:%Y%m%d}.txt"
    return ExportResult(content, file_name, orders, skipped)


def lines_to_post(statement: BankStatement | None = None) -> Any:
    """Lines a "post" button posts: matched lines, and acquiring credits (those that differ from the clearing are
    refused with the difference shown)."""
    qs = BankStatementLine.objects.filter(Q(status=LineStatus.MATCHED) | Q(status=LineStatus.ACQUIRING))
    return qs.filter(statement=statement) if statement is not None else qs


# ------------------------------------------------------------------ what the pages show
@dataclass
class MatchRow:
    order: SalesOrder
    left: Decimal  # left to pay on it, less what other matched lines will pay
    proposed: Decimal  # what this line would pay on it


def match_rows(line: BankStatementLine, partner_id: int | None) -> list[MatchRow]:
    """The open orders of a client a person may match a line to, with the amounts proposed: the line's own
    allocation when it is already matched to this client, else what the purpose and the amount suggest."""
    if not partner_id:
        return []
    orders = open_orders([(line.organization_id, partner_id)], exclude_line=line.pk).get(
        (line.organization_id, partner_id), [])
    if line.partner_id == partner_id and line.status == LineStatus.MATCHED:
        own = {a.order_id: a.amount for a in line.allocations.all()}
    else:
        copies = [OpenOrder(o.order, o.left) for o in orders]
        own = dict(propose(line.purpose, line.amount, copies)[0])
    return [MatchRow(o.order, o.left, own.get(o.order.pk, ZERO)) for o in orders]
