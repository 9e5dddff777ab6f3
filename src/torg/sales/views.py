"""Sales pages: payment schedules and trade agreements (catalog pages), quotes and sales orders (the generic
document page with panels of their own), the approval inbox and the deviations report.

Views are thin: they parse the forms, check the capability, call `torg.sales.services` and render. Every refusal
(`CoreError`) is shown on the page it came from, with what the user typed kept.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ObjectDoesNotExist
from django.core.paginator import Paginator
from django.db.models import BooleanField, Case, Model, Q, QuerySet, Value, When
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from torg.catalogs.models import Contact, Counterparty, DeliveryAddress, Item
from torg.catalogs.services import set_catalog_deletion_mark
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.permissions import Cap, has_capability
from torg.sales import forms as sf
from torg.sales import services
from torg.sales.models import (
    ApprovalState,
    OrderApproval,
    OrderStateCode,
    OrderStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    StageKind,
    TradeAgreement,
)
from torg.web.access import requires
from torg.web.document_views import (
    DocumentAction,
    DocumentConfig,
    DocumentPage,
    LineColumn,
    document_page,
    item_search,
    render_document,
)
from torg.web.listing import Column, Filter, ListConfig, build_list, render_list

AREAS = {"pricing": gettext_lazy("pricing"), "financial": gettext_lazy("financial"),
         "logistic": gettext_lazy("logistic")}


def _error_text(exc: CoreError) -> str:
    """The refusal to show at the top of a page: its message, or, when that only says "correct the errors below"
    (a page's own operation has no fields to show them at), the field messages themselves."""
    details = [m for msgs in (exc.fields or {}).values() for m in msgs]
    if details and exc.message == _("Please correct the errors below."):
        return " ".join(details)
    return exc.message


def _post_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    view.post_only = True  # type: ignore[attr-defined]  # read by the permission-matrix test
    return view


def _history(obj: Model, limit: int = 10) -> list[ChangeLogEntry]:
    ct = ContentType.objects.get_for_model(obj)
    return list(ChangeLogEntry.objects.filter(content_type=ct, object_id=obj.pk).select_related("user")
                .order_by("-at", "-id")[:limit])


# ================================================================ payment schedules and trade agreements
def _stages_text(schedule: PaymentSchedule) -> str:
    parts = []
    for stage in schedule.stages.all():
        days = _("%(n)s d.") % {"n": stage.days} if stage.days else ""
        parts.append(" ".join(x for x in (f"{stage.get_kind_display()} {floatformat(stage.percent, -2)}%", days) if x))
    return " · ".join(parts)


SCHEDULES_LIST = ListConfig(
    model=PaymentSchedule,
    title=gettext_lazy("Payment schedules"),
    columns=(Column("name", gettext_lazy("Name"), link=True),
             Column("stages", gettext_lazy("Stages"), value=_stages_text, sortable=False),
             Column("deletion_mark", gettext_lazy("Marked for deletion"))),
    search_fields=("name",),
    filters=(Filter("deletion_mark"),),
    ordering=("name",),
    row_url=lambda obj: reverse("sales:schedules_edit", args=[obj.pk]),
    create_url_name="sales:schedules_new",
    queryset=lambda: PaymentSchedule.objects.prefetch_related("stages"),
)

AGREEMENTS_LIST = ListConfig(
    model=TradeAgreement,
    title=gettext_lazy("Trade agreements"),
    columns=(Column("name", gettext_lazy("Name"), link=True), Column("kind"), Column("status"),
             Column("organization__name", gettext_lazy("Organization")),
             Column("partner__name", gettext_lazy("Client")),
             Column("price_type__name", gettext_lazy("Price type")),
             Column("payment_schedule__name", gettext_lazy("Payment schedule")),
             Column("discount_percent"), Column("max_manual_discount"), Column("valid_from"), Column("valid_to")),
    search_fields=("name", "partner__name", "partners__name"),
    filters=(Filter("status"), Filter("kind"), Filter("organization"), Filter("deletion_mark")),
    ordering=("name",),
    row_url=lambda obj: reverse("sales:agreements_edit", args=[obj.pk]),
    create_url_name="sales:agreements_new",
    queryset=lambda: TradeAgreement.objects.select_related("organization", "partner", "price_type",
                                                           "payment_schedule"),
)


def _render_catalog(request: HttpRequest, key: str, obj: Any, form: Any, *, stages: Any = None,
                    stage_errors: list[str] | None = None, status: int = 200) -> HttpResponse:
    can_edit = has_capability(request.user, Cap.SALES_AGREEMENTS)
    if not can_edit:
        for f in form.fields.values():
            f.disabled = True
        for stage_form in getattr(stages, "forms", []):
            for f in stage_form.fields.values():
                f.disabled = True
    listing = SCHEDULES_LIST if key == "schedules" else AGREEMENTS_LIST
    related: list[tuple[str, list[tuple[str, str, str]], str]] = []
    if obj.pk and key == "schedules":
        agreements = TradeAgreement.objects.filter(payment_schedule=obj).order_by("name")[:20]
        related.append((_("Agreements with this schedule"),
                        [(reverse("sales:agreements_edit", args=[a.pk]), a.name, a.get_status_display())
                         for a in agreements], ""))
    if obj.pk and key == "agreements":
        orders = list(SalesOrder.objects.filter(agreement=obj).select_related("partner").order_by("-date")[:10])
        related.append((_("Latest orders under this agreement"),
                        [(reverse("sales:orders_edit", args=[o.pk]), str(o), o.partner.name) for o in orders],
                        reverse("sales:orders_list") + f"?agreement={obj.pk}"))
    context = {
        "key": key, "obj": obj, "form": form, "stages": stages, "stage_errors": stage_errors or [],
        "can_edit": can_edit, "list_url": reverse(f"sales:{key}_list"), "list_title": listing.title,
        "mark_url": reverse(f"sales:{key}_mark", args=[obj.pk]) if obj.pk else None,
        "history": _history(obj) if obj.pk else [], "related": related,
        "title": str(obj) if obj.pk else _("New: %(kind)s") % {"kind": obj._meta.verbose_name},
        "stage_rows": _schedule_stage_rows(stages) if stages is not None else [],
    }
    return render(request, "sales/catalog_edit.html", context, status=status)


def _schedule_stage_rows(formset: Any) -> list[sf.StageRow]:
    return [sf.StageRow(form) for form in formset.forms]


def _catalog_error(form: Any, exc: CoreError, stages: Any = None) -> list[str]:
    """Put a refusal's field errors on the form (and the stages table); return the stages table's own errors."""
    stage_errors = sf.apply_stage_errors(stages, exc.fields) if stages is not None else []
    for name, msgs in (exc.fields or {}).items():
        if name.split(".")[0] == "stages" and stages is not None:
            continue
        form.add_error(name if name in form.fields else None, msgs)
    if not exc.fields:
        form.add_error(None, exc.message)
    return stage_errors


def _save_schedule(request: HttpRequest, obj: PaymentSchedule) -> HttpResponse:
    form = sf.PaymentScheduleForm(request.POST, instance=obj)
    stages = sf.stage_formset(request.POST)
    valid = form.is_valid() & stages.is_valid()
    if valid:
        is_new = obj.pk is None
        try:
            saved = services.save_payment_schedule(form.instance, sf.schedule_stages(stages), user=request.user,
                                                   expected_version=form.expected_version)
        except CoreError as exc:
            if is_new:
                obj.pk = None
            stage_errors = _catalog_error(form, exc, stages)
            return _render_catalog(request, "schedules", obj, form, stages=stages, stage_errors=stage_errors,
                                   status=409 if exc.code == ErrorCode.CONCURRENT_EDIT else 200)
        messages.success(request, (_("Created: %(obj)s.") if is_new else _("Saved: %(obj)s.")) % {"obj": saved})
        if "save_close" in request.POST:
            return HttpResponseRedirect(reverse("sales:schedules_list"))
        return HttpResponseRedirect(reverse("sales:schedules_edit", args=[saved.pk]))
    return _render_catalog(request, "schedules", obj, form, stages=stages)


def _save_agreement(request: HttpRequest, obj: TradeAgreement) -> HttpResponse:
    form = sf.TradeAgreementForm(request.POST, instance=obj)
    if form.is_valid():
        is_new = obj.pk is None
        try:
            saved = services.save_agreement(form.instance, partners=form.cleaned_data.get("partners") or [],
                                            user=request.user, expected_version=form.expected_version)
        except CoreError as exc:
            if is_new:
                obj.pk = None
            _catalog_error(form, exc)
            return _render_catalog(request, "agreements", obj, form,
                                   status=409 if exc.code == ErrorCode.CONCURRENT_EDIT else 200)
        messages.success(request, (_("Created: %(obj)s.") if is_new else _("Saved: %(obj)s.")) % {"obj": saved})
        if "save_close" in request.POST:
            return HttpResponseRedirect(reverse("sales:agreements_list"))
        return HttpResponseRedirect(reverse("sales:agreements_edit", args=[saved.pk]))
    return _render_catalog(request, "agreements", obj, form)


@requires(Cap.SALES_VIEW)
def schedule_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, SCHEDULES_LIST, can_create=has_capability(request.user, Cap.SALES_AGREEMENTS))


@requires(Cap.SALES_VIEW, Cap.SALES_AGREEMENTS)
def schedule_new(request: HttpRequest) -> HttpResponse:
    obj = PaymentSchedule()
    if request.method == "POST":
        return _save_schedule(request, obj)
    stages = sf.stage_formset(stages=[PaymentScheduleStage(kind=StageKind.PREPAYMENT, percent=Decimal(100), days=0)])
    return _render_catalog(request, "schedules", obj, sf.PaymentScheduleForm(instance=obj), stages=stages)


@requires(Cap.SALES_VIEW, write=(Cap.SALES_AGREEMENTS,))
def schedule_edit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(PaymentSchedule, pk=pk)
    if request.method == "POST":
        return _save_schedule(request, obj)
    stages = sf.stage_formset(stages=list(obj.stages.all()))
    return _render_catalog(request, "schedules", obj, sf.PaymentScheduleForm(instance=obj), stages=stages)


@requires(Cap.SALES_VIEW)
def agreement_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, AGREEMENTS_LIST, can_create=has_capability(request.user, Cap.SALES_AGREEMENTS))


@requires(Cap.SALES_VIEW, Cap.SALES_AGREEMENTS)
def agreement_new(request: HttpRequest) -> HttpResponse:
    obj = TradeAgreement()
    if request.method == "POST":
        return _save_agreement(request, obj)
    return _render_catalog(request, "agreements", obj, sf.TradeAgreementForm(instance=obj))


@requires(Cap.SALES_VIEW, write=(Cap.SALES_AGREEMENTS,))
def agreement_edit(request: HttpRequest, pk: int) -> HttpResponse:
    obj = get_object_or_404(TradeAgreement, pk=pk)
    if request.method == "POST":
        return _save_agreement(request, obj)
    return _render_catalog(request, "agreements", obj, sf.TradeAgreementForm(instance=obj))


def _mark_view(model: type[Model], key: str) -> Callable[..., HttpResponse]:
    @requires(Cap.SALES_VIEW, Cap.SALES_AGREEMENTS)
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(model, pk=pk)
        mark = request.POST.get("mark", "1") == "1"
        set_catalog_deletion_mark(obj, mark, request.user)  # type: ignore[arg-type]
        messages.success(request, (_("“%(obj)s” is marked for deletion.") if mark
                                   else _("The deletion mark of “%(obj)s” is removed.")) % {"obj": obj})
        return HttpResponseRedirect(reverse(f"sales:{key}_edit", args=[obj.pk]))

    return _post_only(view)


schedule_mark = _mark_view(PaymentSchedule, "schedules")
agreement_mark = _mark_view(TradeAgreement, "agreements")


# ================================================================ item search with the agreement's prices
def _day(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((raw or "")[:10])
    except ValueError:
        return None


@requires(Cap.SALES_VIEW)
def item_search_view(request: HttpRequest) -> JsonResponse:
    """Items for the lines' item search; with `agreement` (and the document's `date`) each item also carries the
    agreement's price and discount, which the page puts into a line whose price is still empty."""
    response = item_search(request, Item.objects.filter(deletion_mark=False))
    raw = request.GET.get("agreement", "")
    agreement = TradeAgreement.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if agreement is None:
        return response
    data = json.loads(response.content)
    day = _day(request.GET.get("date")) or timezone.localdate()
    prices = services.agreement_prices(agreement, [row["id"] for row in data["items"]], day)
    discount = format(agreement.discount_percent.normalize(), "f") if agreement.discount_percent else None
    for row in data["items"]:
        price = prices.get(row["id"])
        row["price"] = f"{price:.2f}" if price is not None else None
        row["discount"] = discount if price is not None else None
    return JsonResponse(data)


@requires(Cap.SALES_VIEW)
def partner_terms_view(request: HttpRequest) -> JsonResponse:
    """What a quote or an order for a client may name: its counterparties, contacts and delivery addresses, and the
    agreements it may buy under on the document's day (its individual ones first). The header's choices follow the
    client chosen."""
    raw, organization = request.GET.get("partner", ""), request.GET.get("organization", "")
    if not raw.isdigit():
        return JsonResponse({"counterparty": [], "contact": [], "delivery_address": [], "agreement": []})
    partner = int(raw)
    day = _day(request.GET.get("date")) or timezone.localdate()
    agreements = services.agreements_for(partner, day, int(organization) if organization.isdigit() else None)
    alive = {"partner_id": partner, "deletion_mark": False}
    return JsonResponse({
        "counterparty": [{"id": pk, "label": name} for pk, name in
                         Counterparty.objects.filter(**alive).order_by("name").values_list("pk", "name")],
        "contact": [{"id": pk, "label": name} for pk, name in
                    Contact.objects.filter(**alive).order_by("name").values_list("pk", "name")],
        "delivery_address": [{"id": pk, "label": text} for pk, text in
                             DeliveryAddress.objects.filter(**alive).order_by("address").values_list("pk", "address")],
        "agreement": [{"id": a.pk, "label": a.name, "warehouse": a.warehouse_id} for a in agreements],
    })


# ================================================================ quotes
SALE_LINE_COLUMNS = (
    LineColumn("item"), LineColumn("quantity", total=True), LineColumn("price"),
    LineColumn("discount_percent", gettext_lazy("Discount, %"), role="discount"),
    LineColumn("amount", computed=True, total=True),
    LineColumn("vat_rate"), LineColumn("vat_amount", computed=True, total=True),
)
DATE = Column("date", gettext_lazy("Date"),
              value=lambda d: date_format(timezone.localtime(d.date), "SHORT_DATETIME_FORMAT"))


def _quote_locked(quote: Quote) -> str:
    if quote.status == Quote.Status.ANSWERED:
        return _("The client has answered this version: the answer is its next version. Change that one.")
    if quote.status == Quote.Status.ACCEPTED:
        return _("An order was made from this quote: it no longer changes.")
    if quote.status == Quote.Status.REJECTED:
        return _("The client rejected this quote: it no longer changes.")
    return ""


def _save_quote(quote: Quote, lines: list[QuoteLine], *, user: Any = None, expected_version: int | None = None,
                post: bool = False) -> Quote:
    return services.save_quote(quote, lines, user=user, expected_version=expected_version)


def _quote_versions(quote: Quote) -> list[Quote]:
    """The quote's versions from the first to the latest (a chain of `previous` links; a few per quote)."""
    chain = [quote]
    while chain[0].previous_id and len(chain) < 100:
        chain.insert(0, Quote.objects.get(pk=chain[0].previous_id))
    while len(chain) < 100:
        following = Quote.objects.filter(previous_id=chain[-1].pk).order_by("id").first()
        if following is None:
            break
        chain.append(following)
    return chain


def _quote_open(quote: Quote) -> bool:
    return quote.status in (Quote.Status.DRAFT, Quote.Status.SENT)


def _quote_context(request: HttpRequest, page: DocumentPage) -> dict[str, Any]:
    quote = page.document
    if not quote.pk:
        return {}
    lines = list(quote.lines.select_related("item").order_by("line_no"))
    answer = page.extra.get("answer") or sf.quote_answer_formset(quote, lines)
    can_edit = has_capability(request.user, Cap.SALES_EDIT)
    agreement_warehouse = quote.agreement.warehouse_id if quote.agreement_id else None
    return {
        "versions": _quote_versions(quote),
        "answer_rows": list(zip(lines, answer.forms, strict=False)),
        "answer_formset": answer,
        "answer_form": page.extra.get("answer_comment") or sf.QuoteAnswerForm(),
        "order_form": page.extra.get("order") or sf.OrderFromQuoteForm(initial={"warehouse": agreement_warehouse}),
        "quote_open": _quote_open(quote) and can_edit and bool(lines),
        "quote_can_send": can_edit and quote.status == Quote.Status.DRAFT and bool(lines),
        "quote_can_reject": can_edit and _quote_open(quote),
        "reject_reason": page.extra.get("reject_reason", ""),
    }


QUOTES = DocumentConfig(
    key="quotes", namespace="sales", model=Quote, line_model=QuoteLine, header_form=sf.SaleHeaderForm,
    header_fields=("date", "organization", "partner", "counterparty", "contact", "agreement", "valid_until",
                   "manager", "prices_include_vat", "terms", "comment"),
    read_only_header=("status", "revision"),
    line_columns=(*SALE_LINE_COLUMNS, LineColumn("client_comment"),
                  LineColumn("asked_quantity", computed=True), LineColumn("asked_price", computed=True),
                  LineColumn("agreed", value=lambda ln: "✓" if ln.agreed else "")),
    hidden_line_fields=("asked_quantity", "asked_price", "agreed"),  # the client's answer survives edits
    save=_save_quote, post=None, unpost=None,
    view_cap=Cap.SALES_VIEW, edit_cap=Cap.SALES_EDIT, post_cap=Cap.SALES_EDIT,
    item_search_url_name="sales:item_search", item_search_params=("agreement", "date"),
    line_form=sf.SaleLineForm, prepare_lines=sf.clean_sale_lines, locked=_quote_locked,
    form_template="sales/quote_form.html", extra_context=_quote_context,
    list_columns=(Column("number", gettext_lazy("Number"), link=True), DATE,
                  Column("partner__name", gettext_lazy("Client")), Column("revision", gettext_lazy("Version")),
                  Column("amount", gettext_lazy("Amount")), Column("status", gettext_lazy("Status")),
                  Column("valid_until", gettext_lazy("Valid until")),
                  Column("manager__username", gettext_lazy("Manager"))),
    list_filters=(Filter("status"), Filter("organization"), Filter("partner", gettext_lazy("Client"), as_select=False),
                  Filter("manager", gettext_lazy("Manager"))),
    list_queryset=lambda: Quote.objects.select_related("partner", "manager"),
    search_fields=("number", "comment", "partner__name"),
)


def _quote_page_error(request: HttpRequest, quote: Quote, exc: CoreError, **extra: Any) -> HttpResponse:
    quote.refresh_from_db()
    page = document_page(QUOTES, quote, _error_text(exc), str(exc.code),
                         409 if exc.code == ErrorCode.CONCURRENT_EDIT else 200)
    page.extra.update(extra)
    return render_document(request, page)


def _answer_changes(formset: Any, lines: dict[int, QuoteLine]) -> list[dict[str, Any]]:
    changes = []
    for form in formset.forms:
        data = form.cleaned_data
        line = lines.get(data.get("line_no"))
        if line is None:
            continue
        change: dict[str, Any] = {"line_no": line.line_no, "agreed": bool(data.get("agreed"))}
        if data.get("quantity") is not None and data["quantity"] != line.quantity:
            change["quantity"] = data["quantity"]
        if data.get("price") is not None and data["price"] != line.price:
            change["price"] = data["price"]
        changes.append(change)
    return changes


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def quote_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """Record the client's answer: a new version of the quote with the asked quantities and prices."""
    quote = get_object_or_404(Quote, pk=pk)
    lines = {ln.line_no: ln for ln in quote.lines.all()}
    formset = sf.quote_answer_formset(quote, list(lines.values()), request.POST)
    comment = sf.QuoteAnswerForm(request.POST)
    if not (formset.is_valid() & comment.is_valid()):
        return _quote_page_error(request, quote, CoreError(ErrorCode.INVALID, _(
            "The answer has errors: quantities must be above zero and prices not negative.")),
            answer=formset, answer_comment=comment)
    try:
        version = services.create_quote_version(quote, user=request.user, changes=_answer_changes(formset, lines),
                                                comment=comment.cleaned_data.get("comment") or "")
    except CoreError as exc:
        return _quote_page_error(request, quote, exc, answer=formset, answer_comment=comment)
    messages.success(request, _("The client's answer is recorded as version %(n)s: %(doc)s.")
                     % {"n": version.revision, "doc": version})
    return HttpResponseRedirect(reverse("sales:quotes_edit", args=[version.pk]))


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def quote_mark_lines(request: HttpRequest, pk: int) -> HttpResponse:
    """Tick the lines the client agreed to (an order is made from them)."""
    quote = get_object_or_404(Quote, pk=pk)
    lines = {ln.line_no: ln for ln in quote.lines.all()}
    formset = sf.quote_answer_formset(quote, list(lines.values()), request.POST)
    if not formset.is_valid():
        return _quote_page_error(request, quote, CoreError(ErrorCode.INVALID, _("Tick the agreed lines again.")),
                                 answer=formset)
    if not _quote_open(quote):
        return _quote_page_error(request, quote, CoreError(ErrorCode.INVALID, _quote_locked(quote)))
    agreed = [f.cleaned_data["line_no"] for f in formset.forms if f.cleaned_data.get("agreed")]
    services.mark_quote_lines(quote, agreed, user=request.user)
    messages.success(request, _("Agreed lines: %(n)s of %(total)s.") % {"n": len(agreed), "total": len(lines)})
    return HttpResponseRedirect(reverse("sales:quotes_edit", args=[quote.pk]))


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def quote_order(request: HttpRequest, pk: int) -> HttpResponse:
    """Create a sales order from the quote's agreed lines (all lines when none is ticked) and open it."""
    quote = get_object_or_404(Quote, pk=pk)
    form = sf.OrderFromQuoteForm(request.POST)
    if not form.is_valid():
        return _quote_page_error(request, quote, CoreError(ErrorCode.INVALID, _("Choose a warehouse from the list.")),
                                 order=form)
    if not _quote_open(quote):
        return _quote_page_error(request, quote, CoreError(ErrorCode.INVALID, _quote_locked(quote)), order=form)
    try:
        order = services.order_from_quote(quote, user=request.user, warehouse=form.cleaned_data.get("warehouse"))
    except CoreError as exc:
        return _quote_page_error(request, quote, exc, order=form)
    messages.success(request, _("Created %(order)s from %(quote)s. Check it, then save and agree it.")
                     % {"order": order, "quote": quote})
    return HttpResponseRedirect(reverse("sales:orders_edit", args=[order.pk]))


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def quote_status(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark the quote sent to the client, or rejected by the client (with the reason)."""
    quote = get_object_or_404(Quote, pk=pk)
    try:
        if request.POST.get("do") == "sent":
            services.mark_quote_sent(quote, user=request.user)
            messages.success(request, _("%(doc)s is marked as sent to the client.") % {"doc": quote})
        elif request.POST.get("do") == "rejected":
            services.reject_quote(quote, request.POST.get("reason", ""), user=request.user)
            messages.success(request, _("%(doc)s is closed: the client rejected it.") % {"doc": quote})
        else:
            raise CoreError(ErrorCode.INVALID, _("Choose “Sent to the client” or “Client rejected”."))
    except CoreError as exc:
        return _quote_page_error(request, quote, exc, reject_reason=request.POST.get("reason", ""))
    return HttpResponseRedirect(reverse("sales:quotes_edit", args=[quote.pk]))


_post_only(quote_answer)
_post_only(quote_mark_lines)
_post_only(quote_order)
_post_only(quote_status)


# ================================================================ sales orders
def _order_locked(order: SalesOrder) -> str:
    if order.status == OrderStatus.CLOSED:
        return _("This order is closed: it no longer changes.")
    return ""


def _approval_message(order: SalesOrder) -> str:
    last = order.approvals.filter(decision=OrderApproval.Decision.PENDING).first()
    count = len(last.deviations) if last else 0
    return _("%(doc)s departs from its agreement (%(n)s deviations): it was sent for approval. The decision will "
             "show on the order.") % {"doc": order, "n": count}


def _outcome(order: SalesOrder) -> str:
    """What became of an order asked to be agreed or released: sent for approval, agreed, or released."""
    if order.approval == ApprovalState.PENDING:
        return _approval_message(order)
    if order.status == OrderStatus.TO_SHIP:
        return _("Released to ship: %(doc)s is in the shipping backlog.") % {"doc": order}
    return _("Agreed: %(doc)s is to be secured.") % {"doc": order}


def _agree(order: SalesOrder, user: Any) -> str:
    return _outcome(services.submit_order(order, user=user))


def _release(order: SalesOrder, user: Any) -> str:
    return _outcome(services.release_to_ship(order, user=user))


def _not_agreed(order: SalesOrder, user: Any) -> str:
    services.set_order_status(order, OrderStatus.NOT_AGREED, user=user)
    return _("%(doc)s is back to “not agreed”: it no longer reserves goods or releases them to ship.") % {
        "doc": order}


def _can_agree(order: SalesOrder) -> bool:
    return order.status == OrderStatus.NOT_AGREED and order.approval != ApprovalState.PENDING \
        and not order.deletion_mark


def _can_release(order: SalesOrder) -> bool:
    return order.status in (OrderStatus.NOT_AGREED, OrderStatus.TO_SECURE) \
        and order.approval != ApprovalState.PENDING and not order.deletion_mark


# The buttons that save an order agreed or released at once: the status it is saved with.
SAVE_WITH_STATUS = {"save_agree": OrderStatus.TO_SECURE, "save_release": OrderStatus.TO_SHIP}


def _order_forms(request: HttpRequest, page: DocumentPage) -> dict[str, Any] | None:
    """The order's payment stages from the page (an emptied table takes the agreement's schedule), and the status
    to save it with when "Save and agree" or "Save and release" was pressed."""
    formset = sf.stage_formset(request.POST)
    page.extra["stages"] = formset
    if not formset.is_valid():
        return None
    status = SAVE_WITH_STATUS.get(request.POST.get("action", ""))
    out: dict[str, Any] = {"status": status} if status else {}
    stages = sf.order_stages(formset)
    if stages:
        return {**out, "stages": stages}
    order = page.header.instance
    if not order.pk:
        return out  # a new order takes its agreement's schedule
    schedule = order.agreement.payment_schedule if order.agreement_id else None
    return {**out, "stages": services.build_stages(order, schedule)}


def _order_saved(request: HttpRequest, order: SalesOrder) -> str:
    """After «Save and agree» / «Save and release to ship»: what became of the order (the same words as the
    Agree and Release buttons)."""
    return _outcome(order) if request.POST.get("action", "") in SAVE_WITH_STATUS else ""


def _order_state(order: SalesOrder) -> Any:
    try:
        return order.state
    except ObjectDoesNotExist:
        return None


def _order_context(request: HttpRequest, page: DocumentPage) -> dict[str, Any]:
    order = page.document
    sf.share_choices([form for _i, form in page.line_forms], sf.warehouse_choices(), _("(header's)"))
    saved_stages = list(order.stages.all()) if order.pk else []
    formset = page.extra.get("stages")
    bound = formset is not None
    if formset is None:
        formset = sf.stage_formset(stages=saved_stages)
    stage_errors = sf.apply_stage_errors(formset, page.extra_errors) if bound else []
    if not has_capability(request.user, Cap.SALES_EDIT) or (order.pk and _order_locked(order)):
        for form in [*formset.forms, formset.empty_form]:
            for f in form.fields.values():
                f.disabled = True
    rows = []
    for n, form in enumerate(formset.forms):
        saved = saved_stages[n] if not bound and n < len(saved_stages) else None
        rows.append(sf.StageRow(form, saved.amount if saved else None, saved.due_date if saved else None))
    context: dict[str, Any] = {"stages": formset, "stage_rows": rows, "stage_errors": stage_errors,
                               "save_with_status": not order.pk or _can_release(order)}
    if not order.pk:
        return context
    approvals = list(order.approvals.select_related("requested_by", "decided_by").order_by("-requested_at", "-id"))
    live = [ln for ln in order.lines.select_related("item").order_by("line_no") if not ln.cancelled]
    user = request.user
    can_change = has_capability(user, Cap.SALES_EDIT) and order.status != OrderStatus.CLOSED \
        and not order.deletion_mark
    context.update({
        "state": _order_state(order),
        "approvals": approvals,
        "last_approval": approvals[0] if approvals else None,
        "pending_approval": next((a for a in approvals if a.decision == OrderApproval.Decision.PENDING), None),
        "can_approve": has_capability(user, Cap.SALES_APPROVE),
        "areas": AREAS,
        "live_lines": live,
        "can_change": can_change,
        "reason_form": page.extra.get("reason") or sf.ReasonForm(),
        "cancel_form": page.extra.get("cancel") or sf.ReasonForm(),
        "cancel_codes": page.extra.get("cancel_codes", []),
        "decision_form": sf.DecisionForm(),
    })
    return context


ORDERS = DocumentConfig(
    key="orders", namespace="sales", model=SalesOrder, line_model=SalesOrderLine, header_form=sf.SaleHeaderForm,
    header_fields=("date", "organization", "partner", "counterparty", "agreement", "warehouse", "shipment_date",
                   "delivery_address", "contact", "client_po_number", "client_po_date", "manager",
                   "prices_include_vat", "comment"),
    line_columns=(*SALE_LINE_COLUMNS, LineColumn("warehouse"), LineColumn("shipment_date"), LineColumn("securing"),
                  LineColumn("cancelled"), LineColumn("cancel_reason")),
    hidden_line_fields=("code",),
    save=services.save_order, post=services.post_order, unpost=services.unpost_order,
    view_cap=Cap.SALES_VIEW, edit_cap=Cap.SALES_EDIT, post_cap=Cap.SALES_EDIT,
    item_search_url_name="sales:item_search", item_search_params=("agreement", "date"),
    line_form=sf.SaleLineForm, prepare_lines=sf.clean_sale_lines, locked=_order_locked,
    form_template="sales/order_form.html", extra_context=_order_context, extra_forms=_order_forms,
    saved_message=_order_saved,
    actions=(
        DocumentAction("agree", gettext_lazy("Agree"), Cap.SALES_EDIT, _agree, icon="bi-hand-thumbs-up",
                       available=_can_agree, primary=True),
        DocumentAction("release", gettext_lazy("Release to ship"), Cap.SALES_EDIT, _release, icon="bi-truck",
                       available=_can_release),
        DocumentAction("not_agreed", gettext_lazy("Back to “not agreed”"), Cap.SALES_EDIT, _not_agreed,
                       icon="bi-arrow-counterclockwise",
                       available=lambda o: o.status in (OrderStatus.TO_SECURE, OrderStatus.TO_SHIP),
                       confirm=gettext_lazy("Put the order back to “not agreed”? Its reserves are released and "
                                            "nothing more ships until it is agreed again.")),
    ),
)


def _order_rows() -> QuerySet:
    today = timezone.localdate()
    overdue = Q(state__event_date__lt=today) & ~Q(state__state__in=["", OrderStateCode.CLOSED])
    return (SalesOrder.objects.select_related("partner", "manager", "state")
            .annotate(is_overdue=Case(When(overdue, then=Value(True)), default=Value(False),
                                      output_field=BooleanField())))


def _manager_name(order: SalesOrder) -> str:
    return (order.manager.get_full_name() or order.manager.get_username()) if order.manager else ""


ORDER_LIST = ListConfig(
    model=SalesOrder,
    title=gettext_lazy("Sales orders"),
    columns=(
        Column("number", gettext_lazy("Number"), link=True),
        Column("date", gettext_lazy("Date"), value=lambda o: date_format(timezone.localtime(o.date),
                                                                          "SHORT_DATE_FORMAT")),
        Column("partner__name", gettext_lazy("Client")),
        Column("amount", gettext_lazy("Amount")),
        Column("status", gettext_lazy("Status")),
        Column("state__state", gettext_lazy("State")),
        Column("state__paid_percent", gettext_lazy("Paid, %")),
        Column("state__shipped_percent", gettext_lazy("Shipped, %")),
        Column("state__debt", gettext_lazy("Debt")),
        Column("state__event_date", gettext_lazy("Expected by")),
        Column("manager__username", gettext_lazy("Manager"), value=_manager_name),
    ),
    search_fields=("number", "comment", "client_po_number", "partner__name"),
    filters=(
        Filter("state__state", gettext_lazy("State"),
               choices=lambda: [(c.value, c.label) for c in OrderStateCode if c.value]),
        Filter("status", gettext_lazy("Status")),
        Filter("is_overdue", gettext_lazy("Overdue"), kind="boolean"),
        Filter("manager", gettext_lazy("Manager")),
        Filter("organization", gettext_lazy("Organization")),
        Filter("partner", gettext_lazy("Client"), as_select=False),
        Filter("agreement", gettext_lazy("Agreement"), as_select=False),
    ),
    ordering=("-date",),
    row_url=lambda o: reverse("sales:orders_edit", args=[o.pk]),
    create_url_name="sales:orders_new",
    queryset=_order_rows,
)


def _period(request: HttpRequest) -> dict[str, Any]:
    """The list's period (`from`, `to`, both days included)."""
    result: dict[str, Any] = {"from": "", "to": "", "start": None, "end": None}
    for key in ("from", "to"):
        day = _day(request.GET.get(key))
        if day is None:
            continue
        result[key] = day.isoformat()
        moment = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        result["start" if key == "from" else "end"] = moment if key == "from" else moment + dt.timedelta(days=1)
    return result


@requires(Cap.SALES_VIEW)
def order_list(request: HttpRequest) -> HttpResponse:
    """Orders with their computed state, % paid and shipped, debt and the overdue flag: a fixed number of queries
    whatever the number of orders (the state is a kept row per order, joined)."""
    qs = _order_rows()
    period = _period(request)
    if period["start"]:
        qs = qs.filter(date__gte=period["start"])
    if period["end"]:
        qs = qs.filter(date__lt=period["end"])
    listing = build_list(request, ORDER_LIST, qs)
    if not has_capability(request.user, Cap.SALES_EDIT):
        listing.create_url = None
    names = [c.name for c in ORDER_LIST.columns]
    rows = [{"obj": row.obj, "url": row.url, "cells": dict(zip(names, row.cells, strict=True))}
            for row in listing.rows]
    context = {"listing": listing, "period": period, "order_rows": rows}
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == "list-table":
        return render(request, "sales/_order_table.html", context)
    return render(request, "sales/order_list.html", context)


def _order_page_error(request: HttpRequest, order: SalesOrder, exc: CoreError, **extra: Any) -> HttpResponse:
    order.refresh_from_db()
    page = document_page(ORDERS, order, _error_text(exc), str(exc.code),
                         409 if exc.code == ErrorCode.CONCURRENT_EDIT else 200)
    page.extra.update(extra)
    return render_document(request, page)


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def order_close(request: HttpRequest, pk: int) -> HttpResponse:
    """Close the order: what is not shipped is cancelled with the reason given."""
    order = get_object_or_404(SalesOrder, pk=pk)
    form = sf.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"].strip() if form.is_valid() else ""
    try:
        services.close_order(order, user=request.user, reason=reason)
    except CoreError as exc:
        return _order_page_error(request, order, exc, reason=form)
    messages.success(request, _("Closed: %(doc)s.") % {"doc": order})
    return HttpResponseRedirect(reverse("sales:orders_edit", args=[order.pk]))


@requires(Cap.SALES_VIEW, Cap.SALES_EDIT)
@require_POST
def order_cancel_lines(request: HttpRequest, pk: int) -> HttpResponse:
    """Cancel the ticked lines (by line code) with a reason; a partly shipped line keeps its shipped part."""
    order = get_object_or_404(SalesOrder, pk=pk)
    form = sf.ReasonForm(request.POST)
    reason = form.cleaned_data["reason"].strip() if form.is_valid() else ""
    codes = sorted({int(c) for c in request.POST.getlist("codes") if c.isdigit()})
    if not codes:
        return _order_page_error(request, order, CoreError(ErrorCode.INVALID, _("Tick the lines to cancel.")),
                                 cancel=form)
    try:
        services.cancel_order_lines(order, codes, reason, user=request.user)
    except CoreError as exc:
        if "cancel_reason" in (exc.fields or {}):
            form.add_error("reason", exc.fields["cancel_reason"])
        return _order_page_error(request, order, exc, cancel=form, cancel_codes=codes)
    messages.success(request, _("Cancelled %(n)s line(s) of %(doc)s.") % {"n": len(codes), "doc": order})
    return HttpResponseRedirect(reverse("sales:orders_edit", args=[order.pk]))


_post_only(order_close)
_post_only(order_cancel_lines)


# ================================================================ approvals
def _inbox(request: HttpRequest, *, errors: dict[int, str] | None = None, comments: dict[int, str] | None = None,
           status: int = 200) -> HttpResponse:
    approvals = services.approval_inbox(request.user)
    rows = [{"approval": a, "error": (errors or {}).get(a.pk, ""), "comment": (comments or {}).get(a.pk, ""),
             "requested_status": next((d.get("requested_status") for d in a.deviations), "")}
            for a in approvals]
    statuses = dict(OrderStatus.choices)
    for row in rows:
        row["requested_status"] = statuses.get(row["requested_status"], "")
    return render(request, "sales/approvals.html", {"rows": rows, "areas": AREAS}, status=status)


@requires(Cap.SALES_APPROVE)
def approval_inbox(request: HttpRequest) -> HttpResponse:
    """Orders waiting for a decision on their deviations from the agreement."""
    return _inbox(request)


@requires(Cap.SALES_APPROVE)
@require_POST
def approval_decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve or reject an order; rejecting needs a comment, which its author reads on the order."""
    approval = get_object_or_404(OrderApproval.objects.select_related("order"), pk=pk)
    form = sf.DecisionForm(request.POST)
    comment = form.cleaned_data["comment"] if form.is_valid() else ""
    decision = request.POST.get("decision", "")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        back = ""
    if decision not in ("approve", "reject"):
        error = _("Choose “Approve” or “Reject”.")
    else:
        try:
            services.decide_approval(approval, approve=decision == "approve", user=request.user, comment=comment)
        except CoreError as exc:
            error = _error_text(exc)
        else:
            text = (_("Approved: %(doc)s.") if decision == "approve" else _("Rejected: %(doc)s."))
            messages.success(request, text % {"doc": approval.order})
            return HttpResponseRedirect(back or reverse("sales:approvals"))
    if back:
        messages.error(request, error)
        return HttpResponseRedirect(back)
    return _inbox(request, errors={approval.pk: error}, comments={approval.pk: comment})


_post_only(approval_decide)


@requires(Cap.REPORTS_SALES)
def deviations_report(request: HttpRequest) -> HttpResponse:
    """Every approval request with its deviations from the agreement: by decision, period and area."""
    form = sf.DeviationsFilterForm(request.GET)
    qs = OrderApproval.objects.select_related("order", "order__partner", "requested_by", "decided_by") \
        .order_by("-requested_at", "-id")
    area = ""
    if form.is_valid():
        data = form.cleaned_data
        if data.get("decision"):
            qs = qs.filter(decision=data["decision"])
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            start, end = end, start
        if start:
            qs = qs.filter(requested_at__gte=timezone.make_aware(dt.datetime.combine(start, dt.time.min)))
        if end:
            qs = qs.filter(requested_at__lt=timezone.make_aware(dt.datetime.combine(end, dt.time.min))
                           + dt.timedelta(days=1))
        area = data.get("area") or ""
    # The deviations are a list inside each approval: areas are counted (and filtered) here, in one pass.
    summary: Counter[str] = Counter()
    decisions: Counter[str] = Counter()
    rows: Any = qs
    if area:
        rows = [a for a in qs if any(d.get("area") == area for d in a.deviations or [])]
        pairs = [(a.deviations, a.decision) for a in rows]
    else:
        pairs = list(qs.values_list("deviations", "decision"))
    for deviations, decision in pairs:
        decisions[decision] += 1
        for d in deviations or []:
            summary[d.get("area", "")] += 1
    page = Paginator(rows, 50).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "sales/deviations.html", {
        "form": form, "page": page, "areas": AREAS, "area": area, "base_query": query.urlencode(),
        "summary": [(AREAS[k], summary.get(k, 0)) for k in AREAS],
        "decisions": [(label, decisions.get(value, 0)) for value, label in OrderApproval.Decision.choices],
    })
