"""Catalog pages through the test client: list, search, filters, sorting, paging, edit forms, locking."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import (
    Barcode,
    Contact,
    Counterparty,
    Item,
    ItemGroup,
    ItemKind,
    ItemPrice,
    Partner,
    PriceType,
    Unit,
)
from torg.catalogs.selectors import price_of, prices_of
from torg.core.models import ChangeLogEntry
from torg.core.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def manager_client(client: Client, role_user: Any) -> Client:
    client.force_login(role_user(Role.SALES_MANAGER, "manager"))
    return client


def _names(response: Any) -> list[str]:
    return [str(row.obj) for row in response.context["listing"].rows]


def _items(unit: Unit, n: int, **kw: Any) -> list[Item]:
    return Item.objects.bulk_create(
        [Item(name=f"Item {i:03d}", sku=f"SKU{i:03d}", unit=unit, **kw) for i in range(n)])


# ------------------------------------------------------------------ lists
def test_item_list_searches_by_name_article_and_barcode(manager_client: Client, unit: Unit) -> None:
    milk = Item.objects.create(name="Молоко 3,2%", sku="MLK-1", unit=unit)
    Item.objects.create(name="Хлеб", sku="BRD-1", unit=unit)
    Barcode.objects.create(item=milk, code="4600000000008")
    url = reverse("catalogs:items_list")

    assert _names(manager_client.get(url, {"q": "молоко"})) == ["Молоко 3,2%"]
    assert _names(manager_client.get(url, {"q": "brd"})) == ["Хлеб"]
    assert _names(manager_client.get(url, {"q": "4600000000008"})) == ["Молоко 3,2%"]
    assert _names(manager_client.get(url, {"q": "nothing-like-it"})) == []


def test_item_list_filters_by_kind_group_and_ignores_invalid_values(manager_client: Client, unit: Unit) -> None:
    dairy = ItemGroup.objects.create(name="Dairy")
    Item.objects.create(name="Milk", unit=unit, group=dairy)
    Item.objects.create(name="Delivery", unit=unit, kind=ItemKind.SERVICE)
    url = reverse("catalogs:items_list")

    assert _names(manager_client.get(url, {"kind": "service"})) == ["Delivery"]
    assert _names(manager_client.get(url, {"group": str(dairy.pk)})) == ["Milk"]
    assert _names(manager_client.get(url, {"kind": "bogus", "group": "x"})) == ["Delivery", "Milk"]


def test_item_list_sorts_by_clicked_column_and_toggles(manager_client: Client, unit: Unit) -> None:
    Item.objects.create(name="A", sku="3", unit=unit)
    Item.objects.create(name="B", sku="1", unit=unit)
    Item.objects.create(name="C", sku="2", unit=unit)
    url = reverse("catalogs:items_list")

    response = manager_client.get(url, {"sort": "sku"})
    assert _names(response) == ["B", "C", "A"]
    header = next(h for h in response.context["listing"].headers if h.name == "sku")
    assert (header.direction, header.toggle) == ("asc", "-sku")
    assert _names(manager_client.get(url, {"sort": "-sku"})) == ["A", "C", "B"]
    assert _names(manager_client.get(url, {"sort": "not_a_column"})) == ["A", "B", "C"]


def test_item_list_paginates_50_per_page(manager_client: Client, unit: Unit) -> None:
    _items(unit, 120)
    url = reverse("catalogs:items_list")

    first = manager_client.get(url)
    third = manager_client.get(url, {"page": "3"})
    beyond = manager_client.get(url, {"page": "99"})

    assert len(_names(first)) == 50 and _names(first)[0] == "Item 000"
    assert _names(third) == [f"Item {i:03d}" for i in range(100, 120)]
    assert _names(beyond) == _names(third)
    assert first.context["listing"].total == 120
    assert "?page=2" in first.content.decode()


def test_htmx_request_gets_only_the_table(manager_client: Client, unit: Unit) -> None:
    _items(unit, 3)
    response = manager_client.get(reverse("catalogs:items_list"), {"q": "Item 001"},
                                  HTTP_HX_REQUEST="true", HTTP_HX_TARGET="list-table")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="list-table">')
    assert "<html" not in html
    assert "Item 001" in html and "Item 002" not in html


def test_item_list_query_count_for_50_rows(manager_client: Client, unit: Unit,
                                           django_assert_max_num_queries: Any) -> None:
    groups = [ItemGroup.objects.create(name=f"G{i}") for i in range(5)]
    Item.objects.bulk_create([Item(name=f"Item {i}", unit=unit, group=groups[i % 5]) for i in range(60)])
    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("catalogs:items_list"))
    assert len(response.context["listing"].rows) == 50


def test_partner_list_query_count_for_50_rows(manager_client: Client, django_assert_max_num_queries: Any) -> None:
    Partner.objects.bulk_create([Partner(name=f"Partner {i}", phone=f"+7 {i}") for i in range(60)])
    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("catalogs:partners_list"))
    assert len(response.context["listing"].rows) == 50


# ------------------------------------------------------------------ forms
def test_create_partner_writes_entry_and_change_log(manager_client: Client) -> None:
    response = manager_client.post(reverse("catalogs:partners_new"),
                                   {"name": "Вкусный дом", "is_client": "on", "phone": "+7 495 111-22-33"})
    partner = Partner.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("catalogs:partners_edit", args=[partner.pk])
    assert (partner.name, partner.is_client, partner.is_supplier, partner.version) == ("Вкусный дом", True, False, 1)
    entry = ChangeLogEntry.objects.get(object_id=partner.pk, content_type=ContentType.objects.get_for_model(Partner))
    assert (entry.action, entry.user.username) == ("created", "manager")


def test_wrong_inn_shows_field_error_and_saves_nothing(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Client")
    response = manager_client.post(reverse("catalogs:counterparties_new"), {
        "partner": partner.pk, "name": "ООО «Ошибка»", "legal_form": "legal", "inn": "77070838", "kpp": "773601001",
    })
    assert response.status_code == 200
    assert response.context["form"].errors["inn"] == ["INN of a legal entity must have 10 digits; “77070838” has 8."]
    assert "is-invalid" in response.content.decode()
    assert Counterparty.objects.count() == 0
    assert ChangeLogEntry.objects.count() == 0


def test_partner_without_client_or_supplier_is_refused(manager_client: Client) -> None:
    response = manager_client.post(reverse("catalogs:partners_new"), {"name": "Nobody"})
    assert response.context["form"].non_field_errors() == [
        "A partner is a client, a supplier, or both: tick at least one."]
    assert Partner.objects.count() == 0


def test_edit_with_current_version_bumps_version_and_logs_the_change(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Old name")
    response = manager_client.post(reverse("catalogs:partners_edit", args=[partner.pk]),
                                   {"name": "New name", "is_client": "on", "version": "1"})
    partner.refresh_from_db()
    assert response.status_code == 302
    assert (partner.name, partner.version) == ("New name", 2)
    entry = ChangeLogEntry.objects.get(action="changed")
    assert entry.changes == {"name": ["Old name", "New name"]}


def test_stale_version_is_refused_and_the_input_is_kept(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Shared")
    Partner.objects.filter(pk=partner.pk).update(name="Changed by Anna", version=2)  # someone saved meanwhile

    response = manager_client.post(reverse("catalogs:partners_edit", args=[partner.pk]),
                                   {"name": "My edit", "is_client": "on", "phone": "+7 900", "version": "1"})

    partner.refresh_from_db()
    html = response.content.decode()
    assert response.status_code == 409
    assert (partner.name, partner.phone, partner.version) == ("Changed by Anna", "", 2)
    assert "was changed by someone else" in html
    assert 'value="My edit"' in html and 'value="+7 900"' in html
    assert ChangeLogEntry.objects.count() == 0


def test_item_with_barcodes_is_created_and_barcodes_replaced(manager_client: Client, unit: Unit) -> None:
    data = {"name": "Кефир", "kind": "goods", "unit": unit.pk, "weight_kg": "0.5", "volume_m3": "0.001",
            "vat_rate": "10", "barcodes-TOTAL_FORMS": "2", "barcodes-INITIAL_FORMS": "0",
            "barcodes-0-code": "4600000000008", "barcodes-1-code": ""}
    manager_client.post(reverse("catalogs:items_new"), data)
    item = Item.objects.get()
    assert list(item.barcodes.values_list("code", flat=True)) == ["4600000000008"]
    assert (item.vat_rate, item.weight_kg) == (10, Decimal("0.500"))

    data.update({"version": "1", "barcodes-0-code": "4600000000015", "barcodes-1-code": "46000002"})
    manager_client.post(reverse("catalogs:items_edit", args=[item.pk]), data)
    assert sorted(item.barcodes.values_list("code", flat=True)) == ["4600000000015", "46000002"]


def test_wrong_barcode_shows_error_and_saves_nothing(manager_client: Client, unit: Unit) -> None:
    response = manager_client.post(reverse("catalogs:items_new"), {
        "name": "Кефир", "kind": "goods", "unit": unit.pk, "weight_kg": "0", "volume_m3": "0", "vat_rate": "22",
        "barcodes-TOTAL_FORMS": "1", "barcodes-INITIAL_FORMS": "0", "barcodes-0-code": "4600000000001"})
    assert response.context["barcodes"].forms[0].errors["code"] == [
        "Barcode 4600000000001 has a wrong check digit: the last digit should be 8."]
    assert Item.objects.count() == 0 and Barcode.objects.count() == 0


def test_barcode_of_another_item_is_refused(manager_client: Client, unit: Unit) -> None:
    other = Item.objects.create(name="Milk", unit=unit)
    Barcode.objects.create(item=other, code="4600000000008")
    response = manager_client.post(reverse("catalogs:items_new"), {
        "name": "Кефир", "kind": "goods", "unit": unit.pk, "weight_kg": "0", "volume_m3": "0", "vat_rate": "22",
        "barcodes-TOTAL_FORMS": "1", "barcodes-INITIAL_FORMS": "0", "barcodes-0-code": "4600000000008"})
    assert response.context["barcodes"].non_form_errors() == ["Barcode 4600000000008 already belongs to “Milk”."]
    assert Item.objects.count() == 1


def test_mark_for_deletion_and_unmark(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Gone")
    url = reverse("catalogs:partners_mark", args=[partner.pk])
    assert manager_client.get(url).status_code == 405

    manager_client.post(url, {"mark": "1"})
    partner.refresh_from_db()
    assert (partner.deletion_mark, partner.version) == (True, 2)
    manager_client.post(url, {"mark": "0"})
    partner.refresh_from_db()
    assert (partner.deletion_mark, partner.version) == (False, 3)
    assert list(ChangeLogEntry.objects.order_by("id").values_list("action", flat=True)) == ["marked", "unmarked"]
    assert Partner.objects.count() == 1


def test_partner_page_shows_counterparties_contacts_addresses_with_add_links(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Client")
    Counterparty.objects.create(partner=partner, name="ООО «Клиент»", inn="7707083893", kpp="773601001")
    Contact.objects.create(partner=partner, name="Иван Петров", position="buyer")
    partner.delivery_addresses.create(address="Москва, Тверская, 1")

    html = manager_client.get(reverse("catalogs:partners_edit", args=[partner.pk])).content.decode()
    for text in ("ООО «Клиент»", "Иван Петров", "Москва, Тверская, 1",
                 f"/catalogs/counterparties/new/?partner={partner.pk}", f"/catalogs/contacts/new/?partner={partner.pk}",
                 f"/catalogs/delivery-addresses/new/?partner={partner.pk}"):
        assert text in html


def test_new_link_presets_the_partner(manager_client: Client) -> None:
    partner = Partner.objects.create(name="Client")
    response = manager_client.get(reverse("catalogs:contacts_new"), {"partner": partner.pk})
    assert response.context["form"]["partner"].value() == str(partner.pk)


def test_item_page_shows_todays_price_per_price_type(manager_client: Client, milk: Item) -> None:
    wholesale = PriceType.objects.create(name="Wholesale")
    retail = PriceType.objects.create(name="Retail")
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2020, 1, 1), price=Decimal("70"))
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2021, 1, 1), price=Decimal("75"))
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2999, 1, 1), price=Decimal("99"))
    ItemPrice.objects.create(item=milk, price_type=retail, valid_from=dt.date(2020, 1, 1), price=Decimal("89.90"))

    response = manager_client.get(reverse("catalogs:items_edit", args=[milk.pk]))
    block = response.context["related"][0]
    assert [(text, detail) for _url, text, detail in block.rows] == [
        ("Retail", "89.90 from 01.01.2020"), ("Wholesale", "75.00 from 01.01.2021")]


def test_price_selectors(milk: Item, bread: Item, django_assert_num_queries: Any) -> None:
    wholesale = PriceType.objects.create(name="Wholesale")
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2024, 1, 1), price=Decimal("70"))
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2024, 3, 1), price=Decimal("75"))
    ItemPrice.objects.create(item=bread, price_type=wholesale, valid_from=dt.date(2024, 2, 1), price=Decimal("40"))

    assert price_of(milk, wholesale, dt.date(2023, 12, 31)) is None
    assert price_of(milk, wholesale, dt.date(2024, 2, 29)) == Decimal("70.00")
    assert price_of(milk, wholesale, dt.date(2024, 3, 1)) == Decimal("75.00")
    with django_assert_num_queries(1):
        assert prices_of([milk, bread], wholesale, dt.date(2024, 1, 15)) == {milk.pk: Decimal("70.00")}
    assert prices_of([milk, bread], wholesale, dt.date(2024, 6, 1)) == {milk.pk: Decimal("75.00"),
                                                                      bread.pk: Decimal("40.00")}


def test_price_list_filters_by_price_type_and_item(manager_client: Client, milk: Item, bread: Item) -> None:
    wholesale = PriceType.objects.create(name="Wholesale")
    retail = PriceType.objects.create(name="Retail")
    ItemPrice.objects.create(item=milk, price_type=wholesale, valid_from=dt.date(2024, 1, 1), price=Decimal("70"))
    ItemPrice.objects.create(item=milk, price_type=retail, valid_from=dt.date(2024, 1, 1), price=Decimal("90"))
    ItemPrice.objects.create(item=bread, price_type=retail, valid_from=dt.date(2024, 1, 1), price=Decimal("40"))
    url = reverse("catalogs:prices_list")

    rows = manager_client.get(url, {"price_type": retail.pk}).context["listing"].rows
    assert [(r.obj.item.name, r.obj.price) for r in rows] == [("Bread", Decimal("40.00")),
                                                             ("Milk 1L", Decimal("90.00"))]
    rows = manager_client.get(url, {"item": milk.pk}).context["listing"].rows
    assert [(r.obj.price_type.name, r.obj.price) for r in rows] == [("Retail", Decimal("90.00")),
                                                                   ("Wholesale", Decimal("70.00"))]


def test_view_only_role_sees_a_read_only_form_and_cannot_post(client: Client, role_user: Any) -> None:
    partner = Partner.objects.create(name="Client")
    client.force_login(role_user(Role.CASHIER))
    url = reverse("catalogs:partners_edit", args=[partner.pk])

    page = client.get(url)
    refused = client.post(url, {"name": "Hacked", "is_client": "on", "version": "1"})

    assert page.status_code == 200 and page.context["can_edit"] is False
    assert 'name="save"' not in page.content.decode()
    assert refused.status_code == 403
    partner.refresh_from_db()
    assert (partner.name, partner.version) == ("Client", 1)


def test_company_catalogs_need_company_edit(manager_client: Client, organization: Any) -> None:
    assert manager_client.get(reverse("catalogs:organizations_list")).status_code == 200
    assert manager_client.get(reverse("catalogs:organizations_new")).status_code == 403
    assert manager_client.get(reverse("catalogs:warehouses_new")).status_code == 403
    assert manager_client.get(reverse("catalogs:organization_accounts_new")).status_code == 403
    assert manager_client.get(reverse("catalogs:counterparty_accounts_new")).status_code == 200
