"""Small builders of stock documents for tests and benchmarks (through the services, as users would)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from torg.catalogs.models import Item, Organization, Partner, Warehouse
from torg.stock import services
from torg.stock.models import (
    OpeningBalance,
    OpeningBalanceLine,
    Purchase,
    PurchaseLine,
    StockCount,
    StockCountLine,
    Surplus,
    SurplusLine,
    Transfer,
    TransferLine,
    WriteOff,
    WriteOffLine,
)


def D(value: Any) -> Decimal:  # noqa: N802 — reads like a literal
    return Decimal(str(value))


def purchase(
    organization: Organization, warehouse: Warehouse, supplier: Partner, date: dt.datetime,
    lines: Sequence[tuple[Item, Any, Any]], *, post: bool = True, user: Any = None, prices_include_vat: bool = True,
) -> Purchase:
    doc = Purchase(organization=organization, warehouse=warehouse, supplier=supplier, date=date,
                   prices_include_vat=prices_include_vat)
    services.save_stock_document(
        doc, [PurchaseLine(item=i, quantity=D(q), price=D(p), vat_rate=i.vat_rate) for i, q, p in lines], user=user
    )
    if post:
        services.post(doc, user=user)
    return doc


def opening(organization: Organization, warehouse: Warehouse, date: dt.datetime,
            lines: Sequence[tuple[Item, Any, Any]], *, post: bool = True) -> OpeningBalance:
    doc = OpeningBalance(organization=organization, warehouse=warehouse, date=date)
    services.save_stock_document(doc, [OpeningBalanceLine(item=i, quantity=D(q), price=D(p)) for i, q, p in lines])
    if post:
        services.post(doc)
    return doc


def transfer(organization: Organization, source: Warehouse, target: Warehouse, date: dt.datetime,
             lines: Sequence[tuple[Item, Any]], *, post: bool = True, user: Any = None) -> Transfer:
    doc = Transfer(organization=organization, warehouse_from=source, warehouse_to=target, date=date)
    services.save_stock_document(doc, [TransferLine(item=i, quantity=D(q)) for i, q in lines], user=user)
    if post:
        services.post(doc, user=user)
    return doc


def write_off(organization: Organization, warehouse: Warehouse, date: dt.datetime,
              lines: Sequence[tuple[Item, Any]], *, post: bool = True, user: Any = None) -> WriteOff:
    doc = WriteOff(organization=organization, warehouse=warehouse, date=date, reason="damaged")
    services.save_stock_document(doc, [WriteOffLine(item=i, quantity=D(q)) for i, q in lines], user=user)
    if post:
        services.post(doc, user=user)
    return doc


def surplus(organization: Organization, warehouse: Warehouse, date: dt.datetime,
            lines: Sequence[tuple[Item, Any, Any]], *, post: bool = True) -> Surplus:
    doc = Surplus(organization=organization, warehouse=warehouse, date=date, reason="found")
    services.save_stock_document(doc, [SurplusLine(item=i, quantity=D(q), price=D(p)) for i, q, p in lines])
    if post:
        services.post(doc)
    return doc


def stock_count(organization: Organization, warehouse: Warehouse, date: dt.datetime,
                counted: Sequence[tuple[Item, Any]]) -> StockCount:
    doc = StockCount(organization=organization, warehouse=warehouse, date=date)
    services.save_stock_document(doc, [StockCountLine(item=i, quantity=D(q)) for i, q in counted])
    return doc
