"""An order saved agreed or released at once (`save_order(status=…)`, the page's "Save and release to ship", the
API's `status` on create): one step instead of save, agree and release, under the same rules."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.core.errors import ErrorCode
from torg.sales import services
from torg.sales.models import (
    ApprovalState,
    OrderApproval,
    OrderBacklog,
    OrderPaymentStage,
    OrderStateCode,
    OrderStatus,
    SalesOrder,
    SalesOrderLine,
    StageKind,
)
from torg.sales.tests.test_refusals import make_order, refused, registers_verify

D = Decimal
pytestmark = pytest.mark.django_db


def _new(organization: Any, client: Any, warehouse: Any, *, agreement: Any = None) -> SalesOrder:
    return SalesOrder(organization=organization, partner=client, warehouse=warehouse, agreement=agreement,
                      date=moment("2026-03-10", 10))


def test_an_order_saved_to_ship_is_the_order_saved_agreed_and_released(
        organization, warehouse, client_partner, milk, bread, stocked, manager):
    one_step = _new(organization, client_partner, warehouse)
    services.save_order(one_step, [SalesOrderLine(item=milk, quantity=D(4), price=D(100)),
                                   SalesOrderLine(item=bread, quantity=D(2), price=D(50))],
                        stages=[], user=manager, status=OrderStatus.TO_SHIP)
    three_steps = make_order(organization, client_partner, warehouse, [(milk, 4, 100), (bread, 2, 50)], user=manager)
    services.submit_order(three_steps, user=manager)
    services.release_to_ship(three_steps, user=manager)

    for order in (one_step, three_steps):
        order.refresh_from_db()
    assert one_step.posted and one_step.status == OrderStatus.TO_SHIP and one_step.agreed_at is not None
    assert one_step.approval == three_steps.approval
    assert one_step.state.state == three_steps.state.state
    for order in (one_step, three_steps):
        assert OrderBacklog.balance(order=order, line_code="1", item=milk, warehouse=warehouse)["quantity"] == D(4)
    # It ships from the backlog like any released order.
    picks = [services.Pick(one_step.pk, code) for code in (1, 2)]
    shipments = services.create_shipments_from_backlog(picks, user=manager, date=moment("2026-03-11"))
    assert [s.amount for s in shipments] == [D("500.00")]
    registers_verify()


def test_agreeing_at_save_an_order_that_departs_from_its_agreement_sends_it_to_approval(
        organization, warehouse, client_partner, agreement, prices, milk, bread, manager):
    order = _new(organization, client_partner, warehouse, agreement=agreement)
    services.save_order(order, [SalesOrderLine(item=bread, quantity=D(30), price=D(48))], user=manager,
                        status=OrderStatus.TO_SHIP)
    order.refresh_from_db()
    assert (order.status, order.approval, order.posted) == (OrderStatus.NOT_AGREED, ApprovalState.PENDING, True)
    assert order.agreed_at is None
    approval = OrderApproval.objects.get(order=order)
    assert {d["requested_status"] for d in approval.deviations} == {OrderStatus.TO_SHIP}


def test_releasing_at_save_waits_for_the_prepayment_and_writes_nothing(
        organization, warehouse, client_partner, milk, stocked, manager, director):
    def save(user: Any) -> SalesOrder:
        order = _new(organization, client_partner, warehouse)
        services.save_order(order, [SalesOrderLine(item=milk, quantity=D(4), price=D(100))], user=user,
                            stages=[OrderPaymentStage(kind=StageKind.PREPAYMENT, percent=D(100), days=0)],
                            status=OrderStatus.TO_SHIP)
        return order

    error = refused(lambda: save(manager))
    assert error.code == services.PAYMENT_TERMS
    assert SalesOrder.objects.count() == 0
    # The director may release before the prepayment.
    order = save(director)
    order.refresh_from_db()
    assert order.status == OrderStatus.TO_SHIP


def test_only_agreeing_or_releasing_happens_at_save(organization, warehouse, client_partner, milk, stocked, manager):
    order = _new(organization, client_partner, warehouse)
    lines = [SalesOrderLine(item=milk, quantity=D(1), price=D(100))]
    error = refused(lambda: services.save_order(order, lines, stages=[], user=manager, status=OrderStatus.CLOSED))
    assert error.code == ErrorCode.INVALID and "status" in error.fields
    assert order.status == OrderStatus.NOT_AGREED  # the refused order in memory is as it was

    services.save_order(order, lines, stages=[], user=manager, status=OrderStatus.TO_SHIP)
    order = SalesOrder.objects.get(pk=order.pk)
    error = refused(lambda: services.save_order(order, list(order.lines.all()), user=manager,
                                                expected_version=order.version, status=OrderStatus.TO_SECURE))
    assert error.fields["status"] == ["The order is already «to ship»: change its status with the status operation."]
    assert order.status == OrderStatus.TO_SHIP


def test_an_orders_number_stages_state_and_log_are_written_last_and_together(
        organization, warehouse, client_partner, milk, stocked, manager, django_assert_num_queries):
    """An order's save writes its number, payment stages, computed state and log entries at its end: on PostgreSQL
    in one statement (data-modifying WITH parts), elsewhere one by one — with the same result."""
    from django.db import connection

    from torg.core.models import ChangeLogEntry

    order = _new(organization, client_partner, warehouse)
    statements: list[str] = []

    def spy(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(spy):
        services.save_order(order, [SalesOrderLine(item=milk, quantity=D(3), price=D(100))],
                            stages=[OrderPaymentStage(kind=StageKind.CREDIT, percent=100, days=5)],
                            user=manager, status=OrderStatus.TO_SHIP)
    order.refresh_from_db()
    assert order.number and order.state.state == OrderStateCode.SHIPPING
    assert [(s.kind, s.amount) for s in order.stages.all()] == [(StageKind.CREDIT, D("300.00"))]
    assert list(ChangeLogEntry.objects.filter(content_type__model="salesorder", object_id=order.pk)
                .order_by("id").values_list("action", flat=True)) == ["created", "posted"]
    last = [s for s in statements if "numbersequence" in s.lower()]
    if connection.vendor == "postgresql":
        assert len(last) == 1 and "sales_orderpaymentstage" in last[0] and "sales_orderstate" in last[0]
        assert "core_changelogentry" in last[0]
        assert [s for s in statements if "SAVEPOINT" not in s][-1] is last[0]  # nothing after it
    registers_verify()


def test_an_order_that_closes_itself_as_it_is_saved_still_gets_its_number(
        organization, warehouse, client_partner, milk, bread, stocked, manager):
    """Its number and its closing update the same row: they are not parts of one statement (PostgreSQL would keep
    only one of them)."""
    order = _new(organization, client_partner, warehouse)
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(3), price=D(100), cancelled=True,
                                               cancel_reason="client changed its mind")],
                        stages=[], user=manager, status=OrderStatus.TO_SHIP)
    order.refresh_from_db()
    assert order.number.endswith("000001") and order.status == OrderStatus.CLOSED
    assert order.state.state == OrderStateCode.CLOSED
