"""The courier's REST API: own trips and stops, what is owed at the door, the confirmation with an idempotency key
(a retry answers the stored result, another phone gets 409), refusals that register nothing, the trip's end; and
the permission matrix (no token, roles without `delivery.courier`, another courier's trip and stop)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from torg.api.tests.conftest import Api
from torg.api.tests.sales_helpers import ok, send
from torg.catalogs.models import DeliveryAddress, Partner
from torg.core.models import ApiToken
from torg.core.permissions import Role
from torg.delivery import services as delivery
from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop, Vehicle
from torg.fiscal.models import FiscalReceipt
from torg.fiscal.tests import conftest as fiscal_fixtures
from torg.payments.models import IncomingPayment, PaymentAllocation, Refund
from torg.sales.models import SalesOrder, Shipment
from torg.sales.services import Pick, create_shipments_from_backlog

# The fiscal tests' company: an agreement on credit, prices, stock, money places, a register on the emulator.
agreement = fiscal_fixtures.agreement
bank_account = fiscal_fixtures.bank_account
cash_desk = fiscal_fixtures.cash_desk
client_partner = fiscal_fixtures.client_partner
credit_agreement = fiscal_fixtures.credit_agreement
make_order = fiscal_fixtures.make_order
manager = fiscal_fixtures.manager
pay = fiscal_fixtures.pay
price_type = fiscal_fixtures.price_type
prices = fiscal_fixtures.prices
register = fiscal_fixtures.register
schedule = fiscal_fixtures.schedule
stocked = fiscal_fixtures.stocked

pytestmark = pytest.mark.django_db
D = Decimal
DAY = dt.date(2026, 3, 10)


def api_of(user: Any) -> Api:
    return Api(Client(), ApiToken.issue(user, "phone")[1])


@pytest.fixture
def courier(role_user: Any) -> Any:
    return role_user(Role.COURIER, "courier")


@pytest.fixture
def courier_api(courier: Any) -> Api:
    return api_of(courier)


@pytest.fixture
def on_route(make_order: Any, pay: Any, client_partner: Partner, courier: Any, manager: Any, register: Any,
             bank_account: Any, role_user: Any) -> Any:
    """`on_route(prepaid="500.00")`: an order of 2,000.00 (10 milk × 100, 20 bread × 50) prepaid in part, shipped
    to the client's delivery address and on a trip on route with the courier: the trip and its one stop."""

    def make(prepaid: str = "500.00", driver: Any = None) -> tuple[DeliveryTrip, TripStop]:
        driver = driver or courier
        order = make_order()
        if D(prepaid):
            pay(client_partner, prepaid, {order: prepaid})
        address = DeliveryAddress.objects.create(partner=client_partner, address="Lesnaya 5, back door",
                                                 comment="Ring twice")
        SalesOrder.objects.filter(pk=order.pk).update(delivery_address=address)
        shipments = create_shipments_from_backlog([Pick(order.pk, line.code) for line in order.lines.all()],
                                                  user=manager)
        van = Vehicle.objects.create(name=f"Van {driver.pk}", plate="А123ВС77", default_courier=driver)
        trip = delivery.create_trip(DAY, van, user=manager)
        delivery.add_shipments(trip, shipments, manager)
        delivery.start_loading(trip, manager)
        delivery.send_on_route(trip, manager)
        return trip, TripStop.objects.get(trip=trip)

    return make


def lines_of(stop: TripStop) -> list[Any]:
    return list(Shipment.objects.get(pk=stop.documents.get().shipment_id).lines.order_by("line_no"))


def confirm(api: Api, stop: TripStop, body: dict[str, Any], key: str | None = "door-1") -> Any:
    return send(api, "POST", f"courier/stops/{stop.pk}/confirm", body, key=key)


def door_payments() -> int:
    """Payments taken at the door (the prepayments of the fixtures were registered with `test-pay-` keys)."""
    return IncomingPayment.objects.exclude(idempotency_key__startswith="test-pay-").count()


# ================================================================ reading
def test_the_courier_lists_own_trips_and_reads_a_stop(courier_api: Api, on_route: Any, client_partner: Any) -> None:
    trip, stop = on_route()
    trips = ok(courier_api.get("courier/trips"))
    assert trips == [{"id": trip.pk, "number": trip.number, "trip_date": "2026-03-10", "status": "on_route",
                      "vehicle": str(trip.vehicle), "stops": 1, "pending": 1, "done": 0, "failed": 0}]
    detail = ok(courier_api.get(f"courier/trips/{trip.pk}"))
    shipment = Shipment.objects.get()
    assert detail["stop_list"] == [{
        "id": stop.pk, "sequence": 1, "status": "pending", "kind": "client", "client": client_partner.pk,
        "client_name": "Produkty na Lesnoy", "warehouse": None, "warehouse_name": "",
        "address": "Lesnaya 5, back door", "latitude": None, "longitude": None,
        "shipments": [{"id": shipment.pk, "number": shipment.number, "organization": shipment.organization_id}],
        "transfers": [], "done_at": None, "failure_reason": ""}]

    data = ok(courier_api.get(f"courier/stops/{stop.pk}"))
    assert (data["address"], data["address_comment"], data["status"], data["result"]) == (
        "Lesnaya 5, back door", "Ring twice", "pending", {})
    assert [(ln["line_no"], ln["name"], ln["quantity"], ln["price"], ln["amount"]) for ln in data["lines"]] == [
        (1, "Milk 1L", "10.000", "100.00", "1000.00"), (2, "Bread", "20.000", "50.00", "1000.00")]
    # 2,000.00 of goods, 500.00 prepaid: 1,500.00 to take now; the terms allow credit.
    assert {k: data["due"][k] for k in ("goods", "prepaid", "due", "release", "credit_allowed")} == {
        "goods": "2000.00", "prepaid": "500.00", "due": "1500.00", "release": "0.00", "credit_allowed": True}
    assert [(o["goods"], o["debt"], o["due"]) for o in data["due"]["organizations"]] == [
        ("2000.00", "1500.00", "1500.00")]


def test_the_due_preview_follows_accepted_quantities_and_writes_nothing(courier_api: Api, on_route: Any) -> None:
    _trip, stop = on_route()
    milk, bread = lines_of(stop)
    body = {"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "4"}]}
    preview = ok(send(courier_api, "POST", f"courier/stops/{stop.pk}/due", body))
    # 4 milk (400.00) + 20 bread (1,000.00) = 1,400.00, less the 500.00 prepaid.
    assert (preview["goods"], preview["due"], preview["prepaid"]) == ("1400.00", "900.00", "500.00")
    assert preview["organizations"][0]["refused"] == "600.00"
    assert Shipment.objects.get().amount == D("2000.00") and door_payments() == 0


def test_a_stop_at_our_warehouse_receives_a_transfer_without_money(courier_api: Api, courier: Any, manager: Any,
                                                                   organization: Any, warehouse: Any, milk: Any,
                                                                   stocked: Any) -> None:
    from torg.catalogs.models import Warehouse
    from torg.stock.models import StockTotal, Transfer, TransferLine
    from torg.stock.services import save_stock_document

    store = Warehouse.objects.create(name="Store 2", address="Tverskaya 7", is_retail_store=True)
    transfer = Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=store,
                        delivery_needed=True)
    save_stock_document(transfer, [TransferLine(item=milk, quantity=D(10))], user=manager, post=True)
    van = Vehicle.objects.create(name="Van", plate="А123ВС77", default_courier=courier)
    trip = delivery.create_trip(DAY, van, user=manager)
    delivery.add_transfers(trip, [transfer], manager)
    delivery.start_loading(trip, manager)
    delivery.send_on_route(trip, manager)
    stop = TripStop.objects.get(trip=trip)
    (summary,) = ok(courier_api.get(f"courier/trips/{trip.pk}"))["stop_list"]
    assert {k: summary[k] for k in ("kind", "client", "client_name", "warehouse", "warehouse_name", "shipments",
                                    "transfers")} == {
        "kind": "warehouse", "client": None, "client_name": "", "warehouse": store.pk, "warehouse_name": "Store 2",
        "shipments": [], "transfers": [{"id": transfer.pk, "number": transfer.number,
                                        "organization": organization.pk}]}
    data = ok(courier_api.get(f"courier/stops/{stop.pk}"))
    assert (data["kind"], data["phone"], data["due"]["due"]) == ("warehouse", "", "0.00")
    assert [(ln["shipment"], ln["line_no"], ln["quantity"], ln["amount"]) for ln in data["lines"]] == [
        (transfer.pk, 1, "10.000", "0.00")]
    paid = confirm(courier_api, stop, {"cash": "100.00"}, key="store-1")
    assert paid.status_code == 422 and paid.json()["fields"] == {"cash": ["Must be empty at our own warehouse."]}
    body = {"lines": [{"shipment": transfer.pk, "line_no": 1, "quantity": "12"}]}
    above = confirm(courier_api, stop, body, key="store-1")
    assert above.status_code == 422 and above.json()["code"] == "delivery_above_shipped"
    assert above.json()["fields"] == {"lines.1.quantity": ["Milk 1L: 10 sent, the warehouse cannot receive 12."]}
    body = {"lines": [{"shipment": transfer.pk, "line_no": 1, "quantity": "9"}]}
    answer = ok(confirm(courier_api, stop, body, key="store-1"))
    assert answer["status"] == "done" and answer["result"]["payments"] == []
    assert ok(confirm(courier_api, stop, body, key="store-1")) == {**answer, "replay": True}
    assert StockTotal.objects.get(warehouse=store, item=milk).quantity == D(9)
    assert StockTotal.objects.get(warehouse=Vehicle.objects.get().warehouse, item=milk).quantity == D(1)


# ================================================================ the confirmation
def test_confirm_with_cash_then_a_retry_answers_the_same_and_registers_nothing_again(
        courier_api: Api, on_route: Any, courier: Any) -> None:
    trip, stop = on_route()
    payments_before = IncomingPayment.objects.count()
    first = confirm(courier_api, stop, {"cash": "1500.00"}, key="door-7")
    answer = ok(first)
    assert (answer["stop"], answer["trip"], answer["status"], answer["replay"]) == (stop.pk, trip.pk, "done", False)
    result = answer["result"]
    assert (result["goods"], result["due"], result["prepaid"], result["cash"], result["change"], result["credit"]) == (
        "2000.00", "1500.00", "500.00", "1500.00", "0.00", "0.00")  # money always with two places
    assert [(p["method"], p["amount"]) for p in result["payments"]] == [("cash", "1500.00")]
    assert len(result["receipts"]) == 1
    receipts_after_first = FiscalReceipt.objects.count()
    payment = IncomingPayment.objects.get(pk=result["payments"][0]["id"])
    assert payment.cash_desk.holder == courier
    order = SalesOrder.objects.get()
    assert list(PaymentAllocation.objects.filter(document=payment).values_list("order_id", "amount")) == [
        (order.pk, D("1500.00"))]

    # The phone lost the answer and sends the same request again: the stored result, nothing registered twice.
    again = confirm(courier_api, stop, {"cash": "1500.00"}, key="door-7")
    assert ok(again) == {**answer, "replay": True}
    assert again["Idempotent-Replayed"] == "true"
    assert IncomingPayment.objects.count() == payments_before + 1
    assert FiscalReceipt.objects.count() == receipts_after_first

    # A second phone confirms the same stop with its own key: 409 with what was recorded, nothing registered.
    other = confirm(courier_api, stop, {"cash": "1500.00"}, key="door-other-phone")
    assert other.status_code == 409
    assert other.json()["code"] == "delivery_stop_closed"
    assert (other.json()["stop"], other.json()["status"], other.json()["result"]) == (stop.pk, "done", result)
    # The same key with another request is refused too.
    changed = confirm(courier_api, stop, {"cash": "1600.00"}, key="door-7")
    assert changed.status_code == 409 and changed.json()["code"] == "idempotency_key_reused"
    assert IncomingPayment.objects.count() == payments_before + 1
    assert FiscalReceipt.objects.count() == receipts_after_first
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.DONE


def test_accepted_quantities_card_and_change(courier_api: Api, on_route: Any) -> None:
    _trip, stop = on_route()
    milk, _bread = lines_of(stop)
    body = {"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "4.000"}], "card": "900.00",
            "card_approval": "A1B2C3", "cash": "0"}
    result = ok(confirm(courier_api, stop, body))["result"]
    assert (result["goods"], result["due"], result["card"]) == ("1400.00", "900.00", "900.00")
    assert [(ln["item"], ln["shipped"], ln["accepted"]) for ln in result["lines"]] == [
        ("Milk 1L", "10.000", "4.000"), ("Bread", "20.000", "20.000")]
    assert [(p["method"], p["amount"], p["approval"]) for p in result["payments"]] == [("card", "900.00", "A1B2C3")]
    assert Shipment.objects.get().amount == D("1400.00")


def test_refusals_register_nothing(courier_api: Api, on_route: Any) -> None:
    _trip, stop = on_route()
    milk, _bread = lines_of(stop)
    payments_before, receipts_before = IncomingPayment.objects.count(), FiscalReceipt.objects.count()

    missing_key = confirm(courier_api, stop, {"cash": "1500.00"}, key=None)
    assert missing_key.status_code == 422 and list(missing_key.json()["fields"]) == ["Idempotency-Key"]

    card = confirm(courier_api, stop, {"card": "1500.00"}, key="k-card")
    assert card.status_code == 422
    assert (card.json()["code"], list(card.json()["fields"])) == ("delivery_card_not_confirmed", ["card_approval"])

    above = confirm(courier_api, stop, {"cash": "1500.00", "lines": [
        {"shipment": milk.document_id, "line_no": 2, "quantity": "1"},
        {"shipment": milk.document_id, "line_no": 1, "quantity": "11"}]}, key="k-above")
    assert above.status_code == 422 and above.json()["code"] == "delivery_above_shipped"
    assert list(above.json()["fields"]) == ["lines.2.quantity"]
    assert "10 shipped" in above.json()["fields"]["lines.2.quantity"][0]
    elsewhere = confirm(courier_api, stop, {"lines": [{"shipment": milk.document_id, "line_no": 9,
                                                       "quantity": "1"}]}, key="k-where")
    assert elsewhere.status_code == 422 and list(elsewhere.json()["fields"]) == ["lines.1"]

    short = confirm(courier_api, stop, {"cash": "1000.00"}, key="k-short")
    assert short.status_code == 422
    assert (short.json()["code"], list(short.json()["fields"])) == ("delivery_payment_short", ["cash"])
    assert "500.00" in short.json()["message"]

    for body, field in (({"cash": "a thousand"}, "cash"), ({"cash": "-5"}, "cash"), ({"card": "1e400"}, "card"),
                        ({"cash": "NaN"}, "cash"), ({"cash": 10.555}, "cash"),
                        ({"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "-1"}]},
                         "lines.1.quantity"),
                        ({"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "many"}]},
                         "lines.1.quantity"),
                        ({"refund_method": "cheque"}, "refund_method"), ({"cassh": "1"}, "cassh")):
        bad = confirm(courier_api, stop, body, key="k-bad")
        assert bad.status_code == 422, (body, bad.content)
        assert field in bad.json()["fields"], (body, bad.json())
    twice = confirm(courier_api, stop, {"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "1"},
                                                  {"shipment": milk.document_id, "line_no": 1, "quantity": "2"}]},
                    key="k-twice")
    assert twice.status_code == 422 and list(twice.json()["fields"]) == ["lines.2"]

    assert (IncomingPayment.objects.count(), FiscalReceipt.objects.count()) == (payments_before, receipts_before)
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING
    assert Shipment.objects.get().amount == D("2000.00")
    # Corrected, the request goes through with a key a refused request used.
    assert ok(confirm(courier_api, stop, {"cash": "1500.00"}, key="k-short"))["status"] == "done"


def test_the_rest_on_credit(courier_api: Api, on_route: Any) -> None:
    _trip, stop = on_route()
    result = ok(confirm(courier_api, stop, {"cash": "1000.00", "on_credit": True}))["result"]
    assert (result["due"], result["cash"], result["credit"]) == ("1500.00", "1000.00", "500.00")
    assert [(p["method"], p["amount"]) for p in result["payments"]] == [("cash", "1000.00")]


def test_a_refused_line_of_a_prepaid_order_given_back_to_the_card(courier_api: Api, on_route: Any) -> None:
    _trip, stop = on_route(prepaid="2000.00")
    milk, _bread = lines_of(stop)
    body = {"lines": [{"shipment": milk.document_id, "line_no": 1, "quantity": "0"}], "refund_method": "card"}
    result = ok(confirm(courier_api, stop, body))["result"]
    # 1,000.00 of milk refused from a fully prepaid order: its prepayment goes back to the card.
    assert (result["goods"], result["due"], result["released"]) == ("1000.00", "0.00", "1000.00")
    assert [(r["method"], r["amount"]) for r in result["refunds"]] == [("card", "1000.00")]
    assert Refund.objects.count() == 1 and door_payments() == 0
    assert [(g["quantity"]) for g in result["returned"]] == ["10.000"]


def test_a_stop_not_delivered_and_the_trips_end(courier_api: Api, on_route: Any, client_partner: Any) -> None:
    trip, stop = on_route()
    pending = send(courier_api, "POST", f"courier/trips/{trip.pk}/finish")
    assert pending.status_code == 409 and pending.json()["code"] == "delivery_stops_pending"
    no_key = send(courier_api, "POST", f"courier/stops/{stop.pk}/fail", {"reason": "Closed"})
    assert no_key.status_code == 422 and list(no_key.json()["fields"]) == ["Idempotency-Key"]
    no_reason = send(courier_api, "POST", f"courier/stops/{stop.pk}/fail", {"reason": ""}, key="f-1")
    assert no_reason.status_code == 422 and list(no_reason.json()["fields"]) == ["reason"]

    failed = ok(send(courier_api, "POST", f"courier/stops/{stop.pk}/fail", {"reason": "Shop closed"}, key="f-1"))
    assert (failed["status"], failed["replay"], failed["result"]["reason"]) == ("failed", False, "Shop closed")
    assert not Shipment.objects.get().posted
    again = send(courier_api, "POST", f"courier/stops/{stop.pk}/fail", {"reason": "Shop closed"}, key="f-1")
    assert ok(again)["replay"] is True
    late = confirm(courier_api, stop, {"cash": "1500.00"}, key="door-late")
    assert late.status_code == 409 and late.json()["status"] == "failed"
    assert door_payments() == 0

    end = ok(courier_api.get(f"courier/trips/{trip.pk}/end"))
    assert (end["pending"], end["cash"]) == (0, [])
    assert sorted((g["name"], g["quantity"]) for g in end["goods"]) == [("Bread", "20.000"), ("Milk 1L", "10.000")]
    finished = ok(send(courier_api, "POST", f"courier/trips/{trip.pk}/finish"))
    assert finished["status"] == "done" and finished["stop_list"][0]["status"] == "failed"
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.DONE


def test_the_trips_end_counts_the_cash(courier_api: Api, on_route: Any, organization: Any) -> None:
    trip, stop = on_route()
    ok(confirm(courier_api, stop, {"cash": "2000.00"}))  # 500.00 change
    end = ok(courier_api.get(f"courier/trips/{trip.pk}/end"))
    assert end["cash"] == [{"organization": organization.pk, "name": organization.name, "amount": "1500.00"}]
    assert end["goods"] == [] and end["pending"] == 0


def test_a_key_of_another_stop_is_refused(courier_api: Api, on_route: Any) -> None:
    _trip, first = on_route()
    _trip2, second = on_route(prepaid="0")
    ok(confirm(courier_api, first, {"cash": "1500.00"}, key="same-key"))
    reused = confirm(courier_api, second, {"cash": "2000.00"}, key="same-key")
    assert reused.status_code == 409 and reused.json()["code"] == "idempotency_key_reused"
    assert TripStop.objects.get(pk=second.pk).status == StopStatus.PENDING


# ================================================================ who may
def test_permission_matrix(api_for: Any, courier_api: Api, on_route: Any, role_user: Any) -> None:
    trip, stop = on_route()
    other_courier = role_user(Role.COURIER, "other_courier")
    reads = [("GET", "courier/trips"), ("GET", f"courier/trips/{trip.pk}"), ("GET", f"courier/stops/{stop.pk}"),
             ("GET", f"courier/trips/{trip.pk}/end")]
    writes = [("POST", f"courier/stops/{stop.pk}/due"), ("POST", f"courier/stops/{stop.pk}/confirm"),
              ("POST", f"courier/stops/{stop.pk}/fail"), ("POST", f"courier/trips/{trip.pk}/finish")]
    for method, path in reads + writes:
        body = {"cash": "1500.00"} if path.endswith("confirm") else {"reason": "x"} if path.endswith("fail") else {}
        anonymous = send(Api(Client(), None), method, path, body if method == "POST" else None, key="m-1")
        assert anonymous.status_code == 401, (method, path)
        for role in (Role.SALES_MANAGER, Role.STOREKEEPER, Role.ACCOUNTANT, Role.CASHIER, Role.LOGISTICIAN,
                     Role.SALES_DIRECTOR):
            refused = send(api_for(role), method, path, body if method == "POST" else None, key="m-1")
            assert refused.status_code == 403, (method, path, role)
            assert "delivery.courier" in refused.json()["message"] or "api.use" in refused.json()["message"]
        if path == "courier/trips":
            assert ok(send(api_of(other_courier), method, path)) == []
            continue
        stranger = send(api_of(other_courier), method, path, body if method == "POST" else None, key="m-1")
        assert stranger.status_code == 404, (method, path)
        assert stranger.json()["code"] == "not_found"
    assert door_payments() == 0 and TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING
    # The trip's own courier may.
    assert ok(courier_api.get(f"courier/stops/{stop.pk}"))["id"] == stop.pk
    assert send(courier_api, "GET", "courier/stops/99999999999999999999999").status_code == 404


# ================================================================ how much it costs
def test_a_stop_read_and_a_confirmation_take_a_bounded_number_of_queries(
        courier_api: Api, on_route: Any, django_assert_max_num_queries: Any) -> None:
    """12 statements to read a stop (token, roles, stop, shipments with lines/items/units, contacts, what is owed);
    67 on SQLite to confirm it (bench/delivery.py lists them; most are the payment's posting and the receipt's)."""
    _trip, stop = on_route()
    ok(courier_api.get("courier/trips"))
    with django_assert_max_num_queries(12):
        ok(courier_api.get(f"courier/stops/{stop.pk}"))
    with django_assert_max_num_queries(70):
        ok(confirm(courier_api, stop, {"cash": "1500.00"}))
