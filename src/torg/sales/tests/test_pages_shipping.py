"""Shipping pages through the test client: the backlog makes shipments (several orders, several warehouses),
refusals keep the selection, shipments are edited and posted through the document page, an order-based
warehouse issues goods on its desk, and roles without the capability are refused."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import Partner, Warehouse
from torg.conftest import moment
from torg.core.permissions import Role
from torg.sales import services
from torg.sales.models import (
    GoodsIssue,
    GoodsToIssue,
    OrderBacklog,
    OrderStateCode,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    ShipmentLine,
)
from torg.stock.models import Stock
from torg.stock.tests.helpers import purchase

D = Decimal
pytestmark = pytest.mark.django_db


def released_order(organization: Any, partner: Any, warehouse: Any, lines: list[tuple[Any, str, str, Any]], *,
                   user: Any, day: str = "2026-03-05") -> SalesOrder:
    """A posted order released to ship: lines of (item, quantity, price, line warehouse or None)."""
    order = SalesOrder(organization=organization, partner=partner, warehouse=warehouse, date=moment(day, 10))
    services.save_order(order, [SalesOrderLine(item=item, quantity=D(q), price=D(p), warehouse=wh)
                                for item, q, p, wh in lines], user=user, post=True)
    services.release_to_ship(order, user=user)
    return order


def logged_in(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def key(order: SalesOrder, line_no: int = 1) -> str:
    return f"{order.pk}:{order.lines.get(line_no=line_no).code}"


def test_backlog_ships_two_orders_of_one_client_from_two_warehouses_in_one_shipment(
        client: Client, organization: Any, warehouse: Any, warehouse2: Any, client_partner: Any, milk: Any,
        bread: Any, stocked: Any, manager: Any) -> None:
    first = released_order(organization, client_partner, warehouse, [(milk, "10", "100", None)], user=manager)
    second = released_order(organization, client_partner, warehouse, [(bread, "5", "50", warehouse2)], user=manager)
    web = logged_in(client, manager)

    page = web.get(reverse("shipping:backlog"))
    html = page.content.decode()
    assert page.status_code == 200
    assert html.count('class="backlog-row') == 2
    assert str(first) in html and str(second) in html and "Central" in html and "North" in html

    response = web.post(reverse("shipping:backlog"), {
        "pick": [key(first), key(second)], f"qty-{key(first)}": "10", f"qty-{key(second)}": "4", "post": "on"})
    shipment = Shipment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("shipping:shipments_edit",
                                                                           args=[shipment.pk])
    assert shipment.posted and shipment.partner_id == client_partner.pk
    lines = list(shipment.lines.order_by("line_no").values_list("order_id", "item_id", "warehouse_id", "quantity"))
    assert lines == [(first.pk, milk.pk, warehouse.pk, D(10)), (second.pk, bread.pk, warehouse2.pk, D(4))]
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(90)
    assert Stock.balance(warehouse=warehouse2, item=bread)["quantity"] == D(46)
    # one unit of bread is still waiting; the milk line is gone from the backlog
    rows = services.shipping_backlog()
    assert [(r.order_id, r.quantity) for r in rows] == [(second.pk, D(1))]

    page = web.get(response["Location"]).content.decode()
    assert str(first) in page.split('id="shipment-orders"')[1].split("</p>")[0]
    assert 'id="doc-status">Posted' in page
    prints = page.split('id="shipment-prints"')[1].split("</div>")[0]
    for form in ("upd", "torg12", "invoice"):
        assert reverse("printing:shipment_form", args=[shipment.pk, form]) in prints


def test_backlog_makes_one_shipment_per_client_and_lists_them(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, milk: Any, stocked: Any,
        manager: Any) -> None:
    other = Partner.objects.create(name="Lavka u doma", is_client=True)
    mine = released_order(organization, client_partner, warehouse, [(milk, "3", "100", None)], user=manager)
    theirs = released_order(organization, other, warehouse, [(milk, "2", "100", None)], user=manager)
    web = logged_in(client, manager)
    response = web.post(reverse("shipping:backlog"), {"pick": [key(mine), key(theirs)], "post": "on"})
    assert response.status_code == 302
    assert sorted(Shipment.objects.values_list("partner__name", flat=True)) == ["Lavka u doma", "Produkty na Lesnoy"]
    page = web.get(response["Location"]).content.decode()
    created = page.split('id="backlog-created"')[1].split("</ul>")[0]
    assert created.count("<li>") == 2
    assert "Nothing is waiting to ship." in page


def test_backlog_filters_by_warehouse_client_and_date(
        client: Client, organization: Any, warehouse: Any, warehouse2: Any, client_partner: Any, milk: Any,
        bread: Any, stocked: Any, manager: Any) -> None:
    order = released_order(organization, client_partner, warehouse, [(milk, "1", "100", None),
                                                                      (bread, "1", "50", warehouse2)], user=manager)
    SalesOrder.objects.filter(pk=order.pk).update(shipment_date="2026-03-20")
    web = logged_in(client, manager)
    html = web.get(reverse("shipping:backlog"), {"warehouse": warehouse2.pk}).content.decode()
    assert html.count('class="backlog-row') == 1 and "Bread" in html.split('id="backlog-table"')[1]
    assert web.get(reverse("shipping:backlog"), {"until": "2026-03-19"}).content.decode().count(
        'class="backlog-row') == 0
    assert web.get(reverse("shipping:backlog"), {"until": "2026-03-20"}).content.decode().count(
        'class="backlog-row') == 2
    other = Partner.objects.create(name="Nobody", is_client=True)
    assert web.get(reverse("shipping:backlog"), {"partner": other.pk}).content.decode().count(
        'class="backlog-row') == 0


def test_shipping_more_than_ordered_is_refused_naming_the_line_and_keeping_the_selection(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, milk: Any, stocked: Any,
        manager: Any) -> None:
    order = released_order(organization, client_partner, warehouse, [(milk, "10", "100", None)], user=manager)
    web = logged_in(client, manager)
    response = web.post(reverse("shipping:backlog"), {"pick": [key(order)], f"qty-{key(order)}": "15",
                                                      "post": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="beyond_order"' in html
    assert f"Shipping more than ordered: {order}, line 1: ordered 10, shipped 0, asked 15." in html
    assert f'value="{key(order)}" id="pick-{key(order)}" checked' in html
    assert f'name="qty-{key(order)}"' in html and 'value="15"' in html
    assert Shipment.objects.count() == 0 and ShipmentLine.objects.count() == 0
    assert OrderBacklog.balance(order=order, line_code=str(order.lines.get().code), item=milk,
                                warehouse=warehouse)["quantity"] == D(10)


def test_bad_quantity_and_empty_selection_are_explained(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, milk: Any, stocked: Any,
        manager: Any) -> None:
    order = released_order(organization, client_partner, warehouse, [(milk, "10", "100", None)], user=manager)
    web = logged_in(client, manager)
    html = web.post(reverse("shipping:backlog"), {"pick": [key(order)], f"qty-{key(order)}": "ten"}).content.decode()
    assert "“ten” is not a quantity to ship" in html
    html = web.post(reverse("shipping:backlog"), {f"qty-{key(order)}": "3"}).content.decode()
    assert "Tick the lines to ship first." in html
    assert Shipment.objects.count() == 0


def test_an_order_awaiting_prepayment_is_marked_and_its_refusal_keeps_the_selection(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any, stocked: Any, manager: Any, director: Any) -> None:
    # the director may release before the prepayment; the order then awaits it
    order = SalesOrder(organization=organization, partner=client_partner, warehouse=warehouse, agreement=agreement,
                       date=moment("2026-03-05", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(4))], user=director, post=True)
    services.release_to_ship(order, user=director)
    order.refresh_from_db()
    assert order.state.state == OrderStateCode.AWAITING_PREPAYMENT
    web = logged_in(client, manager)
    html = web.get(reverse("shipping:backlog")).content.decode()
    assert "awaiting prepayment" in html.split('id="backlog-table"')[1]
    assert "1 line belongs to an order awaiting its prepayment" in html
    response = web.post(reverse("shipping:backlog"), {"pick": [key(order)], "post": "on"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-code="payment_terms"' in html
    assert f'value="{key(order)}" id="pick-{key(order)}" checked' in html
    assert Shipment.objects.count() == 0


# ------------------------------------------------------------------ the shipment page
def shipment_form(organization: Any, partner: Any, warehouse: Any, lines: list[dict[str, Any]],
                  **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"date": "2026-03-12T12:00:00", "organization": organization.pk, "partner": partner.pk,
                            "warehouse": warehouse.pk, "prices_include_vat": "on", "comment": "", "action": "save"}
    for i, line in enumerate(lines):
        item = line["item"]
        data.update({f"lines-{i}-item": item.pk, f"lines-{i}-item_text": item.name,
                     f"lines-{i}-quantity": line["quantity"], f"lines-{i}-price": line["price"],
                     f"lines-{i}-vat_rate": "22", f"lines-{i}-discount_percent": line.get("discount", "0"),
                     f"lines-{i}-order": line.get("order", ""), f"lines-{i}-warehouse": line.get("warehouse", ""),
                     f"lines-{i}-order_line_code": line.get("code", "0")})
    data.update(extra)
    return data


def test_a_sale_without_an_order_is_saved_and_posted_through_the_page_with_its_due_date(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, milk: Any, stocked: Any,
        manager: Any) -> None:
    web = logged_in(client, manager)
    page = web.get(reverse("shipping:shipments_new"))
    assert page.status_code == 200 and "Payment due" in page.content.decode()
    data = shipment_form(organization, client_partner, warehouse,
                         [{"item": milk, "quantity": "3", "price": "100", "discount": "10"}],
                         due_date="2026-03-26", action="save_post")
    response = web.post(reverse("shipping:shipments_new"), data)
    shipment = Shipment.objects.get()
    assert response.status_code == 302, response.content.decode()[:3000]
    assert shipment.posted and str(shipment.due_date) == "2026-03-26"
    assert shipment.amount == D("270.00")  # 3 × 100 less 10 %
    assert shipment.lines.get().order_id is None and shipment.lines.get().order_line_code == 0
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(97)

    # unpost and post again with the buttons
    assert web.post(reverse("shipping:shipments_unpost", args=[shipment.pk])).status_code == 302
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(100)
    assert web.post(reverse("shipping:shipments_post", args=[shipment.pk])).status_code == 302
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(97)


def test_an_order_line_added_by_hand_gets_its_order_line_code_and_goods_beyond_the_order_need_the_right(
        client: Client, organization: Any, warehouse: Any, client_partner: Any, milk: Any, bread: Any,
        stocked: Any, manager: Any, director: Any) -> None:
    order = released_order(organization, client_partner, warehouse, [(milk, "10", "100", None)], user=manager)
    code = order.lines.get().code
    web = logged_in(client, manager)
    page = web.get(reverse("shipping:shipments_new")).content.decode()
    assert f'<option value="{order.pk}">' in page  # the order with goods left is offered on the lines

    # the milk names the order: the page finds its line; the bread is not in the order
    lines = [{"item": milk, "quantity": "4", "price": "100", "order": order.pk},
             {"item": bread, "quantity": "1", "price": "50", "order": order.pk}]
    response = web.post(reverse("shipping:shipments_new"),
                        shipment_form(organization, client_partner, warehouse, lines, action="save_post"))
    html = response.content.decode()
    assert response.status_code == 200
    assert f"Line 2 is not in {order}: shipping beyond an order needs the right to do so." in html
    assert Shipment.objects.count() == 0

    # the sales director has the right: both lines ship, the milk against its order line
    web = logged_in(Client(), director)
    response = web.post(reverse("shipping:shipments_new"),
                        shipment_form(organization, client_partner, warehouse, lines, action="save_post"))
    assert response.status_code == 302, response.content.decode().split('id="doc-error"')[-1][:600]
    shipment = Shipment.objects.get()
    assert list(shipment.lines.order_by("line_no").values_list("order_id", "order_line_code")) == [
        (order.pk, code), (order.pk, 0)]
    assert OrderBacklog.balance(order=order, line_code=str(code), item=milk, warehouse=warehouse)["quantity"] == D(6)

    # editing the saved shipment keeps the line's code (it travels in a hidden field)
    saved = web.get(reverse("shipping:shipments_edit", args=[shipment.pk])).content.decode()
    assert f'name="lines-0-order_line_code" value="{code}"' in saved
    lines[0].update(quantity="5", code=str(code))
    lines[1].update(code="0")
    shipment.refresh_from_db()
    data = shipment_form(organization, client_partner, warehouse, lines, version=shipment.version)
    assert web.post(reverse("shipping:shipments_edit", args=[shipment.pk]), data).status_code == 302
    assert OrderBacklog.balance(order=order, line_code=str(code), item=milk, warehouse=warehouse)["quantity"] == D(5)


def test_the_item_search_gives_the_agreements_price(client: Client, agreement: Any, prices: Any, milk: Any,
                                                   manager: Any) -> None:
    web = logged_in(client, manager)
    url = reverse("shipping:item_search")
    found = web.get(url, {"q": "Milk", "agreement": agreement.pk, "date": "2026-03-12T12:00:00"}).json()["items"]
    assert [(i["label"], i["price"]) for i in found] == [("Milk 1L", "100.00")]
    assert "price" not in web.get(url, {"q": "Milk"}).json()["items"][0]
    assert web.get(url, {"q": "Milk", "agreement": agreement.pk, "date": "2026-02-30"}).status_code == 200


# ------------------------------------------------------------------ order-based warehouse
def test_an_order_based_warehouse_moves_stock_only_when_it_issues_the_goods(
        client: Client, organization: Any, client_partner: Any, supplier: Any, milk: Any, manager: Any,
        storekeeper: Any) -> None:
    depot = Warehouse.objects.create(name="Depot", order_based=True)
    purchase(organization, depot, supplier, moment("2026-03-01", 9), [(milk, 50, 60)])
    order = released_order(organization, client_partner, depot, [(milk, "10", "100", None)], user=manager)
    response = logged_in(client, manager).post(reverse("shipping:backlog"), {"pick": [key(order)], "post": "on"})
    shipment = Shipment.objects.get()
    assert response.status_code == 302
    # sold, not yet issued: on the shelf still, no longer free
    assert Stock.balance(warehouse=depot, item=milk) == {"quantity": D(50), "free": D(40)}
    assert GoodsToIssue.balance(warehouse=depot, shipment=shipment, item=milk)["quantity"] == D(10)

    desk = logged_in(Client(), storekeeper)
    page = desk.get(reverse("shipping:goods_issue_desk")).content.decode()
    assert f'data-shipment="{shipment.pk}"' in page and f'name="qty-{shipment.pk}-{milk.pk}"' in page

    # the warehouse hands over 8 of 10
    response = desk.post(reverse("shipping:goods_issue_desk"),
                         {"shipment": [shipment.pk], f"qty-{shipment.pk}-{milk.pk}": "8"})
    issue = GoodsIssue.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("shipping:goods_issues_edit",
                                                                           args=[issue.pk])
    assert issue.posted and issue.warehouse_id == depot.pk
    assert Stock.balance(warehouse=depot, item=milk) == {"quantity": D(42), "free": D(40)}
    assert GoodsToIssue.balance(warehouse=depot, shipment=shipment, item=milk)["quantity"] == D(2)

    # the difference shows on the shipment, and the shipment still waits on the desk for the rest
    page = desk.get(reverse("shipping:shipments_edit", args=[shipment.pk])).content.decode()
    difference = page.split('id="issue-difference"')[1]
    assert "Depot" in difference and '<td class="text-end issue-to-issue">2</td>' in difference
    assert f'data-shipment="{shipment.pk}"' in desk.get(reverse("shipping:goods_issue_desk")).content.decode()
    issue_page = desk.get(reverse("shipping:goods_issues_edit", args=[issue.pk]))
    assert issue_page.status_code == 200 and str(shipment) in issue_page.content.decode()

    # unposting the issue puts the goods back on the shelf and the shipment back on the desk in full
    assert desk.post(reverse("shipping:goods_issues_unpost", args=[issue.pk])).status_code == 302
    assert Stock.balance(warehouse=depot, item=milk) == {"quantity": D(50), "free": D(40)}
    assert GoodsToIssue.balance(warehouse=depot, shipment=shipment, item=milk)["quantity"] == D(10)


def test_issuing_goods_without_a_selection_or_with_a_bad_quantity_is_explained(
        client: Client, organization: Any, client_partner: Any, supplier: Any, milk: Any, manager: Any,
        storekeeper: Any) -> None:
    depot = Warehouse.objects.create(name="Depot", order_based=True)
    purchase(organization, depot, supplier, moment("2026-03-01", 9), [(milk, 50, 60)])
    order = released_order(organization, client_partner, depot, [(milk, "10", "100", None)], user=manager)
    shipment = services.create_shipments_from_backlog([services.Pick(order.pk, order.lines.get().code)],
                                                      user=manager)[0]
    desk = logged_in(client, storekeeper)
    html = desk.post(reverse("shipping:goods_issue_desk"), {f"qty-{shipment.pk}-{milk.pk}": "10"}).content.decode()
    assert "Tick the shipments whose goods are issued." in html
    html = desk.post(reverse("shipping:goods_issue_desk"),
                     {"shipment": [shipment.pk], f"qty-{shipment.pk}-{milk.pk}": "-1"}).content.decode()
    assert "“-1” is not a quantity issued" in html
    html = desk.post(reverse("shipping:goods_issue_desk"),
                     {"shipment": [shipment.pk], f"qty-{shipment.pk}-{milk.pk}": "0"}).content.decode()
    assert "nothing would be issued" in html
    assert GoodsIssue.objects.count() == 0
    assert Stock.balance(warehouse=depot, item=milk)["quantity"] == D(50)


# ------------------------------------------------------------------ access
def test_roles_without_the_capability_are_refused(client: Client, role_user: Any, organization: Any,
                                                  warehouse: Any, client_partner: Any, milk: Any, stocked: Any,
                                                  manager: Any) -> None:
    order = released_order(organization, client_partner, warehouse, [(milk, "10", "100", None)], user=manager)
    logistician = logged_in(client, role_user(Role.LOGISTICIAN, "logistician"))
    assert logistician.get(reverse("shipping:backlog")).status_code == 200  # may look
    html = logistician.get(reverse("shipping:backlog")).content.decode()
    assert 'name="pick"' not in html and "Create shipments" not in html
    assert logistician.post(reverse("shipping:backlog"), {"pick": [key(order)]}).status_code == 403
    assert logistician.get(reverse("shipping:goods_issue_desk")).status_code == 403
    courier = logged_in(Client(), role_user(Role.COURIER, "courier"))
    for name in ("shipping:backlog", "shipping:shipments_list", "shipping:shipments_new"):
        assert courier.get(reverse(name)).status_code == 403
    cashier = logged_in(Client(), role_user(Role.CASHIER, "cashier"))
    assert cashier.get(reverse("shipping:shipments_list")).status_code == 200
    assert cashier.get(reverse("shipping:shipments_new")).status_code == 403
    assert cashier.get(reverse("shipping:goods_issue_desk")).status_code == 403
    assert Shipment.objects.count() == 0
    # a shipment is shown to those who may look, without the buttons that change it
    shipment = services.create_shipments_from_backlog([services.Pick(order.pk, order.lines.get().code)],
                                                      user=manager)[0]
    page = cashier.get(reverse("shipping:shipments_edit", args=[shipment.pk]))
    html = page.content.decode()
    assert page.status_code == 200 and 'value="save_post"' not in html and "Unpost" not in html
    assert cashier.post(reverse("shipping:shipments_unpost", args=[shipment.pk])).status_code == 403
    assert cashier.post(reverse("shipping:shipments_edit", args=[shipment.pk]), {"action": "save"}).status_code == 403


def test_hot_pages_read_a_bounded_number_of_queries(
        client: Client, organization: Any, warehouse: Any, warehouse2: Any, client_partner: Any, milk: Any,
        bread: Any, stocked: Any, manager: Any, django_assert_max_num_queries: Any) -> None:
    orders = [released_order(organization, client_partner, warehouse, [(milk, "1", "100", None),
                                                                       (bread, "1", "50", warehouse2)], user=manager)
              for _n in range(6)]
    web = logged_in(client, manager)
    with django_assert_max_num_queries(11):
        html = web.get(reverse("shipping:backlog")).content.decode()
    assert html.count('class="backlog-row') == 12
    shipment = services.create_shipments_from_backlog(
        [services.Pick(o.pk, ln.code) for o in orders for ln in o.lines.all()], user=manager)[0]
    with django_assert_max_num_queries(9):
        assert web.get(reverse("shipping:shipments_list")).status_code == 200
    with django_assert_max_num_queries(36):
        html = web.get(reverse("shipping:shipments_edit", args=[shipment.pk])).content.decode()
    assert html.count('class="torg-line"') == 12 + 1  # and the template of a new line
