"""Reading client settlements: receivables by object with due dates and aging, a client's settlement card,
and the entries of a reconciliation statement (акт сверки). Reads registers, never recomputes documents."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db.models import F, Max, Q, Sum
from django.utils import timezone

from torg.core.documents import document_labeller
from torg.core.money import round_money
from torg.sales.states import moment_from_text

ZERO = Decimal(0)


@dataclass
class ReceivableRow:
    organization_id: int
    partner_id: int
    order_id: int | None
    shipment_id: int | None
    shipped: Decimal
    paid: Decimal
    due_date: dt.date | None
    today: dt.date
    planned: dict[str, Decimal] = field(default_factory=dict)  # unpaid amount per stage kind (orders)
    label: str = ""

    @property
    def debt(self) -> Decimal:
        return max(self.shipped - self.paid, ZERO)

    @property
    def our_debt(self) -> Decimal:
        return max(self.paid - self.shipped, ZERO)

    @property
    def days_overdue(self) -> int:
        if self.debt <= 0 or self.due_date is None or self.due_date >= self.today:
            return 0
        return (self.today - self.due_date).days

    @property
    def overdue(self) -> Decimal:
        return self.debt if self.days_overdue > 0 else ZERO


def aging_bounds() -> list[int]:
    from torg.core.models import SystemSettings

    raw = SystemSettings.get().aging_buckets or ""
    bounds = sorted({int(p) for p in raw.replace(";", ",").split(",") if p.strip().isdigit() and int(p) > 0})
    return bounds or [30, 60, 90]


def bucket_of(days: int, bounds: Sequence[int]) -> int:
    """Index of the aging column: 0 = not overdue, 1..len(bounds) = up to each bound, last = beyond."""
    if days <= 0:
        return 0
    for i, bound in enumerate(bounds, start=1):
        if days <= bound:
            return i
    return len(bounds) + 1


class Stage(NamedTuple):
    """An order's payment stage, as the settlement reads need it."""

    kind: str
    amount: Decimal
    days: int
    due_date: dt.date | None


def stages_of(order_ids: Sequence[int]) -> dict[int, list[Stage]]:
    """order → its payment stages, in one query (plain tuples: a company-wide report reads thousands)."""
    from torg.sales.models import OrderPaymentStage

    result: dict[int, list[Stage]] = defaultdict(list)
    for order_id, kind, amount, days, due_date in (OrderPaymentStage.objects.filter(order_id__in=order_ids)
                                                   .order_by("order_id", "id")
                                                   .values_list("order_id", "kind", "amount", "days", "due_date")):
        result[order_id].append(Stage(kind, amount, days, due_date))
    return result


def _last_shipped(order_ids: Any) -> Any:
    """(order, the date of its last posted shipment) of these orders (ids, or a queryset of ids)."""
    from torg.sales.models import ShipmentLine

    return (ShipmentLine.objects.filter(order_id__in=order_ids, document__posted=True)
            .values("order_id").annotate(last=Max("document__date")).values_list("order_id", "last").order_by())


def _credit_due(stages: dict[int, Sequence[Any]], order_ids: Sequence[int],
                last_shipped: dict[int, dt.datetime] | None = None) -> dict[int, dt.date | None]:
    """When each order's debt falls due: its last shipment + the credit days, or before any shipment its
    earliest stage date. `stages`: order → its stages (anything with kind, days and due_date); `last_shipped`:
    order → when it last shipped, when the caller has read it."""
    from torg.sales.models import StageKind

    if last_shipped is None:
        last_shipped = dict(_last_shipped(order_ids))
    last = {order_id: timezone.localtime(when).date() for order_id, when in last_shipped.items()}
    result: dict[int, dt.date | None] = {}
    for order_id in order_ids:
        own = stages.get(order_id, ())
        if order_id in last:
            days = max((s.days for s in own if s.kind == StageKind.CREDIT), default=0)
            result[order_id] = last[order_id] + dt.timedelta(days=days)
        else:
            result[order_id] = min((s.due_date for s in own if s.due_date), default=None)
    return result


@dataclass(frozen=True)
class ClientPosition:
    """Where a client stands with an organization now, as a shipment is checked against it."""

    overdue: Decimal  # owed past its due dates on the day asked
    debt: Decimal  # shipped − paid over all objects, less the advance (negative: the client is owed)
    advance: Decimal  # the unallocated advance the client holds
    credit_limit: Decimal | None


def _owed(organization: int, partner: int) -> Any:
    """The client's settlement totals it still owes on."""
    from torg.sales.models import ClientSettlementsTotal

    return ClientSettlementsTotal.objects.filter(organization_id=organization, partner_id=partner,
                                                 shipped__gt=F("paid"))


def _client_position_sql(organization: int, partner: int, advance_key: str) -> tuple[str, list[Any]]:
    """The parts of `client_position`'s statement, told apart by their first column, values as text so that they
    line up on any database."""
    from django.db import connection

    from torg.catalogs.models import Partner
    from torg.sales.models import ClientAdvancesTotal, ClientSettlementsTotal, OrderPaymentStage, Shipment

    owed = _owed(organization, partner)
    owed_orders = owed.filter(order__isnull=False).values("order_id")
    querysets = [
        ("p", Partner.objects.filter(pk=partner).values_list("credit_limit"), ["credit_limit"]),
        ("a", ClientAdvancesTotal.objects.filter(key=advance_key).values_list("amount"), ["amount"]),
        ("t", ClientSettlementsTotal.objects.filter(organization_id=organization, partner_id=partner)
         .values("partner_id").annotate(s=Sum("shipped"), p=Sum("paid")).values_list("s", "p").order_by(),
         ["s", "p"]),
        ("d", owed.values_list("order_id", "shipment_id", "shipped", "paid"),
         ["order_id", "shipment_id", "shipped", "paid"]),
        ("s", OrderPaymentStage.objects.filter(order_id__in=owed_orders).order_by()
         .values_list("order_id", "kind", "amount", "days", "due_date"),
         ["order_id", "kind", "amount", "days", "due_date"]),
        ("l", _last_shipped(owed_orders), ["order_id", "last"]),
        ("w", Shipment.objects.filter(pk__in=owed.filter(order__isnull=True).values("shipment_id"))
         .values_list("id", "due_date", "date"), ["id", "due_date", "date"]),
    ]
    parts, params = [], []
    for tag, queryset, columns in querysets:
        sql, part_params = queryset.query.sql_with_params()
        values = [f"CAST(q.{connection.ops.quote_name(c)} AS TEXT)" for c in columns] + ["NULL"] * (5 - len(columns))
        parts.append(f"SELECT '{tag}', {', '.join(values)} FROM ({sql}) q")
        params += part_params
    return " UNION ALL ".join(parts), params


def client_position(organization: int, partner: int, today: dt.date) -> ClientPosition:
    """The client's overdue debt on `today` (as `receivables` counts it), its debt, advance and credit limit, read
    in one statement (built once per process): the objects it owes on with their stages, last shipments and due
    dates, the sums of all its settlements, its advance and its limit. A shipment asks this as it is posted."""
    from django.db import connection

    from torg.core.statements import built_once
    from torg.sales.models import ClientAdvances

    sql, params = built_once("client_position", _client_position_sql, organization=organization, partner=partner,
                             advance_key=ClientAdvances.key_of((organization, partner)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    limit, advance, shipped, paid = None, ZERO, ZERO, ZERO
    owing: list[tuple[int | None, int | None, Decimal]] = []
    stages: dict[int, list[Stage]] = defaultdict(list)
    last: dict[int, dt.datetime] = {}
    shipments: dict[int, dt.date] = {}
    for tag, a, b, c, d, e in rows:
        if tag == "p":
            limit = None if a is None else Decimal(a)
        elif tag == "a":
            advance = Decimal(a)
        elif tag == "t":
            shipped, paid = Decimal(a), Decimal(b)
        elif tag == "d":
            debt = round_money(Decimal(c)) - round_money(Decimal(d))
            if debt > 0:
                owing.append((int(a) if a else None, int(b) if b else None, debt))
        elif tag == "s":
            stages[int(a)].append(Stage(b, Decimal(c), int(d), dt.date.fromisoformat(e) if e else None))
        elif tag == "l":
            last[int(a)] = moment_from_text(b)
        else:
            shipments[int(a)] = dt.date.fromisoformat(b) if b else timezone.localtime(moment_from_text(c)).date()
    order_ids = sorted({o for o, _s, _d in owing if o})
    due = _credit_due(stages, order_ids, last) if order_ids else {}
    overdue = ZERO
    for order_id, shipment_id, debt in owing:
        due_date = due.get(order_id) if order_id else shipments.get(shipment_id) if shipment_id else None
        if due_date is not None and due_date < today:
            overdue += debt
    return ClientPosition(overdue, round_money(shipped - paid) - advance, advance, limit)


def overdue_debt(organization: int, partner: int, today: dt.date) -> Decimal:
    """What a client owes an organization past its due dates on `today`, as `receivables` counts it."""
    return client_position(organization, partner, today).overdue


# Orders whose payment stages may still wait for money: agreed, not closed, not yet shipped and paid in full.
PLANNED_STATES = ("awaiting_advance", "ready_to_secure", "awaiting_prepayment", "awaiting_supply", "ready_to_ship",
                  "shipping", "awaiting_payment")


def receivables(*, organization: int | None = None, partner: int | None = None,
                today: dt.date | None = None, include_settled: bool = False,
                with_planned: bool = False) -> list[ReceivableRow]:
    """Debts and prepayments per settlement object (order or shipment without order) and the unallocated
    advances, with due dates. Kept totals only: constant work per object, whatever the history.

    `with_planned` also gives the open orders (states in PLANNED_STATES) whose stages are not paid in full, even
    with nothing shipped or paid yet (an order awaiting its advance), so that their planned payments show."""
    from torg.sales.models import (
        ClientAdvancesTotal,
        ClientSettlementsTotal,
        SalesOrder,
        Shipment,
    )

    today = today or timezone.localdate()
    q = Q()
    if organization:
        q &= Q(organization_id=organization)
    if partner:
        q &= Q(partner_id=partner)
    open_qs = SalesOrder.objects.filter(q, posted=True, state__state__in=PLANNED_STATES).values("pk")
    open_orders: set[int] = {o["pk"] for o in open_qs} if with_planned else set()
    totals_qs = ClientSettlementsTotal.objects.filter(q)
    if not include_settled:
        # Settled objects (most of the history) stay in the database; those of open orders are still wanted
        # for their planned payments.
        unsettled = ~Q(shipped=F("paid"))
        totals_qs = totals_qs.filter(unsettled | Q(order_id__in=open_qs) if with_planned else unsettled)
    totals = list(totals_qs.values("organization_id", "partner_id", "order_id", "shipment_id", "shipped", "paid"))
    if not include_settled:
        totals = [t for t in totals
                  if round_money(t["shipped"]) != round_money(t["paid"]) or t["order_id"] in open_orders]
    with_keys = {t["order_id"] for t in totals if t["order_id"]}
    if open_orders - with_keys:
        # Open orders nothing was shipped or paid on yet: no settlement key, only their plan.
        for o in (SalesOrder.objects.filter(pk__in=sorted(open_orders - with_keys))
                  .values("pk", "organization_id", "partner_id")):
            totals.append({"organization_id": o["organization_id"], "partner_id": o["partner_id"],
                           "order_id": o["pk"], "shipment_id": None, "shipped": ZERO, "paid": ZERO})
    order_ids = sorted({t["order_id"] for t in totals if t["order_id"]})
    shipment_ids = sorted({t["shipment_id"] for t in totals if t["shipment_id"]})
    # Only what the rows show and the due dates need: thousands of rows in a company-wide report.
    label = document_labeller(SalesOrder)
    orders = {pk: label(number, date) for pk, number, date in
              SalesOrder.objects.filter(pk__in=order_ids).values_list("pk", "number", "date").order_by()}
    stages = stages_of(order_ids)
    shipments = {s.pk: s for s in Shipment.objects.filter(pk__in=shipment_ids)}
    due = _credit_due(stages, order_ids)
    rows = []
    for t in totals:
        shipped, paid = round_money(t["shipped"]), round_money(t["paid"])
        row = ReceivableRow(t["organization_id"], t["partner_id"], t["order_id"], t["shipment_id"], shipped, paid,
                            None, today)
        if t["order_id"]:
            row.due_date = due.get(t["order_id"])
            row.label = orders.get(t["order_id"], "")
            if t["order_id"] in orders:
                unpaid = paid
                for stage in sorted(stages.get(t["order_id"], ()), key=lambda s: (s.due_date or dt.date.max)):
                    covered = min(stage.amount, unpaid)
                    unpaid -= covered
                    if stage.amount - covered > 0:
                        row.planned[stage.kind] = row.planned.get(stage.kind, ZERO) + stage.amount - covered
            if (not include_settled and t["order_id"] in open_orders and not row.debt and not row.our_debt
                    and not row.planned):
                continue  # an open order with nothing left to pay and nothing owed
        elif t["shipment_id"]:
            shipment = shipments.get(t["shipment_id"])
            if shipment is not None:
                row.due_date = shipment.due_date or timezone.localtime(shipment.date).date()
                row.label = str(shipment)
        rows.append(row)
    advances = ClientAdvancesTotal.objects.filter(q, amount__gt=0).values("organization_id", "partner_id", "amount")
    for a in advances:
        rows.append(ReceivableRow(a["organization_id"], a["partner_id"], None, None, ZERO, round_money(a["amount"]),
                                  None, today))
    rows.sort(key=lambda r: (r.partner_id, r.organization_id, r.due_date or dt.date.max, r.order_id or 0,
                             r.shipment_id or 0))
    return rows


@dataclass
class CardEntry:
    """One document's effect on a client's settlements (a line of the settlement card / reconciliation)."""

    date: dt.datetime
    document: str
    recorder: tuple[int, int]
    debit: Decimal  # the client's debt grows (shipments, refunds)
    credit: Decimal  # it shrinks (payments)


@dataclass
class SettlementCard:
    opening: Decimal  # debt (+) or prepayment (−) at the start
    entries: list[CardEntry]
    closing: Decimal

    @property
    def debit(self) -> Decimal:
        return sum((e.debit for e in self.entries), ZERO)

    @property
    def credit(self) -> Decimal:
        return sum((e.credit for e in self.entries), ZERO)


def _balance_at(organization: int, partner: int, moment: dt.datetime) -> Decimal:
    from torg.sales.models import ClientAdvances, ClientSettlements

    s = ClientSettlements.balances_at(moment, ["partner"], organization=organization, partner=partner)
    a = ClientAdvances.balances_at(moment, ["partner"], organization=organization, partner=partner)
    sv = s.get((partner,), {"shipped": ZERO, "paid": ZERO})
    av = a.get((partner,), {"amount": ZERO})
    return round_money(sv["shipped"] - sv["paid"] - av["amount"])


def settlement_card(organization: int, partner: int, start: dt.datetime, end: dt.datetime) -> SettlementCard:
    """Opening balance, the documents of the period with what each did to the debt, closing balance.
    An advance offset moves money between the advance and an order: it changes nothing in the total and is left
    out."""
    from torg.core.documents import describe_recorders
    from torg.sales.models import AdvanceOffset, ClientAdvances, ClientSettlements

    offset_ct = ContentType.objects.get_for_model(AdvanceOffset).pk
    per_doc: dict[tuple[int, int], list[Any]] = defaultdict(lambda: [None, ZERO, ZERO])
    sm = ClientSettlements.movement_model.objects.filter(organization_id=organization, partner_id=partner,
                                                         period__gte=start, period__lt=end)
    for m in sm.values("recorder_type_id", "recorder_id", "period", "shipped", "paid", "record_type"):
        if m["recorder_type_id"] == offset_ct:
            continue
        acc = per_doc[(m["recorder_type_id"], m["recorder_id"])]
        acc[0] = m["period"]
        sign = m["record_type"]
        acc[1] += Decimal(str(m["shipped"])) * sign
        acc[2] += Decimal(str(m["paid"])) * sign
    am = ClientAdvances.movement_model.objects.filter(organization_id=organization, partner_id=partner,
                                                      period__gte=start, period__lt=end)
    for m in am.values("recorder_type_id", "recorder_id", "period", "amount", "record_type"):
        if m["recorder_type_id"] == offset_ct:
            continue
        acc = per_doc[(m["recorder_type_id"], m["recorder_id"])]
        acc[0] = m["period"]
        value = Decimal(str(m["amount"])) * m["record_type"]
        if value > 0:
            acc[2] += value  # money kept as an advance: paid
        else:
            acc[1] += -value  # an advance returned: the client's debt grows back
    keys = sorted(per_doc, key=lambda k: (per_doc[k][0], k))
    names = describe_recorders(keys) if keys else []
    entries = [CardEntry(per_doc[k][0], name, k, round_money(per_doc[k][1]), round_money(per_doc[k][2]))
               for k, name in zip(keys, names, strict=True)]
    entries = [e for e in entries if e.debit or e.credit]
    opening = _balance_at(organization, partner, start)
    closing = opening + sum((e.debit - e.credit for e in entries), ZERO)
    return SettlementCard(opening, entries, closing)


def payment_discipline(*, organization: int | None = None, start: dt.date | None = None,
                       end: dt.date | None = None, today: dt.date | None = None) -> list[dict[str, Any]]:
    """Per client: orders with a payment due in the period, how many were paid late (or are overdue now),
    and the average delay in days. The moment an order was paid is that of the payment or offset that
    brought its paid amount up to what it owes."""
    from torg.sales.models import ClientSettlements, OrderStatus, SalesOrder

    today = today or timezone.localdate()
    orders = SalesOrder.objects.filter(posted=True).exclude(status=OrderStatus.NOT_AGREED).prefetch_related("stages")
    if organization:
        orders = orders.filter(organization_id=organization)
    orders = list(orders)
    due = _credit_due({o.pk: list(o.stages.all()) for o in orders}, [o.pk for o in orders])
    paid_moves: dict[int, list[tuple[dt.datetime, Decimal]]] = defaultdict(list)
    for m in (ClientSettlements.movement_model.objects.filter(order_id__in=[o.pk for o in orders])
              .exclude(paid=0).values("order_id", "period", "paid", "record_type").order_by("period")):
        paid_moves[m["order_id"]].append((m["period"], Decimal(str(m["paid"])) * m["record_type"]))
    stats: dict[int, dict[str, Any]] = {}
    for order in orders:
        due_date = due.get(order.pk)
        if due_date is None or (start and due_date < start) or (end and due_date > end):
            continue
        owed, running, paid_on = order.amount, ZERO, None
        for when, value in paid_moves.get(order.pk, []):
            running += value
            if running >= owed and paid_on is None:
                paid_on = timezone.localtime(when).date()
            elif running < owed:
                paid_on = None
        s = stats.setdefault(order.partner_id, {"partner_id": order.partner_id, "orders": 0, "late": 0,
                                                "delay_days": 0})
        s["orders"] += 1
        settled = paid_on or today
        if settled > due_date:
            s["late"] += 1
            s["delay_days"] += (settled - due_date).days
    for s in stats.values():
        s["late_percent"] = round(Decimal(s["late"]) * 100 / s["orders"], 1) if s["orders"] else ZERO
        s["average_delay"] = round(Decimal(s["delay_days"]) / s["late"], 1) if s["late"] else ZERO
    return sorted(stats.values(), key=lambda s: (-s["late_percent"], s["partner_id"]))
