"""Sales pages through the test client: schedules and agreements, a quote answered and turned into an order,
the order form (save, agree, approval, release, close, cancel lines), refusals shown with the input kept."""
from __future__ import annotations

import json
from decimal import Decimal
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from torg.conftest import moment
from torg.core.models import ChangeLogEntry
from torg.sales import services
from torg.sales.models import (
    AgreementStatus,
    ApprovalState,
    OrderApproval,
    OrderPaymentStage,
    OrderStateCode,
    OrderStatus,
    PaymentSchedule,
    Quote,
    QuoteLine,
    SalesOrder,
    SalesOrderLine,
    StageKind,
    TradeAgreement,
)

D = Decimal
pytestmark = pytest.mark.django_db


def login(client: Client, user: Any) -> Client:
    client.force_login(user)
    return client


def html(response: Any) -> str:
    """The page's text with entities decoded (“it&#x27;s” reads “it's”)."""
    return unescape(response.content.decode())


# ================================================================ payment schedules and agreements
def schedule_form(name: str, stages: list[tuple[str, str, str]], **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": name, "stages-TOTAL_FORMS": str(len(stages)), "stages-INITIAL_FORMS": "0",
                            "stages-MIN_NUM_FORMS": "0", "stages-MAX_NUM_FORMS": "1000", "save": ""}
    for i, (kind, percent, days) in enumerate(stages):
        data.update({f"stages-{i}-kind": kind, f"stages-{i}-percent": percent, f"stages-{i}-days": days})
    data.update(extra)
    return data


def test_schedule_created_through_the_page_and_refused_when_stages_do_not_add_up(client: Client, director: Any):
    web = login(client, director)
    response = web.post(reverse("sales:schedules_new"), schedule_form(
        "Half now, half later", [("advance", "50", "0"), ("credit", "40", "14"), ("", "", "")]))
    page = html(response)
    assert response.status_code == 200
    assert 'id="stages-error"' in page
    assert "The stages add up to 90%; they must add up to 100%." in page
    assert 'value="Half now, half later"' in page and 'value="40"' in page  # the input stays
    assert PaymentSchedule.objects.count() == 0

    response = web.post(reverse("sales:schedules_new"), schedule_form(
        "Half now, half later", [("advance", "50", "0"), ("", "", ""), ("credit", "0", "14")]))
    assert "Stage 2: the percent must be above 0 and at most 100." in html(response)  # numbered as filled
    assert PaymentSchedule.objects.count() == 0

    response = web.post(reverse("sales:schedules_new"), schedule_form(
        "Half now, half later", [("advance", "50", "0"), ("", "", ""), ("credit", "50", "14")]))
    schedule = PaymentSchedule.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sales:schedules_edit", args=[schedule.pk])
    assert [(s.kind, s.percent, s.days) for s in schedule.stages.all()] == [
        ("advance", D(50), 0), ("credit", D(50), 14)]

    listing = html(web.get(reverse("sales:schedules_list")))
    assert "Half now, half later" in listing and "advance before securing 50%" in listing


def test_agreement_created_with_its_clients_and_refused_when_it_ends_before_it_starts(
        client: Client, director: Any, organization: Any, price_type: Any, schedule: Any, warehouse: Any,
        client_partner: Any, supplier: Any):
    other = type(client_partner).objects.create(name="Lavka u doma", is_client=True)
    web = login(client, director)
    data = {"name": "Retail chains", "kind": "typical", "status": "active", "organization": organization.pk,
            "partners": [client_partner.pk, other.pk], "price_type": price_type.pk, "discount_percent": "3",
            "max_manual_discount": "5", "payment_schedule": schedule.pk, "warehouse": warehouse.pk,
            "delivery_days": "2", "min_order_amount": "1000", "valid_from": "2026-03-01", "valid_to": "2026-01-01",
            "save": ""}
    response = web.post(reverse("sales:agreements_new"), data)
    assert response.status_code == 200
    assert "The agreement cannot end before it starts." in html(response)
    assert TradeAgreement.objects.count() == 0

    page = html(web.get(reverse("sales:agreements_new")))
    assert supplier.name not in page.split('name="partners"')[1].split("</select>")[0]  # clients only

    data["valid_to"] = "2026-12-31"
    response = web.post(reverse("sales:agreements_new"), data)
    agreement = TradeAgreement.objects.get()
    assert response.status_code == 302
    assert (agreement.discount_percent, agreement.max_manual_discount, agreement.min_order_amount) == (
        D(3), D(5), D(1000))
    assert set(agreement.partners.values_list("name", flat=True)) == {"Produkty na Lesnoy", "Lavka u doma"}

    listing = html(web.get(reverse("sales:agreements_list") + "?status=active&q=Retail"))
    assert "Retail chains" in listing
    assert "Retail chains" not in html(web.get(reverse("sales:agreements_list") + "?status=closed"))


def test_individual_agreement_needs_its_client(client: Client, director: Any, organization: Any, price_type: Any):
    web = login(client, director)
    response = web.post(reverse("sales:agreements_new"), {
        "name": "Just for one", "kind": "individual", "status": "draft", "organization": organization.pk,
        "price_type": price_type.pk, "discount_percent": "0", "max_manual_discount": "0", "delivery_days": "0",
        "min_order_amount": "0", "save": ""})
    assert "An individual agreement is made with one client: choose it." in html(response)
    assert TradeAgreement.objects.count() == 0


def test_manager_sees_agreements_but_may_not_change_them(client: Client, manager: Any, agreement: Any):
    web = login(client, manager)
    page = web.get(reverse("sales:agreements_edit", args=[agreement.pk]))
    assert page.status_code == 200 and "changing it needs another role" in html(page)
    assert web.post(reverse("sales:agreements_edit", args=[agreement.pk]), {"name": "Mine"}).status_code == 403
    assert web.get(reverse("sales:agreements_new")).status_code == 403
    assert web.get(reverse("sales:schedules_new")).status_code == 403
    agreement.refresh_from_db()
    assert agreement.name == "Wholesale 30/40/30"


# ================================================================ item search with agreement prices
def test_item_search_carries_the_agreements_price(client: Client, manager: Any, agreement: Any, prices: Any,
                                                  milk: Any, bread: Any):
    web = login(client, manager)
    plain = json.loads(web.get(reverse("sales:item_search"), {"q": "Milk"}).content)
    assert [i["label"] for i in plain["items"]] == ["Milk 1L"] and "price" not in plain["items"][0]
    priced = json.loads(web.get(reverse("sales:item_search"), {"q": "", "agreement": agreement.pk,
                                                               "date": "2026-03-10T09:00:00"}).content)
    assert {i["label"]: i["price"] for i in priced["items"]} == {"Bread": "50.00", "Milk 1L": "100.00"}


# ================================================================ quotes
def document_form(header: dict[str, Any], lines: list[dict[str, Any]], action: str = "save") -> dict[str, Any]:
    data: dict[str, Any] = {"action": action, **header}
    for i, line in enumerate(lines):
        item = line.pop("item")
        data.update({f"lines-{i}-item": item.pk, f"lines-{i}-item_text": item.name, f"lines-{i}-vat_rate": "22"})
        data.update({f"lines-{i}-{k}": v for k, v in line.items()})
    return data


def quote_header(organization: Any, client_partner: Any, agreement: Any, **extra: Any) -> dict[str, Any]:
    return {"date": "2026-03-10T09:00:00", "organization": organization.pk, "partner": client_partner.pk,
            "agreement": agreement.pk, "valid_until": "2026-03-20", "prices_include_vat": "on",
            "terms": "Delivery in 2 days", "comment": "", **extra}


def test_quote_answered_by_the_client_and_turned_into_an_order_through_the_pages(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any, bread: Any, warehouse: Any):
    web = login(client, manager)
    # -- a quote from the agreement: the prices left empty come from its price type
    response = web.post(reverse("sales:quotes_new"), document_form(
        quote_header(organization, client_partner, agreement),
        [{"item": milk, "quantity": "10", "price": ""}, {"item": bread, "quantity": "20", "price": ""}]))
    quote = Quote.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sales:quotes_edit", args=[quote.pk])
    assert [(ln.price, ln.amount) for ln in quote.lines.order_by("line_no")] == [(D(100), D(1000)), (D(50), D(1000))]
    assert quote.amount == D(2000) and quote.manager == manager

    page = html(web.get(reverse("sales:quotes_edit", args=[quote.pk])))
    assert 'id="answer-form"' in page and 'id="order-from-quote"' in page
    assert reverse("printing:quote", args=[quote.pk, "pdf"]) in page
    assert reverse("printing:quote", args=[quote.pk, "docx"]) in page
    assert reverse("printing:quote", args=[quote.pk, "odt"]) in page
    assert 'value="100.00"' in page  # the filled price is shown

    # -- the client answers: 30 bread at 48, and agrees to both lines
    answer = {"answer-TOTAL_FORMS": "2", "answer-INITIAL_FORMS": "2", "answer-MIN_NUM_FORMS": "0",
              "answer-MAX_NUM_FORMS": "1000", "answer-0-line_no": "1", "answer-0-agreed": "on",
              "answer-1-line_no": "2", "answer-1-agreed": "on", "answer-1-quantity": "30", "answer-1-price": "48",
              "comment": "Wants more bread, cheaper"}
    response = web.post(reverse("sales:quotes_answer", args=[quote.pk]), answer)
    version = Quote.objects.get(previous=quote)
    assert response.status_code == 302 and response["Location"] == reverse("sales:quotes_edit", args=[version.pk])
    quote.refresh_from_db()
    assert quote.status == Quote.Status.ANSWERED and version.revision == 2
    second = version.lines.get(line_no=2)
    assert (second.quantity, second.price, second.asked_price, second.agreed) == (D(30), D(48), D(48), True)

    # -- the chain of versions shows on both; the answered one no longer changes
    page = html(web.get(reverse("sales:quotes_edit", args=[version.pk])))
    chain = page.split('id="quote-versions"')[1].split("</nav>")[0]
    assert reverse("sales:quotes_edit", args=[quote.pk]) in chain and "version 2" in chain
    old = html(web.get(reverse("sales:quotes_edit", args=[quote.pk])))
    assert "The client has answered this version" in old and 'id="answer-form"' not in old
    response = web.post(reverse("sales:quotes_answer", args=[quote.pk]), answer)
    assert "already has an answer: work on its latest version" in html(response)
    assert Quote.objects.count() == 2

    # -- the new version is edited (terms); the client's figures and ticks stay
    data = document_form(quote_header(organization, client_partner, agreement, terms="Delivery tomorrow",
                                      version=version.version),
                         [{"item": milk, "quantity": "10", "price": "100.00", "asked_quantity": "",
                           "asked_price": "", "agreed": "True"},
                          {"item": bread, "quantity": "30", "price": "48.00", "asked_quantity": "30.000",
                           "asked_price": "48.00", "agreed": "True"}])
    assert 'name="lines-1-asked_price" value="48.00"' in page and 'name="lines-1-agreed" value="True"' in page
    assert web.post(reverse("sales:quotes_edit", args=[version.pk]), data).status_code == 302
    version.refresh_from_db()
    assert version.terms == "Delivery tomorrow"
    assert list(version.lines.order_by("line_no").values_list("asked_price", "agreed")) == [(None, True),
                                                                                            (D(48), True)]

    # -- only the milk is agreed after all
    marks = {**answer, "answer-1-agreed": ""}
    response = web.post(reverse("sales:quotes_mark_lines", args=[version.pk]), marks)
    assert response.status_code == 302
    assert list(version.lines.order_by("line_no").values_list("agreed", flat=True)) == [True, False]

    # -- the order from the agreed line opens for checking
    response = web.post(reverse("sales:quotes_order", args=[version.pk]), {"warehouse": ""})
    order = SalesOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sales:orders_edit", args=[order.pk])
    assert [(ln.item_id, ln.quantity, ln.price) for ln in order.lines.all()] == [(milk.pk, D(10), D(100))]
    assert order.warehouse == warehouse and order.status == OrderStatus.NOT_AGREED
    version.refresh_from_db()
    assert version.status == Quote.Status.ACCEPTED
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    assert str(version) in page  # "based on"


def test_quote_under_an_agreement_closed_meanwhile_is_refused_with_the_input_kept(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any):
    quote = Quote(organization=organization, partner=client_partner, agreement=agreement,
                  date=moment("2026-03-10", 9))
    services.save_quote(quote, [QuoteLine(item=milk, quantity=D(5))], user=manager)
    TradeAgreement.objects.filter(pk=agreement.pk).update(status=AgreementStatus.CLOSED)
    web = login(client, manager)
    page = html(web.get(reverse("sales:quotes_new")))
    assert f'value="{agreement.pk}"' not in page.split('name="agreement"')[1].split("</select>")[0]  # not offered

    response = web.post(reverse("sales:quotes_edit", args=[quote.pk]), document_form(
        quote_header(organization, client_partner, agreement, terms="Keep me", version=quote.version),
        [{"item": milk, "quantity": "7", "price": "95"}]))
    page = html(response)
    assert response.status_code == 200
    assert 'data-code="agreement"' in page
    assert "is closed: choose an active agreement" in page
    assert "Keep me" in page and 'value="7"' in page and 'value="95"' in page
    quote.refresh_from_db()
    assert quote.terms == "" and [ln.quantity for ln in quote.lines.all()] == [D(5)]


def test_an_order_from_a_quote_needs_a_warehouse_when_the_agreement_has_none(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any, warehouse: Any):
    TradeAgreement.objects.filter(pk=agreement.pk).update(warehouse=None)
    quote = Quote(organization=organization, partner=client_partner, agreement=agreement,
                  date=moment("2026-03-10", 9))
    services.save_quote(quote, [QuoteLine(item=milk, quantity=D(5))], user=manager)
    web = login(client, manager)
    response = web.post(reverse("sales:quotes_order", args=[quote.pk]), {"warehouse": ""})
    assert response.status_code == 200 and "Choose the warehouse the order ships from." in html(response)
    assert SalesOrder.objects.count() == 0
    response = web.post(reverse("sales:quotes_order", args=[quote.pk]), {"warehouse": warehouse.pk})
    assert response.status_code == 302 and SalesOrder.objects.get().warehouse == warehouse


def test_quote_sent_then_rejected_by_the_client_with_the_reason(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any):
    quote = Quote(organization=organization, partner=client_partner, agreement=agreement,
                  date=moment("2026-03-10", 9))
    services.save_quote(quote, [QuoteLine(item=milk, quantity=D(5))], user=manager)
    web = login(client, manager)
    url = reverse("sales:quotes_status", args=[quote.pk])
    assert 'id="quote-status"' in html(web.get(reverse("sales:quotes_edit", args=[quote.pk])))

    response = web.post(url, {"do": "sent"})
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.status == Quote.Status.SENT
    page = html(web.get(reverse("sales:quotes_edit", args=[quote.pk])))
    assert 'value="sent"' not in page and 'value="rejected"' in page  # sent once; it can still be rejected

    # -- rejecting needs the reason; without it nothing changes and the page says what is missing
    response = web.post(url, {"do": "rejected", "reason": "  "})
    assert response.status_code == 200 and "Say why the client rejected the quote." in html(response)
    quote.refresh_from_db()
    assert quote.status == Quote.Status.SENT
    response = web.post(url, {"do": "rejected", "reason": "Found it cheaper elsewhere"})
    assert response.status_code == 302
    quote.refresh_from_db()
    assert quote.status == Quote.Status.REJECTED
    entry = ChangeLogEntry.objects.filter(object_id=quote.pk, changes__status=["sent", "rejected"]).get()
    assert entry.comment == "Found it cheaper elsewhere" and entry.user == manager

    # -- a rejected quote is closed: no status buttons, no answer, no order; a second rejection is refused
    page = html(web.get(reverse("sales:quotes_edit", args=[quote.pk])))
    assert 'id="quote-status"' not in page and 'id="answer-form"' not in page
    response = web.post(url, {"do": "sent"})
    assert response.status_code == 200 and "it can no longer become" in html(response)


# ================================================================ sales orders
def stages_data(stages: list[tuple[str, str, str]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    data = {"stages-TOTAL_FORMS": str(len(stages)), "stages-INITIAL_FORMS": "0", "stages-MIN_NUM_FORMS": "0",
            "stages-MAX_NUM_FORMS": "1000"}
    for i, (kind, percent, days) in enumerate(stages):
        data.update({f"stages-{i}-kind": kind, f"stages-{i}-percent": percent, f"stages-{i}-days": days})
    return data


def order_header(organization: Any, client_partner: Any, agreement: Any, warehouse: Any, **extra: Any) -> dict:
    return {"date": "2026-03-10T10:00:00", "organization": organization.pk, "partner": client_partner.pk,
            "agreement": agreement.pk, "warehouse": warehouse.pk, "shipment_date": "2026-03-12",
            "client_po_number": "PO-77", "client_po_date": "2026-03-09", "prices_include_vat": "on", "comment": "",
            **extra}


def order_line(item: Any, quantity: str, price: str = "", **extra: Any) -> dict[str, Any]:
    return {"item": item, "quantity": quantity, "price": price, "discount_percent": "", "securing": "none",
            "warehouse": "", "shipment_date": "", "cancel_reason": "", "code": "", **extra}


def order_data(header: dict[str, Any], lines: list[dict[str, Any]], stages: list[tuple[str, str, str]] = (),
               action: str = "save") -> dict[str, Any]:  # type: ignore[assignment]
    return {**document_form(header, [dict(ln) for ln in lines], action), **stages_data(stages)}


def test_an_order_saved_and_released_to_ship_in_one_step(client: Client, manager: Any, director: Any,
                                                         organization: Any, client_partner: Any, agreement: Any,
                                                         prices: Any, milk: Any, warehouse: Any):
    data = order_data(order_header(organization, client_partner, agreement, warehouse), [order_line(milk, "10")],
                      action="save_release")
    # The agreement wants an advance and a prepayment first: a manager is told so, and nothing is saved.
    web = login(client, manager)
    page = html(web.post(reverse("sales:orders_new"), data))
    assert "require 700.00 paid before its goods are reserved or shipped" in page
    assert 'id="save-release"' in page and SalesOrder.objects.count() == 0
    # The director may release before the payments: saved, posted and «to ship» at once.
    boss = login(Client(), director)
    response = boss.post(reverse("sales:orders_new"), data)
    order = SalesOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sales:orders_edit", args=[order.pk])
    assert (order.status, order.posted) == (OrderStatus.TO_SHIP, True) and order.agreed_at is not None
    page = html(boss.get(reverse("sales:orders_edit", args=[order.pk])))
    assert f"Released to ship: {order} is in the shipping backlog." in page  # what became of it, not just "Saved"
    assert 'id="save-release"' not in page and 'id="save-agree"' not in page  # already released
    # A new order offers both buttons.
    page = html(web.get(reverse("sales:orders_new")))
    assert 'id="save-agree"' in page and 'id="save-release"' in page


def test_order_saved_agreed_sent_to_approval_approved_in_the_inbox_and_the_author_sees_it(
        client: Client, manager: Any, director: Any, organization: Any, client_partner: Any, agreement: Any,
        prices: Any, milk: Any, bread: Any, warehouse: Any):
    web = login(client, manager)
    # -- saved and posted with the agreement's schedule (the stages table left empty); bread below its price
    response = web.post(reverse("sales:orders_new"), order_data(
        order_header(organization, client_partner, agreement, warehouse),
        [order_line(milk, "10"), order_line(bread, "30", "48")], action="save_post"))
    order = SalesOrder.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("sales:orders_edit", args=[order.pk])
    assert order.posted and order.amount == D("2440.00") and order.client_po_number == "PO-77"
    assert [(s.kind, s.amount) for s in order.stages.all()] == [
        ("advance", D("732.00")), ("prepayment", D("976.00")), ("credit", D("732.00"))]
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    assert "Awaiting approval" in page.split('id="order-state"')[1].split('id="order-approval"')[0]
    assert "732.00" in page.split('id="stages-table"')[1]  # the computed stage amounts
    assert reverse("printing:order_invoice", args=[order.pk]) in page

    # -- "Agree": the bread's price departs from the agreement, so the order goes to approval
    response = web.post(reverse("sales:orders_agree", args=[order.pk]), follow=True)
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.NOT_AGREED, ApprovalState.PENDING)
    page = html(response)
    assert "it was sent for approval" in page
    deviations = page.split('id="order-deviations"')[1].split("</ul>")[0]
    assert "price 48.00 is below the agreement's price 50.00" in deviations
    assert 'id="order-decision"' not in page  # the manager cannot decide

    # -- the manager has no inbox; the director has, with the deviations
    assert web.get(reverse("sales:approvals")).status_code == 403
    boss = Client()
    boss.force_login(director)
    inbox = html(boss.get(reverse("sales:approvals")))
    approval = OrderApproval.objects.get(order=order)
    assert f'id="approval-{approval.pk}"' in inbox and "Produkty na Lesnoy" in inbox and "2,440.00" in inbox
    assert "below the agreement's price" in inbox

    # -- rejecting needs a comment: refused, still pending, the page says why
    response = boss.post(reverse("sales:approval_decide", args=[approval.pk]), {"decision": "reject", "comment": ""})
    assert response.status_code == 200
    assert "Say why the order is rejected: its author will read it." in html(response)
    approval.refresh_from_db()
    assert approval.decision == OrderApproval.Decision.PENDING

    response = boss.post(reverse("sales:approval_decide", args=[approval.pk]),
                         {"decision": "approve", "comment": "Regular client, fine"})
    assert response.status_code == 302 and response["Location"] == reverse("sales:approvals")
    assert "Nothing waits for your decision." in html(boss.get(reverse("sales:approvals")))
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.TO_SECURE, ApprovalState.APPROVED)
    assert order.state.state == OrderStateCode.AWAITING_ADVANCE

    # -- the author sees the decision on the order
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    result = page.split('id="approval-result"')[1].split("</div>")[0]
    assert "Approved by director" in result and "Regular client, fine" in result
    assert "Awaiting advance" in page.split('id="order-state"')[1].split('id="order-approval"')[0]

    # -- the deviations report lists it, filtered by area and decision
    report = html(boss.get(reverse("sales:deviations") + "?area=pricing&decision=approved"))
    assert "below the agreement's price" in report.split('id="deviations-table"')[1]
    report = html(boss.get(reverse("sales:deviations") + "?area=financial"))
    assert "below the agreement's price" not in report.split('id="deviations-table"')[1]


def test_a_rejected_order_shows_the_approvers_comment_to_its_author(
        client: Client, manager: Any, director: Any, role_user: Any, organization: Any, client_partner: Any,
        agreement: Any, prices: Any, milk: Any, warehouse: Any):
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10), price=D(80))], user=manager, post=True)
    services.submit_order(order, user=manager)
    boss = login(Client(), director)
    approval = OrderApproval.objects.get(order=order)
    next_url = reverse("sales:orders_edit", args=[order.pk])
    response = boss.post(reverse("sales:approval_decide", args=[approval.pk]),
                         {"decision": "reject", "comment": "80 is too low, offer 95", "next": next_url})
    assert response.status_code == 302 and response["Location"] == next_url
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.NOT_AGREED, ApprovalState.REJECTED)
    page = html(login(client, manager).get(next_url))
    result = page.split('id="approval-result"')[1].split("</div></div>")[0]
    assert "Rejected by director" in result and "80 is too low, offer 95" in result

    # -- asked again: a new request waits, the rejected one is listed as earlier
    client.post(reverse("sales:orders_agree", args=[order.pk]))
    order.refresh_from_db()
    assert order.approval == ApprovalState.PENDING and order.approvals.count() == 2
    page = html(client.get(next_url))
    assert "1 earlier request" in page and "80 is too low, offer 95" in page

    # -- someone who may only look sees the order, without the buttons that change it
    looker = login(Client(), role_user("storekeeper", "looker"))
    page = html(looker.get(next_url))
    assert "changing it needs another role" in page
    assert reverse("sales:orders_release", args=[order.pk]) not in page and 'id="close-order-form"' not in page
    assert 'id="order-decision"' not in page


def credit_agreement(organization: Any, price_type: Any, warehouse: Any) -> TradeAgreement:
    schedule = PaymentSchedule(name="Credit 10 days")
    services.save_payment_schedule(schedule, [sf_stage(StageKind.CREDIT, 100, 10)])
    return TradeAgreement.objects.create(name="On credit", status=AgreementStatus.ACTIVE, organization=organization,
                                         price_type=price_type, payment_schedule=schedule, warehouse=warehouse)


def sf_stage(kind: str, percent: int, days: int) -> Any:
    from torg.sales.models import PaymentScheduleStage

    return PaymentScheduleStage(kind=kind, percent=D(percent), days=days)


def test_order_released_put_back_and_closed_through_the_page(
        client: Client, manager: Any, organization: Any, client_partner: Any, price_type: Any, prices: Any,
        milk: Any, bread: Any, warehouse: Any):
    agreement = credit_agreement(organization, price_type, warehouse)
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10), shipment_date=moment("2026-03-12").date())
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10)), SalesOrderLine(item=bread, quantity=D(4))],
                        user=manager, post=True)
    web = login(client, manager)
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    assert reverse("sales:orders_agree", args=[order.pk]) in page
    assert reverse("sales:orders_release", args=[order.pk]) in page

    response = web.post(reverse("sales:orders_release", args=[order.pk]), follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.TO_SHIP and order.state.state == OrderStateCode.SHIPPING
    assert "Released to ship" in html(response)
    assert {b.item_id for b in services.shipping_backlog(order=order.pk)} == {milk.pk, bread.pk}

    response = web.post(reverse("sales:orders_not_agreed", args=[order.pk]), follow=True)
    order.refresh_from_db()
    assert order.status == OrderStatus.NOT_AGREED and services.shipping_backlog(order=order.pk) == []

    response = web.post(reverse("sales:orders_close", args=[order.pk]), {"reason": "client went elsewhere"})
    assert response.status_code == 302
    order.refresh_from_db()
    assert order.status == OrderStatus.CLOSED and order.state.state == OrderStateCode.CLOSED
    assert set(order.lines.values_list("cancelled", "cancel_reason")) == {(True, "client went elsewhere")}
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    assert "This order is closed: it no longer changes." in page
    assert 'id="close-order-form"' not in page and reverse("sales:orders_agree", args=[order.pk]) not in page


def test_release_before_the_prepayment_is_refused_on_the_page(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any, warehouse: Any):
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10))], user=manager, post=True)
    services.submit_order(order, user=manager)  # keeps to the agreement: agreed at once
    order.refresh_from_db()
    assert order.status == OrderStatus.TO_SECURE
    web = login(client, manager)
    response = web.post(reverse("sales:orders_release", args=[order.pk]))
    page = html(response)
    assert response.status_code == 200
    assert 'data-code="payment_terms"' in page
    assert "require 700.00 paid before shipment; 0.00 is paid" in page
    order.refresh_from_db()
    assert order.status == OrderStatus.TO_SECURE


def test_reserving_before_the_advance_is_refused_with_the_input_kept(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, prices: Any,
        milk: Any, warehouse: Any, stocked: Any):
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10))], user=manager, post=True)
    services.submit_order(order, user=manager)
    order.refresh_from_db()
    line = order.lines.get()
    log_before = ChangeLogEntry.objects.count()
    web = login(client, manager)
    data = order_data(order_header(organization, client_partner, agreement, warehouse, comment="rush it",
                                   version=order.version),
                      [order_line(milk, "12", "100.00", securing="reserve", code=str(line.code))],
                      stages=[("advance", "30", "1"), ("prepayment", "40", "3"), ("credit", "30", "10")])
    response = web.post(reverse("sales:orders_edit", args=[order.pk]), data)
    page = html(response)
    assert response.status_code == 200 and 'data-code="payment_terms"' in page
    assert "require an advance of 360.00 before goods are reserved" in page
    assert "rush it" in page and 'value="12"' in page and '<option value="reserve" selected>' in page
    order.refresh_from_db()
    assert order.comment == "" and [ln.quantity for ln in order.lines.all()] == [D(10)]
    assert ChangeLogEntry.objects.count() == log_before  # nothing written


def test_editing_lines_keeps_their_codes_and_the_stages_table_is_checked(
        client: Client, manager: Any, organization: Any, client_partner: Any, price_type: Any, prices: Any,
        milk: Any, bread: Any, warehouse: Any, warehouse2: Any):
    agreement = credit_agreement(organization, price_type, warehouse)
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(1)), SalesOrderLine(item=bread, quantity=D(2))],
                        user=manager)
    codes = dict(order.lines.values_list("item_id", "code"))
    web = login(client, manager)
    page = html(web.get(reverse("sales:orders_edit", args=[order.pk])))
    assert f'name="lines-1-code" value="{codes[bread.pk]}"' in page  # the code travels hidden

    # stages that do not add up: refused at the table, nothing saved
    header = order_header(organization, client_partner, agreement, warehouse, version=order.version)
    lines = [order_line(bread, "5", "50.00", code=str(codes[bread.pk]), warehouse=str(warehouse2.pk),
                        shipment_date="2026-03-15"),
             order_line(milk, "3", "")]
    response = web.post(reverse("sales:orders_edit", args=[order.pk]),
                        order_data(header, lines, stages=[("prepayment", "60", "0"), ("credit", "30", "10")]))
    page = html(response)
    assert "The stages add up to 90%; they must add up to 100%." in page.split('id="stages-block"')[1]
    assert order.lines.count() == 2 and SalesOrderLine.objects.filter(document=order, quantity=5).count() == 0

    response = web.post(reverse("sales:orders_edit", args=[order.pk]),
                        order_data(header, lines, stages=[("prepayment", "70", "0"), ("credit", "30", "10")]))
    assert response.status_code == 302
    saved = list(order.lines.order_by("line_no").values_list("item_id", "code", "quantity", "warehouse_id"))
    assert saved == [(bread.pk, codes[bread.pk], D(5), warehouse2.pk),
                     (milk.pk, max(codes.values()) + 1, D(3), None)]  # the new line got a new code
    assert [(s.kind, s.percent) for s in order.stages.all()] == [("prepayment", D(70)), ("credit", D(30))]
    assert OrderPaymentStage.objects.get(order=order, kind="prepayment").amount == D("385.00")  # (250 + 300) × 70 %


def test_cancel_selected_lines_needs_a_reason(client: Client, manager: Any, organization: Any,
                                              client_partner: Any, price_type: Any, prices: Any, milk: Any,
                                              bread: Any, warehouse: Any):
    agreement = credit_agreement(organization, price_type, warehouse)
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(1)), SalesOrderLine(item=bread, quantity=D(2))],
                        user=manager, post=True)
    bread_code = order.lines.get(item=bread).code
    web = login(client, manager)
    response = web.post(reverse("sales:orders_cancel_lines", args=[order.pk]), {"codes": [bread_code], "reason": ""})
    page = html(response)
    assert response.status_code == 200 and "Say why the lines are cancelled." in page
    assert f'value="{bread_code}" id="cancel-{bread_code}" checked' in page  # the ticks stay
    assert not order.lines.filter(cancelled=True).exists()

    response = web.post(reverse("sales:orders_cancel_lines", args=[order.pk]),
                        {"codes": [bread_code], "reason": "out of season"})
    assert response.status_code == 302
    assert list(order.lines.filter(cancelled=True).values_list("item_id", "cancel_reason")) == [
        (bread.pk, "out of season")]
    order.refresh_from_db()
    assert order.amount == D("100.00")


def test_roles_without_the_capability_get_403(client: Client, storekeeper: Any, manager: Any, role_user: Any,
                                              agreement: Any):
    web = login(client, storekeeper)  # may look at sales documents, not write them
    assert web.get(reverse("sales:orders_list")).status_code == 200
    assert web.get(reverse("sales:orders_new")).status_code == 403
    assert web.get(reverse("sales:quotes_new")).status_code == 403
    assert web.get(reverse("sales:deviations")).status_code == 403
    assert web.get(reverse("sales:approvals")).status_code == 403
    assert web.post(reverse("sales:agreements_edit", args=[agreement.pk]), {"name": "x"}).status_code == 403
    courier = login(Client(), role_user("courier", "courier"))
    for name in ("sales:orders_list", "sales:quotes_list", "sales:agreements_list", "sales:schedules_list"):
        assert courier.get(reverse(name)).status_code == 403
    menu = html(login(Client(), manager).get(reverse("sales:orders_list")))
    assert reverse("sales:quotes_list") in menu and reverse("sales:approvals") not in menu


def test_partner_terms_offer_the_clients_own_choices_and_agreements(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, price_type: Any,
        supplier: Any):
    from torg.catalogs.models import Contact, Counterparty, DeliveryAddress

    Counterparty.objects.create(partner=client_partner, name="OOO Lesnoy")
    Counterparty.objects.create(partner=supplier, name="OOO Molokozavod")
    Contact.objects.create(partner=client_partner, name="Irina")
    DeliveryAddress.objects.create(partner=client_partner, address="Lesnaya 5")
    mine = TradeAgreement.objects.create(name="Only for Lesnoy", kind="individual", partner=client_partner,
                                         status=AgreementStatus.ACTIVE, organization=organization,
                                         price_type=price_type)
    TradeAgreement.objects.create(name="Draft one", status=AgreementStatus.DRAFT, organization=organization,
                                  price_type=price_type)
    web = login(client, manager)
    data = json.loads(web.get(reverse("sales:partner_terms"), {
        "partner": client_partner.pk, "organization": organization.pk, "date": "2026-03-10T10:00:00"}).content)
    assert [c["label"] for c in data["counterparty"]] == ["OOO Lesnoy"]
    assert [c["label"] for c in data["contact"]] == ["Irina"]
    assert [a["label"] for a in data["delivery_address"]] == ["Lesnaya 5"]
    assert [(a["id"], a["warehouse"]) for a in data["agreement"]] == [(mine.pk, None),
                                                                      (agreement.pk, agreement.warehouse_id)]
    empty = json.loads(web.get(reverse("sales:partner_terms"), {"partner": "x"}).content)
    assert empty == {"counterparty": [], "contact": [], "delivery_address": [], "agreement": []}


def test_document_pages_read_a_fixed_number_of_queries_whatever_the_number_of_lines(
        client: Client, manager: Any, organization: Any, client_partner: Any, agreement: Any, warehouse: Any,
        make_item: Any):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    web = login(client, manager)
    counts = []
    for n in (2, 25):
        items = [make_item() for _ in range(n)]
        order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement,
                           warehouse=warehouse, date=moment("2026-03-10", 10))
        services.save_order(order, [SalesOrderLine(item=i, quantity=D(1), price=D(10)) for i in items], user=manager,
                            post=True)
        quote = Quote(organization=organization, partner=client_partner, agreement=agreement,
                      date=moment("2026-03-10", 10))
        services.save_quote(quote, [QuoteLine(item=i, quantity=D(1), price=D(10)) for i in items], user=manager)
        measured = []
        for url in (reverse("sales:orders_edit", args=[order.pk]), reverse("sales:quotes_edit", args=[quote.pk])):
            with CaptureQueriesContext(connection) as ctx:
                assert web.get(url).status_code == 200
            measured.append(len(ctx.captured_queries))
        counts.append(measured)
    assert counts[0] == counts[1]
