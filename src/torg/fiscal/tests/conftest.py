"""A company with a cash register on the built-in emulator, an agreement on credit, stock, money places."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import Counterparty, LegalForm, Partner
from torg.conftest import moment
from torg.fiscal.models import CashRegister, Driver
from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod
from torg.payments.services import register_payment
from torg.sales import services as sales
from torg.sales.models import (
    AgreementKind,
    AgreementStatus,
    PaymentSchedule,
    PaymentScheduleStage,
    SalesOrder,
    SalesOrderLine,
    StageKind,
    TradeAgreement,
)
from torg.sales.services import save_payment_schedule
from torg.sales.tests import conftest as sales_fixtures

D = Decimal

# The sales tests' company, shared.
accountant = sales_fixtures.accountant
agreement = sales_fixtures.agreement
bank_account = sales_fixtures.bank_account
cash_desk = sales_fixtures.cash_desk
client_partner = sales_fixtures.client_partner
director = sales_fixtures.director
manager = sales_fixtures.manager
price_type = sales_fixtures.price_type
prices = sales_fixtures.prices
schedule = sales_fixtures.schedule
stocked = sales_fixtures.stocked


@pytest.fixture
def register(organization: Any, cash_desk: Any) -> CashRegister:
    return CashRegister.objects.create(
        organization=organization, name="Office register", model="АТОЛ 30Ф (emulated)", driver=Driver.EMULATOR,
        payments_address="г. Москва, ул. Лесная, д. 5", payments_place="Офис продаж", cash_desk=cash_desk,
        is_default=True, cashier_name="Кассир Петрова А.А.")


@pytest.fixture
def credit_agreement(organization: Any, price_type: Any, warehouse: Any) -> TradeAgreement:
    schedule = PaymentSchedule(name="Credit 7 days")
    save_payment_schedule(schedule, [PaymentScheduleStage(kind=StageKind.CREDIT, percent=D(100), days=7)])
    return TradeAgreement.objects.create(
        name="Retail on credit", kind=AgreementKind.TYPICAL, status=AgreementStatus.ACTIVE, organization=organization,
        price_type=price_type, payment_schedule=schedule, warehouse=warehouse, max_manual_discount=D(5))


@pytest.fixture
def person(client_partner: Partner) -> Counterparty:
    return Counterparty.objects.create(partner=client_partner, name="Иванов Иван Иванович",
                                       legal_form=LegalForm.PERSON)


@pytest.fixture
def make_order(organization: Any, client_partner: Any, credit_agreement: Any, warehouse: Any, prices: Any,
               stocked: Any, milk: Any, bread: Any, manager: Any) -> Any:
    """An order of 10 milk (100.00) and 20 bread (50.00) = 2,000.00, agreed and released to ship."""

    def make(counterparty: Any = None, milk_qty: int = 10, bread_qty: int = 20, release: bool = True) -> SalesOrder:
        order = SalesOrder(organization=organization, partner=client_partner, agreement=credit_agreement,
                           warehouse=warehouse, counterparty=counterparty, date=moment("2026-03-10", 10))
        sales.save_order(order, [SalesOrderLine(item=milk, quantity=D(milk_qty)),
                                 SalesOrderLine(item=bread, quantity=D(bread_qty))], user=manager, post=True)
        sales.submit_order(order, user=manager)
        if release:
            sales.release_to_ship(order, user=manager)
        return order

    return make


@pytest.fixture
def pay(cash_desk: Any, bank_account: Any, manager: Any) -> Any:
    """Register a client's payment allocated to orders ({order: amount}); the rest is an advance."""
    counter = {"n": 0}

    def make(partner: Any, amount: str, allocations: dict[Any, str] | None = None, *, method: str = PaymentMethod.CASH,
             counterparty: Any = None, organization: Any = None) -> IncomingPayment:
        counter["n"] += 1
        organization = organization or (next(iter(allocations)).organization if allocations else None)
        payment = IncomingPayment(organization=organization, partner=partner, method=method,
                                  cash_desk=cash_desk if method == PaymentMethod.CASH else None,
                                  bank_account=None if method == PaymentMethod.CASH else bank_account,
                                  counterparty=counterparty, amount=D(amount), date=moment("2026-03-10", 12))
        lines = [PaymentAllocation(order=o, amount=D(a)) for o, a in (allocations or {}).items()]
        return register_payment(payment, lines, user=manager, idempotency_key=f"test-pay-{counter['n']}")

    return make
