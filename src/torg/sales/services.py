"""Sales use cases: agreements, quotes, orders (status, approval, securing, closing), the shipping backlog,
shipments and advance offsets. Pages, the REST API and the demo loader call these.
"""
from __future__ import annotations

import copy
import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import CharField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from torg.catalogs.models import Contact, Counterparty, DeliveryAddress, Item, ItemKind, Partner
from torg.catalogs.selectors import kinds_and_prices, prices_of
from torg.catalogs.services import save_catalog_entry
from torg.core import events
from torg.core.documents import (
    clean_document,
    hold_related,
    insert_statement,
    link_documents,
    lock_document,
    log_change,
    post_document,
    save_document,
    service_transaction,
    unpost_document,
    write_later,
    writes_at_the_end,
)
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.money import allocate, round_money
from torg.core.permissions import Cap, has_capability
from torg.core.posting import ShortageError
from torg.core.statements import query_once
from torg.sales import settlements
from torg.sales.models import (
    AdvanceOffset,
    AdvanceOffsetLine,
    AgreementKind,
    AgreementStatus,
    ApprovalState,
    ClientAdvances,
    ClientSettlementsTotal,
    GoodsIssue,
    GoodsIssueLine,
    GoodsToIssueTotal,
    OrderApproval,
    OrderBacklog,
    OrderBacklogTotal,
    OrderPaymentStage,
    OrderStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    PrepaymentRelease,
    PrepaymentReleaseLine,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    Securing,
    Shipment,
    ShipmentLine,
    StageKind,
    TradeAgreement,
)

ZERO = Decimal(0)
HUNDRED = Decimal(100)


class SalesError(CoreError):
    pass


# Error codes beyond the core's
PAYMENT_TERMS = "payment_terms"  # the advance or prepayment the schedule needs is not paid
CREDIT_LIMIT = "credit_limit"  # the client's debt would exceed its limit, or it has overdue debt
AGREEMENT = "agreement"  # a closed, draft or foreign agreement
BEYOND_ORDER = "beyond_order"  # shipping more than ordered
FORBIDDEN = ErrorCode.FORBIDDEN


def _fmt(value: Decimal) -> str:
    return number_format(value, 2, use_l10n=True, force_grouping=True)


def _plain(value: Decimal) -> str:
    """A quantity or percent without trailing zeros and never in exponent form (30, not 3E+1)."""
    return format(Decimal(value).normalize(), "f")


def _invalid(errors: dict[str, list[str]]) -> CoreError:
    return CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)


# ============================================================ schedules
def validate_stages(stages: Sequence[Any], field: str = "stages") -> dict[str, list[str]]:
    """Stages must name a kind and sum to 100 %."""
    errors: dict[str, list[str]] = {}
    if not stages:
        return errors
    total = ZERO
    for n, stage in enumerate(stages, start=1):
        if stage.kind not in StageKind.values:
            errors.setdefault(f"{field}.{n}.kind", []).append(_("Stage %(n)s: choose the kind of payment.") % {"n": n})
        if stage.percent is None or stage.percent <= 0 or stage.percent > 100:
            errors.setdefault(f"{field}.{n}.percent", []).append(
                _("Stage %(n)s: the percent must be above 0 and at most 100.") % {"n": n})
        else:
            total += Decimal(stage.percent)
    if total != HUNDRED and not errors:
        errors.setdefault(field, []).append(
            _("The stages add up to %(total)s%%; they must add up to 100%%.") % {"total": _plain(total)})
    return errors


def save_payment_schedule(schedule: PaymentSchedule, stages: Sequence[PaymentScheduleStage], *, user: Any = None,
                          expected_version: int | None = None) -> PaymentSchedule:
    errors = validate_stages(stages)
    if not stages:
        errors["stages"] = [_("Add at least one payment stage.")]
    if errors:
        raise _invalid(errors)
    with service_transaction():
        save_catalog_entry(schedule, user, expected_version,
                           extra_changes={"stages": [[s.kind, str(s.percent), s.days] for s in stages]})
        schedule.stages.all().delete()
        for stage in stages:
            stage.pk = None
            stage.schedule = schedule
        PaymentScheduleStage.objects.bulk_create(list(stages))
    return schedule


def save_agreement(agreement: TradeAgreement, *, partners: Iterable[Partner | int] | None = None, user: Any = None,
                   expected_version: int | None = None) -> TradeAgreement:
    errors: dict[str, list[str]] = {}
    if agreement.kind == AgreementKind.INDIVIDUAL and not agreement.partner_id:
        errors["partner"] = [_("An individual agreement is made with one client: choose it.")]
    if agreement.valid_from and agreement.valid_to and agreement.valid_to < agreement.valid_from:
        errors["valid_to"] = [_("The agreement cannot end before it starts.")]
    for name in ("discount_percent", "max_manual_discount"):
        value = getattr(agreement, name)
        if value is not None and not (0 <= value <= 100):
            errors[name] = [_("A percent from 0 to 100.")]
    if errors:
        raise _invalid(errors)
    with service_transaction():
        save_catalog_entry(agreement, user, expected_version)
        if partners is not None:
            agreement.partners.set(list(partners))
    return agreement


def agreements_for(partner: Partner | int, day: dt.date, organization: int | None = None) -> list[TradeAgreement]:
    """Active agreements a client may order under on a day: its individual ones first, then typical ones."""
    partner_id = getattr(partner, "pk", partner)
    qs = TradeAgreement.objects.filter(status=AgreementStatus.ACTIVE, deletion_mark=False).filter(
        Q(valid_from__isnull=True) | Q(valid_from__lte=day), Q(valid_to__isnull=True) | Q(valid_to__gte=day))
    if organization:
        qs = qs.filter(organization_id=organization)
    individual = list(qs.filter(kind=AgreementKind.INDIVIDUAL, partner_id=partner_id))
    typical = [a for a in qs.filter(kind=AgreementKind.TYPICAL).prefetch_related("partners")
               if not a.partners.all() or any(p.pk == partner_id for p in a.partners.all())]
    return individual + typical


def check_agreement(agreement: TradeAgreement | None, organization_id: int, partner_id: int, day: dt.date) -> None:
    if agreement is None:
        return
    if agreement.status == AgreementStatus.CLOSED:
        raise CoreError(AGREEMENT, _("The agreement “%(a)s” is closed: choose an active agreement.") % {"a": agreement},
                        fields={"agreement": [_("This agreement is closed.")]})
    if agreement.status != AgreementStatus.ACTIVE:
        raise CoreError(AGREEMENT, _("The agreement “%(a)s” is not active yet: it must be activated before "
                                     "orders are made under it.") % {"a": agreement},
                        fields={"agreement": [_("This agreement is not active.")]})
    if not agreement.is_valid_on(day):
        raise CoreError(AGREEMENT, _("The agreement “%(a)s” is not valid on %(day)s.") % {"a": agreement, "day": day},
                        fields={"agreement": [_("Not valid on the document date.")]})
    if agreement.organization_id != organization_id:
        raise CoreError(AGREEMENT, _("The agreement “%(a)s” is with another organization.") % {"a": agreement},
                        fields={"agreement": [_("Another organization's agreement.")]})
    if agreement.kind == AgreementKind.INDIVIDUAL and agreement.partner_id != partner_id:
        raise CoreError(AGREEMENT, _("The agreement “%(a)s” is another client's.") % {"a": agreement},
                        fields={"agreement": [_("Another client's agreement.")]})
    if agreement.kind == AgreementKind.TYPICAL:
        members = query_once("agreement partners", lambda pk: TradeAgreement.partners.through.objects
                             .filter(tradeagreement_id=pk).values_list("partner_id", flat=True), pk=agreement.pk)
        if members and partner_id not in members:
            raise CoreError(AGREEMENT, _("The agreement “%(a)s” is not for this client.") % {"a": agreement},
                            fields={"agreement": [_("Not for this client.")]})


def agreement_prices(agreement: TradeAgreement | None, item_ids: Iterable[int], day: dt.date) -> dict[int, Decimal]:
    """List prices of the agreement's price type on a day (item → price). The prices read stay with the agreement
    instance (one save reads them to fill the lines and again to find deviations)."""
    if agreement is None:
        return {}
    known = agreement.__dict__.setdefault("_prices_read", {})
    wanted = set(item_ids)
    missing = _prices_missing(agreement, wanted, day)
    if missing:
        _remember_prices(agreement, day, missing, prices_of(missing, agreement.price_type_id, day))
    return {i: price for i in wanted if (price := known[(i, day, agreement.price_type_id)]) is not None}


def _prices_missing(agreement: TradeAgreement, item_ids: Iterable[int], day: dt.date) -> list[int]:
    known = agreement.__dict__.setdefault("_prices_read", {})
    return sorted(i for i in set(item_ids) if (i, day, agreement.price_type_id) not in known)


def _remember_prices(agreement: TradeAgreement, day: dt.date, item_ids: Iterable[int],
                     found: dict[int, Decimal]) -> None:
    agreement.__dict__.setdefault("_prices_read", {}).update(
        {(i, day, agreement.price_type_id): found.get(i) for i in item_ids})


def _kinds_with_prices(document: Any, lines: Sequence[Any]) -> dict[int, str]:
    """The kinds of the lines' items, read with the agreement's prices of the lines without a price (kept with the
    agreement for `fill_line_prices` and the deviations check): one statement."""
    item_ids = sorted({ln.item_id for ln in lines if ln.item_id})
    unpriced = [ln.item_id for ln in lines if ln.item_id and not ln.price]
    agreement = agreement_of(document) if unpriced else None
    if agreement is None:
        return dict(query_once("item kinds", lambda ids: Item.objects.filter(pk__in=ids).order_by()
                               .values_list("pk", "kind"), ids=item_ids))
    day = timezone.localtime(document.date).date() if document.date else timezone.localdate()
    missing = _prices_missing(agreement, unpriced, day)
    kinds, found = kinds_and_prices(item_ids, missing, agreement.price_type_id, day)
    _remember_prices(agreement, day, missing, found)
    return kinds


def schedule_template(agreement: TradeAgreement) -> list[tuple[str, Decimal, int]]:
    """The agreement's payment schedule as (kind, percent, days) per stage, read once per agreement instance."""
    if not agreement.payment_schedule_id:
        return []
    cached = agreement.__dict__.get("_schedule_template")
    if cached is None or cached[0] != agreement.payment_schedule_id:
        stages = [(kind, Decimal(percent), days) for kind, percent, days in query_once(
            "schedule template", lambda pk: PaymentScheduleStage.objects.filter(schedule_id=pk).order_by("pk")
            .values_list("kind", "percent", "days"), pk=agreement.payment_schedule_id)]
        cached = agreement.__dict__["_schedule_template"] = (agreement.payment_schedule_id, stages)
    return cached[1]


def agreement_of(document: Any) -> TradeAgreement | None:
    """The document's agreement, read with a statement built once when the document does not hold it yet."""
    field = type(document)._meta.get_field("agreement")
    if document.agreement_id is not None and not field.is_cached(document):
        found = query_once("agreement", lambda pk: TradeAgreement.objects.filter(pk=pk), pk=document.agreement_id)
        if found:
            field.set_cached_value(document, found[0])
    return document.agreement


def fill_line_prices(document: Any, lines: Sequence[Any]) -> None:
    """Lines without a price get the agreement's price and its discount."""
    unpriced = [ln.item_id for ln in lines if ln.item_id and not ln.price]
    if not unpriced:
        return  # every line has its price (a status change re-saves the lines as they are): nothing to look up
    agreement = agreement_of(document)
    if agreement is None:
        return
    day = timezone.localtime(document.date).date() if document.date else timezone.localdate()
    prices = agreement_prices(agreement, unpriced, day)
    for line in lines:
        if not line.price and line.item_id in prices:
            line.price = prices[line.item_id]
            if not line.discount_percent:
                line.discount_percent = agreement.discount_percent


# ================================================================ quotes
def save_quote(quote: Quote, lines: Sequence[QuoteLine], *, user: Any = None,
               expected_version: int | None = None) -> Quote:
    fill_line_prices(quote, lines)
    for line in lines:
        line.document = quote
        line.compute()
    errors = clean_document(quote, lines, exclude=["number", "author", "version"])
    _check_lines(lines, errors)
    if errors:
        raise _invalid(errors)
    check_agreement(quote.agreement, quote.organization_id, quote.partner_id,
                    timezone.localtime(quote.date).date())
    quote.amount = sum((_with_vat(ln, quote.prices_include_vat) for ln in lines), ZERO)
    if quote.manager_id is None and getattr(user, "pk", None):
        quote.manager = user
    return save_document(quote, lines, user=user, expected_version=expected_version)  # type: ignore[return-value]


def create_quote_version(quote: Quote, *, user: Any = None, changes: Sequence[dict[str, Any]] = (),
                         comment: str = "") -> Quote:
    """Record the client's answer to a quote as its next version: a copy with the client's asked quantities and
    prices (`changes`: {"line_no", "quantity"?, "price"?, "agreed"?}), linked to the previous one, which becomes
    "answered"."""
    by_no = {c["line_no"]: c for c in changes}
    with service_transaction():
        previous = Quote.objects.select_for_update().get(pk=quote.pk)
        if previous.status in (Quote.Status.ANSWERED, Quote.Status.ACCEPTED, Quote.Status.REJECTED):
            raise CoreError(ErrorCode.INVALID, _("%(doc)s already has an answer: work on its latest version.")
                            % {"doc": previous})
        new = Quote(organization_id=previous.organization_id, partner_id=previous.partner_id,
                    counterparty_id=previous.counterparty_id, contact_id=previous.contact_id,
                    agreement_id=previous.agreement_id, valid_until=previous.valid_until, previous=previous,
                    revision=previous.revision + 1, prices_include_vat=previous.prices_include_vat,
                    terms=previous.terms, manager_id=previous.manager_id, comment=comment or previous.comment)
        lines = []
        for old in previous.lines.order_by("line_no"):
            change = by_no.get(old.line_no, {})
            line = QuoteLine(item_id=old.item_id, quantity=old.quantity, price=old.price,
                             discount_percent=old.discount_percent, vat_rate=old.vat_rate,
                             client_comment=old.client_comment, agreed=bool(change.get("agreed", old.agreed)))
            if "quantity" in change:
                line.asked_quantity = Decimal(str(change["quantity"]))
                line.quantity = line.asked_quantity
            if "price" in change:
                line.asked_price = Decimal(str(change["price"]))
                line.price = line.asked_price
            lines.append(line)
        save_quote(new, lines, user=user)
        Quote.objects.filter(pk=previous.pk).update(status=Quote.Status.ANSWERED)
        link_documents(previous, new)
    return new


def mark_quote_lines(quote: Quote, agreed_line_nos: Iterable[int], *, user: Any = None) -> Quote:
    wanted = set(agreed_line_nos)
    with service_transaction():
        lines = list(quote.lines.order_by("line_no"))
        for line in lines:
            line.agreed = line.line_no in wanted
        QuoteLine.objects.bulk_update(lines, ["agreed"])
        log_change(quote, ChangeLogEntry.Action.CHANGED, user, changes={"agreed_lines": sorted(wanted)})
    return quote


def mark_quote_sent(quote: Quote, *, user: Any = None) -> Quote:
    """The quote went to the client (a draft becomes "sent"; its lines can still change until the client
    answers)."""
    return _set_quote_status(quote, Quote.Status.SENT, (Quote.Status.DRAFT,), user=user)


def reject_quote(quote: Quote, reason: str, *, user: Any = None) -> Quote:
    """The client said no: the quote is closed, the reason kept in its history."""
    reason = (reason or "").strip()
    if not reason:
        raise _invalid({"reason": [_("Say why the client rejected the quote.")]})
    return _set_quote_status(quote, Quote.Status.REJECTED, (Quote.Status.DRAFT, Quote.Status.SENT), user=user,
                             comment=reason)


def _set_quote_status(quote: Quote, status: str, allowed_from: tuple[str, ...], *, user: Any,
                      comment: str = "") -> Quote:
    with service_transaction():
        current = Quote.objects.select_for_update().get(pk=quote.pk)
        if current.status not in allowed_from:
            raise CoreError(ErrorCode.INVALID, _("%(doc)s is “%(status)s”: it can no longer become “%(new)s”.") % {
                "doc": current, "status": current.get_status_display(),
                "new": Quote.Status(status).label})
        Quote.objects.filter(pk=current.pk).update(status=status, version=current.version + 1,
                                                   updated_at=timezone.now())
        log_change(current, ChangeLogEntry.Action.CHANGED, user, changes={"status": [current.status, status]},
                   comment=comment[:500])
    quote.status, quote.version = status, current.version + 1
    return quote


def order_from_quote(quote: Quote, *, user: Any = None, warehouse: Any = None) -> SalesOrder:
    """A new order (not agreed, not posted) from the agreed lines of a quote (all lines if none is marked)."""
    lines = list(quote.lines.order_by("line_no"))
    agreed = [ln for ln in lines if ln.agreed] or lines
    if not agreed:
        raise CoreError(ErrorCode.EMPTY_DOCUMENT, _("The quote has no lines to order."))
    agreement = quote.agreement
    warehouse_id = getattr(warehouse, "pk", warehouse) or (agreement.warehouse_id if agreement else None)
    if warehouse_id is None:
        raise CoreError(ErrorCode.INVALID, _("Choose the warehouse the order ships from."),
                        fields={"warehouse": [_("Choose the warehouse.")]})
    order = SalesOrder(organization_id=quote.organization_id, partner_id=quote.partner_id,
                       counterparty_id=quote.counterparty_id, contact_id=quote.contact_id,
                       agreement_id=quote.agreement_id, warehouse_id=warehouse_id, quote=quote,
                       prices_include_vat=quote.prices_include_vat, manager_id=quote.manager_id)
    order_lines = [SalesOrderLine(item_id=ln.item_id, quantity=ln.quantity, price=ln.price,
                                  discount_percent=ln.discount_percent, vat_rate=ln.vat_rate) for ln in agreed]
    with service_transaction():
        save_order(order, order_lines, user=user)
        Quote.objects.filter(pk=quote.pk).update(status=Quote.Status.ACCEPTED)
        link_documents(quote, order)
    return order


# ================================================================ orders
def _with_vat(line: Any, prices_include_vat: bool) -> Decimal:
    return line.amount if prices_include_vat else line.amount + line.vat_amount


def _check_lines(lines: Sequence[Any], errors: dict[str, list[str]]) -> None:
    for n, line in enumerate(lines, start=1):
        if line.quantity is not None and line.quantity <= 0:
            errors.setdefault(f"lines.{n}.quantity", []).append(
                _("Line %(n)s: the quantity must be greater than zero.") % {"n": n})
        if line.price is not None and line.price < 0:
            errors.setdefault(f"lines.{n}.price", []).append(_("Line %(n)s: the price cannot be negative.") % {"n": n})
        discount = getattr(line, "discount_percent", None)
        if discount is not None and not (0 <= discount <= 100):
            errors.setdefault(f"lines.{n}.discount_percent", []).append(
                _("Line %(n)s: the discount is a percent from 0 to 100.") % {"n": n})


def build_stages(order: SalesOrder) -> list[OrderPaymentStage]:
    """The order's payment stages from its agreement's schedule (amounts and dates: compute_stages)."""
    if agreement_of(order) is None:
        return []
    return [OrderPaymentStage(kind=kind, percent=percent, days=days)
            for kind, percent, days in schedule_template(order.agreement)]


def compute_stages(order: SalesOrder, stages: Sequence[OrderPaymentStage]) -> None:
    """Stage amounts (the remainder of rounding on the largest) and due dates.

    Advance and prepayment are due `days` after the order date; credit `days` after the planned shipment
    (the state uses the real shipment once there is one)."""
    amounts = allocate(order.amount, [s.percent for s in stages]) if stages else []
    day = timezone.localtime(order.date).date()
    for stage, amount in zip(stages, amounts, strict=True):
        stage.amount = amount
        if stage.kind == StageKind.CREDIT:
            stage.due_date = (order.shipment_date + dt.timedelta(days=stage.days)) if order.shipment_date else None
        else:
            stage.due_date = day + dt.timedelta(days=stage.days)
    order.advance_amount = sum((s.amount for s in stages if s.kind == StageKind.ADVANCE), ZERO)
    order.prepayment_amount = sum((s.amount for s in stages if s.kind == StageKind.PREPAYMENT), ZERO)


@dataclass(frozen=True)
class Deviation:
    kind: str  # price | discount | schedule | warehouse | minimum
    area: str  # pricing | financial | logistic
    line: int | None
    text: str

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "area": self.area, "line": self.line, "text": self.text}


def agreement_deviations(order: SalesOrder, lines: Sequence[SalesOrderLine],
                         stages: Sequence[OrderPaymentStage]) -> list[Deviation]:
    """What in the order departs from its agreement (the approver's list)."""
    agreement = agreement_of(order)
    if agreement is None:
        return []
    result: list[Deviation] = []
    day = timezone.localtime(order.date).date()
    live = [ln for ln in lines if not ln.cancelled]
    prices = agreement_prices(agreement, [ln.item_id for ln in live], day)
    max_discount = agreement.discount_percent + agreement.max_manual_discount
    names: dict[int, str] = {}

    def name(item_id: int) -> str:  # read once, and only when a line departs from the agreement
        if not names:
            names.update(Item.objects.filter(pk__in={ln.item_id for ln in live}).values_list("pk", "name"))
        return names.get(item_id, "")

    for n, line in enumerate(lines, start=1):
        if line.cancelled:
            continue
        listed = prices.get(line.item_id)
        if listed is not None and line.price < listed:
            result.append(Deviation("price", "pricing", n, _(
                "Line %(n)s, “%(item)s”: price %(price)s is below the agreement's price %(listed)s") % {
                "n": n, "item": name(line.item_id), "price": _fmt(line.price), "listed": _fmt(listed)}))
        if line.discount_percent > max_discount:
            result.append(Deviation("discount", "pricing", n, _(
                "Line %(n)s, “%(item)s”: discount %(d)s%% is above the allowed %(max)s%%") % {
                "n": n, "item": name(line.item_id), "d": _plain(line.discount_percent),
                "max": _plain(max_discount)}))
        if line.warehouse_id and agreement.warehouse_id and line.warehouse_id != agreement.warehouse_id:
            result.append(Deviation("warehouse", "logistic", n, _(
                "Line %(n)s ships from another warehouse than the agreement's") % {"n": n}))
    if agreement.warehouse_id and order.warehouse_id != agreement.warehouse_id:
        result.append(Deviation("warehouse", "logistic", None,
                                _("The order ships from another warehouse than the agreement's")))
    if agreement.payment_schedule_id:
        mine = [(s.kind, Decimal(s.percent), s.days) for s in stages]
        if schedule_template(agreement) != mine:
            result.append(Deviation("schedule", "financial", None,
                                    _("The payment schedule differs from the agreement's “%(s)s”")
                                    % {"s": agreement.payment_schedule}))
    if agreement.min_order_amount and order.amount < agreement.min_order_amount:
        result.append(Deviation("minimum", "financial", None, _(
            "The order amount %(amount)s is below the agreement's minimum %(min)s") % {
            "amount": _fmt(order.amount), "min": _fmt(agreement.min_order_amount)}))
    return result


def order_paid(order_id: int | None) -> Decimal:
    if not order_id:
        return ZERO
    value = ClientSettlementsTotal.objects.filter(order_id=order_id).aggregate(p=Sum("paid"))["p"]
    return round_money(value or 0)


def _check_payment_terms(order: SalesOrder, lines: Sequence[SalesOrderLine], user: Any) -> None:
    """An order may reserve only after its advance is paid and release for shipment only after its prepayment,
    unless the user has the right to override."""
    if order.status in (OrderStatus.NOT_AGREED, OrderStatus.CLOSED):
        return
    if has_capability(user, Cap.SALES_OVERRIDE_PAYMENT):
        return
    live = [ln for ln in lines if not ln.cancelled]
    reserving = any(ln.securing == Securing.RESERVE for ln in live)
    releasing = order.status == OrderStatus.TO_SHIP or any(ln.securing == Securing.SHIP for ln in live)
    if not (releasing and order.advance_amount + order.prepayment_amount > 0
            or reserving and order.advance_amount > 0):
        return  # nothing has to be paid first
    paid = order_paid(order.pk)
    if order.pk is None:  # saved agreed or released at once: nothing can be paid on it yet
        need = order.advance_amount + (order.prepayment_amount if releasing else ZERO)
        raise CoreError(PAYMENT_TERMS, _(
            "The payment terms of this order require %(need)s paid before its goods are reserved or shipped: save "
            "it, and release it once the payment is in, or ask someone with the right to override.")
            % {"need": _fmt(need)}, need=str(need), paid="0.00")
    if releasing and order.advance_amount + order.prepayment_amount > paid:
        need = order.advance_amount + order.prepayment_amount
        raise CoreError(PAYMENT_TERMS, _(
            "The payment terms of %(order)s require %(need)s paid before shipment; %(paid)s is paid. "
            "Wait for the prepayment, or ask someone with the right to override.") % {
            "order": order, "need": _fmt(need), "paid": _fmt(paid)}, need=str(need), paid=str(paid))
    if reserving and order.advance_amount > paid:
        raise CoreError(PAYMENT_TERMS, _(
            "The payment terms of %(order)s require an advance of %(need)s before goods are reserved; "
            "%(paid)s is paid. Wait for the advance, or ask someone with the right to override.") % {
            "order": order, "need": _fmt(order.advance_amount), "paid": _fmt(paid)},
            need=str(order.advance_amount), paid=str(paid))


def validate_order(order: SalesOrder, lines: Sequence[SalesOrderLine], stages: Sequence[OrderPaymentStage]) -> None:
    errors = clean_document(order, lines, exclude=["number", "author", "version"])
    _check_lines(lines, errors)
    errors.update(validate_stages(stages))
    day = timezone.localtime(order.date).date() if order.date else timezone.localdate()
    if order.shipment_date and order.shipment_date < day:
        errors.setdefault("shipment_date", []).append(_("The shipment date cannot be before the order date."))
    for n, line in enumerate(lines, start=1):
        if line.shipment_date and line.shipment_date < day:
            errors.setdefault(f"lines.{n}.shipment_date", []).append(
                _("Line %(n)s: the shipment date cannot be before the order date.") % {"n": n})
        if line.cancelled and not line.cancel_reason.strip():
            errors.setdefault(f"lines.{n}.cancel_reason", []).append(
                _("Line %(n)s is cancelled: say why.") % {"n": n})
    partner_id = order.partner_id
    if order.counterparty_id and not Counterparty.objects.filter(pk=order.counterparty_id,
                                                                 partner_id=partner_id).exists():
        errors.setdefault("counterparty", []).append(_("This counterparty belongs to another partner."))
    if order.delivery_address_id and not DeliveryAddress.objects.filter(pk=order.delivery_address_id,
                                                                        partner_id=partner_id).exists():
        errors.setdefault("delivery_address", []).append(_("This delivery address is another partner's."))
    if order.contact_id and not Contact.objects.filter(pk=order.contact_id, partner_id=partner_id).exists():
        errors.setdefault("contact", []).append(_("This contact is another partner's."))
    codes = [ln.code for ln in lines if ln.code]
    if len(codes) != len(set(codes)):
        errors.setdefault("lines", []).append(_("Two lines have the same line code."))
    _check_securing_of_shipped_lines(order, lines, errors)
    if errors:
        raise _invalid(errors)
    check_agreement(agreement_of(order), order.organization_id, order.partner_id, day)


def _check_securing_of_shipped_lines(order: SalesOrder, lines: Sequence[SalesOrderLine],
                                     errors: dict[str, list[str]]) -> None:
    """A line that has shipped keeps whether it is reserved: its shipments took (or did not take) the reserve as
    it was then, so reserving it afterwards would hold its shipped part reserved for ever, and un-reserving it
    would leave their reserve taken twice."""
    if not order.pk or order.status == OrderStatus.NOT_AGREED:
        return  # a line that has shipped keeps its order agreed: un-agreeing would take back its backlog
    shipped = shipped_quantities(order.pk)
    if not shipped:
        return
    was = dict(SalesOrderLine.objects.filter(document_id=order.pk, code__in=list(shipped))
               .values_list("code", "securing"))
    for n, line in enumerate(lines, start=1):
        if line.code not in was or shipped[line.code] <= 0:
            continue
        if (was[line.code] == Securing.RESERVE) != (line.securing == Securing.RESERVE):
            errors.setdefault(f"lines.{n}.securing", []).append(
                _("Line %(n)s has shipped %(shipped)s already: whether it is reserved can no longer change. "
                  "Cancel what is left of it and order that as a new line.")
                % {"n": n, "shipped": _plain(shipped[line.code])})


def _prepare_order(order: SalesOrder, lines: Sequence[SalesOrderLine],
                   stages: Sequence[OrderPaymentStage] | None) -> list[OrderPaymentStage]:
    kinds = _kinds_with_prices(order, lines)
    fill_line_prices(order, lines)
    used = [ln.code for ln in lines if ln.code]
    next_code = max(used, default=0)
    if order.pk:
        next_code = max(next_code, SalesOrderLine.objects.filter(document_id=order.pk).order_by("-code")
                        .values_list("code", flat=True).first() or 0)
    for line in lines:
        line.document = order
        line.item_kind = kinds.get(line.item_id, ItemKind.GOODS)
        if not line.code:
            next_code += 1
            line.code = next_code
        line.compute()
    live = [ln for ln in lines if not ln.cancelled]
    order.amount = sum((_with_vat(ln, order.prices_include_vat) for ln in live), ZERO)
    order.vat_amount = sum((ln.vat_amount for ln in live), ZERO)
    if stages is None:
        if order.pk:
            stages = [OrderPaymentStage(kind=s.kind, percent=s.percent, days=s.days) for s in order.stages.all()]
        else:
            stages = build_stages(order)
    stages = list(stages)
    compute_stages(order, stages)
    return stages


# The statuses an order may be saved with (`save_order(status=…)`), each from the statuses before it.
_SAVED_WITH = {OrderStatus.TO_SECURE: (OrderStatus.NOT_AGREED,),
               OrderStatus.TO_SHIP: (OrderStatus.NOT_AGREED, OrderStatus.TO_SECURE)}


def _saved_with(order: SalesOrder, status: str) -> None:
    if status not in _SAVED_WITH:
        raise _invalid({"status": [_("An order is saved as agreed («to secure») or released («to ship»); the other "
                                     "statuses are changed by their own operations.")]})
    if order.status not in _SAVED_WITH[status]:
        raise _invalid({"status": [_("The order is already «%(status)s»: change its status with the status "
                                     "operation.") % {"status": order.get_status_display()}]})
    order.status = status


def save_order(order: SalesOrder, lines: Sequence[SalesOrderLine], *, stages: Sequence[OrderPaymentStage] | None = None,
               user: Any = None, expected_version: int | None = None, post: bool = False,
               review_deviations: bool = True, status: str | None = None) -> SalesOrder:
    """Create or change an order with its lines and payment stages (from the agreement's schedule when not given).

    An order beyond "not agreed" that departs from its agreement goes back to approval unless the user may
    deviate; reserving and releasing respect the payment terms (DESIGN.md). Re-posts a posted order.
    `review_deviations=False` is for the system's own changes that touch no commercial term (reserving arrived
    goods): they do not send an agreed order back to approval.
    `status` ("to secure" or "to ship") agrees or releases the order as it is saved, and posts it: one step
    instead of save, agree and release, under the same rules (approval of deviations, the prepayment rule)."""
    before = (order.status, order.approval, order.agreed_at)
    try:
        if status is not None:
            _saved_with(order, status)
            post = True
        if order.manager_id is None and getattr(user, "pk", None):
            order.manager = user
        stages = _prepare_order(order, lines, stages)
        validate_order(order, lines, stages)
        with service_transaction():
            created = order.pk is None

            def write() -> None:
                if order.status != OrderStatus.NOT_AGREED and order.agreed_at is None:
                    order.agreed_at = timezone.now()
                save_document(order, lines, user=user, expected_version=expected_version, post=post)
                _replace_stages(order, stages, new=created)

            _write_under_terms(order, lines, stages, user=user, write=write, review_deviations=review_deviations)
        # The stages were held as the order's while it was saved (they were written last): the caller's order
        # reads them from the database again, as before.
        order.__dict__.get("_prefetched_objects_cache", {}).pop("stages", None)
    except CoreError:
        order.status, order.approval, order.agreed_at = before  # refused: the order in memory is as it was
        raise
    return order


def _write_under_terms(order: SalesOrder, lines: Sequence[SalesOrderLine], stages: Sequence[OrderPaymentStage], *,
                       user: Any, write: Callable[[], None], review_deviations: bool = True) -> None:
    """What every change of an order goes through, in its transaction: an agreed order that departs from its
    agreement goes to approval (unless the user may deviate), the payment terms are checked, `write()` saves it,
    a new approval request replaces one still waiting, and the order's state is refreshed once. The order's new
    number, its payment stages, its state and the log entries go in one statement at the end (`writes_at_the_end`)."""
    from torg.sales.states import refresh_order_states

    if order.status != OrderStatus.NOT_AGREED and review_deviations:
        deviations = agreement_deviations(order, lines, stages)
        if deviations and not has_capability(user, Cap.SALES_APPROVE) and not _approved_as_is(order, deviations):
            _send_to_approval(order, deviations, user, requested=order.status)
    _check_payment_terms(order, lines, user)
    with writes_at_the_end():
        order._state_refreshed_by_caller = True  # type: ignore[attr-defined]
        try:
            write()
        finally:
            del order._state_refreshed_by_caller  # type: ignore[attr-defined]
        pending = getattr(order, "_pending_approval", None)
        if pending is not None:
            # A newer request replaces one still waiting: the approver decides on the order as it is now.
            order.approvals.filter(decision=OrderApproval.Decision.PENDING).delete()
            pending.order = order
            pending.save()
            del order._pending_approval
        refresh_order_states([order.pk], loaded={order.pk: (order, lines, stages)})


def _replace_stages(order: SalesOrder, stages: Sequence[OrderPaymentStage], *, new: bool = False) -> None:
    """Write the order's payment stages when they differ from the stored ones (`new`: the order was just
    created, it has none)."""
    if not new:
        existing = [(s.kind, s.percent, s.amount, s.days, s.due_date) for s in order.stages.all()]
        wanted = [(s.kind, Decimal(s.percent), s.amount, s.days, s.due_date) for s in stages]
        if existing == wanted:
            return
        order.stages.all().delete()
    for stage in stages:
        stage.pk = None
        stage.order = order
    if stages:  # with the save's last statement: nothing in it reads them back (they are held as the order's)
        write_later([insert_statement(OrderPaymentStage, list(stages))])
    hold_related(order, order.stages, list(stages))


def _approved_as_is(order: SalesOrder, deviations: Sequence[Deviation]) -> bool:
    """The same deviations were approved before: a change that adds none needs no new approval."""
    if not order.pk or order.approval != ApprovalState.APPROVED:
        return False
    last = order.approvals.filter(decision=OrderApproval.Decision.APPROVED).first()
    if last is None:
        return False
    approved = {(d["kind"], d.get("line")) for d in last.deviations}
    return all((d.kind, d.line) in approved for d in deviations)


def _send_to_approval(order: SalesOrder, deviations: Sequence[Deviation], user: Any, requested: str) -> None:
    order.status = OrderStatus.NOT_AGREED
    order.approval = ApprovalState.PENDING
    order._pending_approval = OrderApproval(  # type: ignore[attr-defined]
        requested_by=user if getattr(user, "pk", None) else None,
        deviations=[d.as_dict() | {"requested_status": requested} for d in deviations])


def _read_lines_and_stages(order: SalesOrder) -> tuple[list[SalesOrderLine], list[OrderPaymentStage]]:
    """The order's lines and payment stages, held as its `lines.all()` and `stages.all()` (statements built once)."""
    lines = query_once("lines of order", lambda pk: SalesOrderLine.objects.filter(document_id=pk)
                       .order_by("line_no", "id"), pk=order.pk)
    stages = query_once("stages of order", lambda pk: OrderPaymentStage.objects.filter(order_id=pk)
                        .order_by("id"), pk=order.pk)
    hold_related(order, order.lines, lines)
    hold_related(order, order.stages, stages)
    return lines, stages


def _lines_of(order: SalesOrder) -> list[SalesOrderLine]:
    return list(SalesOrderLine.objects.filter(document_id=order.pk).order_by("line_no"))


def _reload(order: SalesOrder) -> SalesOrder:
    return SalesOrder.objects.select_related("agreement", "organization").get(pk=order.pk)


def set_order_status(order: SalesOrder, status: str, *, user: Any = None) -> SalesOrder:
    """Move an order between "not agreed", "to secure" and "to ship" (closing: `close_order`).

    Agreeing an order that departs from its agreement sends it to approval instead, unless the user may deviate.
    Returns the order as it is now (look at `status` and `approval`)."""
    if status not in OrderStatus.values:
        raise _invalid({"status": [_("Unknown status.")]})
    if status == OrderStatus.CLOSED:
        return close_order(order, user=user)
    with service_transaction():
        current, lock = lock_document(SalesOrder, order.pk, with_related=("agreement",))
        as_locked = copy.copy(current)  # the row as it is: save_document compares with it instead of reading it
        if current.status == OrderStatus.CLOSED:
            raise CoreError(ErrorCode.INVALID, _("%(doc)s is closed: its status no longer changes.") % {"doc": current})
        if current.deletion_mark:
            raise CoreError(ErrorCode.DELETION_MARKED, _("%(doc)s is marked for deletion.") % {"doc": current})
        lines, stages = _read_lines_and_stages(current)
        current.status = status
        if status == OrderStatus.NOT_AGREED:
            current.approval = ApprovalState.NOT_NEEDED
        else:
            if current.agreed_at is None:
                current.agreed_at = timezone.now()
            # Only the status changes: the lines and stages stay as they were saved and checked; the agreement
            # must still be in force, and the order still keeps to it or goes to approval.
            check_agreement(current.agreement, current.organization_id, current.partner_id,
                            timezone.localtime(current.date).date())
        _write_under_terms(current, lines, stages, user=user, write=lambda: save_document(
            current, None, user=user, expected_version=current.version, post=True, locked=(as_locked, lock)))
    order.__dict__.update({k: v for k, v in current.__dict__.items() if not k.startswith("_")})
    return current


def submit_order(order: SalesOrder, *, user: Any = None) -> SalesOrder:
    """Agree the order ("to secure"): approved at once, or sent to approval when it departs from its agreement."""
    return set_order_status(order, OrderStatus.TO_SECURE, user=user)


def release_to_ship(order: SalesOrder, *, user: Any = None) -> SalesOrder:
    """Release every line for shipment (status "to ship"): refused while the prepayment is missing."""
    return set_order_status(order, OrderStatus.TO_SHIP, user=user)


def post_order(order: SalesOrder, *, user: Any = None) -> SalesOrder:
    """Post (or re-post) a saved order as it is, with its lines and payment stages."""
    return save_order(order, _lines_of(order), stages=list(order.stages.all()), user=user, post=True)


def unpost_order(order: SalesOrder, *, user: Any = None) -> SalesOrder:
    """Remove an order's movements (refused while posted documents are based on it); its state becomes
    "not posted" (the engine calls the order's hook before the posted flag is cleared, so refresh after it)."""
    from torg.sales.states import refresh_order_states

    with service_transaction():
        unpost_document(order, user=user)
        refresh_order_states([order.pk])
    return order


def approval_inbox(user: Any) -> list[OrderApproval]:
    if not has_capability(user, Cap.SALES_APPROVE):
        return []
    return list(OrderApproval.objects.filter(decision=OrderApproval.Decision.PENDING)
                .select_related("order", "order__partner", "requested_by").order_by("requested_at"))


def decide_approval(approval: OrderApproval, *, approve: bool, user: Any, comment: str = "") -> OrderApproval:
    """An approver approves (the order goes to the status its author asked for) or rejects (it stays not agreed;
    the author sees the comment)."""
    if not has_capability(user, Cap.SALES_APPROVE):
        raise CoreError(FORBIDDEN, _("Only a person with the approval right decides on orders."))
    if not approve and not comment.strip():
        raise _invalid({"comment": [_("Say why the order is rejected: its author will read it.")]})
    with service_transaction():
        approval = OrderApproval.objects.select_for_update().get(pk=approval.pk)
        if approval.decision != OrderApproval.Decision.PENDING:
            raise CoreError(ErrorCode.INVALID, _("This approval was already decided."))
        approval.decision = OrderApproval.Decision.APPROVED if approve else OrderApproval.Decision.REJECTED
        approval.decided_by = user
        approval.decided_at = timezone.now()
        approval.comment = comment
        approval.save()
        order = SalesOrder.objects.select_for_update().get(pk=approval.order_id)
        if approve:
            requested = next((d.get("requested_status") for d in approval.deviations), OrderStatus.TO_SECURE)
            order.approval = ApprovalState.APPROVED
            order.status = requested or OrderStatus.TO_SECURE
            if order.agreed_at is None:
                order.agreed_at = timezone.now()
            save_order(order, _lines_of(order), stages=list(order.stages.all()), user=user,
                       expected_version=order.version, post=True)
        else:
            SalesOrder.objects.filter(pk=order.pk).update(approval=ApprovalState.REJECTED)
            log_change(order, ChangeLogEntry.Action.CHANGED, user, changes={"approval": ["pending", "rejected"]},
                       comment=comment)
    return approval


def cancel_order_lines(order: SalesOrder, codes: Iterable[int], reason: str, *, user: Any = None) -> SalesOrder:
    """Cancel lines (by line code) with a reason; a partly shipped line keeps its shipped part and the rest is
    cancelled as a new line."""
    if not reason.strip():
        raise _invalid({"cancel_reason": [_("Say why the lines are cancelled.")]})
    wanted = set(codes)
    with service_transaction():
        current = SalesOrder.objects.select_for_update().get(pk=order.pk)
        lines = _split_off_unshipped(current, _lines_of(current), wanted, reason)
        save_order(current, lines, stages=list(current.stages.all()), user=user, expected_version=current.version,
                   post=current.posted)
    return current


def shipped_quantities(order_id: int) -> dict[int, Decimal]:
    """Quantity shipped per order line code (posted shipments)."""
    rows = (ShipmentLine.objects.filter(order_id=order_id, document__posted=True).values("order_line_code")
            .annotate(q=Sum("quantity")).order_by())
    return {row["order_line_code"]: Decimal(str(row["q"])) for row in rows}


def _split_off_unshipped(order: SalesOrder, lines: list[SalesOrderLine], codes: set[int] | None,
                         reason: str) -> list[SalesOrderLine]:
    shipped = shipped_quantities(order.pk)
    result: list[SalesOrderLine] = []
    for line in lines:
        if line.cancelled or (codes is not None and line.code not in codes):
            result.append(line)
            continue
        done = shipped.get(line.code, ZERO)
        if done <= 0:
            line.cancelled, line.cancel_reason = True, reason
            result.append(line)
        elif done < line.quantity:
            rest = SalesOrderLine(item_id=line.item_id, quantity=line.quantity - done, price=line.price,
                                  discount_percent=line.discount_percent, vat_rate=line.vat_rate,
                                  warehouse_id=line.warehouse_id, shipment_date=line.shipment_date,
                                  securing=line.securing, cancelled=True, cancel_reason=reason)
            line.quantity = done
            result += [line, rest]
        else:
            result.append(line)
    return result


def close_order(order: SalesOrder, *, user: Any = None, reason: str = "") -> SalesOrder:
    """Close an order: lines not shipped are cancelled (a partly shipped line is split)."""
    with service_transaction():
        current = SalesOrder.objects.select_for_update().get(pk=order.pk)
        if current.status == OrderStatus.CLOSED:
            return current
        lines = _split_off_unshipped(current, _lines_of(current), None, reason or _("order closed"))
        current.status = OrderStatus.CLOSED
        save_order(current, lines, stages=list(current.stages.all()), user=user, expected_version=current.version,
                   post=True)
    return current


# ====================================================== shipping backlog
@dataclass
class BacklogRow:
    order_id: int
    order: str
    partner_id: int
    partner: str
    organization_id: int
    line_code: int
    item_id: int
    item: str
    warehouse_id: int | None
    warehouse: str
    quantity: Decimal
    ship_by: dt.date | None
    awaiting_prepayment: bool


def shipping_backlog(*, warehouse: int | None = None, until: dt.date | None = None,
                     partner: int | None = None, order: int | None = None) -> list[BacklogRow]:
    """Order lines released to ship and not yet shipped, by date and warehouse."""
    from torg.sales.models import OrderState, OrderStateCode

    qs = OrderBacklogTotal.objects.filter(quantity__gt=0)
    if warehouse:
        qs = qs.filter(warehouse_id=warehouse)
    if order:
        qs = qs.filter(order_id=order)
    rows = list(qs.values("order_id", "line_code", "item_id", "warehouse_id", "quantity"))
    if not rows:
        return []
    order_ids = {r["order_id"] for r in rows}
    orders = {o.pk: o for o in SalesOrder.objects.filter(pk__in=order_ids).select_related("partner")}
    if partner:
        orders = {k: o for k, o in orders.items() if o.partner_id == partner}
    lines = {(ln.document_id, ln.code): ln for ln in SalesOrderLine.objects.filter(document_id__in=list(orders))}
    items = dict(Item.objects.filter(pk__in={r["item_id"] for r in rows}).values_list("pk", "name"))
    from torg.catalogs.models import Warehouse

    warehouses = dict(Warehouse.objects.values_list("pk", "name"))
    waiting = set(OrderState.objects.filter(order_id__in=list(orders), state=OrderStateCode.AWAITING_PREPAYMENT)
                  .values_list("order_id", flat=True))
    result = []
    for r in rows:
        o = orders.get(r["order_id"])
        if o is None:
            continue
        line = lines.get((o.pk, int(r["line_code"] or 0)))
        ship_by = (line.shipment_date if line and line.shipment_date else None) or o.shipment_date
        if until and ship_by and ship_by > until:
            continue
        result.append(BacklogRow(o.pk, str(o), o.partner_id, o.partner.name, o.organization_id,
                                 int(r["line_code"] or 0), r["item_id"], items.get(r["item_id"], ""),
                                 r["warehouse_id"], warehouses.get(r["warehouse_id"], ""),
                                 Decimal(str(r["quantity"])), ship_by, o.pk in waiting))
    result.sort(key=lambda b: (b.ship_by or dt.date.max, b.warehouse, b.order_id, b.line_code))
    return result


@dataclass(frozen=True)
class Pick:
    """One order line picked from the backlog, with the quantity to ship (None: all that is left)."""

    order_id: int
    line_code: int
    quantity: Decimal | None = None


def create_shipments_from_backlog(picks: Sequence[Pick], *, user: Any = None, post: bool = True,
                                  date: dt.datetime | None = None) -> list[Shipment]:
    """One shipment per organization and client, from the picked order lines (several orders, several
    warehouses). Orders awaiting prepayment are refused unless the user may override."""
    if not picks:
        raise _invalid({"lines": [_("Choose at least one line to ship.")]})
    order_ids = sorted({p.order_id for p in picks})
    known = _Orders.read(order_ids)
    orders, lines = known.orders, known.lines
    left = {key: Decimal(str(line.left or 0)) for key, line in lines.items()}
    _refuse_awaiting_prepayment(known, user)
    groups: dict[tuple[int, int], list[tuple[SalesOrder, SalesOrderLine, Decimal]]] = defaultdict(list)
    errors: dict[str, list[str]] = {}
    for n, pick in enumerate(picks, start=1):
        order = orders.get(pick.order_id)
        line = lines.get((pick.order_id, pick.line_code))
        if order is None or line is None:
            errors.setdefault(f"lines.{n}", []).append(_("Line %(n)s: no such order line.") % {"n": n})
            continue
        remaining = left.get((pick.order_id, pick.line_code), ZERO)
        quantity = remaining if pick.quantity is None else pick.quantity
        if quantity <= 0:
            errors.setdefault(f"lines.{n}", []).append(
                _("Line %(n)s: nothing is left to ship on this order line.") % {"n": n})
            continue
        groups[(order.organization_id, order.partner_id)].append((order, line, quantity))
    if errors:
        raise _invalid(errors)
    shipments = []
    with service_transaction():
        for (_org, _partner), picked in sorted(groups.items()):
            first = picked[0][0]
            shipment = Shipment(organization_id=first.organization_id, partner_id=first.partner_id,
                                counterparty_id=first.counterparty_id, agreement_id=first.agreement_id,
                                warehouse_id=first.warehouse_id, delivery_address_id=first.delivery_address_id,
                                manager_id=first.manager_id, prices_include_vat=first.prices_include_vat)
            if date is not None:
                shipment.date = date
            ship_lines = [ShipmentLine(order_id=o.pk, order_line_code=ln.code, item_id=ln.item_id,
                                       warehouse_id=ln.warehouse_id or o.warehouse_id, quantity=q, price=ln.price,
                                       discount_percent=ln.discount_percent, vat_rate=ln.vat_rate)
                          for o, ln, q in picked]
            save_shipment(shipment, ship_lines, user=user, post=post, _known=known)
            for order_id in sorted({o.pk for o, _ln, _q in picked}):
                link_documents(orders[order_id], shipment)
            shipments.append(shipment)
    return shipments


# ============================================================= shipments
@dataclass
class _Orders:
    """The orders a shipment ships from and their lines (each with `left`, what its backlog still holds), read once
    (by the backlog, or by the check) in one statement: an order is known by its lines."""

    orders: dict[int, SalesOrder]
    lines: dict[tuple[int, int], SalesOrderLine]

    @classmethod
    def read(cls, order_ids: Iterable[int]) -> _Orders:
        orders: dict[int, SalesOrder] = {}
        lines = {}
        for line in query_once("lines of orders, with their orders and backlog", _lines_with_orders,
                               ids=sorted(set(order_ids))):
            order = orders.setdefault(line.document_id, line.document)
            SalesOrderLine.document.field.set_cached_value(line, order)  # one instance per order
            lines[(line.document_id, line.code)] = line
        return cls(orders, lines)

    def awaiting_prepayment(self) -> list[SalesOrder]:
        from torg.sales.models import OrderState, OrderStateCode

        waiting = []
        for order in self.orders.values():
            try:
                state = order.state
            except OrderState.DoesNotExist:
                continue
            if state.state == OrderStateCode.AWAITING_PREPAYMENT:
                waiting.append(order)
        return sorted(waiting, key=lambda o: o.pk)


def _lines_with_orders(ids: list[int]) -> Any:
    left = (OrderBacklogTotal.objects.filter(order_id=OuterRef("document_id"),
                                             line_code=Cast(OuterRef("code"), CharField()))
            .values("order_id").annotate(left=Sum("quantity")).values("left"))
    return (SalesOrderLine.objects.filter(document_id__in=ids).select_related("document__state")
            .annotate(left=Subquery(left)).order_by("document_id", "line_no"))


def _refuse_awaiting_prepayment(known: _Orders, user: Any) -> None:
    """Goods of an order still awaiting its prepayment do not ship, unless the user may override."""
    waiting = known.awaiting_prepayment()
    if waiting and not has_capability(user, Cap.SALES_OVERRIDE_PAYMENT):
        raise CoreError(PAYMENT_TERMS, _("These orders await their prepayment and cannot ship yet: %(list)s.")
                        % {"list": ", ".join(str(o) for o in waiting)})


def _check_shipment_lines(shipment: Shipment, lines: Sequence[ShipmentLine], user: Any,
                          known: _Orders) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    orders, order_lines = known.orders, known.lines
    beyond_allowed = has_capability(user, Cap.SALES_BEYOND_ORDER)
    for n, line in enumerate(lines, start=1):
        if line.order_id is None:
            if line.order_line_code:
                errors.setdefault(f"lines.{n}.order", []).append(
                    _("Line %(n)s names an order line but no order.") % {"n": n})
            continue
        order = orders.get(line.order_id)
        if order is None:
            continue  # reported by the reference check
        if order.partner_id != shipment.partner_id or order.organization_id != shipment.organization_id:
            errors.setdefault(f"lines.{n}.order", []).append(
                _("Line %(n)s: %(order)s is another client's or organization's order.") % {"n": n, "order": order})
        if order.status == OrderStatus.NOT_AGREED:
            errors.setdefault(f"lines.{n}.order", []).append(
                _("Line %(n)s: %(order)s is not agreed yet.") % {"n": n, "order": order})
        if not line.order_line_code:
            if not beyond_allowed:
                errors.setdefault(f"lines.{n}.item", []).append(
                    _("Line %(n)s is not in %(order)s: shipping beyond an order needs the right to do so.")
                    % {"n": n, "order": order})
            continue
        order_line = order_lines.get((line.order_id, line.order_line_code))
        if order_line is None or order_line.cancelled:
            errors.setdefault(f"lines.{n}.order_line_code", []).append(
                _("Line %(n)s: %(order)s has no such line (or it is cancelled).") % {"n": n, "order": order})
        elif order_line.item_id != line.item_id:
            errors.setdefault(f"lines.{n}.item", []).append(
                _("Line %(n)s: the order line is for another item.") % {"n": n})
    return errors


def _check_over_shipment(shipment: Shipment, lines: Sequence[ShipmentLine]) -> None:
    """Name order, line, ordered, shipped and asked when a line ships more than its order line has left.
    (The backlog register's control refuses it; this says it in the user's words: `_explain_backlog_shortage`.)"""
    asked: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        if line.order_id and line.order_line_code:
            asked[(line.order_id, line.order_line_code)] += line.quantity
    if not asked:
        return
    order_ids = {o for o, _c in asked}
    ordered = _Orders.read(order_ids).lines
    shipped: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    qs = ShipmentLine.objects.filter(order_id__in=order_ids, document__posted=True)
    if shipment.pk:
        qs = qs.exclude(document_id=shipment.pk)
    for row in qs.values("order_id", "order_line_code").annotate(q=Sum("quantity")).order_by():
        shipped[(row["order_id"], row["order_line_code"])] = Decimal(str(row["q"]))
    names = {o.pk: str(o) for o in SalesOrder.objects.filter(pk__in=order_ids)}
    problems = []
    for key, quantity in sorted(asked.items()):
        line = ordered.get(key)
        if line is None:
            continue
        if shipped[key] + quantity > line.quantity:
            problems.append(_("%(order)s, line %(line)s: ordered %(ordered)s, shipped %(shipped)s, asked %(asked)s")
                            % {"order": names[key[0]], "line": line.line_no, "ordered": _plain(line.quantity),
                               "shipped": _plain(shipped[key]), "asked": _plain(quantity)})
    if problems:
        raise CoreError(BEYOND_ORDER, _("Shipping more than ordered: %(list)s.") % {"list": "; ".join(problems)},
                        problems=problems)


def client_debt(organization_id: int, partner_id: int) -> Decimal:
    """What the client owes the organization now: shipped − paid over all objects, less the advance it holds."""
    return settlements.client_position(organization_id, partner_id, timezone.localdate()).debt


def overdue_debt(organization_id: int, partner_id: int, today: dt.date | None = None) -> Decimal:
    """Debt past its due date (receivables by object and due date)."""
    return settlements.overdue_debt(organization_id, partner_id, today or timezone.localdate())


def _check_credit(shipment: Shipment, user: Any) -> settlements.ClientPosition | None:
    """Refuse a shipment to a client with overdue debt, or one that takes its debt above its credit limit, unless
    the user may override; returns where the client stands (None when not read)."""
    if has_capability(user, Cap.SALES_OVERRIDE_CREDIT):
        return None
    # Overdue as of the shipment's day: a back-dated shipment is judged by the debts due before it.
    position = settlements.client_position(shipment.organization_id, shipment.partner_id,
                                           timezone.localtime(shipment.date).date())
    if position.overdue > 0:
        raise CoreError(CREDIT_LIMIT, _("%(client)s has overdue debt of %(amount)s: shipping stops until it is paid "
                                        "(or someone with the right overrides).") % {
            "client": Partner.objects.get(pk=shipment.partner_id), "amount": _fmt(position.overdue)})
    limit = position.credit_limit
    if limit is not None and position.debt > limit:
        raise CoreError(CREDIT_LIMIT, _("%(client)s would owe %(debt)s, above its credit limit of %(limit)s "
                                        "by %(over)s.") % {
            "client": Partner.objects.get(pk=shipment.partner_id), "debt": _fmt(position.debt),
            "limit": _fmt(limit), "over": _fmt(position.debt - limit)})
    return position


def save_shipment(shipment: Shipment, lines: Sequence[ShipmentLine], *, user: Any = None,
                  expected_version: int | None = None, post: bool = False, _known: _Orders | None = None) -> Shipment:
    """Create or change a shipment; with `post` post it and offset the client's advance against it."""
    if shipment.manager_id is None and getattr(user, "pk", None):
        shipment.manager = user
    for line in lines:
        line.document = shipment
        line.compute()
    errors = clean_document(shipment, lines, exclude=["number", "author", "version"])
    _check_lines(lines, errors)
    known = _known if _known is not None else _Orders.read(ln.order_id for ln in lines if ln.order_id)
    errors.update(_check_shipment_lines(shipment, lines, user, known))
    if errors:
        raise _invalid(errors)
    if post and _known is None:  # (from the backlog the orders were checked before the lines were picked)
        _refuse_awaiting_prepayment(known, user)
    shipment.amount = sum((_with_vat(ln, shipment.prices_include_vat) for ln in lines), ZERO)
    shipment.vat_amount = sum((ln.vat_amount for ln in lines), ZERO)
    with _explain_backlog_shortage(shipment, lines), service_transaction(own_savepoint=True):
        before = (Shipment.objects.filter(pk=shipment.pk, posted=True).values_list("amount", flat=True).first()
                  if shipment.pk else None)
        was_posted = before is not None
        save_document(shipment, lines, user=user, expected_version=expected_version, post=post)
        if (post or was_posted) and (not was_posted or shipment.amount > before):
            # A posted shipment made smaller (goods refused at the door) only lowers the debt: no credit check.
            position = _check_credit(shipment, user)
            offset_advances(shipment.organization_id, shipment.partner_id, user=user, date=shipment.date,
                            advance=position.advance if position else None)
        if post and not was_posted:
            events.publish("shipment_posted", shipment=shipment, user=user)
    return shipment


@contextmanager
def _explain_backlog_shortage(shipment: Shipment, lines: Sequence[ShipmentLine]) -> Iterator[None]:
    """A shipment the order backlog refuses is refused in the user's words when it ships more than ordered
    (order, line, ordered, shipped, asked); other shortfalls keep the register's message."""
    try:
        yield
    except ShortageError as exc:
        if any(f.register is OrderBacklog for f in exc.shortfalls):
            _check_over_shipment(shipment, lines)
        raise


def post_shipment(shipment: Shipment, *, user: Any = None) -> Shipment:
    lines = list(shipment.lines.order_by("line_no"))
    _refuse_awaiting_prepayment(_Orders.read(ln.order_id for ln in lines if ln.order_id), user)
    with _explain_backlog_shortage(shipment, lines), service_transaction(own_savepoint=True):
        was_posted = Shipment.objects.filter(pk=shipment.pk, posted=True).exists()
        post_document(shipment, user=user)
        position = _check_credit(shipment, user)
        offset_advances(shipment.organization_id, shipment.partner_id, user=user, date=shipment.date,
                        advance=position.advance if position else None)
        if not was_posted:
            events.publish("shipment_posted", shipment=shipment, user=user)
    return shipment


def unpost_shipment(shipment: Shipment, *, user: Any = None) -> Shipment:
    return unpost_document(shipment, user=user)


# ========================================================= advance offset
def open_debts(organization_id: int, partner_id: int) -> list[tuple[int | None, int | None, Decimal]]:
    """Objects (order, shipment) the client owes on, oldest first."""
    rows = query_once("settlements of client", lambda org, partner: ClientSettlementsTotal.objects
                      .filter(organization_id=org, partner_id=partner)
                      .values_list("order_id", "shipment_id", "shipped", "paid"),
                      org=organization_id, partner=partner_id)
    debts = [(order_id, shipment_id, round_money(shipped - paid)) for order_id, shipment_id, shipped, paid in rows]
    return sorted([d for d in debts if d[2] > 0], key=lambda d: (d[0] or 0, d[1] or 0))


def offset_advances(organization_id: int, partner_id: int, *, user: Any = None, date: dt.datetime | None = None,
                    advance: Decimal | None = None) -> AdvanceOffset | None:
    """Apply the advance a client holds to its open debts, oldest first, with a posted advance offset. `advance`:
    what the client holds, when the caller has just read it in this transaction."""
    if advance is None:
        advance = ClientAdvances.balance(organization=organization_id, partner=partner_id)["amount"]
    if advance <= 0:
        return None
    debts = open_debts(organization_id, partner_id)
    if not debts:
        return None
    lines = []
    for order_id, shipment_id, debt in debts:
        if advance <= 0:
            break
        take = min(debt, advance)
        lines.append(AdvanceOffsetLine(order_id=order_id, shipment_id=shipment_id, amount=take))
        advance -= take
    offset = AdvanceOffset(organization_id=organization_id, partner_id=partner_id,
                           amount=sum((ln.amount for ln in lines), ZERO))
    if date is not None:
        offset.date = date
    save_document(offset, lines, user=user, post=True)
    return offset


def release_prepayment(order: SalesOrder, *, user: Any = None) -> PrepaymentRelease | None:
    """What is paid on an order beyond what it owes now (its amount after cancelled lines, or what shipped once
    closed) becomes the client's advance again: one posted `PrepaymentRelease`. None when nothing is overpaid."""
    current = SalesOrder.objects.get(pk=order.pk)
    row = ClientSettlementsTotal.objects.filter(order_id=order.pk, shipment_id__isnull=True).aggregate(
        s=Sum("shipped"), p=Sum("paid"))
    shipped, paid = round_money(row["s"] or 0), round_money(row["p"] or 0)
    owed = shipped if current.status == OrderStatus.CLOSED else max(current.amount, shipped)
    excess = paid - owed
    if excess <= 0:
        return None
    release = PrepaymentRelease(organization_id=current.organization_id, partner_id=current.partner_id,
                               amount=excess)
    with service_transaction():
        save_document(release, [PrepaymentReleaseLine(order_id=current.pk, amount=excess)], user=user, post=True)
    return release


# ============================================================ goods issue
def goods_to_issue(warehouse: int | None = None) -> list[dict[str, Any]]:
    """Shipments from order-based warehouses whose goods the warehouse has not issued yet."""
    qs = GoodsToIssueTotal.objects.exclude(quantity=0)
    if warehouse:
        qs = qs.filter(warehouse_id=warehouse)
    return list(qs.values("warehouse_id", "shipment_id", "item_id", "quantity").order_by("shipment_id", "item_id"))


def issue_goods(shipments: Sequence[Shipment | int], *, user: Any = None, quantities: dict[tuple[int, int], Decimal]
                | None = None, post: bool = True) -> list[GoodsIssue]:
    """Goods issues (one per organization and warehouse) for what these shipments still have to issue;
    `quantities` ((shipment, item) → quantity) records what was really issued when it differs."""
    ids = [getattr(s, "pk", s) for s in shipments]
    rows = list(GoodsToIssueTotal.objects.filter(shipment_id__in=ids, quantity__gt=0)
                .values("warehouse_id", "shipment_id", "item_id", "quantity"))
    if not rows:
        raise CoreError(ErrorCode.EMPTY_DOCUMENT, _("These shipments have nothing left to issue."))
    organizations = dict(Shipment.objects.filter(pk__in=ids).values_list("pk", "organization_id"))
    groups: dict[tuple[int, int], list[GoodsIssueLine]] = defaultdict(list)
    for r in rows:
        quantity = (quantities or {}).get((r["shipment_id"], r["item_id"]), Decimal(str(r["quantity"])))
        if quantity <= 0:
            continue
        groups[(organizations[r["shipment_id"]], r["warehouse_id"])].append(
            GoodsIssueLine(shipment_id=r["shipment_id"], item_id=r["item_id"], quantity=quantity))
    issues = []
    with service_transaction():
        for (organization_id, warehouse_id), lines in sorted(groups.items()):
            issue = GoodsIssue(organization_id=organization_id, warehouse_id=warehouse_id)
            save_document(issue, lines, user=user, post=post)
            for shipment_id in sorted({ln.shipment_id for ln in lines}):
                link_documents(Shipment(pk=shipment_id), issue)
            issues.append(issue)
    return issues
