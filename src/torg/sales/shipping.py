"""What a shipment posts, and what happens in the same transaction after it is written."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import transaction

from torg.catalogs.models import Item, ItemKind, Warehouse
from torg.core.money import share_of
from torg.core.registers import Movement, Register

if TYPE_CHECKING:
    from torg.sales.models import Shipment

ZERO = Decimal(0)


@dataclass(frozen=True)
class _OrderLine:
    """What a shipment's movements need of the order line it ships."""

    quantity: Decimal
    amount: Decimal
    securing: str
    cancelled: bool


@dataclass
class _Known:
    kinds: dict[int, str]
    order_based: set[int]
    order_lines: dict[tuple[int, int], _OrderLine]


def _read_known(item_ids: set[int], warehouse_ids: set[int], codes: set[tuple[int, int]]) -> _Known:
    """The items' kinds, which of the warehouses are order-based, and the order lines shipped: one statement
    (three parts told apart by their first column, values as text)."""
    from torg.sales.models import SalesOrderLine

    db = transaction.get_connection()
    qn = db.ops.quote_name
    orders = sorted({o for o, _c in codes})
    items, warehouses = sorted(item_ids), sorted(w for w in warehouse_ids if w is not None)

    def marks(values: list[Any]) -> str:
        return ", ".join(["%s"] * len(values))

    parts = [f"SELECT 'k', CAST(id AS TEXT), kind, NULL, NULL, NULL, NULL FROM {qn(Item._meta.db_table)} "
             f"WHERE id IN ({marks(items)})"]
    params: list[Any] = list(items)
    if warehouses:
        parts.append(f"SELECT 'w', CAST(id AS TEXT), NULL, NULL, NULL, NULL, NULL FROM "
                     f"{qn(Warehouse._meta.db_table)} WHERE order_based AND id IN ({marks(warehouses)})")
        params += warehouses
    if orders:
        parts.append(f"SELECT 'l', CAST(document_id AS TEXT), CAST(code AS TEXT), CAST(quantity AS TEXT), "
                     f"CAST(amount AS TEXT), securing, CAST(cancelled AS TEXT) FROM "
                     f"{qn(SalesOrderLine._meta.db_table)} WHERE document_id IN ({marks(orders)})")
        params += orders
    with db.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    known = _Known({}, set(), {})
    for part, pk, a, quantity, amount, securing, cancelled in rows:
        if part == "k":
            known.kinds[int(pk)] = a
        elif part == "w":
            known.order_based.add(int(pk))
        elif (int(pk), int(a)) in codes:
            known.order_lines[(int(pk), int(a))] = _OrderLine(
                Decimal(quantity), Decimal(amount), securing, str(cancelled).lower() in ("1", "true", "t"))
    return known


def shipment_movements(shipment: Shipment) -> Iterable[Movement]:
    from torg.sales.models import (
        ClientSettlements,
        GoodsToIssue,
        OrderBacklog,
        Reserves,
        SalesTurnover,
        Securing,
    )
    from torg.stock.costing import issue_costs, split_cost
    from torg.stock.models import Stock, StockCost

    lines = list(shipment.lines.all())  # type: ignore[attr-defined]
    shipment.remember_line_count(len(lines))
    if not lines:
        return
    known = _read_known({ln.item_id for ln in lines}, {ln.warehouse_id or shipment.warehouse_id for ln in lines},
                        {(ln.order_id, ln.order_line_code) for ln in lines if ln.order_id and ln.order_line_code})
    kinds, order_based, order_lines = known.kinds, known.order_based, known.order_lines

    goods = [ln for ln in lines if kinds.get(ln.item_id) == ItemKind.GOODS]
    wanted: dict[int, Decimal] = {}
    for ln in goods:
        wanted[ln.item_id] = wanted.get(ln.item_id, ZERO) + ln.quantity
    costs = issue_costs(shipment, shipment.organization_id, wanted) if wanted else {}
    cost_of: dict[int, Decimal] = {}
    rows = [{"line_no": ln.line_no, "item_id": ln.item_id, "quantity": ln.quantity, "_id": id(ln)} for ln in goods]
    for row, amount in split_cost(rows, costs):
        cost_of[row["_id"]] = amount

    when = shipment.date
    owed: dict[tuple[int | None, int | None], Decimal] = {}
    for ln in lines:
        no = ln.line_no
        warehouse_id = ln.warehouse_id or shipment.warehouse_id
        is_goods = kinds.get(ln.item_id) == ItemKind.GOODS
        cost = cost_of.get(id(ln), ZERO)
        order_line = order_lines.get((ln.order_id, ln.order_line_code))
        if is_goods:
            yield StockCost.expense(when, line_no=no, organization=shipment.organization_id, item=ln.item_id,
                                    quantity=ln.quantity, amount=cost)
            if warehouse_id in order_based:
                # Sold: no longer free. The warehouse takes it off the shelf with a goods issue.
                yield Stock.expense(when, line_no=no, warehouse=warehouse_id, item=ln.item_id, quantity=ZERO,
                                    free=ln.quantity)
                yield GoodsToIssue.receipt(when, line_no=no, warehouse=warehouse_id, shipment=shipment.pk,
                                           item=ln.item_id, quantity=ln.quantity)
            else:
                yield Stock.expense(when, line_no=no, warehouse=warehouse_id, item=ln.item_id, quantity=ln.quantity)
            if order_line is not None and order_line.securing == Securing.RESERVE and not order_line.cancelled:
                # The goods reserved for this line leave with it: the reserve goes, free stock comes back for it.
                yield Reserves.expense(when, line_no=no, warehouse=warehouse_id, item=ln.item_id, order=ln.order_id,
                                       quantity=ln.quantity)
                yield Stock.receipt(when, line_no=no, warehouse=warehouse_id, item=ln.item_id, quantity=ZERO,
                                    free=ln.quantity)
        if ln.order_id and ln.order_line_code:  # a line beyond the order (code 0) takes nothing from its backlog
            ordered_amount = order_line.amount if order_line is not None else ZERO
            ordered_quantity = order_line.quantity if order_line is not None else ln.quantity
            yield OrderBacklog.expense(
                when, line_no=no, order=ln.order_id, line_code=ln.order_line_code or "", item=ln.item_id,
                warehouse=warehouse_id if is_goods else None, quantity=ln.quantity,
                amount=share_of(ordered_amount, ln.quantity, ordered_quantity) if order_line is not None else ZERO,
            )
        with_vat = ln.amount if shipment.prices_include_vat else ln.amount + ln.vat_amount
        revenue = with_vat - ln.vat_amount
        yield SalesTurnover.record(
            when, line_no=no, organization=shipment.organization_id, partner=shipment.partner_id, item=ln.item_id,
            manager=shipment.manager_id, warehouse=warehouse_id if is_goods else None, order=ln.order_id,
            quantity=ln.quantity, revenue=revenue, vat=ln.vat_amount, cost=cost,
        )
        obj = (ln.order_id, None) if ln.order_id else (None, shipment.pk)
        owed[obj] = owed.get(obj, ZERO) + with_vat
    for (order_id, shipment_id), amount in sorted(owed.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1] or 0)):
        yield ClientSettlements.receipt(when, organization=shipment.organization_id, partner=shipment.partner_id,
                                        order=order_id, shipment=shipment_id, shipped=amount)


def after_shipment_written(shipment: Shipment, changed: dict[Register, set[str]], previous_date: Any) -> None:
    from torg.sales.models import OrderBacklog, settlement_orders
    from torg.sales.states import refresh_order_states
    from torg.stock.costing import schedule_recalculation_if_backdated
    from torg.stock.models import StockCost

    schedule_recalculation_if_backdated(shipment, changed.get(StockCost, set()), previous_date)
    orders = set(settlement_orders(changed))
    orders |= {int(k.split("|")[0]) for k in changed.get(OrderBacklog, set())}
    refresh_order_states(sorted(orders))
