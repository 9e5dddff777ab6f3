"""Payment at the door, one scenario per way a client pays: each through the services, asserting shipment
quantities, stock, settlements, allocations and the exact receipts queued for the office register."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount, DeliveryAddress, Organization
from torg.conftest import moment
from torg.core.errors import CoreError
from torg.core.permissions import Role
from torg.delivery import courier as door
from torg.delivery import services as planning
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, StopStatus, TripStop, Vehicle
from torg.fiscal.models import CashRegister, Driver, FiscalReceipt
from torg.fiscal.receipts import Method
from torg.fiscal.tests import conftest as fiscal_fixtures
from torg.payments.models import FundsTotal, IncomingPayment, PaymentAllocation, PaymentMethod, Refund
from torg.payments.services import advance_held, courier_cash_desk, register_payment
from torg.sales import services as sales
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    ClientSettlementsTotal,
    PaymentSchedule,
    PaymentScheduleStage,
    SalesOrder,
    SalesOrderLine,
    Shipment,
    StageKind,
    TradeAgreement,
)
from torg.stock.models import StockTotal
from torg.stock.tests.helpers import purchase

D = Decimal

accountant = fiscal_fixtures.accountant
bank_account = fiscal_fixtures.bank_account
cash_desk = fiscal_fixtures.cash_desk
client_partner = fiscal_fixtures.client_partner
credit_agreement = fiscal_fixtures.credit_agreement
director = fiscal_fixtures.director
manager = fiscal_fixtures.manager
person = fiscal_fixtures.person
price_type = fiscal_fixtures.price_type
prices = fiscal_fixtures.prices
register = fiscal_fixtures.register
stocked = fiscal_fixtures.stocked


@pytest.fixture
def courier(role_user: Any) -> Any:
    return role_user(Role.COURIER, "courier")


@pytest.fixture
def logistician(role_user: Any) -> Any:
    return role_user(Role.LOGISTICIAN, "logistician")


@pytest.fixture
def address(client_partner: Any) -> DeliveryAddress:
    return DeliveryAddress.objects.create(partner=client_partner, address="Lesnaya 5, shop", latitude=D("55.75"),
                                          longitude=D("37.60"))


@pytest.fixture
def van(courier: Any) -> Vehicle:
    return Vehicle.objects.create(name="Van", plate="А777АА77", default_courier=courier)


@pytest.fixture
def cod_agreement(organization: Any, price_type: Any, warehouse: Any) -> TradeAgreement:
    """Cash on delivery: everything is paid before (or at) the handover — no credit."""
    schedule = PaymentSchedule(name="Prepayment 100%")
    sales.save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.PREPAYMENT, percent=D(100), days=0)])
    return TradeAgreement.objects.create(
        name="Cash on delivery", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE, organization=organization,
        price_type=price_type, payment_schedule=schedule, warehouse=warehouse, max_manual_discount=D(5))


@pytest.fixture
def second_org(other_organization: Organization, price_type: Any, warehouse: Any, supplier: Any, milk: Any,
               bread: Any, stocked: Any) -> dict[str, Any]:
    """A second organization of the company (no VAT) with its register, bank account, stock and agreement."""
    desk = other_organization.cash_desks.create(name="ИП till")
    CashRegister.objects.create(organization=other_organization, name="ИП register", model="emulated",
                                driver=Driver.EMULATOR, payments_address="Lesnaya 5", cash_desk=desk, is_default=True)
    account = BankAccount.objects.create(organization=other_organization, name="ИП account",
                                         number="40802810900000000002", bik="044525225")
    purchase(other_organization, warehouse, supplier, moment("2026-03-01", 9), [(milk, 50, 60), (bread, 50, 30)])
    schedule = PaymentSchedule(name="ИП credit")
    sales.save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.CREDIT, percent=D(100), days=5)])
    agreement = TradeAgreement.objects.create(
        name="ИП on credit", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE,
        organization=other_organization, price_type=price_type, payment_schedule=schedule, warehouse=warehouse)
    return {"organization": other_organization, "account": account, "agreement": agreement}


@pytest.fixture
def order(organization: Any, client_partner: Any, credit_agreement: Any, warehouse: Any, prices: Any, stocked: Any,
          milk: Any, bread: Any, director: Any, address: Any) -> Any:
    """An order of 10 milk (100.00) and 20 bread (50.00) = 2,000.00 to the shop's address, agreed and released."""

    def make(agreement: Any = None, organization_: Any = None, counterparty: Any = None, milk_qty: int = 10,
             bread_qty: int = 20) -> SalesOrder:
        made = SalesOrder(organization=organization_ or organization, partner=client_partner,
                          agreement=agreement or credit_agreement, warehouse=warehouse, counterparty=counterparty,
                          delivery_address=address, date=moment("2026-03-10", 10))
        sales.save_order(made, [SalesOrderLine(item=milk, quantity=D(milk_qty)),
                                SalesOrderLine(item=bread, quantity=D(bread_qty))], user=director, post=True)
        sales.submit_order(made, user=director)
        sales.release_to_ship(made, user=director)
        return made

    return make


@pytest.fixture
def on_route(van: Any, courier: Any, logistician: Any, director: Any) -> Any:
    """Ship the orders (one shipment per organization) and put them on a trip on route: its one stop."""

    def make(*orders: SalesOrder) -> TripStop:
        picks = [sales.Pick(o.pk, ln.code) for o in orders for ln in o.lines.order_by("line_no")]
        shipments = sales.create_shipments_from_backlog(picks, user=director, date=moment("2026-03-11", 8))
        trip = planning.create_trip(moment("2026-03-11").date(), van, courier=courier, user=logistician)
        planning.add_shipments(trip, shipments, logistician)
        planning.start_loading(trip, logistician)
        planning.send_on_route(trip, logistician)
        return TripStop.objects.get(trip=trip)

    return make


@pytest.fixture
def pay_office(cash_desk: Any, bank_account: Any, manager: Any) -> Any:
    counter = {"n": 0}

    def make(order: SalesOrder | None, amount: str, method: str = PaymentMethod.CASH, organization: Any = None,
             partner: Any = None) -> IncomingPayment:
        counter["n"] += 1
        payment = IncomingPayment(organization=organization or order.organization,  # type: ignore[union-attr]
                                  partner=partner or order.partner, method=method,  # type: ignore[union-attr]
                                  cash_desk=cash_desk if method == PaymentMethod.CASH else None,
                                  bank_account=None if method == PaymentMethod.CASH else bank_account,
                                  amount=D(amount), date=moment("2026-03-10", 12))
        lines = [PaymentAllocation(order=order, amount=D(amount))] if order else []
        return register_payment(payment, lines, user=manager, idempotency_key=f"office-{counter['n']}")

    return make


def settled(order: SalesOrder) -> tuple[Decimal, Decimal]:
    row = ClientSettlementsTotal.objects.get(order=order, shipment__isnull=True)
    return row.shipped, row.paid


def stock(warehouse: Any, item: Any) -> Decimal:
    row = StockTotal.objects.filter(warehouse=warehouse, item=item).first()
    return row.quantity if row else D(0)


def door_receipts(stop: TripStop) -> list[FiscalReceipt]:
    stop.refresh_from_db()
    return list(FiscalReceipt.objects.filter(pk__in=stop.result["receipts"]).order_by("pk"))


def methods(receipt: FiscalReceipt) -> set[int]:
    return {ln.method for ln in receipt.lines.all()}


def confirm(stop: TripStop, courier: Any, key: str = "k1", accepted: Any = None, **pay: Any) -> door.Confirmation:
    payment = door.DoorPayment(**{k: D(v) if k in ("cash", "card") else v for k, v in pay.items()})
    return door.confirm_stop(stop, accepted=accepted, payment=payment, user=courier, key=key)


# ============================================================== the eight ways
def test_full_prepayment_then_handover(order: Any, on_route: Any, pay_office: Any, courier: Any, register: Any,
                                       warehouse: Any, milk: Any) -> None:
    sale = order()
    pay_office(sale, "2000.00", method=PaymentMethod.CARD)  # receipt «предоплата 100 %» at the office
    stop = on_route(sale)
    assert stock(warehouse, milk) == D(90)  # the goods left with the vehicle

    due = door.stop_due(stop)
    assert (due.goods, due.prepaid, due.due) == (D("2000.00"), D("2000.00"), D(0))
    done = confirm(stop, courier)

    assert done.stop.status == StopStatus.DONE and not done.replay
    assert done.result["payments"] == [] and IncomingPayment.objects.count() == 1  # nothing taken at the door
    assert settled(sale) == (D("2000.00"), D("2000.00"))
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.FULL_PAYMENT)}
    assert (receipt.total, receipt.prepaid, receipt.cash, receipt.electronic) == (D("2000.00"), D("2000.00"), 0, 0)
    assert receipt.cash_register == register


def test_partial_prepayment_and_cash_at_the_door_with_change(order: Any, on_route: Any, pay_office: Any,
                                                            courier: Any, organization: Any) -> None:
    sale = order()
    pay_office(sale, "500.00")
    stop = on_route(sale)
    assert door.stop_due(stop).due == D("1500.00")

    done = confirm(stop, courier, cash="2000.00", buyer_contact="client@example.com")

    assert D(done.result["change"]) == D("500.00")
    (payment,) = IncomingPayment.objects.filter(pk__in=[p["id"] for p in done.result["payments"]])
    assert (payment.method, payment.amount) == (PaymentMethod.CASH, D("1500.00"))
    assert payment.cash_desk == courier_cash_desk(courier, organization.pk)
    assert [(a.order_id, a.amount) for a in payment.lines.all()] == [(sale.pk, D("1500.00"))]
    assert settled(sale) == (D("2000.00"), D("2000.00"))
    assert FundsTotal.objects.get(cash_desk=payment.cash_desk).amount == D("1500.00")
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.FULL_PAYMENT)}
    assert (receipt.total, receipt.prepaid, receipt.cash, receipt.credit) == (
        D("2000.00"), D("500.00"), D("1500.00"), 0)
    assert receipt.buyer_contact == "client@example.com"


def test_advance_without_order_is_offset_then_the_rest_in_cash(order: Any, on_route: Any, pay_office: Any,
                                                               courier: Any, organization: Any,
                                                               client_partner: Any) -> None:
    pay_office(None, "700.00", method=PaymentMethod.CARD, organization=organization, partner=client_partner)
    assert advance_held(organization.pk, client_partner.pk) == D("700.00")
    sale = order()
    stop = on_route(sale)  # posting the shipment offsets the advance against the order
    assert advance_held(organization.pk, client_partner.pk) == 0
    assert door.stop_due(stop).due == D("1300.00")

    done = confirm(stop, courier, cash="1300.00")

    assert D(done.result["change"]) == 0
    assert settled(sale) == (D("2000.00"), D("2000.00"))
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.FULL_PAYMENT)}
    assert (receipt.total, receipt.prepaid, receipt.cash) == (D("2000.00"), D("700.00"), D("1300.00"))


def test_cash_and_card_at_the_door(order: Any, on_route: Any, courier: Any, bank_account: Any) -> None:
    sale = order()
    stop = on_route(sale)

    done = confirm(stop, courier, card="1200.00", card_approval="A1B2C3", cash="800.00")

    by_method = {p["method"]: D(p["amount"]) for p in done.result["payments"]}
    assert by_method == {PaymentMethod.CARD: D("1200.00"), PaymentMethod.CASH: D("800.00")}
    card = IncomingPayment.objects.get(method=PaymentMethod.CARD)
    assert card.bank_account == bank_account and "A1B2C3" in card.purpose
    assert settled(sale) == (D("2000.00"), D("2000.00"))
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.FULL_PAYMENT)}
    assert (receipt.total, receipt.cash, receipt.electronic, receipt.prepaid) == (
        D("2000.00"), D("800.00"), D("1200.00"), 0)


def test_overpayment_kept_as_advance(order: Any, on_route: Any, courier: Any, organization: Any,
                                     client_partner: Any) -> None:
    sale = order()
    stop = on_route(sale)

    done = confirm(stop, courier, cash="2500.00", keep_overpayment=True)

    assert D(done.result["change"]) == 0 and D(done.result["advance_kept"]) == D("500.00")
    (payment,) = IncomingPayment.objects.all()
    assert payment.amount == D("2500.00") and payment.allocated == D("2000.00")
    assert advance_held(organization.pk, client_partner.pk) == D("500.00")
    assert settled(sale) == (D("2000.00"), D("2000.00"))
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.FULL_PAYMENT), int(Method.ADVANCE)}
    assert (receipt.total, receipt.cash) == (D("2500.00"), D("2500.00"))


def test_refusal_of_a_line_after_full_prepayment_with_refund(order: Any, on_route: Any, pay_office: Any,
                                                              courier: Any, warehouse: Any, bread: Any,
                                                              organization: Any, client_partner: Any) -> None:
    sale = order()
    pay_office(sale, "2000.00", method=PaymentMethod.CARD)
    stop = on_route(sale)
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    bread_line = shipment.lines.get(item=bread)
    accepted = {(shipment.pk, bread_line.line_no): D(0)}  # the client does not want the bread
    preview = door.stop_due(stop, accepted)
    assert (preview.goods, preview.due, preview.release) == (D("1000.00"), D(0), D("1000.00"))

    confirm(stop, courier, accepted=accepted, refund_method=PaymentMethod.CARD)

    shipment.refresh_from_db()
    assert [(ln.item_id, ln.quantity) for ln in shipment.lines.all()] == [(sale.lines.first().item_id, D(10))]
    assert shipment.posted and shipment.amount == D("1000.00")
    sale.refresh_from_db()
    assert sale.amount == D("1000.00")  # the bread line is cancelled: «refused at delivery»
    assert sale.lines.get(item=bread).cancel_reason == "refused at delivery"
    assert settled(sale) == (D("1000.00"), D("1000.00"))
    (refund,) = Refund.objects.all()
    assert (refund.method, refund.amount) == (PaymentMethod.CARD, D("1000.00"))
    assert advance_held(organization.pk, client_partner.pk) == 0
    (handover,) = [r for r in door_receipts(stop) if r.refund_id is None]
    (returned,) = [r for r in door_receipts(stop) if r.refund_id is not None]
    assert methods(handover) == {int(Method.FULL_PAYMENT)}
    assert (handover.total, handover.prepaid) == (D("1000.00"), D("1000.00"))
    assert returned.refund_id == refund.pk and returned.operation == "sell_return"
    assert (returned.total, returned.electronic) == (D("1000.00"), D("1000.00"))
    # It returns what the prepayment receipt said: «предоплата 100 %» of the bread, not an advance.
    assert [(ln.method, ln.item_id, ln.quantity, ln.amount) for ln in returned.lines.all()] == [
        (int(Method.FULL_PREPAYMENT), bread.pk, D(20), D("1000.00"))]
    # The bread rides back in the vehicle until it is unloaded at the warehouse.
    vehicle = Vehicle.objects.get().warehouse
    assert stock(vehicle, bread) == D(20) and stock(warehouse, bread) == D(80)
    door.unload_trip(stop.trip, user=courier)
    assert stock(vehicle, bread) == 0 and stock(warehouse, bread) == D(100)


def test_one_card_payment_for_two_orders_of_two_organizations(order: Any, on_route: Any, courier: Any,
                                                               second_org: dict[str, Any], register: Any,
                                                               bank_account: Any) -> None:
    ours = order()
    theirs = order(agreement=second_org["agreement"], organization_=second_org["organization"], milk_qty=5,
                   bread_qty=10)
    stop = on_route(ours, theirs)
    assert stop.documents.count() == 2  # one stop, the shipments of both organizations
    assert [(o.organization_id, o.due) for o in door.stop_due(stop).organizations] == [
        (ours.organization_id, D("2000.00")), (theirs.organization_id, D("1000.00"))]

    done = confirm(stop, courier, card="3000.00", card_approval="777")

    payments = {p.organization_id: p for p in IncomingPayment.objects.all()}
    assert payments[ours.organization_id].amount == D("2000.00")
    assert payments[ours.organization_id].bank_account == bank_account
    assert payments[theirs.organization_id].amount == D("1000.00")
    assert payments[theirs.organization_id].bank_account == second_org["account"]
    assert settled(ours) == (D("2000.00"), D("2000.00")) and settled(theirs) == (D("1000.00"), D("1000.00"))
    receipts = door_receipts(stop)
    assert {(r.organization_id, r.total, r.electronic) for r in receipts} == {
        (ours.organization_id, D("2000.00"), D("2000.00")), (theirs.organization_id, D("1000.00"), D("1000.00"))}
    assert {r.organization_id: r.cash_register.organization_id for r in receipts} == {
        ours.organization_id: ours.organization_id, theirs.organization_id: theirs.organization_id}
    assert len(done.result["receipts"]) == 2


def test_handover_on_credit_then_payment_at_the_office(order: Any, on_route: Any, courier: Any, person: Any,
                                                       pay_office: Any) -> None:
    sale = order(counterparty=person)  # a private person: the handover on credit needs its receipt
    stop = on_route(sale)

    with pytest.raises(CoreError) as refused:
        confirm(stop, courier)
    assert refused.value.code == DeliveryError.PAYMENT_SHORT and refused.value.extra["credit_allowed"]
    assert "2 000,00" in refused.value.message or "2,000.00" in refused.value.message

    done = confirm(stop, courier, on_credit=True)

    assert D(done.result["credit"]) == D("2000.00") and done.result["payments"] == []
    assert settled(sale) == (D("2000.00"), D(0))
    (receipt,) = door_receipts(stop)
    assert methods(receipt) == {int(Method.CREDIT)} and receipt.credit == D("2000.00")

    later = pay_office(sale, "2000.00")
    credit_payment = FiscalReceipt.objects.get(payment=later)
    assert methods(credit_payment) == {int(Method.CREDIT_PAYMENT)} and credit_payment.cash == D("2000.00")
    assert settled(sale) == (D("2000.00"), D("2000.00"))


# ============================================================== refusals lose nothing
def _nothing_changed(stop: TripStop, shipment_amount: Decimal) -> None:
    stop.refresh_from_db()
    assert stop.status == StopStatus.PENDING and stop.result == {}
    assert IncomingPayment.objects.count() == 0 and FiscalReceipt.objects.count() == 0
    assert Shipment.objects.get(pk=stop.documents.get().shipment_id).amount == shipment_amount


def test_short_payment_without_credit_terms_is_refused_naming_what_remains(order: Any, cod_agreement: Any,
                                                                           on_route: Any, courier: Any) -> None:
    stop = on_route(order(agreement=cod_agreement))
    assert not door.stop_due(stop).credit_allowed
    with pytest.raises(CoreError) as refused:
        confirm(stop, courier, cash="1500.00", on_credit=True)
    assert refused.value.code == DeliveryError.PAYMENT_SHORT
    assert "500" in refused.value.message and "do not allow" in refused.value.message
    _nothing_changed(stop, D("2000.00"))


def test_card_without_the_terminals_approval_registers_nothing(order: Any, on_route: Any, courier: Any) -> None:
    stop = on_route(order())
    with pytest.raises(CoreError) as refused:
        confirm(stop, courier, card="2000.00")
    assert refused.value.code == DeliveryError.CARD_NOT_CONFIRMED
    _nothing_changed(stop, D("2000.00"))


def test_quantities_above_shipped_are_refused(order: Any, on_route: Any, courier: Any, milk: Any) -> None:
    stop = on_route(order())
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    line = shipment.lines.get(item=milk)
    with pytest.raises(CoreError) as refused:
        confirm(stop, courier, accepted={(shipment.pk, line.line_no): D(11)}, cash="2100.00")
    assert refused.value.code == DeliveryError.ABOVE_SHIPPED
    assert "10 shipped" in refused.value.message and "11" in refused.value.message
    _nothing_changed(stop, D("2000.00"))


def test_card_charged_above_what_is_owed_needs_keeping_it_as_advance(order: Any, on_route: Any,
                                                                     courier: Any) -> None:
    stop = on_route(order())
    with pytest.raises(CoreError) as refused:
        confirm(stop, courier, card="2100.00", card_approval="1")
    assert refused.value.code == DeliveryError.CARD_ABOVE_DUE
    _nothing_changed(stop, D("2000.00"))


def test_a_retry_and_a_second_phone_get_the_stored_result(order: Any, on_route: Any, courier: Any) -> None:
    stop = on_route(order())
    first = confirm(stop, courier, key="phone-1", cash="2000.00")

    retry = confirm(stop, courier, key="phone-1", cash="2000.00")
    other = confirm(stop, courier, key="phone-2", cash="3000.00", keep_overpayment=True)

    assert retry.replay and retry.same_request and retry.result == first.result
    assert other.replay and not other.same_request and other.result == first.result
    assert IncomingPayment.objects.count() == 1 and FiscalReceipt.objects.count() == 1


def test_a_stop_not_delivered_sends_the_goods_back_and_the_order_waits_again(order: Any, on_route: Any,
                                                                              courier: Any, warehouse: Any,
                                                                              milk: Any) -> None:
    sale = order()
    stop = on_route(sale)
    shipment_id = stop.documents.get().shipment_id

    with pytest.raises(CoreError):
        door.fail_stop(stop, reason=" ", user=courier, key="f1")
    failed = door.fail_stop(stop, reason="Closed, nobody answers", user=courier, key="f1")

    assert failed.stop.status == StopStatus.FAILED and failed.stop.failure_reason == "Closed, nobody answers"
    assert not Shipment.objects.get(pk=shipment_id).posted
    assert any(row.order_id == sale.pk for row in sales.shipping_backlog())
    assert stock(Vehicle.objects.get().warehouse, milk) == D(10) and stock(warehouse, milk) == D(90)
    assert FiscalReceipt.objects.count() == 0

    trip = DeliveryTrip.objects.get()
    end = door.trip_end(trip)
    assert end.pending == 0 and end.cash == {}
    door.finish_trip(trip, user=courier)
    door.unload_trip(trip, user=courier)
    assert stock(warehouse, milk) == D(100)


def test_the_trip_ends_only_when_every_stop_is_done_or_failed(order: Any, on_route: Any, courier: Any) -> None:
    stop = on_route(order())
    with pytest.raises(CoreError) as refused:
        door.finish_trip(stop.trip, user=courier)
    assert refused.value.code == DeliveryError.STOPS_PENDING
    confirm(stop, courier, cash="2000.00")
    assert door.trip_end(stop.trip).cash == {stop.documents.get().organization_id: D("2000.00")}
    assert door.finish_trip(stop.trip, user=courier).status == "done"


def test_a_company_that_prints_handover_receipts_at_the_warehouse_gets_none_at_the_door(
        order: Any, on_route: Any, pay_office: Any, courier: Any) -> None:
    from torg.core.models import SystemSettings

    settings = SystemSettings.get()
    settings.receipts_at_delivery = False
    settings.save()
    sale = order()
    pay_office(sale, "2000.00", method=PaymentMethod.CARD)
    stop = on_route(sale)
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    (at_posting,) = FiscalReceipt.objects.filter(shipment=shipment)
    assert methods(at_posting) == {int(Method.FULL_PAYMENT)}

    done = confirm(stop, courier)

    assert done.result["receipts"] == [] and FiscalReceipt.objects.filter(shipment=shipment).count() == 1


def test_a_cash_refund_beyond_the_couriers_cash_is_refused_in_words(order: Any, on_route: Any, pay_office: Any,
                                                                     courier: Any, bread: Any) -> None:
    sale = order()
    pay_office(sale, "2000.00", method=PaymentMethod.CARD)
    stop = on_route(sale)
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    accepted = {(shipment.pk, shipment.lines.get(item=bread).line_no): D(0)}
    with pytest.raises(CoreError) as refused:
        confirm(stop, courier, accepted=accepted, refund_method=PaymentMethod.CASH)
    assert "you hold 0" in refused.value.message.replace("0,00", "0").replace("0.00", "0")
    assert refused.value.fields["refund_method"]
    stop.refresh_from_db()
    assert stop.status == StopStatus.PENDING and Refund.objects.count() == 0
    assert Shipment.objects.get(pk=shipment.pk).amount == D("2000.00")


def test_refusal_after_a_partial_prepayment_returns_the_prepayment_by_the_order(
        order: Any, on_route: Any, pay_office: Any, courier: Any, bread: Any) -> None:
    sale = order()
    pay_office(sale, "1500.00", method=PaymentMethod.CARD)  # «предоплата» (partial) receipted at the office
    stop = on_route(sale)
    shipment = Shipment.objects.get(pk=stop.documents.get().shipment_id)
    accepted = {(shipment.pk, shipment.lines.get(item=bread).line_no): D(0)}

    done = confirm(stop, courier, accepted=accepted, refund_method=PaymentMethod.CARD, card_approval="1")

    assert D(done.result["released"]) == D("500.00") and settled(sale) == (D("1000.00"), D("1000.00"))
    (returned,) = [r for r in door_receipts(stop) if r.refund_id is not None]
    lines = list(returned.lines.all())
    assert {ln.method for ln in lines} == {int(Method.PREPAYMENT)} and returned.total == D("500.00")
    assert all(ln.name.startswith("Предоплата по заказу") for ln in lines)
