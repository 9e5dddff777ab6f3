"""The sales report over a month of trade made through the services: revenue without VAT, cost, gross profit and
margin by client, manager, item and document; two levels; drill-down from a group to the shipments that made its
figures; the chart; the page and the .xlsx export; permissions."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from django.http import QueryDict
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from torg.core.permissions import Role
from torg.reports.common import safe_reverse
from torg.reports.forms import SalesReportForm
from torg.reports.sales import Grouping, SalesParams, build_sales_report
from torg.reports.tests.conftest import History, sell

pytestmark = pytest.mark.django_db
D = Decimal
MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}
KEYS = ("quantity", "revenue", "cost", "profit", "margin")
# Revenue is without the 22 % VAT inside the prices; cost is the average of purchases at 60 (milk) and 30
# (bread) with VAT, without it: 49.18 and 24.59 a unit.
MILK_A = (D("10.000"), D("819.67"), D("491.80"), D("327.87"), D("40.00"))  # order A: 10 × 100
MILK_D = (D("2.000"), D("163.93"), D("98.36"), D("65.57"), D("40.00"))  # order D: 2 × 100
BREAD_1 = (D("10.000"), D("368.85"), D("245.90"), D("122.95"), D("33.33"))  # sale 1: 10 × 45
BREAD_2 = (D("4.000"), D("163.93"), D("98.36"), D("65.57"), D("40.00"))  # sale 2: 4 × 50
TOTAL = (D("26.000"), D("1516.38"), D("934.42"), D("581.96"), D("38.38"))


def table(report: Any) -> list[tuple[Any, ...]]:
    return [(r.label, *[r.values[k] for k in KEYS]) for r in report.rows]


def totals(report: Any) -> tuple[Any, ...]:
    return tuple(report.totals[k] for k in KEYS)


def params_of(url: str) -> SalesParams:
    """What following a drill-down link asks for: the link's query read by the page's own form."""
    query = QueryDict(urlparse(url).query)
    form = SalesReportForm(query)
    assert form.is_valid(), form.errors
    return form.params()


def test_by_client_manager_item_and_document(history: History, manager: Any, director: Any) -> None:
    by_client = build_sales_report(SalesParams(**MARCH, group=Grouping.CLIENT))
    assert table(by_client) == [
        ("Produkty na Lesnoy", D("12.000"), D("983.60"), D("590.16"), D("393.44"), D("40.00")),
        ("Bakery Nord", D("14.000"), D("532.78"), D("344.26"), D("188.52"), D("35.38")),
    ]
    assert totals(by_client) == TOTAL

    by_manager = build_sales_report(SalesParams(**MARCH, group=Grouping.MANAGER))
    assert table(by_manager) == [
        ("manager", D("16.000"), D("1147.53"), D("688.52"), D("459.01"), D("40.00")),
        ("director", *BREAD_1),
    ]
    assert totals(by_manager) == TOTAL

    by_item = build_sales_report(SalesParams(**MARCH, group=Grouping.ITEM, sort="label"))
    assert table(by_item) == [
        ("Bread", D("14.000"), D("532.78"), D("344.26"), D("188.52"), D("35.38")),
        ("Milk 1L", D("12.000"), D("983.60"), D("590.16"), D("393.44"), D("40.00")),
    ]

    by_document = build_sales_report(SalesParams(**MARCH, group=Grouping.DOCUMENT, sort="label"))
    # documents in the order of their dates
    assert table(by_document) == [(str(history.sale_1), *BREAD_1), (str(history.sale_2), *BREAD_2),
                                  (str(history.ship_a), *MILK_A), (str(history.ship_d), *MILK_D)]
    assert totals(by_document) == TOTAL
    if safe_reverse("shipping:shipments_edit", history.sale_1.pk):
        assert by_document.rows[0].url == reverse("shipping:shipments_edit", args=[history.sale_1.pk])


def test_period_bounds_are_whole_days(history: History) -> None:
    # 11.03 holds only the shipment of order A; 12.03 only that of order D
    day = build_sales_report(SalesParams(start=dt.date(2026, 3, 11), end=dt.date(2026, 3, 11),
                                         group=Grouping.DOCUMENT))
    assert table(day) == [(str(history.ship_a), *MILK_A)]
    two_days = build_sales_report(SalesParams(start=dt.date(2026, 3, 12), end=dt.date(2026, 3, 11),
                                              group=Grouping.CLIENT))
    assert two_days.params.start == dt.date(2026, 3, 11)  # a reversed period is turned round
    assert totals(two_days) == (D("12.000"), D("983.60"), D("590.16"), D("393.44"), D("40.00"))
    assert build_sales_report(SalesParams(start=dt.date(2026, 2, 1), end=dt.date(2026, 2, 28))).rows == []


def test_two_levels_and_drill_down_to_the_documents(history: History, manager: Any) -> None:
    report = build_sales_report(SalesParams(**MARCH, group=Grouping.MANAGER, subgroup=Grouping.CLIENT))
    first = report.rows[0]
    assert (first.label, *[first.values[k] for k in KEYS]) == ("manager", D("16.000"), D("1147.53"),
                                                               D("688.52"), D("459.01"), D("40.00"))
    assert [(c.label, c.values["revenue"], c.values["margin"]) for c in first.children] == [
        ("Produkty na Lesnoy", D("983.60"), D("40.00")), ("Bakery Nord", D("163.93"), D("40.00"))]
    assert [(c.label, c.values["revenue"]) for c in report.rows[1].children] == [("Bakery Nord", D("368.85"))]

    # The manager's row leads to the report filtered to the manager, by client (the second level).
    by_client = params_of(first.url)
    assert (by_client.manager, by_client.group, by_client.subgroup) == (manager.pk, Grouping.CLIENT, "")
    step = build_sales_report(by_client)
    assert [(r.label, r.values["revenue"]) for r in step.rows] == [("Produkty na Lesnoy", D("983.60")),
                                                                   ("Bakery Nord", D("163.93"))]
    assert [(f.label, f.value) for f in step.active_filters] == [("Manager", "manager")]

    # The manager's sales to the Bakery, by item, then the documents: sale 2 alone
    bakery = first.children[1]
    by_item = params_of(bakery.url)
    assert (by_item.manager, by_item.partner, by_item.group) == (manager.pk, history.bakery.pk, Grouping.ITEM)
    items = build_sales_report(by_item)
    assert table(items) == [("Bread", *BREAD_2)]
    documents = build_sales_report(params_of(items.rows[0].url))
    assert documents.params.group == Grouping.DOCUMENT
    assert table(documents) == [(str(history.sale_2), *BREAD_2)]
    assert totals(documents) == BREAD_2

    # A client's shipments as the second level
    with_documents = build_sales_report(SalesParams(**MARCH, group=Grouping.CLIENT, subgroup=Grouping.DOCUMENT,
                                                    sort="label"))
    assert [(r.label, [(c.label, c.values["revenue"]) for c in r.children]) for r in with_documents.rows] == [
        ("Bakery Nord", [(str(history.sale_1), D("368.85")), (str(history.sale_2), D("163.93"))]),
        ("Produkty na Lesnoy", [(str(history.ship_a), D("819.67")), (str(history.ship_d), D("163.93"))]),
    ]
    assert totals(with_documents) == TOTAL

    # Dropping a filter widens the report again
    without_manager = params_of(next(f.remove_query for f in documents.active_filters if f.label == "Manager"))
    assert table(build_sales_report(without_manager)) == [(str(history.sale_1), *BREAD_1),
                                                          (str(history.sale_2), *BREAD_2)]


def test_sales_without_a_manager(history: History, warehouse: Any, bread: Any) -> None:
    sell(history.order_a.organization, history.cafe, warehouse, [(bread, 2, "61")], "2026-03-20",
         dt.date(2026, 4, 1), None)
    report = build_sales_report(SalesParams(**MARCH, group=Grouping.MANAGER, sort="label"))
    assert [r.label for r in report.rows] == ["(no manager)", "director", "manager"]
    nobody = report.rows[0]
    assert [nobody.values[k] for k in KEYS] == [D("2.000"), D("100.00"), D("49.18"), D("50.82"), D("50.82")]
    drilled = build_sales_report(params_of(nobody.url))
    assert drilled.params.manager == 0 and table(drilled) == [
        ("Cafe Luna", D("2.000"), D("100.00"), D("49.18"), D("50.82"), D("50.82"))]


def test_chart_of_the_top_groups(history: History) -> None:
    report = build_sales_report(SalesParams(**MARCH, group=Grouping.DOCUMENT, sort="label"))
    # the biggest first, widths relative to it: profit 327.87 of 819.67 is 40.0 %
    assert [(b.label, b.revenue, b.revenue_width, b.profit_width) for b in report.chart] == [
        (str(history.ship_a), D("819.67"), D("100.0"), D("40.0")),
        (str(history.sale_1), D("368.85"), D("45.0"), D("15.0")),
        (str(history.sale_2), D("163.93"), D("20.0"), D("8.0")),
        (str(history.ship_d), D("163.93"), D("20.0"), D("8.0")),
    ]


def test_page_and_xlsx(history: History, client: Client, director: Any,
                       django_assert_max_num_queries: Any) -> None:
    client.force_login(director)
    query = {"start": "2026-03-01", "end": "2026-03-31", "group": "manager", "subgroup": "client"}
    with django_assert_max_num_queries(20):
        response = client.get(reverse("reports:sales"), query)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="chart-bar"') == 2 and 'width="100.0%"' in html
    assert html.count("sales-subrow") == 3
    footer = html.split('id="report-totals"')[1].split("</tr>")[0]
    assert [x.split("<")[0].strip() for x in footer.split('text-nowrap">')[1:]] == [
        "26.000", "1,516.38", "934.42", "581.96", "38.38"]
    # a group's link filters the report to it
    link = html.split('class="sales-row')[1].split('href="')[1].split('"')[0].replace("&amp;", "&")
    assert parse_qs(urlparse(link).query)["group"] == ["client"]

    response = client.get(reverse("reports:sales"), {**query, "format": "xlsx"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = [tuple(c.value for c in row) for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]
    assert rows[0][0] == "Sales report (Manager), from 03/01/2026 to 03/31/2026"
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Manager")
    assert rows[header_at] == ("Manager", "Client", "Quantity", "Revenue without VAT", "Cost", "Gross profit",
                               "Margin, %")
    assert rows[header_at + 1:] == [
        ("manager", None, 16, 1147.53, 688.52, 459.01, 40),
        (None, "Produkty na Lesnoy", 12, 983.6, 590.16, 393.44, 40),
        (None, "Bakery Nord", 4, 163.93, 98.36, 65.57, 40),
        ("director", None, 10, 368.85, 245.9, 122.95, 33.33),
        (None, "Bakery Nord", 10, 368.85, 245.9, 122.95, 33.33),
        ("Total", None, 26, 1516.38, 934.42, 581.96, 38.38),
    ]


def test_sales_report_needs_its_right(client: Client, role_user: Any) -> None:
    url = reverse("reports:sales")
    assert client.get(url).status_code == 302
    for role in (Role.STOREKEEPER, Role.CASHIER, Role.LOGISTICIAN):
        client.force_login(role_user(role, f"u_{role}"))
        assert client.get(url).status_code == 403
        assert client.get(url, {"format": "xlsx"}).status_code == 403
    client.force_login(role_user(Role.ACCOUNTANT, "accountant_reader"))
    assert client.get(url).status_code == 200


def test_a_wrong_parameter_falls_back_to_its_default(history: History) -> None:
    form = SalesReportForm(QueryDict("start=2026-03-01&end=2026-03-31&group=nonsense&partner=x&item=" +
                                     str(history.ship_a.lines.first().item_id)))
    params = form.params()
    assert (params.start, params.group, params.partner) == (dt.date(2026, 3, 1), Grouping.CLIENT, None)
    assert table(build_sales_report(params)) == [
        ("Produkty na Lesnoy", D("12.000"), D("983.60"), D("590.16"), D("393.44"), D("40.00"))]
