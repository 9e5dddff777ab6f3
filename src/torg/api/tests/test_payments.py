"""Payments, refunds and a client's settlements through the REST API: idempotency keys, allocation oldest due
first, the advance part, re-allocation, refusals; and concurrent retries on PostgreSQL."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from torg.api.tests import sales_helpers
from torg.api.tests.conftest import Api
from torg.api.tests.sales_helpers import ORDER_DAY, ok, send
from torg.catalogs.models import BankAccount
from torg.conftest import moment
from torg.core.permissions import Role
from torg.payments.models import Funds, IncomingPayment, Refund
from torg.sales import services
from torg.sales.models import ClientAdvances, SalesOrder, SalesOrderLine, Shipment

globals().update(sales_helpers.fixtures)  # the sales area's fixtures: agreement, prices, stocked, cash_desk…
pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def cashier_api(api_for: Any) -> Api:
    return api_for(Role.ACCOUNTANT)  # the cashier role has no API access; the accountant registers money


def agreed_order(organization: Any, client: Any, agreement: Any, warehouse: Any, item: Any, user: Any,
                 day: str = ORDER_DAY, quantity: int = 10) -> SalesOrder:
    """A posted order agreed by someone who may deviate (1 000.00 for 10 × milk: 300 / 400 / 300)."""
    order = SalesOrder(organization=organization, partner=client, agreement=agreement, warehouse=warehouse,
                       date=moment(day, 10))
    services.save_order(order, [SalesOrderLine(item=item, quantity=D(quantity))], user=user, post=True)
    services.submit_order(order, user=user)
    return order


def body(organization: Any, client: Any, cash_desk: Any, amount: str, lines: Any = None, **extra: Any) -> dict:
    data = {"organization": organization.pk, "partner": client.pk, "method": "cash", "cash_desk": cash_desk.pk,
            "amount": amount, "date": f"{ORDER_DAY}T15:00:00", **extra}
    if lines is not None:
        data["lines"] = lines
    return data


def test_a_payment_needs_an_idempotency_key(cashier_api: Api, organization: Any, client_partner: Any,
                                            cash_desk: Any) -> None:
    data = body(organization, client_partner, cash_desk, "100.00")
    missing = send(cashier_api, "POST", "payments", data)
    assert missing.status_code == 422
    assert missing.json()["code"] == "invalid"
    assert list(missing.json()["fields"]) == ["Idempotency-Key"]
    assert "Idempotency-Key" in missing.json()["message"] and "only once" in missing.json()["message"]
    for bad in ("   ", "has spaces", "x" * 65, "ключ"):
        response = send(cashier_api, "POST", "payments", data, key=bad)
        assert response.status_code == 422, bad
        assert list(response.json()["fields"]) == ["Idempotency-Key"]
    assert IncomingPayment.objects.count() == 0
    refund = send(cashier_api, "POST", "refunds", data)
    assert refund.status_code == 422 and list(refund.json()["fields"]) == ["Idempotency-Key"]


def test_a_repeated_key_registers_the_payment_once(api_for: Any, cashier_api: Api, organization: Any,
                                                   client_partner: Any, cash_desk: Any) -> None:
    data = body(organization, client_partner, cash_desk, "250.00", lines=[])
    first = send(cashier_api, "POST", "payments", data, key="pay-7")
    second = send(cashier_api, "POST", "payments", data, key="pay-7")
    assert ok(first, 201) == ok(second, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert first.json()["advance"] == "250.00" and first.json()["lines"] == []
    assert IncomingPayment.objects.count() == 1
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("250.00")

    other = send(cashier_api, "POST", "payments", {**data, "amount": "300.00"}, key="pay-7")
    assert other.status_code == 409 and other.json()["code"] == "idempotency_key_reused"
    assert IncomingPayment.objects.count() == 1
    # the key is its user's: another integration's "pay-7" is another payment
    ok(send(api_for(Role.SALES_MANAGER), "POST", "payments", data, key="pay-7"), 201)
    assert IncomingPayment.objects.count() == 2


def test_allocation_oldest_due_first_and_the_rest_as_an_advance(cashier_api: Api, director: Any,
                                                                 organization: Any, warehouse: Any,
                                                                 client_partner: Any, agreement: Any, prices: Any,
                                                                 milk: Any, cash_desk: Any) -> None:
    older = agreed_order(organization, client_partner, agreement, warehouse, milk, director, day="2026-03-02")
    newer = agreed_order(organization, client_partner, agreement, warehouse, milk, director, day="2026-03-09")
    preview = ok(send(cashier_api, "POST", "payments/allocation-preview", {
        "organization": organization.pk, "partner": client_partner.pk, "amount": "1500"}))
    assert preview["lines"] == [{"order": older.pk, "shipment": None, "amount": "1000.00"},
                                {"order": newer.pk, "shipment": None, "amount": "500.00"}]
    assert preview["advance"] == "0.00"
    assert [(i["order"], i["remaining"], i["due"]) for i in preview["open_items"]] == [
        (older.pk, "1000.00", "2026-03-03"), (newer.pk, "1000.00", "2026-03-10")]
    assert IncomingPayment.objects.count() == 0

    first = ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "1500"),
                    key="a"), 201)
    assert [(ln["order"], ln["amount"]) for ln in first["lines"]] == [(older.pk, "1000.00"), (newer.pk, "500.00")]
    second = ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "700"),
                     key="b"), 201)
    assert [(ln["order"], ln["amount"]) for ln in second["lines"]] == [(newer.pk, "500.00")]
    assert (second["allocated"], second["advance"]) == ("500.00", "200.00")
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D("200.00")
    order = ok(send(cashier_api, "GET", f"sales/orders/{newer.pk}"))
    assert (order["state"]["paid_amount"], order["state"]["paid_percent"]) == ("1000.00", "100.00")

    by_order = ok(send(cashier_api, "GET", f"payments?order={newer.pk}"))
    assert [p["id"] for p in by_order["results"]] == [second["id"], first["id"]]
    assert ok(send(cashier_api, "GET", f"payments?order={older.pk}"))["count"] == 1
    assert ok(send(cashier_api, "GET", f"payments?client={client_partner.pk}&method=cash"))["count"] == 2
    assert ok(send(cashier_api, "GET", "payments?method=bank"))["count"] == 0
    assert ok(send(cashier_api, "GET", f"payments?date_from={ORDER_DAY}&date_to={ORDER_DAY}"))["count"] == 2
    assert ok(send(cashier_api, "GET", "payments?date_to=2026-03-09"))["count"] == 0


def test_allocation_refusals_name_the_line(cashier_api: Api, director: Any, organization: Any, warehouse: Any,
                                           client_partner: Any, agreement: Any, prices: Any, milk: Any,
                                           cash_desk: Any) -> None:
    order = agreed_order(organization, client_partner, agreement, warehouse, milk, director)
    above = send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "1200",
                                                       lines=[{"order": order.pk, "amount": "1200"}]), key="x1")
    assert above.status_code == 422
    assert list(above.json()["fields"]) == ["lines.1.amount"]
    assert "1,000.00" in above.json()["fields"]["lines.1.amount"][0]
    both = send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "10", lines=[
        {"amount": "10"}]), key="x2")
    assert both.status_code == 422 and list(both.json()["fields"]) == ["lines.1"]
    unknown = send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "10", lines=[
        {"order": 987654, "amount": "10"}]), key="x3")
    assert unknown.status_code == 422 and list(unknown.json()["fields"]) == ["lines.1.order"]
    assert IncomingPayment.objects.count() == 0
    # a refused request leaves its key free: corrected, the same key registers it
    fixed = send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "1200",
                                                       lines=[{"order": order.pk, "amount": "1000"}]), key="x1")
    assert ok(fixed, 201)["advance"] == "200.00"


def test_reallocation_moves_money_between_the_order_and_the_advance(cashier_api: Api, director: Any,
                                                                     organization: Any, warehouse: Any,
                                                                     client_partner: Any, agreement: Any,
                                                                     prices: Any, milk: Any, cash_desk: Any) -> None:
    order = agreed_order(organization, client_partner, agreement, warehouse, milk, director)
    payment = ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "500",
                                                            lines=[]), key="adv"), 201)
    assert (payment["allocated"], payment["advance"]) == ("0.00", "500.00")
    moved = ok(send(cashier_api, "PUT", f"payments/{payment['id']}/allocation", {
        "lines": [{"order": order.pk, "amount": "300"}], "version": payment["version"]}))
    assert (moved["allocated"], moved["advance"], moved["version"]) == ("300.00", "200.00", payment["version"] + 1)
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D("200.00")
    assert ok(send(cashier_api, "GET", f"sales/orders/{order.pk}"))["state"]["paid_amount"] == "300.00"

    stale = send(cashier_api, "PUT", f"payments/{payment['id']}/allocation", {"lines": [], "version": 1})
    assert stale.status_code == 409 and stale.json()["code"] == "concurrent_edit"
    too_much = send(cashier_api, "PUT", f"payments/{payment['id']}/allocation", {
        "lines": [{"order": order.pk, "amount": "600"}], "version": moved["version"]})
    assert too_much.status_code == 422 and list(too_much.json()["fields"]) == ["amount"]
    assert ok(send(cashier_api, "GET", f"payments/{payment['id']}"))["lines"] == [
        {"line_no": 1, "order": order.pk, "shipment": None, "amount": "300.00"}]
    assert send(cashier_api, "PUT", "payments/987654/allocation", {"lines": [], "version": 1}).status_code == 404


def test_refund_within_the_advance_and_refused_above_it(cashier_api: Api, organization: Any, client_partner: Any,
                                                         cash_desk: Any) -> None:
    ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "500", lines=[]),
            key="in"), 201)
    refund_body = {"organization": organization.pk, "partner": client_partner.pk, "method": "cash",
                   "cash_desk": cash_desk.pk, "amount": "600.00", "date": f"{ORDER_DAY}T16:00:00"}
    above = send(cashier_api, "POST", "refunds", refund_body, key="out-1")
    assert above.status_code == 409
    assert above.json()["code"] == "shortage"
    assert above.json()["message"] == ("A refund cannot exceed the advance the client holds: 500.00 is held, "
                                       "600.00 asked.")
    assert above.json()["fields"] == {"amount": ["At most 500.00."]}
    assert Refund.objects.count() == 0

    first = ok(send(cashier_api, "POST", "refunds", {**refund_body, "amount": "200"}, key="out-1"), 201)
    again = send(cashier_api, "POST", "refunds", {**refund_body, "amount": "200"}, key="out-1")
    assert ok(again, 201)["id"] == first["id"] and again["Idempotent-Replayed"] == "true"
    assert (first["posted"], first["amount"]) == (True, "200.00")
    assert Refund.objects.count() == 1
    assert ClientAdvances.balance(organization=organization, partner=client_partner)["amount"] == D("300.00")
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("300.00")
    assert ok(send(cashier_api, "GET", f"refunds?client={client_partner.pk}"))["count"] == 1
    assert ok(send(cashier_api, "GET", f"refunds/{first['id']}"))["amount"] == "200.00"
    assert send(cashier_api, "GET", "refunds/987654").status_code == 404


def test_client_settlements(cashier_api: Api, director: Any, organization: Any, other_organization: Any,
                            warehouse: Any, client_partner: Any, agreement: Any, prices: Any, milk: Any,
                            stocked: Any, cash_desk: Any) -> None:
    order = agreed_order(organization, client_partner, agreement, warehouse, milk, director)
    services.release_to_ship(order, user=director)  # the director may release before the prepayment
    line = services.shipping_backlog(order=order.pk)[0]
    services.create_shipments_from_backlog([services.Pick(order.pk, line.line_code)], user=director,
                                           date=moment("2026-03-11", 10))
    ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "300"), key="p"), 201)

    card = ok(send(cashier_api, "GET", f"clients/{client_partner.pk}/settlements"))
    days = (timezone.localdate() - dt.date(2026, 3, 21)).days
    assert card["rows"] == [{
        "kind": "order", "organization": organization.pk, "order": order.pk, "shipment": None, "title": str(order),
        "shipped": "1000.00", "paid": "300.00", "debt": "700.00", "prepaid": "0.00", "due_date": "2026-03-21",
        "days_overdue": days, "overdue": "700.00" if days > 0 else "0.00",
        "planned": {"prepayment": "400.00", "credit": "300.00"}}]
    assert (card["debt"], card["prepaid"], card["advance"], card["balance"]) == ("700.00", "0.00", "0.00", "700.00")

    # money with nothing left to pay is an advance
    ok(send(cashier_api, "POST", "payments", body(organization, client_partner, cash_desk, "900"), key="q"), 201)
    card = ok(send(cashier_api, "GET", f"clients/{client_partner.pk}/settlements?organization={organization.pk}"))
    assert [r["kind"] for r in card["rows"]] == ["advance"]
    assert (card["debt"], card["advance"], card["overdue"], card["balance"]) == ("0.00", "200.00", "0.00", "-200.00")
    other = ok(send(cashier_api, "GET", f"clients/{client_partner.pk}/settlements?organization="
                                        f"{other_organization.pk}"))
    assert other["rows"] == [] and other["balance"] == "0.00"
    assert send(cashier_api, "GET", "clients/987654/settlements").status_code == 404
    bad = send(cashier_api, "GET", f"clients/{client_partner.pk}/settlements?organization=987654")
    assert bad.status_code == 422 and list(bad.json()["fields"]) == ["organization"]


def test_garbage_is_refused_with_field_errors_never_500(cashier_api: Api, organization: Any,
                                                         other_organization: Any, client_partner: Any,
                                                         cash_desk: Any) -> None:
    data = body(organization, client_partner, cash_desk, "100")
    assert send(cashier_api, "POST", "payments", raw="{]", key="g1").status_code == 422
    wrong = send(cashier_api, "POST", "payments", {**data, "amount": "plenty", "method": "barter", "partner": [1],
                                                   "date": "tomorrow", "tip": "5"}, key="g2")
    assert wrong.status_code == 422
    assert set(wrong.json()["fields"]) == {"amount", "method", "partner", "date", "tip"}
    cases = {
        "cash_desk": {**data, "cash_desk": None},
        "bank_account": {**data, "method": "bank", "cash_desk": None},
        "amount": {**data, "amount": "-5"},
    }
    for field, case in cases.items():
        response = send(cashier_api, "POST", "payments", case, key=f"g-{field}")
        assert response.status_code == 422, (field, response.content)
        assert field in response.json()["fields"], (field, response.json())
    three_places = send(cashier_api, "POST", "payments", {**data, "amount": "1.005"}, key="g3")
    assert three_places.status_code == 422 and "amount" in three_places.json()["fields"]
    foreign = BankAccount.objects.create(organization=other_organization, name="Theirs", number="1", bik="1")
    theirs = send(cashier_api, "POST", "payments", {**data, "method": "card", "bank_account": foreign.pk},
                  key="g4")
    assert theirs.status_code == 422 and list(theirs.json()["fields"]) == ["bank_account"]
    huge = send(cashier_api, "POST", "payments", {**data, "partner": 10**30}, key="g5")
    assert huge.status_code == 422 and list(huge.json()["fields"]) == ["partner"]
    preview = send(cashier_api, "POST", "payments/allocation-preview", {"organization": 10**30, "partner": 0,
                                                                       "amount": "0"})
    assert preview.status_code == 422
    assert set(preview.json()["fields"]) == {"organization", "partner", "amount"}
    assert send(cashier_api, "GET", "payments?order=several").status_code == 422
    assert send(cashier_api, "GET", "payments/987654").status_code == 404
    assert IncomingPayment.objects.count() == 0


def test_roles_without_the_capability_are_refused(api_for: Any, organization: Any, client_partner: Any,
                                                  cash_desk: Any) -> None:
    data = body(organization, client_partner, cash_desk, "100")
    storekeeper, director = api_for(Role.STOREKEEPER), api_for(Role.SALES_DIRECTOR)
    assert send(storekeeper, "GET", "payments").status_code == 403  # no payments.view
    assert send(storekeeper, "GET", f"clients/{client_partner.pk}/settlements").status_code == 403
    assert send(director, "GET", "payments").status_code == 200
    refused = send(director, "POST", "payments", data, key="d1")  # sees payments, does not register them
    assert refused.status_code == 403 and "payments.edit" in refused.json()["message"]
    assert send(director, "POST", "refunds", data, key="d2").status_code == 403
    assert send(api_for(None, anonymous=True), "POST", "payments", data, key="d3").status_code == 401
    assert IncomingPayment.objects.count() == 0


# ------------------------------------------------------------------ concurrency (PostgreSQL)
def _run_at_once(work: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(work))
    results: list[Any] = [None] * len(work)

    def runner(index: int, fn: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = fn()
        except BaseException as exc:  # noqa: BLE001 — the test asserts every outcome
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=runner, args=(i, fn)) for i, fn in enumerate(work)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a request hung"
    return results


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_register_once(api_for: Any, director: Any, organization: Any, warehouse: Any,
                                          client_partner: Any, agreement: Any, prices: Any, milk: Any,
                                          stocked: Any, cash_desk: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set TORG_TEST_DATABASE_URL (make test-pg)")
    accountant = api_for(Role.ACCOUNTANT)
    order = agreed_order(organization, client_partner, agreement, warehouse, milk, director)
    services.release_to_ship(order, user=director)
    keys = [str(uuid.uuid4()) for _ in range(4)]

    def pay(key: str) -> Any:
        api = Api(Client(), accountant.token)
        return send(api, "POST", "payments", body(organization, client_partner, cash_desk, "100"), key=key)

    # 8 requests: 4 keys, each sent twice at the same moment
    responses = _run_at_once([lambda k=k: pay(k) for k in keys + keys])
    assert [getattr(r, "status_code", r) for r in responses] == [201] * 8
    ids = {r.json()["id"] for r in responses}
    assert len(ids) == 4 and IncomingPayment.objects.count() == 4
    assert Funds.balance(organization=organization, cash_desk=cash_desk, bank_account=None)["amount"] == D("400.00")

    manager = api_for(Role.SALES_DIRECTOR)
    line = services.shipping_backlog(order=order.pk)[0]
    picks = {"lines": [{"order": order.pk, "line_code": line.line_code, "quantity": "1"}],
             "date": "2026-03-11T10:00:00"}

    def ship() -> Any:
        return send(Api(Client(), manager.token), "POST", "sales/shipping-backlog/shipments", picks, key="ship-once")

    shipped = _run_at_once([ship for _ in range(4)])
    assert [getattr(r, "status_code", r) for r in shipped] == [201] * 4
    assert len({r.json()["shipments"][0]["id"] for r in shipped}) == 1
    assert Shipment.objects.count() == 1
