"""The sales order list: computed states, % paid and shipped, debt and the overdue flag, filters, sorting, and a
number of queries that does not grow with the number of orders."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from torg.conftest import moment
from torg.sales.models import OrderState, OrderStateCode, OrderStatus, SalesOrder

D = Decimal
pytestmark = pytest.mark.django_db

# (state, days from today to its event date): overdue = not closed and the event date has passed
KINDS = [(OrderStateCode.AWAITING_PAYMENT, -5), (OrderStateCode.SHIPPING, 5), (OrderStateCode.CLOSED, -5)]


def make_orders(organization: Any, partner: Any, warehouse: Any, manager: Any, count: int, first: int = 0) -> None:
    today = timezone.localdate()
    orders = SalesOrder.objects.bulk_create([
        SalesOrder(organization=organization, partner=partner, warehouse=warehouse, manager=manager,
                   number=f"T-{i:06d}", date=moment("2026-03-01") + dt.timedelta(minutes=i), amount=D(1000),
                   posted=True, status=OrderStatus.TO_SHIP)
        for i in range(first, first + count)])
    rows = []
    for n, order in enumerate(orders, start=first):
        state, days = KINDS[n % 3]
        rows.append(OrderState(order=order, state=state, event_date=today + dt.timedelta(days=days),
                               paid_amount=D(400), paid_percent=D(40), shipped_amount=D(1000),
                               shipped_percent=D(100), debt=D(600)))
    OrderState.objects.bulk_create(rows)


def queries_of(web: Client, url: str) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = web.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


def test_the_order_list_reads_a_fixed_number_of_queries_whatever_the_number_of_orders(
        client: Client, manager: Any, organization: Any, client_partner: Any, warehouse: Any):
    client.force_login(manager)
    url = reverse("sales:orders_list")
    make_orders(organization, client_partner, warehouse, manager, 30)
    few, _page = queries_of(client, url)
    make_orders(organization, client_partner, warehouse, manager, 270, first=30)
    many, page = queries_of(client, url)
    assert many == few <= 12
    assert page.count('data-order="') == 50  # one page
    assert "300 records" in page


def test_the_order_list_shows_states_and_flags_overdue_orders_in_red(
        client: Client, manager: Any, organization: Any, client_partner: Any, warehouse: Any):
    client.force_login(manager)
    make_orders(organization, client_partner, warehouse, manager, 9)
    page = client.get(reverse("sales:orders_list") + "?sort=number").content.decode()
    rows = page.split("<tbody>")[1].split("</tbody>")[0].split("<tr ")[1:]
    assert len(rows) == 9
    first = rows[0]  # T-000000: awaiting payment, its date passed
    assert 'class="torg-overdue"' in first and "Awaiting payment" in first and "overdue" in first
    assert "40 %" not in first and ">40.00<" in first.replace(" ", "").replace("\n", "")  # % paid
    assert "600.00" in first and "Produkty na Lesnoy" in first
    assert "torg-overdue" not in rows[1] and "Shipping" in rows[1]  # not due yet
    assert "torg-overdue" not in rows[2] and "Closed" in rows[2]  # closed is never overdue

    overdue = client.get(reverse("sales:orders_list") + "?is_overdue=1").content.decode()
    assert "3 records" in overdue and overdue.count('class="torg-overdue"') == 3
    shipping = client.get(reverse("sales:orders_list") + "?state__state=shipping").content.decode()
    assert "3 records" in shipping
    mine = client.get(reverse("sales:orders_list") + f"?manager={manager.pk}&status=to_ship").content.decode()
    assert "9 records" in mine
    assert "0 records" in client.get(reverse("sales:orders_list") + "?status=closed").content.decode()


def test_sorting_paging_and_the_htmx_table(client: Client, manager: Any, organization: Any, client_partner: Any,
                                           warehouse: Any):
    client.force_login(manager)
    make_orders(organization, client_partner, warehouse, manager, 60)
    url = reverse("sales:orders_list")
    by_number = client.get(url + "?sort=-number").content.decode()
    assert by_number.index("T-000059") < by_number.index("T-000058")
    second = client.get(url + "?sort=number&page=2").content.decode()
    assert "T-000050" in second and "T-000049" not in second
    partial = client.get(url + "?state__state=closed", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="list-table")
    text = partial.content.decode()
    assert text.lstrip().startswith('<div id="list-table">') and "<html" not in text
    assert "20 records" in text
    for column in ("state__paid_percent", "state__shipped_percent", "state__debt", "state__event_date", "amount"):
        assert client.get(url + f"?sort=-{column}").status_code == 200
    assert client.get(url + "?from=2026-03-01&to=2026-03-01&page=xx&sort=nonsense&status=bad").status_code == 200
