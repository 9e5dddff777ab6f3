"""A small trading company for the order-to-cash tests: a client, prices, a schedule, an agreement, money places,
stock in two warehouses, a manager and a sales director."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount, CashDesk, ItemPrice, Organization, Partner, PriceType, Warehouse
from torg.conftest import moment
from torg.core.permissions import Role
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    StageKind,
    TradeAgreement,
)
from torg.sales.services import save_payment_schedule
from torg.stock.tests.helpers import purchase


@pytest.fixture
def client_partner(db: Any) -> Partner:
    return Partner.objects.create(name="Produkty na Lesnoy", is_client=True)


@pytest.fixture
def price_type(db: Any) -> PriceType:
    return PriceType.objects.create(name="Wholesale")


@pytest.fixture
def schedule(db: Any) -> PaymentSchedule:
    s = PaymentSchedule(name="30 / 40 / 30 in 10 days")
    save_payment_schedule(s, [
        PaymentScheduleStage(kind=StageKind.ADVANCE, percent=Decimal(30), days=1),
        PaymentScheduleStage(kind=StageKind.PREPAYMENT, percent=Decimal(40), days=3),
        PaymentScheduleStage(kind=StageKind.CREDIT, percent=Decimal(30), days=10),
    ])
    return s


@pytest.fixture
def agreement(organization: Organization, price_type: PriceType, schedule: PaymentSchedule,
              warehouse: Warehouse, client_partner: Partner) -> TradeAgreement:
    return TradeAgreement.objects.create(
        name="Wholesale 30/40/30", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE,
        organization=organization, price_type=price_type, discount_percent=Decimal(0),
        max_manual_discount=Decimal(5), payment_schedule=schedule, warehouse=warehouse)


@pytest.fixture
def prices(price_type: PriceType, milk: Any, bread: Any) -> dict[str, Decimal]:
    ItemPrice.objects.create(price_type=price_type, item=milk, valid_from=dt.date(2026, 1, 1), price=Decimal("100"))
    ItemPrice.objects.create(price_type=price_type, item=bread, valid_from=dt.date(2026, 1, 1), price=Decimal("50"))
    return {"milk": Decimal(100), "bread": Decimal(50)}


@pytest.fixture
def cash_desk(organization: Organization) -> CashDesk:
    return CashDesk.objects.create(organization=organization, name="Main till")


@pytest.fixture
def bank_account(organization: Organization) -> BankAccount:
    return BankAccount.objects.create(organization=organization, name="Settlement account",
                                      number="40702810900000000001", bik="044525225")


@pytest.fixture
def stocked(organization: Organization, warehouse: Warehouse, warehouse2: Warehouse, supplier: Partner,
            milk: Any, bread: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2026-03-01", 9), [(milk, 100, 60), (bread, 100, 30)])
    purchase(organization, warehouse2, supplier, moment("2026-03-01", 9), [(milk, 50, 60), (bread, 50, 30)])


@pytest.fixture
def manager(role_user: Any) -> Any:
    return role_user(Role.SALES_MANAGER, "manager")


@pytest.fixture
def director(role_user: Any) -> Any:
    return role_user(Role.SALES_DIRECTOR, "director")


@pytest.fixture
def accountant(role_user: Any) -> Any:
    return role_user(Role.ACCOUNTANT, "accountant")
