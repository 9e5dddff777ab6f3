"""Tests of the pure-Python demo data vocabulary (no database, no Django)."""
from __future__ import annotations

import random
import re
from collections import Counter
from decimal import Decimal

import pytest

from torg.catalogs.demo_vocab import (
    BANKS,
    FAMILIES,
    ITEM_GROUPS,
    UNITS,
    WAREHOUSES,
    AddressSpec,
    ItemSpec,
    PartnerSpec,
    make_items,
    make_organizations,
    make_partners,
    make_person,
    make_person_name,
)
from torg.catalogs.models import validate_ean13
from torg.core.validators import validate_bank_account, validate_corr_account

MOBILE_RE = re.compile(r"^\+7 9\d\d \d{3}-\d\d-\d\d$")
EMAIL_RE = re.compile(r"^[a-z0-9._-]+@[a-z0-9.-]+\.[a-z]{2,}$")


def _ean13_independent(first12: str) -> int:
    # textbook algorithm, written out separately from the module's version
    odd = sum(int(first12[i]) for i in range(0, 12, 2))
    even = sum(int(first12[i]) for i in range(1, 12, 2))
    return (10 - (odd + 3 * even) % 10) % 10


@pytest.fixture(scope="module")
def items() -> list[ItemSpec]:
    return make_items(random.Random(20260101))


@pytest.fixture(scope="module")
def partners() -> list[PartnerSpec]:
    return make_partners(random.Random(20260101))


# --- determinism -----------------------------------------------------------------------------

def test_items_are_deterministic(items: list[ItemSpec]) -> None:
    assert make_items(random.Random(20260101)) == items
    assert make_items(random.Random(7)) != items


def test_partners_are_deterministic(partners: list[PartnerSpec]) -> None:
    assert make_partners(random.Random(20260101)) == partners
    assert make_partners(random.Random(7)) != partners


def test_person_names_are_deterministic() -> None:
    a = [make_person_name(random.Random(3), None) for _ in range(3)]
    assert a == [make_person_name(random.Random(3), None) for _ in range(3)]


def test_organizations_are_fixed() -> None:
    assert make_organizations() == make_organizations()


# --- items -----------------------------------------------------------------------------------

def test_item_counts(items: list[ItemSpec]) -> None:
    assert len(items) == 1000
    assert len(make_items(random.Random(1), count=120)) == 120
    assert make_items(random.Random(1), count=0) == []


def test_items_unique(items: list[ItemSpec]) -> None:
    assert len({i.name for i in items}) == len(items)
    assert len({i.sku for i in items}) == len(items)
    barcodes = [b for i in items for b in i.barcodes]
    assert len(set(barcodes)) == len(barcodes)


def test_sku_format(items: list[ItemSpec]) -> None:
    assert all(re.fullmatch(r"[A-Z0-9]{3}-\d{5}", i.sku) for i in items)


def test_barcodes_are_valid_russian_ean13(items: list[ItemSpec]) -> None:
    for item in items:
        if item.kind == "goods":
            assert 1 <= len(item.barcodes) <= 2, item
        else:
            assert item.barcodes == [], item
        for code in item.barcodes:
            assert re.fullmatch(r"46\d{11}", code), code
            validate_ean13(code)
            assert int(code[12]) == _ean13_independent(code[:12])



def test_about_97_percent_goods(items: list[ItemSpec]) -> None:
    kinds = Counter(i.kind for i in items)
    assert 0.95 <= kinds["goods"] / len(items) <= 0.99
    assert kinds["service"] > 0 and kinds["work"] > 0
    names = {i.name for i in items if i.kind != "goods"}
    assert {"Доставка по Москве", "Погрузочно-разгрузочные работы", "Сборка стеллажа"} <= names


def test_item_fields(items: list[ItemSpec]) -> None:
    unit_codes = {u[0] for u in UNITS}
    for item in items:
        assert item.group in ITEM_GROUPS
        assert item.unit_code in unit_codes
        assert item.vat_rate in (10, 22)
        assert isinstance(item.purchase_price, Decimal) and item.purchase_price.as_tuple().exponent == -2
        assert item.purchase_price > 0
        assert item.weight_kg.as_tuple().exponent == -3
        assert item.volume_m3.as_tuple().exponent == -6
        if item.kind == "goods":
            assert Decimal("0.001") <= item.weight_kg <= Decimal("25"), item
            assert Decimal(0) < item.volume_m3 < Decimal("0.05"), item
            assert Decimal("1") <= item.purchase_price <= Decimal("3000"), item
        else:
            assert item.weight_kg == 0 and item.volume_m3 == 0
            assert item.group == "Услуги"
        if item.unit_code == "166":
            assert item.weight_kg == Decimal("1.000")


def test_items_cover_many_groups_and_units(items: list[ItemSpec]) -> None:
    groups = Counter(i.group for i in items)
    assert len(groups) >= 15
    assert {i.unit_code for i in items} == {u[0] for u in UNITS}
    assert Counter(i.vat_rate for i in items)[10] >= 150


def test_reduced_vat_for_basic_food(items: list[ItemSpec]) -> None:
    for item in items:
        if item.name.startswith(("Молоко ", "Кефир", "Хлеб ", "Крупа ", "Подгузники детские")):
            assert item.vat_rate == 10, item.name
        if item.name.startswith(("Средство для мытья", "Бумага офисная", "Шоколад ")):
            assert item.vat_rate == 22, item.name


def test_no_absurd_pack_sizes(items: list[ItemSpec]) -> None:
    for item in items:
        if item.name.startswith(("Молоко", "Кефир", "Сок ", "Вода ")):
            assert not re.search(r"\d кг\b", item.name), item.name
        if item.name.startswith(("Крупа", "Мука", "Сахар", "Стиральный порошок")):
            assert not re.search(r"\d( мл| л)\b", item.name), item.name


def test_vocabulary_is_large_enough() -> None:
    combos = sum(len(f.brands or ("",)) * len(f.variants) * len(f.packs) for f in FAMILIES)
    assert len(FAMILIES) >= 150
    assert combos >= 3000
    assert len(make_items(random.Random(5), count=2500)) == 2500


# --- partners --------------------------------------------------------------------------------

def _all_addresses(partners: list[PartnerSpec]) -> list[AddressSpec]:
    return [a for p in partners for a in p.delivery_addresses]


def test_partner_counts(partners: list[PartnerSpec]) -> None:
    assert len(partners) == 300
    assert len(make_partners(random.Random(1), count=40)) == 40
    suppliers = [p for p in partners if p.is_supplier]
    assert 25 <= len(suppliers) <= 35
    assert any(p.is_client for p in suppliers)
    assert all(p.is_client or p.is_supplier for p in partners)


def test_partners_unique(partners: list[PartnerSpec]) -> None:
    assert len({p.name for p in partners}) == len(partners)
    assert len({p.legal_name for p in partners}) == len(partners)
    assert len({p.inn_prefix_digits for p in partners}) == len(partners)


def test_partner_requisites(partners: list[PartnerSpec]) -> None:
    forms = Counter(p.legal_form for p in partners)
    assert forms["legal"] > 0 and forms["sole_trader"] > 0
    for p in partners:
        assert p.inn_prefix_digits.isdigit() and p.inn_prefix_digits[:2] in ("77", "50")
        assert 0 <= p.bank_bik_choice < len(BANKS)
        validate_bank_account(p.bank_account, BANKS[p.bank_bik_choice][0])
        if p.legal_form == "legal":
            assert len(p.inn_prefix_digits) == 9 and len(p.inn) == 10
            assert re.fullmatch(r"\d{4}01001", p.kpp) and p.kpp[:4] == p.inn_prefix_digits[:4]
            assert len(p.ogrn) == 13 and p.ogrn[0] == "1"
            assert p.legal_name.startswith(("ООО «", "АО «"))
        else:
            assert len(p.inn_prefix_digits) == 10 and len(p.inn) == 12
            assert p.kpp == ""
            assert len(p.ogrn) == 15 and p.ogrn[0] == "3"
            assert p.legal_name.startswith("ИП ")



def test_banks_are_consistent() -> None:
    assert len(BANKS) >= 6
    for bik, name, corr in BANKS:
        assert bik.startswith("0445") and len(bik) == 9 and name
        assert corr.startswith("30101810") and corr.endswith(bik[-3:])
        validate_corr_account(corr, bik)


def test_contacts(partners: list[PartnerSpec]) -> None:
    for p in partners:
        assert p.contacts
        assert p.email.isascii() and EMAIL_RE.match(p.email), p.email
        for c in p.contacts:
            assert len(c.name.split()) == 3 and c.position
            assert MOBILE_RE.match(c.phone), c.phone
            assert c.email.isascii() and EMAIL_RE.match(c.email), c.email


def test_addresses_in_moscow_region(partners: list[PartnerSpec]) -> None:
    addresses = _all_addresses(partners)
    assert all(p.delivery_addresses for p in partners)
    assert len({a.text for a in addresses}) == len(addresses)
    for a in addresses:
        assert Decimal("55.1") <= a.lat <= Decimal("56.1"), a
        assert Decimal("36.8") <= a.lon <= Decimal("38.6"), a
        assert a.lat.as_tuple().exponent == -6 and a.lon.as_tuple().exponent == -6
        assert a.text.startswith(("г. Москва, ", "Московская обл., г. ")), a.text
        assert re.search(r", д\. \d+", a.text), a.text
        if a.text.startswith("г. Москва"):
            assert Decimal("55.55") <= a.lat <= Decimal("55.92") and Decimal("37.35") <= a.lon <= Decimal("37.85")
    assert sum(a.text.startswith("г. Москва") for a in addresses) > len(addresses) / 2


# --- organizations, warehouses, people -------------------------------------------------------

def test_organizations() -> None:
    orgs = make_organizations()
    assert [o.prefix for o in orgs] == ["ТД", "СО", "ИП"]
    assert len({o.name for o in orgs}) == 3
    for o in orgs:
        assert o.director and o.chief_accountant and o.address.count("г. Москва") == 1
        validate_bank_account(o.bank_account, BANKS[o.bank_bik_choice][0])
        if o.legal_form == "legal":
            assert o.vat_payer and len(o.inn) == 10 and len(o.kpp) == 9 and len(o.ogrn) == 13
        else:
            assert not o.vat_payer and o.tax_system.startswith("usn") and o.kpp == "" and len(o.inn) == 12
    partner_prefixes = {p.inn_prefix_digits for p in make_partners(random.Random(2), count=50)}
    assert not partner_prefixes & {o.inn_prefix_digits for o in orgs}


def test_warehouses() -> None:
    assert len(WAREHOUSES) == 5
    assert len({w.name for w in WAREHOUSES}) == 5
    assert sum(w.is_retail_store for w in WAREHOUSES) == 2
    assert sum(w.order_based for w in WAREHOUSES) == 1
    assert not next(w for w in WAREHOUSES if w.name == "Основной склад (Подольск)").order_based
    for w in WAREHOUSES:
        assert Decimal("55.1") <= w.lat <= Decimal("56.1") and Decimal("36.8") <= w.lon <= Decimal("38.6")
        assert w.address


def test_person_names() -> None:
    rng = random.Random(11)
    for _ in range(200):
        female = make_person(rng, True)
        assert female.patronymic.endswith("на") and female.female
        assert not female.surname.endswith(("ов", "ев", "ин", "ский"))
        male = make_person(rng, False)
        assert male.patronymic.endswith("ич") and not male.female
        assert male.short == f"{male.surname} {male.first_name[0]}. {male.patronymic[0]}."
    assert len(make_person_name(rng, None).split()) == 3
