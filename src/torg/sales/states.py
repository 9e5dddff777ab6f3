"""The computed state of sales orders (состояние заказа), derived from registers after every posting.

`evaluate()` is a pure function of an order and the register figures about it; `refresh_order_states()`
reads those figures for a batch of orders in one statement and rewrites their OrderState rows.
The conditions are evaluated in the reference's order, first match wins (DESIGN.md).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from torg.catalogs.models import ItemKind
from torg.core.money import round_money, round_quantity

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass
class OrderFigures:
    """What the registers say about one order."""

    paid: Decimal = ZERO  # payments allocated to the order and advances offset to it
    shipped: Decimal = ZERO  # amount shipped against the order (with VAT)
    backlog: Decimal = ZERO  # quantity released and not yet shipped
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


def _stage_date(stages: Sequence[Any], kind: str) -> dt.date | None:
    dates = [s.due_date for s in stages if s.kind == kind and s.due_date]
    return min(dates) if dates else None


def evaluate(order: Any, lines: Sequence[Any], figures: OrderFigures, *, auto_close: bool,
             stages: Sequence[Any] | None = None) -> Evaluated:
    """The state of a posted or unposted order, first matching condition wins (stages: the order's payment
    stages, read from it when not given)."""
    stages = list(order.stages.all()) if stages is None else stages
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
        return done(S.AWAITING_ADVANCE, _stage_date(stages, StageKind.ADVANCE))
    if not released_all and any(ln.securing == Securing.NONE and ln.item_kind == ItemKind.GOODS for ln in live):
        return done(S.READY_TO_SECURE, ship_by)
    if order.prepayment_amount > 0 and paid < to_pay_before_shipping and not nothing_left:
        return done(S.AWAITING_PREPAYMENT, _stage_date(stages, StageKind.PREPAYMENT))
    if any(ln.securing == Securing.ON_ARRIVAL and ln.item_kind == ItemKind.GOODS for ln in live):
        return done(S.AWAITING_SUPPLY, ship_by)
    if not released_all and any(ln.securing != Securing.SHIP for ln in live):
        return done(S.READY_TO_SHIP, ship_by)
    if figures.to_issue or figures.issue_difference:
        return done(S.READY_TO_SHIP, ship_by)
    if figures.backlog > 0:
        return done(S.SHIPPING, ship_by)
    if paid < max(shipped, amount):
        credit = _stage_date(stages, StageKind.CREDIT)
        if credit is None and figures.last_shipment is not None:
            days = max((s.days for s in stages if s.kind == StageKind.CREDIT), default=0)
            credit = figures.last_shipment + dt.timedelta(days=days)
        return done(S.AWAITING_PAYMENT, credit)
    if auto_close:
        return done(S.CLOSED)
    return done(S.READY_TO_CLOSE)


def _figures_sql(n: int, pad: int = 0) -> str:
    """One statement for the register figures of n orders: four parts told apart by their first column, every
    value as text so that the parts line up on any database (`pad` NULL columns more, to join other parts)."""
    from torg.sales.models import ClientSettlementsTotal, GoodsToIssueTotal, OrderBacklogTotal, Shipment, ShipmentLine

    marks = ", ".join(["%s"] * n)
    settlements, backlog = ClientSettlementsTotal._meta.db_table, OrderBacklogTotal._meta.db_table
    lines, shipments, to_issue = ShipmentLine._meta.db_table, Shipment._meta.db_table, GoodsToIssueTotal._meta.db_table
    shipped = (f'SELECT DISTINCT l.order_id, l.document_id, d."date" AS shipped_at FROM {lines} l JOIN {shipments} d '
               f"ON d.id = l.document_id WHERE l.order_id IN ({marks}) AND d.posted")
    # What an order-based warehouse still has to issue (or issued differently) counts for the orders whose own
    # lines it is: a shipment may carry several orders, from several warehouses.
    own_goods = (f"SELECT DISTINCT l.order_id, l.document_id, l.item_id, COALESCE(l.warehouse_id, d.warehouse_id) "
                 f"AS warehouse_id FROM {lines} l JOIN {shipments} d ON d.id = l.document_id "
                 f"WHERE l.order_id IN ({marks}) AND d.posted")
    more = ", NULL" * pad
    return (
        f"SELECT 's', CAST(order_id AS TEXT), CAST(SUM(shipped) AS TEXT), CAST(SUM(paid) AS TEXT){more} "
        f"FROM {settlements} WHERE order_id IN ({marks}) GROUP BY order_id "
        f"UNION ALL SELECT 'b', CAST(order_id AS TEXT), CAST(SUM(quantity) AS TEXT), NULL{more} FROM {backlog} "
        f"WHERE order_id IN ({marks}) GROUP BY order_id "
        f"UNION ALL SELECT 'd', CAST(order_id AS TEXT), CAST(MAX(shipped_at) AS TEXT), NULL{more} "
        f"FROM ({shipped}) sd GROUP BY order_id "
        f"UNION ALL SELECT 'i', CAST(si.order_id AS TEXT), "
        f"CAST(SUM(CASE WHEN g.quantity > 0 THEN 1 ELSE 0 END) AS TEXT), "
        f"CAST(SUM(CASE WHEN g.quantity < 0 THEN 1 ELSE 0 END) AS TEXT){more} FROM ({own_goods}) si "
        f"JOIN {to_issue} g ON g.shipment_id = si.document_id AND g.item_id = si.item_id "
        f"AND g.warehouse_id = si.warehouse_id WHERE g.quantity <> 0 GROUP BY si.order_id"
    )


def moment_from_text(text: str) -> dt.datetime:
    """A date and time a statement read as text (PostgreSQL writes its offset, SQLite stores UTC without one)."""
    value = parse_datetime(text.replace("T", " "))
    if value is None:
        raise ValueError(f"not a date and time: {text!r}")
    return value if timezone.is_aware(value) else timezone.make_aware(value, dt.UTC)


def collect_figures(order_ids: Sequence[int]) -> dict[int, OrderFigures]:
    """Register figures of many orders in one statement."""
    figures: dict[int, OrderFigures] = {pk: OrderFigures() for pk in order_ids}
    if not order_ids:
        return figures
    ids = list(figures)
    with connection.cursor() as cursor:
        cursor.execute(_figures_sql(len(ids)), ids * 4)
        rows = cursor.fetchall()
    _add_figures(figures, rows)
    return figures


def _add_figures(figures: dict[int, OrderFigures], rows: Iterable[Sequence[Any]]) -> None:
    for part, order_id, a, b, *_more in rows:
        f = figures[int(order_id)]
        if part == "s":
            f.shipped, f.paid = round_money(Decimal(a or 0)), round_money(Decimal(b or 0))
        elif part == "b":
            f.backlog = round_quantity(Decimal(a or 0))
        elif part == "d":
            f.last_shipment = timezone.localtime(moment_from_text(a)).date()
        else:
            f.to_issue, f.issue_difference = int(a) > 0, int(b) > 0


Loaded = tuple[Any, Sequence[Any], Sequence[Any]]


def _flag(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "t")


def _day(value: Any) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(str(value)[:10])


def _states_sql(n: int) -> str:
    """What `evaluate` reads of n orders, their lines and their payment stages: three parts ('o' orders, 'l' lines,
    'g' payment stages) of 8 columns, values as text; `_loaded_from` makes partial instances of them."""
    from torg.sales.models import OrderPaymentStage, SalesOrder, SalesOrderLine

    marks = ", ".join(["%s"] * n)
    qn = connection.ops.quote_name
    return (f"SELECT 'o', CAST(id AS TEXT), status, CAST(posted AS TEXT), CAST(amount AS TEXT), "
           f"CAST(advance_amount AS TEXT), CAST(prepayment_amount AS TEXT), CAST(shipment_date AS TEXT) "
           f"FROM {qn(SalesOrder._meta.db_table)} WHERE id IN ({marks}) "
           f"UNION ALL SELECT 'l', CAST(document_id AS TEXT), securing, CAST(cancelled AS TEXT), "
           f"CAST(quantity AS TEXT), item_kind, NULL, CAST(shipment_date AS TEXT) "
           f"FROM {qn(SalesOrderLine._meta.db_table)} WHERE document_id IN ({marks}) "
           f"UNION ALL SELECT 'g', CAST(order_id AS TEXT), kind, NULL, CAST(days AS TEXT), NULL, NULL, "
           f"CAST(due_date AS TEXT) FROM {qn(OrderPaymentStage._meta.db_table)} WHERE order_id IN ({marks})")


def _loaded_from(rows: Iterable[Sequence[Any]]) -> dict[int, Loaded]:
    from torg.sales.models import OrderPaymentStage, SalesOrder, SalesOrderLine

    orders: dict[int, Any] = {}
    lines: dict[int, list[Any]] = {}
    stages: dict[int, list[Any]] = {}
    for part, pk, a, b, c, d, e, day in rows:
        pk = int(pk)
        if part == "o":
            orders[pk] = SalesOrder(pk=pk, status=a, posted=_flag(b), amount=round_money(Decimal(c)),
                                    advance_amount=round_money(Decimal(d)),
                                    prepayment_amount=round_money(Decimal(e)), shipment_date=_day(day))
        elif part == "l":
            lines.setdefault(pk, []).append(SalesOrderLine(
                securing=a, cancelled=_flag(b), quantity=round_quantity(Decimal(c)), item_kind=d,
                shipment_date=_day(day)))
        else:
            stages.setdefault(pk, []).append(OrderPaymentStage(kind=a, days=int(c or 0), due_date=_day(day)))
    return {pk: (order, lines.get(pk, []), stages.get(pk, [])) for pk, order in orders.items()}
  # an order with its lines and payment stages, as saved


def refresh_order_states(order_ids: Iterable[int], *, loaded: dict[int, Loaded] | None = None) -> None:
    """Rewrite the computed state of these orders; close the ones that are done when the company wants that.

    `loaded` gives orders the caller holds as they were just saved (with their lines and stages): they are not
    read again. The company's auto-close setting is read only when an order is done."""
    from torg.core.documents import upsert_statement, write_later
    from torg.core.models import ChangeLogEntry, SystemSettings
    from torg.sales.models import OrderState, OrderStateCode, OrderStatus, SalesOrder

    ids = sorted({int(i) for i in order_ids if i})
    if not ids:
        return
    loaded = dict(loaded or {})
    missing = [pk for pk in ids if pk not in loaded]
    if missing:  # the orders and their figures in one statement
        figures = {pk: OrderFigures() for pk in ids}
        with connection.cursor() as cursor:
            cursor.execute(f"{_states_sql(len(missing))} UNION ALL {_figures_sql(len(ids), pad=4)}",
                           missing * 3 + ids * 4)
            rows = cursor.fetchall()
        loaded.update(_loaded_from(r for r in rows if r[0] in ("o", "l", "g")))
        _add_figures(figures, (r for r in rows if r[0] not in ("o", "l", "g")))
    else:
        figures = collect_figures(ids)
    auto_close: bool | None = None
    rows, closing = [], []
    for pk in ids:
        if pk not in loaded:
            continue  # deleted meanwhile
        order, lines, stages = loaded[pk]
        ev = evaluate(order, lines, figures[pk], auto_close=True, stages=stages)
        if ev.state == OrderStateCode.CLOSED and order.status != OrderStatus.CLOSED:
            if auto_close is None:
                auto_close = SystemSettings.get().close_orders_automatically
            if auto_close:
                closing.append(order)
            else:
                ev.state = OrderStateCode.READY_TO_CLOSE
        rows.append(OrderState(order_id=pk, state=ev.state, event_date=ev.event_date, paid_amount=ev.paid_amount,
                               paid_percent=ev.paid_percent, shipped_amount=ev.shipped_amount,
                               shipped_percent=ev.shipped_percent, debt=ev.debt,
                               issue_difference=ev.issue_difference, updated_at=timezone.now()))
    fields = ["state", "event_date", "paid_amount", "paid_percent", "shipped_amount", "shipped_percent", "debt",
              "issue_difference", "updated_at"]
    # One statement on PostgreSQL: the states (new rows inserted, existing ones overwritten) and, for orders that
    # are done, their status and its log entry. Everything is shipped and paid: the order's movements are the same
    # closed or not, so only the status changes (users of 1C complain that orders stay "ready to close" for ever).
    writes = [upsert_statement(OrderState, rows, unique=["order"], update=fields)] if rows else []
    if closing:
        table = connection.ops.quote_name(SalesOrder._meta.db_table)
        writes.append((f"UPDATE {table} SET status = %s WHERE id IN ({', '.join(['%s'] * len(closing))})",
                       [OrderStatus.CLOSED.value, *(o.pk for o in closing)]))
    if writes:
        write_later(writes, updates=closing, logged=[(order, None, [(ChangeLogEntry.Action.CHANGED,
                                               {"status": [order.status, OrderStatus.CLOSED]})],
                                "closed automatically: shipped and paid") for order in closing])
    for order in closing:
        order.status = OrderStatus.CLOSED


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
