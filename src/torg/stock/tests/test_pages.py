"""Stock document pages: create, save, post, unpost through the pages, refusals shown with nothing written."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse

from torg.conftest import moment
from torg.core.models import ChangeLogEntry, SystemSettings
from torg.stock.models import Purchase, Stock, StockCount, StockMovement, Surplus, WriteOff, WriteOffLine
from torg.stock.tests.helpers import purchase, stock_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def client_sk(client: Client, storekeeper: Any) -> Client:
    client.force_login(storekeeper)
    return client


def purchase_form(organization: Any, warehouse: Any, supplier: Any, lines: list[tuple[Any, str, str]],
                  **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "date": "2025-03-10T12:00:00", "organization": organization.pk, "supplier": supplier.pk,
        "warehouse": warehouse.pk, "prices_include_vat": "on", "comment": "", "supplier_invoice": "",
        "action": "save",
    }
    for i, (item, quantity, price) in enumerate(lines):
        data.update({f"lines-{i}-item": item.pk, f"lines-{i}-item_text": item.name,
                     f"lines-{i}-quantity": quantity, f"lines-{i}-price": price, f"lines-{i}-vat_rate": "22"})
    data.update(extra)
    return data


def test_purchase_created_through_the_page_saved_posted_with_movements_and_history(
        client_sk: Client, organization: Any, warehouse: Any, supplier: Any, milk: Any, bread: Any) -> None:
    response = client_sk.post(reverse("stock:purchases_new"),
                              purchase_form(organization, warehouse, supplier, [(milk, "10", "61.00"),
                                                                                (bread, "3", "40.50")]))
    doc = Purchase.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("stock:purchases_edit", args=[doc.pk])
    assert doc.number == "РМ-000001"
    assert doc.posted is False
    lines = list(doc.lines.order_by("line_no").values_list("item__name", "quantity", "price", "amount", "vat_amount"))
    assert lines == [("Milk 1L", Decimal("10.000"), Decimal("61.00"), Decimal("610.00"), Decimal("110.00")),
                     ("Bread", Decimal("3.000"), Decimal("40.50"), Decimal("121.50"), Decimal("21.91"))]

    # Post with the Post button.
    response = client_sk.post(reverse("stock:purchases_post", args=[doc.pk]))
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.posted is True
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == Decimal("10.000")

    page = client_sk.get(reverse("stock:purchases_edit", args=[doc.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    movements = html.split('id="doc-movements"')[1].split('id="doc-history"')[0]
    assert "Milk 1L" in movements and "Bread" in movements and "Central" in movements
    assert movements.count("<tr>") == 1 + 2 + 1 + 2  # header + 2 stock rows, header + 2 cost rows
    history = html.split('id="doc-history"')[1]
    assert history.count("torg-history-row") == 2  # created, posted
    assert "storekeeper" in history


def test_editing_a_posted_purchase_reposts_and_history_names_the_changed_field(
        client_sk: Client, organization: Any, warehouse: Any, warehouse2: Any, supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    data = purchase_form(organization, warehouse2, supplier, [(milk, "12", "61.00")], version=doc.version)
    response = client_sk.post(reverse("stock:purchases_edit", args=[doc.pk]), data)
    assert response.status_code == 302
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == Decimal("0.000")
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == Decimal("12.000")
    html = client_sk.get(reverse("stock:purchases_edit", args=[doc.pk])).content.decode()
    history = html.split('id="doc-history"')[1]
    assert "Central → North" in history
    assert "1 → 1" in history  # lines changed (1 → 1 rows)


def test_shortage_is_shown_with_the_input_kept_and_nothing_written(
        client_sk: Client, organization: Any, warehouse: Any, supplier: Any, milk: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(milk, 7, 50)])
    movements_before = StockMovement.objects.count()
    log_before = ChangeLogEntry.objects.count()
    data = {"date": "2025-03-10T12:00:00", "organization": organization.pk, "warehouse": warehouse.pk,
            "reason": "broken", "comment": "", "action": "save_post",
            "lines-0-item": milk.pk, "lines-0-item_text": milk.name, "lines-0-quantity": "12"}
    response = client_sk.post(reverse("stock:write_offs_new"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="doc-error" data-code="shortage"' in html
    assert "Not enough “Milk 1L” at Central: need 12, have 7" in html
    assert 'value="12"' in html and 'value="broken"' in html  # the user's input stays
    assert WriteOff.objects.count() == 0
    assert WriteOffLine.objects.count() == 0
    assert StockMovement.objects.count() == movements_before
    assert ChangeLogEntry.objects.count() == log_before


def test_field_errors_are_shown_at_the_fields_and_lines(client_sk: Client, organization: Any, warehouse: Any,
                                                        supplier: Any, milk: Any) -> None:
    data = purchase_form(organization, warehouse, supplier, [(milk, "0", "10")])
    data["lines-1-item_text"] = "no such thing"
    data["lines-1-quantity"] = "2"
    data["supplier"] = ""
    response = client_sk.post(reverse("stock:purchases_new"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="invalid"' in html
    assert "Choose an item: type a part of its name or article and pick it from the list." in html
    assert 'value="no such thing"' in html
    assert Purchase.objects.count() == 0


def test_quantity_error_from_the_service_lands_on_its_line(client_sk: Client, organization: Any, warehouse: Any,
                                                           supplier: Any, milk: Any) -> None:
    response = client_sk.post(reverse("stock:purchases_new"),
                              purchase_form(organization, warehouse, supplier, [(milk, "0", "10")]))
    html = response.content.decode()
    assert "Line 1: the quantity must be greater than zero." in html
    assert Purchase.objects.count() == 0


def test_a_stale_version_is_refused_and_nothing_changes(client_sk: Client, organization: Any, warehouse: Any,
                                                        supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)], post=False)
    stale = doc.version
    client_sk.post(reverse("stock:purchases_edit", args=[doc.pk]),
                   purchase_form(organization, warehouse, supplier, [(milk, "11", "61")], version=stale))
    response = client_sk.post(reverse("stock:purchases_edit", args=[doc.pk]),
                              purchase_form(organization, warehouse, supplier, [(milk, "99", "61")], version=stale))
    html = response.content.decode()
    assert response.status_code == 409
    assert 'data-code="concurrent_edit"' in html
    assert 'value="99"' in html
    assert list(doc.lines.values_list("quantity", flat=True)) == [Decimal("11.000")]


def test_unpost_through_the_page(client_sk: Client, organization: Any, warehouse: Any, supplier: Any,
                                 milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    response = client_sk.post(reverse("stock:purchases_unpost", args=[doc.pk]))
    assert response.status_code == 302
    doc.refresh_from_db()
    assert doc.posted is False
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == Decimal("0.000")
    ct = ContentType.objects.get_for_model(Purchase)
    actions = list(ChangeLogEntry.objects.filter(content_type=ct, object_id=doc.pk).order_by("id")
                   .values_list("action", flat=True))
    assert actions == ["created", "posted", "unposted"]


def test_unpost_refused_when_stock_was_used_shows_the_error(client_sk: Client, organization: Any, warehouse: Any,
                                                            supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    from torg.stock.tests.helpers import write_off

    write_off(organization, warehouse, moment("2025-03-11"), [(milk, 4)])
    response = client_sk.post(reverse("stock:purchases_unpost", args=[doc.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="shortage"' in html
    doc.refresh_from_db()
    assert doc.posted is True


def test_period_lock_refuses_posting(client_sk: Client, organization: Any, warehouse: Any, supplier: Any,
                                     milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)], post=False)
    settings = SystemSettings.get()
    settings.period_lock_date = moment("2025-03-31").date()
    settings.save()
    response = client_sk.post(reverse("stock:purchases_post", args=[doc.pk]))
    assert 'data-code="period_locked"' in response.content.decode()
    doc.refresh_from_db()
    assert doc.posted is False


def test_mark_for_deletion_unposts(client_sk: Client, organization: Any, warehouse: Any, supplier: Any,
                                   milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    response = client_sk.post(reverse("stock:purchases_mark", args=[doc.pk]), {"mark": "1"})
    assert response.status_code == 302
    doc.refresh_from_db()
    assert (doc.posted, doc.deletion_mark) == (False, True)


def test_stock_count_fill_enter_complete(client_sk: Client, organization: Any, warehouse: Any, supplier: Any,
                                         milk: Any, bread: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(milk, 10, 50), (bread, 5, 30)])
    count = stock_count(organization, warehouse, moment("2025-03-05"), [])
    assert client_sk.post(reverse("stock:stock_counts_fill", args=[count.pk])).status_code == 302
    count.refresh_from_db()
    lines = list(count.lines.order_by("line_no").values_list("item__name", "book_quantity", "quantity"))
    assert sorted(lines) == [("Bread", Decimal("5.000"), Decimal("5.000")), ("Milk 1L", Decimal("10.000"),
                                                                              Decimal("10.000"))]
    data: dict[str, Any] = {"date": "2025-03-05T12:00:00", "organization": organization.pk,
                            "warehouse": warehouse.pk, "comment": "", "action": "save", "version": count.version}
    counted = {milk.pk: "8", bread.pk: "6"}
    for i, line in enumerate(count.lines.order_by("line_no")):
        data.update({f"lines-{i}-item": line.item_id, f"lines-{i}-quantity": counted[line.item_id],
                     f"lines-{i}-book_quantity": "999"})  # the browser cannot change book quantities
    assert client_sk.post(reverse("stock:stock_counts_edit", args=[count.pk]), data).status_code == 302
    assert sorted(count.lines.values_list("book_quantity", "quantity")) == [
        (Decimal("5.000"), Decimal("6.000")), (Decimal("10.000"), Decimal("8.000"))]

    assert client_sk.post(reverse("stock:stock_counts_complete", args=[count.pk])).status_code == 302
    count.refresh_from_db()
    assert count.status == StockCount.Status.COMPLETED
    write_off = WriteOff.objects.get()
    surplus = Surplus.objects.get()
    assert (write_off.posted, surplus.posted) == (True, True)
    assert list(write_off.lines.values_list("item__name", "quantity")) == [("Milk 1L", Decimal("2.000"))]
    assert list(surplus.lines.values_list("item__name", "quantity")) == [("Bread", Decimal("1.000"))]
    html = client_sk.get(reverse("stock:stock_counts_edit", args=[count.pk])).content.decode()
    links = html.split('id="doc-links"')[1].split('id="doc-movements"')[0]
    assert reverse("stock:write_offs_edit", args=[write_off.pk]) in links
    assert reverse("stock:surpluses_edit", args=[surplus.pk]) in links
    assert 'name="action" value="save"' not in html  # a completed count is read-only


def test_list_page_filters_and_query_count(client_sk: Client, organization: Any, warehouse: Any, warehouse2: Any,
                                           supplier: Any, milk: Any, django_assert_max_num_queries: Any) -> None:
    for day in ("2025-03-01", "2025-03-02", "2025-04-01"):
        purchase(organization, warehouse, supplier, moment(day), [(milk, 1, 10)])
    purchase(organization, warehouse2, supplier, moment("2025-03-03"), [(milk, 2, 10)], post=False)
    with django_assert_max_num_queries(12):
        response = client_sk.get(reverse("stock:purchases_list"))
    assert response.content.decode().count("РМ-00000") == 4
    html = client_sk.get(reverse("stock:purchases_list"),
                         {"warehouse": warehouse.pk, "from": "2025-03-01", "to": "2025-03-31"}).content.decode()
    assert "РМ-000001" in html and "РМ-000002" in html and "РМ-000003" not in html and "РМ-000004" not in html
    html = client_sk.get(reverse("stock:purchases_list"), {"posted": "0"}).content.decode()
    assert "РМ-000004" in html and "РМ-000001" not in html


def test_item_search_returns_matching_items(client_sk: Client, milk: Any, bread: Any) -> None:
    data = client_sk.get(reverse("stock:item_search"), {"q": "mil"}).json()
    assert data == {"items": [{"id": milk.pk, "label": "Milk 1L", "unit": "шт", "vat_rate": 22}]}


def test_print_returns_a_pdf(client_sk: Client, organization: Any, warehouse: Any, supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    response = client_sk.get(reverse("stock:purchases_print", args=[doc.pk]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")


def test_role_that_may_only_look_sees_no_buttons(client: Client, role_user: Any, organization: Any,
                                                 warehouse: Any, supplier: Any, milk: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    client.force_login(role_user("sales_manager"))
    html = client.get(reverse("stock:purchases_edit", args=[doc.pk])).content.decode()
    assert 'value="save"' not in html and 'value="unpost"' not in html
    assert client.post(reverse("stock:purchases_unpost", args=[doc.pk])).status_code == 403


def test_a_transfer_marked_for_our_transport_from_the_page(client_sk: Client, organization: Any, warehouse: Any,
                                                           warehouse2: Any, supplier: Any, milk: Any) -> None:
    from torg.stock.models import Transfer

    purchase(organization, warehouse, supplier, moment("2025-03-01", 9), [(milk, 10, 60)])
    page = client_sk.get(reverse("stock:transfers_new")).content.decode()
    assert 'name="delivery_needed"' in page and "Delivered by our transport" in page
    data = {"date": "2025-03-10T12:00:00", "organization": organization.pk, "warehouse_from": warehouse.pk,
            "warehouse_to": warehouse2.pk, "delivery_needed": "on", "comment": "", "action": "save",
            "lines-0-item": milk.pk, "lines-0-item_text": milk.name, "lines-0-quantity": "4"}
    assert client_sk.post(reverse("stock:transfers_new"), data).status_code == 302
    transfer = Transfer.objects.get()
    assert transfer.delivery_needed and not transfer.posted
