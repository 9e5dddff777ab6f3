"""Payment use cases: register a client's payment (allocated to orders and shipments, the rest kept as an
advance), refund an advance. Every call that registers money takes an idempotency key: a retried request
returns the document the first one made and registers nothing again.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection
from django.db.models import Q, Sum
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from torg.catalogs.models import BankAccount, CashDesk
from torg.core import events
from torg.core.documents import (
    clean_document,
    post_document,
    save_document,
    service_transaction,
    unpost_document,
)
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_money
from torg.core.statements import built_once, query_once
from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod, Refund
from torg.sales.models import (
    ClientAdvances,
    ClientAdvancesTotal,
    ClientSettlementsTotal,
    OrderStatus,
    SalesOrder,
    Shipment,
)

ZERO = Decimal(0)


def _fmt(value: Decimal) -> str:
    return number_format(value, 2, use_l10n=True, force_grouping=True)


@dataclass
class OpenItem:
    """Something the client may pay: an order (what is left of its amount) or a shipment without an order."""

    order_id: int | None
    shipment_id: int | None
    label: str
    due: dt.date | None
    remaining: Decimal


def _settled_rows(organization_id: int, partner_id: int, order_ids: Iterable[int] | None = None,
                  shipment_ids: Iterable[int] | None = None) -> Any:
    """The client's settlement totals (order, shipment, shipped, paid), all of them or of these objects."""
    qs = ClientSettlementsTotal.objects.filter(organization_id=organization_id, partner_id=partner_id)
    if order_ids is not None or shipment_ids is not None:
        qs = qs.filter(Q(order_id__in=list(order_ids or [])) | Q(shipment_id__in=list(shipment_ids or [])))
    return qs.values_list("order_id", "shipment_id", "shipped", "paid")


def _settled(organization_id: int, partner_id: int, order_ids: Iterable[int] | None = None,
             shipment_ids: Iterable[int] | None = None) -> dict[tuple[int | None, int | None], tuple[Decimal, Decimal]]:
    """(order, shipment) → (shipped, paid) of the client, all of it or only these orders and shipments."""
    return {(o, s): (round_money(shipped), round_money(paid))
            for o, s, shipped, paid in _settled_rows(organization_id, partner_id, order_ids, shipment_ids)}


def _open_orders(organization_id: int, partner_id: int, order_ids: Iterable[int] | None = None) -> Any:
    """The client's orders that can be paid: posted and agreed."""
    qs = (SalesOrder.objects.filter(organization_id=organization_id, partner_id=partner_id, posted=True)
          .exclude(status__in=[OrderStatus.NOT_AGREED]))
    return qs if order_ids is None else qs.filter(pk__in=list(order_ids))


def _left_on_order(order: SalesOrder, settled: dict[tuple[int | None, int | None], tuple[Decimal, Decimal]]) -> Decimal:
    """What is left to pay on an order: its amount (what shipped, once closed) less what is paid."""
    shipped, already = settled.get((order.pk, None), (ZERO, ZERO))
    owed = shipped if order.status == OrderStatus.CLOSED else max(order.amount, shipped)
    return owed - already


def open_items(organization_id: int, partner_id: int) -> list[OpenItem]:
    """What the client has to pay, oldest due first: agreed orders not fully paid, and unpaid shipments
    made without an order."""
    from django.utils import timezone

    from torg.sales.settlements import _credit_due

    paid = _settled(organization_id, partner_id)
    orders = list(_open_orders(organization_id, partner_id).prefetch_related("stages"))
    credit_due = _credit_due({o.pk: list(o.stages.all()) for o in orders}, [o.pk for o in orders])
    items = []
    for order in orders:
        left = _left_on_order(order, paid)
        if left <= 0:
            continue
        stage_dates = [s.due_date for s in order.stages.all() if s.due_date]
        due = min(stage_dates) if stage_dates else credit_due.get(order.pk)
        items.append(OpenItem(order.pk, None, str(order), due or timezone.localtime(order.date).date(), left))
    shipment_ids = [s for (o, s) in paid if o is None and s is not None]
    for shipment in Shipment.objects.filter(pk__in=shipment_ids):
        shipped, already = paid[(None, shipment.pk)]
        if shipped - already > 0:
            items.append(OpenItem(None, shipment.pk, str(shipment),
                                  shipment.due_date or timezone.localtime(shipment.date).date(), shipped - already))
    items.sort(key=lambda i: (i.due or dt.date.max, i.order_id or 0, i.shipment_id or 0))
    return items


def left_to_pay(organization_id: int, partner_id: int,
                keys: Iterable[tuple[int | None, int | None]]) -> dict[tuple[int | None, int | None], Decimal]:
    """What is left to pay on these (order, shipment) of the client — the open ones only (open_items' figures,
    without reading the rest of the client's objects and their due dates)."""
    keys = set(keys)
    order_ids = {o for o, s in keys if o and not s}
    shipment_ids = {s for o, s in keys if s and not o}
    if not order_ids and not shipment_ids:
        return {}
    settled, orders = _settled_and_open(organization_id, partner_id, sorted(order_ids), sorted(shipment_ids))
    result: dict[tuple[int | None, int | None], Decimal] = {}
    for order in orders:
        left = _left_on_order(order, settled)
        if left > 0:
            result[(order.pk, None)] = left
    for (o, s), (shipped, already) in settled.items():
        if o is None and s in shipment_ids and shipped - already > 0:
            result[(None, s)] = shipped - already
    return result


def _settled_and_open_sql(organization: int, partner: int, orders: list[int], shipments: list[int]
                          ) -> tuple[str, list[Any]]:
    settled_sql, settled_params = _settled_rows(organization, partner, orders, shipments).query.sql_with_params()
    sql = (f"SELECT 't', CAST(s.order_id AS TEXT), CAST(s.shipment_id AS TEXT), CAST(s.shipped AS TEXT), "
           f"CAST(s.paid AS TEXT) FROM ({settled_sql}) s")
    params: list[Any] = list(settled_params)
    if orders:
        open_sql, open_params = (_open_orders(organization, partner, orders)
                                 .values_list("id", "status", "amount").query.sql_with_params())
        sql += (f" UNION ALL SELECT 'o', CAST(o.id AS TEXT), o.status, CAST(o.amount AS TEXT), NULL "
                f"FROM ({open_sql}) o")
        params += open_params
    return sql, params


def _settled_and_open(organization_id: int, partner_id: int, order_ids: list[int], shipment_ids: list[int]
                      ) -> tuple[dict[tuple[int | None, int | None], tuple[Decimal, Decimal]], list[SalesOrder]]:
    """`_settled` of these orders and shipments, and which of the orders can be paid (`_open_orders`, as partial
    instances: id, status, amount): the two querysets sent as one statement, values as text so that they line up."""
    sql, params = built_once("settled and open", _settled_and_open_sql, organization=organization_id,
                             partner=partner_id, orders=order_ids, shipments=shipment_ids)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    settled: dict[tuple[int | None, int | None], tuple[Decimal, Decimal]] = {}
    orders = []
    for part, a, b, c, d in rows:
        if part == "t":
            settled[(int(a) if a else None, int(b) if b else None)] = (round_money(Decimal(c)),
                                                                       round_money(Decimal(d)))
        else:
            orders.append(SalesOrder(pk=int(a), status=b, amount=round_money(Decimal(c))))
    return settled, orders


def suggest_allocation(organization_id: int, partner_id: int, amount: Decimal,
                       orders: Sequence[int] | None = None) -> tuple[list[PaymentAllocation], Decimal]:
    """Allocate an amount oldest-due first (to the given orders only, when named); returns the allocation lines
    and the rest that would stay as an advance — what the page shows before saving."""
    rest = round_money(amount)
    lines = []
    for item in open_items(organization_id, partner_id):
        if rest <= 0:
            break
        if orders is not None and item.order_id not in orders:
            continue
        take = min(item.remaining, rest)
        lines.append(PaymentAllocation(order_id=item.order_id, shipment_id=item.shipment_id, amount=take))
        rest -= take
    return lines, rest


def _validate(payment: IncomingPayment | Refund) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if payment.amount is None or payment.amount <= 0:
        errors["amount"] = [_("The amount must be greater than zero.")]
    if payment.method == PaymentMethod.CASH:
        if not payment.cash_desk_id:
            errors["cash_desk"] = [_("Cash goes into a cash desk: choose it.")]
        elif (payment.cash_desk.organization_id if type(payment).cash_desk.is_cached(payment)  # read by the caller
              else CashDesk.objects.filter(pk=payment.cash_desk_id).values_list("organization_id", flat=True).first()
              ) != payment.organization_id:
            errors["cash_desk"] = [_("This cash desk belongs to another organization.")]
        payment.bank_account_id = None
    else:
        if not payment.bank_account_id:
            errors["bank_account"] = [_("A bank transfer or card payment arrives on a bank account: choose it.")]
        elif not query_once("bank account of organization", lambda pk, org: BankAccount.objects
                            .filter(pk=pk, organization_id=org).values_list("pk", flat=True)[:1],
                            pk=payment.bank_account_id, org=payment.organization_id):
            errors["bank_account"] = [_("This bank account is not the organization's.")]
        payment.cash_desk_id = None
    return errors


def _check_allocations(payment: IncomingPayment, lines: Sequence[PaymentAllocation],
                       errors: dict[str, list[str]]) -> None:
    """Each line pays one of the client's orders or shipments, never above what is left of it; the lines never
    add up to more than the payment."""
    remaining = left_to_pay(payment.organization_id, payment.partner_id,
                            [(ln.order_id, ln.shipment_id) for ln in lines])
    if payment.pk:  # this payment's own earlier allocation is not "paid by someone else"
        for ln in PaymentAllocation.objects.filter(document_id=payment.pk, document__posted=True):
            key = (ln.order_id, ln.shipment_id)
            remaining[key] = remaining.get(key, ZERO) + ln.amount
    total = ZERO
    for n, line in enumerate(lines, start=1):
        if (line.order_id is None) == (line.shipment_id is None):
            errors.setdefault(f"lines.{n}", []).append(_("Line %(n)s: choose one order or one shipment.") % {"n": n})
            continue
        if line.amount is None or line.amount <= 0:
            errors.setdefault(f"lines.{n}.amount", []).append(
                _("Line %(n)s: the amount must be greater than zero.") % {"n": n})
            continue
        key = (line.order_id, line.shipment_id)
        left = remaining.get(key)
        if left is None:
            errors.setdefault(f"lines.{n}", []).append(
                _("Line %(n)s: this is not an open order or shipment of the client.") % {"n": n})
            continue
        if line.amount > left:
            errors.setdefault(f"lines.{n}.amount", []).append(
                _("Line %(n)s: only %(left)s is left to pay on it; the excess %(excess)s would go to the advance.")
                % {"n": n, "left": _fmt(left), "excess": _fmt(line.amount - left)})
        total += line.amount
    if total > (payment.amount or ZERO):
        errors.setdefault("amount", []).append(
            _("The allocation adds up to %(total)s, more than the payment of %(amount)s.")
            % {"total": _fmt(total), "amount": _fmt(payment.amount or ZERO)})


def _paid_and_advance_sql(org: int, partner: int, orders: list[int], shipments: list[int],
                          advance_key: str) -> tuple[str, list[Any]]:
    settled_sql, settled_params = _settled_rows(org, partner, orders, shipments).query.sql_with_params()
    advance_sql, advance_params = (ClientAdvancesTotal.objects.filter(key=advance_key).values_list("amount")
                                   .query.sql_with_params())
    return (f"SELECT 't', CAST(s.order_id AS TEXT), CAST(s.shipment_id AS TEXT), CAST(s.shipped AS TEXT), "
            f"CAST(s.paid AS TEXT) FROM ({settled_sql}) s UNION ALL SELECT 'a', NULL, NULL, CAST(a.amount AS TEXT), "
            f"NULL FROM ({advance_sql}) a", [*settled_params, *advance_params])


def _refuse_paid_twice(payment: IncomingPayment, lines: Sequence[PaymentAllocation]) -> Decimal | None:
    """The allocation checked again once the payment is posted. Posting holds the row locks of the settlement totals
    it changed, so a concurrent payment to the same order or shipment has either committed (and is counted now) or
    waits for this one: of two cashiers paying the last 100.00 of an order, the second is refused instead of paying
    it twice (the check before saving read the totals without a lock). Returns the advance the client holds now,
    read in the same statement (None without allocation lines: nothing was read)."""
    keys = {(ln.order_id, ln.shipment_id) for ln in lines}
    if not keys:
        return None
    order_ids = sorted({o for o, _s in keys if o})
    shipment_ids = sorted({s for _o, s in keys if s})
    sql, params = built_once("paid and advance", _paid_and_advance_sql, org=payment.organization_id,
                             partner=payment.partner_id, orders=order_ids, shipments=shipment_ids,
                             advance_key=ClientAdvances.key_of((payment.organization_id, payment.partner_id)))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    advance = sum((Decimal(shipped) for part, _o, _s, shipped, _p in rows if part == "a"), ZERO)
    totals = {(int(o) if o else None, int(s) if s else None):
              (round_money(Decimal(shipped)), round_money(Decimal(paid)))
              for part, o, s, shipped, paid in rows if part == "t"}
    # An object owes at least what shipped: only one paid beyond that needs its order's amount and status.
    beyond = sorted({o for (o, _s), (shipped, paid) in totals.items() if o and paid > shipped})
    orders = ({o["pk"]: o for o in SalesOrder.objects.filter(pk__in=beyond).values("pk", "amount", "status")}
              if beyond else {})
    errors: dict[str, list[str]] = {}
    for n, line in enumerate(lines, start=1):
        shipped, paid = totals.get((line.order_id, line.shipment_id), (ZERO, ZERO))
        order = orders.get(line.order_id) if line.order_id else None
        if order is None:
            owed = shipped
        else:
            owed = shipped if order["status"] == OrderStatus.CLOSED else max(order["amount"], shipped)
        if paid > owed:
            left = max(owed - (paid - line.amount), ZERO)
            errors.setdefault(f"lines.{n}.amount", []).append(
                _("Line %(n)s: only %(left)s is left to pay on it; the excess %(excess)s would go to the advance.")
                % {"n": n, "left": _fmt(left), "excess": _fmt(line.amount - left)})
    if errors:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
    return round_money(advance)


def _existing(model: type[Any], key: str | None) -> Any:
    if not key:
        return None
    found = query_once(f"{model._meta.label} by idempotency key", lambda key: model.objects
                       .filter(idempotency_key=key).order_by("pk")[:1], key=key)
    return found[0] if found else None


def _idempotent_create(model: type[Any], key: str | None, create: Any) -> Any:
    """Run `create` unless a document with this key exists; two concurrent requests with one key: the unique
    index makes the second wait for the first and then return its document."""
    found = _existing(model, key)
    if found is not None:
        return found
    try:
        with service_transaction(own_savepoint=True):  # a duplicate key is caught here
            return create()
    except IntegrityError:
        found = _existing(model, key)
        if found is None:
            raise
        return found


def register_payment(payment: IncomingPayment, lines: Sequence[PaymentAllocation] | None = None, *,
                     user: Any = None, idempotency_key: str | None = None,
                     auto_allocate: bool = True, key_is_new: bool = False) -> IncomingPayment:
    """Register and post a client's payment.

    `lines` allocate it to orders and shipments; without them (and with `auto_allocate`) it is allocated
    oldest-due first. What is not allocated stays as the client's advance and is offset against its next
    shipments. A repeated `idempotency_key` returns the first payment. `key_is_new`: the caller holds the lock
    that makes the key new (a courier's confirmation holds its pending stop, whose own key the payment's is
    made from), so it is neither looked up nor guarded by a savepoint."""
    payment.idempotency_key = idempotency_key or None

    def create() -> IncomingPayment:
        # The idempotency key is not checked for uniqueness here: a repeated key returns the first payment.
        errors = clean_document(payment, lines or [], exclude=["number", "author", "version", "idempotency_key"])
        errors.update(_validate(payment))
        chosen = list(lines) if lines is not None else []
        if not errors and lines is None and auto_allocate:
            chosen, _rest = suggest_allocation(payment.organization_id, payment.partner_id, payment.amount)
        if not errors:
            _check_allocations(payment, chosen, errors)
        if errors:
            raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
        save_document(payment, chosen, user=user, post=True)
        advance = _refuse_paid_twice(payment, chosen)
        events.publish("payment_registered", payment=payment, user=user)
        from torg.sales.services import offset_advances

        offset_advances(payment.organization_id, payment.partner_id, user=user, date=payment.date, advance=advance)
        return payment

    if key_is_new:
        with service_transaction():
            return create()
    return _idempotent_create(IncomingPayment, payment.idempotency_key, create)


def allocate_payment(payment: IncomingPayment, lines: Sequence[PaymentAllocation], *, user: Any = None,
                     expected_version: int | None = None) -> IncomingPayment:
    """Change how a posted payment is allocated (the rest stays an advance); re-posts it."""
    errors: dict[str, list[str]] = {}
    _check_allocations(payment, lines, errors)
    if errors:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
    with service_transaction():
        save_document(payment, lines, user=user, expected_version=expected_version)
        _refuse_paid_twice(payment, lines)
    return payment


def unpost_payment(payment: IncomingPayment, *, user: Any = None) -> IncomingPayment:
    """Take a payment back (entered twice, or on the wrong client): its money leaves the orders it paid and the
    advance it made. Refused while that advance was already offset against shipments or refunded: the client's
    advance would go below zero (unpost the offset or the refund first)."""
    with service_transaction():
        unpost_document(payment, user=user)
        events.publish("payment_unposted", payment=payment, user=user)
    return payment


def post_payment(payment: IncomingPayment, *, user: Any = None) -> IncomingPayment:
    """Post again a payment that was unposted, with its allocation as it stands (re-checked: what it pays may have
    been paid meanwhile); the rest becomes the client's advance and is offset against its open shipments."""
    lines = list(PaymentAllocation.objects.filter(document_id=payment.pk).order_by("line_no"))
    errors: dict[str, list[str]] = {}
    _check_allocations(payment, lines, errors)
    if errors:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
    with service_transaction():
        post_document(payment, user=user)
        _refuse_paid_twice(payment, lines)
        events.publish("payment_registered", payment=payment, user=user)
        from torg.sales.services import offset_advances

        offset_advances(payment.organization_id, payment.partner_id, user=user, date=payment.date)
    return payment


def advance_held(organization_id: int, partner_id: int) -> Decimal:
    return ClientAdvances.balance(organization=organization_id, partner=partner_id)["amount"]


def refund(refund_doc: Refund, *, user: Any = None, idempotency_key: str | None = None) -> Refund:
    """Return money to a client out of its advance; refused above the advance held."""
    refund_doc.idempotency_key = idempotency_key or None

    def create() -> Refund:
        errors = clean_document(refund_doc, None, exclude=["number", "author", "version", "idempotency_key"])
        errors.update(_validate(refund_doc))
        if errors:
            raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
        held = advance_held(refund_doc.organization_id, refund_doc.partner_id)
        if refund_doc.amount > held:
            raise CoreError(ErrorCode.SHORTAGE, _(
                "A refund cannot exceed the advance the client holds: %(held)s is held, %(amount)s asked.")
                % {"held": _fmt(held), "amount": _fmt(refund_doc.amount)},
                fields={"amount": [_("At most %(held)s.") % {"held": _fmt(held)}]})
        save_document(refund_doc, None, user=user, post=True)
        events.publish("refund_registered", refund=refund_doc, user=user)
        return refund_doc

    return _idempotent_create(Refund, refund_doc.idempotency_key, create)


def payments_of_order(order_id: int) -> Decimal:
    value = PaymentAllocation.objects.filter(order_id=order_id, document__posted=True).aggregate(s=Sum("amount"))
    return round_money(value["s"] or 0)


def courier_cash_desk(user: Any, organization_id: int) -> CashDesk:
    """The operational cash desk a person (a courier) holds for an organization: the cash taken at the door goes
    there and stays until it is handed over to the company's cash desk. Made on first need."""
    desk = CashDesk.objects.filter(holder=user, organization_id=organization_id).order_by("pk").first()
    if desk is None:
        name = user.get_full_name() or user.get_username()
        desk = CashDesk.objects.create(holder=user, organization_id=organization_id,
                                       name=_("Courier's cash: %(name)s") % {"name": name})
    return desk
