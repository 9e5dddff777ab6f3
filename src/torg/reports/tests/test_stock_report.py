"""The stock report: exact figures at two dates and for a period, filters, and the .xlsx export."""
from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from torg.conftest import moment
from torg.reports.stock import Mode, StockReportParams, build_stock_report
from torg.stock.tests.helpers import purchase, transfer, write_off

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def data(organization: Any, warehouse: Any, warehouse2: Any, supplier: Any, milk: Any, bread: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-01-10"), [(milk, 10, 61), (bread, 5, "30.50")])
    transfer(organization, warehouse, warehouse2, moment("2025-02-05"), [(milk, 4)])
    write_off(organization, warehouse2, moment("2025-02-20"), [(milk, 1)])
    purchase(organization, warehouse, supplier, moment("2025-03-03"), [(milk, 6, 61)])


def table(report: Any) -> list[tuple[Any, ...]]:
    return [(r.place, r.item, *[r.values[c.key] for c in report.columns]) for r in report.rows]


def test_balance_at_two_dates(data: None) -> None:
    jan = build_stock_report(StockReportParams(mode=Mode.BALANCE, date=moment("2025-01-31").date()))
    assert table(jan) == [("Central", "Bread", D("5.000")), ("Central", "Milk 1L", D("10.000"))]
    assert jan.totals == {"quantity": D("15.000")}
    feb = build_stock_report(StockReportParams(mode=Mode.BALANCE, date=moment("2025-02-28").date(), sort="place"))
    assert table(feb) == [("Central", "Bread", D("5.000")), ("Central", "Milk 1L", D("6.000")),
                          ("North", "Milk 1L", D("3.000"))]
    assert feb.totals == {"quantity": D("14.000")}


def test_the_day_itself_is_included(data: None) -> None:
    report = build_stock_report(StockReportParams(mode=Mode.BALANCE, date=moment("2025-01-10").date()))
    assert report.totals == {"quantity": D("15.000")}
    before = build_stock_report(StockReportParams(mode=Mode.BALANCE, date=moment("2025-01-09").date()))
    assert before.rows == []


def test_turnover_for_a_period(data: None) -> None:
    report = build_stock_report(StockReportParams(mode=Mode.TURNOVER, start=moment("2025-02-01").date(),
                                                  end=moment("2025-03-31").date(), sort="place"))
    assert table(report) == [
        ("Central", "Bread", D("5.000"), D("0.000"), D("0.000"), D("5.000")),
        ("Central", "Milk 1L", D("10.000"), D("6.000"), D("4.000"), D("12.000")),
        ("North", "Milk 1L", D("0.000"), D("4.000"), D("1.000"), D("3.000")),
    ]
    assert report.totals == {"opening": D("15.000"), "receipt": D("10.000"), "expense": D("5.000"),
                             "closing": D("20.000")}


def test_cost_by_organization(data: None) -> None:
    report = build_stock_report(StockReportParams(mode=Mode.COST, date=moment("2025-02-28").date()))
    assert table(report) == [("ООО «Ромашка»", "Bread", D("5.000"), D("125.00"), D("25.00")),
                             ("ООО «Ромашка»", "Milk 1L", D("9.000"), D("450.00"), D("50.00"))]
    assert report.totals == {"quantity": D("14.000"), "amount": D("575.00"), "unit_cost": None}


def test_filters_warehouse_search_nonzero_and_sort(data: None, warehouse2: Any, warehouse: Any) -> None:
    feb = moment("2025-02-28").date()
    north = build_stock_report(StockReportParams(date=feb, warehouses=[warehouse2.pk]))
    assert table(north) == [("North", "Milk 1L", D("3.000"))]
    milk = build_stock_report(StockReportParams(date=feb, search="milk", sort="-quantity"))
    assert table(milk) == [("Central", "Milk 1L", D("6.000")), ("North", "Milk 1L", D("3.000"))]
    none = build_stock_report(StockReportParams(date=feb, search="nothing like this"))
    assert none.rows == [] and none.totals == {"quantity": D("0")}
    # North had no milk at the end of January: the zero row appears only when asked for.
    early = moment("2025-01-31").date()
    assert len(build_stock_report(StockReportParams(date=early, warehouses=[warehouse2.pk])).rows) == 0


def test_page_and_xlsx_show_the_same_numbers(data: None, client: Client, storekeeper: Any, settings: Any,
                                             django_assert_max_num_queries: Any) -> None:
    settings.LANGUAGE_CODE = "ru"  # the page in Russian: numbers with a decimal comma, the .xlsx translated too
    client.force_login(storekeeper)
    params = {"mode": "turnover", "start": "2025-02-01", "end": "2025-03-31", "nonzero": "on", "sort": "place"}
    with django_assert_max_num_queries(16):
        response = client.get(reverse("reports:stock"), params)
    html = response.content.decode()
    assert response.status_code == 200
    totals = html.split('id="report-totals"')[1].split("</tr>")[0]
    assert [x.split("<")[0].strip() for x in totals.split('text-nowrap">')[1:]] == ["15,000", "10,000", "5,000",
                                                                                     "20,000"]
    response = client.get(reverse("reports:stock"), {**params, "format": "xlsx"})
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(response.content)).active
    rows = [tuple(c.value for c in row) for row in ws.iter_rows()]
    assert rows[0][0] == "Ведомость по товарам на складах: Обороты за период, с 01.02.2025 по 31.03.2025"
    header_at = next(i for i, r in enumerate(rows) if r[1] == "Номенклатура")
    assert rows[header_at] == ("Склад", "Номенклатура", "Артикул", "Ед. изм.", "Начальный остаток", "Приход",
                               "Расход", "Конечный остаток")
    body = rows[header_at + 1:]
    assert body == [
        ("Central", "Bread", None, "шт", 5, 0, 0, 5),
        ("Central", "Milk 1L", None, "шт", 10, 6, 4, 12),
        ("North", "Milk 1L", None, "шт", 0, 4, 1, 3),
        ("Итого", None, None, None, 15, 10, 5, 20),
    ]


def test_report_is_refused_to_roles_without_it(client: Client, role_user: Any) -> None:
    client.force_login(role_user("cashier"))
    assert client.get(reverse("reports:stock")).status_code == 403
