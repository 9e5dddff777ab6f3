"""Payment pages: incoming payments (list, registration with the allocation shown before saving,
re-allocation), refunds out of a client's advance, and the client's money panel.

Thin: parse the forms, check the capability, call `torg.payments.services`, render. Every form that registers
money carries an idempotency key made when the form was rendered, so a form sent twice registers once.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import DecimalField, ExpressionWrapper, F, Sum, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.core.errors import CoreError
from torg.core.money import round_money
from torg.core.permissions import Cap, has_capability
from torg.payments import services
from torg.payments.forms import (
    AllocationTable,
    PaymentForm,
    RefundForm,
    build_allocation,
    client_filter,
    int_or_none,
    parse_money,
    typed_allocation,
)
from torg.payments.models import IncomingPayment, PaymentAllocation, Refund
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list

ZERO = Decimal(0)
MONEY = DecimalField(max_digits=15, decimal_places=2)
DATE = Column("date", gettext_lazy("Date"),
              value=lambda d: date_format(timezone.localtime(d.date), "SHORT_DATETIME_FORMAT"))
RECENT = 10


def _payments_queryset() -> Any:
    allocated = Coalesce(Sum("lines__amount"), Value(ZERO), output_field=MONEY)
    return (IncomingPayment.objects.select_related("organization", "partner")
            .annotate(allocated_sum=allocated,
                      advance_part=ExpressionWrapper(F("amount") - allocated, output_field=MONEY)))


PAYMENTS = ListConfig(
    model=IncomingPayment,
    title=gettext_lazy("Incoming payments"),
    columns=(
        Column("number", gettext_lazy("Number"), link=True), DATE,
        Column("organization__name", gettext_lazy("Organization")),
        Column("partner__name", gettext_lazy("Client")),
        Column("method", gettext_lazy("Method")),
        Column("amount", gettext_lazy("Amount"), align_end=True),
        Column("allocated_sum", gettext_lazy("Allocated"), align_end=True,
               value=lambda p: round_money(p.allocated_sum)),
        Column("advance_part", gettext_lazy("To the advance"), align_end=True,
               value=lambda p: round_money(p.advance_part)),
        Column("posted", gettext_lazy("Posted")),
    ),
    search_fields=("number", "purpose", "partner__name"),
    filters=(Filter("organization"), Filter("partner", gettext_lazy("Client")), Filter("method"), Filter("posted")),
    ordering=("-date",),
    row_url=lambda p: reverse("payments:payment_detail", args=[p.pk]),
    create_url_name="payments:payment_new",
    queryset=_payments_queryset,
)

REFUNDS = ListConfig(
    model=Refund,
    title=gettext_lazy("Refunds"),
    columns=(
        Column("number", gettext_lazy("Number"), link=True), DATE,
        Column("organization__name", gettext_lazy("Organization")),
        Column("partner__name", gettext_lazy("Client")),
        Column("method", gettext_lazy("Method")),
        Column("amount", gettext_lazy("Amount"), align_end=True),
        Column("posted", gettext_lazy("Posted")),
    ),
    search_fields=("number", "comment", "partner__name"),
    filters=(Filter("organization"), Filter("partner", gettext_lazy("Client")), Filter("method")),
    ordering=("-date",),
    row_url=lambda r: reverse("payments:refund_detail", args=[r.pk]),
    create_url_name="payments:refund_new",
    queryset=lambda: Refund.objects.select_related("organization", "partner"),
)


# ------------------------------------------------------------------ helpers
def _apply_error(form: forms.BaseForm, exc: CoreError) -> list[str]:
    """Put a refusal's field errors at the form's fields; return the messages that belong to no field."""
    loose: list[str] = []
    for name, msgs in (exc.fields or {}).items():
        if name in form.fields:
            for m in msgs:
                form.add_error(name, m)
        else:
            loose.extend(msgs)
    return loose


def client_context(organization_id: int | None, partner_id: int | None) -> dict[str, Any]:
    """The client's money at a glance: the advance it holds, its debt, its latest payments and refunds."""
    if not organization_id or not partner_id:
        return {"client_known": False}
    from torg.sales.services import client_debt

    scope = client_filter(organization_id, partner_id)
    payments = list(_payments_queryset().filter(scope).order_by("-date", "-pk")[:RECENT])
    refunds = list(Refund.objects.filter(scope).order_by("-date", "-pk")[:RECENT])
    return {
        "client_known": True,
        "advance_held": services.advance_held(organization_id, partner_id),
        "client_debt": max(client_debt(organization_id, partner_id), ZERO),
        "recent_payments": payments,
        "recent_refunds": refunds,
        "client_query": f"organization={organization_id}&partner={partner_id}",
    }


def _allocation_context(table: AllocationTable, *, payment: IncomingPayment | None = None) -> dict[str, Any]:
    return {"table": table, "preview_url": reverse("payments:allocation_preview"),
            "payment_pk": payment.pk if payment is not None else ""}


def _header_values(data: Any) -> tuple[int | None, int | None, Decimal | None]:
    amount = parse_money(str(data.get("amount", "") or "")) if data.get("amount") else None
    return int_or_none(data.get("organization")), int_or_none(data.get("partner")), amount


# ------------------------------------------------------------------ incoming payments
@requires(Cap.PAYMENTS_VIEW)
def payment_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, PAYMENTS, can_create=has_capability(request.user, Cap.PAYMENTS_EDIT))


@requires(Cap.PAYMENTS_VIEW, Cap.PAYMENTS_EDIT)
def payment_new(request: HttpRequest) -> HttpResponse:
    """Register a client's payment. The allocation is proposed oldest-due first and may be changed; what it
    leaves, and what a line gives above an order's remaining amount, goes to the advance — shown before saving."""
    errors: list[str] = []
    if request.method == "POST":
        form = PaymentForm(request.POST)
        action = request.POST.get("action", "register")
        organization_id, partner_id, amount = _header_values(request.POST)
        typed = None if action == "auto" else typed_allocation(request.POST)
        table = build_allocation(organization_id, partner_id, amount, typed=typed)
        if action == "register":
            valid = form.is_valid()
            errors = table.errors
            if valid and not errors:
                payment = form.save(commit=False)
                try:
                    saved = services.register_payment(payment, table.lines() if typed is not None else None,
                                                      user=request.user,
                                                      idempotency_key=form.cleaned_data["idempotency_key"])
                except CoreError as exc:
                    errors = [exc.message, *_apply_error(form, exc)]
                else:
                    if saved is not payment:
                        messages.info(request, _("This payment was already registered (the form was sent twice): "
                                                 "%(doc)s.") % {"doc": saved})
                    else:
                        messages.success(request, _("Registered: %(doc)s.") % {"doc": saved})
                    return HttpResponseRedirect(reverse("payments:payment_detail", args=[saved.pk]))
            elif not valid:
                errors = [_("Please correct the errors below."), *errors]
    else:
        initial = {k: request.GET[k] for k in ("organization", "partner", "amount") if request.GET.get(k)}
        form = PaymentForm(initial=initial)
        organization_id, partner_id, amount = _header_values(request.GET)
        table = build_allocation(organization_id, partner_id, amount)
    return render(request, "payments/payment_form.html", {
        "form": form, "errors": errors, **_allocation_context(table),
        **client_context(table_org(form), table_partner(form)),
    })


def table_org(form: forms.BaseForm) -> int | None:
    return int_or_none(form["organization"].value())


def table_partner(form: forms.BaseForm) -> int | None:
    return int_or_none(form["partner"].value())


@requires(Cap.PAYMENTS_VIEW, Cap.PAYMENTS_EDIT)
def allocation_preview(request: HttpRequest) -> HttpResponse:
    """The allocation table for the header typed so far (HTMX): proposed oldest-due first when `auto` is sent,
    else as typed; for a posted payment (`payment`) its own allocation may be moved."""
    data = request.POST if request.method == "POST" else request.GET
    organization_id, partner_id, amount = _header_values(data)
    payment = None
    payment_id = int_or_none(data.get("payment"))
    if payment_id:
        payment = get_object_or_404(IncomingPayment, pk=payment_id)
        organization_id, partner_id, amount = payment.organization_id, payment.partner_id, payment.amount
    typed = None if data.get("auto") == "1" else typed_allocation(data)
    table = build_allocation(organization_id, partner_id, amount, typed=typed, payment=payment)
    return render(request, "payments/_allocation_preview.html", {
        **_allocation_context(table, payment=payment), **client_context(organization_id, partner_id)})


@requires(Cap.PAYMENTS_VIEW, write=(Cap.PAYMENTS_EDIT,))
def payment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A payment: how it is allocated, what went to the advance, the client's money; re-allocation."""
    payment = get_object_or_404(IncomingPayment.objects.select_related("organization", "partner", "cash_desk",
                                                                       "bank_account", "author"), pk=pk)
    errors: list[str] = []
    typed = None
    if request.method == "POST" and request.POST.get("action") in ("unpost", "post"):
        action = request.POST["action"]
        try:
            if action == "unpost":
                services.unpost_payment(payment, user=request.user)
                messages.success(request, _("Unposted: %(doc)s. Its money no longer counts.") % {"doc": payment})
            else:
                services.post_payment(payment, user=request.user)
                messages.success(request, _("Posted: %(doc)s.") % {"doc": payment})
        except CoreError as exc:
            errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
            payment.refresh_from_db()
        else:
            return HttpResponseRedirect(reverse("payments:payment_detail", args=[payment.pk]))
    if request.method == "POST" and not errors and request.POST.get("action") not in ("unpost", "post"):
        typed = typed_allocation(request.POST)
        if typed is None:
            errors = [_("The allocation table was not sent: reload the page and try again.")]
        table = build_allocation(payment.organization_id, payment.partner_id, payment.amount, typed=typed,
                                 payment=payment)
        if request.POST.get("action") == "allocate" and not errors:
            errors = table.errors
            if not payment.posted:
                errors.append(_("%(doc)s is not posted: only a posted payment is re-allocated.") % {"doc": payment})
            if not errors:
                try:
                    services.allocate_payment(payment, table.lines(), user=request.user,
                                              expected_version=int_or_none(request.POST.get("version")))
                except CoreError as exc:
                    errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
                    payment.refresh_from_db()
                else:
                    messages.success(request, _("Re-allocated: %(doc)s.") % {"doc": payment})
                    return HttpResponseRedirect(reverse("payments:payment_detail", args=[payment.pk]))
    else:
        table = build_allocation(payment.organization_id, payment.partner_id, payment.amount, payment=payment)
    lines = list(PaymentAllocation.objects.filter(document_id=payment.pk).select_related("order", "shipment")
                 .order_by("line_no"))
    allocated = sum((ln.amount for ln in lines), ZERO)
    return render(request, "payments/payment_detail.html", {
        "payment": payment, "lines": lines, "allocated": allocated, "advance_part": payment.amount - allocated,
        "errors": errors, "can_edit": has_capability(request.user, Cap.PAYMENTS_EDIT) and payment.posted,
        "can_post": has_capability(request.user, Cap.PAYMENTS_EDIT),
        **_allocation_context(table, payment=payment),
        **client_context(payment.organization_id, payment.partner_id),
    })


@requires(Cap.PAYMENTS_VIEW)
def client_panel(request: HttpRequest) -> HttpResponse:
    """The client's advance, debt and latest payments (HTMX, for the payment and refund forms)."""
    return render(request, "payments/_client.html", client_context(int_or_none(request.GET.get("organization")),
                                                                   int_or_none(request.GET.get("partner"))))


# ------------------------------------------------------------------ refunds
@requires(Cap.PAYMENTS_VIEW)
def refund_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, REFUNDS, can_create=has_capability(request.user, Cap.PAYMENTS_EDIT))


@requires(Cap.PAYMENTS_VIEW, Cap.PAYMENTS_EDIT)
def refund_new(request: HttpRequest) -> HttpResponse:
    """Return money to a client out of the advance it holds; refused above it."""
    errors: list[str] = []
    if request.method == "POST":
        form = RefundForm(request.POST)
        if form.is_valid():
            refund_doc = form.save(commit=False)
            try:
                saved = services.refund(refund_doc, user=request.user,
                                        idempotency_key=form.cleaned_data["idempotency_key"])
            except CoreError as exc:
                errors = [exc.message, *_apply_error(form, exc)]
            else:
                if saved is not refund_doc:
                    messages.info(request, _("This refund was already registered (the form was sent twice): "
                                             "%(doc)s.") % {"doc": saved})
                else:
                    messages.success(request, _("Refunded: %(doc)s.") % {"doc": saved})
                return HttpResponseRedirect(reverse("payments:refund_detail", args=[saved.pk]))
        else:
            errors = [_("Please correct the errors below.")]
    else:
        form = RefundForm(initial={k: request.GET[k] for k in ("organization", "partner") if request.GET.get(k)})
    return render(request, "payments/refund_form.html", {
        "form": form, "errors": errors, **client_context(table_org(form), table_partner(form))})


@requires(Cap.PAYMENTS_VIEW)
def refund_detail(request: HttpRequest, pk: int) -> HttpResponse:
    refund_doc = get_object_or_404(Refund.objects.select_related("organization", "partner", "cash_desk",
                                                                 "bank_account", "author"), pk=pk)
    return render(request, "payments/refund_detail.html", {
        "refund": refund_doc, **client_context(refund_doc.organization_id, refund_doc.partner_id)})
