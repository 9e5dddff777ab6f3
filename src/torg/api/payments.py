"""Payment endpoints: clients' payments with their allocation, refunds of advances, a client's settlements.

    GET  /payments[/{id}]                   list / read (allocation lines, advance part)   payments.view
    POST /payments                          register (Idempotency-Key required)         + payments.edit
    PUT  /payments/{id}/allocation          re-allocate ("version")                     + payments.edit
    POST /payments/allocation-preview       what an amount would pay, oldest due first   payments.view
    GET  /refunds[/{id}]                    list / read                                    payments.view
    POST /refunds                           refund out of the advance (Idempotency-Key required)  + payments.edit
    GET  /clients/{partner_id}/settlements  debt, advance, overdue, per-object rows       payments.view

Every change goes through `torg.payments.services`. No `from __future__ import annotations`: ninja reads
the handlers' annotations.
"""
import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from pydantic import create_model

from torg.api import idempotency
from torg.api.auth import secured
from torg.api.crud import paginate
from torg.api.errors import ERROR_RESPONSES, NotFound
from torg.api.sales import (
    DATE_IN,
    DOCUMENT_OUT,
    VERSION,
    Id,
    aware,
    check_references,
    column_errors,
    day_range,
    line_key,
    page_query,
    refuse,
)
from torg.api.schemas import InputSchema, assign, input_schema, output_schema, page_schema, values_of
from torg.catalogs.models import Organization, Partner
from torg.core.money import round_money
from torg.core.permissions import Cap
from torg.payments import services
from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod, Refund
from torg.sales.settlements import receivables

ZERO = Decimal(0)

# ================================================================ payments
PAYMENT_HEADER = ("organization", "partner", "counterparty", "method", "cash_desk", "bank_account", "amount",
                  "purpose", "comment")
PAYMENT_OUT = (*DOCUMENT_OUT, *PAYMENT_HEADER[:-1])
ALLOCATION_IN = ("order", "shipment", "amount")
ALLOCATION_OUT = ("line_no", *ALLOCATION_IN)

AllocationIn = input_schema(PaymentAllocation, ALLOCATION_IN, "PaymentAllocationIn")
_payment_header = input_schema(IncomingPayment, PAYMENT_HEADER, "IncomingPaymentHeaderFields", required=("amount",))
PaymentIn = create_model(
    "IncomingPaymentIn", __base__=_payment_header, date=DATE_IN,
    lines=(list[AllocationIn] | None, Field(  # type: ignore[valid-type]
        None, description="Allocation to the client's orders and shipments (each line one order or one shipment). "
                          "Absent: allocated oldest due first; []: all of it kept as an advance. What is not "
                          "allocated is the client's advance.")))
AllocationPut = create_model("PaymentAllocationPut", __base__=InputSchema,
                             lines=(list[AllocationIn], Field(..., min_length=0)),  # type: ignore[valid-type]
                             version=VERSION)
AllocationOut = output_schema(PaymentAllocation, ALLOCATION_OUT, "PaymentAllocationOut")
_money_parts = {
    "allocated": (Decimal, Field(..., description="Allocated to orders and shipments")),
    "advance": (Decimal, Field(..., description="The rest, kept as the client's advance")),
}
PaymentSummary = output_schema(IncomingPayment, PAYMENT_OUT, "IncomingPaymentSummary", extra=_money_parts)
PaymentOut = output_schema(IncomingPayment, PAYMENT_OUT, "IncomingPaymentOut",
                           extra={**_money_parts, "lines": (list[AllocationOut], ...)})  # type: ignore[valid-type]
PaymentPage = page_schema(PaymentSummary, "IncomingPaymentPage")
_methods = Literal[tuple(PaymentMethod.values)]  # type: ignore[misc]
PaymentQuery = page_query(
    "IncomingPaymentQuery", q=(str | None, Field(None, description="Search in the number, purpose and comment")),
    organization=(Id | None, Field(None)), client=(Id | None, Field(None)),
    order=(Id | None, Field(None, description="Payments allocated to this order")),
    shipment=(Id | None, Field(None, description="Payments allocated to this shipment")),
    method=(_methods | None, Field(None)), posted=(bool | None, Field(None)),
    date_from=(dt.date | None, Field(None, description="From this day (inclusive)")),
    date_to=(dt.date | None, Field(None, description="To this day (inclusive)")),
)


class PreviewIn(InputSchema):
    organization: Id
    partner: Id
    amount: Decimal = Field(..., gt=0, max_digits=17, decimal_places=2)
    orders: list[Id] | None = Field(None, description="Only these orders (absent: every open order and shipment)")


class OpenItemOut(Schema):
    order: int | None
    shipment: int | None
    title: str
    due: dt.date | None
    remaining: Decimal


class PreviewLineOut(Schema):
    order: int | None
    shipment: int | None
    amount: Decimal


class PreviewOut(Schema):
    lines: list[PreviewLineOut]
    advance: Decimal = Field(..., description="What would be kept as an advance")
    open_items: list[OpenItemOut] = Field(..., description="What the client has to pay, oldest due first")


def payment_summary(payment: IncomingPayment) -> dict[str, Any]:
    allocated = round_money(payment.allocated)
    return {**values_of(payment, PAYMENT_OUT), "allocated": allocated,
            "advance": round_money(payment.amount - allocated)}


def payment_detail(payment: IncomingPayment) -> dict[str, Any]:
    return {**payment_summary(payment),
            "lines": [values_of(ln, ALLOCATION_OUT) for ln in payment.lines.all()]}  # type: ignore[attr-defined]


def payments_queryset() -> QuerySet:
    """The payments the API shows (row rules go here when `torg.core.permissions` has them)."""
    return IncomingPayment.objects.prefetch_related(
        Prefetch("lines", queryset=PaymentAllocation.objects.order_by("line_no", "id")))


def load_payment(pk: int) -> IncomingPayment:
    payment = payments_queryset().filter(pk=pk).first()
    if payment is None:
        raise NotFound(_("incoming payment"), pk)
    return payment


def allocation_lines(rows: list[dict[str, Any]]) -> list[PaymentAllocation]:
    refuse(check_references(PaymentAllocation, rows, line_key))
    lines = []
    for row in rows:
        line = PaymentAllocation()
        assign(line, row)
        lines.append(line)
    refuse(column_errors(lines))
    return lines


# ================================================================ refunds
REFUND_HEADER = ("organization", "partner", "method", "cash_desk", "bank_account", "amount", "comment")
REFUND_OUT = (*DOCUMENT_OUT, *REFUND_HEADER[:-1])
_refund_header = input_schema(Refund, REFUND_HEADER, "RefundHeaderFields", required=("amount",))
RefundIn = create_model("RefundIn", __base__=_refund_header, date=DATE_IN)
RefundOut = output_schema(Refund, REFUND_OUT, "RefundOut")
RefundPage = page_schema(RefundOut, "RefundPage")
RefundQuery = page_query(
    "RefundQuery", q=(str | None, Field(None, description="Search in the number and comment")),
    organization=(Id | None, Field(None)), client=(Id | None, Field(None)), method=(_methods | None, Field(None)),
    posted=(bool | None, Field(None)),
    date_from=(dt.date | None, Field(None, description="From this day (inclusive)")),
    date_to=(dt.date | None, Field(None, description="To this day (inclusive)")),
)


# ================================================================ settlements
class SettlementRowOut(Schema):
    kind: Literal["order", "shipment", "advance"] = Field(
        ..., description="An order, a shipment made without an order, or money not allocated to anything")
    organization: int
    order: int | None
    shipment: int | None
    title: str
    shipped: Decimal
    paid: Decimal
    debt: Decimal = Field(..., description="Shipped and not paid")
    prepaid: Decimal = Field(..., description="Paid and not shipped (on an order), or the advance")
    due_date: dt.date | None
    days_overdue: int
    overdue: Decimal
    planned: dict[str, Decimal] = Field(..., description="Unpaid amount per payment stage kind (orders)")


class SettlementsOut(Schema):
    partner: int
    organization: int | None
    debt: Decimal = Field(..., description="What the client owes on shipped goods")
    prepaid: Decimal = Field(..., description="Paid on orders not yet shipped")
    advance: Decimal = Field(..., description="Paid and not allocated to any order or shipment")
    overdue: Decimal = Field(..., description="Debt past its due date")
    balance: Decimal = Field(..., description="debt − prepaid − advance: positive, the client owes; negative, we do")
    rows: list[SettlementRowOut]


class SettlementsQuery(Schema):
    organization: Id | None = Field(None, description="Only this organization's settlements")


def settlements_out(partner_id: int, organization: int | None) -> dict[str, Any]:
    rows, out = receivables(organization=organization, partner=partner_id), []
    debt = prepaid = advance = overdue = ZERO
    for r in rows:
        if r.order_id is None and r.shipment_id is None:
            kind, title = "advance", _("Advance (not allocated)")
            advance += r.paid
            row_prepaid = r.paid
        else:
            kind, title = ("order" if r.order_id else "shipment"), r.label
            debt += r.debt
            prepaid += r.our_debt
            overdue += r.overdue
            row_prepaid = r.our_debt
        money = round_money
        out.append({"kind": kind, "organization": r.organization_id, "order": r.order_id, "shipment": r.shipment_id,
                    "title": title, "shipped": money(r.shipped), "paid": money(r.paid), "debt": money(r.debt),
                    "prepaid": money(row_prepaid), "due_date": r.due_date, "days_overdue": r.days_overdue,
                    "overdue": money(r.overdue), "planned": {k: money(v) for k, v in r.planned.items()}})
    return {"partner": partner_id, "organization": organization, "debt": round_money(debt),
            "prepaid": round_money(prepaid), "advance": round_money(advance), "overdue": round_money(overdue),
            "balance": round_money(debt - prepaid - advance), "rows": out}


# ================================================================ the router
def _same_request(document: Any, data: dict[str, Any]) -> bool:
    """A replayed key must come with the request it was first used for (the same client, money and place)."""
    return all(getattr(document, f"{name}_id" if name in ("organization", "partner") else name) == data.get(name)
               for name in ("organization", "partner", "method", "amount"))


def build_router() -> Router:
    router = Router()
    view = secured(Cap.PAYMENTS_VIEW)
    edit = secured(Cap.PAYMENTS_VIEW, Cap.PAYMENTS_EDIT)

    # ------------------------------------------------------------ payments
    tags = ["payments"]

    @router.get("/payments", response={200: PaymentPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="payments_list", summary="List clients' payments", **view)
    def list_payments(request: HttpRequest, params: Query[PaymentQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = payments_queryset()
        if p.q:
            qs = qs.filter(Q(number__icontains=p.q) | Q(purpose__icontains=p.q) | Q(comment__icontains=p.q))
        for fname in ("organization", "method", "posted"):
            if getattr(p, fname) is not None:
                qs = qs.filter(**{fname: getattr(p, fname)})
        if p.client is not None:
            qs = qs.filter(partner_id=p.client)
        if p.order is not None:
            qs = qs.filter(pk__in=PaymentAllocation.objects.filter(order_id=p.order).values("document_id"))
        if p.shipment is not None:
            qs = qs.filter(pk__in=PaymentAllocation.objects.filter(shipment_id=p.shipment).values("document_id"))
        qs = day_range(qs, p.date_from, p.date_to)
        return paginate(qs.order_by("-date", "-id"), p.limit, p.offset, payment_summary)

    @router.post("/payments", response={201: PaymentOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="payments_create", summary="Register a client's payment",
                 description="Needs an `Idempotency-Key` header: a retry with the same key registers nothing and "
                             "answers with the first payment (header `Idempotent-Replayed: true`).",
                 **idempotency.declared(edit, required=True))
    def create_payment(request: HttpRequest, response: HttpResponse, payload: PaymentIn) -> Status:  # type: ignore[valid-type]
        key = idempotency.read_key(request, required=True)
        user = request.auth  # type: ignore[attr-defined]
        data = payload.model_dump()  # type: ignore[attr-defined]
        header = {k: v for k, v in data.items() if k in PAYMENT_HEADER}
        refuse(check_references(IncomingPayment, [header]))
        payment = IncomingPayment()
        assign(payment, header)
        if data.get("date") is not None:
            payment.date = aware(data["date"])  # type: ignore[assignment]
        lines = allocation_lines(data["lines"]) if data.get("lines") is not None else None
        result = services.register_payment(payment, lines, user=user,
                                           idempotency_key=idempotency.scoped(user, key))  # type: ignore[arg-type]
        replayed = result is not payment
        if replayed and not _same_request(result, data):
            raise idempotency.reused(key)  # type: ignore[arg-type]
        idempotency.mark_replayed(response, replayed)
        return Status(201, payment_detail(load_payment(result.pk)))

    @router.post("/payments/allocation-preview", response={200: PreviewOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="payments_allocation_preview",
                 summary="How an amount would be allocated, oldest due first, and what stays as an advance",
                 description="Writes nothing.", **view)
    def preview(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
        errors = check_references(IncomingPayment, [{"organization": payload.organization,
                                                     "partner": payload.partner}])
        refuse(errors)
        lines, rest = services.suggest_allocation(payload.organization, payload.partner, payload.amount,
                                                  orders=payload.orders)
        items = services.open_items(payload.organization, payload.partner)
        return {"lines": [{"order": ln.order_id, "shipment": ln.shipment_id, "amount": round_money(ln.amount)}
                          for ln in lines],
                "advance": round_money(rest),
                "open_items": [{"order": i.order_id, "shipment": i.shipment_id, "title": i.label, "due": i.due,
                                "remaining": round_money(i.remaining)} for i in items]}

    @router.get("/payments/{int:pk}", response={200: PaymentOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="payments_get", summary="Get a payment with its allocation", **view)
    def get_payment(request: HttpRequest, pk: int) -> dict[str, Any]:
        return payment_detail(load_payment(pk))

    @router.put("/payments/{int:pk}/allocation", response={200: PaymentOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="payments_allocate", summary="Re-allocate a payment",
                description="The lines replace the allocation; what is not allocated stays as the client's advance. "
                            "The payment is re-posted.", **edit)
    def reallocate(request: HttpRequest, pk: int, payload: AllocationPut) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        payment = load_payment(pk)
        lines = allocation_lines(data["lines"])
        services.allocate_payment(payment, lines, user=request.auth,  # type: ignore[attr-defined]
                                  expected_version=data["version"])
        return payment_detail(load_payment(pk))

    # ------------------------------------------------------------ refunds
    tags = ["refunds"]

    def load_refund(pk: int) -> Refund:
        refund = Refund.objects.filter(pk=pk).first()
        if refund is None:
            raise NotFound(_("refund"), pk)
        return refund

    @router.get("/refunds", response={200: RefundPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="refunds_list", summary="List refunds to clients", **view)
    def list_refunds(request: HttpRequest, params: Query[RefundQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = Refund.objects.all()
        if p.q:
            qs = qs.filter(Q(number__icontains=p.q) | Q(comment__icontains=p.q))
        for fname in ("organization", "method", "posted"):
            if getattr(p, fname) is not None:
                qs = qs.filter(**{fname: getattr(p, fname)})
        if p.client is not None:
            qs = qs.filter(partner_id=p.client)
        qs = day_range(qs, p.date_from, p.date_to)
        return paginate(qs.order_by("-date", "-id"), p.limit, p.offset, lambda r: values_of(r, REFUND_OUT))

    @router.post("/refunds", response={201: RefundOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="refunds_create", summary="Refund money to a client out of its advance",
                 description="Needs an `Idempotency-Key` header. Above the advance the client holds: 409 shortage.",
                 **idempotency.declared(edit, required=True))
    def create_refund(request: HttpRequest, response: HttpResponse, payload: RefundIn) -> Status:  # type: ignore[valid-type]
        key = idempotency.read_key(request, required=True)
        user = request.auth  # type: ignore[attr-defined]
        data = payload.model_dump()  # type: ignore[attr-defined]
        header = {k: v for k, v in data.items() if k in REFUND_HEADER}
        refuse(check_references(Refund, [header]))
        refund = Refund()
        assign(refund, header)
        if data.get("date") is not None:
            refund.date = aware(data["date"])  # type: ignore[assignment]
        result = services.refund(refund, user=user, idempotency_key=idempotency.scoped(user, key))  # type: ignore[arg-type]
        replayed = result is not refund
        if replayed and not _same_request(result, data):
            raise idempotency.reused(key)  # type: ignore[arg-type]
        idempotency.mark_replayed(response, replayed)
        return Status(201, values_of(load_refund(result.pk), REFUND_OUT))

    @router.get("/refunds/{int:pk}", response={200: RefundOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="refunds_get", summary="Get a refund", **view)
    def get_refund(request: HttpRequest, pk: int) -> dict[str, Any]:
        return values_of(load_refund(pk), REFUND_OUT)

    # ------------------------------------------------------------ settlements
    @router.get("/clients/{int:partner_id}/settlements", response={200: SettlementsOut, **ERROR_RESPONSES},
                tags=["settlements"], operation_id="client_settlements",
                summary="A client's settlements: debt, advance, overdue, and each order or shipment", **view)
    def client_settlements(request: HttpRequest, partner_id: int,
                           params: Query[SettlementsQuery]) -> dict[str, Any]:
        if not Partner.objects.filter(pk=partner_id).exists():
            raise NotFound(_("partner"), partner_id)
        organization = params.organization
        if organization is not None and not Organization.objects.filter(pk=organization).exists():
            refuse({"organization": [_("organization %(id)s does not exist: give the id of an existing "
                                       "organization.") % {"id": organization}]})
        return settlements_out(partner_id, organization)

    return router
