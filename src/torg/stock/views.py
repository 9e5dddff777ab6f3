"""Stock document pages: the generic document form and list (`torg.web.document_views`) configured
for opening balances, purchases, transfers, write-offs, surpluses and stock counts.

Every change goes through `torg.stock.services`.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import Item
from torg.core.documents import Document
from torg.core.money import round_money
from torg.core.permissions import Cap
from torg.printing.services import amount_in_words
from torg.stock import models as sm
from torg.stock import services
from torg.stock.forms import PurchaseHeaderForm, StockHeaderForm
from torg.web.access import requires
from torg.web.document_views import DocumentAction, DocumentConfig, LineColumn, item_search
from torg.web.listing import Column, Filter

DATE_ORG = ("date", "organization")
DATE = Column("date", gettext_lazy("Date"),
              value=lambda d: date_format(timezone.localtime(d.date), "SHORT_DATETIME_FORMAT"))


def _stock_config(**kwargs: Any) -> DocumentConfig:
    kwargs.setdefault("header_form", StockHeaderForm)
    kwargs.setdefault("post", services.post)
    kwargs.setdefault("unpost", services.unpost)
    return DocumentConfig(
        namespace="stock", save=services.save_stock_document,
        view_cap=Cap.STOCK_VIEW, edit_cap=Cap.STOCK_EDIT, post_cap=Cap.STOCK_POST,
        item_search_url_name="stock:item_search", print_template="stock/print/document.html",
        print_context=lambda doc: print_context(doc), **kwargs,
    )


def _list_columns(*warehouse: Column, amount: bool = True) -> tuple[Column, ...]:
    columns = [
        Column("number", gettext_lazy("Number"), link=True),
        DATE,
        Column("organization__name", gettext_lazy("Organization")),
        *warehouse,
    ]
    if amount:
        columns.append(Column("total_amount", gettext_lazy("Amount"), value=lambda d: round_money(d.total_amount or 0),
                              sort_by="total_amount", align_end=True))
    columns.append(Column("posted", gettext_lazy("Posted")))
    return tuple(columns)


def _queryset(model: type[Document], *related: str, amount: bool = True) -> Any:
    def make() -> Any:
        qs = model._default_manager.select_related("organization", *related)
        return qs.annotate(total_amount=Sum("lines__amount")) if amount else qs

    return make


WAREHOUSE = Column("warehouse__name", gettext_lazy("Warehouse"))
FILTERS = (Filter("organization"), Filter("warehouse"), Filter("posted"))

# ------------------------------------------------------------------ stock counts
def _count_book_quantities(count: sm.StockCount, lines: list[sm.StockCountLine]) -> None:
    """Book quantities are never taken from the browser: read them from the stock register."""
    if not count.warehouse_id:
        return
    books = services.book_quantities(count, [ln.item_id for ln in lines if ln.item_id])
    for line in lines:
        line.book_quantity = books.get(line.item_id, Decimal(0))


def _count_locked(count: sm.StockCount) -> str:
    if count.status == sm.StockCount.Status.COMPLETED:
        return _("This stock count is completed: its differences became the write-off and surplus shown under "
                 "“Based on this”. It can no longer be changed.")
    return ""


def _fill(count: sm.StockCount, user: Any) -> str:
    services.fill_stock_count(count, user=user)
    return _("Filled from stock: book quantities of %(warehouse)s at %(doc)s; "
             "counted quantities start equal to them.") % {"warehouse": count.warehouse, "doc": count}


def _complete(count: sm.StockCount, user: Any) -> str:
    write_off, surplus = services.complete_stock_count(count, user=user)
    made = [str(d) for d in (write_off, surplus) if d is not None]
    if not made:
        return _("Completed: counted quantities equal the book quantities, nothing to write off or add.")
    return _("Completed: created and posted %(docs)s.") % {"docs": "; ".join(made)}


def _not_completed(count: Any) -> bool:
    return count.status != sm.StockCount.Status.COMPLETED


# ------------------------------------------------------------------ the documents
OPENING_BALANCES = _stock_config(
    key="opening_balances", model=sm.OpeningBalance, line_model=sm.OpeningBalanceLine,
    header_fields=(*DATE_ORG, "warehouse", "comment"),
    line_columns=(LineColumn("item"), LineColumn("quantity", total=True), LineColumn("price"),
                  LineColumn("amount", computed=True, total=True)),
    list_columns=_list_columns(WAREHOUSE), list_filters=FILTERS,
    list_queryset=_queryset(sm.OpeningBalance, "warehouse"),
)
PURCHASES = _stock_config(
    key="purchases", model=sm.Purchase, line_model=sm.PurchaseLine, header_form=PurchaseHeaderForm,
    header_fields=(*DATE_ORG, "supplier", "counterparty", "warehouse", "supplier_invoice", "prices_include_vat",
                   "comment"),
    line_columns=(LineColumn("item"), LineColumn("quantity", total=True), LineColumn("price"),
                  LineColumn("amount", computed=True, total=True), LineColumn("vat_rate"),
                  LineColumn("vat_amount", computed=True, total=True)),
    list_columns=_list_columns(Column("supplier__name", gettext_lazy("Supplier")), WAREHOUSE),
    list_filters=(*FILTERS, Filter("supplier")),
    list_queryset=_queryset(sm.Purchase, "warehouse", "supplier"),
    search_fields=("number", "comment", "supplier_invoice", "supplier__name"),
)
TRANSFERS = _stock_config(
    key="transfers", model=sm.Transfer, line_model=sm.TransferLine,
    header_fields=(*DATE_ORG, "warehouse_from", "warehouse_to", "delivery_needed", "comment"),
    line_columns=(LineColumn("item"), LineColumn("quantity", total=True)),
    list_columns=_list_columns(Column("warehouse_from__name", gettext_lazy("From warehouse")),
                               Column("warehouse_to__name", gettext_lazy("To warehouse")), amount=False),
    list_filters=(Filter("organization"), Filter("warehouse_from"), Filter("warehouse_to"), Filter("posted")),
    list_queryset=_queryset(sm.Transfer, "warehouse_from", "warehouse_to", amount=False),
)
WRITE_OFFS = _stock_config(
    key="write_offs", model=sm.WriteOff, line_model=sm.WriteOffLine,
    header_fields=(*DATE_ORG, "warehouse", "reason", "comment"),
    line_columns=(LineColumn("item"), LineColumn("quantity", total=True)),
    list_columns=_list_columns(WAREHOUSE, Column("reason", gettext_lazy("Reason")), amount=False),
    list_filters=FILTERS, list_queryset=_queryset(sm.WriteOff, "warehouse", amount=False),
    search_fields=("number", "comment", "reason"),
)
SURPLUSES = _stock_config(
    key="surpluses", model=sm.Surplus, line_model=sm.SurplusLine,
    header_fields=(*DATE_ORG, "warehouse", "reason", "comment"),
    line_columns=(LineColumn("item"), LineColumn("quantity", total=True), LineColumn("price"),
                  LineColumn("amount", computed=True, total=True)),
    list_columns=_list_columns(WAREHOUSE, Column("reason", gettext_lazy("Reason"))), list_filters=FILTERS,
    list_queryset=_queryset(sm.Surplus, "warehouse"), search_fields=("number", "comment", "reason"),
)
STOCK_COUNTS = _stock_config(
    key="stock_counts", model=sm.StockCount, line_model=sm.StockCountLine,
    header_fields=(*DATE_ORG, "warehouse", "comment"), read_only_header=("status",),
    line_columns=(LineColumn("item"), LineColumn("book_quantity", computed=True, total=True),
                  LineColumn("quantity", total=True),
                  LineColumn("difference", gettext_lazy("Difference"), value=lambda ln: ln.difference, total=True)),
    post=None, unpost=None, prepare_lines=_count_book_quantities, locked=_count_locked,
    actions=(
        DocumentAction("fill", gettext_lazy("Fill from stock"), Cap.STOCK_EDIT, _fill, icon="bi-box-arrow-in-down",
                       available=_not_completed,
                       confirm=gettext_lazy("Fill the lines with every item in stock at this warehouse? "
                                            "Counted quantities already entered are kept.")),
        DocumentAction("complete", gettext_lazy("Complete"), Cap.STOCK_POST, _complete, icon="bi-check2-all",
                       available=_not_completed, primary=True,
                       confirm=gettext_lazy("Complete the count? The differences become a posted write-off and "
                                            "surplus, and the count can no longer be changed.")),
    ),
    list_columns=(
        Column("number", gettext_lazy("Number"), link=True), DATE,
        Column("organization__name", gettext_lazy("Organization")), WAREHOUSE,
        Column("status", gettext_lazy("Status")),
    ),
    list_filters=(Filter("organization"), Filter("warehouse"), Filter("status")),
    list_queryset=_queryset(sm.StockCount, "warehouse", amount=False),
)

DOCUMENT_CONFIGS: tuple[DocumentConfig, ...] = (
    OPENING_BALANCES, PURCHASES, TRANSFERS, WRITE_OFFS, SURPLUSES, STOCK_COUNTS,
)


@requires(Cap.STOCK_VIEW)
def item_search_view(request: HttpRequest) -> JsonResponse:
    """Items for the lines' item search (goods and services not marked for deletion)."""
    return item_search(request, Item.objects.filter(deletion_mark=False))


# ------------------------------------------------------------------ print forms
def print_context(doc: Any) -> dict[str, Any]:
    """What the stock print form shows: the parties, the lines with units, totals and the amount in words."""
    lines = list(doc.lines.select_related("item__unit").order_by("line_no", "id"))
    has_price = hasattr(type(doc).lines.rel.related_model, "price")  # type: ignore[attr-defined]
    is_purchase = isinstance(doc, sm.Purchase)
    is_count = isinstance(doc, sm.StockCount)
    total_quantity = sum((ln.quantity for ln in lines), Decimal(0))
    total_amount = sum((getattr(ln, "amount", Decimal(0)) for ln in lines), Decimal(0))
    total_vat = sum((getattr(ln, "vat_amount", Decimal(0)) for ln in lines), Decimal(0))
    grand_total = total_amount + (total_vat if is_purchase and not doc.prices_include_vat else Decimal(0))
    org = doc.organization
    parties: list[tuple[str, str]] = [
        (_("Organization"), ", ".join(x for x in (org.full_name or org.name,
                                                  _("INN %(inn)s") % {"inn": org.inn} if org.inn else "",
                                                  _("KPP %(kpp)s") % {"kpp": org.kpp} if org.kpp else "") if x)),
    ]
    if is_purchase:
        supplier = str(doc.counterparty or doc.supplier)
        parties.append((_("Supplier"), supplier))
        if doc.supplier_invoice:
            parties.append((_("Supplier's document No."), doc.supplier_invoice))
    if isinstance(doc, sm.Transfer):
        parties += [(_("From warehouse"), str(doc.warehouse_from)), (_("To warehouse"), str(doc.warehouse_to))]
    else:
        parties.append((_("Warehouse"), str(doc.warehouse)))
    if getattr(doc, "reason", ""):
        parties.append((_("Reason"), doc.reason))
    if doc.comment:
        parties.append((_("Comment"), doc.comment))
    signatures = {
        sm.Purchase: (_("Received by"), _("Delivered by")),
        sm.Transfer: (_("Released by"), _("Received by")),
        sm.WriteOff: (_("Storekeeper"), _("Approved by")),
        sm.Surplus: (_("Storekeeper"), _("Approved by")),
        sm.OpeningBalance: (_("Entered by"), _("Chief accountant")),
        sm.StockCount: (_("Counted by"), _("Checked by")),
    }[type(doc)]
    return {
        "doc": doc, "org": org, "lines": lines, "parties": parties, "has_price": has_price and not is_count,
        "is_purchase": is_purchase, "is_count": is_count,
        "total_quantity": total_quantity, "total_amount": total_amount, "total_vat": total_vat,
        "grand_total": grand_total,
        "amount_words": amount_in_words(grand_total) if is_purchase else "",
        "signatures": signatures,
    }
