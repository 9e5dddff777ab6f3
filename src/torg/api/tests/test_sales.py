"""Order to cash through the REST API, with a token per role: agreement → order → approval → payments →
release → backlog → shipments → the state read back; and the refusals a client of the API meets."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.utils import timezone
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from torg.api.tests import sales_helpers
from torg.api.tests.sales_helpers import ORDER_DAY, ok, order_body, send
from torg.conftest import moment
from torg.core.models import ChangeLogEntry, NumberSequence
from torg.core.permissions import Role
from torg.payments.models import IncomingPayment, PaymentMethod
from torg.payments.services import register_payment
from torg.sales import services
from torg.sales.models import (
    AgreementStatus,
    OrderApproval,
    OrderStatus,
    PaymentSchedule,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    TradeAgreement,
)

globals().update(sales_helpers.fixtures)  # the sales area's fixtures: agreement, prices, stocked, cash_desk…
pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def manager_api(api_for: Any) -> Any:
    return api_for(Role.SALES_MANAGER)


@pytest.fixture
def director_api(api_for: Any) -> Any:
    return api_for(Role.SALES_DIRECTOR)


def test_order_to_cash_through_the_api(api_for: Any, organization: Any, warehouse: Any, warehouse2: Any,
                                       client_partner: Any, price_type: Any, prices: Any, milk: Any, bread: Any,
                                       stocked: Any, cash_desk: Any) -> None:
    director, manager, accountant = api_for(Role.SALES_DIRECTOR), api_for(Role.SALES_MANAGER), api_for(Role.ACCOUNTANT)

    # -- the director writes the payment schedule and the agreement
    schedule = ok(send(director, "POST", "sales/payment-schedules", {"name": "30/40/30", "stages": [
        {"kind": "advance", "percent": "30", "days": 1}, {"kind": "prepayment", "percent": "40", "days": 3},
        {"kind": "credit", "percent": "30", "days": 10}]}), 201)
    assert [(s["kind"], s["percent"]) for s in schedule["stages"]] == [
        ("advance", "30.00"), ("prepayment", "40.00"), ("credit", "30.00")]
    agreement = ok(send(director, "POST", "sales/agreements", {
        "name": "Wholesale", "kind": "typical", "status": "active", "organization": organization.pk,
        "price_type": price_type.pk, "max_manual_discount": "5", "payment_schedule": schedule["id"],
        "warehouse": warehouse.pk}), 201)
    assert (agreement["status"], agreement["partners"], agreement["version"]) == ("active", [], 1)
    listed = ok(send(manager, "GET", f"sales/agreements?client={client_partner.pk}&status=active"))
    assert [a["id"] for a in listed["results"]] == [agreement["id"]]

    # -- the manager creates and posts an order: the milk at the agreement's price, the bread below it and
    #    from another warehouse
    order = ok(send(manager, "POST", "sales/orders", order_body(
        organization, client_partner, TradeAgreement(pk=agreement["id"]), warehouse, [
            {"item": milk.pk, "quantity": "10"},
            {"item": bread.pk, "quantity": "30", "price": "48", "warehouse": warehouse2.pk}], post=True)), 201)
    order_id = order["id"]
    assert (order["posted"], order["status"], order["amount"]) == (True, "not_agreed", "2440.00")
    assert [(ln["code"], ln["price"], ln["amount"]) for ln in order["lines"]] == [
        (1, "100.00", "1000.00"), (2, "48.00", "1440.00")]
    assert [(s["kind"], s["amount"]) for s in order["stages"]] == [
        ("advance", "732.00"), ("prepayment", "976.00"), ("credit", "732.00")]
    assert order["state"]["code"] == "awaiting_approval"
    assert {d["kind"] for d in order["deviations"]} == {"price", "warehouse"}

    # -- agreeing it sends it to approval; the approver sees it in the inbox
    submitted = ok(send(manager, "POST", f"sales/orders/{order_id}/status", {"status": "to_secure"}))
    assert (submitted["status"], submitted["approval"]) == ("not_agreed", "pending")
    assert submitted["approvals"][0]["decision"] == "pending"
    assert {d["kind"] for d in submitted["approvals"][0]["deviations"]} == {"price", "warehouse"}
    assert send(manager, "GET", "sales/approvals").status_code == 403
    inbox = ok(send(director, "GET", "sales/approvals"))
    assert inbox["count"] == 1 and inbox["results"][0]["order"] == order_id
    approved = ok(send(director, "POST", f"sales/approvals/{inbox['results'][0]['id']}/decision",
                       {"approve": True, "comment": "regular client"}))
    assert (approved["status"], approved["approval"]) == ("to_secure", "approved")
    assert approved["state"]["code"] == "awaiting_advance"
    assert approved["approvals"][0]["comment"] == "regular client"

    # -- the advance, with an idempotency key: a retry registers nothing more
    payment_body = {"organization": organization.pk, "partner": client_partner.pk, "method": "cash",
                    "cash_desk": cash_desk.pk, "amount": "732.00", "date": f"{ORDER_DAY}T15:00:00",
                    "lines": [{"order": order_id, "amount": "732.00"}]}
    first = send(accountant, "POST", "payments", payment_body, key="advance-1")
    again = send(accountant, "POST", "payments", payment_body, key="advance-1")
    assert ok(first, 201)["id"] == ok(again, 201)["id"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert IncomingPayment.objects.count() == 1
    assert ok(send(manager, "GET", f"sales/orders/{order_id}"))["state"]["code"] == "ready_to_secure"

    # -- releasing before the prepayment is refused; after it (allocated automatically) the order ships
    refused = send(manager, "POST", f"sales/orders/{order_id}/status", {"status": "to_ship"})
    assert refused.status_code == 409 and refused.json()["code"] == "payment_terms"
    assert "1,708.00" in refused.json()["message"] or "1708" in refused.json()["message"]
    prepayment = ok(send(accountant, "POST", "payments", {**payment_body, "amount": "976.00", "lines": None},
                         key="prepayment-1"), 201)
    assert prepayment["lines"] == [{"line_no": 1, "order": order_id, "shipment": None, "amount": "976.00"}]
    assert prepayment["advance"] == "0.00"
    released = ok(send(manager, "POST", f"sales/orders/{order_id}/status", {"status": "to_ship"}))
    assert (released["status"], released["state"]["code"]) == ("to_ship", "shipping")

    # -- the backlog: both lines, filterable by warehouse
    backlog = ok(send(manager, "GET", "sales/shipping-backlog"))
    assert {(r["warehouse"], r["item"], r["quantity"], r["line_code"]) for r in backlog["results"]} == {
        (warehouse.pk, milk.pk, "10.000", 1), (warehouse2.pk, bread.pk, "30.000", 2)}
    north = ok(send(manager, "GET", f"sales/shipping-backlog?warehouse={warehouse2.pk}&client={client_partner.pk}"))
    assert [r["item_name"] for r in north["results"]] == ["Bread"]

    # -- shipments from the backlog: the milk (a retry makes no second shipment), then too much bread, then the bread
    picks = {"lines": [{"order": order_id, "line_code": 1}], "date": "2026-03-11T10:00:00"}
    shipped = ok(send(manager, "POST", "sales/shipping-backlog/shipments", picks, key="ship-milk"), 201)
    retry = send(manager, "POST", "sales/shipping-backlog/shipments", picks, key="ship-milk")
    assert ok(retry, 201) == shipped and retry["Idempotent-Replayed"] == "true"
    assert Shipment.objects.count() == 1
    milk_shipment = shipped["shipments"][0]
    assert (milk_shipment["posted"], milk_shipment["amount"]) == (True, "1000.00")
    assert [(ln["order"], ln["order_line_code"], ln["quantity"]) for ln in milk_shipment["lines"]] == [
        (order_id, 1, "10.000")]
    too_much = send(manager, "POST", "sales/shipping-backlog/shipments",
                    {"lines": [{"order": order_id, "line_code": 2, "quantity": "31"}],
                     "date": "2026-03-11T11:00:00"})
    assert too_much.status_code == 409
    body = too_much.json()
    assert body["code"] == "beyond_order"
    assert "line 2: ordered 30, shipped 0, asked 31" in body["message"]
    assert len(body["details"]) == 1 and "asked 31" in body["details"][0]["problem"]
    assert Shipment.objects.count() == 1
    ok(send(manager, "POST", "sales/shipping-backlog/shipments",
            {"lines": [{"order": order_id, "line_code": 2}], "date": "2026-03-11T11:00:00"}), 201)

    # -- the state read back: shipped, 70 % paid, the credit part owed 10 days after the last shipment
    state = ok(send(accountant, "GET", f"sales/orders/{order_id}"))
    assert state["state"] | {"label": None} == {
        "code": "awaiting_payment", "label": None, "paid_amount": "1708.00", "paid_percent": "70.00",
        "shipped_amount": "2440.00", "shipped_percent": "100.00", "debt": "732.00", "expected_by": "2026-03-21",
        "overdue": timezone.localdate().isoformat() > "2026-03-21", "issue_difference": False}
    assert state["state"]["label"] == "awaiting payment"
    assert [(ln["code"], ln["shipped"]) for ln in state["lines"]] == [(1, "10.000"), (2, "30.000")]
    assert ok(send(manager, "GET", "sales/shipping-backlog"))["count"] == 0
    listed = ok(send(manager, "GET", f"sales/orders?client={client_partner.pk}&state=awaiting_payment"))
    assert [(o["id"], o["state"]["debt"]) for o in listed["results"]] == [(order_id, "732.00")]
    shipments = ok(send(manager, "GET", f"sales/shipments?order={order_id}"))
    assert shipments["count"] == 2

    # -- the credit payment closes the order
    ok(send(accountant, "POST", "payments", {**payment_body, "lines": None}, key="credit-1"), 201)
    closed = ok(send(manager, "GET", f"sales/orders/{order_id}"))
    assert (closed["status"], closed["state"]["code"], closed["state"]["paid_percent"]) == \
        ("closed", "closed", "100.00")


def test_rejection_needs_a_comment_and_the_author_sees_it(manager_api: Any, director_api: Any, organization: Any,
                                                         warehouse: Any, client_partner: Any, agreement: Any,
                                                         prices: Any, bread: Any) -> None:
    order = ok(send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, [{"item": bread.pk, "quantity": "5", "price": "40"}],
        post=True)), 201)
    ok(send(manager_api, "POST", f"sales/orders/{order['id']}/status", {"status": "to_secure"}))
    approval = OrderApproval.objects.get(order_id=order["id"])
    no_reason = send(director_api, "POST", f"sales/approvals/{approval.pk}/decision", {"approve": False})
    assert no_reason.status_code == 422 and set(no_reason.json()["fields"]) == {"comment"}
    rejected = ok(send(director_api, "POST", f"sales/approvals/{approval.pk}/decision",
                       {"approve": False, "comment": "price too low"}))
    assert (rejected["status"], rejected["approval"]) == ("not_agreed", "rejected")
    seen = ok(send(manager_api, "GET", f"sales/orders/{order['id']}"))
    assert (seen["approvals"][0]["decision"], seen["approvals"][0]["comment"]) == ("rejected", "price too low")
    twice = send(director_api, "POST", f"sales/approvals/{approval.pk}/decision", {"approve": True})
    assert twice.status_code == 422
    assert send(director_api, "POST", "sales/approvals/987654/decision", {"approve": True}).status_code == 404


def test_replace_order_keeps_line_codes_and_refuses_a_stale_version(manager_api: Any, organization: Any,
                                                                   warehouse: Any, client_partner: Any,
                                                                   agreement: Any, prices: Any, milk: Any,
                                                                   bread: Any) -> None:
    created = ok(send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse,
        [{"item": milk.pk, "quantity": "2"}, {"item": bread.pk, "quantity": "4"}])), 201)
    assert created["posted"] is False and created["state"]["code"] == "not_posted"
    body = order_body(organization, client_partner, agreement, warehouse, [
        {"code": 2, "item": bread.pk, "quantity": "6"}, {"item": milk.pk, "quantity": "1"}],
        version=created["version"], client_po_number="PO-77")
    changed = ok(send(manager_api, "PUT", f"sales/orders/{created['id']}", body))
    assert [(ln["code"], ln["item"], ln["quantity"]) for ln in changed["lines"]] == [
        (2, bread.pk, "6.000"), (3, milk.pk, "1.000")]
    assert (changed["client_po_number"], changed["version"], changed["amount"]) == ("PO-77", 2, "400.00")

    stale = send(manager_api, "PUT", f"sales/orders/{created['id']}", {**body, "lines": [
        {"item": milk.pk, "quantity": "99"}]})
    assert stale.status_code == 409 and stale.json()["code"] == "concurrent_edit"
    assert SalesOrder.objects.get(pk=created["id"]).lines.count() == 2
    stale_status = send(manager_api, "POST", f"sales/orders/{created['id']}/status",
                        {"status": "to_secure", "version": 1})
    assert stale_status.status_code == 409
    assert SalesOrder.objects.get(pk=created["id"]).status == OrderStatus.NOT_AGREED

    posted = ok(send(manager_api, "POST", f"sales/orders/{created['id']}/post"))
    assert posted["posted"] is True and posted["state"]["code"] == "awaiting_approval"


def test_order_stages_from_the_request_and_their_errors(manager_api: Any, organization: Any, warehouse: Any,
                                                        client_partner: Any, agreement: Any, prices: Any,
                                                        milk: Any) -> None:
    lines = [{"item": milk.pk, "quantity": "3"}]
    not_100 = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines,
        stages=[{"kind": "advance", "percent": "50", "days": 0}, {"kind": "credit", "percent": "40", "days": 5}]))
    assert not_100.status_code == 422
    assert set(not_100.json()["fields"]) == {"stages"}
    three_places = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines,
        stages=[{"kind": "advance", "percent": "33.333", "days": 0}, {"kind": "credit", "percent": "66.667"}]))
    assert three_places.status_code == 422
    assert set(three_places.json()["fields"]) == {"stages.1.percent", "stages.2.percent"}
    mine = ok(send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines,
        stages=[{"kind": "credit", "percent": "100", "days": 14}])), 201)
    assert [(s["kind"], s["amount"], s["days"]) for s in mine["stages"]] == [("credit", "300.00", 14)]
    assert {d["kind"] for d in mine["deviations"]} == {"schedule"}
    assert SalesOrder.objects.count() == 1


def test_an_order_created_agreed_or_released_at_once(manager_api: Any, director_api: Any, organization: Any,
                                                     warehouse: Any, client_partner: Any, agreement: Any,
                                                     prices: Any, milk: Any, stocked: Any) -> None:
    lines = [{"item": milk.pk, "quantity": "3"}]
    agreed = ok(send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines, status="to_secure")), 201)
    assert (agreed["status"], agreed["posted"], agreed["approval"]) == ("to_secure", True, "")  # none needed
    assert agreed["agreed_at"] is not None and agreed["state"]["code"] == "awaiting_advance"
    # Released at once: the agreement asks for an advance first, so a manager is refused and nothing is created.
    early = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines, status="to_ship"))
    assert early.status_code == 409 and early.json()["code"] == "payment_terms", early.content
    assert "save it, and release it once the payment is in" in early.json()["message"]
    assert SalesOrder.objects.count() == 1
    # The director may release before the payments.
    released = ok(send(director_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines, status="to_ship")), 201)
    assert (released["status"], released["posted"]) == ("to_ship", True)
    closed = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, lines, status="closed"))
    assert closed.status_code == 422 and "status" in closed.json()["fields"]
    assert SalesOrder.objects.count() == 2


def test_closed_agreement_is_a_field_error(manager_api: Any, organization: Any, warehouse: Any,
                                           client_partner: Any, agreement: Any, prices: Any, milk: Any) -> None:
    TradeAgreement.objects.filter(pk=agreement.pk).update(status=AgreementStatus.CLOSED)
    response = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, [{"item": milk.pk, "quantity": "1"}], post=True))
    assert response.status_code == 422
    assert response.json()["code"] == "agreement"
    assert list(response.json()["fields"]) == ["agreement"]
    assert SalesOrder.objects.count() == 0


def test_garbage_is_refused_with_field_errors_never_500(manager_api: Any, director_api: Any, organization: Any,
                                                         warehouse: Any, client_partner: Any, agreement: Any,
                                                         prices: Any, milk: Any) -> None:
    sequences = list(NumberSequence.objects.values_list("scope", "last_value"))
    assert send(manager_api, "POST", "sales/orders", raw='{"organization": ').status_code == 422
    assert send(manager_api, "POST", "sales/orders", [1, 2]).status_code == 422
    wrong = send(manager_api, "POST", "sales/orders", {
        "organization": "ours", "partner": client_partner.pk, "warehouse": warehouse.pk, "date": "soon",
        "lines": [{"item": milk.pk, "quantity": "lots", "securing": "glue"}], "post": "perhaps", "colour": 1})
    assert wrong.status_code == 422
    assert set(wrong.json()["fields"]) == {"organization", "date", "lines.1.quantity", "lines.1.securing", "post",
                                           "colour"}
    huge = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, [{"item": 10**30, "quantity": "1"}]))
    assert huge.status_code == 422 and set(huge.json()["fields"]) == {"lines.1.item"}
    unknown = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, [{"item": milk.pk, "quantity": "1"}],
        counterparty=987654))
    assert unknown.status_code == 422 and set(unknown.json()["fields"]) == {"counterparty"}
    negative = send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse, [{"item": milk.pk, "quantity": "-1"}]))
    assert negative.status_code == 422 and set(negative.json()["fields"]) == {"lines.1.quantity"}
    no_lines = send(manager_api, "POST", "sales/orders", order_body(organization, client_partner, agreement,
                                                                  warehouse, []))
    assert no_lines.status_code == 422 and no_lines.json()["fields"] == {"lines": ["Give at least 1 entry."]}
    status = send(manager_api, "POST", "sales/orders/987654/status", {"status": "to_secure"})
    assert status.status_code == 404
    assert send(manager_api, "POST", "sales/orders/1/status", {"status": "shipped"}).status_code in (404, 422)
    assert send(manager_api, "GET", "sales/orders?state=sleeping").status_code == 422
    assert send(manager_api, "GET", "sales/orders?date_from=yesterday").status_code == 422
    picks = send(manager_api, "POST", "sales/shipping-backlog/shipments",
                 {"lines": [{"order": "x", "line_code": 0, "quantity": "-1"}]})
    assert picks.status_code == 422
    assert picks.json()["fields"] == {"lines.1.order": ["Give a whole number."],
                                      "lines.1.line_code": ["Give a number of at least 1."],
                                      "lines.1.quantity": ["Give a number greater than 0."]}
    no_such = send(manager_api, "POST", "sales/shipping-backlog/shipments", {"lines": [{"order": 987654,
                                                                                    "line_code": 1}]})
    assert no_such.status_code == 422 and set(no_such.json()["fields"]) == {"lines.1"}
    schedule = send(director_api, "POST", "sales/payment-schedules", {"name": "x", "stages": [
        {"kind": "sometime", "percent": "abc"}]})
    assert schedule.status_code == 422
    assert set(schedule.json()["fields"]) == {"stages.1.kind", "stages.1.percent"}
    assert SalesOrder.objects.count() == 0 and Shipment.objects.count() == 0
    assert not PaymentSchedule.objects.filter(name="x").exists()
    assert list(NumberSequence.objects.values_list("scope", "last_value")) == sequences


def test_cancel_lines_and_close(manager_api: Any, director_api: Any, organization: Any, warehouse: Any,
                                client_partner: Any, agreement: Any, prices: Any, milk: Any, bread: Any) -> None:
    order = ok(send(manager_api, "POST", "sales/orders", order_body(
        organization, client_partner, agreement, warehouse,
        [{"item": milk.pk, "quantity": "2"}, {"item": bread.pk, "quantity": "4"}], post=True)), 201)
    unknown = send(manager_api, "POST", f"sales/orders/{order['id']}/cancel-lines", {"codes": [7], "reason": "x"})
    assert unknown.status_code == 422 and set(unknown.json()["fields"]) == {"codes"}
    blank = send(manager_api, "POST", f"sales/orders/{order['id']}/cancel-lines", {"codes": [1], "reason": " "})
    assert blank.status_code == 422 and set(blank.json()["fields"]) == {"reason"}
    cancelled = ok(send(manager_api, "POST", f"sales/orders/{order['id']}/cancel-lines",
                        {"codes": [2], "reason": "out of season"}))
    assert [(ln["code"], ln["cancelled"], ln["cancel_reason"]) for ln in cancelled["lines"]] == [
        (1, False, ""), (2, True, "out of season")]
    assert cancelled["amount"] == "200.00"
    closed = ok(send(director_api, "POST", f"sales/orders/{order['id']}/status",
                     {"status": "closed", "reason": "client changed its mind"}))
    assert closed["status"] == "closed" and closed["state"]["code"] == "closed"
    assert closed["lines"][0]["cancel_reason"] == "client changed its mind"


def test_shipment_without_order_idempotency_and_over_shipment(manager_api: Any, director_api: Any, director: Any,
                                                               organization: Any, warehouse: Any,
                                                               client_partner: Any, agreement: Any, prices: Any,
                                                               milk: Any, stocked: Any) -> None:
    body = {"organization": organization.pk, "partner": client_partner.pk, "warehouse": warehouse.pk,
            "agreement": agreement.pk, "date": "2026-03-12T10:00:00", "due_date": "2026-03-20",
            "lines": [{"item": milk.pk, "quantity": "2"}], "post": True}
    first = ok(send(manager_api, "POST", "sales/shipments", body, key="direct-1"), 201)
    assert (first["posted"], first["amount"], first["lines"][0]["price"]) == (True, "200.00", "100.00")
    replay = send(manager_api, "POST", "sales/shipments", body, key="direct-1")
    assert ok(replay, 201)["id"] == first["id"] and replay["Idempotent-Replayed"] == "true"
    other = send(manager_api, "POST", "sales/shipments", {**body, "lines": [{"item": milk.pk, "quantity": "3"}]},
                 key="direct-1")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert Shipment.objects.count() == 1
    # the key is the user's own: another user's identical key is another request
    assert ok(send(director_api, "POST", "sales/shipments", body, key="direct-1"), 201)["id"] != first["id"]

    no_price = send(manager_api, "POST", "sales/shipments", {**body, "agreement": None})
    assert no_price.status_code == 422 and set(no_price.json()["fields"]) == {"lines.1.price"}

    # an agreed order (no payment terms: nothing to pay before it ships): shipping more than ordered is refused
    # naming the line
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment(ORDER_DAY, 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(5))], stages=[], user=None, post=True)
    services.set_order_status(order, OrderStatus.TO_SHIP, user=director)
    over = send(manager_api, "POST", "sales/shipments", {**body, "lines": [
        {"order": order.pk, "order_line_code": 1, "item": milk.pk, "quantity": "6"}]})
    assert over.status_code == 409 and over.json()["code"] == "beyond_order"
    assert "ordered 5, shipped 0, asked 6" in over.json()["message"]
    from_order = ok(send(manager_api, "POST", "sales/shipments", {**body, "post": False, "lines": [
        {"order": order.pk, "order_line_code": 1, "item": milk.pk, "quantity": "5"}]}), 201)
    assert (from_order["posted"], from_order["lines"][0]["price"]) == (False, "100.00")
    posted = ok(send(manager_api, "POST", f"sales/shipments/{from_order['id']}/post"))
    assert posted["posted"] is True
    assert ok(send(manager_api, "GET", f"sales/orders/{order.pk}"))["state"]["shipped_percent"] == "100.00"
    four = {**body, "version": posted["version"], "lines": [
        {"order": order.pk, "order_line_code": 1, "item": milk.pk, "quantity": "4"}]}
    del four["post"]
    changed = ok(send(manager_api, "PUT", f"sales/shipments/{from_order['id']}", four))
    assert (changed["posted"], changed["amount"], changed["version"]) == (True, "400.00", posted["version"] + 1)
    stale = send(manager_api, "PUT", f"sales/shipments/{from_order['id']}", {**four, "lines": [
        {"order": order.pk, "order_line_code": 1, "item": milk.pk, "quantity": "1"}]})
    assert stale.status_code == 409 and stale.json()["code"] == "concurrent_edit"
    assert Shipment.objects.get(pk=from_order["id"]).amount == D("400.00")
    unposted = ok(send(manager_api, "POST", f"sales/shipments/{from_order['id']}/unpost"))
    assert unposted["posted"] is False
    assert ok(send(manager_api, "GET", f"sales/orders/{order.pk}"))["state"]["shipped_percent"] == "0.00"
    assert send(manager_api, "GET", "sales/shipments/987654").status_code == 404
    # the key was noted on the first shipment's creation, in its history
    noted = ChangeLogEntry.objects.filter(content_type=ContentType.objects.get_for_model(Shipment),
                                          object_id=first["id"], action="created").values_list("comment", flat=True)
    assert [c.split(" ")[0] for c in noted] == ["idempotency-key"]


def test_roles_without_the_capability_are_refused(api_for: Any, organization: Any, warehouse: Any,
                                                  client_partner: Any, agreement: Any, prices: Any,
                                                  milk: Any) -> None:
    body = order_body(organization, client_partner, agreement, warehouse, [{"item": milk.pk, "quantity": "1"}])
    storekeeper, accountant, manager = (api_for(Role.STOREKEEPER), api_for(Role.ACCOUNTANT),
                                        api_for(Role.SALES_MANAGER))
    for api in (storekeeper, accountant):  # they see orders but do not write them
        refused = send(api, "POST", "sales/orders", body)
        assert refused.status_code == 403 and "sales.edit" in refused.json()["message"]
        assert send(api, "GET", "sales/orders").status_code == 200
    assert send(storekeeper, "POST", "sales/shipments", {}).status_code == 403  # no sales.ship
    assert send(manager, "POST", "sales/agreements", {}).status_code == 403  # no sales.agreements
    assert send(manager, "GET", "sales/approvals").status_code == 403  # no sales.approve
    assert send(api_for(Role.COURIER), "GET", "sales/orders").status_code == 403
    assert send(api_for(None, anonymous=True), "GET", "sales/orders").status_code == 401
    assert SalesOrder.objects.count() == 0


def test_orders_list_filters_and_bounded_queries(manager_api: Any, organization: Any, warehouse: Any,
                                                 client_partner: Any, agreement: Any, prices: Any, milk: Any,
                                                 django_assert_max_num_queries: Any) -> None:
    for day in ("2026-03-01", "2026-03-05", "2026-03-09"):
        order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement,
                           warehouse=warehouse, date=moment(day, 10))
        services.save_order(order, [SalesOrderLine(item=milk, quantity=D(1))], post=day != "2026-03-09")
    send(manager_api, "GET", "sales/orders")
    with django_assert_max_num_queries(4):  # token, roles, count, page (with the states)
        page = ok(send(manager_api, "GET", "sales/orders?date_from=2026-03-02&limit=10"))
    assert page["count"] == 2
    assert [(o["date"][:10], o["state"]["code"]) for o in page["results"]] == [
        ("2026-03-09", "not_posted"), ("2026-03-05", "awaiting_approval")]
    assert ok(send(manager_api, "GET", "sales/orders?state=not_posted"))["count"] == 1
    assert ok(send(manager_api, "GET", "sales/orders?status=not_agreed&posted=true"))["count"] == 2
    assert ok(send(manager_api, "GET", f"sales/orders?client={client_partner.pk}&date_to=2026-03-01"))["count"] == 1
    assert ok(send(manager_api, "GET", "sales/orders?client=987654"))["count"] == 0


def test_out_of_range_values_are_4xx_never_500(api_for: Any, organization: Any, warehouse: Any,
                                               client_partner: Any, agreement: Any, prices: Any, milk: Any,
                                               cash_desk: Any) -> None:
    admin = api_for(Role.ADMINISTRATOR)
    big = 10**30

    def order(lines: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        return order_body(organization, client_partner, agreement, warehouse,
                          lines or [{"item": milk.pk, "quantity": "1"}], **extra)

    def line(**values: Any) -> list[dict[str, Any]]:
        return [{"item": milk.pk, "quantity": "1", **values}]

    shipment = {"organization": organization.pk, "partner": client_partner.pk, "warehouse": warehouse.pk}
    payment = {"organization": organization.pk, "partner": client_partner.pk, "cash_desk": cash_desk.pk}
    cases: list[tuple[str, str, Any, str]] = [
        ("POST", "sales/orders", order(line(price="1e30")), "lines.1.price"),
        ("POST", "sales/orders", order(line(quantity="1e30")), "lines.1.quantity"),
        ("POST", "sales/orders", order(line(discount_percent="1e30")), "lines.1.discount_percent"),
        ("POST", "sales/orders", order(line(quantity="0.0001")), "lines.1.quantity"),
        ("POST", "sales/orders", order(line(price="99999999999999.99", quantity="99999999999999")), "__all__"),
        ("POST", "sales/orders", order(stages=[{"kind": "advance", "percent": "1e30"}]), "stages.1.percent"),
        ("POST", "sales/orders", order(stages=[{"kind": "credit", "percent": "100", "days": big}]),
         "stages.1.days"),
        ("POST", "sales/orders", order(shipment_date="9999-12-31", stages=[{"kind": "credit", "percent": "100",
                                                                            "days": 5}]), "__all__"),
        ("POST", "sales/orders", order(date="9999-12-31T23:59:59"), "date"),
        ("POST", "sales/orders", order(date="0001-01-01T00:00:00"), "date"),
        ("POST", "sales/orders", order(client_po_number="x" * 51), "client_po_number"),
        ("POST", "sales/agreements", {"name": "a", "organization": organization.pk, "price_type": big,
                                      "min_order_amount": "1e30"}, "price_type"),
        ("POST", "sales/agreements", {"name": "a", "organization": organization.pk, "price_type": 1,
                                      "partners": [big]}, "partners.1"),
        ("POST", "sales/payment-schedules", {"name": "a", "stages": [{"kind": "credit", "percent": "100",
                                                                      "days": -1}]}, "stages.1.days"),
        ("POST", "payments", {**payment, "amount": "1e30"}, "amount"),
        ("POST", "payments", {**payment, "amount": "1", "lines": [{"order": big, "amount": "1"}]}, "lines.1.order"),
        ("POST", "payments/allocation-preview", {**payment, "amount": "1e30"}, "amount"),
        ("POST", "sales/shipping-backlog/shipments", {"lines": [{"order": 1, "line_code": 1, "quantity": "1e30"}]},
         "lines.1.quantity"),
        ("POST", "sales/shipments", {**shipment, "lines": line(price="1e30")}, "lines.1.price"),
        ("POST", "sales/shipments", {**shipment, "lines": line(order=big, order_line_code=1, price="1")},
         "lines.1.order"),
        ("GET", f"sales/orders?client={big}", None, "client"),
        ("GET", f"sales/shipments?order={big}", None, "order"),
        ("GET", f"sales/shipping-backlog?warehouse={big}", None, "warehouse"),
        ("GET", f"payments?shipment={big}", None, "shipment"),
        ("GET", f"sales/agreements?organization={big}", None, "organization"),
        ("GET", f"clients/{client_partner.pk}/settlements?organization={big}", None, "organization"),
    ]
    for method, path, body, field in cases:
        response = send(admin, method, path, body, key=f"k{len(path)}-{id(body)}")
        assert response.status_code == 422, (path, body, response.content)
        assert field in response.json()["fields"], (path, body, response.json())
    wide = ok(send(admin, "GET", "sales/orders?date_from=0001-01-01&date_to=9999-12-31"))
    assert wide["count"] == 0
    assert SalesOrder.objects.count() == 0 and Shipment.objects.count() == 0


# Values of every JSON type, including the awkward ones: huge and negative numbers, exponents, NUL, far dates.
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12),
    st.sampled_from(["1e30", "-0.001", "0", "12.345678", "NaN", "9999-12-31", "0001-01-01T00:00:00", "\x00",
                     "2026-03-10T10:00:00", "cash", "bank", "to_ship", "closed", "reserve", "advance"]),
    st.sampled_from([1, 2, 3, 0, -1, "1", "0.5", "2", "100", "5000", "99999", True, False, [], {}]),
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    st.sampled_from(["item", "quantity", "price", "order", "line_code", "order_line_code", "amount", "kind",
                     "percent", "days", "code"]), inner, max_size=4), max_leaves=8)
_FIELDS = ["organization", "partner", "warehouse", "agreement", "date", "lines", "stages", "post", "status",
           "reason", "version", "amount", "method", "cash_desk", "bank_account", "shipment_date", "due_date",
           "codes", "approve", "comment"]


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_bodies_never_make_a_500(admin_token_api: Any, valid_bodies: dict[tuple[str, str], Any],
                                        data: Any) -> None:
    """Valid requests with up to two values replaced by anything JSON can carry, or bodies of anything."""
    (method, path), body = data.draw(st.sampled_from(sorted(valid_bodies.items(), key=str)))
    if data.draw(st.booleans()):
        body = data.draw(st.dictionaries(st.sampled_from(_FIELDS), _values, max_size=8) | _values)
    else:
        body = json.loads(json.dumps(body))
        for _ in range(data.draw(st.integers(0, 2))):
            _replace_leaf(body, data.draw(st.integers(0, 1000)), data.draw(_values))
    response = send(admin_token_api, method, path, body, key=data.draw(st.sampled_from(["fuzz-1", "fuzz-2"])))
    event(f"{method} {path.rstrip('/0123456789')}: {response.status_code}")
    assert response.status_code < 500, (method, path, body, response.content)


def _replace_leaf(body: Any, choice: int, value: Any) -> None:
    """Put `value` at one of the body's places (a field, a line's field, a list entry), picked by `choice`."""
    places: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else []
        for key, child in list(items):
            places.append((node, key))
            walk(child)

    walk(body)
    if places:
        node, key = places[choice % len(places)]
        node[key] = value


@pytest.fixture
def admin_token_api(api_for: Any) -> Any:
    return api_for(Role.ADMINISTRATOR)


@pytest.fixture
def valid_bodies(director: Any, organization: Any, warehouse: Any, client_partner: Any, agreement: Any,
                 prices: Any, milk: Any, cash_desk: Any, stocked: Any) -> dict[tuple[str, str], Any]:
    order = SalesOrder(organization=organization, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment(ORDER_DAY, 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(5))], user=director, post=True)
    services.set_order_status(order, OrderStatus.TO_SHIP, user=director)
    payment = register_payment(IncomingPayment(organization=organization, partner=client_partner,
                                               method=PaymentMethod.CASH, cash_desk=cash_desk, amount=D(5)), [],
                               user=director, idempotency_key="known")
    lines = [{"item": milk.pk, "quantity": "1", "price": "100", "code": 1}]
    money = {"organization": organization.pk, "partner": client_partner.pk, "method": "cash",
             "cash_desk": cash_desk.pk, "amount": "1.00"}
    return {
        ("POST", "sales/orders"): order_body(organization, client_partner, agreement, warehouse, lines, post=True,
                                             stages=[{"kind": "credit", "percent": "100", "days": 3}]),
        ("PUT", f"sales/orders/{order.pk}"): order_body(organization, client_partner, agreement, warehouse, lines,
                                                        version=order.version),
        ("POST", f"sales/orders/{order.pk}/status"): {"status": "closed", "reason": "r", "version": order.version},
        ("POST", f"sales/orders/{order.pk}/cancel-lines"): {"codes": [1], "reason": "r"},
        ("POST", "sales/shipments"): {"organization": organization.pk, "partner": client_partner.pk,
                                      "warehouse": warehouse.pk, "date": "2026-03-11T10:00:00", "post": True,
                                      "lines": [{"order": order.pk, "order_line_code": 1, "item": milk.pk,
                                                 "quantity": "1"}]},
        ("POST", "sales/shipping-backlog/shipments"): {"lines": [{"order": order.pk, "line_code": 1,
                                                                  "quantity": "1"}], "date": "2026-03-11T10:00:00"},
        ("POST", "payments"): {**money, "lines": [{"order": order.pk, "amount": "1.00"}]},
        ("POST", "refunds"): money,
        ("PUT", f"payments/{payment.pk}/allocation"): {"lines": [{"order": order.pk, "amount": "1"}],
                                                       "version": payment.version},
        ("POST", "payments/allocation-preview"): {"organization": organization.pk, "partner": client_partner.pk,
                                                  "amount": "10", "orders": [order.pk]},
        ("POST", "sales/agreements"): {"name": "A", "organization": organization.pk, "price_type": 1,
                                       "kind": "individual", "partner": client_partner.pk, "status": "active"},
        ("POST", "sales/payment-schedules"): {"name": "S", "stages": [{"kind": "advance", "percent": "100"}]},
    }
