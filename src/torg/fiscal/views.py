"""Fiscal pages at /fiscal/: the receipts journal, a receipt as printed (retry, cancel, return goods, e-mail a
copy), correction receipts, cash registers and their device panel (shifts, X report, cash in and out).

Thin: parse, check the capability, call `torg.fiscal.services` / `queue`, render.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from torg.catalogs.services import save_catalog_entry
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import to_decimal
from torg.core.permissions import Cap, has_capability
from torg.fiscal import services
from torg.fiscal.forms import CancelForm, CashRegisterForm, CorrectionForm, OperationForm
from torg.fiscal.models import CashRegister, EmulatorState, FiscalReceipt, ReceiptStatus
from torg.fiscal.printing import receipt_html, receipt_pdf
from torg.fiscal.queue import drain, schedule_drain
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list


def _shifts() -> list[tuple[int, str]]:
    numbers = (FiscalReceipt.objects.exclude(shift_number=None).values_list("shift_number", flat=True)
               .distinct().order_by("-shift_number")[:100])
    return [(n, str(n)) for n in numbers]


RECEIPTS = ListConfig(
    model=FiscalReceipt,
    title=gettext_lazy("Fiscal receipts"),
    columns=(
        Column("created_at", gettext_lazy("Created"), link=True,
               value=lambda r: date_format(timezone.localtime(r.created_at), "SHORT_DATETIME_FORMAT")),
        Column("operation", gettext_lazy("Operation")),
        Column("partner__name", gettext_lazy("Client")),
        Column("total", gettext_lazy("Total"), align_end=True),
        Column("cash", gettext_lazy("Cash"), align_end=True),
        Column("electronic", gettext_lazy("Electronic"), align_end=True),
        Column("status", gettext_lazy("Status")),
        Column("cash_register__name", gettext_lazy("Cash register")),
        Column("shift_number", gettext_lazy("Shift")),
        Column("fiscal_document_number", gettext_lazy("FD No.")),
        Column("last_error", gettext_lazy("Device's message"), sortable=False,
               value=lambda r: (r.last_error or "")[:80]),
    ),
    search_fields=("partner__name", "buyer_contact", "fiscal_sign", "lines__name"),
    filters=(Filter("cash_register", gettext_lazy("Cash register")), Filter("status"), Filter("operation"),
             Filter("shift_number", gettext_lazy("Shift"), kind="choice", choices=_shifts),
             Filter("partner", gettext_lazy("Client"), as_select=False),
             Filter("payment", gettext_lazy("Payment"), as_select=False),
             Filter("shipment", gettext_lazy("Shipment"), as_select=False),
             Filter("refund", gettext_lazy("Refund"), as_select=False)),
    ordering=("-created_at", "-id"),
    row_url=lambda r: reverse("fiscal:receipt_detail", args=[r.pk]),
    queryset=lambda: FiscalReceipt.objects.select_related("partner", "cash_register"),
)

REGISTERS = ListConfig(
    model=CashRegister,
    title=gettext_lazy("Cash registers"),
    columns=(
        Column("name", gettext_lazy("Name"), link=True),
        Column("organization__name", gettext_lazy("Organization")),
        Column("model"), Column("registration_number"), Column("driver"),
        Column("cash_desk__name", gettext_lazy("Cash desk")), Column("is_default"),
        Column("waiting", gettext_lazy("Waiting"), sortable=False, value=lambda r: r.waiting),
        Column("failed", gettext_lazy("Failed"), sortable=False, value=lambda r: r.failed),
    ),
    search_fields=("name", "serial_number", "registration_number"),
    filters=(Filter("organization"), Filter("driver"), Filter("deletion_mark")),
    row_url=lambda r: reverse("fiscal:register_edit", args=[r.pk]),
    create_url_name="fiscal:register_new",
    queryset=lambda: CashRegister.objects.select_related("organization", "cash_desk").annotate(
        waiting=Count("receipts", filter=Q(receipts__status__in=[ReceiptStatus.QUEUED, ReceiptStatus.SENT])),
        failed=Count("receipts", filter=Q(receipts__status=ReceiptStatus.FAILED))),
)


# ================================================================ the journal
@requires(Cap.FISCAL_VIEW)
def receipt_list(request: HttpRequest) -> HttpResponse:
    queryset: QuerySet | None = None
    order = request.GET.get("order", "")
    if order.isdigit():
        queryset = RECEIPTS.queryset().filter(pk__in=_receipts_of_order(int(order)))  # type: ignore[misc]
    counts = dict(FiscalReceipt.objects.values_list("status").annotate(n=Count("pk")).order_by())
    waiting = counts.get(ReceiptStatus.QUEUED, 0) + counts.get(ReceiptStatus.SENT, 0)
    return render_list(request, RECEIPTS, queryset=queryset, can_create=False,
                       template_name="fiscal/receipt_list.html",
                       extra_context={"order_filter": order if order.isdigit() else "",
                                      "waiting": waiting,
                                      "failed": counts.get(ReceiptStatus.FAILED, 0),
                                      "can_operate": has_capability(request.user, Cap.FISCAL_OPERATE)})


def _receipts_of_order(order_id: int) -> Any:
    from torg.fiscal.models import FiscalReceiptLine

    return FiscalReceiptLine.objects.filter(order_id=order_id).values("receipt_id")


@requires(Cap.FISCAL_VIEW, write=(Cap.FISCAL_OPERATE,))
def receipt_detail(request: HttpRequest, pk: int) -> HttpResponse:
    receipt = get_object_or_404(FiscalReceipt.objects.select_related(
        "organization", "partner", "cash_register", "payment", "shipment", "refund", "original", "created_by"), pk=pk)
    cancel_form = CancelForm(request.POST or None) if request.POST.get("action") == "cancel" else CancelForm()
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "retry":
                services.retry_receipt(receipt, user=request.user)
                messages.success(request, _("The receipt is in the queue again."))
            elif action == "cancel":
                if cancel_form.is_valid():
                    services.cancel_receipt(receipt, reason=cancel_form.cleaned_data["reason"], user=request.user)
                    messages.success(request, _("The receipt is cancelled."))
                else:
                    raise CoreError(ErrorCode.INVALID, _("Say why the receipt is cancelled."))
            elif action == "email":
                address = request.POST.get("email", "").strip()
                if "@" not in address:
                    raise CoreError(ErrorCode.INVALID, _("Give an e-mail address, e.g. client@example.ru."))
                services.send_receipt_copy(receipt, address)
                messages.success(request, _("A copy was sent to %(to)s.") % {"to": address})
        except CoreError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("fiscal:receipt_detail", args=[receipt.pk]))
    lines = list(receipt.lines.select_related("order", "shipment").all())
    return render(request, "fiscal/receipt_detail.html", {
        "receipt": receipt, "lines": lines, "tape": receipt_html(receipt), **_tags(receipt, lines),
        "returns": list(receipt.returns.all()), "cancel_form": cancel_form,
        "can_operate": has_capability(request.user, Cap.FISCAL_OPERATE),
        "can_return": receipt.status == ReceiptStatus.REGISTERED and receipt.operation == "sell"
        and any(ln.method in (4, 5, 6) for ln in lines)})


def _tags(receipt: FiscalReceipt, lines: list[Any]) -> dict[str, Any]:
    tags = receipt.to_draft(lines).tags()
    return {"line_tags": tags.pop("1059"), "tags": tags}


@requires(Cap.FISCAL_VIEW)
def receipt_pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    receipt = get_object_or_404(FiscalReceipt.objects.select_related("organization", "cash_register"), pk=pk)
    response = HttpResponse(receipt_pdf(receipt), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="receipt-{receipt.pk}.pdf"'
    return response


@requires(Cap.FISCAL_VIEW, Cap.FISCAL_OPERATE)
def receipt_return(request: HttpRequest, pk: int) -> HttpResponse:
    """Goods of a registered sale receipt come back: choose the quantities, the money goes back as it came."""
    original = get_object_or_404(FiscalReceipt.objects.select_related("organization", "cash_register"), pk=pk)
    lines = list(original.lines.all())
    errors: list[str] = []
    if request.method == "POST":
        try:
            quantities = {ln.line_no: to_decimal(request.POST.get(f"qty-{ln.line_no}", "")) for ln in lines}
            cash = _decimal_or_none(request.POST.get("cash", ""))
            electronic = _decimal_or_none(request.POST.get("electronic", ""))
        except ValueError:
            errors.append(_("Quantities and amounts are numbers, e.g. 2 or 150.50."))
        else:
            try:
                made = services.return_goods_receipt(original, quantities, cash=cash, electronic=electronic,
                                                     user=request.user)
            except CoreError as exc:
                errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
            else:
                messages.success(request, _("The return receipt is in the queue."))
                return HttpResponseRedirect(reverse("fiscal:receipt_detail", args=[made.pk]))
    return render(request, "fiscal/receipt_return.html", {"original": original, "lines": lines, "errors": errors,
                                                           "post": request.POST})


def _decimal_or_none(value: str) -> Decimal | None:
    return to_decimal(value) if value.strip() else None


@requires(Cap.FISCAL_VIEW, Cap.FISCAL_OPERATE)
def correction_new(request: HttpRequest) -> HttpResponse:
    form = CorrectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        register = form.cleaned_data["cash_register"]
        try:
            receipt = services.correction_receipt(organization_id=register.organization_id, cash_register=register,
                                                  draft=form.draft(), user=request.user)
        except CoreError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, _("The correction receipt is in the queue."))
            return HttpResponseRedirect(reverse("fiscal:receipt_detail", args=[receipt.pk]))
    return render(request, "fiscal/correction_form.html", {"form": form})


# ================================================================ registers
@requires(Cap.FISCAL_VIEW)
def register_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, REGISTERS, can_create=has_capability(request.user, Cap.COMPANY_EDIT))


@requires(Cap.FISCAL_VIEW, Cap.COMPANY_EDIT)
def register_new(request: HttpRequest) -> HttpResponse:
    return _register_form(request, CashRegister())


@requires(Cap.FISCAL_VIEW, write=(Cap.COMPANY_EDIT,))
def register_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _register_form(request, get_object_or_404(CashRegister.objects.select_related("organization"), pk=pk))


def _register_form(request: HttpRequest, register: CashRegister) -> HttpResponse:
    form = CashRegisterForm(request.POST or None, instance=register)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_catalog_entry(form.instance, request.user, form.expected_version, validate=False)
        except CoreError as exc:
            for name, msgs in (exc.fields or {}).items():
                form.add_error(name if name in form.fields else None, msgs)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            messages.success(request, _("Saved: %(obj)s.") % {"obj": saved})
            return HttpResponseRedirect(reverse("fiscal:register_edit", args=[saved.pk]))
    can_edit = has_capability(request.user, Cap.COMPANY_EDIT)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    context: dict[str, Any] = {"form": form, "register": register, "can_edit": can_edit,
                               "can_operate": has_capability(request.user, Cap.FISCAL_OPERATE),
                               "operation_form": OperationForm()}
    if register.pk:
        context["status"] = _device_status(register)
        context["emulator"] = EmulatorState.objects.filter(cash_register=register).first()
        context["counts"] = dict(register.receipts.values_list("status").annotate(n=Count("pk")).order_by())
        context["recent"] = list(register.receipts.select_related("partner").order_by("-created_at", "-pk")[:10])
        context["report"] = request.session.pop(f"fiscal-report-{register.pk}", None)
    return render(request, "fiscal/register_form.html", context)


def _device_status(register: CashRegister) -> Any:
    try:
        return services.register_operation(register, "status")
    except CoreError as exc:
        return {"reachable": False, "message": exc.message}
    except Exception as exc:  # noqa: BLE001 — a broken connection setting shows on the page, not as a 500
        return {"reachable": False, "message": str(exc)}


@requires(Cap.FISCAL_VIEW, Cap.FISCAL_OPERATE)
@require_POST
def register_operation(request: HttpRequest, pk: int) -> HttpResponse:
    register = get_object_or_404(CashRegister.objects.select_related("organization"), pk=pk)
    form = OperationForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose an operation; an amount is a number greater than zero."))
        return HttpResponseRedirect(reverse("fiscal:register_edit", args=[pk]))
    operation = form.cleaned_data["operation"]
    try:
        if operation in ("online", "offline"):
            services.set_emulator_online(register, operation == "online", user=request.user)
            if operation == "online":
                schedule_drain(register.pk)
            messages.success(request, _("The emulator is on.") if operation == "online" else
                             _("The emulator is off: receipts wait until it is on again."))
        elif operation == "send_now":
            outcome = drain(register.pk, force=True)
            messages.info(request, _("Registered: %(ok)s, failed: %(failed)s, still waiting: %(waiting)s.")
                          % {"ok": outcome.registered, "failed": outcome.failed, "waiting": outcome.waiting})
        else:
            report = services.register_operation(register, operation, amount=form.cleaned_data.get("amount"),
                                                 user=request.user)
            request.session[f"fiscal-report-{pk}"] = _report_for_session(operation, report)
            messages.success(request, _("Done: %(op)s.") % {"op": dict(form.fields["operation"].choices)[operation]})
    except CoreError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(reverse("fiscal:register_edit", args=[pk]))


def _total_label(key: str) -> str:
    """«sell_cash» → «Sales, cash»: how a report's total reads."""
    operations = {"sell": _("Sales"), "sell_return": _("Sale returns"), "buy": _("Purchases"),
                  "buy_return": _("Purchase returns"), "sell_correction": _("Sale corrections"),
                  "sell_return_correction": _("Sale return corrections")}
    kinds = {"cash": _("cash"), "electronic": _("electronic"), "prepaid": _("prepayment offset"),
             "credit": _("on credit"), "other": _("counter provision"), "count": _("receipts")}
    if key == "cash_in":
        return _("Cash put in")
    if key == "cash_out":
        return _("Cash taken out")
    operation, _sep, kind = key.rpartition("_")
    if operation in operations and kind in kinds:
        return f"{operations[operation]}, {kinds[kind]}"
    return key


def _report_for_session(operation: str, report: Any) -> dict[str, Any]:
    totals = {_total_label(k): str(v) for k, v in (getattr(report, "totals", None) or {}).items()}
    return {"operation": operation, "shift_number": getattr(report, "shift_number", None),
            "receipts": getattr(report, "receipts", None), "totals": totals,
            "cash_in_drawer": str(getattr(report, "cash_in_drawer", "")),
            "fiscal_document_number": getattr(report, "fiscal_document_number", None)}


register_operation.post_only = True  # type: ignore[attr-defined]
