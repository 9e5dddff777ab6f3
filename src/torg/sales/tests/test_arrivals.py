"""Reserve as goods arrive: a waiting line is reserved by the job a stock receipt queues."""
from __future__ import annotations

from decimal import Decimal

import pytest

from torg.conftest import moment
from torg.core import jobs
from torg.core.models import Job
from torg.sales import services
from torg.sales.models import OrderStateCode, OrderStatus, Reserves, SalesOrder, SalesOrderLine, Securing
from torg.stock.models import Stock
from torg.stock.tests.helpers import purchase

pytestmark = pytest.mark.django_db
D = Decimal


def test_a_line_waiting_for_goods_is_reserved_when_they_arrive(organization, warehouse, client_partner, supplier,
                                                               make_item, director,
                                                               django_capture_on_commit_callbacks):
    cheese = make_item("Cheese")
    order = SalesOrder(organization=organization, partner=client_partner, warehouse=warehouse,
                       date=moment("2026-04-01", 9), status=OrderStatus.TO_SECURE)
    services.save_order(order, [SalesOrderLine(item=cheese, quantity=D(8), price=D(300),
                                               securing=Securing.ON_ARRIVAL)], user=director, post=True)
    order.refresh_from_db()
    assert order.state.state == OrderStateCode.AWAITING_SUPPLY
    assert Reserves.balance(warehouse=warehouse, item=cheese, order=order)["quantity"] == 0

    # Too little arrives: the line keeps waiting (lines are reserved whole).
    with django_capture_on_commit_callbacks(execute=True):
        purchase(organization, warehouse, supplier, moment("2026-04-02", 9), [(cheese, 5, 200)])
    jobs.run_until_empty()
    order.refresh_from_db()
    assert order.lines.get().securing == Securing.ON_ARRIVAL

    # Enough arrives: the job reserves the line; the state moves on; free stock drops by the reserve.
    with django_capture_on_commit_callbacks(execute=True):
        purchase(organization, warehouse, supplier, moment("2026-04-03", 9), [(cheese, 5, 200)])
    assert Job.objects.filter(name="sales.reserve_arrivals", status=Job.Status.QUEUED).count() == 1
    jobs.run_until_empty()
    order.refresh_from_db()
    assert order.lines.get().securing == Securing.RESERVE
    assert Reserves.balance(warehouse=warehouse, item=cheese, order=order)["quantity"] == D(8)
    assert Stock.balance(warehouse=warehouse, item=cheese) == {"quantity": D(10), "free": D(2)}
    assert order.state.state == OrderStateCode.READY_TO_SHIP


def test_a_receipt_of_items_nobody_waits_for_queues_nothing(organization, warehouse, supplier, milk,
                                                            django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        purchase(organization, warehouse, supplier, moment("2026-04-02", 9), [(milk, 5, 20)])
    assert not Job.objects.filter(name="sales.reserve_arrivals").exists()
