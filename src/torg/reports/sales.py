"""The sales report: quantity, revenue without VAT, cost, gross profit and margin for a period, grouped by
manager, client or item (and optionally a second level), with a chart of the top groups and drill-down from a
group to the documents that made its figures.

It reads the SalesTurnover register: `SalesTurnover.turnovers` (monthly totals plus the open part of a month)
for groups, its movements summed per recorder for the list of documents. Names come in one query per catalog.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import get_user_model
from django.db.models import Min, Q, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import Item, Partner
from torg.core.documents import describe_recorders
from torg.reports.common import ZERO, SheetRow, ValueColumn, day_start, document_url, percent, workbook
from torg.sales.models import SalesTurnover


class Grouping(StrEnum):
    MANAGER = "manager"
    CLIENT = "client"
    ITEM = "item"
    DOCUMENT = "document"  # the shipments (and other recorders) that made the figures


GROUPING_LABELS: dict[str, str | Promise] = {
    Grouping.MANAGER: gettext_lazy("Manager"),
    Grouping.CLIENT: gettext_lazy("Client"),
    Grouping.ITEM: gettext_lazy("Item"),
    Grouping.DOCUMENT: gettext_lazy("Document"),
}
# The register's dimension behind each grouping (a document is a recorder, not a dimension).
DIMENSION = {Grouping.MANAGER: "manager", Grouping.CLIENT: "partner", Grouping.ITEM: "item"}
DRILL_ORDER = (Grouping.CLIENT, Grouping.ITEM, Grouping.MANAGER)
NO_MANAGER = 0  # the manager filter's value for sales without a manager

COLUMNS = (
    ValueColumn("quantity", gettext_lazy("Quantity"), places=3),
    ValueColumn("revenue", gettext_lazy("Revenue without VAT")),
    ValueColumn("cost", gettext_lazy("Cost")),
    ValueColumn("profit", gettext_lazy("Gross profit")),
    ValueColumn("margin", gettext_lazy("Margin, %"), summed=False),
)
SORTS = ("label", *[c.key for c in COLUMNS])
TOP = 10


@dataclass
class SalesParams:
    start: dt.date | None = None
    end: dt.date | None = None
    organization: int | None = None
    group: str = Grouping.CLIENT
    subgroup: str = ""  # a second level, or none
    manager: int | None = None  # NO_MANAGER: sales without a manager
    partner: int | None = None
    item: int | None = None
    sort: str = "-revenue"

    def __post_init__(self) -> None:
        today = timezone.localdate()
        self.end = self.end or today
        self.start = self.start or self.end.replace(day=1)
        if self.start > self.end:
            self.start, self.end = self.end, self.start
        if self.group not in set(Grouping):
            self.group = Grouping.CLIENT
        if self.subgroup not in set(Grouping) or self.subgroup == self.group or self.group == Grouping.DOCUMENT:
            self.subgroup = ""

    @property
    def filters(self) -> dict[str, int | None]:
        """Drill-down filters by grouping (manager None when not filtered, NO_MANAGER for none)."""
        return {Grouping.MANAGER: self.manager, Grouping.CLIENT: self.partner, Grouping.ITEM: self.item}

    def query(self, **changes: Any) -> str:
        """The GET query of this report with some parameters changed (None drops one)."""
        values: dict[str, Any] = {"start": self.start.isoformat() if self.start else None,
                                  "end": self.end.isoformat() if self.end else None,
                                  "organization": self.organization, "group": self.group,
                                  "subgroup": self.subgroup or None, "manager": self.manager,
                                  "partner": self.partner, "item": self.item, "sort": self.sort}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v is not None and v != ""})


@dataclass
class SalesRow:
    key: Any  # the id of the manager, client or item; (content type, id) of a document
    label: str
    values: dict[str, Any]
    url: str = ""  # drill-down: this report filtered to the row; a document: its page
    detail: str = ""  # a second line: an item's article and unit
    date: dt.datetime | None = None  # a document's
    children: list[SalesRow] = field(default_factory=list)

    @property
    def cells(self) -> list[tuple[ValueColumn, Any]]:
        return [(c, self.values[c.key]) for c in COLUMNS]


@dataclass
class ChartBar:
    label: str
    revenue: Decimal
    profit: Decimal
    revenue_width: Decimal  # % of the widest bar
    profit_width: Decimal


@dataclass
class ActiveFilter:
    label: str
    value: str
    remove_query: str


@dataclass
class SalesReport:
    params: SalesParams
    columns: tuple[ValueColumn, ...]
    rows: list[SalesRow]
    totals: dict[str, Any]
    chart: list[ChartBar]
    active_filters: list[ActiveFilter]

    @property
    def subtitle(self) -> str:
        return _("from %(start)s to %(end)s") % {"start": date_format(self.params.start, "SHORT_DATE_FORMAT"),
                                                 "end": date_format(self.params.end, "SHORT_DATE_FORMAT")}

    @property
    def total_cells(self) -> list[tuple[ValueColumn, Any]]:
        return [(c, self.totals[c.key]) for c in self.columns]

    @property
    def group_label(self) -> str:
        return str(GROUPING_LABELS[self.params.group])

    @property
    def subgroup_label(self) -> str:
        return str(GROUPING_LABELS[self.params.subgroup]) if self.params.subgroup else ""


def _figures(quantity: Decimal, revenue: Decimal, cost: Decimal) -> dict[str, Any]:
    profit = revenue - cost
    return {"quantity": quantity, "revenue": revenue, "cost": cost, "profit": profit,
            "margin": percent(profit, revenue)}


def _dimension_filters(params: SalesParams) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if params.organization:
        filters["organization"] = params.organization
    for grouping, value in params.filters.items():
        if value is not None:
            filters[DIMENSION[grouping]] = None if value == NO_MANAGER and grouping == Grouping.MANAGER else value
    return filters


def _read(params: SalesParams, levels: Sequence[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """quantity, revenue, cost (and a document's date) per key of the levels, for the period and filters."""
    start, end = day_start(params.start), day_start(params.end + dt.timedelta(days=1))  # type: ignore[operator]
    filters = _dimension_filters(params)
    if Grouping.DOCUMENT not in levels:
        found = SalesTurnover.turnovers(start, end, [DIMENSION[g] for g in levels], **filters)
        return {k: {"quantity": v["quantity"], "revenue": v["revenue"], "cost": v["cost"]} for k, v in found.items()}
    # Documents: the movements of the period themselves, summed per recorder (and the other level).
    names: list[str] = []
    for g in levels:
        names += ["recorder_type_id", "recorder_id"] if g == Grouping.DOCUMENT else [f"{DIMENSION[g]}_id"]
    q = Q(period__gte=start, period__lt=end)
    for dim, value in filters.items():
        q &= Q(**{f"{dim}_id": value})
    rows = (SalesTurnover.movement_model.objects.filter(q).values(*names)  # type: ignore[attr-defined]
            .annotate(q=Sum("quantity"), r=Sum("revenue"), c=Sum("cost"), d=Min("period")).order_by())
    result: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key: list[Any] = []
        for g in levels:
            key.append((row["recorder_type_id"], row["recorder_id"]) if g == Grouping.DOCUMENT
                       else row[f"{DIMENSION[g]}_id"])
        result[tuple(key)] = {"quantity": Decimal(str(row["q"] or 0)).quantize(Decimal("0.001")),
                              "revenue": Decimal(str(row["r"] or 0)).quantize(Decimal("0.01")),
                              "cost": Decimal(str(row["c"] or 0)).quantize(Decimal("0.01")), "date": row["d"]}
    return result


def _labels(grouping: str, keys: set[Any]) -> dict[Any, tuple[str, str]]:
    """(label, detail) per key of one grouping, in one query."""
    if grouping == Grouping.MANAGER:
        users = get_user_model().objects.filter(pk__in={k for k in keys if k})
        result = {u.pk: ((u.get_full_name() or u.get_username()), "") for u in users}
        result[None] = (_("(no manager)"), "")
        return result
    if grouping == Grouping.CLIENT:
        return {pk: (name, "") for pk, name in Partner.objects.filter(pk__in=keys).values_list("pk", "name")}
    if grouping == Grouping.ITEM:
        return {pk: (name, " · ".join(x for x in (sku, unit) if x))
                for pk, name, sku, unit in Item.objects.filter(pk__in=keys).values_list("pk", "name", "sku",
                                                                                       "unit__name")}
    pairs = sorted(keys)
    return {pair: (label, "") for pair, label in zip(pairs, describe_recorders(pairs), strict=True)}


def _next_level(params: SalesParams, filtered: set[str]) -> str:
    return next((g for g in DRILL_ORDER if g not in filtered), Grouping.DOCUMENT)


def _drill(params: SalesParams, chosen: dict[str, Any], next_group: str | None = None) -> str:
    """The query of this report filtered to the chosen keys, grouped by the next level."""
    filtered = {g for g, v in params.filters.items() if v is not None} | set(chosen)
    changes: dict[str, Any] = {}
    for grouping, key in chosen.items():
        param = {Grouping.MANAGER: "manager", Grouping.CLIENT: "partner", Grouping.ITEM: "item"}[grouping]
        changes[param] = NO_MANAGER if key is None else key
    group = next_group if next_group and next_group not in filtered else _next_level(params, filtered)
    return "?" + params.query(**changes, group=group, subgroup=None)


def _sort(rows: list[SalesRow], sort: str) -> None:
    name, desc = sort.lstrip("-"), sort.startswith("-")
    rows.sort(key=lambda r: (r.date or dt.datetime.min.replace(tzinfo=dt.UTC), r.label.lower()))
    if name == "label":
        if not any(r.date for r in rows):
            rows.sort(key=lambda r: r.label.lower(), reverse=desc)
        elif desc:
            rows.reverse()
        return
    # Equal figures keep the order by name; a margin of nothing goes last.
    present = [r for r in rows if r.values[name] is not None]
    present.sort(key=lambda r: r.values[name], reverse=desc)
    rows[:] = present + [r for r in rows if r.values[name] is None]


def _row(grouping: str, key: Any, figures: dict[str, Any], labels: dict[Any, tuple[str, str]]) -> SalesRow:
    label, detail = labels.get(key, (str(key), ""))
    return SalesRow(key, label, _figures(figures["quantity"], figures["revenue"], figures["cost"]), detail=detail,
                    date=figures.get("date") if grouping == Grouping.DOCUMENT else None)


def build_sales_report(params: SalesParams) -> SalesReport:
    """Rows per group (and per second level inside each), totals, the top groups for the chart, drill-down links."""
    if params.sort.lstrip("-") not in SORTS:
        params.sort = "-revenue"
    levels = [params.group] + ([params.subgroup] if params.subgroup else [])
    data = _read(params, levels)
    labels = [_labels(g, {k[i] for k in data}) for i, g in enumerate(levels)]

    groups: dict[Any, SalesRow] = {}
    if len(levels) == 1:
        for (key,), figures in data.items():
            groups[key] = _row(levels[0], key, figures, labels[0])
    else:
        sums: dict[Any, dict[str, Any]] = {}
        for (key, _sub), figures in data.items():
            acc = sums.setdefault(key, {"quantity": ZERO, "revenue": ZERO, "cost": ZERO, "date": None})
            for name in ("quantity", "revenue", "cost"):
                acc[name] += figures[name]
            if figures.get("date") and (acc["date"] is None or figures["date"] < acc["date"]):
                acc["date"] = figures["date"]
        for key, figures in sums.items():
            groups[key] = _row(levels[0], key, figures, labels[0])
        for (key, sub), figures in data.items():
            groups[key].children.append(_row(levels[1], sub, figures, labels[1]))

    rows = list(groups.values())
    for row in rows:
        if levels[0] == Grouping.DOCUMENT:
            row.url = document_url(*row.key)
        else:
            row.url = _drill(params, {levels[0]: row.key}, params.subgroup or None)
        for child in row.children:
            if levels[1] == Grouping.DOCUMENT:
                child.url = document_url(*child.key)
            else:
                child.url = _drill(params, {levels[0]: row.key, levels[1]: child.key})
        _sort(row.children, params.sort)
    _sort(rows, params.sort)

    quantity = sum((r.values["quantity"] for r in rows), ZERO)
    revenue = sum((r.values["revenue"] for r in rows), ZERO)
    cost = sum((r.values["cost"] for r in rows), ZERO)
    totals = _figures(quantity, revenue, cost)
    return SalesReport(params, COLUMNS, rows, totals, _chart(rows), _active_filters(params))


def _chart(rows: Sequence[SalesRow]) -> list[ChartBar]:
    """The top groups by revenue: bars of revenue with the gross profit inside, scaled to the widest."""
    top = sorted((r for r in rows if r.values["revenue"] > 0), key=lambda r: r.values["revenue"], reverse=True)[:TOP]
    if not top:
        return []
    widest = top[0].values["revenue"]

    def width(value: Decimal) -> Decimal:
        return (max(value, ZERO) * 100 / widest).quantize(Decimal("0.1"))

    return [ChartBar(r.label, r.values["revenue"], r.values["profit"], width(r.values["revenue"]),
                     width(r.values["profit"])) for r in top]


def _active_filters(params: SalesParams) -> list[ActiveFilter]:
    result = []
    names = {"manager": Grouping.MANAGER, "partner": Grouping.CLIENT, "item": Grouping.ITEM}
    for param, grouping in names.items():
        value = getattr(params, param)
        if value is None:
            continue
        key = None if grouping == Grouping.MANAGER and value == NO_MANAGER else value
        label = _labels(grouping, {key}).get(key, (str(value), ""))[0]
        result.append(ActiveFilter(str(GROUPING_LABELS[grouping]), label, "?" + params.query(**{param: None})))
    return result


def sales_xlsx(report: SalesReport, filters: Sequence[str] = ()) -> bytes:
    columns = report.columns
    two_levels = bool(report.params.subgroup)
    header = [report.group_label, *([report.subgroup_label] if two_levels else []), *[str(c.label) for c in columns]]
    rows: list[SheetRow] = []
    for r in report.rows:
        rows.append(SheetRow([r.label, *([""] if two_levels else []), *[r.values[c.key] for c in columns]],
                             level=1 if two_levels else 0))
        for child in r.children:
            rows.append(SheetRow(["", child.label, *[child.values[c.key] for c in columns]]))
    rows.append(SheetRow([_("Total"), *([""] if two_levels else []), *[report.totals[c.key] for c in columns]],
                         level=2))
    places: list[int | None] = [None, *([None] if two_levels else []), *[c.places for c in columns]]
    widths = [40, *([40] if two_levels else []), *[16 for _c in columns]]
    title = _("Sales report (%(group)s), %(period)s") % {"group": report.group_label, "period": report.subtitle}
    return workbook(title, _("Sales"), [*[f"{f.label}: {f.value}" for f in report.active_filters], *filters],
                    header, rows, places, widths)
