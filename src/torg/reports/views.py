"""Report pages. Thin: parse the filter form, build the report (`torg.reports.stock`), render or export."""
from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from torg.core.permissions import Cap
from torg.reports.forms import StockReportForm
from torg.reports.stock import MODE_LABELS, Mode, build_stock_report, stock_report_xlsx
from torg.web.access import requires

PAGE_SIZE = 100
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
