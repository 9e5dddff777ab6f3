"""Catalogs through the API: round trips, search and pagination, validation, optimistic locking."""
from __future__ import annotations

from typing import Any

import pytest

from torg.catalogs.models import Barcode, Counterparty, Item, Partner
from torg.core.models import ChangeLogEntry

pytestmark = pytest.mark.django_db


def test_item_round_trip_with_barcodes(accountant_api: Any, unit: Any) -> None:
    created = accountant_api.post("catalogs/items", {
        "name": "Kefir 1%", "sku": "KF-1", "unit": unit.pk, "weight_kg": "1.050", "vat_rate": 10,
        "barcodes": ["4600000000008"],
    })
    assert created.status_code == 201, created.content
    item = created.json()
    assert item["name"] == "Kefir 1%"
    assert item["weight_kg"] == "1.050"
    assert item["vat_rate"] == 10
    assert item["kind"] == "goods"
    assert item["barcodes"] == ["4600000000008"]
    assert item["version"] == 1

    fetched = accountant_api.get(f"catalogs/items/{item['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == item

    patched = accountant_api.patch(f"catalogs/items/{item['id']}", {"name": "Kefir 2.5%", "version": 1})
    assert patched.status_code == 200, patched.content
    assert patched.json()["name"] == "Kefir 2.5%"
    assert patched.json()["version"] == 2
    assert patched.json()["barcodes"] == ["4600000000008"]  # not sent: kept

    replaced = accountant_api.put(f"catalogs/items/{item['id']}", {
        "name": "Kefir 3.2%", "unit": unit.pk, "barcodes": ["4600000000015"], "version": 2})
    assert replaced.status_code == 200, replaced.content
    body = replaced.json()
    assert (body["name"], body["version"], body["barcodes"], body["vat_rate"], body["sku"]) == \
        ("Kefir 3.2%", 3, ["4600000000015"], 22, "")
    assert list(Barcode.objects.values_list("code", flat=True)) == ["4600000000015"]
    actions = list(ChangeLogEntry.objects.filter(object_id=item["id"]).order_by("id").values_list("action", flat=True))
    assert actions == ["created", "changed", "changed"]


def test_partner_round_trip_and_search(accountant_api: Any) -> None:
    created = accountant_api.post("catalogs/partners", {"name": "Vkusvill", "is_supplier": True, "phone": "+7 495"})
    assert created.status_code == 201, created.content
    partner = created.json()
    assert (partner["is_client"], partner["is_supplier"], partner["latitude"]) == (True, True, None)
    accountant_api.post("catalogs/partners", {"name": "Azbuka", "is_client": True})

    found = accountant_api.get("catalogs/partners?q=vkus")
    assert found.status_code == 200
    assert [p["name"] for p in found.json()["results"]] == ["Vkusvill"]
    suppliers = accountant_api.get("catalogs/partners?is_supplier=true").json()
    assert suppliers["count"] == 1

    put = accountant_api.put(f"catalogs/partners/{partner['id']}", {
        "name": "VkusVill LLC", "is_client": False, "is_supplier": True, "latitude": "55.751244",
        "longitude": "37.618423", "version": 1})
    assert put.status_code == 200, put.content
    assert (put.json()["name"], put.json()["latitude"], put.json()["version"]) == ("VkusVill LLC", "55.751244", 2)
    assert Partner.objects.get(pk=partner["id"]).is_client is False


def test_list_paginates_with_total_count(accountant_api: Any, make_item: Any,
                                         django_assert_max_num_queries: Any) -> None:
    for _ in range(12):
        make_item()
    accountant_api.get("catalogs/items")  # the token's last use is noted once
    with django_assert_max_num_queries(5):  # token, roles, count, page, barcodes
        response = accountant_api.get("catalogs/items?limit=5&offset=10&ordering=-id")
    body = response.json()
    assert (body["count"], body["limit"], body["offset"]) == (12, 5, 10)
    assert [i["name"] for i in body["results"]] == ["Item 2", "Item 1"]


def test_invalid_inn_is_refused_with_field_error(accountant_api: Any) -> None:
    partner = Partner.objects.create(name="P")
    response = accountant_api.post("catalogs/counterparties", {
        "partner": partner.pk, "name": "OOO Test", "inn": "7707083890", "kpp": "773601001"})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["fields"]) == ["inn"]
    assert Counterparty.objects.count() == 0


def test_bank_account_check_key_is_validated(accountant_api: Any, organization: Any) -> None:
    response = accountant_api.post("catalogs/organization-accounts", {
        "organization": organization.pk, "number": "40702810900000000001", "bik": "044525225"})
    assert response.status_code == 422
    assert "number" in response.json()["fields"]
    missing_owner = accountant_api.post("catalogs/organization-accounts", {
        "number": "40702810400000000001", "bik": "044525225"})
    assert missing_owner.status_code == 422
    assert "organization" in missing_owner.json()["fields"]


def test_stale_version_is_refused_and_nothing_changes(accountant_api: Any, unit: Any) -> None:
    item = Item.objects.create(name="Milk", unit=unit)
    first = accountant_api.patch(f"catalogs/items/{item.pk}", {"name": "Milk 1L", "version": 1})
    assert first.status_code == 200
    stale = accountant_api.patch(f"catalogs/items/{item.pk}", {"name": "Milk 2L", "version": 1})
    assert stale.status_code == 409
    assert stale.json()["code"] == "concurrent_edit"
    item.refresh_from_db()
    assert (item.name, item.version) == ("Milk 1L", 2)


def test_version_is_required_for_updates(accountant_api: Any, unit: Any) -> None:
    item = Item.objects.create(name="Milk", unit=unit)
    response = accountant_api.patch(f"catalogs/items/{item.pk}", {"name": "Milk 1L"})
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["version"]


def test_unknown_reference_in_body_is_a_field_error(accountant_api: Any) -> None:
    response = accountant_api.post("catalogs/items", {"name": "X", "unit": 999})
    assert response.status_code == 422
    assert response.json()["fields"] == {"unit": ["unit 999 does not exist: give the id of an existing unit."]}
    assert Item.objects.count() == 0


def test_unknown_id_is_404(accountant_api: Any) -> None:
    response = accountant_api.get("catalogs/partners/987654")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "987654" in response.json()["message"]


def test_counterparty_accounts_do_not_show_organization_accounts(accountant_api: Any, organization: Any) -> None:
    from torg.catalogs.models import BankAccount

    account = BankAccount.objects.create(organization=organization, number="40702810400000000001", bik="044525225")
    assert accountant_api.get(f"catalogs/organization-accounts/{account.pk}").status_code == 200
    assert accountant_api.get(f"catalogs/counterparty-accounts/{account.pk}").status_code == 404
