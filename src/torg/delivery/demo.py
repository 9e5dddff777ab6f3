"""The delivery part of the demo company: two zones, two vehicles (one of a carrier), and today's trip of the
courier «courier» on route — made from orders released to ship and from orders the manager took this morning for
delivery (up to five clients), and a transfer of goods to one of our stores — one stop already delivered and paid
in cash at the door (with change), so the live board, the couriers' cash and the phone workplace show a working day.

Everything goes through the services, as the logistician and the courier would do it.
Registered in `torg.catalogs.demo.DEMO_EXTENSIONS` by DeliveryConfig.ready() (after the sales history).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from torg.catalogs.models import ItemPrice, Partner, Warehouse
from torg.catalogs.services import save_catalog_entry
from torg.core.errors import CoreError
from torg.delivery import courier as door
from torg.delivery import services
from torg.delivery.models import Carrier, DeliveryZone, Vehicle
from torg.sales import services as sales
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    OrderBacklogTotal,
    SalesOrder,
    SalesOrderLine,
    StageKind,
    TradeAgreement,
)
from torg.stock.models import StockTotal, Transfer, TransferLine
from torg.stock.services import save_stock_document

STOPS = 5


def add_delivery(loader: Any) -> None:
    logistician = User.objects.filter(username="logistician").first() or User.objects.get(username="admin")
    courier = User.objects.get(username="courier")
    manager = User.objects.get(username="manager")
    for name, polygon, districts in (
            ("Центр", [[55.70, 37.50], [55.80, 37.50], [55.80, 37.72], [55.70, 37.72]], "ЦАО\nЗАО"),
            ("Север", [[55.80, 37.45], [55.92, 37.45], [55.92, 37.75], [55.80, 37.75]], "САО\nСВАО")):
        save_catalog_entry(DeliveryZone(name=name, polygon=polygon, districts=districts), user=logistician)
    carrier = Carrier(name="ТК «Быстрый груз»", phone="+7 495 100-20-30")
    save_catalog_entry(carrier, user=logistician)
    van = Vehicle(name="ГАЗель Next", plate="А123ВС777", capacity_kg=Decimal(1500), capacity_m3=Decimal(9),
                  default_courier=courier)
    save_catalog_entry(van, user=logistician)
    save_catalog_entry(Vehicle(name="Лада Ларгус", plate="О456РА799", capacity_kg=Decimal(600),
                               capacity_m3=Decimal("3.5"), carrier=carrier), user=logistician)

    today = loader.today
    shipments = _todays_shipments(manager, today, loader)
    if not shipments:
        return
    trip = services.create_trip(today, van, courier=courier, user=logistician)
    services.add_shipments(trip, shipments, logistician)
    transfer = _store_transfer(shipments[0].warehouse_id, shipments[0].organization_id, logistician, today)
    if transfer is not None:
        services.add_transfers(trip, [transfer], logistician)
        loader.count_doc("transfers")
    services.start_loading(trip, logistician)
    services.send_on_route(trip, logistician)
    loader.count_doc("delivery trip")
    # The courier has been to one client already: the first one who pays at the door (else the first stop).
    stops = services.stops_of(trip)
    dues = [(stop, door.stop_due(stop)) for stop in stops]
    stop, due = next(((s, d) for s, d in dues if d.due > 0), dues[0])
    cash = (due.due / 500).to_integral_value(rounding="ROUND_CEILING") * 500  # a round sum: change is given
    try:
        door.confirm_stop(stop, payment=door.DoorPayment(cash=cash, buyer_contact=stop.partner.email),
                          user=courier, key=f"demo-{stop.pk}")
    except CoreError:
        return


add_delivery.demo_label = "delivery"  # type: ignore[attr-defined]


def _store_transfer(warehouse_id: int, organization_id: int, user: Any, today: dt.date) -> Transfer | None:
    """This morning's goods for our nearest store: a few items the trip's warehouse holds plenty of, for our
    transport."""
    store = Warehouse.objects.filter(is_retail_store=True, deletion_mark=False).exclude(address="").order_by(
        "pk").first()
    rows = list(StockTotal.objects.filter(warehouse_id=warehouse_id, quantity__gte=50, item__deletion_mark=False)
                .order_by("item_id").values_list("item_id", flat=True)[:3])
    if store is None or not rows:
        return None
    transfer = Transfer(organization_id=organization_id, warehouse_from_id=warehouse_id, warehouse_to=store,
                        delivery_needed=True, comment="Пополнение витрины",
                        date=timezone.make_aware(dt.datetime(today.year, today.month, today.day, 7, 30)))
    try:
        save_stock_document(transfer, [TransferLine(item_id=item, quantity=Decimal(10)) for item in rows], user=user,
                            post=True)
    except CoreError:
        return None
    return transfer


def _todays_shipments(user: Any, today: dt.date, loader: Any) -> list[Any]:
    """This morning's shipments for the trip: orders released to ship, then orders the manager takes today for
    delivery (credit terms, stocked goods of the agreement's warehouse at its prices) — one client per stop, clients
    whose debts stop shipping skipped, as the warehouse would."""
    rng = loader.rng("delivery")
    shipments: list[Any] = []
    clients: set[int] = set()
    when = timezone.make_aware(dt.datetime(today.year, today.month, today.day, 8, 0))

    def ship(order: SalesOrder) -> None:
        if order.partner_id in clients:
            return
        try:
            made = sales.create_shipments_from_backlog(
                [sales.Pick(order.pk, ln.code) for ln in order.lines.filter(cancelled=False)], user=user, date=when)
        except CoreError:
            return  # awaiting prepayment, over the credit limit, overdue: it waits
        clients.add(order.partner_id)
        shipments.extend(made)
        loader.count_doc("shipment")

    waiting = set(OrderBacklogTotal.objects.filter(quantity__gt=0).values_list("order_id", flat=True))
    for order in SalesOrder.objects.filter(pk__in=waiting, delivery_address__isnull=False, posted=True).order_by("pk"):
        if len(shipments) < STOPS:
            ship(order)
    agreements = [a for a in TradeAgreement.objects.filter(kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE)
                  .select_related("payment_schedule").order_by("pk")
                  if a.warehouse_id and a.payment_schedule and {s.kind for s in a.payment_schedule.stages.all()}
                  == {StageKind.CREDIT}]
    partners = list(Partner.objects.filter(is_client=True, delivery_addresses__isnull=False).distinct().order_by("pk"))
    rng.shuffle(partners)
    for partner in partners:
        if len(shipments) >= STOPS or not agreements:
            break
        if partner.pk in clients:
            continue
        order = _order_for_today(partner, rng.choice(agreements), user, today, rng)
        if order is not None:
            loader.count_doc("sales order")
            ship(order)
    return shipments


def _order_for_today(partner: Partner, agreement: TradeAgreement, user: Any, today: dt.date, rng: Any
                     ) -> SalesOrder | None:
    priced = set(ItemPrice.objects.filter(price_type=agreement.price_type_id).values_list("item_id", flat=True))
    stocked = list(StockTotal.objects.filter(warehouse_id=agreement.warehouse_id, free__gte=10, item_id__in=priced)
                   .order_by("item_id").values_list("item_id", flat=True))  # in a fixed order: the seed decides
    if len(stocked) < 3:
        return None
    lines = [SalesOrderLine(item_id=item, quantity=Decimal(rng.randint(1, 6))) for item in rng.sample(stocked, 3)]
    when = timezone.make_aware(dt.datetime(today.year, today.month, today.day, 7, rng.randint(0, 59)))
    order = SalesOrder(organization_id=agreement.organization_id, partner=partner, agreement=agreement,
                       warehouse_id=agreement.warehouse_id, date=when,
                       delivery_address=partner.delivery_addresses.order_by("pk").first(), shipment_date=today)
    try:
        sales.save_order(order, lines, user=user, post=True)
        sales.submit_order(order, user=user)
        sales.release_to_ship(order, user=user)
    except CoreError:
        return None
    return order
