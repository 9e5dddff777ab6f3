"""The stock report: balances at a date, turnovers for a period, and cost by organization.

It reads the registers only (`Stock.balances_at`, `Stock.turnovers`, `StockCost.balances_at`:
monthly totals plus the open part of a month), never documents. Names of items,
warehouses and organizations are fetched in one query per catalog.
"""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from torg.catalogs.models import Item, ItemGroup, Organization, Warehouse
from torg.stock.models import Stock, StockCost


class Mode(StrEnum):
    BALANCE = "balance"  # quantity per warehouse and item at the end of a day
    TURNOVER = "turnover"  # opening, receipt, expense, closing per warehouse and item for a period
    COST = "cost"  # quantity and cost amount per organization and item at the end of a day


MODE_LABELS: dict[str, str | Promise] = {
    Mode.BALANCE: gettext_lazy("Balance at a date"),
    Mode.TURNOVER: gettext_lazy("Turnover for a period"),
    Mode.COST: gettext_lazy("Cost by organization"),
}


@dataclass(frozen=True)
class ValueColumn:
    key: str
    label: str | Promise
    places: int
    summed: bool = True


COLUMNS: dict[str, tuple[ValueColumn, ...]] = {
    Mode.BALANCE: (ValueColumn("quantity", gettext_lazy("Quantity"), 3),),
    Mode.TURNOVER: (
        ValueColumn("opening", pgettext_lazy("stock balance", "Opening"), 3),
        ValueColumn("receipt", pgettext_lazy("register movement", "Receipt"), 3),
        ValueColumn("expense", pgettext_lazy("register movement", "Expense"), 3),
        ValueColumn("closing", pgettext_lazy("stock balance", "Closing"), 3),
    ),
    Mode.COST: (
        ValueColumn("quantity", gettext_lazy("Quantity"), 3),
        ValueColumn("amount", gettext_lazy("Cost amount"), 2),
        ValueColumn("unit_cost", gettext_lazy("Average cost"), 2, summed=False),
    ),
}


@dataclass
class StockReportParams:
    mode: str = Mode.BALANCE
    date: dt.date | None = None  # balance and cost: at the end of this day
    start: dt.date | None = None  # turnover: from the start of this day
    end: dt.date | None = None  # turnover: to the end of this day
    warehouses: Sequence[int] = ()
    organizations: Sequence[int] = ()
    group: int | None = None
    search: str = ""
    nonzero: bool = True
    sort: str = "item"

    def __post_init__(self) -> None:
        today = timezone.localdate()
        self.date = self.date or today
        self.end = self.end or today
        self.start = self.start or self.end.replace(day=1)


@dataclass
class ReportRow:
    place_id: int | None
    place: str
    item_id: int
    item: str
    sku: str
    unit: str
    values: dict[str, Decimal | None]


@dataclass
class StockReport:
    params: StockReportParams
    columns: tuple[ValueColumn, ...]
    rows: list[ReportRow]
    totals: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def place_label(self) -> str:
        return str(_("Organization") if self.params.mode == Mode.COST else _("Warehouse"))

    @property
    def subtitle(self) -> str:
        p = self.params
        if p.mode == Mode.TURNOVER:
            return _("from %(start)s to %(end)s") % {"start": date_format(p.start, "SHORT_DATE_FORMAT"),
                                                     "end": date_format(p.end, "SHORT_DATE_FORMAT")}
        return _("at the end of %(date)s") % {"date": date_format(p.date, "SHORT_DATE_FORMAT")}


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def _item_ids(params: StockReportParams) -> list[int] | None:
    """The items the filters allow, or None when every item is allowed."""
    if not params.group and not params.search:
        return None
    from torg.web.listing import _search_q  # the same search rules as the list pages

    qs = Item.objects.all()
    if params.group:
        qs = qs.filter(group_id=params.group)
    if params.search:
        q = _search_q(("name", "sku"), params.search)
        if params.search.isdigit():
            q |= Q(barcodes__code=params.search)
        qs = qs.filter(q)
    return list(qs.values_list("pk", flat=True).distinct())


def _sort_key(sort: str) -> tuple[str, bool]:
    return sort.lstrip("-"), sort.startswith("-")


def build_stock_report(params: StockReportParams) -> StockReport:
    """Compute the report rows (all of them, sorted) and the totals row."""
    mode = params.mode if params.mode in set(Mode) else Mode.BALANCE
    params.mode = mode
    columns = COLUMNS[mode]
    item_ids = _item_ids(params)
    if item_ids is not None and not item_ids:
        return StockReport(params, columns, [], {c.key: Decimal(0) if c.summed else None for c in columns})
    filters: dict[str, Any] = {}
    if item_ids is not None:
        filters["item"] = item_ids

    values: dict[tuple[Any, Any], dict[str, Decimal | None]] = {}
    assert params.date and params.start and params.end
    if mode == Mode.BALANCE:
        if params.warehouses:
            filters["warehouse"] = list(params.warehouses)
        at = _day_start(params.date + dt.timedelta(days=1))
        for key, res in Stock.balances_at(at, ["warehouse", "item"], **filters).items():
            values[key] = {"quantity": res["quantity"]}
    elif mode == Mode.TURNOVER:
        if params.warehouses:
            filters["warehouse"] = list(params.warehouses)
        start = _day_start(params.start)
        end = _day_start(params.end + dt.timedelta(days=1))
        opening = Stock.balances_at(start, ["warehouse", "item"], **filters)
        turnovers = Stock.turnovers(start, end, ["warehouse", "item"], **filters)
        zero = Decimal("0.000")
        for key in set(opening) | set(turnovers):
            o = opening.get(key, {}).get("quantity", zero)
            t = turnovers.get(key, {})
            r, e = t.get("quantity_receipt", zero), t.get("quantity_expense", zero)
            values[key] = {"opening": o, "receipt": r, "expense": e, "closing": o + r - e}
    else:
        if params.organizations:
            filters["organization"] = list(params.organizations)
        at = _day_start(params.date + dt.timedelta(days=1))
        for key, res in StockCost.balances_at(at, ["organization", "item"], **filters).items():
            q, a = res["quantity"], res["amount"]
            values[key] = {"quantity": q, "amount": a,
                           "unit_cost": (a / q).quantize(Decimal("0.01")) if q else None}

    if params.nonzero:
        values = {k: v for k, v in values.items() if any(x for x in v.values() if x is not None)}

    place_model = Organization if mode == Mode.COST else Warehouse
    place_names = dict(place_model.objects.filter(pk__in={k[0] for k in values}).values_list("pk", "name"))
    items = {pk: (name, sku, unit) for pk, name, sku, unit in Item.objects.filter(
        pk__in={k[1] for k in values}).values_list("pk", "name", "sku", "unit__name")}
    rows = []
    for (place_id, item_id), vals in values.items():
        name, sku, unit = items.get(item_id, (str(item_id), "", ""))
        rows.append(ReportRow(place_id, place_names.get(place_id, ""), item_id, name, sku, unit or "", vals))

    name, desc = _sort_key(params.sort)
    if name in {c.key for c in columns}:
        rows.sort(key=lambda r: (r.values.get(name) is None, r.values.get(name) or Decimal(0), r.item.lower(),
                                 r.place.lower()), reverse=desc)
    elif name == "place":
        rows.sort(key=lambda r: (r.place.lower(), r.item.lower()), reverse=desc)
    else:
        params.sort = "-item" if desc else "item"
        rows.sort(key=lambda r: (r.item.lower(), r.place.lower()), reverse=desc)

    totals: dict[str, Decimal | None] = {}
    for c in columns:
        totals[c.key] = sum((r.values.get(c.key) or Decimal(0) for r in rows), Decimal(0)) if c.summed else None
    return StockReport(params, columns, rows, totals)


# ------------------------------------------------------------------ .xlsx
def stock_report_xlsx(report: StockReport, filters_text: Sequence[str] = ()) -> bytes:
    """The same rows and totals as the page, as an Excel workbook."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = str(_("Stock report"))[:31]
    ws.append([_("Stock report: %(mode)s, %(period)s") % {"mode": MODE_LABELS[report.params.mode],
                                                          "period": report.subtitle}])
    ws["A1"].font = Font(bold=True, size=13)
    for text in filters_text:
        ws.append([text])
    ws.append([])
    header = [report.place_label, str(_("Item")), str(_("Article")), str(_("Unit")),
              *[str(c.label) for c in report.columns]]
    ws.append(header)
    header_row = ws.max_row
    fill = PatternFill("solid", fgColor="E9ECEF")
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    formats = {3: "#,##0.000", 2: "#,##0.00"}
    row_no = header_row
    for r in report.rows:
        row_no += 1
        ws.append([r.place, r.item, r.sku, r.unit, *[r.values.get(c.key) for c in report.columns]])
        for i, c in enumerate(report.columns, start=5):
            ws.cell(row=row_no, column=i).number_format = formats[c.places]
    row_no += 1
    ws.append([str(_("Total")), "", "", "", *[report.totals.get(c.key) for c in report.columns]])
    for i in range(1, 5 + len(report.columns)):
        cell = ws.cell(row=row_no, column=i)
        cell.font = Font(bold=True)
        if i >= 5:
            cell.number_format = formats[report.columns[i - 5].places]
    widths = [24, 48, 14, 8, *[16 for _c in report.columns]]
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def groups() -> list[tuple[int, str]]:
    return list(ItemGroup.objects.filter(deletion_mark=False).order_by("name").values_list("pk", "name"))
