"""Fixtures of the bank-statement tests: our two accounts, clients with requisites, their agreed orders, the
accountant who imports."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount, Counterparty, LegalForm, Partner
from torg.conftest import moment
from torg.core.permissions import Role
from torg.payments.models import IncomingPayment, PaymentMethod, Refund
from torg.payments.services import refund, register_payment
from torg.payments.tests.bank_helpers import SBER_BIK, SBER_CORR, VTB_BIK, VTB_CORR, Side, account, inn
from torg.sales import services as sales
from torg.sales.models import SalesOrder, SalesOrderLine

D = Decimal
DAY = dt.date(2026, 3, 10)
OUR_INN = "7707083893"  # the conftest organization's


def our_side(acc: BankAccount) -> Side:
    return Side(acc.number, OUR_INN, "773601001", "ООО «Ромашка»", acc.bik, acc.correspondent_account, acc.bank_name)


@pytest.fixture
def accounts(organization: Any) -> dict[str, BankAccount]:
    main = BankAccount.objects.create(organization=organization, name="Sber", number=account(1, SBER_BIK),
                                      bik=SBER_BIK, bank_name="ПАО СБЕРБАНК", correspondent_account=SBER_CORR)
    second = BankAccount.objects.create(organization=organization, name="VTB", number=account(2, VTB_BIK),
                                        bik=VTB_BIK, bank_name="БАНК ВТБ (ПАО)", correspondent_account=VTB_CORR)
    return {"main": main, "second": second}


@pytest.fixture
def clients(db: Any) -> dict[str, Any]:
    """Six clients with counterparties (INN, KPP, and an account in the catalogs for some), a person known only by
    the account money comes from, and two partners sharing one INN (two branches entered as two clients)."""
    result: dict[str, Any] = {}
    for n in range(1, 7):
        partner = Partner.objects.create(name=f"Client {n}", is_client=True)
        cp = Counterparty.objects.create(partner=partner, name=f"ООО «Клиент {n}»", inn=inn(n), kpp=f"77{n:02d}01001")
        result[f"c{n}"] = partner
        result[f"c{n}_side"] = Side(account(100 + n), cp.inn, cp.kpp, cp.name)
    BankAccount.objects.create(counterparty=Counterparty.objects.get(partner=result["c3"]),
                               number=account(103), bik="044525593")
    person = Partner.objects.create(name="Ivanov I. I.", is_client=True)
    cp = Counterparty.objects.create(partner=person, name="Иванов Иван Иванович", legal_form=LegalForm.PERSON)
    BankAccount.objects.create(counterparty=cp, number=account(200, prefix="40817810"), bik="044525593")
    result["person"] = person
    result["person_side"] = Side(account(200, prefix="40817810"), "", "", "Иванов Иван Иванович")
    for n in (1, 2):
        twin = Partner.objects.create(name=f"Branch {n}", is_client=True)
        Counterparty.objects.create(partner=twin, name=f"ООО «Филиал {n}»", inn=inn(50), kpp=f"50{n:02d}01001")
    result["twin_side"] = Side(account(150), inn(50), "500101001", "ООО «Филиал»")
    return result


@pytest.fixture
def orders(organization: Any, warehouse: Any, clients: dict[str, Any], milk: Any, role_user: Any) -> dict[str, Any]:
    """Agreed orders: client 1 — РМ-000001 (1 000.00) and РМ-000002 (500.00); client 2 — РМ-000003 (2 400.00) and
    РМ-000004 (300.00)."""
    director = role_user(Role.SALES_DIRECTOR, "director")
    result = {}
    for n, (client, quantity) in enumerate((("c1", "10"), ("c1", "5"), ("c2", "24"), ("c2", "3")), start=1):
        order = SalesOrder(organization=organization, partner=clients[client], warehouse=warehouse,
                           date=moment("2026-03-02", 10))
        sales.save_order(order, [SalesOrderLine(item=milk, quantity=D(quantity), price=D(100))], user=director,
                         post=True)
        sales.submit_order(order, user=director)
        result[f"o{n}"] = order
    assert [o.number for o in result.values()] == ["РМ-000001", "РМ-000002", "РМ-000003", "РМ-000004"]
    return result


@pytest.fixture
def accountant(role_user: Any) -> Any:
    return role_user(Role.ACCOUNTANT, "accountant")


@pytest.fixture
def our_refund(organization: Any, clients: dict[str, Any], accounts: dict[str, BankAccount]) -> Refund:
    """Client 5 paid 700.00 with no order (entered by hand) and got it back by bank transfer on DAY: refund
    РМ-000001."""
    register_payment(IncomingPayment(organization=organization, partner=clients["c5"], method=PaymentMethod.BANK,
                                     bank_account=accounts["main"], amount=D(700), date=moment("2026-03-05")), [])
    doc = refund(Refund(organization=organization, partner=clients["c5"], method=PaymentMethod.BANK,
                        bank_account=accounts["main"], amount=D(700), date=moment("2026-03-10", 11)))
    assert doc.number == "РМ-000001"
    return doc
