"""Settlement reports over a month of trade made through the services: receivables with planned payments, debts,
prepayments, overdue and aging buckets; a client's settlement card and reconciliation statement; payment
discipline; their pages, .xlsx exports, query counts and permissions."""
from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from torg.catalogs.models import Partner
from torg.core.models import SystemSettings
from torg.core.permissions import Role
from torg.reports.common import safe_reverse
from torg.reports.settlements import (
    CardParams,
    DisciplineParams,
    ReceivablesParams,
    build_payment_discipline,
    build_receivables,
    build_settlement_card,
)
from torg.reports.tests.conftest import History, make_order, pay, sell

pytestmark = pytest.mark.django_db
D = Decimal
APRIL_15 = dt.date(2026, 4, 15)
# planned advance, prepayment, credit, total, debt, our debt, overdue, days overdue,
# then the buckets: not due, 1–30, 31–60, 61–90, over 90
VALUES = ("planned_advance", "planned_prepayment", "planned_credit", "planned_total", "debt", "our_debt", "overdue",
          "days_overdue", "bucket_0", "bucket_1", "bucket_2", "bucket_3", "bucket_4")


def figures(values: dict[str, Any], keys: tuple[str, ...] = VALUES) -> tuple[Any, ...]:
    return tuple(values[k] for k in keys)


def lines_of(report: Any) -> list[tuple[Any, ...]]:
    return [(g.partner, ln.document, ln.due_date, *figures(ln.values)) for g in report.groups for ln in g.lines]


# ============================================================== receivables
def test_receivables_by_client_and_object(history: History) -> None:
    report = build_receivables(ReceivablesParams(today=APRIL_15))

    a, b, c = history.order_a, history.order_b, history.order_c
    s1, s2 = history.sale_1, history.sale_2
    assert [str(col.label) for col in report.buckets] == ["Not due", "1–30 days", "31–60 days", "61–90 days",
                                                          "Over 90 days"]
    assert lines_of(report) == [
        # Bakery: sale 1 due 15.03 is 31 days late with 250 left; sale 2 is due 01.05
        ("Bakery Nord", str(s1), dt.date(2026, 3, 15), 0, 0, D("250.00"), D("250.00"), D("250.00"), 0, D("250.00"),
         31, 0, 0, D("250.00"), 0, 0),
        ("Bakery Nord", str(s2), dt.date(2026, 5, 1), 0, 0, D("200.00"), D("200.00"), D("200.00"), 0, 0, 0,
         D("200.00"), 0, 0, 0, 0),
        # Cafe: an advance with nothing to pay is our debt
        ("Cafe Luna", "Advance not allocated", None, 0, 0, 0, 0, 0, D("150.00"), 0, 0, 0, 0, 0, 0, 0),
        # Produkty: B awaits its advance (every stage planned), C holds 350 paid ahead with its credit still to
        # come, A owes its credit of 300, due ten days after the shipment of 11.03
        ("Produkty na Lesnoy", str(b), dt.date(2026, 3, 13), D("300.00"), D("400.00"), D("300.00"), D("1000.00"),
         0, 0, 0, 0, 0, 0, 0, 0, 0),
        ("Produkty na Lesnoy", str(c), dt.date(2026, 3, 13), 0, 0, D("150.00"), D("150.00"), 0, D("350.00"), 0, 0,
         0, 0, 0, 0, 0),
        ("Produkty na Lesnoy", str(a), dt.date(2026, 3, 21), 0, 0, D("300.00"), D("300.00"), D("300.00"), 0,
         D("300.00"), 25, 0, D("300.00"), 0, 0, 0),
    ]
    assert [(g.partner, *figures(g.totals)) for g in report.groups] == [
        ("Bakery Nord", 0, 0, D("450.00"), D("450.00"), D("450.00"), 0, D("250.00"), 31, D("200.00"), 0,
         D("250.00"), 0, 0),
        ("Cafe Luna", 0, 0, 0, 0, 0, D("150.00"), 0, 0, 0, 0, 0, 0, 0),
        ("Produkty na Lesnoy", D("300.00"), D("400.00"), D("750.00"), D("1450.00"), D("300.00"), D("350.00"),
         D("300.00"), 25, 0, D("300.00"), 0, 0, 0),
    ]
    assert figures(report.totals) == (D("300.00"), D("400.00"), D("1200.00"), D("1900.00"), D("750.00"),
                                      D("500.00"), D("550.00"), 31, D("200.00"), D("300.00"), D("250.00"), 0, 0)
    # The closed order D (shipped and paid in full) owes nothing and is not listed.
    assert str(history.order_d) not in {ln.document for g in report.groups for ln in g.lines}


def test_receivables_filters_and_sorting(history: History, other_organization: Any) -> None:
    overdue = build_receivables(ReceivablesParams(today=APRIL_15, only_overdue=True))
    assert [(ln[0], ln[1], ln[7], ln[9]) for ln in lines_of(overdue)] == [
        ("Bakery Nord", str(history.sale_1), D("250.00"), D("250.00")),
        ("Produkty na Lesnoy", str(history.order_a), D("300.00"), D("300.00")),
    ]
    assert figures(overdue.totals, ("debt", "overdue", "planned_total")) == (D("550.00"), D("550.00"),
                                                                              D("550.00"))

    produkty = build_receivables(ReceivablesParams(today=APRIL_15, partner=history.produkty.pk))
    assert [g.partner for g in produkty.groups] == ["Produkty na Lesnoy"]
    assert figures(produkty.totals, ("debt", "our_debt")) == (D("300.00"), D("350.00"))

    assert build_receivables(ReceivablesParams(today=APRIL_15, organization=other_organization.pk)).groups == []

    by_debt = build_receivables(ReceivablesParams(today=APRIL_15, sort="-debt"))
    assert [g.partner for g in by_debt.groups] == ["Bakery Nord", "Produkty na Lesnoy", "Cafe Luna"]
    assert [ln.document for ln in by_debt.groups[0].lines] == [str(history.sale_1), str(history.sale_2)]
    by_our_debt = build_receivables(ReceivablesParams(today=APRIL_15, sort="-our_debt"))
    assert [g.partner for g in by_our_debt.groups] == ["Produkty na Lesnoy", "Cafe Luna", "Bakery Nord"]
    by_bucket = build_receivables(ReceivablesParams(today=APRIL_15, sort="-bucket_1"))  # 1–30 days late
    assert [g.partner for g in by_bucket.groups][0] == "Produkty na Lesnoy"
    unknown = build_receivables(ReceivablesParams(today=APRIL_15, sort="-nonsense"))
    assert unknown.params.sort == "client" and [g.partner for g in unknown.groups][0] == "Bakery Nord"


def test_aging_buckets_come_from_the_settings(history: History) -> None:
    settings = SystemSettings.get()
    settings.aging_buckets = "20, 10"
    settings.save()
    report = build_receivables(ReceivablesParams(today=APRIL_15))
    assert [str(col.label) for col in report.buckets] == ["Not due", "1–10 days", "11–20 days", "Over 20 days"]
    # 25 and 31 days late: both beyond the last bound
    assert figures(report.totals, ("bucket_0", "bucket_1", "bucket_2", "bucket_3")) == (D("200.00"), 0, 0,
                                                                                        D("550.00"))
    # Earlier the same debts were not overdue at all.
    march_20 = build_receivables(ReceivablesParams(today=dt.date(2026, 3, 20)))
    assert figures(march_20.totals, ("overdue", "days_overdue", "bucket_0", "bucket_1")) == (
        D("250.00"), 5, D("500.00"), D("250.00"))


# ========================================================= settlement card
def test_settlement_card_of_a_month(history: History) -> None:
    p = history.payments
    card = build_settlement_card(CardParams(organization=history.order_a.organization_id,
                                            partner=history.produkty.pk, start=dt.date(2026, 3, 1),
                                            end=dt.date(2026, 3, 31)))
    assert (card.organization, card.partner, card.opening) == ("ООО «Ромашка»", "Produkty na Lesnoy", D(0))
    assert [(ln.document, ln.debit, ln.credit, ln.balance) for ln in card.lines] == [
        (str(p["a_advance"]), 0, D("300.00"), D("-300.00")),
        (str(p["a_prepayment"]), 0, D("400.00"), D("-700.00")),
        (str(history.ship_a), D("1000.00"), 0, D("300.00")),
        (str(history.ship_d), D("200.00"), 0, D("500.00")),
        (str(p["d_full"]), 0, D("200.00"), D("300.00")),
        (str(p["c_advance"]), 0, D("150.00"), D("150.00")),
        (str(p["c_prepayment"]), 0, D("200.00"), D("-50.00")),
    ]
    # −50: A owes 300, C holds 350 paid ahead — the same as the receivables' debt less our debt
    assert (card.debit, card.credit, card.closing) == (D("1200.00"), D("1250.00"), D("-50.00"))
    if safe_reverse("shipping:shipments_edit", history.ship_a.pk):
        assert card.lines[2].url == reverse("shipping:shipments_edit", args=[history.ship_a.pk])
    if safe_reverse("payments:payment_detail", p["a_advance"].pk):
        assert card.lines[0].url == reverse("payments:payment_detail", args=[p["a_advance"].pk])

    # From 12.03: the opening balance is what the earlier documents left
    later = build_settlement_card(CardParams(organization=history.order_a.organization_id,
                                             partner=history.produkty.pk, start=dt.date(2026, 3, 12),
                                             end=dt.date(2026, 3, 13)))
    assert later.opening == D("300.00")
    assert [ln.document for ln in later.lines] == [str(history.ship_d), str(p["d_full"])]
    assert later.closing == D("300.00")


def test_settlement_card_needs_a_client(history: History) -> None:
    card = build_settlement_card(CardParams(organization=history.order_a.organization_id))
    assert not card.params.complete and card.lines == [] and card.print_url == ""


# ======================================================= payment discipline
def test_payment_discipline(history: History) -> None:
    report = build_payment_discipline(DisciplineParams(start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 30),
                                                       today=APRIL_15))
    keys = ("orders", "late", "late_percent", "average_delay", "debt", "overdue", "overdue_share")
    # Produkty: D paid on time; A (credit due 21.03), B and C (advance due 13.03) still unpaid on 15.04:
    # 25, 33 and 33 days late. Bakery had no orders, only its debt shows. Cafe owes nothing: not listed.
    assert [(r.partner, *figures(r.values, keys)) for r in report.rows] == [
        ("Produkty na Lesnoy", 4, 3, D("75.0"), D("30.3"), D("300.00"), D("300.00"), D("100.0")),
        ("Bakery Nord", 0, 0, None, None, D("450.00"), D("250.00"), D("55.6")),
    ]
    assert figures(report.totals, keys) == (4, 3, D("75.0"), D("30.3"), D("750.00"), D("550.00"), D("73.3"))

    # Only the orders falling due in the period count: A's credit (21.03) is the only one after 15.03.
    late_march = build_payment_discipline(DisciplineParams(start=dt.date(2026, 3, 16), end=dt.date(2026, 3, 31),
                                                           today=APRIL_15, sort="client"))
    assert [(r.partner, *figures(r.values, keys[:4])) for r in late_march.rows] == [
        ("Bakery Nord", 0, 0, None, None), ("Produkty na Lesnoy", 2, 1, D("50.0"), D("25.0"))]


# ================================================================== pages
def xlsx_rows(response: Any) -> list[tuple[Any, ...]]:
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    ws = load_workbook(io.BytesIO(response.content)).active
    return [tuple(c.value for c in row) for row in ws.iter_rows()]


def test_receivables_page_and_xlsx(history: History, client: Client, accountant: Any,
                                   django_assert_max_num_queries: Any) -> None:
    client.force_login(accountant)
    with django_assert_max_num_queries(20):
        response = client.get(reverse("reports:receivables"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="client-group"') == 3
    totals = html.split('id="report-totals"')[1].split("</tr>")[0]
    cells = [x.split("<")[0].strip() for x in totals.split('text-nowrap">')[1:]]
    # planned ×4, debt, our debt, overdue, days (grows with today), then the buckets: by now (this test runs
    # after the summer of 2026) every debt is more than 90 days late
    assert cells[:7] == ["300.00", "400.00", "1,200.00", "1,900.00", "750.00", "500.00", "750.00"]
    assert cells[8:] == ["0.00", "0.00", "0.00", "0.00", "750.00"]
    if safe_reverse("sales:orders_edit", history.order_a.pk):
        assert f'href="{reverse("sales:orders_edit", args=[history.order_a.pk])}"' in html
    assert f'{reverse("reports:settlement_card")}?partner={history.produkty.pk}' in html

    response = client.get(reverse("reports:receivables"), {"overdue": "on", "format": "xlsx"})
    rows = xlsx_rows(response)
    assert rows[0][0].startswith("Receivables on ")
    assert rows[1] == ("Only overdue",) + (None,) * (len(rows[1]) - 1)
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Client")
    assert rows[header_at][:12] == ("Client", "Organization", "Order, shipment", "Due", "Planned: advance",
                                    "Planned: prepayment", "Planned: credit", "Planned: total", "Client's debt",
                                    "Our debt", "Overdue", "Days overdue")
    body = [r[:11] for r in rows[header_at + 1:]]
    # today every debt is overdue, also sale 2 (due 01.05)
    assert body == [
        ("Bakery Nord", None, None, None, 0, 0, 450, 450, 450, 0, 450),
        (None, "ООО «Ромашка»", str(history.sale_1), dt.datetime(2026, 3, 15), 0, 0, 250, 250, 250, 0, 250),
        (None, "ООО «Ромашка»", str(history.sale_2), dt.datetime(2026, 5, 1), 0, 0, 200, 200, 200, 0, 200),
        ("Produkty na Lesnoy", None, None, None, 0, 0, 300, 300, 300, 0, 300),
        (None, "ООО «Ромашка»", str(history.order_a), dt.datetime(2026, 3, 21), 0, 0, 300, 300, 300, 0, 300),
        ("Total", None, None, None, 0, 0, 750, 750, 750, 0, 750),
    ]
    assert rows[-1][-1] == 750  # over 90 days


def test_card_and_reconciliation_pages(history: History, client: Client, accountant: Any) -> None:
    client.force_login(accountant)
    query = {"organization": history.order_a.organization_id, "partner": history.produkty.pk,
             "start": "2026-03-01", "end": "2026-03-31"}
    response = client.get(reverse("reports:settlement_card"), query)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count('class="card-line"') == 7
    totals = html.split('id="report-totals"')[1].split("</tr>")[0]
    assert [x.split("<")[0].strip() for x in totals.split('text-nowrap">')[1:]] == ["03/31/2026", "1,200.00",
                                                                                     "1,250.00", "-50.00"]
    assert "We owe the client 50.00 (a prepayment)." in html
    printing = safe_reverse("printing:reconciliation")
    if printing:
        assert (f"{printing}?organization={history.order_a.organization_id}&amp;partner={history.produkty.pk}"
                "&amp;start=2026-03-01&amp;end=2026-03-31") in html

    rows = xlsx_rows(client.get(reverse("reports:settlement_card"), {**query, "format": "xlsx"}))
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Date")
    body = rows[header_at + 1:]
    assert body[0][1:] == ("Opening balance", None, None, 0)
    assert [r[2:] for r in body[1:-1]] == [(0, 300, -300), (0, 400, -700), (1000, 0, 300), (200, 0, 500),
                                           (0, 200, 300), (0, 150, 150), (0, 200, -50)]
    assert body[-1][1:] == ("Closing balance", 1200, 1250, -50)

    response = client.get(reverse("reports:reconciliation"), query)
    html = response.content.decode()
    assert response.status_code == 200 and html.count('class="reconciliation-line"') == 7
    closing = html.split('id="reconciliation-closing"')[1].split("</tr>")[0]
    # we owe the client 50: credit on our side, debit on the client's
    assert [x.split("<")[0].strip() for x in closing.split('text-nowrap">')[1:]] == ["", "50.00", "50.00", ""]
    assert "the debt is in favour of Produkty na Lesnoy: 50.00." in html
    rows = xlsx_rows(client.get(reverse("reports:reconciliation"), {**query, "format": "xlsx"}))
    assert rows[-2][1:] == ("Turnover for the period", 1200, 1250, 1250, 1200)
    assert rows[-1][1:] == ("Closing balance", 0, 50, 50, 0)

    # Without a client the page asks for one
    response = client.get(reverse("reports:settlement_card"))
    assert response.status_code == 200 and 'id="choose-client"' in response.content.decode()


def test_payment_discipline_page_and_xlsx(history: History, client: Client, accountant: Any) -> None:
    client.force_login(accountant)
    query = {"start": "2026-03-01", "end": "2026-04-30", "sort": "client"}
    response = client.get(reverse("reports:payment_discipline"), query)
    assert response.status_code == 200
    assert response.content.decode().count('class="discipline-row"') == 2
    rows = xlsx_rows(client.get(reverse("reports:payment_discipline"), {**query, "format": "xlsx"}))
    header_at = next(i for i, r in enumerate(rows) if r[0] == "Client")
    assert rows[header_at + 1][:3] == ("Bakery Nord", 0, 0)
    assert rows[header_at + 2][:3] == ("Produkty na Lesnoy", 4, 3)
    assert rows[-1][0] == "Total" and rows[-1][1:3] == (4, 3)


# ===================================================================== speed
def _count(fn: Any) -> int:
    with CaptureQueriesContext(connection) as ctx:
        fn()
    return len(ctx.captured_queries)


def test_receivables_queries_do_not_grow_with_the_history(history: History, agreement: Any, milk: Any,
                                                           bread: Any, warehouse: Any, cash_desk: Any, manager: Any,
                                                           director: Any) -> None:
    def build() -> Any:
        return build_receivables(ReceivablesParams(today=APRIL_15))

    before = _count(build)
    # Ten more clients, each with two sales on credit (one partly paid), an order with its advance paid and an
    # order awaiting its advance; 60 more documents posted through the services.
    org = agreement.organization
    for n in range(10):
        partner = Partner.objects.create(name=f"Client {n:02}", is_client=True)
        first = sell(org, partner, warehouse, [(bread, 1, "50")], "2026-03-02", dt.date(2026, 3, 20), director)
        sell(org, partner, warehouse, [(bread, 1, "40")], "2026-03-03", dt.date(2026, 5, 20), director)
        pay(org, partner, cash_desk, "20.00", "2026-03-04", manager, shipment=first)
        order = make_order(agreement, partner, [(milk, 1)], "2026-03-05", manager)
        pay(org, partner, cash_desk, "30.00", "2026-03-06", manager, order=order)
        make_order(agreement, partner, [(milk, 2)], "2026-03-07", manager)
    after = _count(build)
    assert after == before
    report = build()
    assert len(report.groups) == 13 and report.line_count == 6 + 10 * 4
    assert report.totals["debt"] == D("750.00") + 10 * D("70.00")
    assert report.totals["our_debt"] == D("500.00") + 10 * D("30.00")


# ============================================================== permissions
@pytest.mark.parametrize("name", ["receivables", "settlement_card", "reconciliation", "payment_discipline"])
def test_settlement_reports_need_their_right(client: Client, role_user: Any, name: str) -> None:
    url = reverse(f"reports:{name}")
    assert client.get(url).status_code == 302  # to the login page
    for role in (Role.STOREKEEPER, Role.CASHIER, Role.LOGISTICIAN):
        client.force_login(role_user(role, f"u_{role}_{name}"))
        assert client.get(url).status_code == 403
        assert client.get(url, {"format": "xlsx"}).status_code == 403
    client.force_login(role_user(Role.SALES_MANAGER, f"manager_{name}"))
    assert client.get(url).status_code == 200
