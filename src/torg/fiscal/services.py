"""Fiscal use cases: which settlements need a receipt, the facts the builder is given, and what people do with
receipts and registers (retry, cancel, return, correct, shifts, cash in and out).

When a receipt is needed (and when not):
- a client's payment in cash or by card: always; by bank transfer only from a private person (a B2B transfer
  needs no receipt);
- a refund of an advance in cash or by card (or by bank to a private person): a return receipt of the advance;
- a shipment: when money received earlier for its orders was registered on a receipt (its offset must be
  registered: «полный расчёт» with 1215), or when the client is a private person (handover on credit or with
  offset). A shipment to a company that pays by bank transfer needs none;
- a payment taken back (unposted): its receipt, if already sent, is reversed by a return receipt; if still
  waiting, it is cancelled.
"""
from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from torg.catalogs.models import Counterparty, Item, ItemKind, LegalForm, Organization
from torg.core.documents import service_transaction
from torg.core.errors import CoreError, ErrorCode
from torg.core.jobs import job
from torg.core.models import SystemSettings
from torg.core.money import ZERO, round_money, round_quantity
from torg.core.statements import query_once
from torg.fiscal import builder
from torg.fiscal.drivers import device_for
from torg.fiscal.models import CashRegister, FiscalReceipt, FiscalReceiptLine, ReceiptStatus
from torg.fiscal.queue import cashier_of, queue_receipts, register_for, schedule_drain
from torg.fiscal.receipts import UNIT_BY_OKEI, Method, ReceiptDraft, Unit

PREPAYMENT_METHODS = (int(Method.FULL_PREPAYMENT), int(Method.PREPAYMENT), int(Method.ADVANCE))


# ================================================================ deciding
def _is_person(counterparty_id: int | None) -> bool:
    if not counterparty_id:
        return False
    return Counterparty.objects.filter(pk=counterparty_id, legal_form=LegalForm.PERSON).exists()


def _needs_receipt(method: str, counterparty_id: int | None) -> bool:
    return method in ("cash", "card") or _is_person(counterparty_id)


def _organization(organization_id: int) -> Organization:
    return Organization.objects.only("pk", "vat_payer", "inn", "name").get(pk=organization_id)


def _buyer(partner: Any, counterparty_id: int | None, given: str = "") -> dict[str, str]:
    contact = given or getattr(partner, "email", "") or getattr(partner, "phone", "")
    out = {"buyer_contact": contact[:100]}
    if counterparty_id:
        cp = Counterparty.objects.filter(pk=counterparty_id).values("name", "inn", "legal_form").first()
        if cp and cp["legal_form"] != LegalForm.PERSON:
            out.update(buyer_name=cp["name"][:200], buyer_inn=cp["inn"] or "")
    return out


# ================================================================ facts
def _settled_rows(organization_id: int, partner_id: int, orders: Iterable[int]) -> Any:
    """(order, shipped, paid) per order as the client settlements register holds them now."""
    totals = apps.get_model("sales", "ClientSettlementsTotal")
    return (totals.objects.filter(organization_id=organization_id, partner_id=partner_id, order_id__in=list(orders))
            .values("order_id").annotate(shipped=Sum("shipped"), paid=Sum("paid")).order_by()
            .values_list("order_id", "shipped", "paid"))


def _settled(organization_id: int, partner_id: int, orders: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """(shipped, paid) per order as the client settlements register holds them now."""
    return {order: (round_money(shipped or 0), round_money(paid or 0))
            for order, shipped, paid in _settled_rows(organization_id, partner_id, orders)}


def _goods_of_orders(order_ids: Sequence[int]) -> dict[int, list[builder.Goods]]:
    """Per order, its goods not handed over yet (ordered, not cancelled, minus posted shipments), VAT included."""
    return _orders_now(order_ids)[0]


def _orders_now(order_ids: Sequence[int], settled_of: tuple[int, int] | None = None
                ) -> tuple[dict[int, list[builder.Goods]], dict[int, tuple[Decimal, Decimal]]]:
    """The orders' goods not handed over yet (`_goods_of_orders`) and, with `settled_of` (organization, client),
    what the settlements register holds of them (`_settled`): one statement, its parts told apart by their first
    column, every value as text so that the parts line up on any database."""
    if not order_ids:
        return {}, {}
    db = connection
    qn = db.ops.quote_name
    table = {name: qn(apps.get_model("sales", name)._meta.db_table)
             for name in ("SalesOrder", "SalesOrderLine", "Shipment", "ShipmentLine")}
    marks = ", ".join(["%s"] * len(order_ids))
    nulls = ", ".join(["NULL"] * 9)
    parts = [
        f"SELECT 'q', CAST(l.order_id AS TEXT), CAST(l.order_line_code AS TEXT), CAST(SUM(l.quantity) AS TEXT), "
        f"{nulls} FROM {table['ShipmentLine']} l JOIN {table['Shipment']} d ON d.id = l.document_id "
        f"WHERE d.posted AND l.order_id IN ({marks}) GROUP BY l.order_id, l.order_line_code",
        f"SELECT 'l', CAST(l.document_id AS TEXT), CAST(l.code AS TEXT), CAST(l.quantity AS TEXT), "
        f"CAST(l.amount AS TEXT), CAST(l.vat_amount AS TEXT), CAST(l.vat_rate AS TEXT), "
        f"CAST(o.prices_include_vat AS TEXT), CAST(l.item_id AS TEXT), i.name, i.kind, u.code, "
        f"CAST(l.line_no AS TEXT) FROM {table['SalesOrderLine']} l "
        f"JOIN {table['SalesOrder']} o ON o.id = l.document_id "
        f"JOIN {qn(Item._meta.db_table)} i ON i.id = l.item_id "
        f"LEFT JOIN {qn(apps.get_model('catalogs', 'Unit')._meta.db_table)} u ON u.id = i.unit_id "
        f"WHERE NOT l.cancelled AND l.document_id IN ({marks})",
    ]
    params: list[Any] = [*order_ids, *order_ids]
    if settled_of is not None:  # `_settled`'s own query, sent with the others
        settled_sql, settled_params = _settled_rows(*settled_of, order_ids).query.sql_with_params()
        parts.append(f"SELECT 's', CAST(s.order_id AS TEXT), CAST(s.shipped AS TEXT), CAST(s.paid AS TEXT), "
                     f"{nulls} FROM ({settled_sql}) s")
        params += settled_params
    with db.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    shipped: dict[tuple[int, int], Decimal] = defaultdict(Decimal)
    lines, settled = [], {}
    for row in rows:
        if row[0] == "q":
            shipped[(int(row[1]), int(row[2]))] = round_quantity(Decimal(row[3]))
        elif row[0] == "s":
            settled[int(row[1])] = (round_money(Decimal(row[2] or 0)), round_money(Decimal(row[3] or 0)))
        else:
            lines.append(row)
    out: dict[int, list[builder.Goods]] = defaultdict(list)
    for (_part, order, code, quantity, amount, vat_amount, vat_rate, with_vat, item_id, name, kind, okei,
         _no) in sorted(lines, key=lambda r: (int(r[1]), int(r[12]))):
        order_id, quantity, amount = int(order), round_quantity(Decimal(quantity)), round_money(Decimal(amount))
        if str(with_vat).lower() not in ("1", "true", "t"):
            amount += round_money(Decimal(vat_amount))
        left = quantity - shipped.get((order_id, int(code)), ZERO)
        if left <= 0:
            continue
        if left != quantity:
            amount = round_money(amount * left / quantity)
        out[order_id].append(_goods(name, left, amount, int(vat_rate), f"order:{order_id}", kind, okei, int(item_id)))
    return out, settled


def _goods(name: str, quantity: Decimal, amount: Decimal, vat_rate: int, reference: str, kind: str,
           okei: str | None, item_id: int | None) -> builder.Goods:
    return builder.Goods(name=name, quantity=quantity, amount=amount, vat_rate=vat_rate, reference=reference,
                         service=kind != ItemKind.GOODS, unit=UNIT_BY_OKEI.get(okei or "", Unit.PIECE),
                         item_id=item_id)


def _order_titles(order_ids: Iterable[int]) -> dict[int, str]:
    """Orders' titles on a receipt; inside `one_receipt` each order's is read once (a number and date do not change
    while the settlement is collected)."""
    wanted = list(order_ids)
    collector = _COLLECTING.get()
    known = collector.titles if collector is not None else {}
    missing = [pk for pk in wanted if pk not in known]
    if missing:
        order_model = apps.get_model("sales", "SalesOrder")
        known = {**known, **{pk: builder.settlement_title("order", number, timezone.localtime(date).date())
                             for pk, number, date in order_model.objects.filter(pk__in=missing)
                             .values_list("pk", "number", "date")}}
        if collector is not None:
            collector.titles.update(known)
    return {pk: known[pk] for pk in wanted if pk in known}


def _receipted_prepayment(order_ids: Iterable[int]) -> set[int]:
    """Orders with money registered as a prepayment on a receipt (not cancelled)."""
    return set(query_once("orders receipted as prepaid", lambda ids: FiscalReceiptLine.objects
                          .filter(order_id__in=ids, method__in=PREPAYMENT_METHODS)
                          .exclude(receipt__status=ReceiptStatus.CANCELLED).values_list("order_id", flat=True),
                          ids=sorted(set(order_ids))))


# ================================================================ settlement parts
@dataclass
class _Part:
    """What one posted document brings to a settlement: the facts of its orders just before it, and its own goods
    handed over or money taken."""

    organization_id: int
    partner: Any
    counterparty_id: int | None
    # Whether the part alone needs a receipt: a bool, or a check that reads the database, asked only when no other
    # part of its settlement needs one already (cash or card taken at the door always does).
    needs_receipt: bool | Callable[[], bool]
    objects: list[builder.SettlementObject] = field(default_factory=list)
    # Goods still to hand over per order as this part read them (after the documents collected before it).
    goods_left: dict[int, list[builder.Goods]] | None = None
    handed: list[builder.Goods] = field(default_factory=list)
    allocations: list[tuple[str, Decimal]] = field(default_factory=list)
    cash: Decimal = ZERO
    electronic: Decimal = ZERO
    payment_id: int | None = None
    shipment_id: int | None = None
    cash_desk_id: int | None = None
    vat_payer: bool | None = None  # the organization's, when the document was read with it

    def needs(self) -> bool:
        if callable(self.needs_receipt):
            self.needs_receipt = self.needs_receipt()
        return self.needs_receipt


def _payment_part(payment: Any) -> _Part:
    lines = list(payment.lines.all())
    order_ids = sorted({ln.order_id for ln in lines if ln.order_id})
    goods, settled = _orders_now(order_ids, (payment.organization_id, payment.partner_id))
    titles = _order_titles(order_ids)
    this: dict[int, Decimal] = defaultdict(Decimal)
    for ln in lines:
        if ln.order_id:
            this[ln.order_id] += ln.amount
    part = _Part(payment.organization_id, payment.partner, payment.counterparty_id,
                 _needs_receipt(payment.method, payment.counterparty_id), payment_id=payment.pk,
                 cash_desk_id=payment.cash_desk_id,
                 cash=payment.amount if payment.method == "cash" else ZERO,
                 electronic=ZERO if payment.method == "cash" else payment.amount,
                 goods_left={pk: goods.get(pk, []) for pk in order_ids})
    for order_id in order_ids:
        shipped, paid = settled.get(order_id, (ZERO, ZERO))
        part.objects.append(builder.SettlementObject(
            reference=f"order:{order_id}", title=titles[order_id], goods_to_hand_over=tuple(goods.get(order_id, ())),
            shipped_before=shipped, paid_before=paid - this[order_id]))
    part.objects.extend(_shipment_objects(payment, lines))
    part.allocations = [(f"order:{ln.order_id}" if ln.order_id else f"shipment:{ln.shipment_id}", ln.amount)
                        for ln in lines]
    return part


def _shipment_objects(payment: Any, lines: Sequence[Any]) -> list[builder.SettlementObject]:
    """Shipments made without an order that the payment pays: goods handed over before, paid or not."""
    shipment_ids = sorted({ln.shipment_id for ln in lines if ln.shipment_id and not ln.order_id})
    if not shipment_ids:
        return []
    totals = apps.get_model("sales", "ClientSettlementsTotal")
    shipment_model = apps.get_model("sales", "Shipment")
    this: dict[int, Decimal] = defaultdict(Decimal)
    for ln in lines:
        if ln.shipment_id and not ln.order_id:
            this[ln.shipment_id] += ln.amount
    sums = {r["shipment_id"]: r for r in totals.objects.filter(shipment_id__in=shipment_ids, order_id__isnull=True)
            .values("shipment_id").annotate(shipped=Sum("shipped"), paid=Sum("paid")).order_by()}
    out = []
    for pk, number, date in shipment_model.objects.filter(pk__in=shipment_ids).values_list("pk", "number", "date"):
        row = sums.get(pk, {"shipped": 0, "paid": 0})
        out.append(builder.SettlementObject(
            reference=f"shipment:{pk}", title=builder.settlement_title("shipment", number,
                                                                       timezone.localtime(date).date()),
            shipped_before=round_money(row["shipped"] or 0), paid_before=round_money(row["paid"] or 0) - this[pk]))
    return out


def _shipment_needs_receipt(shipment: Any, order_ids: Sequence[int]) -> bool:
    return _is_person(shipment.counterparty_id) or bool(_receipted_prepayment(order_ids))


def _shipment_part(shipment: Any, lines: list[Any] | None = None, needs: bool | None = None) -> _Part:
    lines = lines if lines is not None else list(shipment.lines.all())
    order_ids = sorted({ln.order_id for ln in lines if ln.order_id})
    part = _Part(shipment.organization_id, shipment.partner, shipment.counterparty_id,
                 (lambda: _shipment_needs_receipt(shipment, order_ids)) if needs is None else needs,
                 shipment_id=shipment.pk)
    if type(shipment).organization.is_cached(shipment):
        part.vat_payer = shipment.organization.vat_payer
    line_item = type(lines[0]).item if lines else None
    if line_item is not None and all(line_item.is_cached(ln) for ln in lines):  # read with the lines (a courier's)
        items = {ln.item_id: (ln.item.name, ln.item.kind, ln.item.unit.code if ln.item.unit_id else None)
                 for ln in lines}
    else:
        items = {pk: (name, kind, okei) for pk, name, kind, okei in Item.objects.filter(
            pk__in={ln.item_id for ln in lines}).values_list("pk", "name", "kind", "unit__code")}
    this: dict[str, Decimal] = defaultdict(Decimal)
    for ln in lines:
        reference = f"order:{ln.order_id}" if ln.order_id else f"shipment:{shipment.pk}"
        amount = ln.amount if shipment.prices_include_vat else ln.amount + ln.vat_amount
        this[reference] += amount
        name, kind, okei = items[ln.item_id]
        part.handed.append(_goods(name, ln.quantity, amount, ln.vat_rate, reference, kind, okei, ln.item_id))
    settled = _settled(shipment.organization_id, shipment.partner_id, order_ids)
    titles = _order_titles(order_ids)
    for order_id in order_ids:
        shipped, paid = settled.get(order_id, (ZERO, ZERO))
        part.objects.append(builder.SettlementObject(reference=f"order:{order_id}", title=titles[order_id],
                                                     shipped_before=shipped - this[f"order:{order_id}"],
                                                     paid_before=paid))
    own = f"shipment:{shipment.pk}"
    if this.get(own):
        totals = apps.get_model("sales", "ClientSettlementsTotal")
        paid = totals.objects.filter(shipment_id=shipment.pk, order_id__isnull=True).aggregate(s=Sum("paid"))["s"]
        part.objects.append(builder.SettlementObject(
            reference=own, title=builder.settlement_title("shipment", shipment.number,
                                                          timezone.localtime(shipment.date).date()),
            paid_before=round_money(paid or 0)))
    return part


def _receipts_of_parts(parts: Sequence[_Part], *, user: Any, buyer_contact: str = "") -> list[FiscalReceipt]:
    """One receipt per organization for what the parts settled together (the first part to name an order gives
    its facts before the settlement)."""
    made: list[FiscalReceipt] = []
    by_org: dict[int, list[_Part]] = defaultdict(list)
    for part in parts:
        by_org[part.organization_id].append(part)
    for organization_id, group in sorted(by_org.items()):
        if not any(p.needs_receipt is True for p in group) and not any(p.needs() for p in group):
            continue
        objects: dict[str, builder.SettlementObject] = {}
        for part in group:
            for obj in part.objects:
                objects.setdefault(obj.reference, obj)
        handed = [g for p in group for g in p.handed]
        if handed and len(group) > 1:
            objects = _goods_before(objects, handed, _goods_left_now(group))
        first = group[0]
        buyer = _buyer(first.partner, next((p.counterparty_id for p in group if p.counterparty_id), None),
                       buyer_contact)
        event = builder.Settlement(
            objects=tuple(objects.values()), handed_over=tuple(handed),
            allocations=tuple(a for p in group for a in p.allocations),
            cash=sum((p.cash for p in group), ZERO), electronic=sum((p.electronic for p in group), ZERO),
            vat_payer=_vat_payer(organization_id, group), **buyer)
        payment_ids = [p.payment_id for p in group if p.payment_id]
        shipment_ids = [p.shipment_id for p in group if p.shipment_id]
        made += queue_receipts(
            builder.build(event), organization_id=organization_id, partner_id=first.partner.pk,
            cash_desk_id=next((p.cash_desk_id for p in group if p.cash_desk_id), None),
            payment_id=payment_ids[0] if payment_ids else None, shipment_id=shipment_ids[0] if shipment_ids else None,
            user=user)
    return made


def _vat_payer(organization_id: int, group: Sequence[_Part]) -> bool:
    known = [p.vat_payer for p in group if p.vat_payer is not None]
    return known[0] if known else _organization(organization_id).vat_payer


def _goods_left_now(group: Sequence[_Part]) -> dict[int, list[builder.Goods]]:
    """Orders' goods still to hand over now, as a part collected after every handover of the group read them
    (a payment registered once the goods were handed over at the door); none when a handover came later."""
    last_handover = max((n for n, p in enumerate(group) if p.handed), default=-1)
    known: dict[int, list[builder.Goods]] = {}
    for part in group[last_handover + 1:]:
        known.update(part.goods_left or {})
    return known


def _goods_before(objects: dict[str, builder.SettlementObject], handed: Sequence[builder.Goods],
                  known_now: dict[int, list[builder.Goods]] | None = None) -> dict[str, builder.SettlementObject]:
    """An order's goods still to hand over as they were before the settlement: those left now plus those handed
    over in it (a payment read after the shipment of the same settlement saw them already handed). `known_now`:
    orders' goods left now that a part already read."""
    order_ids = sorted(int(ref.split(":")[1]) for ref in objects if ref.startswith("order:"))
    known_now = known_now or {}
    missing = [pk for pk in order_ids if pk not in known_now]
    now = {**known_now, **(_goods_of_orders(missing) if missing else {})}
    out = {}
    for ref, obj in objects.items():
        if not ref.startswith("order:"):
            out[ref] = obj
            continue
        merged: dict[tuple[str, int | None], builder.Goods] = {}
        for g in [*now.get(int(ref.split(":")[1]), ()), *(h for h in handed if h.reference == ref)]:
            key = (g.name, g.item_id)
            if key in merged:
                m = merged[key]
                g = replace(m, quantity=m.quantity + g.quantity, amount=m.amount + g.amount)
            merged[key] = g
        out[ref] = replace(obj, goods_to_hand_over=tuple(merged.values()))
    return out


# ================================================================ one receipt for several documents
@dataclass
class _Collector:
    buyer_contact: str
    parts: list[_Part] = field(default_factory=list)
    titles: dict[int, str] = field(default_factory=dict)
    receipts: list[FiscalReceipt] = field(default_factory=list)


_COLLECTING: ContextVar[_Collector | None] = ContextVar("fiscal_collecting", default=None)


@contextmanager
def one_receipt(*, buyer_contact: str = "", user: Any = None) -> Iterator[_Collector]:
    """Everything settled inside the block — shipments posted, payments registered — is one settlement: one receipt
    per organization (goods handed over at the door and paid for there: «полный расчёт» with cash or card, the
    prepayment offset, the rest on credit, an overpayment as an advance). Use it inside the caller's transaction;
    after the block, `collector.receipts` holds what was queued. A block that raises makes no receipt."""
    collector = _Collector(buyer_contact)
    token = _COLLECTING.set(collector)
    try:
        yield collector
    finally:
        _COLLECTING.reset(token)
    collector.receipts = _receipts_of_parts(collector.parts, user=user, buyer_contact=buyer_contact)


# ================================================================ listeners
def on_payment_registered(payment: Any, user: Any = None) -> list[FiscalReceipt]:
    """The receipt of a client's payment: prepayment, advance, payment of credit — or several in one."""
    collector = _COLLECTING.get()
    if collector is not None:
        collector.parts.append(_payment_part(payment))
        return []
    if not _needs_receipt(payment.method, payment.counterparty_id):
        return []
    return _receipts_of_parts([_payment_part(payment)], user=user)


def on_shipment_posted(shipment: Any, user: Any = None) -> list[FiscalReceipt]:
    """The handover receipt of a shipment whose orders were prepaid on a receipt, or of a private person.

    A shipment to a delivery address is handed over at the door, not when it leaves the warehouse (unless the
    company's settings say otherwise): its receipt is made when the courier confirms the delivery (`hand_over`),
    together with the money taken there."""
    collector = _COLLECTING.get()
    if collector is not None:
        collector.parts.append(_shipment_part(shipment))
        return []
    if _at_the_door(shipment):
        return []
    return _handover_receipts(shipment, user)


def _at_the_door(shipment: Any) -> bool:
    return bool(shipment.delivery_address_id) and SystemSettings.get().receipts_at_delivery


def hand_over(shipment: Any, *, user: Any = None) -> list[FiscalReceipt]:
    """The goods of a posted shipment reach the client now (a courier at the door): inside `one_receipt` they join
    the settlement's one receipt; alone, the handover receipt is made when one is needed. Nothing when its receipt
    was made at posting already (the company's settings)."""
    if not _at_the_door(shipment):
        return []
    collector = _COLLECTING.get()
    if collector is not None:
        collector.parts.append(_shipment_part(shipment))
        return []
    return _handover_receipts(shipment, user)


def _handover_receipts(shipment: Any, user: Any) -> list[FiscalReceipt]:
    lines = list(shipment.lines.all())
    order_ids = sorted({ln.order_id for ln in lines if ln.order_id})
    if not _shipment_needs_receipt(shipment, order_ids):
        return []
    return _receipts_of_parts([_shipment_part(shipment, lines, needs=True)], user=user)


@dataclass(frozen=True)
class RefusedGoods:
    """Goods of an order refused before they were handed over, whose prepayment goes back."""

    item_id: int
    quantity: Decimal
    amount: Decimal  # with VAT
    vat_rate: int


_RETURNING: ContextVar[tuple[int, tuple[RefusedGoods, ...]] | None] = ContextVar("fiscal_returning", default=None)


@contextmanager
def prepayment_returned(*, order_id: int, goods: Sequence[RefusedGoods]) -> Iterator[None]:
    """A refund made inside the block pays back the prepayment of these goods of the order (refused at the door):
    its return receipt says what the order's prepayment receipt said — «предоплата 100 %» naming the goods, or
    «предоплата» by the order — instead of returning an advance."""
    token = _RETURNING.set((order_id, tuple(goods)))
    try:
        yield
    finally:
        _RETURNING.reset(token)


def _prepayment_method(order_id: int) -> Method:
    """What the order's money was receipted as before the handover (the strongest: 100 % over partial)."""
    methods = set(FiscalReceiptLine.objects.filter(order_id=order_id, method__in=PREPAYMENT_METHODS)
                  .exclude(receipt__status=ReceiptStatus.CANCELLED).values_list("method", flat=True))
    for method in (Method.FULL_PREPAYMENT, Method.PREPAYMENT):
        if int(method) in methods:
            return method
    return Method.ADVANCE


def _returned_prepayment_event(refund: Any, organization: Organization, cash: Decimal,
                               buyer_contact: str) -> builder.PrepaymentReturn:
    returning = _RETURNING.get()
    plain = builder.PrepaymentReturn(amount=refund.amount, method=Method.ADVANCE, cash=cash,
                                     electronic=refund.amount - cash, vat_payer=organization.vat_payer,
                                     buyer_contact=buyer_contact)
    if returning is None:
        return plain
    order_id, refused = returning
    method = _prepayment_method(order_id)
    if method == Method.ADVANCE:
        return plain
    items = {pk: (name, kind, okei) for pk, name, kind, okei in Item.objects.filter(
        pk__in={g.item_id for g in refused}).values_list("pk", "name", "kind", "unit__code")}
    goods = tuple(_goods(items[g.item_id][0], g.quantity, g.amount, g.vat_rate, f"order:{order_id}",
                         items[g.item_id][1], items[g.item_id][2], g.item_id) for g in refused)
    if method == Method.FULL_PREPAYMENT and sum((g.amount for g in goods), ZERO) != refund.amount:
        method = Method.PREPAYMENT  # the goods do not add up to what goes back: by the order, not by the goods
    return replace(plain, method=method, title=_order_titles([order_id])[order_id], goods=goods)


def on_refund_registered(refund: Any, user: Any = None) -> list[FiscalReceipt]:
    """A return receipt of the advance paid back — or, for goods refused at the door (`prepayment_returned`), of
    their prepayment as it was receipted."""
    if not _needs_receipt(refund.method, None):
        return []
    organization = _organization(refund.organization_id)
    cash = refund.amount if refund.method == "cash" else ZERO
    event = _returned_prepayment_event(refund, organization, cash, _buyer(refund.partner, None)["buyer_contact"])
    return queue_receipts(builder.build(event), organization_id=refund.organization_id,
                          partner_id=refund.partner_id, cash_desk_id=refund.cash_desk_id, refund_id=refund.pk,
                          user=user)


def on_payment_unposted(payment: Any, user: Any = None) -> list[FiscalReceipt]:
    """A payment taken back: its waiting receipts are cancelled, its sent ones reversed."""
    receipts = list(FiscalReceipt.objects.filter(payment_id=payment.pk, original__isnull=True)
                    .exclude(status=ReceiptStatus.CANCELLED).prefetch_related("lines"))
    made = []
    for receipt in receipts:
        if receipt.status in (ReceiptStatus.QUEUED, ReceiptStatus.FAILED):
            FiscalReceipt.objects.filter(pk=receipt.pk).update(
                status=ReceiptStatus.CANCELLED, last_error=_("The payment was unposted before it was printed."))
            continue
        if receipt.returns.exclude(status=ReceiptStatus.CANCELLED).exists():
            continue
        made += queue_receipts(builder.build(builder.Reversal(receipt.to_draft())),
                               organization_id=receipt.organization_id, partner_id=receipt.partner_id,
                               cash_register=receipt.cash_register, payment_id=payment.pk, original_id=receipt.pk,
                               event_key=f"reversal:{receipt.pk}", user=user,
                               notes=_("The payment was unposted: its receipt is taken back."))
    return made


# ================================================================ what people do
def retry_receipt(receipt: FiscalReceipt, *, user: Any = None) -> FiscalReceipt:
    """Send a failed (or waiting) receipt again — to the register it was for, or, if it had none, to the
    organization's register now."""
    with service_transaction():
        current = FiscalReceipt.objects.select_for_update().get(pk=receipt.pk)
        if current.status not in (ReceiptStatus.FAILED, ReceiptStatus.QUEUED):
            raise CoreError(ErrorCode.INVALID, _("Only a failed or waiting receipt can be sent again; this one is "
                                                 "%(status)s.") % {"status": current.get_status_display()})
        register = current.cash_register or register_for(current.organization_id)
        if register is None:
            raise CoreError(ErrorCode.INVALID, str(_no_register()))
        # A device remembers what it answered for a uuid, refusal included: a receipt it refused goes again
        # under a new uuid (it was never registered, so nothing can be printed twice).
        fresh = uuid.uuid4() if current.status == ReceiptStatus.FAILED else current.uuid
        FiscalReceipt.objects.filter(pk=current.pk).update(
            status=ReceiptStatus.QUEUED, next_attempt_at=None, cash_register=register, uuid=fresh,
            last_error=_("Sent again by %(user)s.") % {"user": _who(user)} if user else "")
        schedule_drain(register.pk)
    receipt.refresh_from_db()
    return receipt


def _no_register() -> str:
    return _("The organization has no cash register: add one (Fiscal → Cash registers), then retry the receipt.")


def _who(user: Any) -> str:
    return user.get_full_name() or user.get_username() if getattr(user, "pk", None) else "—"


def cancel_receipt(receipt: FiscalReceipt, *, reason: str, user: Any = None) -> FiscalReceipt:
    """Stop a failed or waiting receipt for good (it was printed elsewhere, or is not needed)."""
    if not reason.strip():
        raise CoreError(ErrorCode.INVALID, _("Say why the receipt is cancelled."),
                        fields={"reason": [_("Say why the receipt is cancelled.")]})
    with service_transaction():
        current = FiscalReceipt.objects.select_for_update().get(pk=receipt.pk)
        if current.status not in (ReceiptStatus.FAILED, ReceiptStatus.QUEUED):
            raise CoreError(ErrorCode.INVALID, _(
                "Only a failed or waiting receipt can be cancelled; this one is %(status)s. A registered receipt "
                "is taken back with a return or a correction receipt.") % {"status": current.get_status_display()})
        FiscalReceipt.objects.filter(pk=current.pk).update(
            status=ReceiptStatus.CANCELLED, next_attempt_at=None,
            last_error=_("Cancelled by %(user)s: %(reason)s") % {"user": _who(user), "reason": reason.strip()})
    receipt.refresh_from_db()
    return receipt


def return_goods_receipt(original: FiscalReceipt, quantities: dict[int, Decimal], *, cash: Decimal | None = None,
                         electronic: Decimal | None = None, user: Any = None) -> FiscalReceipt:
    """A return receipt for goods of a registered sale receipt coming back (line number → quantity)."""
    if original.status != ReceiptStatus.REGISTERED:
        raise CoreError(ErrorCode.INVALID, _("Goods can be returned only against a registered receipt."))
    lines = list(original.lines.all())
    by_no = {ln.line_no: i for i, ln in enumerate(lines)}
    returned_before = _returned_quantities(original)
    wanted = []
    errors: dict[str, list[str]] = {}
    for line_no, quantity in sorted(quantities.items()):
        if not quantity:
            continue
        if line_no not in by_no:
            errors.setdefault("lines", []).append(_("The receipt has no line %(no)s.") % {"no": line_no})
            continue
        line = lines[by_no[line_no]]
        left = line.quantity - returned_before.get(line_no, ZERO)
        if quantity > left:
            errors.setdefault("lines", []).append(_(
                "Line %(no)s (%(name)s): %(asked)s to return, but only %(left)s sold and not yet returned.")
                % {"no": line_no, "name": line.name, "asked": _qty(quantity), "left": _qty(left)})
        wanted.append((by_no[line_no], quantity))
    if not wanted and not errors:
        errors["lines"] = [_("Give the quantity to return of at least one line.")]
    if errors:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
    try:
        drafts = builder.build(builder.GoodsReturn(original=original.to_draft(lines), quantities=tuple(wanted),
                                                   cash=cash, electronic=electronic))
    except builder.BuildError as exc:
        raise CoreError(ErrorCode.INVALID, str(exc)) from exc
    with service_transaction():
        (receipt,) = queue_receipts(drafts, organization_id=original.organization_id, partner_id=original.partner_id,
                                    cash_register=original.cash_register, original_id=original.pk, user=user,
                                    payment_id=original.payment_id, shipment_id=original.shipment_id)
    return receipt


def _qty(value: Decimal) -> str:
    return f"{Decimal(value).normalize():f}"


def _returned_quantities(original: FiscalReceipt) -> dict[int, Decimal]:
    """Quantities of each line of `original` already returned (by name and item, mapped back to line numbers)."""
    lines = list(original.lines.all())
    returned: dict[tuple[str, int | None], Decimal] = defaultdict(Decimal)
    for row in (FiscalReceiptLine.objects.filter(receipt__original=original)
                .exclude(receipt__status=ReceiptStatus.CANCELLED).values("name", "item_id", "quantity")):
        returned[(row["name"], row["item_id"])] += Decimal(str(row["quantity"]))
    out: dict[int, Decimal] = {}
    for ln in lines:
        key = (ln.name, ln.item_id)
        take = min(returned.get(key, ZERO), ln.quantity)
        if take:
            out[ln.line_no] = take
            returned[key] -= take
    return out


def correction_receipt(*, organization_id: int, cash_register: CashRegister | None, draft: ReceiptDraft,
                       user: Any = None) -> FiscalReceipt:
    """A correction receipt a person made for a settlement without a (right) receipt."""
    try:
        drafts = builder.build(builder.CorrectionEvent(operation=draft.operation, correction=draft.correction,
                                                       lines=draft.lines, payments=draft.payments,
                                                       buyer_contact=draft.buyer_contact))
    except builder.BuildError as exc:
        raise CoreError(ErrorCode.INVALID, _("The correction receipt does not add up: %(why)s")
                        % {"why": exc}) from exc
    with service_transaction():
        (receipt,) = queue_receipts(drafts, organization_id=organization_id, cash_register=cash_register, user=user)
    return receipt


# ---------------------------------------------------------------- the register's own operations
def register_operation(register: CashRegister, operation: str, *, amount: Decimal | None = None,
                       user: Any = None) -> Any:
    """Open or close a shift, take an X report, put cash in or take it out — on the device itself."""
    from torg.fiscal.devices import DeviceError

    device = device_for(register)
    cashier = cashier_of(register, user)
    try:
        if operation == "open_shift":
            return device.open_shift(cashier)
        if operation == "close_shift":
            return device.close_shift(cashier)
        if operation == "report_x":
            return device.report_x(cashier)
        if operation in ("cash_in", "cash_out"):
            if amount is None or amount <= 0:
                raise CoreError(ErrorCode.INVALID, _("Give an amount greater than zero."),
                                fields={"amount": [_("Give an amount greater than zero.")]})
            getattr(device, operation)(round_money(amount), cashier)
            return device.status()
        if operation == "status":
            return device.status()
    except DeviceError as exc:
        raise CoreError(ErrorCode.INVALID, _("The cash register answered: %(message)s")
                        % {"message": exc.message}) from exc
    raise ValueError(f"unknown register operation {operation!r}")


def set_emulator_online(register: CashRegister, online: bool, *, user: Any = None) -> None:
    """Switch the built-in emulator on or off (to see how the queue behaves with a register that is down)."""
    from torg.fiscal.drivers.emulator import EmulatorDevice
    from torg.fiscal.models import Driver, EmulatorState

    if register.driver != Driver.EMULATOR:
        raise CoreError(ErrorCode.INVALID, _("Only the built-in emulator can be switched on and off from here."))
    with service_transaction():
        EmulatorDevice(register.pk).status()  # creates its memory on first use
        EmulatorState.objects.filter(cash_register=register).update(online=online)


# ---------------------------------------------------------------- e-mail copy
@job("fiscal.email_copy")
def _email_copy(payload: dict[str, Any]) -> None:
    send_receipt_copy(FiscalReceipt.objects.get(pk=payload["receipt"]), payload["to"])


def send_receipt_copy(receipt: FiscalReceipt, address: str) -> None:
    """E-mail the buyer a PDF copy of a registered receipt (the fiscal data operator sends the official one)."""
    from django.core.mail import EmailMessage

    from torg.fiscal.printing import receipt_pdf

    message = EmailMessage(
        subject=_("Your receipt from %(org)s") % {"org": receipt.organization.name},
        body=_("Good day! Attached is a copy of your receipt of %(date)s for %(total)s.")
        % {"date": timezone.localtime(receipt.registered_at or receipt.created_at).strftime("%d.%m.%Y %H:%M"),
           "total": receipt.total},
        to=[address])
    message.attach(f"receipt-{receipt.fiscal_document_number or receipt.pk}.pdf", receipt_pdf(receipt),
                   "application/pdf")
    message.send()
    FiscalReceipt.objects.filter(pk=receipt.pk).update(emailed_to=address)


def receipts_of(*, payment_id: int | None = None, shipment_id: int | None = None, order_id: int | None = None,
                refund_id: int | None = None) -> list[FiscalReceipt]:
    """The receipts that registered a payment, a shipment or anything of an order (for their pages)."""
    if not any((payment_id, shipment_id, order_id, refund_id)):
        return []
    qs = FiscalReceipt.objects.select_related("cash_register")
    if payment_id:
        qs = qs.filter(payment_id=payment_id)
    if shipment_id:
        qs = qs.filter(shipment_id=shipment_id)
    if refund_id:
        qs = qs.filter(refund_id=refund_id)
    if order_id:
        qs = qs.filter(pk__in=FiscalReceiptLine.objects.filter(order_id=order_id).values("receipt_id"))
    return list(qs.order_by("created_at", "pk"))
