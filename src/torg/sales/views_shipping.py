"""Shipping pages: the shipping backlog, shipments (реализация товаров и услуг), the goods-issue desk of
order-based warehouses and its goods issues.

Thin: they parse the input, check the capability, call `torg.sales.services` and render; every refusal
(`CoreError`) is shown on the page with the user's input kept.
"""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import Counterparty, DeliveryAddress, Item, Partner, Warehouse
from torg.core.documents import post_document, unpost_document
from torg.core.errors import CoreError, ErrorCode
from torg.core.permissions import Cap, has_capability
from torg.sales import services
from torg.sales.models import (
    AgreementStatus,
    GoodsIssue,
    GoodsIssueLine,
    GoodsToIssueTotal,
    OrderBacklogTotal,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    ShipmentLine,
    TradeAgreement,
)
from torg.web.access import requires
from torg.web.document_views import (
    DocumentConfig,
    DocumentLineForm,
    DocumentPage,
    LineColumn,
    _empty_row,
    item_search,
    make_document_views,
)
from torg.web.forms import BootstrapMixin
from torg.web.listing import Column, Filter

ZERO = Decimal(0)
PRINT_FORMS = (("upd", gettext_lazy("UPD")), ("torg12", gettext_lazy("TORG-12")),
               ("invoice", gettext_lazy("VAT invoice")))
DATE = Column("date", gettext_lazy("Date"),
              value=lambda d: date_format(timezone.localtime(d.date), "SHORT_DATETIME_FORMAT"))


def url_or_none(name: str, *args: Any) -> str | None:
    """A page of another area that may not exist yet (print forms, order pages): its URL, or None."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def order_url(order_id: int) -> str | None:
    return url_or_none("sales:orders_edit", order_id)


# ================================================================ shipments
class ShipmentHeaderForm(BootstrapMixin, forms.ModelForm):
    """Clients only; choices hide entries marked for deletion (keeping the chosen one); the counterparty and the
    delivery address must be the client's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, f in self.fields.items():
            if isinstance(f, forms.ModelChoiceField):
                model = f.queryset.model
                if any(x.name == "deletion_mark" for x in model._meta.fields):
                    current = getattr(self.instance, f"{name}_id", None)
                    f.queryset = f.queryset.filter(Q(deletion_mark=False) | Q(pk=current))
        if "partner" in self.fields:
            current = self.instance.partner_id if self.instance.pk else None
            self.fields["partner"].queryset = Partner.objects.filter(
                Q(is_client=True, deletion_mark=False) | Q(pk=current))
        if "agreement" in self.fields:
            current = self.instance.agreement_id if self.instance.pk else None
            self.fields["agreement"].queryset = TradeAgreement.objects.filter(
                Q(status=AgreementStatus.ACTIVE, deletion_mark=False) | Q(pk=current))
        for name in ("counterparty", "delivery_address"):
            if name in self.fields:
                self.fields[name].queryset = self.fields[name].queryset.select_related("partner")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        partner = data.get("partner")
        counterparty: Counterparty | None = data.get("counterparty")
        address: DeliveryAddress | None = data.get("delivery_address")
        if partner and counterparty and counterparty.partner_id != partner.pk:
            self.add_error("counterparty", _("%(cp)s belongs to %(partner)s, not to the client %(client)s: choose one "
                                             "of the client's counterparties or leave it empty.")
                           % {"cp": counterparty, "partner": counterparty.partner, "client": partner})
        if partner and address and address.partner_id != partner.pk:
            self.add_error("delivery_address", _("This address is another partner's: choose one of %(client)s's "
                                                 "addresses or leave it empty.") % {"client": partner})
        return data


class ShipmentLineForm(DocumentLineForm):
    """A shipment line: the order it ships (empty: beyond any order) and the warehouse (empty: the header's)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        order = self.fields["order"]
        order.queryset = SalesOrder.objects.filter(posted=True)  # type: ignore[attr-defined]
        order.empty_label = _("— no order —")  # type: ignore[attr-defined]
        order.error_messages["invalid_choice"] = _("This order is not posted or no longer exists: choose another.")
        warehouse = self.fields["warehouse"]
        warehouse.empty_label = _("as in the header")  # type: ignore[attr-defined]


def _resolve_order_line_codes(shipment: Shipment, lines: list[ShipmentLine]) -> None:
    """Give a line that names an order the code of that order's line for its item (a new line, or one whose
    order or item was changed); a line without an order has code 0. The order line on the same warehouse with
    goods left to ship is preferred. A line whose order has no line for the item keeps 0: the service then
    asks for the right to ship beyond the order."""
    order_ids = {ln.order_id for ln in lines if ln.order_id}
    by_order: dict[int, list[SalesOrderLine]] = defaultdict(list)
    orders: dict[int, SalesOrder] = {}
    left: dict[tuple[int, int], Decimal] = {}
    if order_ids:
        orders = {o.pk: o for o in SalesOrder.objects.filter(pk__in=order_ids)}
        for ol in SalesOrderLine.objects.filter(document_id__in=order_ids, cancelled=False).order_by("line_no"):
            by_order[ol.document_id].append(ol)
        for row in OrderBacklogTotal.objects.filter(order_id__in=order_ids).values("order_id", "line_code",
                                                                                   "quantity"):
            left[(row["order_id"], int(row["line_code"] or 0))] = Decimal(str(row["quantity"]))
    used: set[tuple[int, int]] = set()
    for line in lines:
        if not line.order_id:
            line.order_line_code = 0
            continue
        candidates = [ol for ol in by_order.get(line.order_id, []) if ol.item_id == line.item_id]
        if any(ol.code == line.order_line_code for ol in candidates):
            used.add((line.order_id, line.order_line_code))
            continue
        if not candidates:
            line.order_line_code = 0
            continue
        order = orders.get(line.order_id)
        warehouse = line.warehouse_id or shipment.warehouse_id
        ranked = sorted(
            ((int((line.order_id, ol.code) in used),
              int((ol.warehouse_id or (order.warehouse_id if order else None)) != warehouse),
              int(left.get((line.order_id, ol.code), ZERO) <= 0), ol.line_no, ol) for ol in candidates),
            key=lambda r: r[:4])
        best = ranked[0][-1]
        line.order_line_code = best.code
        used.add((line.order_id, best.code))


@dataclass
class IssueRow:
    """How much of an item of a shipment an order-based warehouse has issued."""

    warehouse: str
    item: str
    shipped: Decimal
    issued: Decimal
    to_issue: Decimal  # negative: issued more than shipped

    @property
    def issued_more(self) -> Decimal:
        return -self.to_issue if self.to_issue < 0 else ZERO


def issue_difference(shipment: Shipment) -> list[IssueRow]:
    """Per item of a posted shipment from an order-based warehouse: shipped, issued and still to issue (from the
    goods-to-issue register)."""
    if not shipment.pk or not shipment.posted:
        return []
    lines = list(ShipmentLine.objects.filter(document_id=shipment.pk).values("item_id", "warehouse_id", "quantity"))
    warehouse_ids = {ln["warehouse_id"] or shipment.warehouse_id for ln in lines}
    order_based = set(Warehouse.objects.filter(pk__in=warehouse_ids, order_based=True).values_list("pk", flat=True))
    if not order_based:
        return []
    shipped: dict[tuple[int, int], Decimal] = defaultdict(lambda: ZERO)
    for ln in lines:
        wh = ln["warehouse_id"] or shipment.warehouse_id
        if wh in order_based:
            shipped[(wh, ln["item_id"])] += ln["quantity"]
    left = {(r["warehouse_id"], r["item_id"]): Decimal(str(r["quantity"])) for r in
            GoodsToIssueTotal.objects.filter(shipment_id=shipment.pk).values("warehouse_id", "item_id", "quantity")}
    issued = {(r["document__warehouse_id"], r["item_id"]): Decimal(str(r["q"])) for r in
              GoodsIssueLine.objects.filter(shipment_id=shipment.pk, document__posted=True)
              .values("document__warehouse_id", "item_id").annotate(q=Sum("quantity")).order_by()}
    keys = sorted(set(shipped) | {k for k, v in left.items() if v})
    names = dict(Item.objects.filter(pk__in={k[1] for k in keys}).values_list("pk", "name"))
    warehouses = dict(Warehouse.objects.filter(pk__in={k[0] for k in keys}).values_list("pk", "name"))
    return [IssueRow(warehouses.get(k[0], ""), names.get(k[1], ""), shipped.get(k, ZERO), issued.get(k, ZERO),
                     left.get(k, ZERO)) for k in keys]


def _order_choices(partner_id: int | None, chosen: set[int]) -> list[tuple[Any, str]]:
    """Orders a line may ship: the client's orders with something left to ship, and those already chosen."""
    open_orders = OrderBacklogTotal.objects.filter(quantity__gt=0).values("order_id")
    wanted = Q(pk__in=open_orders)
    if partner_id:
        wanted &= Q(partner_id=partner_id)
    qs = SalesOrder.objects.filter(wanted | Q(pk__in=chosen)).select_related("partner").order_by("date", "pk")
    label = (lambda o: str(o)) if partner_id else (lambda o: f"{o} · {o.partner.name}")
    return [("", _("— no order —"))] + [(o.pk, label(o)) for o in qs]


def _shipment_context(request: HttpRequest, page: DocumentPage) -> dict[str, Any]:
    """What a shipment page adds: the order and warehouse choices (read once for every line), the print forms
    and the goods-issue difference."""
    doc = page.document
    header = page.header
    partner_raw = header["partner"].value() if "partner" in header.fields else None
    partner_id = int(partner_raw) if str(partner_raw or "").isdigit() else None
    chosen = set()
    for _i, form in page.line_forms:
        raw = form["order"].value()
        if str(raw or "").isdigit():
            chosen.add(int(raw))
    order_choices = _order_choices(partner_id, chosen)
    warehouse_choices = [("", _("as in the header"))] + list(
        Warehouse.objects.filter(deletion_mark=False).values_list("pk", "name"))
    empty = _empty_row(SHIPMENTS)
    for form in [f for _i, f in page.line_forms] + [empty.form]:
        form.fields["order"].choices = order_choices
        form.fields["warehouse"].choices = warehouse_choices
    prints = []
    if doc.pk:
        for kind, label in PRINT_FORMS:
            url = url_or_none("printing:shipment_form", doc.pk, kind)
            if url:
                prints.append((label, url))
    order_links = []
    if doc.pk:
        for o in SalesOrder.objects.filter(pk__in=chosen).order_by("date", "pk"):
            order_links.append((str(o), order_url(o.pk)))
    return {"empty_row": empty, "print_forms": prints, "issue_rows": issue_difference(doc) if doc.pk else [],
            "order_links": order_links, "can_beyond_order": has_capability(request.user, Cap.SALES_BEYOND_ORDER)}


SHIPMENTS = DocumentConfig(
    key="shipments", namespace="shipping", model=Shipment, line_model=ShipmentLine,
    header_fields=("date", "organization", "partner", "counterparty", "agreement", "warehouse", "delivery_address",
                   "due_date", "prices_include_vat", "comment"),
    header_form=ShipmentHeaderForm,
    line_columns=(
        LineColumn("item"),
        LineColumn("order", gettext_lazy("Order")),
        LineColumn("order_line_code", gettext_lazy("Order line"), computed=True),
        LineColumn("warehouse", gettext_lazy("Warehouse")),
        LineColumn("quantity", total=True),
        LineColumn("price"),
        LineColumn("discount_percent", role="discount"),
        LineColumn("amount", computed=True, total=True),
        LineColumn("vat_rate"),
        LineColumn("vat_amount", computed=True, total=True),
    ),
    hidden_line_fields=("order_line_code",),
    line_form=ShipmentLineForm,
    save=services.save_shipment, post=services.post_shipment, unpost=services.unpost_shipment,
    view_cap=Cap.SALES_VIEW, edit_cap=Cap.SALES_SHIP, post_cap=Cap.SALES_SHIP,
    item_search_url_name="shipping:item_search", item_search_params=("agreement", "date"),
    prepare_lines=_resolve_order_line_codes,
    form_template="sales/shipping_shipment_form.html", extra_context=_shipment_context,
    list_columns=(
        Column("number", gettext_lazy("Number"), link=True), DATE,
        Column("organization__name", gettext_lazy("Organization")),
        Column("partner__name", gettext_lazy("Client")),
        Column("warehouse__name", gettext_lazy("Warehouse")),
        Column("amount", gettext_lazy("Amount"), align_end=True),
        Column("due_date", gettext_lazy("Payment due")),
        Column("posted", gettext_lazy("Posted")),
    ),
    list_filters=(Filter("organization"), Filter("partner"), Filter("warehouse"), Filter("posted")),
    list_queryset=lambda: Shipment.objects.select_related("organization", "partner", "warehouse"),
    search_fields=("number", "comment", "partner__name"),
)


@requires(Cap.SALES_VIEW)
def item_search_view(request: HttpRequest) -> JsonResponse:
    """Items for a shipment's lines, with the price of the chosen agreement's price type."""
    response = item_search(request, Item.objects.filter(deletion_mark=False))
    agreement_id = request.GET.get("agreement", "")
    if not agreement_id.isdigit():
        return response
    agreement = TradeAgreement.objects.filter(pk=int(agreement_id)).first()
    if agreement is None:
        return response
    data = json.loads(response.content)
    try:
        day = parse_date(request.GET.get("date", "")[:10]) or timezone.localdate()
    except ValueError:  # well formed, but no such day
        day = timezone.localdate()
    prices = services.agreement_prices(agreement, [i["id"] for i in data["items"]], day)
    for item in data["items"]:
        price = prices.get(item["id"])
        item["price"] = str(price) if price is not None else None
        item["discount"] = str(agreement.discount_percent) if agreement.discount_percent else None
    return JsonResponse(data)


# ================================================================ shipping backlog
class BacklogFilterForm(BootstrapMixin, forms.Form):
    until = forms.DateField(label=gettext_lazy("Ship by"), required=False, widget=forms.DateInput())
    warehouse = forms.ModelChoiceField(label=gettext_lazy("Warehouse"), required=False,
                                       queryset=Warehouse.objects.filter(deletion_mark=False),
                                       empty_label=gettext_lazy("All warehouses"))
    partner = forms.ModelChoiceField(label=gettext_lazy("Client"), required=False,
                                     queryset=Partner.objects.filter(is_client=True, deletion_mark=False),
                                     empty_label=gettext_lazy("All clients"))

    def values(self) -> dict[str, Any]:
        d = self.cleaned_data if self.is_valid() else {}
        return {"until": d.get("until"), "warehouse": d["warehouse"].pk if d.get("warehouse") else None,
                "partner": d["partner"].pk if d.get("partner") else None}


@dataclass
class BacklogGroup:
    ship_by: dt.date | None
    warehouse: str
    rows: list[Any] = field(default_factory=list)


def _groups(rows: list[services.BacklogRow]) -> list[BacklogGroup]:
    groups: list[BacklogGroup] = []
    for row in rows:  # already sorted by date and warehouse
        if not groups or (groups[-1].ship_by, groups[-1].warehouse) != (row.ship_by, row.warehouse):
            groups.append(BacklogGroup(row.ship_by, row.warehouse))
        groups[-1].rows.append(row)
    return groups


def _parse_quantity(raw: str) -> Decimal | None:
    try:
        value = Decimal(raw.replace(" ", "").replace("\u00a0", "").replace(",", "."))
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def _pick_key(order_id: int, line_code: int) -> str:
    return f"{order_id}:{line_code}"


@requires(Cap.SALES_VIEW, write=(Cap.SALES_SHIP,))
def backlog_view(request: HttpRequest) -> HttpResponse:
    """Order lines released to ship and not yet shipped; "Create shipments" ships the ticked lines."""
    filters = BacklogFilterForm(request.GET or None)
    picked: set[str] = set()
    quantities: dict[str, str] = {}
    errors: list[str] = []
    error_code = ""
    if request.method == "POST":
        picks = []
        for value in request.POST.getlist("pick"):
            order_raw, _sep, code_raw = value.partition(":")
            if not (order_raw.isdigit() and code_raw.isdigit()):
                continue
            key = _pick_key(int(order_raw), int(code_raw))
            picked.add(key)
            raw = request.POST.get(f"qty-{key}", "").strip()
            quantities[key] = raw
            quantity = _parse_quantity(raw) if raw else None
            if raw and (quantity is None or quantity <= 0):
                errors.append(_("“%(raw)s” is not a quantity to ship: enter a number above zero, or leave it empty "
                                "to ship all that is left.") % {"raw": raw})
                continue
            picks.append(services.Pick(int(order_raw), int(code_raw), quantity))
        for key in request.POST:
            if key.startswith("qty-") and key[4:] not in quantities:
                quantities[key[4:]] = request.POST[key].strip()
        if not picked:
            errors.append(_("Tick the lines to ship first."))
            error_code = ErrorCode.INVALID
        if not errors:
            try:
                shipments = services.create_shipments_from_backlog(
                    picks, user=request.user, post=request.POST.get("post") == "on")
            except CoreError as exc:
                errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
                error_code = str(exc.code)
            else:
                if len(shipments) == 1:
                    messages.success(request, _("Created: %(doc)s.") % {"doc": shipments[0]})
                    return HttpResponseRedirect(SHIPMENTS.url("edit", shipments[0].pk))
                messages.success(request, _("Created %(n)s shipments.") % {"n": len(shipments)})
                query = request.GET.copy()
                query["created"] = ",".join(str(s.pk) for s in shipments)
                return HttpResponseRedirect(f"{reverse('shipping:backlog')}?{query.urlencode()}")
        else:
            error_code = error_code or ErrorCode.INVALID
    params = filters.values()
    rows = services.shipping_backlog(warehouse=params["warehouse"], until=params["until"],
                                     partner=params["partner"])
    for row in rows:
        row.key = _pick_key(row.order_id, row.line_code)  # type: ignore[attr-defined]
        row.order_url = order_url(row.order_id)  # type: ignore[attr-defined]
        row.typed = quantities.get(row.key, "")  # type: ignore[attr-defined]
    created_ids = [int(x) for x in request.GET.get("created", "").split(",") if x.isdigit()]
    created = [(str(s), SHIPMENTS.url("edit", s.pk)) for s in Shipment.objects.filter(pk__in=created_ids)]
    query = request.GET.copy()
    query.pop("created", None)
    return render(request, "sales/shipping_backlog.html", {
        "filters": filters, "groups": _groups(rows), "row_count": len(rows), "picked": picked,
        "errors": errors, "error_code": error_code, "created": created, "query": query.urlencode(),
        "can_ship": has_capability(request.user, Cap.SALES_SHIP),
        "can_override_payment": has_capability(request.user, Cap.SALES_OVERRIDE_PAYMENT),
        "post_checked": request.method != "POST" or request.POST.get("post") == "on",
        "awaiting_count": sum(1 for r in rows if r.awaiting_prepayment),
    })


# ================================================================ goods issue
def _refuse_editing(document: Any, lines: Any, **kwargs: Any) -> Any:
    raise CoreError(ErrorCode.INVALID, _("A goods issue is made on the goods-issue desk from the shipments waiting "
                                         "there; it is not written by hand."))


def _issue_locked(doc: Any) -> str:
    return _("A goods issue records what the warehouse handed over for its shipments; it is made on the goods-issue "
             "desk. To correct it, unpost it: its shipments wait on the desk again.")


GOODS_ISSUES = DocumentConfig(
    key="goods_issues", namespace="shipping", model=GoodsIssue, line_model=GoodsIssueLine,
    header_fields=("date", "organization", "warehouse", "comment"),
    line_columns=(
        LineColumn("item"),
        LineColumn("shipment", gettext_lazy("Shipment"), value=lambda ln: ln.shipment if ln.shipment_id else ""),
        LineColumn("quantity", computed=True, total=True),
    ),
    save=_refuse_editing, post=post_document, unpost=unpost_document, locked=_issue_locked,
    view_cap=Cap.STOCK_VIEW, edit_cap=Cap.GOODS_ISSUE, post_cap=Cap.GOODS_ISSUE,
    list_columns=(
        Column("number", gettext_lazy("Number"), link=True), DATE,
        Column("organization__name", gettext_lazy("Organization")),
        Column("warehouse__name", gettext_lazy("Warehouse")),
        Column("posted", gettext_lazy("Posted")),
    ),
    list_filters=(Filter("organization"), Filter("warehouse"), Filter("posted")),
    list_queryset=lambda: GoodsIssue.objects.select_related("organization", "warehouse"),
)


@dataclass
class WaitingShipment:
    shipment: Shipment
    url: str
    warehouse: str
    items: list[dict[str, Any]] = field(default_factory=list)

    @property
    def can_issue(self) -> bool:
        return any(i["quantity"] > 0 for i in self.items)


def _waiting(warehouse_id: int | None, typed: dict[str, str]) -> list[WaitingShipment]:
    rows = services.goods_to_issue(warehouse=warehouse_id)
    shipments = {s.pk: s for s in Shipment.objects.filter(pk__in={r["shipment_id"] for r in rows})
                 .select_related("partner")}
    names = dict(Item.objects.filter(pk__in={r["item_id"] for r in rows}).values_list("pk", "name"))
    warehouses = dict(Warehouse.objects.filter(pk__in={r["warehouse_id"] for r in rows}).values_list("pk", "name"))
    result: dict[int, WaitingShipment] = {}
    for r in rows:
        shipment = shipments.get(r["shipment_id"])
        if shipment is None:
            continue
        entry = result.get(shipment.pk)
        if entry is None:
            entry = result[shipment.pk] = WaitingShipment(shipment, SHIPMENTS.url("edit", shipment.pk),
                                                          warehouses.get(r["warehouse_id"], ""))
        key = f"{shipment.pk}-{r['item_id']}"
        quantity = Decimal(str(r["quantity"]))
        entry.items.append({"key": key, "item": names.get(r["item_id"], ""), "quantity": quantity,
                            "more": -quantity if quantity < 0 else ZERO, "typed": typed.get(key, "")})
    return sorted(result.values(), key=lambda w: (w.shipment.date, w.shipment.pk))


class IssueFilterForm(BootstrapMixin, forms.Form):
    warehouse = forms.ModelChoiceField(label=gettext_lazy("Warehouse"), required=False,
                                       queryset=Warehouse.objects.filter(order_based=True, deletion_mark=False),
                                       empty_label=gettext_lazy("All order-based warehouses"))


@requires(Cap.GOODS_ISSUE)
def goods_issue_desk(request: HttpRequest) -> HttpResponse:
    """Shipments from order-based warehouses waiting for their goods; "Issue goods" makes the goods issues."""
    filters = IssueFilterForm(request.GET or None)
    warehouse = filters.cleaned_data.get("warehouse") if filters.is_valid() else None
    selected: set[int] = set()
    typed: dict[str, str] = {}
    errors: list[str] = []
    error_code = ""
    if request.method == "POST":
        selected = {int(v) for v in request.POST.getlist("shipment") if v.isdigit()}
        quantities: dict[tuple[int, int], Decimal] = {}
        for key, raw in request.POST.items():
            if not key.startswith("qty-"):
                continue
            shipment_raw, _sep, item_raw = key[4:].partition("-")
            if not (shipment_raw.isdigit() and item_raw.isdigit()):
                continue
            typed[key[4:]] = raw.strip()
            if int(shipment_raw) not in selected or not raw.strip():
                continue
            quantity = _parse_quantity(raw.strip())
            if quantity is None or quantity < 0:
                errors.append(_("“%(raw)s” is not a quantity issued: enter a number, zero or more.")
                              % {"raw": raw.strip()})
                continue
            quantities[(int(shipment_raw), int(item_raw))] = quantity
        if not selected:
            errors.append(_("Tick the shipments whose goods are issued."))
        if errors:
            error_code = ErrorCode.INVALID
        else:
            try:
                issues = services.issue_goods(sorted(selected), user=request.user, quantities=quantities)
            except CoreError as exc:
                errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
                error_code = str(exc.code)
            else:
                if not issues:
                    errors, error_code = [_("Every quantity is zero: nothing would be issued.")], ErrorCode.INVALID
                else:
                    messages.success(request, _("Goods issued: %(docs)s.") % {"docs": "; ".join(map(str, issues))})
                    if len(issues) == 1:
                        return HttpResponseRedirect(GOODS_ISSUES.url("edit", issues[0].pk))
                    return HttpResponseRedirect(GOODS_ISSUES.url("list"))
    waiting = _waiting(warehouse.pk if warehouse else None, typed)
    return render(request, "sales/goods_issue_desk.html", {
        "filters": filters, "waiting": waiting, "selected": selected, "errors": errors, "error_code": error_code,
    })


def goods_issue_urls() -> list[URLPattern]:
    """The goods issues' list and read pages with post / unpost; "new" is the desk (issues are made from the
    shipments waiting there)."""
    v = make_document_views(GOODS_ISSUES)
    p, k = GOODS_ISSUES.url_path, GOODS_ISSUES.key
    return [
        path(f"{p}/", v["list"], name=f"{k}_list"),
        path(f"{p}/new/", goods_issue_desk, name=f"{k}_new"),
        path(f"{p}/<int:pk>/", v["edit"], name=f"{k}_edit"),
        path(f"{p}/<int:pk>/post/", v["post"], name=f"{k}_post"),
        path(f"{p}/<int:pk>/unpost/", v["unpost"], name=f"{k}_unpost"),
    ]
