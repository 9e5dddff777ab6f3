"""The computed state of sales orders (состояние заказа), derived from registers after every posting.

`evaluate()` is a pure function of an order and the register figures about it; `refresh_order_states()`
reads those figures for a batch of orders in a fixed number of queries and rewrites their OrderState rows.
The conditions are evaluated in the reference's order, first match wins (DESIGN.md).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils import timezone

from torg.catalogs.models import ItemKind
from torg.core.money import round_money

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass
class OrderFigures:
    """What the registers say about one order."""

    paid: Decimal = ZERO  # payments allocated to the order and advances offset to it
    shipped: Decimal = ZERO  # amount shipped against the order (with VAT)
    backlog: Decimal = ZERO  # quantity released and not yet shipped
    reserved: dict[tuple[int, int], Decimal] = field(default_factory=dict)  # (warehouse, item) → reserved
    to_issue: bool = False  # an order-based warehouse still has to issue goods sold on it
    issue_difference: bool = False  # it issued other quantities than were sold
    last_shipment: dt.date | None = None


@dataclass
class Evaluated:
    state: str
    event_date: dt.date | None
    paid_amount: Decimal
    paid_percent: Decimal
    shipped_amount: Decimal
    shipped_percent: Decimal
    debt: Decimal
    issue_difference: bool


def _percent(part: Decimal, whole: Decimal) -> Decimal:
    if whole <= 0:
        return HUNDRED if part > 0 else ZERO
    return (part * HUNDRED / whole).quantize(Decimal("0.01"))


def _stage_date(order: Any, kind: str) -> dt.date | None:
    dates = [s.due_date for s in order.stages.all() if s.kind == kind and s.due_date]
    return min(dates) if dates else None


def evaluate(order: Any, lines: Sequence[Any], figures: OrderFigures, *, auto_close: bool) -> Evaluated:
    """The state of a posted or unposted order, first matching condition wins."""
    from torg.sales.models import OrderStateCode as S
    from torg.sales.models import OrderStatus, Securing, StageKind

    amount = order.amount
    paid, shipped = figures.paid, figures.shipped
    debt = max(shipped - paid, ZERO)
    result = Evaluated("", None, paid, _percent(paid, amount), shipped, _percent(shipped, amount), debt,
                       figures.issue_difference)
    live = [ln for ln in lines if not ln.cancelled and ln.quantity > 0]
    ship_dates = [ln.shipment_date for ln in live if ln.shipment_date] or (
        [order.shipment_date] if order.shipment_date else [])
    ship_by = min(ship_dates) if ship_dates else None

    def done(state: str, event: dt.date | None = None) -> Evaluated:
        result.state, result.event_date = state, event
        return result

    if not order.posted:
        return done(S.NOT_POSTED)
    if order.status == OrderStatus.NOT_AGREED:
        return done(S.AWAITING_APPROVAL, ship_by)
    if order.status == OrderStatus.CLOSED:
        return done(S.CLOSED)
    released_all = order.releases_all
    to_pay_before_securing = order.advance_amount
    to_pay_before_shipping = order.advance_amount + order.prepayment_amount
    nothing_left = released_all and figures.backlog <= 0
    if order.status == OrderStatus.TO_SECURE and to_pay_before_securing > 0 and paid < to_pay_before_securing:
        return done(S.AWAITING_ADVANCE, _stage_date(order, StageKind.ADVANCE))
    if not released_all and any(ln.securing == Securing.NONE and ln.item_kind == ItemKind.GOODS for ln in live):
        return done(S.READY_TO_SECURE, ship_by)
    if order.prepayment_amount > 0 and paid < to_pay_before_shipping and not nothing_left:
        return done(S.AWAITING_PREPAYMENT, _stage_date(order, StageKind.PREPAYMENT))
    if any(ln.securing == Securing.ON_ARRIVAL and ln.item_kind == ItemKind.GOODS for ln in live):
        return done(S.AWAITING_SUPPLY, ship_by)
    if not released_all and any(ln.securing != Securing.SHIP for ln in live):
        return done(S.READY_TO_SHIP, ship_by)
    if figures.to_issue or figures.issue_difference:
        return done(S.READY_TO_SHIP, ship_by)
    if figures.backlog > 0:
        return done(S.SHIPPING, ship_by)
    if paid < max(shipped, amount):
        credit = _stage_date(order, StageKind.CREDIT)
        if credit is None and figures.last_shipment is not None:
            days = max((s.days for s in order.stages.all() if s.kind == StageKind.CREDIT), default=0)
            credit = figures.last_shipment + dt.timedelta(days=days)
        return done(S.AWAITING_PAYMENT, credit)
    if auto_close:
        return done(S.CLOSED)
    return done(S.READY_TO_CLOSE)


def collect_figures(order_ids: Sequence[int]) -> dict[int, OrderFigures]:
    """Register figures of many orders in a fixed number of queries."""
    from torg.sales.models import (
        ClientSettlementsTotal,
        GoodsToIssueTotal,
        OrderBacklogTotal,
        ReservesTotal,
        ShipmentLine,
    )

    figures: dict[int, OrderFigures] = {pk: OrderFigures() for pk in order_ids}
    if not order_ids:
        return figures
    for row in (ClientSettlementsTotal.objects.filter(order_id__in=order_ids).values("order_id")
                .annotate(s=Sum("shipped"), p=Sum("paid")).order_by()):
        f = figures[row["order_id"]]
        f.shipped, f.paid = round_money(row["s"] or 0), round_money(row["p"] or 0)
    for row in (OrderBacklogTotal.objects.filter(order_id__in=order_ids).values("order_id")
                .annotate(q=Sum("quantity")).order_by()):
        figures[row["order_id"]].backlog = Decimal(str(row["q"] or 0))
    for row in ReservesTotal.objects.filter(order_id__in=order_ids).values("order_id", "warehouse_id", "item_id",
                                                                          "quantity"):
        figures[row["order_id"]].reserved[(row["warehouse_id"], row["item_id"])] = Decimal(str(row["quantity"]))
    shipment_orders: dict[int, set[int]] = defaultdict(set)
    shipment_dates: dict[int, dt.datetime] = {}
    for shipment_id, order_id, when in (ShipmentLine.objects.filter(order_id__in=order_ids, document__posted=True)
                                        .values_list("document_id", "order_id", "document__date").distinct()):
        shipment_orders[shipment_id].add(order_id)
        shipment_dates[shipment_id] = when
    if shipment_orders:
        for row in GoodsToIssueTotal.objects.filter(shipment_id__in=list(shipment_orders)).exclude(quantity=0) \
                .values("shipment_id", "quantity"):
            for order_id in shipment_orders[row["shipment_id"]]:
                f = figures[order_id]
                if row["quantity"] > 0:
                    f.to_issue = True
                else:
                    f.issue_difference = True
        for shipment_id, when in shipment_dates.items():
            day = timezone.localtime(when).date()
            for order_id in shipment_orders[shipment_id]:
                f = figures[order_id]
                f.last_shipment = max(f.last_shipment or day, day)
    return figures


def refresh_order_states(order_ids: Iterable[int]) -> None:
    """Rewrite the computed state of these orders; close the ones that are done when the company wants that."""
    from torg.core.documents import log_change
    from torg.core.models import ChangeLogEntry, SystemSettings
    from torg.sales.models import OrderState, OrderStateCode, OrderStatus, SalesOrder

    ids = sorted({int(i) for i in order_ids if i})
    if not ids:
        return
    orders = list(SalesOrder.objects.filter(pk__in=ids).select_related("state").prefetch_related("lines", "stages"))
    figures = collect_figures(ids)
    auto_close = SystemSettings.get().close_orders_automatically
    existing = set()
    for order in orders:
        try:
            existing.add(order.state.order_id)
        except OrderState.DoesNotExist:
            pass
    new_rows, changed_rows, closing = [], [], []
    for order in orders:
        ev = evaluate(order, list(order.lines.all()), figures[order.pk], auto_close=auto_close)
        if ev.state == OrderStateCode.CLOSED and order.status != OrderStatus.CLOSED:
            closing.append(order)
        row = OrderState(order_id=order.pk, state=ev.state, event_date=ev.event_date, paid_amount=ev.paid_amount,
                         paid_percent=ev.paid_percent, shipped_amount=ev.shipped_amount,
                         shipped_percent=ev.shipped_percent, debt=ev.debt, issue_difference=ev.issue_difference,
                         updated_at=timezone.now())
        (changed_rows if order.pk in existing else new_rows).append(row)
    if new_rows:
        OrderState.objects.bulk_create(new_rows)
    fields = ["state", "event_date", "paid_amount", "paid_percent", "shipped_amount", "shipped_percent", "debt",
              "issue_difference", "updated_at"]
    if len(changed_rows) == 1:  # the usual case, one order: a plain UPDATE costs a fraction of bulk_update's CASE
        row = changed_rows[0]
        OrderState.objects.filter(pk=row.order_id).update(**{name: getattr(row, name) for name in fields})
    elif changed_rows:
        OrderState.objects.bulk_update(changed_rows, fields)
    if closing:
        # Everything is shipped and paid: the order's movements are the same closed or not, so only the
        # status changes (users of 1C complain that orders stay "ready to close" for ever).
        SalesOrder.objects.filter(pk__in=[o.pk for o in closing]).update(status=OrderStatus.CLOSED)
        for order in closing:
            log_change(order, ChangeLogEntry.Action.CHANGED, None,
                       changes={"status": [order.status, OrderStatus.CLOSED]},
                       comment="closed automatically: shipped and paid")


def refresh_states_of_shipments(shipment_ids: Sequence[int]) -> None:
    from torg.sales.models import ShipmentLine

    if not shipment_ids:
        return
    refresh_order_states(ShipmentLine.objects.filter(document_id__in=shipment_ids, order__isnull=False)
                         .values_list("order_id", flat=True).distinct())


def order_stage_amounts(order: Any) -> dict[str, Decimal]:
    from torg.sales.models import StageKind

    totals = {k: ZERO for k in StageKind.values}
    for stage in order.stages.all():
        totals[stage.kind] += stage.amount
    return totals
