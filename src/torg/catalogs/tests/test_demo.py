"""The demo company: counts, determinism, valid requisites, exact registers, users per role."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone

from torg.catalogs.demo import DEMO_PASSWORD, DEMO_USERS, load_demo
from torg.catalogs.models import (
    BankAccount,
    Barcode,
    CashDesk,
    Contact,
    Counterparty,
    DeliveryAddress,
    Item,
    ItemPrice,
    Organization,
    Partner,
    PriceType,
    Warehouse,
)
from torg.core.permissions import Role
from torg.core.posting import verify_register
from torg.core.registers import all_registers
from torg.core.validators import validate_bank_account, validate_inn
from torg.stock.models import OpeningBalance, Purchase, Stock, StockCost, StockCount, Surplus, Transfer, WriteOff

TODAY = dt.date(2025, 6, 18)


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def demo(db: Any) -> Any:
    return load_demo(seed=1, scale="small", today=TODAY)


def test_small_demo_has_the_catalogs(demo: Any) -> None:
    assert Organization.objects.count() == 3
    assert Partner.objects.count() == 20
    assert Partner.objects.filter(is_supplier=True).count() == 2
    assert Item.objects.count() == 60
    assert Warehouse.objects.count() == 5
    assert Warehouse.objects.filter(order_based=True).count() == 1
    assert Warehouse.objects.filter(is_retail_store=True).count() == 2
    assert list(PriceType.objects.order_by("name").values_list("name", flat=True)) == ["Оптовая", "Розничная"]
    assert CashDesk.objects.filter(holder__isnull=True).count() == 5  # (+ the courier's own, see delivery)
    assert Counterparty.objects.count() == 20
    assert BankAccount.objects.filter(counterparty__isnull=False).count() == 20
    assert BankAccount.objects.filter(organization__isnull=False).count() == 3
    assert Contact.objects.count() >= 20
    assert DeliveryAddress.objects.count() >= 20
    assert Barcode.objects.count() >= Item.objects.filter(kind="goods").count()
    assert (demo.organizations, demo.partners, demo.items) == (3, 20, 60)


def test_every_item_has_a_base_price_in_both_price_types_and_later_changes(demo: Any) -> None:
    start = dt.date(2025, 4, 18)
    base = ItemPrice.objects.filter(valid_from=start)
    assert base.count() == 2 * 60
    assert ItemPrice.objects.filter(price__lte=0).count() == 0
    changed_items = ItemPrice.objects.filter(valid_from__gt=start).values("item").distinct().count()
    assert changed_items == 60
    retail, wholesale = PriceType.objects.get(name="Розничная"), PriceType.objects.get(name="Оптовая")
    for item in Item.objects.all()[:10]:
        r = ItemPrice.objects.filter(item=item, price_type=retail, valid_from=start).get().price
        w = ItemPrice.objects.filter(item=item, price_type=wholesale, valid_from=start).get().price
        assert r > w


def test_partners_are_around_moscow_with_valid_requisites(demo: Any) -> None:
    for partner in Partner.objects.all():
        assert Decimal("54.9") < partner.latitude < Decimal("56.5")
        assert Decimal("36.5") < partner.longitude < Decimal("38.9")
    for account in BankAccount.objects.all():
        validate_bank_account(account.number, account.bik)
        account.full_clean()
    for org in Organization.objects.all():
        validate_inn(org.inn)
        org.full_clean()
    for counterparty in Counterparty.objects.all():
        counterparty.full_clean()


def test_documents_are_posted_in_the_expected_numbers(demo: Any) -> None:
    stock_kinds = {"opening balances", "purchases", "transfers", "write-offs", "stock counts", "surpluses"}
    assert {k: v for k, v in demo.documents.items() if k in stock_kinds} == {
        # transfers: 16 in the history and this morning's goods for a store, on today's delivery trip
        "opening balances": 3, "purchases": 30, "transfers": 17, "write-offs": 10, "stock counts": 6,
        "surpluses": 3,
    }
    # The sales part: orders, most of them shipped and paid, a goods issue from the order-based warehouse,
    # an advance and a refund; quotes in every state, two answered with a second version.
    sales = {k: v for k, v in demo.documents.items() if k not in stock_kinds}
    assert set(sales) == {"quote", "sales order", "shipment", "goods issue", "incoming payment", "refund",
                          "delivery trip"}
    assert sales["delivery trip"] == 1  # today's, on route (see delivery's demo test)
    assert sales["sales order"] >= 30 and sales["shipment"] <= sales["sales order"] < sales["incoming payment"] + 20
    assert sales["refund"] == 1
    from torg.sales.models import Quote

    assert sales["quote"] == Quote.objects.count() == 11
    assert sorted(Quote.objects.values_list("status", flat=True)) == sorted(
        ["draft"] * 4 + ["sent"] * 2 + ["answered"] * 2 + ["accepted", "rejected", "rejected"])  # versions 2: drafts


def test_demo_orders_are_in_many_states(demo: Any) -> None:
    from torg.sales.models import OrderState, OrderStateCode

    states = set(OrderState.objects.values_list("state", flat=True))
    assert {OrderStateCode.CLOSED, OrderStateCode.AWAITING_APPROVAL, OrderStateCode.AWAITING_PAYMENT,
            OrderStateCode.SHIPPING} <= states
    assert OpeningBalance.objects.filter(posted=True).count() == 3
    assert Purchase.objects.filter(posted=True).count() == 30
    assert Transfer.objects.filter(posted=True).count() == 17  # with today's for a store (see above)
    assert WriteOff.objects.filter(posted=True).count() == 10
    assert Surplus.objects.filter(posted=True).count() == 3
    assert StockCount.objects.filter(status=StockCount.Status.COMPLETED).count() == 6
    assert Purchase.objects.filter(posted=False).count() == 0
    last = timezone.make_aware(dt.datetime(2025, 6, 18))
    assert Purchase.objects.filter(date__gte=last).count() == 0


def test_every_register_verifies_and_the_stock_report_has_numbers(demo: Any) -> None:
    for register in all_registers():
        assert verify_register(register) == []
    moment = timezone.make_aware(dt.datetime(2025, 6, 18))
    by_warehouse = Stock.balances_at(moment, ["warehouse"])
    assert len(by_warehouse) == 5
    assert all(v["quantity"] > 0 for v in by_warehouse.values())
    assert Stock.total_model.objects.filter(quantity__lt=0).count() == 0
    costs = StockCost.balances(["organization"])
    assert len(costs) == 3
    assert all(v["quantity"] > 0 and v["amount"] > 0 for v in costs.values())
    # The cost register holds exactly what the warehouses hold, organization by organization.
    stock = Stock.balances(["warehouse"])
    names = {w.pk: w.name for w in Warehouse.objects.all()}
    td = Organization.objects.get(prefix="ТД")
    td_quantity = sum(v["quantity"] for (w,), v in stock.items() if names[w] not in {
        "Склад Юг (Видное)", "Магазин в Химках"})
    assert costs[(td.pk,)]["quantity"] == td_quantity


def test_every_demo_role_has_a_user_with_its_group(demo: Any) -> None:
    assert {u for u, *_ in DEMO_USERS} == {
        "admin", "manager", "storekeeper", "accountant", "cashier", "courier", "logistician", "director"}
    assert {role for _u, role, *_ in DEMO_USERS} == set(Role.values)
    for username, role, *_ in DEMO_USERS:
        user = User.objects.get(username=username)
        assert list(user.groups.values_list("name", flat=True)) == [role]
        assert user.check_password(DEMO_PASSWORD)
        assert user.is_superuser == (role == Role.ADMINISTRATOR)


class _Rollback(Exception):
    pass


def _fingerprint() -> dict[str, Any]:
    return {
        "items": list(Item.objects.order_by("name").values_list("name", "sku", "weight_kg")),
        "prices": list(ItemPrice.objects.order_by("item__name", "price_type__name", "valid_from")
                       .values_list("item__name", "price_type__name", "valid_from", "price")),
        "partners": list(Partner.objects.order_by("name").values_list("name", "latitude")),
        "purchases": list(Purchase.objects.order_by("number").values_list("number", "date", "supplier__name")),
        "transfers": list(Transfer.objects.order_by("number").values_list("number", "date")),
        "costs": sorted(StockCost.total_model.objects.values_list("item__name", "organization__name", "quantity",
                                                                  "amount")),
    }


def test_the_same_seed_gives_the_same_company(db: Any) -> None:
    try:
        with transaction.atomic():
            load_demo(seed=7, scale="small", today=TODAY)
            first = _fingerprint()
            raise _Rollback
    except _Rollback:
        pass
    assert Organization.objects.count() == 0
    load_demo(seed=7, scale="small", today=TODAY)
    second = _fingerprint()
    assert first == second
    assert len(first["purchases"]) > 0


def test_another_seed_gives_another_company(db: Any) -> None:
    try:
        with transaction.atomic():
            load_demo(seed=1, scale="small", today=TODAY)
            first = _fingerprint()
            raise _Rollback
    except _Rollback:
        pass
    load_demo(seed=2, scale="small", today=TODAY)
    assert _fingerprint()["items"] != first["items"]


def test_load_demo_command_if_empty_loads_once(db: Any) -> None:
    out = StringIO()
    call_command("load_demo", "--if-empty", "--scale", "small", "--seed", "3", stdout=out)
    assert "The demo company is ready." in out.getvalue()
    items = Item.objects.count()
    out = StringIO()
    call_command("load_demo", "--if-empty", "--scale", "small", stdout=out)
    assert "not loaded again" in out.getvalue()
    assert Item.objects.count() == items


def test_load_demo_command_refuses_a_database_with_data(organization: Organization) -> None:
    with pytest.raises(CommandError, match="only into an empty database"):
        call_command("load_demo", "--scale", "small", stdout=StringIO())
    assert Item.objects.count() == 0
    assert Organization.objects.count() == 1


def test_demo_logins_lists_every_role(db: Any) -> None:
    out = StringIO()
    call_command("demo_logins", "--url", "http://127.0.0.1:8123", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8123" in text
    for username, *_ in DEMO_USERS:
        assert f" {username} " in text
