"""Settlement reports: receivables with aging buckets, a client's settlement card, the reconciliation statement
on screen, and payment discipline.

They are built on the settlement readers (`torg.sales.settlements`): the kept totals of ClientSettlements and
ClientAdvances for what is owed now, their movements for a card over a period. Documents are read only to label
and link rows; names of clients and organizations come in one query per catalog.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from torg.catalogs.models import Organization, Partner
from torg.reports.common import (
    ZERO,
    SheetRow,
    ValueColumn,
    day_start,
    document_url,
    percent,
    safe_reverse,
    workbook,
)
from torg.sales.models import StageKind
from torg.sales.settlements import aging_bounds, bucket_of, payment_discipline, receivables, settlement_card


def _short(day: dt.date | None) -> str:
    return date_format(day, "SHORT_DATE_FORMAT") if day else ""


def _names(model: Any, ids: set[int]) -> dict[int, str]:
    return dict(model.objects.filter(pk__in=ids).values_list("pk", "name")) if ids else {}


# ============================================================== receivables
def bucket_labels(bounds: Sequence[int]) -> list[str]:
    """Column titles of the aging buckets: not due, 1–30, 31–60, …, over the last bound."""
    labels = [_("Not due")]
    low = 1
    for bound in bounds:
        labels.append(_("%(low)s–%(high)s days") % {"low": low, "high": bound})
        low = bound + 1
    labels.append(_("Over %(days)s days") % {"days": bounds[-1]} if bounds else _("Overdue"))
    return labels


RECEIVABLE_COLUMNS = (
    ValueColumn("planned_advance", gettext_lazy("Planned: advance")),
    ValueColumn("planned_prepayment", gettext_lazy("Planned: prepayment")),
    ValueColumn("planned_credit", gettext_lazy("Planned: credit")),
    ValueColumn("planned_total", gettext_lazy("Planned: total")),
    ValueColumn("debt", gettext_lazy("Client's debt")),
    ValueColumn("our_debt", gettext_lazy("Our debt")),
    ValueColumn("overdue", gettext_lazy("Overdue")),
    ValueColumn("days_overdue", gettext_lazy("Days overdue"), places=0, summed=False),
)
RECEIVABLE_SORTS = ("client", *[c.key for c in RECEIVABLE_COLUMNS])


@dataclass
class ReceivablesParams:
    organization: int | None = None
    partner: int | None = None
    only_overdue: bool = False
    sort: str = "client"
    today: dt.date | None = None

    def __post_init__(self) -> None:
        self.today = self.today or timezone.localdate()


@dataclass
class ReceivableLine:
    kind: str  # order | shipment | advance
    organization: str
    document: str
    url: str
    due_date: dt.date | None
    values: dict[str, Any]
    cells: list[tuple[ValueColumn, Any]] = field(default_factory=list)  # the values in column order


@dataclass
class ClientGroup:
    partner_id: int
    partner: str
    lines: list[ReceivableLine]
    totals: dict[str, Any]
    cells: list[tuple[ValueColumn, Any]] = field(default_factory=list)


@dataclass
class ReceivablesReport:
    params: ReceivablesParams
    columns: tuple[ValueColumn, ...]  # the fixed columns, then one per aging bucket
    buckets: tuple[ValueColumn, ...]
    groups: list[ClientGroup]
    totals: dict[str, Any]

    @property
    def all_columns(self) -> tuple[ValueColumn, ...]:
        return self.columns + self.buckets

    @property
    def total_cells(self) -> list[tuple[ValueColumn, Any]]:
        return [(c, self.totals[c.key]) for c in self.all_columns]

    @property
    def line_count(self) -> int:
        return sum(len(g.lines) for g in self.groups)

    @property
    def subtitle(self) -> str:
        return _("on %(date)s") % {"date": _short(self.params.today)}


def _sum_values(rows: Sequence[dict[str, Any]], columns: Sequence[ValueColumn]) -> dict[str, Any]:
    totals: dict[str, Any] = {}
    for c in columns:
        if c.summed:
            totals[c.key] = sum((r[c.key] for r in rows), ZERO)
        else:
            totals[c.key] = max((r[c.key] for r in rows), default=0)  # days overdue: the longest
    return totals


def _url_maker(name: str) -> Any:
    """pk → the page's URL (reversed once: a report has thousands of rows), or "" while the page does not exist."""
    marker = 987654321
    pattern = safe_reverse(name, marker)
    if not pattern:
        return lambda pk: ""
    head, tail = pattern.split(str(marker), 1)
    return lambda pk: f"{head}{pk}{tail}"


def build_receivables(params: ReceivablesParams) -> ReceivablesReport:
    """Receivables per client and settlement object now: planned payments by stage (the unpaid part), the
    client's debt, our debt (prepayments held on orders, unallocated advances), overdue debt, days overdue and
    the debt spread over the aging buckets; subtotals per client and a grand total."""
    bounds = aging_bounds()
    buckets = tuple(ValueColumn(f"bucket_{i}", label) for i, label in enumerate(bucket_labels(bounds)))
    columns = RECEIVABLE_COLUMNS
    all_columns = columns + buckets
    rows = receivables(organization=params.organization, partner=params.partner, today=params.today,
                       with_planned=True)
    if params.only_overdue:
        rows = [r for r in rows if r.overdue > 0]
    organizations = _names(Organization, {r.organization_id for r in rows})
    partners = _names(Partner, {r.partner_id for r in rows})
    order_url = _url_maker("sales:orders_edit")
    shipment_url = _url_maker("shipping:shipments_edit")

    by_client: dict[int, list[ReceivableLine]] = {}
    for r in rows:
        planned = {
            "planned_advance": r.planned.get(StageKind.ADVANCE, ZERO),
            "planned_prepayment": r.planned.get(StageKind.PREPAYMENT, ZERO),
            "planned_credit": r.planned.get(StageKind.CREDIT, ZERO),
        }
        if r.order_id:
            kind, url = "order", order_url(r.order_id)
        elif r.shipment_id:
            # A sale on credit without an order: all that is unpaid of it is a credit payment to come.
            kind, url = "shipment", shipment_url(r.shipment_id)
            planned["planned_credit"] = r.debt
        else:
            kind, url = "advance", ""
        debt, days = r.debt, r.days_overdue
        values: dict[str, Any] = {**planned, "planned_total": sum(planned.values(), ZERO), "debt": debt,
                                  "our_debt": r.our_debt, "overdue": debt if days > 0 else ZERO,
                                  "days_overdue": days}
        for c in buckets:
            values[c.key] = ZERO
        if debt:
            values[f"bucket_{bucket_of(days, bounds)}"] = debt
        label = r.label or (_("Advance not allocated") if kind == "advance" else "")
        by_client.setdefault(r.partner_id, []).append(
            ReceivableLine(kind, organizations.get(r.organization_id, ""), label, url, r.due_date, values))

    groups = [ClientGroup(pid, partners.get(pid, ""), lines, _sum_values([ln.values for ln in lines], all_columns))
              for pid, lines in by_client.items()]
    name, desc = params.sort.lstrip("-"), params.sort.startswith("-")
    if name not in RECEIVABLE_SORTS and name not in {c.key for c in buckets}:
        name, desc = "client", False
        params.sort = "client"
    if name == "client":
        groups.sort(key=lambda g: g.partner.lower(), reverse=desc)
    else:
        groups.sort(key=lambda g: (g.totals[name], g.partner.lower()), reverse=desc)
        for g in groups:
            g.lines.sort(key=lambda ln: ln.values[name], reverse=desc)
    totals = _sum_values([g.totals for g in groups], all_columns)
    for g in groups:
        g.cells = [(c, g.totals[c.key]) for c in all_columns]
        for ln in g.lines:
            ln.cells = [(c, ln.values[c.key]) for c in all_columns]
    return ReceivablesReport(params, columns, buckets, groups, totals)


def receivables_xlsx(report: ReceivablesReport, filters: Sequence[str] = ()) -> bytes:
    columns = report.all_columns
    header = [_("Client"), _("Organization"), _("Order, shipment"), _("Due"), *[str(c.label) for c in columns]]
    rows: list[SheetRow] = []
    for g in report.groups:
        rows.append(SheetRow([g.partner, "", "", None, *[g.totals[c.key] for c in columns]], level=1))
        for ln in g.lines:
            rows.append(SheetRow(["", ln.organization, ln.document, ln.due_date, *[ln.values[c.key] for c in columns]],
                                 indent=1))
    rows.append(SheetRow([_("Total"), "", "", None, *[report.totals[c.key] for c in columns]], level=2))
    return workbook(_("Receivables %(date)s") % {"date": report.subtitle}, _("Receivables"), filters, header, rows,
                    [None, None, None, None, *[c.places for c in columns]], [32, 22, 36, 12, *[14 for _c in columns]])


# ========================================================= settlement card
@dataclass
class CardParams:
    organization: int | None = None
    partner: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        today = timezone.localdate()
        self.end = self.end or today
        self.start = self.start or self.end.replace(day=1)
        if self.start > self.end:
            self.start, self.end = self.end, self.start

    @property
    def complete(self) -> bool:
        return bool(self.organization and self.partner)


@dataclass
class CardLine:
    date: dt.datetime
    document: str
    url: str
    debit: Decimal  # the client's debt grows (a shipment, a refund)
    credit: Decimal  # it shrinks (a payment)
    balance: Decimal  # after this document: + the client owes, − we owe (a prepayment)


@dataclass
class CardReport:
    params: CardParams
    organization: str = ""
    partner: str = ""
    opening: Decimal = ZERO
    lines: list[CardLine] = field(default_factory=list)
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    closing: Decimal = ZERO

    @property
    def subtitle(self) -> str:
        return _("from %(start)s to %(end)s") % {"start": _short(self.params.start), "end": _short(self.params.end)}

    @property
    def print_url(self) -> str:
        """The reconciliation statement (PDF) of the same client and period."""
        url = safe_reverse("printing:reconciliation")
        if not url or not self.params.complete:
            return ""
        from urllib.parse import urlencode

        p = self.params
        assert p.start and p.end
        return url + "?" + urlencode({"organization": p.organization, "partner": p.partner,
                                      "start": p.start.isoformat(), "end": p.end.isoformat()})


def build_settlement_card(params: CardParams) -> CardReport:
    """Opening balance, each document of the period with its debit or credit and the running balance, closing
    balance (from `settlement_card`: movements of the period, balance at its start from monthly totals)."""
    report = CardReport(params)
    if not params.complete:
        return report
    assert params.organization and params.partner and params.start and params.end
    report.organization = _names(Organization, {params.organization}).get(params.organization, "")
    report.partner = _names(Partner, {params.partner}).get(params.partner, "")
    card = settlement_card(params.organization, params.partner, day_start(params.start),
                           day_start(params.end + dt.timedelta(days=1)))
    balance = card.opening
    for e in card.entries:
        balance += e.debit - e.credit
        report.lines.append(CardLine(e.date, e.document, document_url(*e.recorder), e.debit, e.credit, balance))
    report.opening, report.debit, report.credit, report.closing = card.opening, card.debit, card.credit, card.closing
    return report


def _split(balance: Decimal) -> tuple[Decimal, Decimal]:
    """A balance as (debit, credit): the client owes us → debit on our side."""
    return (balance, ZERO) if balance > 0 else (ZERO, -balance)


def card_xlsx(report: CardReport, reconciliation: bool = False) -> bytes:
    p = report.params
    filters = [f"{_('Organization')}: {report.organization}", f"{_('Client')}: {report.partner}"]
    if reconciliation:
        header = [_("Date"), _("Document"), _("Ours: debit"), _("Ours: credit"), _("Client's: debit"),
                  _("Client's: credit")]
        o_debit, o_credit = _split(report.opening)
        c_debit, c_credit = _split(report.closing)
        rows = [SheetRow([None, _("Opening balance"), o_debit, o_credit, o_credit, o_debit], level=1)]
        rows += [SheetRow([timezone.localtime(ln.date).date(), ln.document, ln.debit, ln.credit, ln.credit,
                           ln.debit]) for ln in report.lines]
        rows.append(SheetRow([None, _("Turnover for the period"), report.debit, report.credit, report.credit,
                              report.debit], level=1))
        rows.append(SheetRow([None, _("Closing balance"), c_debit, c_credit, c_credit, c_debit], level=2))
        title = _("Reconciliation statement %(period)s") % {"period": report.subtitle}
        return workbook(title, _("Reconciliation"), filters, header, rows, [None, None, 2, 2, 2, 2],
                        [12, 48, 16, 16, 16, 16])
    header = [_("Date"), _("Document"), _("Debit"), _("Credit"), _("Balance")]
    rows = [SheetRow([p.start, _("Opening balance"), None, None, report.opening], level=1)]
    rows += [SheetRow([timezone.localtime(ln.date).date(), ln.document, ln.debit, ln.credit, ln.balance])
             for ln in report.lines]
    rows.append(SheetRow([p.end, _("Closing balance"), report.debit, report.credit, report.closing], level=2))
    title = _("Settlement card %(period)s") % {"period": report.subtitle}
    return workbook(title, _("Settlement card"), filters, header, rows, [None, None, 2, 2, 2], [12, 48, 16, 16, 16])


# ======================================================= payment discipline
DISCIPLINE_COLUMNS = (
    ValueColumn("orders", gettext_lazy("Orders due"), places=0),
    ValueColumn("late", gettext_lazy("Paid late"), places=0),
    ValueColumn("late_percent", pgettext_lazy("share of orders", "Late, %"), places=1, summed=False),
    ValueColumn("average_delay", gettext_lazy("Average delay, days"), places=1, summed=False),
    ValueColumn("debt", gettext_lazy("Debt now")),
    ValueColumn("overdue", gettext_lazy("Overdue now")),
    ValueColumn("overdue_share", gettext_lazy("Overdue share, %"), places=1, summed=False),
)
DISCIPLINE_SORTS = ("client", *[c.key for c in DISCIPLINE_COLUMNS])


@dataclass
class DisciplineParams:
    organization: int | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    sort: str = "-late_percent"
    today: dt.date | None = None

    def __post_init__(self) -> None:
        self.today = self.today or timezone.localdate()
        self.end = self.end or self.today
        self.start = self.start or self.end.replace(month=1, day=1)
        if self.start > self.end:
            self.start, self.end = self.end, self.start


@dataclass
class DisciplineRow:
    partner_id: int
    partner: str
    values: dict[str, Any]

    @property
    def cells(self) -> list[tuple[ValueColumn, Any]]:
        return [(c, self.values[c.key]) for c in DISCIPLINE_COLUMNS]


@dataclass
class DisciplineReport:
    params: DisciplineParams
    columns: tuple[ValueColumn, ...]
    rows: list[DisciplineRow]
    totals: dict[str, Any]

    @property
    def total_cells(self) -> list[tuple[ValueColumn, Any]]:
        return [(c, self.totals[c.key]) for c in self.columns]

    @property
    def subtitle(self) -> str:
        return _("payments due from %(start)s to %(end)s") % {"start": _short(self.params.start),
                                                              "end": _short(self.params.end)}


def _one_place(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def build_payment_discipline(params: DisciplineParams) -> DisciplineReport:
    """Per client: orders whose payment fell due in the period, how many were paid late (or are still unpaid
    past due), their share and the average delay; and the client's debt and overdue debt now."""
    stats = {s["partner_id"]: s for s in payment_discipline(organization=params.organization, start=params.start,
                                                            end=params.end, today=params.today)}
    debts: dict[int, list[Decimal]] = {}
    for r in receivables(organization=params.organization, today=params.today):
        if not r.debt:
            continue  # prepayments and advances say nothing about paying late
        acc = debts.setdefault(r.partner_id, [ZERO, ZERO])
        acc[0] += r.debt
        acc[1] += r.overdue
    partners = _names(Partner, set(stats) | set(debts))
    rows = []
    for pid in set(stats) | set(debts):
        s = stats.get(pid, {})
        debt, overdue = debts.get(pid, [ZERO, ZERO])
        rows.append(DisciplineRow(pid, partners.get(pid, ""), {
            "orders": s.get("orders", 0), "late": s.get("late", 0),
            "late_percent": percent(Decimal(s["late"]), Decimal(s["orders"]), 1) if s else None,
            "average_delay": _one_place(Decimal(s["delay_days"]) / s["late"]) if s.get("late") else None,
            "debt": debt, "overdue": overdue, "overdue_share": percent(overdue, debt, 1),
        }))
    name, desc = params.sort.lstrip("-"), params.sort.startswith("-")
    if name not in DISCIPLINE_SORTS:
        name, desc = "late_percent", True
        params.sort = "-late_percent"
    if name == "client":
        rows.sort(key=lambda r: r.partner.lower(), reverse=desc)
    else:
        # Equal figures keep the clients' alphabetical order; empty cells (no orders due) go last either way.
        rows.sort(key=lambda r: r.partner.lower())
        present = sorted([r for r in rows if r.values[name] is not None], key=lambda r: r.values[name], reverse=desc)
        rows = present + [r for r in rows if r.values[name] is None]
    orders = sum(r.values["orders"] for r in rows)
    late = sum(r.values["late"] for r in rows)
    delay_days = sum(s.get("delay_days", 0) for s in stats.values())
    debt = sum((r.values["debt"] for r in rows), ZERO)
    overdue = sum((r.values["overdue"] for r in rows), ZERO)
    totals = {"orders": orders, "late": late, "late_percent": percent(Decimal(late), Decimal(orders), 1),
              "average_delay": _one_place(Decimal(delay_days) / late) if late else None,
              "debt": debt, "overdue": overdue, "overdue_share": percent(overdue, debt, 1)}
    return DisciplineReport(params, DISCIPLINE_COLUMNS, rows, totals)


def discipline_xlsx(report: DisciplineReport, filters: Sequence[str] = ()) -> bytes:
    columns = report.columns
    header = [_("Client"), *[str(c.label) for c in columns]]
    rows = [SheetRow([r.partner, *[r.values[c.key] for c in columns]]) for r in report.rows]
    rows.append(SheetRow([_("Total"), *[report.totals[c.key] for c in columns]], level=2))
    return workbook(_("Payment discipline: %(period)s") % {"period": report.subtitle}, _("Payment discipline"),
                    filters, header, rows, [None, *[c.places for c in columns]], [36, *[14 for _c in columns]])
