"""Reserve as goods arrive (резервировать по мере поступления).

An order line with this securing option waits ("awaiting supply") until the warehouse has enough free stock
of its item. When a posting changes stock of an item such lines wait for, a job is queued (after the commit);
it turns the waiting lines into reserves, oldest order first, each line whole, while free stock lasts and
the order's advance is paid. The job is the same code a person could run by hand for a warehouse.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from django.db import models, transaction

from torg.core import jobs
from torg.core.errors import CoreError
from torg.core.posting import on_register_written

log = logging.getLogger("torg.sales.arrivals")
JOB_NAME = "sales.reserve_arrivals"


def _waiting_lines() -> Any:
    from torg.sales.models import OrderStatus, SalesOrderLine, Securing

    return SalesOrderLine.objects.filter(securing=Securing.ON_ARRIVAL, cancelled=False, document__posted=True,
                                         document__status__in=[OrderStatus.TO_SECURE, OrderStatus.TO_SHIP])


def stock_changed(document: models.Model, keys: set[str]) -> None:
    """Listener on the Stock register, called with the keys whose stock grew (a receipt, a reserve let go):
    queue a reservation run when their items have waiting lines. A shipment, which only lowers stock, asks
    nothing."""
    from torg.sales.models import SalesOrder

    if isinstance(document, SalesOrder):
        return  # an order's own reserve never frees stock for others
    pairs = {tuple(int(p) for p in key.split("|")) for key in keys}
    items = {item for _w, item in pairs}
    if not _waiting_lines().filter(item_id__in=items).exists():
        return
    jobs.enqueue(JOB_NAME, {"keys": sorted(keys)}, unique_key=None)


def reserve_arrivals(keys: list[str] | None = None) -> int:
    """Reserve waiting lines where free stock now allows. Returns the number of lines reserved."""
    from torg.sales.models import SalesOrder, Securing
    from torg.sales.services import _lines_of, save_order
    from torg.stock.models import Stock

    waiting = _waiting_lines().select_related("document").order_by("document__date", "document_id", "line_no")
    if keys:
        pairs = {tuple(int(p) for p in key.split("|")) for key in keys}
        waiting = waiting.filter(item_id__in={i for _w, i in pairs})
    by_order: dict[int, list[Any]] = defaultdict(list)
    for line in waiting:
        by_order[line.document_id].append(line)
    reserved = 0
    for order_id, lines in by_order.items():
        with transaction.atomic():
            order = SalesOrder.objects.select_for_update().get(pk=order_id)
            current = _lines_of(order)
            wanted = {ln.code for ln in lines}
            changed = False
            for line in current:
                if line.code not in wanted or line.securing != Securing.ON_ARRIVAL:
                    continue
                warehouse = line.warehouse_id or order.warehouse_id
                free = Stock.balance(warehouse=warehouse, item=line.item_id)["free"]
                if free >= line.quantity:
                    line.securing = Securing.RESERVE
                    changed = True
            if not changed:
                continue
            try:
                with transaction.atomic():
                    save_order(order, current, stages=list(order.stages.all()), user=None,
                               expected_version=order.version, review_deviations=False)
            except CoreError as exc:  # the advance is not paid, or someone took the stock meanwhile
                log.info("order %s not reserved on arrival: %s", order, exc)
                continue
            reserved += sum(1 for ln in current if ln.code in wanted and ln.securing == Securing.RESERVE)
    return reserved


@jobs.job(JOB_NAME)
def _reserve_job(payload: dict[str, Any]) -> None:
    reserve_arrivals(payload.get("keys"))


def connect() -> None:
    from torg.stock.models import Stock

    on_register_written(Stock, stock_changed, grew_only=True)
