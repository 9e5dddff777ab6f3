"""Moving weighted average cost per organization and item.

An issue takes quantity × the average at the document's moment: the
StockCost balance (amount / quantity) of everything before it — earlier
periods, and at the same period, documents that sort before it. Taking the
whole remaining quantity takes the whole remaining amount, so no kopeck is
left behind.

A document posted, changed or unposted *before* later issues of the same
items makes their costs stale. Posting then schedules a recalculation from
its date (a background job, also `manage.py recalculate_costs`), which
re-posts the later issuing documents in chronological order; the result is
exactly what posting everything in date order gives.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from torg.core import jobs
from torg.core.documents import Document
from torg.core.models import Job
from torg.core.money import allocate, round_money, share_of
from torg.core.posting import write_movements
from torg.core.registers import RecordType
from torg.core.statements import query_once

log = logging.getLogger("torg.stock.costing")
JOB_NAME = "stock.recalculate_costs"


def _cost_register() -> Any:
    from torg.stock.models import StockCost

    return StockCost


def issue_costs(document: Document, organization_id: int, quantities: dict[int, Decimal]) -> dict[int, Decimal]:
    """The cost of issuing `quantities` (item id → quantity) at the document's moment."""
    register = _cost_register()
    if not quantities:
        return {}
    item_of = {register.key_of((organization_id, item_id)): item_id for item_id in quantities}
    keys = sorted(item_of)
    # Issuers of the same items are serialized (PostgreSQL: the total rows locked in key order, before anything is
    # read) so two of them never take the same average twice. A document dated after every movement of its items
    # (the usual one, dated now) takes the kept totals; one dated before some takes the balance at its moment.
    if connection.vendor == "postgresql" and transaction.get_connection().in_atomic_block:
        query_once(f"lock {register.name} totals", lambda keys: register.total_model.objects.select_for_update()
                   .filter(key__in=keys).order_by("key").values_list("id"), keys=keys)
    kept = register.kept_if_nothing_from(document.date, keys)
    # What the posting's check for later issues (schedule_recalculation_if_backdated) can take from here.
    document.__dict__["_cost_nothing_from"] = (document.date, set(keys)) if kept is not None else None
    if kept is not None:
        balances = {item_of[key]: balance for key, balance in kept.items()}
    else:
        ct = ContentType.objects.get_for_model(document)
        balances = {item: balance for (item,), balance in register.balances_at(
            document.date, ["item"], before=(ct.pk, document.pk or 0),
            organization=organization_id, item=list(quantities),
        ).items()}
    costs: dict[int, Decimal] = {}
    for item_id, quantity in quantities.items():
        balance = balances.get(item_id, {"quantity": Decimal(0), "amount": Decimal(0)})
        on_hand, amount = balance["quantity"], round_money(balance["amount"])
        if on_hand <= 0 or quantity <= 0:
            costs[item_id] = Decimal("0.00")
        elif quantity >= on_hand:
            # Everything that is left; an excess (refused by stock control in ordinary posting,
            # possible for a moment during a recalculation) is valued at the average.
            costs[item_id] = amount + share_of(amount, quantity - on_hand, on_hand)
        else:
            costs[item_id] = share_of(amount, quantity, on_hand)
    return costs


def split_cost(lines: list[dict[str, Any]], costs: dict[int, Decimal]) -> Iterable[tuple[dict[str, Any], Decimal]]:
    """Spread each item's cost over the document lines of that item, in proportion to quantity."""
    by_item: dict[int, list[dict[str, Any]]] = {}
    for line in lines:
        by_item.setdefault(line["item_id"], []).append(line)
    amounts: dict[int, Decimal] = {}
    for item_id, item_lines in by_item.items():
        parts = allocate(costs.get(item_id, Decimal(0)), [ln["quantity"] for ln in item_lines])
        for ln, part in zip(item_lines, parts, strict=True):
            amounts[id(ln)] = part
    for line in lines:
        yield line, amounts[id(line)]


def schedule_recalculation_if_backdated(
    document: Document, changed_keys: set[str], previous_date: dt.datetime | None
) -> None:
    """If issues of the changed items come after this document, queue a recalculation from its date."""
    if not changed_keys:
        return
    register = _cost_register()
    start = min(d for d in (document.date, previous_date) if d is not None)
    cleared = document.__dict__.get("_cost_nothing_from")
    if previous_date is None and cleared is not None and cleared[0] == start and changed_keys <= cleared[1]:
        return  # issue_costs found no movement of these items from this moment on, with their totals locked
    ct = ContentType.objects.get_for_model(document)
    # Asked on every posting of a receipt: a plain statement (the ORM's query building costs more than
    # the indexed (key, period) lookup).
    db = transaction.get_connection()
    qn = db.ops.quote_name
    keys = sorted(changed_keys)
    with db.cursor() as cursor:
        cursor.execute(
            f"SELECT 1 FROM {qn(register.movement_model._meta.db_table)} "
            f"WHERE {qn('key')} IN ({', '.join(['%s'] * len(keys))}) AND record_type = %s "
            "AND period >= %s AND NOT (recorder_type_id = %s AND recorder_id = %s) LIMIT 1",
            [*keys, RecordType.EXPENSE, db.ops.adapt_datetimefield_value(start), ct.pk, document.pk],
        )
        later = cursor.fetchone() is not None
    if later:
        request_recalculation(document.organization_id, start)  # type: ignore[attr-defined]


def request_recalculation(organization_id: int, start: dt.datetime) -> None:
    """Queue (or move earlier) the recalculation of one organization's costs."""
    unique_key = f"{JOB_NAME}:{organization_id}"
    pending = Job.objects.select_for_update().filter(unique_key=unique_key, status=Job.Status.QUEUED).first()
    if pending is not None:
        if dt.datetime.fromisoformat(pending.payload["start"]) > start:
            pending.payload = {"organization": organization_id, "start": start.isoformat()}
            pending.save(update_fields=["payload"])
        return
    jobs.enqueue(JOB_NAME, {"organization": organization_id, "start": start.isoformat()}, unique_key=unique_key)


def recalculate_costs(organization_id: int, start: dt.datetime) -> int:
    """Re-post, in chronological order, every document that issues cost in the organization from `start`.

    Returns the number of documents whose movements changed. Runs in one transaction.
    """
    register = _cost_register()
    changed_count = 0
    with transaction.atomic():
        recorders = list(
            register.movement_model.objects.filter(
                organization_id=organization_id, record_type=RecordType.EXPENSE, period__gte=start
            )
            .values_list("period", "recorder_type_id", "recorder_id")
            .order_by("period", "recorder_type_id", "recorder_id")
            .distinct()
        )
        seen: set[tuple[int, int]] = set()
        for _period, ct_id, doc_id in recorders:
            if (ct_id, doc_id) in seen:
                continue
            seen.add((ct_id, doc_id))
            model = ContentType.objects.get_for_id(ct_id).model_class()
            document = model.objects.get(pk=doc_id)  # type: ignore[union-attr]
            changed = write_movements(document, list(document.movements()), document.registers)
            if changed:
                changed_count += 1
    log.info("recalculated costs of organization %s from %s: %s documents changed", organization_id, start,
             changed_count)
    return changed_count


@jobs.job(JOB_NAME)
def _recalculate_job(payload: dict[str, Any]) -> None:
    recalculate_costs(int(payload["organization"]), dt.datetime.fromisoformat(payload["start"]))
