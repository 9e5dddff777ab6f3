"""Order-to-cash sales endpoints: payment schedules, trade agreements, sales orders (status, approval, line
cancellation), the shipping backlog and shipments.

    GET  /sales/payment-schedules[/{id}]      list / read                          sales.view
    POST /sales/payment-schedules, PUT …/{id} create / replace ("version")       + sales.agreements
    GET  /sales/agreements[/{id}]             list / read                          sales.view
    POST /sales/agreements, PUT …/{id}        create / replace ("version")       + sales.agreements
    GET  /sales/orders[/{id}]                 list with computed states / read     sales.view
    POST /sales/orders ("post"), PUT …/{id}   create / replace ("version")       + sales.edit
    POST /sales/orders/{id}/post              post                               + sales.edit
    POST /sales/orders/{id}/status            not_agreed | to_secure | to_ship | closed   + sales.edit
    POST /sales/orders/{id}/cancel-lines      cancel lines by code with a reason  + sales.edit
    GET  /sales/approvals                     orders awaiting the reader's decision   + sales.approve
    POST /sales/approvals/{id}/decision       approve or reject with a comment    + sales.approve
    GET  /sales/shipping-backlog              order lines released and not shipped   sales.view
    POST /sales/shipping-backlog/shipments    shipments from picked lines (Idempotency-Key)  + sales.ship
    GET  /sales/shipments[/{id}]              list / read                          sales.view
    POST /sales/shipments ("post"), PUT …/{id}  create (Idempotency-Key) / replace   + sales.ship
    POST /sales/shipments/{id}/post|unpost                                       + sales.ship

Every change goes through `torg.sales.services`; handlers parse, check and render. No
`from __future__ import annotations`: ninja reads the handlers' annotations.
"""
import datetime as dt
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import AfterValidator, create_model
from pydantic_core import PydanticCustomError

from torg.api import idempotency
from torg.api.auth import secured
from torg.api.crud import DEFAULT_LIMIT, MAX_LIMIT, paginate
from torg.api.errors import ERROR_RESPONSES, NotFound
from torg.api.schemas import (
    InputSchema,
    assign,
    input_schema,
    missing_references,
    output_schema,
    page_schema,
    values_of,
)
from torg.catalogs.models import Item, Partner
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_quantity
from torg.core.permissions import Cap
from torg.sales import services
from torg.sales.models import (
    AgreementKind,
    OrderApproval,
    OrderPaymentStage,
    OrderState,
    OrderStateCode,
    OrderStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    ShipmentLine,
    TradeAgreement,
)

MAX_ID = 2**63 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
DATE_HELP = "ISO 8601; default: now. A date alone means midnight."


# ================================================================ helpers shared with payments.py
def aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def day_range(qs: QuerySet, date_from: dt.date | None, date_to: dt.date | None, field: str = "date") -> QuerySet:
    """Documents from the start of one day to the end of another; a bound at the ends of the calendar
    (0001-01-01, 9999-12-31) means no bound."""
    if date_from is not None and date_from > dt.date.min + dt.timedelta(days=1):
        qs = qs.filter(**{f"{field}__gte": timezone.make_aware(dt.datetime.combine(date_from, dt.time.min))})
    if date_to is not None and date_to < dt.date.max - dt.timedelta(days=1):
        qs = qs.filter(**{f"{field}__lt": timezone.make_aware(
            dt.datetime.combine(date_to + dt.timedelta(days=1), dt.time.min))})
    return qs


def check_references(model: type[models.Model], rows: Sequence[dict[str, Any]],
                     name_of: Callable[[int, str], str] | None = None) -> dict[str, list[str]]:
    """Field errors for ids that point nowhere — including ids too large for any database key, which would
    otherwise break the look-up itself."""
    errors: dict[str, list[str]] = {}
    safe: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        kept = {}
        for fname, value in row.items():
            field = model._meta.get_field(fname)
            if not (field.is_relation and field.many_to_one):
                continue
            if isinstance(value, int) and not 0 < value <= MAX_ID:
                key = name_of(index, fname) if name_of else fname
                errors.setdefault(key, []).append(
                    _("%(what)s %(id)s does not exist: give the id of an existing %(what)s.")
                    % {"what": field.related_model._meta.verbose_name, "id": value})  # type: ignore[union-attr]
            else:
                kept[fname] = value
        safe.append(kept)
    for key, messages in missing_references(model, safe, name_of).items():
        errors.setdefault(key, []).extend(messages)
    return errors


def column_errors(objects: Sequence[models.Model], prefix: str = "lines") -> dict[str, list[str]]:
    """Values of lines their columns cannot hold (too many digits or places, too long), checked before the
    services compute with them; named `lines.N.field`."""
    errors: dict[str, list[str]] = {}
    for n, obj in enumerate(objects, start=1):
        try:
            obj.clean_fields(exclude=[f.name for f in obj._meta.fields if f.is_relation or f.primary_key])
        except ValidationError as exc:
            for fname, messages in exc.message_dict.items():
                errors.setdefault(f"{prefix}.{n}.{fname}", []).extend(messages)
    return errors


def refuse(errors: dict[str, list[str]]) -> None:
    if errors:
        first = next(iter(errors.values()))[0]
        raise CoreError(ErrorCode.INVALID, first, errors)


def line_key(index: int, fname: str) -> str:
    return f"lines.{index + 1}.{fname}"


def item_vat_rates(lines: Sequence[dict[str, Any]]) -> dict[int, int]:
    wanted = {ln["item"] for ln in lines if ln.get("vat_rate") is None and ln.get("item")}
    return dict(Item.objects.filter(pk__in=wanted).values_list("pk", "vat_rate")) if wanted else {}


def page_query(name: str, **fields: Any) -> type[Schema]:
    """A list's query parameters: the given filters plus limit / offset."""
    return create_model(name, __base__=Schema, **fields,  # type: ignore[call-overload]
                        limit=(int, Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)), offset=(int, Field(0, ge=0)))


def in_memory_page(rows: Sequence[Any], limit: int, offset: int, to_out: Callable[[Any], dict[str, Any]]
                   ) -> dict[str, Any]:
    return {"count": len(rows), "limit": limit, "offset": offset,
            "results": [to_out(r) for r in rows[offset:offset + limit]]}


DOCUMENT_OUT = ("id", "number", "date", "posted", "deletion_mark", "version", "comment", "author", "created_at",
                "updated_at")
VERSION = (int, Field(..., description="The version you read; a stale one is refused (409)."))
POST_FLAG = (bool, Field(False, description="Post in the same transaction; a refusal creates nothing."))


def _document_date(value: dt.datetime) -> dt.datetime:
    if not 1900 <= value.year <= 2999:
        raise PydanticCustomError("date_range", _("A document date lies between the years 1900 and 2999."))
    return value


DocumentDate = Annotated[dt.datetime, AfterValidator(_document_date)]
DATE_IN = (DocumentDate | None, Field(None, description=DATE_HELP))


# ================================================================ payment schedules
STAGE_FIELDS = ("kind", "percent", "days")
STAGE_DAYS = (int, Field(0, ge=0, le=3650, description="Advance and prepayment: days after the order date; "
                                                       "credit: days after shipment."))
ScheduleStageIn = create_model(
    "PaymentScheduleStageIn", __base__=input_schema(PaymentScheduleStage, STAGE_FIELDS, "PaymentScheduleStageFields"),
    days=STAGE_DAYS)
ScheduleStageOut = output_schema(PaymentScheduleStage, STAGE_FIELDS, "PaymentScheduleStageOut")
_schedule_stages = (list[ScheduleStageIn], Field(..., description="Stages adding up to 100 %."))  # type: ignore[valid-type]
ScheduleIn = input_schema(PaymentSchedule, ("name",), "PaymentScheduleIn", extra={"stages": _schedule_stages})
SchedulePut = input_schema(PaymentSchedule, ("name",), "PaymentSchedulePut",
                           extra={"stages": _schedule_stages, "version": VERSION})
ScheduleOut = output_schema(PaymentSchedule, ("id", "name", "deletion_mark", "version"), "PaymentScheduleOut",
                            extra={"stages": (list[ScheduleStageOut], ...)})  # type: ignore[valid-type]
SchedulePage = page_schema(ScheduleOut, "PaymentSchedulePage")
ScheduleQuery = page_query("PaymentScheduleQuery", q=(str | None, Field(None, description="Search in the name")),
                           deletion_mark=(bool | None, Field(None)))


def stage_objects(model: type[Any], rows: Sequence[dict[str, Any]], field: str = "stages") -> list[Any]:
    """Stage instances from request rows; values the column cannot hold (3 decimal places) are field errors."""
    stages = [model(**row) for row in rows]
    refuse(column_errors(stages, field))
    return stages


def schedule_out(schedule: PaymentSchedule) -> dict[str, Any]:
    return {**values_of(schedule, ("id", "name", "deletion_mark", "version")),
            "stages": [values_of(s, STAGE_FIELDS) for s in schedule.stages.all()]}


# ================================================================ trade agreements
AGREEMENT_FIELDS = ("name", "kind", "status", "partner", "organization", "price_type", "discount_percent",
                    "max_manual_discount", "payment_schedule", "warehouse", "delivery_days", "min_order_amount",
                    "valid_from", "valid_to")
_partners_in = (list[Id], Field(default_factory=list,  # type: ignore[valid-type]
                                description="A typical agreement's clients (empty: every client)."))
AgreementIn = input_schema(TradeAgreement, AGREEMENT_FIELDS, "TradeAgreementIn", extra={"partners": _partners_in})
AgreementPut = input_schema(TradeAgreement, AGREEMENT_FIELDS, "TradeAgreementPut",
                            extra={"partners": _partners_in, "version": VERSION})
AgreementOut = output_schema(TradeAgreement, ("id", *AGREEMENT_FIELDS, "deletion_mark", "version"),
                             "TradeAgreementOut", extra={"partners": (list[int], ...)})
AgreementPage = page_schema(AgreementOut, "TradeAgreementPage")
AgreementQuery = page_query(
    "TradeAgreementQuery", q=(str | None, Field(None, description="Search in the name")),
    organization=(Id | None, Field(None)),
    client=(Id | None, Field(None, description="Agreements this client may order under: its individual ones "
                                                 "and the typical ones for it or for every client")),
    status=(Literal["draft", "active", "closed"] | None, Field(None)),
    kind=(Literal["typical", "individual"] | None, Field(None)),
    deletion_mark=(bool | None, Field(None)),
)


def agreement_out(agreement: TradeAgreement) -> dict[str, Any]:
    return {**values_of(agreement, ("id", *AGREEMENT_FIELDS, "deletion_mark", "version")),
            "partners": sorted(p.pk for p in agreement.partners.all())}


# ================================================================ sales orders
ORDER_HEADER = ("organization", "partner", "counterparty", "agreement", "warehouse", "shipment_date",
                "delivery_address", "contact", "client_po_number", "client_po_date", "prices_include_vat", "comment")
ORDER_READ_ONLY = ("status", "approval", "agreed_at", "manager", "quote", "amount", "vat_amount", "advance_amount",
                   "prepayment_amount")
ORDER_LINE_IN = ("code", "item", "quantity", "price", "discount_percent", "vat_rate", "warehouse", "shipment_date",
                 "securing", "cancelled", "cancel_reason")
ORDER_LINE_OUT = ("line_no", *ORDER_LINE_IN[:5], "amount", "vat_rate", "vat_amount", *ORDER_LINE_IN[6:])
ORDER_STAGE_OUT = ("kind", "percent", "amount", "days", "due_date")

_order_line = input_schema(SalesOrderLine, ORDER_LINE_IN, "SalesOrderLineFields")
OrderLineIn = create_model(
    "SalesOrderLineIn", __base__=_order_line,
    code=(int, Field(0, ge=0, le=2**31 - 1, description="The line's code from a read (keeps its identity across "
                                                        "edits; shipments refer to it); 0 or absent: a new line.")),
    price=(Decimal | None, Field(None, description="Absent: the agreement's price (and its discount).")),
    vat_rate=(_order_line.model_fields["vat_rate"].annotation | None, Field(None, description="Absent: the item's.")),
)
OrderStageIn = create_model(
    "SalesOrderStageIn", __base__=input_schema(OrderPaymentStage, STAGE_FIELDS, "SalesOrderStageFields"),
    days=STAGE_DAYS)
_order_header = input_schema(SalesOrder, ORDER_HEADER, "SalesOrderHeaderFields")
_order_common: dict[str, Any] = {
    "date": DATE_IN,
    "lines": (list[OrderLineIn], Field(..., min_length=1)),  # type: ignore[valid-type]
    "stages": (list[OrderStageIn] | None, Field(  # type: ignore[valid-type]
        None, description="The payment schedule; absent: the agreement's (a new order) or the order's own (a change). "
                          "Amounts and due dates are computed.")),
}
OrderIn = create_model(
    "SalesOrderIn", __base__=_order_header, **_order_common, post=POST_FLAG,
    status=(Literal["not_agreed", "to_secure", "to_ship"], Field(
        "not_agreed", description="to_secure agrees the new order and to_ship releases it as it is created (it is "
                                  "posted): the same rules as the status operation — an order departing from its "
                                  "agreement goes to approval, releasing waits for the prepayment")))
OrderPut = create_model("SalesOrderPut", __base__=_order_header, **_order_common, version=VERSION)


class OrderStateOut(Schema):
    code: str = Field(..., description="Computed state (reference §2.3); not_posted for an unposted order")
    label: str
    paid_amount: Decimal
    paid_percent: Decimal
    shipped_amount: Decimal
    shipped_percent: Decimal
    debt: Decimal
    expected_by: dt.date | None = Field(..., description="When the awaited event is due (payment, shipment)")
    overdue: bool
    issue_difference: bool = Field(..., description="An order-based warehouse issued other quantities than sold")


class DeviationOut(Schema):
    kind: str = Field(..., description="price | discount | schedule | warehouse | minimum")
    area: str
    line: int | None
    text: str
    requested_status: str | None = None


class ApprovalOut(Schema):
    id: int
    order: int
    decision: str
    requested_by: int | None
    requested_at: dt.datetime
    deviations: list[DeviationOut]
    decided_by: int | None
    decided_at: dt.datetime | None
    comment: str


class InboxItemOut(ApprovalOut):
    order_title: str
    order_number: str
    partner: int
    amount: Decimal


OrderLineOut = output_schema(SalesOrderLine, ORDER_LINE_OUT, "SalesOrderLineOut", extra={
    "shipped": (Decimal, Field(..., description="Quantity shipped by posted shipments"))})
OrderStageOut = output_schema(OrderPaymentStage, ORDER_STAGE_OUT, "SalesOrderStageOut")
ORDER_OUT = (*DOCUMENT_OUT, *ORDER_HEADER[:-1], *ORDER_READ_ONLY)
OrderSummary = output_schema(SalesOrder, ORDER_OUT, "SalesOrderSummary", extra={"state": (OrderStateOut, ...)})
OrderOut = output_schema(SalesOrder, ORDER_OUT, "SalesOrderOut", extra={
    "state": (OrderStateOut, ...),
    "lines": (list[OrderLineOut], ...),  # type: ignore[valid-type]
    "stages": (list[OrderStageOut], ...),  # type: ignore[valid-type]
    "deviations": (list[DeviationOut], Field(..., description="What departs from the agreement now")),
    "approvals": (list[ApprovalOut], Field(..., description="Approval requests, newest first")),
})
OrderPage = page_schema(OrderSummary, "SalesOrderPage")
_state_codes = tuple(c or "not_posted" for c in OrderStateCode.values)
OrderQuery = page_query(
    "SalesOrderQuery",
    q=(str | None, Field(None, description="Search in the number, the client's order No. and the comment")),
    organization=(Id | None, Field(None)),
    client=(Id | None, Field(None, description="The client (partner)")),
    status=(Literal[tuple(OrderStatus.values)] | None, Field(None)),  # type: ignore[misc]
    state=(Literal[_state_codes] | None, Field(None)),  # type: ignore[misc]
    overdue=(bool | None, Field(None)),
    posted=(bool | None, Field(None)),
    date_from=(dt.date | None, Field(None, description="From this day (inclusive)")),
    date_to=(dt.date | None, Field(None, description="To this day (inclusive)")),
)


class OrderStatusIn(InputSchema):
    status: Literal["not_agreed", "to_secure", "to_ship", "closed"] = Field(
        ..., description="to_secure agrees the order (or sends it to approval when it departs from its agreement); "
                         "to_ship releases it; not_agreed takes it back; closed closes it")
    reason: str = Field("", max_length=200, description="Closing: why the lines not shipped are cancelled")
    version: int | None = Field(None, description="The version you read; a stale one is refused (409)")


class CancelLinesIn(InputSchema):
    codes: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(..., min_length=1, description="Line codes")
    reason: str = Field(..., min_length=1, max_length=200)
    version: int | None = Field(None, description="The version you read; a stale one is refused (409)")


class DecisionIn(InputSchema):
    approve: bool
    comment: str = Field("", max_length=2000, description="Required when rejecting: the author reads it")


def state_out(order: SalesOrder) -> dict[str, Any]:
    try:
        state: OrderState | None = order.state  # type: ignore[attr-defined]
    except OrderState.DoesNotExist:
        state = None
    if state is None:
        zero = Decimal("0.00")
        return {"code": "not_posted", "label": str(OrderStateCode.NOT_POSTED.label), "paid_amount": zero,
                "paid_percent": zero, "shipped_amount": zero, "shipped_percent": zero, "debt": zero,
                "expected_by": None, "overdue": False, "issue_difference": False}
    return {"code": state.state or "not_posted", "label": str(OrderStateCode(state.state).label),
            "paid_amount": state.paid_amount, "paid_percent": state.paid_percent,
            "shipped_amount": state.shipped_amount, "shipped_percent": state.shipped_percent, "debt": state.debt,
            "expected_by": state.event_date, "overdue": state.overdue, "issue_difference": state.issue_difference}


def approval_out(approval: OrderApproval) -> dict[str, Any]:
    return {"id": approval.pk, "order": approval.order_id, "decision": approval.decision,
            "requested_by": approval.requested_by_id, "requested_at": approval.requested_at,
            "deviations": [{"kind": d.get("kind", ""), "area": d.get("area", ""), "line": d.get("line"),
                            "text": d.get("text", ""), "requested_status": d.get("requested_status")}
                           for d in approval.deviations or []],
            "decided_by": approval.decided_by_id, "decided_at": approval.decided_at, "comment": approval.comment}


def order_summary(order: SalesOrder) -> dict[str, Any]:
    return {**values_of(order, ORDER_OUT), "state": state_out(order)}


def orders_queryset() -> QuerySet:
    """The orders the API shows. Row rules (which organizations and clients a role sees) go here when
    `torg.core.permissions` gets them."""
    return SalesOrder.objects.select_related("state")


def order_detail(pk: int) -> dict[str, Any]:
    order = (orders_queryset().select_related("agreement")
             .prefetch_related(Prefetch("lines", queryset=SalesOrderLine.objects.order_by("line_no", "id")),
                               "stages", "approvals").filter(pk=pk).first())
    if order is None:
        raise NotFound(_("sales order"), pk)
    lines = list(order.lines.all())
    stages = list(order.stages.all())
    shipped = services.shipped_quantities(order.pk)
    deviations = services.agreement_deviations(order, lines, stages) if order.agreement_id else []
    return {
        **order_summary(order),
        "lines": [{**values_of(ln, ORDER_LINE_OUT), "shipped": round_quantity(shipped.get(ln.code, 0))}
                  for ln in lines],
        "stages": [values_of(s, ORDER_STAGE_OUT) for s in stages],
        "deviations": [d.as_dict() for d in deviations],
        "approvals": [approval_out(a) for a in order.approvals.all()],
    }


def load_order(pk: int) -> SalesOrder:
    order = orders_queryset().filter(pk=pk).first()
    if order is None:
        raise NotFound(_("sales order"), pk)
    return order


def build_order(order: SalesOrder, data: dict[str, Any]) -> tuple[list[SalesOrderLine], list[OrderPaymentStage] | None]:
    """Put the request into an (unsaved) order, its lines and stages; refuse ids that point nowhere."""
    header = {k: v for k, v in data.items() if k in ORDER_HEADER}
    lines: list[dict[str, Any]] = data["lines"]
    errors = check_references(SalesOrder, [header])
    errors.update(check_references(SalesOrderLine, lines, line_key))
    refuse(errors)
    assign(order, header)
    if data.get("date") is not None:
        order.date = aware(data["date"])  # type: ignore[assignment]
    rates = item_vat_rates(lines)
    result = []
    for row in lines:
        if row.get("vat_rate") is None:
            row = {**row, "vat_rate": rates.get(row["item"])}
        line = SalesOrderLine()
        assign(line, row)
        result.append(line)
    refuse(column_errors(result))
    stages = data.get("stages")
    return result, (stage_objects(OrderPaymentStage, stages) if stages is not None else None)


# ================================================================ shipping backlog
class BacklogRowOut(Schema):
    order: int
    order_title: str
    organization: int
    partner: int
    partner_name: str
    line_code: int
    item: int
    item_name: str
    warehouse: int | None
    warehouse_name: str
    quantity: Decimal
    ship_by: dt.date | None
    awaiting_prepayment: bool


BacklogPage = page_schema(BacklogRowOut, "ShippingBacklogPage")
BacklogQuery = page_query(
    "ShippingBacklogQuery", warehouse=(Id | None, Field(None)),
    until=(dt.date | None, Field(None, description="Lines to ship by this day (and lines without a date)")),
    client=(Id | None, Field(None)), order=(Id | None, Field(None)))


class PickIn(InputSchema):
    order: Id = Field(..., description="The order's id")
    line_code: Annotated[int, Field(ge=1, le=2**31 - 1)] = Field(..., description="The order line's code")
    quantity: Decimal | None = Field(None, gt=0, max_digits=17, decimal_places=3,
                                     description="Absent: all that is left to ship on the line")


class BacklogShipIn(InputSchema):
    lines: list[PickIn] = Field(..., min_length=1)
    post: bool = Field(True, description="Post the shipments (default); false: leave them as drafts")
    date: DocumentDate | None = Field(None, description=DATE_HELP)


def backlog_out(row: services.BacklogRow) -> dict[str, Any]:
    return {"order": row.order_id, "order_title": row.order, "organization": row.organization_id,
            "partner": row.partner_id, "partner_name": row.partner, "line_code": row.line_code, "item": row.item_id,
            "item_name": row.item, "warehouse": row.warehouse_id, "warehouse_name": row.warehouse,
            "quantity": round_quantity(row.quantity), "ship_by": row.ship_by,
            "awaiting_prepayment": row.awaiting_prepayment}


# ================================================================ shipments
SHIPMENT_HEADER = ("organization", "partner", "counterparty", "agreement", "warehouse", "delivery_address", "due_date",
                   "prices_include_vat", "comment")
SHIPMENT_LINE_IN = ("order", "order_line_code", "item", "warehouse", "quantity", "price", "discount_percent",
                    "vat_rate")
SHIPMENT_LINE_OUT = ("line_no", *SHIPMENT_LINE_IN, "amount", "vat_amount")
SHIPMENT_OUT = (*DOCUMENT_OUT, *SHIPMENT_HEADER[:-1], "manager", "amount", "vat_amount")

_shipment_line = input_schema(ShipmentLine, SHIPMENT_LINE_IN, "ShipmentLineFields")
ShipmentLineIn = create_model(
    "ShipmentLineIn", __base__=_shipment_line,
    order_line_code=(int, Field(0, ge=0, le=2**31 - 1, description="The order line's code; 0: beyond the order")),
    price=(Decimal | None, Field(None, description="Absent: the order line's price, else the agreement's")),
    discount_percent=(Decimal | None, Field(None, description="Absent: the order line's, else the agreement's")),
    vat_rate=(_shipment_line.model_fields["vat_rate"].annotation | None,
              Field(None, description="Absent: the order line's, else the item's")),
)
_shipment_header = input_schema(Shipment, SHIPMENT_HEADER, "ShipmentHeaderFields")
_shipment_common: dict[str, Any] = {"date": DATE_IN,
                                    "lines": (list[ShipmentLineIn], Field(..., min_length=1))}  # type: ignore[valid-type]
ShipmentIn = create_model("ShipmentIn", __base__=_shipment_header, **_shipment_common, post=POST_FLAG)
ShipmentPut = create_model("ShipmentPut", __base__=_shipment_header, **_shipment_common, version=VERSION)
ShipmentLineOut = output_schema(ShipmentLine, SHIPMENT_LINE_OUT, "ShipmentLineOut")
ShipmentSummary = output_schema(Shipment, SHIPMENT_OUT, "ShipmentSummary")
ShipmentOut = output_schema(Shipment, SHIPMENT_OUT, "ShipmentOut",
                            extra={"lines": (list[ShipmentLineOut], ...)})  # type: ignore[valid-type]
ShipmentPage = page_schema(ShipmentSummary, "ShipmentPage")
ShipmentQuery = page_query(
    "ShipmentQuery", q=(str | None, Field(None, description="Search in the number and comment")),
    organization=(Id | None, Field(None)), client=(Id | None, Field(None)), warehouse=(Id | None, Field(None)),
    order=(Id | None, Field(None, description="Shipments with lines of this order")),
    posted=(bool | None, Field(None)),
    date_from=(dt.date | None, Field(None, description="From this day (inclusive)")),
    date_to=(dt.date | None, Field(None, description="To this day (inclusive)")),
)


class ShipmentsOut(Schema):
    shipments: list[ShipmentOut]  # type: ignore[valid-type]


def shipment_detail(shipment: Shipment) -> dict[str, Any]:
    return {**values_of(shipment, SHIPMENT_OUT),
            "lines": [values_of(ln, SHIPMENT_LINE_OUT) for ln in shipment.lines.all()]}  # type: ignore[attr-defined]


def shipments_queryset() -> QuerySet:
    """The shipments the API shows (row rules go here when they exist)."""
    return Shipment.objects.all()


def shipment_details(ids: Sequence[int]) -> list[dict[str, Any]]:
    found = {s.pk: s for s in shipments_queryset().filter(pk__in=list(ids)).prefetch_related(
        Prefetch("lines", queryset=ShipmentLine.objects.order_by("line_no", "id")))}
    return [shipment_detail(found[pk]) for pk in ids if pk in found]


def load_shipment(pk: int) -> Shipment:
    shipment = shipments_queryset().filter(pk=pk).first()
    if shipment is None:
        raise NotFound(_("shipment"), pk)
    return shipment


def build_shipment(shipment: Shipment, data: dict[str, Any]) -> list[ShipmentLine]:
    """Put the request into an (unsaved) shipment and its lines. A line of an order takes the order line's price,
    discount and VAT rate unless given; a line without an order, the agreement's price; a line left without any
    price is refused rather than sold for nothing."""
    header = {k: v for k, v in data.items() if k in SHIPMENT_HEADER}
    lines: list[dict[str, Any]] = data["lines"]
    errors = check_references(Shipment, [header])
    errors.update(check_references(ShipmentLine, lines, line_key))
    refuse(errors)
    assign(shipment, header)
    if data.get("date") is not None:
        shipment.date = aware(data["date"])  # type: ignore[assignment]
    keys = {(ln["order"], ln["order_line_code"]) for ln in lines if ln.get("order") and ln.get("order_line_code")}
    ordered = {(ln.document_id, ln.code): ln for ln in SalesOrderLine.objects.filter(
        document_id__in={o for o, _c in keys})} if keys else {}
    rates = item_vat_rates(lines)
    result: list[ShipmentLine] = []
    unpriced: list[int] = []
    for n, row in enumerate(lines, start=1):
        source = ordered.get((row.get("order"), row.get("order_line_code")))
        row = dict(row)
        for fname in ("price", "discount_percent", "vat_rate"):
            if row.get(fname) is None and source is not None:
                row[fname] = getattr(source, fname)
        if row.get("vat_rate") is None:
            row["vat_rate"] = rates.get(row["item"])
        line = ShipmentLine()
        assign(line, row)
        if row.get("price") is None:
            unpriced.append(n)
        result.append(line)
    refuse(column_errors(result))
    if unpriced:
        services.fill_line_prices(shipment, [result[n - 1] for n in unpriced])
        missing = [n for n in unpriced if not result[n - 1].price]
        refuse({f"lines.{n}.price": [_("Line %(n)s: give the price: neither an order line nor the agreement has "
                                       "one for this item.") % {"n": n}] for n in missing})
    return result


# ================================================================ the router
def build_router() -> Router:
    router = Router()
    view = secured(Cap.SALES_VIEW)
    agreements_edit = secured(Cap.SALES_VIEW, Cap.SALES_AGREEMENTS)
    orders_edit = secured(Cap.SALES_VIEW, Cap.SALES_EDIT)
    approve = secured(Cap.SALES_VIEW, Cap.SALES_APPROVE)
    ship = secured(Cap.SALES_VIEW, Cap.SALES_SHIP)

    # ------------------------------------------------------------ payment schedules
    tags = ["sales/payment-schedules"]

    def load_schedule(pk: int) -> PaymentSchedule:
        schedule = PaymentSchedule.objects.prefetch_related("stages").filter(pk=pk).first()
        if schedule is None:
            raise NotFound(_("payment schedule"), pk)
        return schedule

    def save_schedule(request: HttpRequest, schedule: PaymentSchedule, data: dict[str, Any],
                      version: int | None) -> dict[str, Any]:
        assign(schedule, {"name": data["name"]})
        stages = stage_objects(PaymentScheduleStage, data["stages"])
        services.save_payment_schedule(schedule, stages, user=request.auth,  # type: ignore[attr-defined]
                                       expected_version=version)
        return schedule_out(load_schedule(schedule.pk))

    @router.get("/sales/payment-schedules", response={200: SchedulePage, **ERROR_RESPONSES}, tags=tags,
                operation_id="payment_schedules_list", summary="List payment schedules", **view)
    def list_schedules(request: HttpRequest, params: Query[ScheduleQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = PaymentSchedule.objects.prefetch_related("stages").order_by("name", "id")
        if p.q:
            qs = qs.filter(name__icontains=p.q)
        if p.deletion_mark is not None:
            qs = qs.filter(deletion_mark=p.deletion_mark)
        return paginate(qs, p.limit, p.offset, schedule_out)

    @router.post("/sales/payment-schedules", response={201: ScheduleOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="payment_schedules_create", summary="Create a payment schedule", **agreements_edit)
    def create_schedule(request: HttpRequest, payload: ScheduleIn) -> Status:  # type: ignore[valid-type]
        return Status(201, save_schedule(request, PaymentSchedule(), payload.model_dump(), None))  # type: ignore[attr-defined]

    @router.get("/sales/payment-schedules/{int:pk}", response={200: ScheduleOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="payment_schedules_get", summary="Get a payment schedule", **view)
    def get_schedule(request: HttpRequest, pk: int) -> dict[str, Any]:
        return schedule_out(load_schedule(pk))

    @router.put("/sales/payment-schedules/{int:pk}", response={200: ScheduleOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="payment_schedules_replace", summary="Replace a payment schedule and its stages",
                **agreements_edit)
    def replace_schedule(request: HttpRequest, pk: int, payload: SchedulePut) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        return save_schedule(request, load_schedule(pk), data, data["version"])

    # ------------------------------------------------------------ trade agreements
    tags = ["sales/agreements"]

    def load_agreement(pk: int) -> TradeAgreement:
        agreement = TradeAgreement.objects.prefetch_related("partners").filter(pk=pk).first()
        if agreement is None:
            raise NotFound(_("trade agreement"), pk)
        return agreement

    def save_agreement(request: HttpRequest, agreement: TradeAgreement, data: dict[str, Any],
                       version: int | None) -> dict[str, Any]:
        header = {k: v for k, v in data.items() if k in AGREEMENT_FIELDS}
        errors = check_references(TradeAgreement, [header])
        partners = data.get("partners") or []
        found = set(Partner.objects.filter(pk__in=partners).values_list("pk", flat=True))
        unknown = [p for p in partners if p not in found]
        if unknown:
            errors["partners"] = [_("Partners %(ids)s do not exist.") % {"ids": ", ".join(map(str, unknown))}]
        refuse(errors)
        assign(agreement, header)
        services.save_agreement(agreement, partners=partners if agreement.kind == AgreementKind.TYPICAL else [],
                                user=request.auth, expected_version=version)  # type: ignore[attr-defined]
        return agreement_out(load_agreement(agreement.pk))

    @router.get("/sales/agreements", response={200: AgreementPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="agreements_list", summary="List trade agreements", **view)
    def list_agreements(request: HttpRequest, params: Query[AgreementQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = TradeAgreement.objects.prefetch_related("partners").order_by("name", "id")
        if p.q:
            qs = qs.filter(name__icontains=p.q)
        for fname in ("organization", "status", "kind", "deletion_mark"):
            value = getattr(p, fname)
            if value is not None:
                qs = qs.filter(**{fname: value})
        if p.client is not None:
            typical = TradeAgreement.objects.filter(kind=AgreementKind.TYPICAL)
            qs = qs.filter(Q(kind=AgreementKind.INDIVIDUAL, partner_id=p.client)
                           | Q(pk__in=typical.filter(partners__isnull=True).values("pk"))
                           | Q(pk__in=typical.filter(partners=p.client).values("pk")))
        return paginate(qs, p.limit, p.offset, agreement_out)

    @router.post("/sales/agreements", response={201: AgreementOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="agreements_create", summary="Create a trade agreement", **agreements_edit)
    def create_agreement(request: HttpRequest, payload: AgreementIn) -> Status:  # type: ignore[valid-type]
        return Status(201, save_agreement(request, TradeAgreement(), payload.model_dump(), None))  # type: ignore[attr-defined]

    @router.get("/sales/agreements/{int:pk}", response={200: AgreementOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="agreements_get", summary="Get a trade agreement", **view)
    def get_agreement(request: HttpRequest, pk: int) -> dict[str, Any]:
        return agreement_out(load_agreement(pk))

    @router.put("/sales/agreements/{int:pk}", response={200: AgreementOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="agreements_replace", summary="Replace a trade agreement", **agreements_edit)
    def replace_agreement(request: HttpRequest, pk: int, payload: AgreementPut) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        return save_agreement(request, load_agreement(pk), data, data["version"])

    # ------------------------------------------------------------ sales orders
    tags = ["sales/orders"]

    @router.get("/sales/orders", response={200: OrderPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="sales_orders_list", summary="List sales orders with their computed states", **view)
    def list_orders(request: HttpRequest, params: Query[OrderQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = orders_queryset()
        if p.q:
            qs = qs.filter(Q(number__icontains=p.q) | Q(client_po_number__icontains=p.q) | Q(comment__icontains=p.q))
        if p.organization is not None:
            qs = qs.filter(organization_id=p.organization)
        if p.client is not None:
            qs = qs.filter(partner_id=p.client)
        if p.status is not None:
            qs = qs.filter(status=p.status)
        if p.state is not None:
            qs = (qs.filter(Q(state__state="") | Q(state__isnull=True)) if p.state == "not_posted"
                  else qs.filter(state__state=p.state))
        if p.overdue is not None:
            late = Q(state__event_date__lt=timezone.localdate()) & ~Q(state__state__in=["", OrderStateCode.CLOSED])
            qs = qs.filter(late) if p.overdue else qs.exclude(late)
        if p.posted is not None:
            qs = qs.filter(posted=p.posted)
        qs = day_range(qs, p.date_from, p.date_to)
        return paginate(qs.order_by("-date", "-id"), p.limit, p.offset, order_summary)

    @router.post("/sales/orders", response={201: OrderOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="sales_orders_create", summary="Create a sales order (and post it)",
                 description="Prices absent from lines come from the agreement, stages absent from its payment "
                             "schedule. A new order is \"not agreed\" unless `status` agrees (to_secure) or "
                             "releases (to_ship) it at once.",
                 **orders_edit)
    def create_order(request: HttpRequest, payload: OrderIn) -> Status:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        status = data.pop("status")
        order = SalesOrder()
        lines, stages = build_order(order, data)
        services.save_order(order, lines, stages=stages, user=request.auth, post=data["post"],  # type: ignore[attr-defined]
                            status=None if status == OrderStatus.NOT_AGREED else status)
        return Status(201, order_detail(order.pk))

    @router.get("/sales/orders/{int:pk}", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="sales_orders_get",
                summary="Get a sales order: lines, payment stages, state, approval and deviations", **view)
    def get_order(request: HttpRequest, pk: int) -> dict[str, Any]:
        return order_detail(pk)

    @router.put("/sales/orders/{int:pk}", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="sales_orders_replace", summary="Replace the header, lines and stages of a sales order",
                description="Lines keep their identity by `code`. A posted order is re-posted; an agreed order that "
                            "now departs from its agreement goes back to approval.", **orders_edit)
    def replace_order(request: HttpRequest, pk: int, payload: OrderPut) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        order = load_order(pk)
        lines, stages = build_order(order, data)
        services.save_order(order, lines, stages=stages, user=request.auth,  # type: ignore[attr-defined]
                            expected_version=data["version"])
        return order_detail(pk)

    @router.post("/sales/orders/{int:pk}/post", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="sales_orders_post", summary="Post a sales order", **orders_edit)
    def post_order(request: HttpRequest, pk: int) -> dict[str, Any]:
        order = load_order(pk)
        lines = list(order.lines.order_by("line_no"))
        services.save_order(order, lines, stages=list(order.stages.all()), user=request.auth,  # type: ignore[attr-defined]
                            expected_version=order.version, post=True)
        return order_detail(pk)

    @router.post("/sales/orders/{int:pk}/status", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="sales_orders_status", summary="Change a sales order's status",
                 description="Answers the order as it is now: an order that departs from its agreement stays "
                             "\"not agreed\" with approval \"pending\" (see `deviations` and `approvals`) unless the "
                             "user may deviate. Releasing before the prepayment is refused (409 payment_terms).",
                 **orders_edit)
    def change_status(request: HttpRequest, pk: int, payload: OrderStatusIn) -> dict[str, Any]:
        order = load_order(pk)
        _check_version(order, payload.version)
        if payload.status == OrderStatus.CLOSED:
            services.close_order(order, user=request.auth, reason=payload.reason)  # type: ignore[attr-defined]
        else:
            services.set_order_status(order, payload.status, user=request.auth)  # type: ignore[attr-defined]
        return order_detail(pk)

    @router.post("/sales/orders/{int:pk}/cancel-lines", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="sales_orders_cancel_lines", summary="Cancel order lines (by code) with a reason",
                 description="A partly shipped line keeps its shipped part; the rest is cancelled as a new line.",
                 **orders_edit)
    def cancel_lines(request: HttpRequest, pk: int, payload: CancelLinesIn) -> dict[str, Any]:
        order = load_order(pk)
        _check_version(order, payload.version)
        if not payload.reason.strip():
            refuse({"reason": [_("Say why the lines are cancelled.")]})
        codes = set(order.lines.values_list("code", flat=True))
        unknown = [c for c in payload.codes if c not in codes]
        if unknown:
            refuse({"codes": [_("The order has no lines with codes %(codes)s.")
                              % {"codes": ", ".join(map(str, unknown))}]})
        services.cancel_order_lines(order, payload.codes, payload.reason, user=request.auth)  # type: ignore[attr-defined]
        return order_detail(pk)

    # ------------------------------------------------------------ approvals
    tags = ["sales/approvals"]

    @router.get("/sales/approvals", response={200: page_schema(InboxItemOut, "ApprovalInboxPage"), **ERROR_RESPONSES},
                tags=tags, operation_id="approvals_list", summary="Orders awaiting approval, oldest request first",
                **approve)
    def list_approvals(request: HttpRequest, params: Query[page_query("ApprovalQuery")]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        inbox = services.approval_inbox(request.auth)  # type: ignore[attr-defined]

        def out(approval: OrderApproval) -> dict[str, Any]:
            order = approval.order
            return {**approval_out(approval), "order_title": str(order), "order_number": order.number,
                    "partner": order.partner_id, "amount": order.amount}

        return in_memory_page(inbox, p.limit, p.offset, out)

    @router.post("/sales/approvals/{int:pk}/decision", response={200: OrderOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="approvals_decide", summary="Approve or reject an order's deviations",
                 description="Approving moves the order to the status its author asked for; rejecting leaves it "
                             "\"not agreed\" with the comment. Answers the order.", **approve)
    def decide(request: HttpRequest, pk: int, payload: DecisionIn) -> dict[str, Any]:
        approval = OrderApproval.objects.filter(pk=pk, order__in=orders_queryset()).first()
        if approval is None:
            raise NotFound(_("order approval"), pk)
        services.decide_approval(approval, approve=payload.approve, user=request.auth,  # type: ignore[attr-defined]
                                 comment=payload.comment)
        return order_detail(approval.order_id)

    # ------------------------------------------------------------ shipping backlog
    tags = ["sales/shipping-backlog"]

    @router.get("/sales/shipping-backlog", response={200: BacklogPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="shipping_backlog_list", summary="Order lines released to ship and not yet shipped",
                **view)
    def list_backlog(request: HttpRequest, params: Query[BacklogQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        rows = services.shipping_backlog(warehouse=p.warehouse, until=p.until, partner=p.client, order=p.order)
        return in_memory_page(rows, p.limit, p.offset, backlog_out)

    @router.post("/sales/shipping-backlog/shipments", response={201: ShipmentsOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="shipping_backlog_ship", summary="Create shipments from picked order lines",
                 description="One shipment per organization and client. Send an `Idempotency-Key` header: a repeated "
                             "key creates nothing and answers with the first request's shipments.",
                 **idempotency.declared(ship, required=False))
    def ship_backlog(request: HttpRequest, response: HttpResponse, payload: BacklogShipIn) -> Status:
        key = idempotency.read_key(request, required=False)
        data = payload.model_dump(mode="json")
        picks = [services.Pick(p.order, p.line_code, p.quantity) for p in payload.lines]

        def create() -> list[Shipment]:
            return services.create_shipments_from_backlog(picks, user=request.auth,  # type: ignore[attr-defined]
                                                          post=payload.post, date=aware(payload.date))

        shipments, replayed = idempotency.run_once(Shipment, request.auth,  # type: ignore[attr-defined]
                                                   key, ["backlog", data], create)
        idempotency.mark_replayed(response, replayed)
        return Status(201, {"shipments": shipment_details([s.pk for s in shipments])})

    # ------------------------------------------------------------ shipments
    tags = ["sales/shipments"]

    @router.get("/sales/shipments", response={200: ShipmentPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="shipments_list", summary="List shipments", **view)
    def list_shipments(request: HttpRequest, params: Query[ShipmentQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = shipments_queryset()
        if p.q:
            qs = qs.filter(Q(number__icontains=p.q) | Q(comment__icontains=p.q))
        if p.organization is not None:
            qs = qs.filter(organization_id=p.organization)
        if p.client is not None:
            qs = qs.filter(partner_id=p.client)
        if p.warehouse is not None:
            qs = qs.filter(Q(warehouse_id=p.warehouse)
                           | Q(pk__in=ShipmentLine.objects.filter(warehouse_id=p.warehouse).values("document_id")))
        if p.order is not None:
            qs = qs.filter(pk__in=ShipmentLine.objects.filter(order_id=p.order).values("document_id"))
        if p.posted is not None:
            qs = qs.filter(posted=p.posted)
        qs = day_range(qs, p.date_from, p.date_to)
        return paginate(qs.order_by("-date", "-id"), p.limit, p.offset, lambda s: values_of(s, SHIPMENT_OUT))

    @router.post("/sales/shipments", response={201: ShipmentOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="shipments_create", summary="Create a shipment, with or without orders (and post it)",
                 description="Send an `Idempotency-Key` header: a repeated key creates nothing and answers with the "
                             "first request's shipment. Shipping more than ordered is refused (409 beyond_order).",
                 **idempotency.declared(ship, required=False))
    def create_shipment(request: HttpRequest, response: HttpResponse, payload: ShipmentIn) -> Status:  # type: ignore[valid-type]
        key = idempotency.read_key(request, required=False)
        data = payload.model_dump()  # type: ignore[attr-defined]

        def create() -> list[Shipment]:
            shipment = Shipment()
            lines = build_shipment(shipment, data)
            services.save_shipment(shipment, lines, user=request.auth, post=data["post"])  # type: ignore[attr-defined]
            return [shipment]

        shipments, replayed = idempotency.run_once(Shipment, request.auth,  # type: ignore[attr-defined]
                                                   key, ["shipment", payload.model_dump(mode="json")], create)  # type: ignore[attr-defined]
        idempotency.mark_replayed(response, replayed)
        return Status(201, shipment_details([shipments[0].pk])[0])

    @router.get("/sales/shipments/{int:pk}", response={200: ShipmentOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="shipments_get", summary="Get a shipment with its lines", **view)
    def get_shipment(request: HttpRequest, pk: int) -> dict[str, Any]:
        return shipment_details([load_shipment(pk).pk])[0]

    @router.put("/sales/shipments/{int:pk}", response={200: ShipmentOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="shipments_replace", summary="Replace the header and lines of a shipment",
                description="A posted shipment is re-posted.", **ship)
    def replace_shipment(request: HttpRequest, pk: int, payload: ShipmentPut) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        shipment = load_shipment(pk)
        lines = build_shipment(shipment, data)
        services.save_shipment(shipment, lines, user=request.auth,  # type: ignore[attr-defined]
                               expected_version=data["version"])
        return shipment_details([pk])[0]

    @router.post("/sales/shipments/{int:pk}/post", response={200: ShipmentOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="shipments_post", summary="Post a shipment", **ship)
    def post_shipment(request: HttpRequest, pk: int) -> dict[str, Any]:
        services.post_shipment(load_shipment(pk), user=request.auth)  # type: ignore[attr-defined]
        return shipment_details([pk])[0]

    @router.post("/sales/shipments/{int:pk}/unpost", response={200: ShipmentOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="shipments_unpost", summary="Unpost a shipment", **ship)
    def unpost_shipment(request: HttpRequest, pk: int) -> dict[str, Any]:
        services.unpost_shipment(load_shipment(pk), user=request.auth)  # type: ignore[attr-defined]
        return shipment_details([pk])[0]

    return router


def _check_version(document: Any, version: int | None) -> None:
    if version is not None and document.version != version:
        raise CoreError(ErrorCode.CONCURRENT_EDIT, _(
            "%(doc)s was changed by someone else while you were editing it. Reload it to see their changes, "
            "then make yours again.") % {"doc": document})
