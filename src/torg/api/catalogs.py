"""Catalog endpoints: one configuration per catalog (same capabilities as the catalog pages)."""
from __future__ import annotations

from typing import Any

from django.db import models
from ninja import Field, Router

from torg.api.crud import CatalogEndpoint, add_catalog_routes
from torg.catalogs import models as cm
from torg.catalogs.services import save_item
from torg.core.permissions import Cap

VIEW = Cap.CATALOGS_VIEW


def _save_item(item: models.Model, extra: dict[str, Any], user: Any, expected_version: int | None) -> models.Model:
    barcodes = extra.get("barcodes")
    if barcodes is None:  # not sent (PATCH): the item keeps its barcodes
        barcodes = list(item.barcodes.values_list("code", flat=True)) if item.pk else []  # type: ignore[attr-defined]
    return save_item(item, barcodes, user, expected_version)  # type: ignore[arg-type]


def _item_barcodes(item: Any) -> dict[str, Any]:
    return {"barcodes": sorted(b.code for b in item.barcodes.all())}


CATALOG_ENDPOINTS: tuple[CatalogEndpoint, ...] = (
    CatalogEndpoint(
        "organizations", cm.Organization,
        ("name", "full_name", "prefix", "inn", "kpp", "ogrn", "tax_system", "vat_payer", "address", "phone",
         "director", "chief_accountant"),
        Cap.COMPANY_EDIT, VIEW, search_fields=("name", "full_name", "inn"), filters=("vat_payer", "deletion_mark"),
    ),
    CatalogEndpoint(
        "partners", cm.Partner,
        ("name", "is_client", "is_supplier", "phone", "email", "address", "latitude", "longitude", "comment"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("name", "phone", "email", "counterparties__inn"),
        filters=("is_client", "is_supplier", "deletion_mark"),
    ),
    CatalogEndpoint(
        "counterparties", cm.Counterparty,
        ("partner", "name", "full_name", "legal_form", "inn", "kpp", "ogrn", "legal_address"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("name", "full_name", "inn", "partner__name"),
        filters=("partner", "legal_form", "deletion_mark"),
    ),
    CatalogEndpoint(
        "contacts", cm.Contact, ("partner", "name", "position", "phone", "email"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("name", "phone", "email", "partner__name"),
        filters=("partner", "deletion_mark"),
    ),
    CatalogEndpoint(
        "delivery-addresses", cm.DeliveryAddress, ("partner", "address", "latitude", "longitude", "comment"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("address", "partner__name"), filters=("partner", "deletion_mark"),
    ),
    CatalogEndpoint(
        "items", cm.Item,
        ("name", "sku", "kind", "group", "unit", "weight_kg", "volume_m3", "vat_rate", "description"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("name", "sku", "barcodes__code"),
        filters=("kind", "group", "unit", "vat_rate", "deletion_mark"), prefetch=("barcodes",),
        extra_in={"barcodes": (list[str], Field(default_factory=list,
                                                description="EAN/GTIN codes; the list replaces the item's codes."))},
        extra_out={"barcodes": (list[str], ...)}, out_extra=_item_barcodes, save=_save_item,
    ),
    CatalogEndpoint(
        "item-groups", cm.ItemGroup, ("name",), Cap.CATALOGS_EDIT, VIEW, search_fields=("name",),
        filters=("deletion_mark",),
    ),
    CatalogEndpoint(
        "units", cm.Unit, ("code", "name", "full_name", "international_name"), Cap.CATALOGS_EDIT, VIEW,
        search_fields=("name", "code", "full_name"), filters=("deletion_mark",),
    ),
    CatalogEndpoint(
        "warehouses", cm.Warehouse, ("name", "order_based", "is_retail_store", "address", "latitude", "longitude"),
        Cap.COMPANY_EDIT, VIEW, search_fields=("name", "address"),
        filters=("order_based", "is_retail_store", "deletion_mark"),
    ),
    CatalogEndpoint(
        "price-types", cm.PriceType, ("name", "includes_vat", "currency"), Cap.COMPANY_EDIT, VIEW,
        search_fields=("name",), filters=("deletion_mark",),
    ),
    CatalogEndpoint(
        "item-prices", cm.ItemPrice, ("price_type", "item", "valid_from", "price"), Cap.CATALOGS_EDIT, VIEW,
        search_fields=("item__name", "item__sku"), filters=("item", "price_type", "valid_from"),
    ),
    CatalogEndpoint(
        "cash-desks", cm.CashDesk, ("organization", "name", "currency"), Cap.COMPANY_EDIT, VIEW,
        search_fields=("name",), filters=("organization", "deletion_mark"),
    ),
    CatalogEndpoint(
        "organization-accounts", cm.BankAccount,
        ("organization", "name", "number", "bik", "bank_name", "correspondent_account"),
        Cap.COMPANY_EDIT, VIEW, search_fields=("number", "name", "bank_name", "bik"),
        filters=("organization", "deletion_mark"), required=("organization",),
        rows=lambda: cm.BankAccount.objects.filter(organization__isnull=False),
    ),
    CatalogEndpoint(
        "counterparty-accounts", cm.BankAccount,
        ("counterparty", "name", "number", "bik", "bank_name", "correspondent_account"),
        Cap.CATALOGS_EDIT, VIEW, search_fields=("number", "name", "bank_name", "bik", "counterparty__name"),
        filters=("counterparty", "deletion_mark"), required=("counterparty",),
        rows=lambda: cm.BankAccount.objects.filter(counterparty__isnull=False),
    ),
)


def build_router() -> Router:
    router = Router()
    for endpoint in CATALOG_ENDPOINTS:
        add_catalog_routes(router, endpoint)
    return router
