"""A small delivery world: a vehicle of 100 kg / 1 m³, two clients with addresses, posted shipments, and our store
that transfers go to."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import DeliveryAddress, Item, Organization, Partner, Warehouse
from torg.conftest import moment
from torg.core.permissions import Role
from torg.delivery.models import DeliveryZone, Vehicle
from torg.sales.models import Shipment, ShipmentLine
from torg.stock.models import Transfer, TransferLine

D = Decimal
DAY = dt.date(2026, 3, 10)


@pytest.fixture
def logistician(role_user: Any) -> Any:
    return role_user(Role.LOGISTICIAN, "logistician")


@pytest.fixture
def manager(role_user: Any) -> Any:
    """Sees trips, may not plan them nor overload a vehicle."""
    return role_user(Role.SALES_MANAGER, "manager")


@pytest.fixture
def courier(role_user: Any) -> Any:
    return role_user(Role.COURIER, "courier")


@pytest.fixture
def van(courier: Any) -> Vehicle:
    return Vehicle.objects.create(name="Van", plate="А123ВС77", capacity_kg=D("100"), capacity_m3=D("1"),
                                  default_courier=courier)


@pytest.fixture
def heavy(make_item: Any) -> Item:
    item = make_item("Water 19L")
    item.weight_kg, item.volume_m3 = D("19"), D("0.02")
    item.save()
    return item


@pytest.fixture
def centre_zone(db: Any) -> DeliveryZone:
    return DeliveryZone.objects.create(name="Centre", polygon=[[55.70, 37.50], [55.80, 37.50], [55.80, 37.70],
                                                               [55.70, 37.70]])


@pytest.fixture
def north_zone(db: Any) -> DeliveryZone:
    return DeliveryZone.objects.create(name="North", polygon=[[55.85, 37.50], [55.95, 37.50], [55.95, 37.70],
                                                              [55.85, 37.70]])


@pytest.fixture
def shop(db: Any) -> Partner:
    return Partner.objects.create(name="Shop on Lesnaya", is_client=True, phone="+7 900 111-22-33",
                                  address="Lesnaya 1", latitude=D("55.75"), longitude=D("37.60"))


@pytest.fixture
def cafe(db: Any) -> Partner:
    return Partner.objects.create(name="Cafe North", is_client=True, phone="+7 900 444-55-66", address="Polar 5")


@pytest.fixture
def shop_address(shop: Partner) -> DeliveryAddress:
    return DeliveryAddress.objects.create(partner=shop, address="Lesnaya 1, back door", latitude=D("55.75"),
                                          longitude=D("37.60"))


@pytest.fixture
def cafe_address(cafe: Partner) -> DeliveryAddress:
    return DeliveryAddress.objects.create(partner=cafe, address="Polar 5", latitude=D("55.90"),
                                          longitude=D("37.60"))


@pytest.fixture
def ship(organization: Organization, warehouse: Warehouse, heavy: Item) -> Any:
    """A posted shipment of `qty` bottles of water (19 kg, 0.02 m³ each) to a partner, optionally to an address."""
    def make(partner: Partner, qty: int = 1, address: DeliveryAddress | None = None, day: str = "2026-03-09",
             organization_: Organization | None = None, posted: bool = True) -> Shipment:
        shipment = Shipment.objects.create(organization=organization_ or organization, partner=partner,
                                           warehouse=warehouse, delivery_address=address, date=moment(day),
                                           posted=posted, amount=D(qty * 150),
                                           number=f"РМ-{Shipment.objects.count() + 1:06d}")
        ShipmentLine.objects.create(document=shipment, line_no=1, item=heavy, quantity=D(qty), price=D(150),
                                    amount=D(qty * 150))
        return shipment

    return make


@pytest.fixture
def store(db: Any) -> Warehouse:
    """Our retail store in the centre zone: transfers from the central warehouse are delivered there."""
    return Warehouse.objects.create(name="Store on Tverskaya", is_retail_store=True, address="Tverskaya 7",
                                    latitude=D("55.76"), longitude=D("37.61"))


@pytest.fixture
def move(organization: Organization, warehouse: Warehouse, store: Warehouse, heavy: Item) -> Any:
    """A posted transfer of `qty` bottles of water from the central warehouse to the store, for our transport."""
    def make(qty: int = 1, day: str = "2026-03-09", to: Warehouse | None = None, posted: bool = True,
             delivery_needed: bool = True) -> Transfer:
        transfer = Transfer.objects.create(organization=organization, warehouse_from=warehouse,
                                           warehouse_to=to or store, date=moment(day), posted=posted,
                                           delivery_needed=delivery_needed,
                                           number=f"РМ-{Transfer.objects.count() + 1:06d}")
        TransferLine.objects.create(document=transfer, line_no=1, item=heavy, quantity=D(qty))
        return transfer

    return make
