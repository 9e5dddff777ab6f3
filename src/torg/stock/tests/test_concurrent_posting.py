"""The posting hot path under real concurrency on PostgreSQL: one document posted by many at once is posted
once; documents created and posted at once get gap-free, distinct numbers.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`).
"""
from __future__ import annotations

from typing import Any

import pytest

from torg.catalogs.models import Item, Organization, Partner, Warehouse
from torg.conftest import moment
from torg.core.models import ChangeLogEntry
from torg.core.posting import verify_register
from torg.stock import services
from torg.stock.models import Purchase, PurchaseLine, Stock, StockCost, StockMovement
from torg.stock.tests.helpers import D, purchase
from torg.stock.tests.test_concurrency import THREADS, _require_postgresql, _run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_one_document_posted_by_many_at_once_is_posted_once(
    organization: Organization, warehouse: Warehouse, supplier: Partner, milk: Item, bread: Item
) -> None:
    _require_postgresql()
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 10, 100), (bread, 4, 50)],
                   post=False)

    results = _run_at_once([lambda: services.post(Purchase.objects.get(pk=doc.pk)) for _ in range(THREADS)])

    assert [kind for kind, _r in results] == ["ok"] * THREADS, [repr(r) for k, r in results if k == "error"]
    assert StockMovement.objects.count() == 2
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(10)
    assert StockCost.balance(organization=organization, item=bread) == {"quantity": D(4), "amount": D("163.93")}
    actions = list(ChangeLogEntry.objects.filter(object_id=doc.pk).values_list("action", flat=True))
    assert sorted(actions) == sorted(["created", "posted", *["reposted"] * (THREADS - 1)])
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_documents_saved_and_posted_at_once_get_distinct_gap_free_numbers(
    organization: Organization, warehouse: Warehouse, supplier: Partner, make_item: Any
) -> None:
    _require_postgresql()
    items = [make_item(f"Goods {n}") for n in range(THREADS)]

    def create(n: int) -> str:
        doc = Purchase(organization=organization, supplier=supplier, warehouse=warehouse, date=moment("2026-03-10"))
        # Every document also shares an item with all others: their kept totals are the same rows.
        lines = [PurchaseLine(item=items[n], quantity=D(1), price=D(10), vat_rate=22),
                 PurchaseLine(item=items[0], quantity=D(1), price=D(10), vat_rate=22)]
        services.save_stock_document(doc, lines, post=True)
        return doc.number

    results = _run_at_once([lambda n=n: create(n) for n in range(THREADS)])

    assert [kind for kind, _r in results] == ["ok"] * THREADS, [repr(r) for k, r in results if k == "error"]
    assert sorted(r for _k, r in results) == [f"РМ-{n:06d}" for n in range(1, THREADS + 1)]
    assert Purchase.objects.filter(posted=True).count() == THREADS
    assert Stock.balance(warehouse=warehouse, item=items[0])["quantity"] == D(THREADS + 1)
    assert verify_register(Stock) == [] and verify_register(StockCost) == []
