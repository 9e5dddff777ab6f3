"""Fixtures shared by every area's tests: a small company with catalogs, and users per role."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone

from torg.catalogs.models import Item, ItemKind, Organization, Partner, Unit, VatRate, Warehouse
from torg.core.permissions import Role


def moment(day: str, hour: int = 12) -> dt.datetime:
    """An aware datetime in the project's time zone from 'YYYY-MM-DD'."""
    d = dt.date.fromisoformat(day)
    return timezone.make_aware(dt.datetime(d.year, d.month, d.day, hour))


@pytest.fixture(autouse=True)
def english(settings: Any) -> None:
    """Tests run in English, the language of the source strings, so they can assert messages.

    The project's default language is Russian; a test that checks Russian text switches to it itself
    (`translation.override("ru")`, or the language cookie for pages)."""
    settings.LANGUAGE_CODE = "en"


@pytest.fixture
def unit(db: Any) -> Unit:
    return Unit.objects.create(code="796", name="шт", full_name="штука", international_name="pcs")


@pytest.fixture
def organization(db: Any) -> Organization:
    return Organization.objects.create(name="ООО «Ромашка»", prefix="РМ", inn="7707083893", kpp="773601001")


@pytest.fixture
def other_organization(db: Any) -> Organization:
    return Organization.objects.create(name="ИП Северов", prefix="ИП", inn="500100732259", vat_payer=False)


@pytest.fixture
def warehouse(db: Any) -> Warehouse:
    return Warehouse.objects.create(name="Central")


@pytest.fixture
def warehouse2(db: Any) -> Warehouse:
    return Warehouse.objects.create(name="North")


@pytest.fixture
def supplier(db: Any) -> Partner:
    return Partner.objects.create(name="Molokozavod", is_client=False, is_supplier=True)


@pytest.fixture
def make_item(unit: Unit) -> Any:
    counter = {"n": 0}

    def make(name: str | None = None, kind: str = ItemKind.GOODS, vat_rate: int = VatRate.VAT_22) -> Item:
        counter["n"] += 1
        return Item.objects.create(name=name or f"Item {counter['n']}", kind=kind, unit=unit, vat_rate=vat_rate,
                                   weight_kg=Decimal("1.000"))

    return make


@pytest.fixture
def milk(make_item: Any) -> Item:
    return make_item("Milk 1L")


@pytest.fixture
def bread(make_item: Any) -> Item:
    return make_item("Bread")


@pytest.fixture
def role_user(db: Any) -> Any:
    def make(role: str | None, username: str | None = None) -> User:
        user = User.objects.create_user(username or f"u_{role or 'none'}", password="pass12345")
        if role:
            group, _ = Group.objects.get_or_create(name=role)
            user.groups.add(group)
        return user

    return make


@pytest.fixture
def storekeeper(role_user: Any) -> User:
    return role_user(Role.STOREKEEPER, "storekeeper")


@pytest.fixture
def admin_user(role_user: Any) -> User:
    return role_user(Role.ADMINISTRATOR, "administrator")
