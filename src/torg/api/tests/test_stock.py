"""Stock documents through the API: create, create+post in one transaction, edit, post, unpost, counts."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.core.models import ChangeLogEntry, NumberSequence, SystemSettings
from torg.core.permissions import Role
from torg.stock.models import Purchase, Stock, StockCount, Surplus, Transfer, WriteOff
from torg.stock.tests.helpers import purchase

pytestmark = pytest.mark.django_db


def _purchase_body(organization: Any, warehouse: Any, supplier: Any, item: Any, quantity: str = "10",
                   post: bool = True) -> dict[str, Any]:
    return {"organization": organization.pk, "supplier": supplier.pk, "warehouse": warehouse.pk,
            "date": "2025-03-01T10:00:00", "comment": "via API",
            "lines": [{"item": item.pk, "quantity": quantity, "price": "50.00"}], "post": post}


def test_purchase_created_and_posted_changes_stock(storekeeper_api: Any, organization: Any, warehouse: Any,
                                                   supplier: Any, milk: Any) -> None:
    response = storekeeper_api.post("stock/purchases", _purchase_body(organization, warehouse, supplier, milk, "12.5"))
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["posted"] is True
    assert body["number"] == "РМ-000001"
    assert body["version"] == 1
    assert body["comment"] == "via API"
    assert body["lines"] == [{"line_no": 1, "item": milk.pk, "quantity": "12.500", "price": "50.00",
                              "vat_rate": 22, "amount": "625.00", "vat_amount": "112.70"}]
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == Decimal("12.5")

    movements = storekeeper_api.get(f"stock/purchases/{body['id']}/movements").json()["registers"]
    assert [r["name"] for r in movements] == ["stock.stock", "stock.stock_cost"]
    assert movements[0]["movements"] == [{"line_no": 1, "date": "2025-03-01T07:00:00Z", "type": "receipt",
                                          "warehouse": warehouse.pk, "item": milk.pk, "quantity": "12.500",
                                          "free": "12.500"}]


def test_load_test_contract_for_transfers(storekeeper_api: Any, organization: Any, warehouse: Any,
                                          warehouse2: Any, supplier: Any, milk: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-01-10"), [(milk, 5, 10)])
    response = storekeeper_api.post("stock/transfers", {
        "organization": organization.pk, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "lines": [{"item": milk.pk, "quantity": "1"}], "post": True})
    assert response.status_code == 201, response.content
    body = response.json()
    assert {"id", "number", "posted", "version"} <= set(body)
    assert (body["posted"], body["version"], body["number"]) == (True, 1, "РМ-000001")
    assert Stock.balance(warehouse=warehouse2.pk, item=milk.pk)["quantity"] == Decimal(1)


def test_overdrawing_transfer_is_refused_and_creates_nothing(storekeeper_api: Any, organization: Any,
                                                             warehouse: Any, warehouse2: Any, supplier: Any,
                                                             milk: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-01-10"), [(milk, 7, 10)])
    sequences = list(NumberSequence.objects.values_list("scope", "last_value"))
    log_size = ChangeLogEntry.objects.count()
    response = storekeeper_api.post("stock/transfers", {
        "organization": organization.pk, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "lines": [{"item": milk.pk, "quantity": "12"}], "post": True})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "shortage"
    assert "Milk 1L" in body["message"] and "12" in body["message"] and "7" in body["message"]
    assert body["details"] == [{"register": "stock.stock", "warehouse": "Central", "item": "Milk 1L",
                                "resource": "quantity", "need": "12.000", "have": "7.000", "lines": [1]}]
    assert Transfer.objects.count() == 0
    assert list(NumberSequence.objects.values_list("scope", "last_value")) == sequences
    assert ChangeLogEntry.objects.count() == log_size
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == Decimal(7)


def test_create_without_post_then_post_and_unpost(storekeeper_api: Any, organization: Any, warehouse: Any,
                                                  supplier: Any, milk: Any) -> None:
    created = storekeeper_api.post("stock/purchases", _purchase_body(organization, warehouse, supplier, milk,
                                                                     post=False)).json()
    assert created["posted"] is False
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == 0
    posted = storekeeper_api.post(f"stock/purchases/{created['id']}/post")
    assert posted.status_code == 200, posted.content
    assert posted.json()["posted"] is True
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == 10
    unposted = storekeeper_api.post(f"stock/purchases/{created['id']}/unpost")
    assert unposted.json()["posted"] is False
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == 0


def test_put_replaces_lines_reposts_and_refuses_stale_version(storekeeper_api: Any, organization: Any,
                                                             warehouse: Any, supplier: Any, milk: Any,
                                                             bread: Any) -> None:
    created = storekeeper_api.post("stock/purchases", _purchase_body(organization, warehouse, supplier, milk)).json()
    body = _purchase_body(organization, warehouse, supplier, milk, "4")
    del body["post"]
    body["lines"].append({"item": bread.pk, "quantity": "3", "price": "20", "vat_rate": 10})
    body["version"] = created["version"]
    changed = storekeeper_api.put(f"stock/purchases/{created['id']}", body)
    assert changed.status_code == 200, changed.content
    assert [(ln["item"], ln["quantity"], ln["vat_rate"]) for ln in changed.json()["lines"]] == \
        [(milk.pk, "4.000", 22), (bread.pk, "3.000", 10)]
    assert changed.json()["version"] == 2
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == 4

    body["lines"] = [{"item": milk.pk, "quantity": "1", "price": "1"}]
    stale = storekeeper_api.put(f"stock/purchases/{created['id']}", body)
    assert stale.status_code == 409
    assert stale.json()["code"] == "concurrent_edit"
    assert Purchase.objects.get(pk=created["id"]).lines.count() == 2


def test_period_lock_is_a_conflict(storekeeper_api: Any, organization: Any, warehouse: Any, supplier: Any,
                                   milk: Any) -> None:
    SystemSettings.objects.update_or_create(pk=1, defaults={"period_lock_date": dt.date(2025, 3, 31)})
    response = storekeeper_api.post("stock/purchases", _purchase_body(organization, warehouse, supplier, milk))
    assert response.status_code == 409
    assert response.json()["code"] == "period_locked"
    assert Purchase.objects.count() == 0


def test_unpost_with_dependents_is_refused(storekeeper_api: Any, organization: Any, warehouse: Any,
                                           warehouse2: Any, supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-01-10"), [(milk, 5, 10)])
    storekeeper_api.post("stock/transfers", {
        "organization": organization.pk, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "date": "2025-01-11", "lines": [{"item": milk.pk, "quantity": "5"}], "post": True})
    response = storekeeper_api.post(f"stock/purchases/{doc.pk}/unpost")
    assert response.status_code == 409
    assert response.json()["code"] == "shortage"
    assert Purchase.objects.get(pk=doc.pk).posted is True


def test_lines_errors_are_named_by_line(storekeeper_api: Any, organization: Any, warehouse: Any,
                                        warehouse2: Any, milk: Any) -> None:
    response = storekeeper_api.post("stock/transfers", {
        "organization": organization.pk, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "lines": [{"item": milk.pk, "quantity": "1"}, {"item": milk.pk, "quantity": "-2"},
                  {"item": 999, "quantity": "1"}]})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"lines.3.item"}
    response = storekeeper_api.post("stock/transfers", {
        "organization": organization.pk, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "lines": [{"item": milk.pk, "quantity": "1"}, {"item": milk.pk, "quantity": "-2"}]})
    assert response.status_code == 422
    assert set(response.json()["fields"]) == {"lines.2.quantity"}
    assert Transfer.objects.count() == 0


def test_stock_count_fill_and_complete(storekeeper_api: Any, organization: Any, warehouse: Any, supplier: Any,
                                       milk: Any, bread: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-01-10"), [(milk, 10, 50), (bread, 4, 20)])
    count = storekeeper_api.post("stock/stock-counts", {
        "organization": organization.pk, "warehouse": warehouse.pk, "date": "2025-01-20", "lines": []})
    assert count.status_code == 201, count.content
    count_id = count.json()["id"]
    assert count.json()["status"] == "draft"
    filled = storekeeper_api.post(f"stock/stock-counts/{count_id}/fill")
    assert filled.status_code == 200, filled.content
    lines = filled.json()["lines"]
    assert [(ln["item"], ln["book_quantity"], ln["quantity"]) for ln in lines] == \
        [(milk.pk, "10.000", "10.000"), (bread.pk, "4.000", "4.000")]

    counted = {"organization": organization.pk, "warehouse": warehouse.pk, "date": "2025-01-20",
               "version": filled.json()["version"],
               "lines": [{"item": milk.pk, "quantity": "8", "book_quantity": "10"},
                         {"item": bread.pk, "quantity": "5", "book_quantity": "4"}]}
    assert storekeeper_api.put(f"stock/stock-counts/{count_id}", counted).status_code == 200
    completed = storekeeper_api.post(f"stock/stock-counts/{count_id}/complete")
    assert completed.status_code == 200, completed.content
    result = completed.json()
    assert result["stock_count"]["id"] == count_id
    assert result["write_off"]["kind"] == "write-offs" and result["write_off"]["posted"] is True
    assert result["surplus"]["kind"] == "surpluses"
    assert StockCount.objects.get(pk=count_id).status == "completed"
    assert WriteOff.objects.count() == 1 and Surplus.objects.count() == 1
    assert Stock.balance(warehouse=warehouse.pk, item=milk.pk)["quantity"] == 8
    assert Stock.balance(warehouse=warehouse.pk, item=bread.pk)["quantity"] == 5
    again = storekeeper_api.post(f"stock/stock-counts/{count_id}/complete")
    assert again.status_code == 422


def test_posting_needs_the_post_capability(api_for: Any, organization: Any, warehouse: Any, supplier: Any,
                                           milk: Any) -> None:
    # A sales manager sees stock but may neither create nor post.
    manager = api_for(Role.SALES_MANAGER)
    response = manager.post("stock/purchases", _purchase_body(organization, warehouse, supplier, milk))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "stock.edit" in response.json()["message"]
    assert manager.get("stock/purchases").status_code == 200
    assert Purchase.objects.count() == 0


def test_list_filters_and_query_count(storekeeper_api: Any, organization: Any, warehouse: Any, warehouse2: Any,
                                      supplier: Any, milk: Any, django_assert_max_num_queries: Any) -> None:
    for day in ("2025-01-10", "2025-02-10", "2025-03-10"):
        purchase(organization, warehouse, supplier, moment(day), [(milk, 1, 1)])
    purchase(organization, warehouse2, supplier, moment("2025-02-11"), [(milk, 1, 1)], post=False)
    storekeeper_api.get("stock/purchases")
    with django_assert_max_num_queries(4):  # token, roles, count, page
        body = storekeeper_api.get(f"stock/purchases?warehouse={warehouse.pk}&date_from=2025-02-01").json()
    assert body["count"] == 2
    assert [d["date"][:10] for d in body["results"]] == ["2025-03-10", "2025-02-10"]
    assert "lines" not in body["results"][0]
    assert storekeeper_api.get("stock/purchases?posted=false").json()["count"] == 1
