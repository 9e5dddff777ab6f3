"""The courier's phone pages at /courier/ through Django's test client: every screen of a stop, the refusals in the
courier's words, replays, the trip's end, the permission matrix, and every page under 30 KB.

The data is real: orders of the fiscal tests' company (milk 100.00, bread 50.00, on a 7-day credit agreement),
shipped from the backlog to delivery addresses, put on a trip that is loaded and sent on route."""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from torg.catalogs.models import BankAccount, DeliveryAddress, Organization, Partner
from torg.conftest import moment
from torg.core.permissions import ROLE_CAPS, Cap, Role
from torg.delivery import services as delivery
from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop, Vehicle
from torg.fiscal.models import FiscalReceipt, ReceiptStatus
from torg.fiscal.tests import conftest as fiscal_fixtures
from torg.payments.models import IncomingPayment, PaymentMethod, Refund
from torg.sales import services as sales
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    OrderPaymentStage,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    StageKind,
    TradeAgreement,
)
from torg.stock.tests.helpers import purchase
from torg.web.navigation import menu_for

pytestmark = pytest.mark.django_db
D = Decimal
MAX_PAGE = 30_000

# The fiscal tests' company (which brings the sales tests' one).
bank_account = fiscal_fixtures.bank_account
cash_desk = fiscal_fixtures.cash_desk
client_partner = fiscal_fixtures.client_partner
credit_agreement = fiscal_fixtures.credit_agreement
director = fiscal_fixtures.director
manager = fiscal_fixtures.manager
pay = fiscal_fixtures.pay
price_type = fiscal_fixtures.price_type
prices = fiscal_fixtures.prices
register = fiscal_fixtures.register
stocked = fiscal_fixtures.stocked


# ================================================================ a trip on route with N stops
@dataclass(frozen=True)
class Door:
    """One stop of the trip: a client of its own, its order, and what was paid before the delivery."""

    milk: int = 10  # × 100.00
    bread: int = 20  # × 50.00
    prepaid: str | None = None  # paid on the order before the trip
    credit: bool = True  # the order's terms allow paying later (a credit stage); else 100 % before shipment
    other_organization: bool = False  # sold by the second organization (ИП Северов)
    same_client: bool = False  # to the previous door's client and address: the same stop


@pytest.fixture
def courier_trip(organization: Any, warehouse: Any, credit_agreement: Any, prices: Any, stocked: Any, milk: Any,
                 bread: Any, manager: Any, director: Any, pay: Any, courier: Any, logistician: Any,
                 bank_account: Any, register: Any) -> Any:
    """`make(*doors, n=…)`: a trip of today on route for the courier, one stop per door (in order), each a client
    with a phone, a delivery address with coordinates and one order shipped from the backlog. `status=` stops the
    trip earlier ("loading"); `courier=` gives it to another courier."""
    counter = {"n": 0}
    last: dict[str, Any] = {}

    def second_organization() -> tuple[Any, TradeAgreement]:
        """ИП Северов selling on the same credit terms, with stock and a bank account (made on first need)."""
        if "agreement" not in last:
            org = Organization.objects.create(name="ИП Северов", prefix="ИП", inn="500100732259", vat_payer=False)
            purchase(org, warehouse, Partner.objects.create(name="Supplier 2", is_client=False, is_supplier=True),
                     moment("2026-03-01", 9), [(milk, 100, 60), (bread, 100, 30)])
            BankAccount.objects.create(organization=org, name="Account", number="40702810900000000002",
                                       bik="044525225")
            last["agreement"] = TradeAgreement.objects.create(
                name="Sever on credit", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE, organization=org,
                price_type=credit_agreement.price_type, payment_schedule=credit_agreement.payment_schedule,
                warehouse=warehouse)
        return last["agreement"].organization, last["agreement"]

    def order_for(door: Door) -> SalesOrder:
        if door.same_client:
            partner, address = last["partner"], last["address"]
        else:
            counter["n"] += 1
            n = counter["n"]
            partner = Partner.objects.create(name=f"Client {n}", is_client=True, phone=f"+7 900 000-00-{n:02d}",
                                             email=f"client{n}@example.com")
            address = DeliveryAddress.objects.create(partner=partner, address=f"Lesnaya {n}, entrance {n}",
                                                     latitude=D("55.75") + D(n) / 100, longitude=D("37.60"),
                                                     comment="Ring twice")
            last.update(partner=partner, address=address)
        seller, terms = second_organization() if door.other_organization else (organization, credit_agreement)
        order = SalesOrder(organization=seller, partner=partner, agreement=terms,
                           warehouse=warehouse, delivery_address=address, date=moment("2026-03-10", 10))
        lines = [SalesOrderLine(item=milk, quantity=D(door.milk))] + (
            [SalesOrderLine(item=bread, quantity=D(door.bread))] if door.bread else [])
        stages = None if door.credit else [OrderPaymentStage(kind=StageKind.PREPAYMENT, percent=D(100), days=0)]
        sales.save_order(order, lines, stages=stages, user=manager, post=True)
        sales.submit_order(order, user=manager)
        if door.prepaid:
            pay(partner, door.prepaid, {order: door.prepaid})
        sales.release_to_ship(order, user=director)  # the director may release before the prepayment
        return order

    def make(*doors: Door, n: int = 0, status: str = TripStatus.ON_ROUTE, courier_: Any = None
             ) -> tuple[DeliveryTrip, list[TripStop]]:
        doors = doors or tuple(Door() for _ in range(n))
        orders = [order_for(door) for door in doors]
        shipments: list[Shipment] = []
        for order in orders:
            shipments += sales.create_shipments_from_backlog(
                [sales.Pick(order.pk, ln.code) for ln in order.lines.order_by("code")], user=director)
        van = Vehicle.objects.create(name=f"Van {counter['n']}", plate=f"А{counter['n']:03d}ВС77",
                                     default_courier=courier_ or courier)
        trip = delivery.create_trip(timezone.localdate(), van, user=logistician)
        delivery.add_shipments(trip, shipments, logistician)
        if status in (TripStatus.LOADING, TripStatus.ON_ROUTE):
            delivery.start_loading(trip, logistician)
        if status == TripStatus.ON_ROUTE:
            delivery.send_on_route(trip, logistician)
        trip.refresh_from_db()
        return trip, list(TripStop.objects.filter(trip=trip).select_related("partner").order_by("sequence"))

    return make


@pytest.fixture
def phone(client: Client, courier: Any) -> Client:
    client.force_login(courier)
    return client


def get(client: Client, url: str, status: int = 200) -> str:
    """A page as the phone gets it: the status, and under 30 KB."""
    response = client.get(url)
    assert response.status_code == status, (response.status_code, response.get("Location"))
    assert len(response.content) < MAX_PAGE, f"{url}: {len(response.content)} bytes"
    return response.content.decode()


def post(client: Client, url: str, data: dict[str, Any] | None = None, status: int = 302) -> Any:
    response = client.post(url, data or {})
    assert response.status_code == status, (response.status_code, messages_of(response.content.decode()))
    assert len(response.content) < MAX_PAGE
    return response


def messages_of(html: str) -> list[str]:
    """The refusals a page shows (for a failing test's report)."""
    return re.findall(r'class="(?:err|field-err|note)"[^>]*>([^<]*)', html)


def u(name: str, pk: int, *args: Any) -> str:
    return reverse(f"courier:{name}", args=[pk, *args])


def text(html: str) -> str:
    """The page's words without tags, spaces collapsed (numbers are grouped with no-break spaces in Russian)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("\xa0", " ")


def walk_to_payment(client: Client, stop: TripStop, accepted: dict[str, str] | None = None) -> None:
    get(client, u("stop", stop.pk))
    if accepted is None:
        post(client, u("goods", stop.pk))
    else:
        post(client, u("quantities", stop.pk), accepted)


def finish(client: Client, stop: TripStop, contact: str = "") -> Any:
    """From the contact screen to the result."""
    post(client, u("contact", stop.pk), {"buyer_contact": contact} if contact else {"skip": "1"})
    html = get(client, u("confirm", stop.pk))
    key = re.search(r'name="key" value="([0-9a-f]+)"', html).group(1)
    return post(client, u("confirm", stop.pk), {"key": key}), key


# ================================================================ the screens
def test_trips_and_the_trip_page(phone: Client, courier_trip: Any, django_assert_max_num_queries: Any) -> None:
    trip, stops = courier_trip(n=3)
    with django_assert_max_num_queries(12):
        html = get(phone, reverse("courier:trips"))
    assert trip.number in html and "3 of 3 stops left" in text(html)
    assert f'href="{u("trip", trip.pk)}"' in html
    with django_assert_max_num_queries(12):
        html = get(phone, u("trip", trip.pk))
    assert [int(x) for x in re.findall(r'data-stop="(\d+)"', html)] == [s.pk for s in stops]
    assert "Client 1" in html and "Lesnaya 3, entrance 3" in html
    assert re.search(rf'id="next-stop" href="{u("stop", stops[0].pk)}"', html)
    assert "Next stop: No. 1" in html
    # the phone's own base: no desktop shell, no Bootstrap
    assert "bootstrap" not in html and "navbar" not in html and "delivery/courier.css" in html
    assert 'name="viewport"' in html


def test_stop_page_address_contact_map_documents(phone: Client, courier_trip: Any,
                                                 django_assert_max_num_queries: Any) -> None:
    trip, stops = courier_trip(n=2)
    stop = stops[1]
    with django_assert_max_num_queries(10):
        html = get(phone, u("stop", stop.pk))
    assert "Lesnaya 2, entrance 2" in html and "Ring twice" in html and "Client 2" in html
    assert 'href="tel:+79000000002"' in html
    assert 'href="geo:55.770000,37.600000?q=55.770000,37.600000(' in html
    assert "https://yandex.ru/maps/?rtext=~55.770000%2C37.600000&amp;rtt=auto" in html
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    assert shipment.number in html and "2,000.00" in html
    assert 'id="hand-over"' in html and 'id="not-delivered"' in html
    key = phone.session[f"courier.stop.{stop.pk}"]["key"]
    assert re.fullmatch(r"[0-9a-f]{32}", key)
    get(phone, u("stop", stop.pk))
    assert phone.session[f"courier.stop.{stop.pk}"]["key"] == key  # opened again: the same confirmation


def test_fully_prepaid_stop_nothing_to_pay(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door(prepaid="2000.00"))
    get(phone, u("stop", stop.pk))
    html = get(phone, u("goods", stop.pk))
    assert "Milk 1L" in html and "Bread" in html and 'id="accept-all"' in html and 'id="change-quantities"' in html
    assert post(phone, u("goods", stop.pk))["Location"] == u("due", stop.pk)
    html = get(phone, u("due", stop.pk))
    assert 'id="due-total">0.00<' in html and "Paid in advance: nothing to take" in html
    assert "2,000.00" in html  # the goods, all paid before
    assert post(phone, u("due", stop.pk))["Location"] == u("contact", stop.pk)
    html = get(phone, u("contact", stop.pk))
    assert "Send to +7 900 000-00-01" in html and "Send to client1@example.com" not in html
    assert "As in the client's card: client1@example.com" in html  # left empty, the receipt goes there
    response, key = finish(phone, stop, contact="+7 900 765-43-21")
    assert response["Location"] == u("result", stop.pk)
    stop.refresh_from_db()
    assert stop.status == StopStatus.DONE and stop.confirmation_key == key
    assert not IncomingPayment.objects.filter(partner=stop.partner, purpose__contains="delivery").exists()
    html = get(phone, u("result", stop.pk))
    receipt = FiscalReceipt.objects.get(pk__in=stop.result["receipts"])
    assert receipt.buyer_contact == "+79007654321" and receipt.status == ReceiptStatus.QUEUED
    assert "waiting" in html and '<meta http-equiv="refresh" content="5">' in html
    assert 'id="to-end"' in html  # the only stop: next is the trip's end
    assert f"courier.stop.{stop.pk}" not in phone.session  # the answers are gone with the confirmation


def test_two_organizations_at_one_stop(phone: Client, courier_trip: Any) -> None:
    """Goods of two sellers at one door: what each is owed, the total, and one payment each."""
    trip, (stop,) = courier_trip(Door(prepaid="500.00"), Door(milk=5, bread=0, other_organization=True,
                                                               same_client=True))
    assert stop.documents.count() == 2
    walk_to_payment(phone, stop)
    html = get(phone, u("due", stop.pk))
    assert "ООО «Ромашка»" in html and "ИП Северов" in html
    assert 'id="due-total">2,000.00<' in html  # 1,500.00 + 500.00
    assert [x for x in re.findall(r'class="org-due">([^<]+)<', html)] == ["1,500.00", "500.00"]
    assert "Total due" in html
    post(phone, u("due", stop.pk))
    post(phone, u("amount", stop.pk, "cash"), {"cash": "2000"})
    finish(phone, stop)
    stop.refresh_from_db()
    paid = sorted((p["organization"], D(p["amount"])) for p in stop.result["payments"])
    assert [amount for _org, amount in paid] == [D("1500.00"), D("500.00")]
    assert len(stop.result["receipts"]) == 2  # one receipt per organization
    html = get(phone, u("result", stop.pk))
    assert html.count("receipt-status") == 2 and "ИП Северов" in html


def test_cash_with_change(phone: Client, courier_trip: Any, django_assert_max_num_queries: Any) -> None:
    trip, (first, second) = courier_trip(Door(prepaid="500.00"), Door())
    walk_to_payment(phone, first)
    with django_assert_max_num_queries(16):  # what is owed: a handful of queries, whatever the lines
        assert "1,500.00" in get(phone, u("due", first.pk))
    assert post(phone, u("due", first.pk))["Location"] == u("pay", first.pk)
    html = get(phone, u("pay", first.pk))
    assert all(f'id="pay-{m}"' in html for m in ("cash", "card", "mixed", "credit"))
    html = get(phone, u("amount", first.pk, "cash"))
    assert 'data-due="1500.00"' in html and 'inputmode="decimal"' in html
    # the change calculator without JavaScript: the server counts
    html = post(phone, u("amount", first.pk, "cash"), {"cash": "2 000", "calc": "1"}, status=200).content.decode()
    assert re.search(r'id="calc-label">Change</span>\s*<span id="calc-value">500.00<', html)
    assert post(phone, u("amount", first.pk, "cash"), {"cash": "2000"})["Location"] == u("overpay", first.pk)
    html = get(phone, u("overpay", first.pk))
    assert 'id="overpaid">500.00<' in html and "Give 500.00 change" in html and 'id="keep-advance"' in html
    assert post(phone, u("overpay", first.pk), {"choice": "change"})["Location"] == u("contact", first.pk)
    html = get(phone, u("confirm", first.pk))
    assert 'id="change">500.00<' in html and "client1@example.com" in html  # no contact given: the card's
    finish(phone, first)
    payment = IncomingPayment.objects.get(pk=TripStop.objects.get(pk=first.pk).result["payments"][0]["id"])
    assert (payment.method, payment.amount) == (PaymentMethod.CASH, D("1500.00"))
    html = get(phone, u("result", first.pk))
    assert 'id="change">500.00<' in html and payment.number in html
    assert re.search(rf'id="next-stop" href="{u("stop", second.pk)}"', html)


def test_quantities_above_shipped_refused_in_the_services_words(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    get(phone, u("stop", stop.pk))
    html = get(phone, u("quantities", stop.pk))
    shipment = stop.documents.get().shipment_id
    assert f'name="q_{shipment}_1" value="10"' in html and f'name="q_{shipment}_2" value="20"' in html
    response = post(phone, u("quantities", stop.pk), {f"q_{shipment}_1": "40", f"q_{shipment}_2": "20"}, status=422)
    html = response.content.decode()
    assert 'class="field-err">Milk 1L: 10 shipped, the client cannot accept 40.<' in html
    assert "Check the quantities marked in red." in html
    response = post(phone, u("quantities", stop.pk), {f"q_{shipment}_1": "ten"}, status=422)
    assert "Enter a number, e.g. 1500 or 1500,50." in response.content.decode()
    assert phone.session[f"courier.stop.{stop.pk}"].get("accepted") is None
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING


def test_partial_refusal_and_mixed_payment(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    shipment = stop.documents.get().shipment_id
    walk_to_payment(phone, stop, {f"q_{shipment}_1": "4", f"q_{shipment}_2": "20"})
    html = get(phone, u("due", stop.pk))
    assert 'id="due-total">1,400.00<' in html and "Refused" in html and "600.00" in html
    post(phone, u("due", stop.pk))
    html = get(phone, u("amount", stop.pk, "mixed"))
    assert 'name="card"' in html and 'name="card_approval"' in html and 'name="cash"' in html
    response = post(phone, u("amount", stop.pk, "mixed"), {"card": "1000", "cash": "400"}, status=422)
    assert "Enter the approval code the terminal printed" in response.content.decode()
    assert post(phone, u("amount", stop.pk, "mixed"), {"card": "1000", "card_approval": "A7B2", "cash": "400,00"}
                )["Location"] == u("contact", stop.pk)
    html = get(phone, u("confirm", stop.pk))
    assert "4 of 10" in html and "A7B2" in html
    finish(phone, stop)
    stop.refresh_from_db()
    methods = {p["method"]: D(p["amount"]) for p in stop.result["payments"]}
    assert methods == {PaymentMethod.CARD: D("1000.00"), PaymentMethod.CASH: D("400.00")}
    assert [(D(ln["accepted"]), D(ln["shipped"])) for ln in stop.result["lines"]] == [(4, 10), (20, 20)]
    html = get(phone, u("result", stop.pk))
    assert "4 of 10" in html and "code A7B2" in html and "Back in the vehicle" in html


def test_release_given_back(phone: Client, courier_trip: Any) -> None:
    """Refused goods leave prepayment over: kept, or given back — in cash only from the cash the courier holds."""
    trip, (stop,) = courier_trip(Door(prepaid="2000.00"))
    shipment = stop.documents.get().shipment_id
    walk_to_payment(phone, stop, {f"q_{shipment}_1": "4", f"q_{shipment}_2": "20"})
    html = get(phone, u("due", stop.pk))
    assert 'id="release"' in html and "600.00" in html
    assert all(f'id="release-{c}"' in html for c in ("keep", "cash", "card"))
    assert post(phone, u("due", stop.pk), {"refund": "cash"})["Location"] == u("contact", stop.pk)
    assert "given back in cash" in get(phone, u("confirm", stop.pk))
    post(phone, u("contact", stop.pk), {"skip": "1"})
    key = phone.session[f"courier.stop.{stop.pk}"]["key"]
    html = post(phone, u("confirm", stop.pk), {"key": key}, status=409).content.decode()
    # the courier has taken no cash yet: nothing to give it back from
    assert "600.00 is to be given back, but you hold 0.00 in cash" in html and "Not enough cash with you." in html
    assert f'id="fix" href="{u("due", stop.pk)}"' in html
    assert not Refund.objects.filter(partner=stop.partner).exists()
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING

    post(phone, u("due", stop.pk), {"refund": "card"})
    finish(phone, stop)
    refund = Refund.objects.get(partner=stop.partner)
    assert (refund.method, refund.amount) == (PaymentMethod.CARD, D("600.00"))
    assert "Given back (card)" in get(phone, u("result", stop.pk))


def test_short_payment_with_credit_shows_what_remains(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    walk_to_payment(phone, stop)
    post(phone, u("due", stop.pk))
    html = post(phone, u("amount", stop.pk, "cash"), {"cash": "500"}, status=422).content.decode()
    assert "1,500.00 remains. Take the rest, or record it on credit" in html and 'id="record-credit"' in html
    # the first submit button (what Enter presses) is "Continue" — no name, so never "on credit" by accident
    assert re.search(r'<button type="submit"([^>]*)>', html).group(1) == \
        ' class="default-submit" tabindex="-1" aria-hidden="true"'
    assert post(phone, u("amount", stop.pk, "cash"), {"cash": "500", "on_credit": "1"}
                )["Location"] == u("contact", stop.pk)
    assert 'id="credit">1,500.00<' in get(phone, u("confirm", stop.pk))
    finish(phone, stop)
    stop.refresh_from_db()
    assert D(stop.result["credit"]) == D("1500.00")
    # the credit screen: taken now, the rest later
    trip2, (stop2,) = courier_trip(Door())
    walk_to_payment(phone, stop2)
    post(phone, u("due", stop2.pk))
    html = get(phone, u("amount", stop2.pk, "credit"))
    assert "Taken now in cash (may be 0)" in html and 'data-remains="On credit"' in html
    assert post(phone, u("amount", stop2.pk, "credit"), {"cash": "0"})["Location"] == u("contact", stop2.pk)
    finish(phone, stop2)
    assert D(TripStop.objects.get(pk=stop2.pk).result["credit"]) == D("2000.00")


def test_short_payment_without_credit_is_refused(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door(credit=False))
    walk_to_payment(phone, stop)
    post(phone, u("due", stop.pk))
    html = get(phone, u("pay", stop.pk))
    assert 'id="pay-credit"' not in html
    assert post(phone, u("amount", stop.pk, "credit"))["Location"] == u("pay", stop.pk)
    html = post(phone, u("amount", stop.pk, "cash"), {"cash": "1500"}, status=422).content.decode()
    assert "500.00 remains to be paid, and the client&#x27;s terms do not allow paying later" in html
    assert 'id="record-credit"' not in html
    assert phone.session[f"courier.stop.{stop.pk}"].get("method") is None


def test_card_without_approval_refused_by_the_service_nothing_registered(phone: Client, courier_trip: Any) -> None:
    """A stale or forged answer without the approval code reaches the service: it refuses, in its words."""
    trip, (stop,) = courier_trip(Door())
    get(phone, u("stop", stop.pk))
    session = phone.session
    state = session[f"courier.stop.{stop.pk}"]
    state.update(accepted=None, method="card", card="2000.00", cash="0", card_approval="", buyer_contact="")
    session[f"courier.stop.{stop.pk}"] = state
    session.save()
    before = IncomingPayment.objects.count()
    response = post(phone, u("confirm", stop.pk), {"key": state["key"]}, status=409)
    html = response.content.decode()
    assert "The card payment is not confirmed by the terminal: nothing was registered." in html
    assert "Enter the approval code the terminal printed." in html and 'id="fix"' in html
    assert IncomingPayment.objects.count() == before
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING


def test_card_above_due_only_kept_as_advance(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door(prepaid="1000.00"))
    walk_to_payment(phone, stop)
    post(phone, u("due", stop.pk))
    html = get(phone, u("amount", stop.pk, "card"))
    assert 'name="card" value="1000.00"' in html  # the card amount offered is what is owed
    post(phone, u("amount", stop.pk, "card"), {"card": "1200", "card_approval": "777"})
    html = get(phone, u("overpay", stop.pk))
    assert 'id="give-change"' not in html and "Keep 200.00 as the client's advance" in html
    post(phone, u("overpay", stop.pk), {"choice": "change"})
    assert "keep it as the client" in text(get(phone, u("overpay", stop.pk)))
    post(phone, u("overpay", stop.pk), {"choice": "keep"})
    finish(phone, stop)
    stop.refresh_from_db()
    assert D(stop.result["advance_kept"]) == D("200.00") and D(stop.result["change"]) == 0


def test_contact_is_checked_and_normalized(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door(prepaid="2000.00"))
    walk_to_payment(phone, stop)
    post(phone, u("due", stop.pk))
    html = post(phone, u("contact", stop.pk), {"buyer_contact": "call me"}, status=422).content.decode()
    assert "Enter a phone number with its code" in html
    post(phone, u("contact", stop.pk), {"buyer_contact": "8 (900) 123-45-67"})
    assert phone.session[f"courier.stop.{stop.pk}"]["buyer_contact"] == "+79001234567"


def test_double_submit_and_another_phone_get_the_stored_result(phone: Client, courier_trip: Any, courier: Any
                                                               ) -> None:
    trip, (stop,) = courier_trip(Door())
    other_phone = Client()
    other_phone.force_login(courier)
    for client in (phone, other_phone):  # both phones are at the confirmation screen, each with its own key
        walk_to_payment(client, stop)
        post(client, u("due", stop.pk))
        post(client, u("amount", stop.pk, "cash"), {"cash": "2000"})
        post(client, u("contact", stop.pk), {"skip": "1"})
    keys = [c.session[f"courier.stop.{stop.pk}"]["key"] for c in (phone, other_phone)]
    assert keys[0] != keys[1]

    first = post(phone, u("confirm", stop.pk), {"key": keys[0]})
    assert first["Location"] == u("result", stop.pk)
    again = post(phone, u("confirm", stop.pk), {"key": keys[0]})  # the double tap
    assert again["Location"] == u("result", stop.pk) + "?replay=same"
    assert "already recorded: nothing was registered twice" in get(phone, again["Location"])
    late = post(other_phone, u("confirm", stop.pk), {"key": keys[1]})
    assert late["Location"] == u("result", stop.pk) + "?replay=other"
    html = get(other_phone, late["Location"])
    assert "This stop was already confirmed by courier at" in html and "Nothing was recorded now" in html
    assert IncomingPayment.objects.filter(partner=stop.partner, method=PaymentMethod.CASH,
                                          amount=D("2000.00")).count() == 1
    # the screens of a confirmed stop lead to its result
    for name in ("goods", "due", "pay", "confirm", "fail"):
        assert get(other_phone, u(name, stop.pk), status=302) == ""


def test_a_stop_at_our_store_receives_transfers_without_money_screens(
        phone: Client, courier_trip: Any, organization: Any, warehouse: Any, store: Any, milk: Any, bread: Any,
        logistician: Any) -> None:
    from torg.stock.models import StockTotal, Transfer, TransferLine
    from torg.stock.services import save_stock_document

    trip, (client_stop,) = courier_trip(Door(), status=TripStatus.FORMING)
    transfer = Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=store,
                        date=moment("2026-03-10", 8), delivery_needed=True)
    save_stock_document(transfer, [TransferLine(item=milk, quantity=D(10)), TransferLine(item=bread, quantity=D(5))],
                        user=logistician, post=True)
    delivery.add_transfers(trip, [transfer], logistician)
    delivery.start_loading(trip, logistician)
    delivery.send_on_route(trip, logistician)
    stop = TripStop.objects.get(trip=trip, warehouse=store)
    assert "Store on Tverskaya" in get(phone, u("trip", trip.pk))
    html = get(phone, u("stop", stop.pk))
    assert "Store on Tverskaya" in html and 'id="our-warehouse"' in html and f"Transfer {transfer.number}" in html
    assert 'id="contact"' not in html and 'id="hand-over"' in html
    html = get(phone, u("goods", stop.pk))
    assert "The warehouse receives all" in html and "Milk 1L" in html
    # no money screens at our own warehouse
    for name in ("due", "pay", "overpay", "contact"):
        assert phone.get(u(name, stop.pk))["Location"] == u("confirm", stop.pk)
    response = post(phone, u("quantities", stop.pk), {f"q_{transfer.pk}_1": "12", f"q_{transfer.pk}_2": "5"},
                    status=422)
    assert "Milk 1L: 10 sent, the warehouse cannot receive 12." in response.content.decode()
    assert post(phone, u("quantities", stop.pk), {f"q_{transfer.pk}_1": "8", f"q_{transfer.pk}_2": "5"}
                )["Location"] == u("confirm", stop.pk)
    html = get(phone, u("confirm", stop.pk))
    assert "Received at our warehouse" in text(html) and "8 of 10" in text(html) and 'id="money"' not in html
    key = re.search(r'name="key" value="([0-9a-f]+)"', html).group(1)
    assert post(phone, u("confirm", stop.pk), {"key": key})["Location"] == u("result", stop.pk)
    html = get(phone, u("result", stop.pk))
    assert "Received at our warehouse" in text(html) and "8 of 10" in text(html) and "Back in the vehicle" in html
    assert 'id="result-money"' not in html and 'id="receipts"' not in html
    assert re.search(rf'id="next-stop" href="{u("stop", client_stop.pk)}"', html)
    stored = StockTotal.objects.get(warehouse=store, item=milk).quantity
    assert stored == D(8) and not IncomingPayment.objects.exists()


def test_not_delivered(phone: Client, courier_trip: Any) -> None:
    trip, (stop, second) = courier_trip(Door(), Door())
    get(phone, u("stop", stop.pk))
    html = get(phone, u("fail", stop.pk))
    assert html.count('type="radio"') == 7 and "Nobody at the address" in html
    html = post(phone, u("fail", stop.pk), {"reason": "other"}, status=422).content.decode()
    assert "Say what happened." in html
    assert post(phone, u("fail", stop.pk), {"reason": "absent", "comment": "phone off"}
                )["Location"] == u("result", stop.pk)
    stop.refresh_from_db()
    assert stop.status == StopStatus.FAILED and stop.failure_reason == "Nobody at the address: phone off"
    assert not Shipment.objects.get(pk=stop.documents.get().shipment_id).posted
    html = get(phone, u("result", stop.pk))
    assert "Nobody at the address: phone off" in html and "Back in the vehicle" in html and "Milk 1L" in html
    assert re.search(rf'id="next-stop" href="{u("stop", second.pk)}"', html)


def test_trip_not_on_route(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door(), status=TripStatus.LOADING)
    html = get(phone, u("trip", trip.pk))
    assert "The vehicle is being loaded" in html and 'id="next-stop"' not in html
    html = get(phone, u("stop", stop.pk))
    assert 'id="not-on-route"' in html and 'id="hand-over"' not in html
    assert get(phone, u("goods", stop.pk), status=302) == ""
    session = phone.session
    state = session[f"courier.stop.{stop.pk}"]
    state.update(method="cash", cash="2000", accepted=None)
    session[f"courier.stop.{stop.pk}"] = state
    session.save()
    html = post(phone, u("confirm", stop.pk), {"key": state["key"]}, status=409).content.decode()
    assert "is not on route (loading): stops are confirmed once the vehicle has left." in html
    html = post(phone, u("fail", stop.pk), {"reason": "absent"}, status=409).content.decode()
    assert "is not on route" in html
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING


def test_quantities_the_stop_no_longer_has_are_asked_again(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    get(phone, u("stop", stop.pk))
    for url in (u("due", stop.pk), u("pay", stop.pk), u("amount", stop.pk, "cash"), u("overpay", stop.pk)):
        session = phone.session
        session[f"courier.stop.{stop.pk}"] = {**session[f"courier.stop.{stop.pk}"], "accepted": {"987654:1": "1"},
                                              "method": "cash", "cash": "5000"}
        session.save()
        assert phone.get(url)["Location"] == u("quantities", stop.pk)
        assert "This line is not delivered at this stop." in get(phone, u("quantities", stop.pk))
        assert phone.session[f"courier.stop.{stop.pk}"]["accepted"] is None
    assert get(phone, u("amount", stop.pk, "bitcoin"), status=404)


def test_lost_answers_are_not_confirmed_as_defaults(phone: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    response = post(phone, u("confirm", stop.pk), {"key": "f" * 32})
    assert response["Location"] == u("stop", stop.pk)
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING


def test_end_of_trip(phone: Client, courier_trip: Any, courier: Any) -> None:
    trip, (first, second) = courier_trip(Door(prepaid="500.00"), Door())
    walk_to_payment(phone, first)
    post(phone, u("due", first.pk))
    post(phone, u("amount", first.pk, "cash"), {"cash": "1500"})
    finish(phone, first)
    html = get(phone, u("trip_end", trip.pk))
    assert "1 stop is still pending" in html and 'id="finish-trip"' in html
    html = post(phone, u("trip_end", trip.pk), status=409).content.decode()
    assert "1 stop is still pending" in html
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.ON_ROUTE
    post(phone, u("fail", second.pk), {"reason": "closed"})
    html = get(phone, u("trip", trip.pk))
    assert 'id="to-end"' in html and "2 of 2 stops done" in html
    html = get(phone, u("trip_end", trip.pk))
    assert re.search(r'id="cash-total">1,500.00<', html) and "ООО «Ромашка»" in html
    assert "Milk 1L" in html and "Bread" in html  # the second stop's goods came back
    response = post(phone, u("trip_end", trip.pk))
    assert response["Location"] == reverse("courier:trips")
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.DONE
    html = get(phone, reverse("courier:trips"))
    assert f"Trip {trip.number} is over" in html and "done" in html
    html = get(phone, u("trip_end", trip.pk))
    assert 'id="finish-trip"' not in html and "The trip is over." in html


def test_result_page_refreshes_until_the_receipts_are_printed(phone: Client, courier_trip: Any, register: Any
                                                              ) -> None:
    from torg.fiscal.queue import drain

    trip, (stop,) = courier_trip(Door())
    walk_to_payment(phone, stop)
    post(phone, u("due", stop.pk))
    post(phone, u("amount", stop.pk, "cash"), {"cash": "2000"})
    finish(phone, stop)
    html = get(phone, u("result", stop.pk))
    assert 'http-equiv="refresh"' in html and 'class="tag wait receipt-status">waiting<' in html
    drain(register.pk)
    html = get(phone, u("result", stop.pk))
    assert 'http-equiv="refresh"' not in html and 'class="tag ok receipt-status">registered<' in html
    assert "FD No." in html


def test_russian(phone: Client, courier_trip: Any) -> None:
    """The pages follow the language switch (the Russian words themselves come with the translations)."""
    trip, (stop,) = courier_trip(Door())
    phone.cookies["django_language"] = "ru"
    html = get(phone, u("stop", stop.pk))
    assert '<html lang="ru">' in html and "2 000,00" in html.replace("\xa0", " ")


def test_menu_entry_for_the_courier(courier: Any, manager: Any) -> None:
    courier_urls = [e["url"] for s in menu_for(courier) for e in s["entries"]]
    assert reverse("courier:trips") in courier_urls
    assert reverse("courier:trips") not in [e["url"] for s in menu_for(manager) for e in s["entries"]]


# ================================================================ permissions
def _urls(trip: DeliveryTrip, stop: TripStop) -> list[str]:
    urls = [reverse("courier:trips"), u("trip", trip.pk), u("trip_end", trip.pk)]
    urls += [u(name, stop.pk) for name in ("stop", "goods", "quantities", "due", "pay", "overpay", "contact",
                                           "confirm", "result", "fail")]
    urls += [u("amount", stop.pk, m) for m in ("cash", "card", "mixed", "credit")]
    return urls


def test_anonymous_is_sent_to_log_in(client: Client, courier_trip: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    for url in _urls(trip, stop):
        for response in (client.get(url), client.post(url)):
            assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url


@pytest.mark.parametrize("role", [r for r in Role.values if Cap.DELIVERY_COURIER not in ROLE_CAPS[r]])
def test_roles_without_the_courier_capability_get_403(client: Client, courier_trip: Any, role_user: Any,
                                                      role: str) -> None:
    trip, (stop,) = courier_trip(Door())
    client.force_login(role_user(role, f"user-{role}"))
    for url in _urls(trip, stop):
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"key": "x", "cash": "1"}).status_code == 403, url
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING


def test_another_courier_gets_404_and_changes_nothing(client: Client, courier_trip: Any, role_user: Any) -> None:
    trip, (stop,) = courier_trip(Door())
    other = role_user(Role.COURIER, "other-courier")
    client.force_login(other)
    assert trip.number not in get(client, reverse("courier:trips"))
    for url in _urls(trip, stop)[1:]:
        assert client.get(url).status_code == 404, url
        assert client.post(url, {"key": "x", "reason": "absent", "cash": "1"}).status_code == 404, url
    assert TripStop.objects.get(pk=stop.pk).status == StopStatus.PENDING
    assert DeliveryTrip.objects.get(pk=trip.pk).status == TripStatus.ON_ROUTE

