"""Fiscal endpoints: the receipts (every ФФД tag and its value, and what the device answered), the registers.

    GET  /fiscal/receipts[/{id}]          list (filter by order, payment, shipment, refund, register, status,
                                          client, operation, shift) / read                       fiscal.view
    POST /fiscal/receipts/{id}/retry      send a failed or waiting receipt again             + fiscal.operate
    POST /fiscal/receipts/{id}/cancel     stop a failed or waiting receipt ("reason")         + fiscal.operate
    GET  /fiscal/registers                the cash registers with their waiting and failed counts  fiscal.view

Every change goes through `torg.fiscal.services`. No `from __future__ import annotations`: ninja reads the
handlers' annotations.
"""
import datetime as dt
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from django.db.models import Count, Prefetch, Q, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema

from torg.api.auth import secured
from torg.api.crud import paginate
from torg.api.errors import ERROR_RESPONSES, NotFound
from torg.api.sales import Id, page_query
from torg.api.schemas import InputSchema, page_schema
from torg.core.permissions import Cap
from torg.fiscal import services
from torg.fiscal.models import OPERATION_CHOICES, CashRegister, FiscalReceipt, FiscalReceiptLine, ReceiptStatus

_statuses = Literal[tuple(ReceiptStatus.values)]  # type: ignore[misc]
_operations = Literal[tuple(value for value, _label in OPERATION_CHOICES)]  # type: ignore[misc]


class DeviceAnswerOut(Schema):
    fiscal_document_number: int | None = Field(None, description="1040")
    fiscal_sign: str = Field("", description="1077")
    fn_number: str = Field("", description="1041: the fiscal drive")
    registered_at: dt.datetime | None = Field(None, description="1012")
    shift_number: int | None = Field(None, description="1038")
    receipt_number: int | None = Field(None, description="1042: number of the receipt in the shift")
    registration_number: str = Field("", description="1037: the register's registration number")
    ofd_url: str = ""
    answer: dict[str, Any] = Field(..., description="The device's answer as received")


class ReceiptOut(Schema):
    id: int
    uuid: UUID = Field(..., description="The id the device was given (its idempotency key)")
    operation: str
    status: str = Field(..., description="queued (waiting), sent, registered, failed, cancelled")
    message: str = Field(..., description="Why it waits, the device's refusal, or who cancelled it and why")
    attempts: int
    next_attempt_at: dt.datetime | None
    cash_register: int | None
    organization: int
    partner: int | None
    payment: int | None
    shipment: int | None
    refund: int | None
    original: int | None = Field(None, description="The receipt this one returns or takes back")
    orders: list[int] = Field(..., description="Orders whose goods or money the lines settle")
    total: Decimal
    created_at: dt.datetime
    tags: dict[str, Any] = Field(..., description="The receipt as ФФД 1.2 tags: 1054, 1020, 1031, 1081, 1215, "
                                                  "1216, 1217, 1008…, and 1059 (the lines: 1030, 1023, 1079, 1043, "
                                                  "1214, 1212, 1199, 1200, 2108)")
    device: DeviceAnswerOut


ReceiptPage = page_schema(ReceiptOut, "FiscalReceiptPage")
ReceiptQuery = page_query(
    "FiscalReceiptQuery",
    order=(Id | None, Field(None, description="Receipts settling this order's goods or money")),
    payment=(Id | None, Field(None)), shipment=(Id | None, Field(None)), refund=(Id | None, Field(None)),
    cash_register=(Id | None, Field(None)), client=(Id | None, Field(None)),
    status=(_statuses | None, Field(None)), operation=(_operations | None, Field(None)),
    shift=(int | None, Field(None, ge=1, description="Shift number on the register")),
    date_from=(dt.date | None, Field(None, description="Created from this day (inclusive)")),
    date_to=(dt.date | None, Field(None, description="Created to this day (inclusive)")),
)


class CancelIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=300, description="Why the receipt is not to be printed")


class RegisterOut(Schema):
    id: int
    name: str
    organization: int
    model: str
    registration_number: str
    driver: str
    taxation: str
    ffd_version: str
    payments_address: str
    cash_desk: int | None
    is_default: bool
    waiting: int
    failed: int


def receipts_queryset() -> QuerySet:
    return FiscalReceipt.objects.prefetch_related(
        Prefetch("lines", queryset=FiscalReceiptLine.objects.order_by("line_no")))


def receipt_out(receipt: FiscalReceipt) -> dict[str, Any]:
    lines = list(receipt.lines.all())
    return {
        "id": receipt.pk, "uuid": receipt.uuid, "operation": receipt.operation, "status": receipt.status,
        "message": receipt.last_error, "attempts": receipt.attempts, "next_attempt_at": receipt.next_attempt_at,
        "cash_register": receipt.cash_register_id, "organization": receipt.organization_id,
        "partner": receipt.partner_id, "payment": receipt.payment_id, "shipment": receipt.shipment_id,
        "refund": receipt.refund_id, "original": receipt.original_id,
        "orders": sorted({ln.order_id for ln in lines if ln.order_id}), "total": receipt.total,
        "created_at": receipt.created_at, "tags": receipt.to_draft(lines).tags(),
        "device": {"fiscal_document_number": receipt.fiscal_document_number, "fiscal_sign": receipt.fiscal_sign,
                   "fn_number": receipt.fn_number, "registered_at": receipt.registered_at,
                   "shift_number": receipt.shift_number, "receipt_number": receipt.receipt_number,
                   "registration_number": receipt.registration_number, "ofd_url": receipt.ofd_url,
                   "answer": receipt.device_answer or {}},
    }


def load_receipt(pk: int) -> FiscalReceipt:
    receipt = receipts_queryset().filter(pk=pk).first()
    if receipt is None:
        raise NotFound(_("fiscal receipt"), pk)
    return receipt


def build_router() -> Router:
    router = Router()
    view = secured(Cap.FISCAL_VIEW)
    operate = secured(Cap.FISCAL_VIEW, Cap.FISCAL_OPERATE)
    tags = ["fiscal"]

    @router.get("/fiscal/receipts", response={200: ReceiptPage, **ERROR_RESPONSES}, tags=tags,
                operation_id="fiscal_receipts_list", summary="List fiscal receipts", **view)
    def list_receipts(request: HttpRequest, params: Query[ReceiptQuery]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = receipts_queryset()
        for name, field in (("payment", "payment_id"), ("shipment", "shipment_id"), ("refund", "refund_id"),
                            ("cash_register", "cash_register_id"), ("client", "partner_id"), ("status", "status"),
                            ("operation", "operation"), ("shift", "shift_number")):
            if getattr(p, name) is not None:
                qs = qs.filter(**{field: getattr(p, name)})
        if p.order is not None:
            qs = qs.filter(pk__in=FiscalReceiptLine.objects.filter(order_id=p.order).values("receipt_id"))
        if p.date_from is not None:
            qs = qs.filter(created_at__date__gte=p.date_from)
        if p.date_to is not None:
            qs = qs.filter(created_at__date__lte=p.date_to)
        return paginate(qs.order_by("-created_at", "-id"), p.limit, p.offset, receipt_out)

    @router.get("/fiscal/receipts/{receipt_id}", response={200: ReceiptOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="fiscal_receipts_read", summary="Read a fiscal receipt with its tags and device answer",
                **view)
    def read_receipt(request: HttpRequest, receipt_id: int) -> dict[str, Any]:
        return receipt_out(load_receipt(receipt_id))

    @router.post("/fiscal/receipts/{receipt_id}/retry", response={200: ReceiptOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="fiscal_receipts_retry", summary="Send a failed or waiting receipt again", **operate)
    def retry(request: HttpRequest, receipt_id: int) -> dict[str, Any]:
        services.retry_receipt(load_receipt(receipt_id), user=request.auth)  # type: ignore[attr-defined]
        return receipt_out(load_receipt(receipt_id))

    @router.post("/fiscal/receipts/{receipt_id}/cancel", response={200: ReceiptOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="fiscal_receipts_cancel", summary="Cancel a failed or waiting receipt", **operate)
    def cancel(request: HttpRequest, receipt_id: int, payload: CancelIn) -> dict[str, Any]:
        services.cancel_receipt(load_receipt(receipt_id), reason=payload.reason,
                                user=request.auth)  # type: ignore[attr-defined]
        return receipt_out(load_receipt(receipt_id))

    @router.get("/fiscal/registers", response={200: list[RegisterOut], **ERROR_RESPONSES}, tags=tags,
                operation_id="fiscal_registers_list", summary="List cash registers", **view)
    def registers(request: HttpRequest) -> list[dict[str, Any]]:
        qs = CashRegister.objects.filter(deletion_mark=False).annotate(
            waiting=Count("receipts", filter=Q(receipts__status__in=[ReceiptStatus.QUEUED, ReceiptStatus.SENT])),
            failed=Count("receipts", filter=Q(receipts__status=ReceiptStatus.FAILED))).order_by("name")
        return [{"id": r.pk, "name": r.name, "organization": r.organization_id, "model": r.model,
                 "registration_number": r.registration_number, "driver": r.driver, "taxation": r.taxation,
                 "ffd_version": r.ffd_version, "payments_address": r.payments_address, "cash_desk": r.cash_desk_id,
                 "is_default": r.is_default, "waiting": r.waiting, "failed": r.failed} for r in qs]

    return router

