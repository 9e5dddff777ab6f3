"""Catalog pages: one list and one edit page per catalog, built from `CatalogSpec`s.

Views are thin: they parse the form, check the capability, call `catalogs.services`, render.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from torg.catalogs import forms as cf
from torg.catalogs.models import (
    BankAccount,
    CashDesk,
    Contact,
    Counterparty,
    DeliveryAddress,
    Item,
    ItemGroup,
    ItemPrice,
    Organization,
    Partner,
    PriceType,
    Unit,
    Warehouse,
)
from torg.catalogs.selectors import current_prices
from torg.catalogs.services import (
    delete_item_price,
    save_catalog_entry,
    save_item,
    set_catalog_deletion_mark,
)
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.permissions import Cap, has_capability
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list


@dataclass
class Related:
    """A table of entries belonging to the one on the page (a partner's contacts…), with an "Add" link."""

    title: str | Promise
    rows: list[tuple[str, str, str]]  # (url, text, detail)
    add_url: str | None


@dataclass(frozen=True)
class CatalogSpec:
    key: str  # url names: catalogs:<key>_list, _new, _edit, _mark
    path: str  # URL segment
    model: type[Model]
    form: type[cf.CatalogForm]
    edit_cap: str
    columns: tuple[Column, ...]
    search_fields: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    ordering: tuple[str, ...] = ()
    queryset: Callable[[], QuerySet] | None = None
    title: str | Promise | None = None
    preset: tuple[str, ...] = ()  # fields a "New" link may fill from the query string (?partner=12)
    related: Callable[[Any, Any], list[Related]] | None = None  # (obj, user) -> blocks under the form
    markable: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def rows(self) -> QuerySet:
        return self.queryset() if self.queryset else self.model._default_manager.all()

    def listing(self) -> ListConfig:
        return ListConfig(
            model=self.model, columns=self.columns, title=self.title, search_fields=self.search_fields,
            filters=self.filters, ordering=self.ordering, queryset=self.rows,
            row_url=lambda obj: reverse(f"catalogs:{self.key}_edit", args=[obj.pk]),
            create_url_name=f"catalogs:{self.key}_new",
        )

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)


def _add_url(key: str, **preset: Any) -> str:
    query = "&".join(f"{k}={v}" for k, v in preset.items())
    return reverse(f"catalogs:{key}_new") + (f"?{query}" if query else "")


def _url(key: str, pk: int) -> str:
    return reverse(f"catalogs:{key}_edit", args=[pk])


# ----------------------------------------------------------------- related blocks
def _partner_related(partner: Partner, user: Any) -> list[Related]:
    can = has_capability(user, Cap.CATALOGS_EDIT)
    return [
        Related(gettext_lazy("Counterparties"),
                [(_url("counterparties", c.pk), c.name, " ".join(x for x in (c.inn, c.kpp) if x))
                 for c in partner.counterparties.all()],
                _add_url("counterparties", partner=partner.pk) if can else None),
        Related(gettext_lazy("Contacts"),
                [(_url("contacts", c.pk), c.name, " · ".join(x for x in (c.position, c.phone, c.email) if x))
                 for c in partner.contacts.all()],
                _add_url("contacts", partner=partner.pk) if can else None),
        Related(gettext_lazy("Delivery addresses"),
                [(_url("addresses", a.pk), a.address, a.comment) for a in partner.delivery_addresses.all()],
                _add_url("addresses", partner=partner.pk) if can else None),
    ]


def _counterparty_related(counterparty: Counterparty, user: Any) -> list[Related]:
    can = has_capability(user, Cap.CATALOGS_EDIT)
    return [
        Related(gettext_lazy("Partner"), [(_url("partners", counterparty.partner_id), str(counterparty.partner), "")],
                None),
        Related(gettext_lazy("Bank accounts"),
                [(_url("counterparty_accounts", b.pk), b.number, " ".join(x for x in (b.bank_name, b.bik) if x))
                 for b in counterparty.bank_accounts.all()],
                _add_url("counterparty_accounts", counterparty=counterparty.pk) if can else None),
    ]


def _organization_related(organization: Organization, user: Any) -> list[Related]:
    can = has_capability(user, Cap.COMPANY_EDIT)
    return [
        Related(gettext_lazy("Bank accounts"),
                [(_url("organization_accounts", b.pk), b.number, " ".join(x for x in (b.bank_name, b.bik) if x))
                 for b in organization.bank_accounts.all()],
                _add_url("organization_accounts", organization=organization.pk) if can else None),
        Related(gettext_lazy("Cash desks"),
                [(_url("cash_desks", c.pk), c.name, c.currency) for c in organization.cash_desks.all()],
                _add_url("cash_desks", organization=organization.pk) if can else None),
    ]


def _item_related(item: Item, user: Any) -> list[Related]:
    today = timezone.localdate()
    rows = [(reverse("catalogs:prices_list") + f"?item={item.pk}&price_type={pt.pk}", str(pt),
             _("%(price)s from %(date)s") % {"price": number_format(price, 2), "date": valid_from.strftime("%d.%m.%Y")})
            for pt, price, valid_from in current_prices(item, today)]
    can = has_capability(user, Cap.CATALOGS_EDIT)
    return [Related(gettext_lazy("Prices today"), rows, _add_url("prices", item=item.pk) if can else None)]


# ----------------------------------------------------------------- the catalogs
SPECS: tuple[CatalogSpec, ...] = (
    CatalogSpec(
        "organizations", "organizations", Organization, cf.OrganizationForm, Cap.COMPANY_EDIT,
        (Column("name", link=True), Column("prefix"), Column("inn"), Column("kpp"), Column("tax_system"),
         Column("vat_payer")),
        search_fields=("name", "full_name", "inn"), filters=(Filter("vat_payer"), Filter("deletion_mark")),
        related=_organization_related,
    ),
    CatalogSpec(
        "partners", "partners", Partner, cf.PartnerForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True), Column("is_client"), Column("is_supplier"), Column("phone"), Column("email"),
         Column("address", sortable=False)),
        search_fields=("name", "phone", "email", "counterparties__inn"),
        filters=(Filter("is_client"), Filter("is_supplier"), Filter("deletion_mark")),
        related=_partner_related,
    ),
    CatalogSpec(
        "counterparties", "counterparties", Counterparty, cf.CounterpartyForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True), Column("partner__name", gettext_lazy("Partner")), Column("legal_form"),
         Column("inn"), Column("kpp")),
        search_fields=("name", "full_name", "inn", "partner__name"),
        filters=(Filter("legal_form"), Filter("deletion_mark")),
        queryset=lambda: Counterparty.objects.select_related("partner"), preset=("partner",),
        related=_counterparty_related,
    ),
    CatalogSpec(
        "contacts", "contacts", Contact, cf.ContactForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True), Column("partner__name", gettext_lazy("Partner")), Column("position"),
         Column("phone"), Column("email")),
        search_fields=("name", "phone", "email", "partner__name"), filters=(Filter("deletion_mark"),),
        queryset=lambda: Contact.objects.select_related("partner"), preset=("partner",),
    ),
    CatalogSpec(
        "addresses", "delivery-addresses", DeliveryAddress, cf.DeliveryAddressForm, Cap.CATALOGS_EDIT,
        (Column("address", link=True), Column("partner__name", gettext_lazy("Partner")),
         Column("comment", sortable=False)),
        search_fields=("address", "partner__name"), filters=(Filter("deletion_mark"),),
        queryset=lambda: DeliveryAddress.objects.select_related("partner"), preset=("partner",),
    ),
    CatalogSpec(
        "items", "items", Item, cf.ItemForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True), Column("sku"), Column("kind"), Column("group__name", gettext_lazy("Group")),
         Column("unit__name", gettext_lazy("Unit")), Column("vat_rate"), Column("weight_kg"),
         Column("volume_m3")),
        search_fields=("name", "sku", "barcodes__code"),
        filters=(Filter("kind"), Filter("group"), Filter("vat_rate"), Filter("deletion_mark")),
        queryset=lambda: Item.objects.select_related("unit", "group"), preset=("group",),
        related=_item_related,
    ),
    CatalogSpec(
        "item_groups", "item-groups", ItemGroup, cf.ItemGroupForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True),), search_fields=("name",), filters=(Filter("deletion_mark"),),
    ),
    CatalogSpec(
        "units", "units", Unit, cf.UnitForm, Cap.CATALOGS_EDIT,
        (Column("name", link=True), Column("code"), Column("full_name"), Column("international_name")),
        search_fields=("name", "code", "full_name"),
    ),
    CatalogSpec(
        "warehouses", "warehouses", Warehouse, cf.WarehouseForm, Cap.COMPANY_EDIT,
        (Column("name", link=True), Column("order_based"), Column("is_retail_store"),
         Column("address", sortable=False)),
        search_fields=("name", "address"),
        filters=(Filter("order_based"), Filter("is_retail_store"), Filter("deletion_mark")),
    ),
    CatalogSpec(
        "price_types", "price-types", PriceType, cf.PriceTypeForm, Cap.COMPANY_EDIT,
        (Column("name", link=True), Column("includes_vat"), Column("currency")), search_fields=("name",),
    ),
    CatalogSpec(
        "prices", "prices", ItemPrice, cf.ItemPriceForm, Cap.CATALOGS_EDIT,
        (Column("item__name", gettext_lazy("Item"), link=True), Column("price_type__name", gettext_lazy("Price type")),
         Column("valid_from"), Column("price")),
        search_fields=("item__name", "item__sku"), filters=(Filter("price_type"), Filter("item", as_select=False)),
        ordering=("item__name", "price_type__name", "-valid_from"),
        queryset=lambda: ItemPrice.objects.select_related("item", "price_type"), preset=("item", "price_type"),
        markable=False,
    ),
    CatalogSpec(
        "cash_desks", "cash-desks", CashDesk, cf.CashDeskForm, Cap.COMPANY_EDIT,
        (Column("name", link=True), Column("organization__name", gettext_lazy("Organization")), Column("currency")),
        search_fields=("name",), filters=(Filter("organization"), Filter("deletion_mark")),
        queryset=lambda: CashDesk.objects.select_related("organization"), preset=("organization",),
    ),
    CatalogSpec(
        "organization_accounts", "organization-accounts", BankAccount, cf.OrganizationAccountForm, Cap.COMPANY_EDIT,
        (Column("number", link=True), Column("organization__name", gettext_lazy("Organization")),
         Column("name"), Column("bank_name"), Column("bik")),
        search_fields=("number", "name", "bank_name", "bik"), filters=(Filter("organization"),),
        queryset=lambda: BankAccount.objects.filter(organization__isnull=False).select_related("organization"),
        title=gettext_lazy("Bank accounts of our organizations"), preset=("organization",),
    ),
    CatalogSpec(
        "counterparty_accounts", "counterparty-accounts", BankAccount, cf.CounterpartyAccountForm,
        Cap.CATALOGS_EDIT,
        (Column("number", link=True), Column("counterparty__name", gettext_lazy("Counterparty")),
         Column("name"), Column("bank_name"), Column("bik")),
        search_fields=("number", "name", "bank_name", "bik", "counterparty__name"),
        queryset=lambda: BankAccount.objects.filter(counterparty__isnull=False).select_related("counterparty"),
        title=gettext_lazy("Bank accounts of counterparties"), preset=("counterparty",),
    ),
)
SPECS_BY_KEY = {s.key: s for s in SPECS}


# ----------------------------------------------------------------- generic views
def _change_label(model: type[Model], name: str) -> str:
    """What a change-log key means to a person: the field's verbose name ("group_id" → "group")."""
    if name == "barcodes":
        return _("barcodes")
    field = next((f for f in model._meta.concrete_fields if name in (f.attname, f.name)), None)
    return str(field.verbose_name) if field is not None else name


def _history(obj: Model) -> list[ChangeLogEntry]:
    ct = ContentType.objects.get_for_model(obj)
    entries = list(ChangeLogEntry.objects.filter(content_type=ct, object_id=obj.pk).select_related("user")[:10])
    for entry in entries:
        entry.change_labels = [_change_label(type(obj), name) for name in entry.changes or {}]  # type: ignore[attr-defined]
    return entries


def _initial_from_query(spec: CatalogSpec, request: HttpRequest) -> dict[str, Any]:
    return {name: request.GET[name] for name in spec.preset if request.GET.get(name, "").isdigit()}


def _render_edit(request: HttpRequest, spec: CatalogSpec, obj: Model, form: cf.CatalogForm,
                 barcodes: Any = None, status: int = 200) -> HttpResponse:
    can_edit = has_capability(request.user, spec.edit_cap)
    if not can_edit:
        for f in form.fields.values():
            f.disabled = True
        if barcodes is not None:
            for bf in barcodes.forms:
                for f in bf.fields.values():
                    f.disabled = True
    context = {
        "spec": spec, "obj": obj, "form": form, "barcodes": barcodes, "can_edit": can_edit,
        "list_url": reverse(f"catalogs:{spec.key}_list"),
        "list_title": spec.title or str(spec.model._meta.verbose_name_plural).capitalize(),
        "mark_url": reverse(f"catalogs:{spec.key}_mark", args=[obj.pk]) if obj.pk else None,
        "related": spec.related(obj, request.user) if (spec.related and obj.pk) else [],
        "history": _history(obj) if obj.pk else [],
        "title": str(obj) if obj.pk else _("New: %(kind)s") % {"kind": spec.verbose_name},
    }
    return render(request, "catalogs/edit.html", context, status=status)


def _save(request: HttpRequest, spec: CatalogSpec, obj: Model) -> HttpResponse:
    form = spec.form(request.POST, instance=obj)
    barcodes = cf.barcode_formset(obj, request.POST) if spec.model is Item else None
    valid = form.is_valid()
    if barcodes is not None:
        valid = barcodes.is_valid() and valid
    if valid:
        is_new = obj.pk is None
        try:
            if barcodes is not None:
                saved = save_item(form.instance, barcodes.codes(), request.user, form.expected_version)
            else:
                saved = save_catalog_entry(form.instance, request.user, form.expected_version, validate=False)
        except CoreError as exc:
            if exc.code == ErrorCode.INVALID and exc.fields:
                for name, msgs in exc.fields.items():
                    if name == "barcodes" and barcodes is not None:
                        barcodes._non_form_errors = barcodes.error_class(msgs)  # noqa: SLF001
                    else:
                        form.add_error(name if name in form.fields else None, msgs)
            else:
                form.add_error(None, exc.message)
            return _render_edit(request, spec, obj, form, barcodes, status=409 if exc.code ==
                                ErrorCode.CONCURRENT_EDIT else 200)
        messages.success(request, (_("Created: %(obj)s.") if is_new else _("Saved: %(obj)s.")) % {"obj": saved})
        if "save_close" in request.POST:
            return HttpResponseRedirect(reverse(f"catalogs:{spec.key}_list"))
        return HttpResponseRedirect(reverse(f"catalogs:{spec.key}_edit", args=[saved.pk]))
    return _render_edit(request, spec, obj, form, barcodes)


def make_views(spec: CatalogSpec) -> dict[str, Callable[..., HttpResponse]]:
    listing = spec.listing()

    @requires(Cap.CATALOGS_VIEW)
    def list_view(request: HttpRequest) -> HttpResponse:
        return render_list(request, listing, can_create=has_capability(request.user, spec.edit_cap))

    @requires(Cap.CATALOGS_VIEW, spec.edit_cap)
    def new_view(request: HttpRequest) -> HttpResponse:
        obj = spec.model()
        if request.method == "POST":
            return _save(request, spec, obj)
        form = spec.form(instance=obj, initial=_initial_from_query(spec, request))
        barcodes = cf.barcode_formset(obj) if spec.model is Item else None
        return _render_edit(request, spec, obj, form, barcodes)

    @requires(Cap.CATALOGS_VIEW, write=(spec.edit_cap,))
    def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(spec.rows(), pk=pk)
        if request.method == "POST":
            return _save(request, spec, obj)
        barcodes = cf.barcode_formset(obj) if spec.model is Item else None
        return _render_edit(request, spec, obj, spec.form(instance=obj), barcodes)

    @requires(Cap.CATALOGS_VIEW, spec.edit_cap)
    @require_POST
    def mark_view(request: HttpRequest, pk: int) -> HttpResponse:
        obj = get_object_or_404(spec.rows(), pk=pk)
        if spec.model is ItemPrice:
            delete_item_price(obj, request.user)  # type: ignore[arg-type]
            messages.success(request, _("The price record was deleted."))
            return HttpResponseRedirect(reverse(f"catalogs:{spec.key}_list"))
        if not spec.markable:
            raise Http404
        mark = request.POST.get("mark", "1") == "1"
        set_catalog_deletion_mark(obj, mark, request.user)  # type: ignore[arg-type]
        messages.success(request, (_("“%(obj)s” is marked for deletion.") if mark
                                   else _("The deletion mark of “%(obj)s” is removed.")) % {"obj": obj})
        return HttpResponseRedirect(reverse(f"catalogs:{spec.key}_edit", args=[obj.pk]))

    mark_view.post_only = True  # type: ignore[attr-defined]
    return {"list": list_view, "new": new_view, "edit": edit_view, "mark": mark_view}

