"""Report pages. Thin: parse the filter form, build the report (`torg.reports.stock`, `.settlements`, `.sales`),
render or export."""
from __future__ import annotations

from typing import Any

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from torg.core.permissions import Cap
from torg.reports.forms import (
    PaymentDisciplineForm,
    ReceivablesForm,
    SalesReportForm,
    SettlementCardForm,
    StockReportForm,
)
from torg.reports.sales import build_sales_report, sales_xlsx
from torg.reports.settlements import (
    build_payment_discipline,
    build_receivables,
    build_settlement_card,
    card_xlsx,
    discipline_xlsx,
    receivables_xlsx,
)
from torg.reports.stock import MODE_LABELS, Mode, build_stock_report, stock_report_xlsx
from torg.web.access import requires

PAGE_SIZE = 100
GROUP_PAGE_SIZE = 50  # clients per page of the receivables
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@requires(Cap.REPORTS_STOCK)
def stock_report_view(request: HttpRequest) -> HttpResponse:
    form = StockReportForm(request.GET)
    report = build_stock_report(form.params())
    if request.GET.get("format") == "xlsx":
        response = HttpResponse(stock_report_xlsx(report, form.describe()), content_type=XLSX)
        stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
        response["Content-Disposition"] = f'attachment; filename="stock-report-{report.params.mode}-{stamp}.xlsx"'
        return response
    page = Paginator(report.rows, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("sort", None)
    query.pop("format", None)
    sort_name = report.params.sort.lstrip("-")
    headers = []
    for key, label in [("place", report.place_label), ("item", None)] + [(c.key, c.label) for c in report.columns]:
        direction = ""
        if key == sort_name:
            direction = "desc" if report.params.sort.startswith("-") else "asc"
        headers.append({"key": key, "label": label, "direction": direction,
                        "toggle": f"-{key}" if direction == "asc" else key})
    return render(request, "reports/stock.html", {
        "form": form, "report": report, "page": page, "headers": headers, "base_query": query.urlencode(),
        "modes": [(m.value, MODE_LABELS[m]) for m in Mode], "is_turnover": report.params.mode == Mode.TURNOVER,
        "is_cost": report.params.mode == Mode.COST,
    })


# ================================================================ settlement and sales reports
def _xlsx(content: bytes, name: str) -> HttpResponse:
    response = HttpResponse(content, content_type=XLSX)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.xlsx"'
    return response


def _base_query(request: HttpRequest, *drop: str) -> str:
    query = request.GET.copy()
    for name in ("page", "sort", "format", *drop):
        query.pop(name, None)
    return query.urlencode()


def _sort_headers(current: str, columns: list[tuple[str, Any]]) -> list[dict[str, Any]]:
    """Column headers with the link that sorts by them (a second click reverses)."""
    name, desc = current.lstrip("-"), current.startswith("-")
    headers = []
    for key, label in columns:
        direction = ("desc" if desc else "asc") if key == name else ""
        headers.append({"key": key, "label": label, "direction": direction,
                        "toggle": f"-{key}" if direction == "asc" else key})
    return headers


@requires(Cap.REPORTS_SETTLEMENTS)
def receivables_view(request: HttpRequest) -> HttpResponse:
    form = ReceivablesForm(request.GET)
    report = build_receivables(form.params())
    if request.GET.get("format") == "xlsx":
        return _xlsx(receivables_xlsx(report, form.describe()), "receivables")
    page = Paginator(report.groups, GROUP_PAGE_SIZE).get_page(request.GET.get("page"))
    headers = _sort_headers(report.params.sort, [("client", _("Client"))]
                            + [(c.key, c.label) for c in report.all_columns])
    organization = f"organization={report.params.organization}&" if report.params.organization else ""
    return render(request, "reports/receivables.html", {
        "form": form, "report": report, "page": page, "headers": headers, "base_query": _base_query(request),
        "card_url": f"{reverse('reports:settlement_card')}?{organization}partner=",
    })


@requires(Cap.REPORTS_SETTLEMENTS)
def settlement_card_view(request: HttpRequest) -> HttpResponse:
    form = SettlementCardForm(request.GET)
    report = build_settlement_card(form.params())
    if request.GET.get("format") == "xlsx" and report.params.complete:
        return _xlsx(card_xlsx(report), "settlement-card")
    return render(request, "reports/settlement_card.html", {
        "form": form, "report": report, "base_query": _base_query(request),
        "reconciliation_url": reverse("reports:reconciliation") + "?" + _base_query(request),
    })


@requires(Cap.REPORTS_SETTLEMENTS)
def reconciliation_view(request: HttpRequest) -> HttpResponse:
    form = SettlementCardForm(request.GET)
    report = build_settlement_card(form.params())
    if request.GET.get("format") == "xlsx" and report.params.complete:
        return _xlsx(card_xlsx(report, reconciliation=True), "reconciliation")
    opening_debit, opening_credit = (report.opening, 0) if report.opening > 0 else (0, -report.opening)
    closing_debit, closing_credit = (report.closing, 0) if report.closing > 0 else (0, -report.closing)
    return render(request, "reports/reconciliation.html", {
        "form": form, "report": report, "base_query": _base_query(request),
        "opening": {"debit": opening_debit, "credit": opening_credit},
        "closing": {"debit": closing_debit, "credit": closing_credit},
        "card_url": reverse("reports:settlement_card") + "?" + _base_query(request),
    })


@requires(Cap.REPORTS_SETTLEMENTS)
def payment_discipline_view(request: HttpRequest) -> HttpResponse:
    form = PaymentDisciplineForm(request.GET)
    report = build_payment_discipline(form.params())
    if request.GET.get("format") == "xlsx":
        return _xlsx(discipline_xlsx(report, form.describe()), "payment-discipline")
    page = Paginator(report.rows, PAGE_SIZE).get_page(request.GET.get("page"))
    headers = _sort_headers(report.params.sort, [("client", _("Client"))] + [(c.key, c.label) for c in report.columns])
    return render(request, "reports/payment_discipline.html", {
        "form": form, "report": report, "page": page, "headers": headers, "base_query": _base_query(request),
    })


@requires(Cap.REPORTS_SALES)
def sales_report_view(request: HttpRequest) -> HttpResponse:
    form = SalesReportForm(request.GET)
    report = build_sales_report(form.params())
    if request.GET.get("format") == "xlsx":
        return _xlsx(sales_xlsx(report, form.describe()), f"sales-{report.params.group}")
    page = Paginator(report.rows, PAGE_SIZE).get_page(request.GET.get("page"))
    headers = _sort_headers(report.params.sort, [("label", report.group_label)]
                            + [(c.key, c.label) for c in report.columns])
    return render(request, "reports/sales.html", {
        "form": form, "report": report, "page": page, "headers": headers, "base_query": _base_query(request),
        "chart_height": 28 * len(report.chart) + 8,
    })
