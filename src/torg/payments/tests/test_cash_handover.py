"""Couriers' cash handover (сдача выручки): cash taken at the door sits on the courier's own cash desk until it is
handed over to a company cash desk; the counted amount moves in `Funds`, a shortage stays on the courier's desk in
sight, a surplus is refused, a repeated key makes one handover, wrong desks are refused — through the services and
through the pages, with the permission matrix of the pages."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import CashDesk, Organization
from torg.conftest import moment
from torg.core.documents import save_document
from torg.core.errors import CoreError, ErrorCode
from torg.core.permissions import Role
from torg.core.registers import RecordType
from torg.payments import cash_handover as handovers
from torg.payments.cash_handover import CourierCash, cash_held, couriers_cash, hand_over_cash
from torg.payments.models import CashHandover, Funds, FundsMovement, IncomingPayment, PaymentMethod
from torg.payments.services import courier_cash_desk, register_payment
from torg.sales.tests import conftest as sales_fixtures

D = Decimal
pytestmark = pytest.mark.django_db

cash_desk = sales_fixtures.cash_desk  # the company's "Main till" of the organization
client_partner = sales_fixtures.client_partner


@pytest.fixture
def courier(role_user: Any) -> User:
    user = role_user(Role.COURIER, "courier")
    user.first_name, user.last_name = "Pyotr", "Kuryerov"
    user.save()
    return user


@pytest.fixture
def cashier(role_user: Any) -> User:
    return role_user(Role.CASHIER, "cashier")


@pytest.fixture
def take_cash(client_partner: Any) -> Any:
    """A courier takes cash at the door: a cash payment of the client into the courier's own desk."""
    counter = {"n": 0}

    def take(courier: User, organization: Organization, amount: str) -> IncomingPayment:
        counter["n"] += 1
        payment = IncomingPayment(organization=organization, partner=client_partner, method=PaymentMethod.CASH,
                                  cash_desk=courier_cash_desk(courier, organization.pk), amount=D(amount),
                                  date=moment("2026-03-10", 12 + counter["n"] % 6))
        return register_payment(payment, [], user=courier, idempotency_key=f"door-{counter['n']}")

    return take


def desk_balance(desk: CashDesk) -> Decimal:
    return Funds.balance(organization=desk.organization_id, cash_desk=desk, bank_account=None)["amount"]


def written() -> tuple[int, int]:
    """How many handovers and Funds movements there are: a refusal changes neither."""
    return CashHandover.objects.count(), FundsMovement.objects.count()


# ------------------------------------------------------------------ services
def test_cash_taken_at_the_door_is_held_by_the_courier(organization: Any, other_organization: Any, courier: User,
                                                       cash_desk: CashDesk, take_cash: Any, role_user: Any,
                                                       client_partner: Any, django_assert_num_queries: Any) -> None:
    # given: the courier took 1 500.00 for one organization and 300.00 for another; a second courier has a desk
    # but nothing on it; the company's till took 700.00 over the counter
    take_cash(courier, organization, "1000")
    take_cash(courier, organization, "500")
    take_cash(courier, other_organization, "300")
    courier_cash_desk(role_user(Role.COURIER, "idle"), organization.pk)
    register_payment(IncomingPayment(organization=organization, partner=client_partner, method=PaymentMethod.CASH,
                                     cash_desk=cash_desk, amount=D(700), date=moment("2026-03-10")), [])

    # then: the courier holds it, per organization; the idle courier and the company's till are not couriers' cash
    assert cash_held(courier) == {organization.pk: D("1500.00"), other_organization.pk: D("300.00")}
    with django_assert_num_queries(1):
        rows = couriers_cash()
    desk = courier_cash_desk(courier, organization.pk)
    other_desk = courier_cash_desk(courier, other_organization.pk)
    assert rows == [CourierCash(courier, other_organization, other_desk, D("300.00")),
                    CourierCash(courier, organization, desk, D("1500.00"))]  # ordered by organization name
    assert [(r.courier_id, r.organization_id, r.balance) for r in couriers_cash(organization.pk)] == [
        (courier.pk, organization.pk, D("1500.00"))]
    assert all(isinstance(r.balance, Decimal) for r in rows)


def test_a_full_handover_moves_the_cash_exactly(organization: Any, courier: User, cashier: User,
                                                cash_desk: CashDesk, take_cash: Any) -> None:
    take_cash(courier, organization, "1500")
    desk = courier_cash_desk(courier, organization.pk)

    handover = hand_over_cash(courier, organization.pk, cash_desk, D("1500.00"), user=cashier, comment="evening")

    handover.refresh_from_db()
    assert handover.posted and handover.number.startswith("РМ")
    assert (handover.courier_id, handover.from_cash_desk_id, handover.to_cash_desk_id, handover.author_id) == (
        courier.pk, desk.pk, cash_desk.pk, cashier.pk)
    assert (handover.expected, handover.amount, handover.shortage, handover.comment) == (
        D("1500.00"), D("1500.00"), D("0.00"), "evening")
    assert desk_balance(desk) == D("0.00")
    assert desk_balance(cash_desk) == D("1500.00")
    moves = sorted((m.cash_desk_id, m.record_type, m.amount) for m in Funds.movements_of(handover))
    assert moves == sorted([(desk.pk, RecordType.EXPENSE, D("1500.00")),
                            (cash_desk.pk, RecordType.RECEIPT, D("1500.00"))])
    assert cash_held(courier) == {}
    assert couriers_cash() == []


def test_a_short_handover_leaves_the_difference_on_the_courier_desk(organization: Any, courier: User,
                                                                    cashier: User, cash_desk: CashDesk,
                                                                    take_cash: Any) -> None:
    take_cash(courier, organization, "1500")
    desk = courier_cash_desk(courier, organization.pk)

    handover = hand_over_cash(courier, organization.pk, cash_desk, D("1450"), user=cashier)

    assert (handover.expected, handover.amount, handover.shortage) == (D("1500.00"), D("1450.00"), D("50.00"))
    assert desk_balance(desk) == D("50.00")
    assert desk_balance(cash_desk) == D("1450.00")
    assert cash_held(courier) == {organization.pk: D("50.00")}
    assert [(r.courier_id, r.balance) for r in couriers_cash()] == [(courier.pk, D("50.00"))]

    # the rest handed over later closes it
    rest = hand_over_cash(courier, organization.pk, cash_desk, D("50"), user=cashier)
    assert (rest.expected, rest.shortage) == (D("50.00"), D("0.00"))
    assert cash_held(courier) == {}


def test_a_surplus_is_refused_naming_what_the_courier_desk_holds(organization: Any, courier: User, cashier: User,
                                                                 cash_desk: CashDesk, take_cash: Any) -> None:
    take_cash(courier, organization, "1500")
    desk = courier_cash_desk(courier, organization.pk)
    before = written()

    with pytest.raises(CoreError) as refused:
        hand_over_cash(courier, organization.pk, cash_desk, D("1600"), user=cashier, idempotency_key="k-surplus")

    assert refused.value.code == ErrorCode.INVALID
    assert refused.value.fields["amount"] == [
        "Courier's cash: Pyotr Kuryerov holds 1,500.00: at most 1,500.00 can be handed over, 1,600.00 was counted."]
    assert written() == before
    assert desk_balance(desk) == D("1500.00") and desk_balance(cash_desk) == D("0.00")


def test_the_register_refuses_a_surplus_the_check_did_not_see(organization: Any, courier: User, cashier: User,
                                                              cash_desk: CashDesk, take_cash: Any,
                                                              monkeypatch: Any) -> None:
    """Another handover took the cash between the check and the posting: Funds is controlled, the courier's desk
    never goes below zero, and the refusal names what it holds."""
    take_cash(courier, organization, "1500")
    desk = courier_cash_desk(courier, organization.pk)
    before = written()
    monkeypatch.setattr(handovers, "_check", lambda *args: {})  # as if the balance read had been 2 000.00

    with pytest.raises(CoreError) as refused:
        hand_over_cash(courier, organization.pk, cash_desk, D("2000"), user=cashier)

    assert refused.value.code == ErrorCode.SHORTAGE
    assert refused.value.message == ("Courier's cash: Pyotr Kuryerov holds 1,500.00: at most 1,500.00 can be "
                                     "handed over, 2,000.00 was counted.")
    assert written() == before
    assert desk_balance(desk) == D("1500.00")

    # and a handover posted by other means is refused by the register all the same
    direct = CashHandover(organization=organization, courier=courier, from_cash_desk=desk, to_cash_desk=cash_desk,
                          expected=D(1500), amount=D(1501))
    with pytest.raises(CoreError) as shortage:
        save_document(direct, None, user=cashier, post=True)
    assert shortage.value.code == ErrorCode.SHORTAGE
    assert shortage.value.message == "Money in Courier's cash: Pyotr Kuryerov: need 1501, have 1500"
    assert written() == before


def test_a_repeated_idempotency_key_makes_one_handover(organization: Any, courier: User, cashier: User,
                                                       cash_desk: CashDesk, take_cash: Any) -> None:
    take_cash(courier, organization, "1500")

    first = hand_over_cash(courier, organization.pk, cash_desk, D("1000"), user=cashier, idempotency_key="k-1")
    again = hand_over_cash(courier, organization.pk, cash_desk, D("1000"), user=cashier, idempotency_key="k-1")

    assert again.pk == first.pk
    assert CashHandover.objects.count() == 1
    assert cash_held(courier) == {organization.pk: D("500.00")}
    assert desk_balance(cash_desk) == D("1000.00")


@pytest.mark.parametrize("case", ["zero", "negative", "other_organization", "courier_desk", "own_desk",
                                  "marked_desk", "nothing_held", "all_handed_over"])
def test_wrong_handovers_are_refused_with_nothing_written(case: str, organization: Any, other_organization: Any,
                                                          courier: User, cashier: User, cash_desk: CashDesk,
                                                          take_cash: Any, role_user: Any) -> None:
    take_cash(courier, organization, "1500")
    who, amount, target, field = courier, D("100"), cash_desk, "to_cash_desk"
    if case == "zero":
        amount, field = D("0"), "amount"
    elif case == "negative":
        amount, field = D("-5"), "amount"
    elif case == "other_organization":
        target = CashDesk.objects.create(organization=other_organization, name="Northern till")
    elif case == "courier_desk":
        target = courier_cash_desk(role_user(Role.COURIER, "colleague"), organization.pk)
    elif case == "own_desk":
        target = courier_cash_desk(courier, organization.pk)
    elif case == "marked_desk":
        target = CashDesk.objects.create(organization=organization, name="Old till", deletion_mark=True)
    elif case == "nothing_held":
        who, field = role_user(Role.COURIER, "empty-handed"), "courier"
    elif case == "all_handed_over":
        hand_over_cash(courier, organization.pk, cash_desk, D("1500"), user=cashier)
        field = "courier"
    before = written()
    balances = {d.pk: desk_balance(d) for d in CashDesk.objects.all()}

    with pytest.raises(CoreError) as refused:
        hand_over_cash(who, organization.pk, target, amount, user=cashier, idempotency_key=f"k-{case}")

    assert refused.value.code == ErrorCode.INVALID
    assert field in refused.value.fields
    assert written() == before
    assert {d.pk: desk_balance(d) for d in CashDesk.objects.all()} == balances


# ------------------------------------------------------------------ pages
@pytest.fixture
def web(client: Client, cashier: User) -> Client:
    client.force_login(cashier)
    return client


def test_the_list_shows_each_courier_cash_with_a_button_to_accept(web: Client, organization: Any, courier: User,
                                                                   take_cash: Any) -> None:
    take_cash(courier, organization, "1500")

    page = web.get(reverse("payments:couriers_cash")).content.decode()

    assert "Pyotr Kuryerov" in page and "ООО «Ромашка»" in page and "1,500.00" in page
    assert reverse("payments:cash_handover_new", args=[courier.pk, organization.pk]) in page
    empty = web.get(reverse("payments:couriers_cash"), {"organization": organization.pk + 1000}).content.decode()
    assert "No courier holds any cash." in empty


def test_accepting_cash_through_the_page_shows_the_difference(web: Client, organization: Any, courier: User,
                                                              cash_desk: CashDesk, take_cash: Any) -> None:
    take_cash(courier, organization, "1500")
    url = reverse("payments:cash_handover_new", args=[courier.pk, organization.pk])

    form = web.get(url)
    assert form.status_code == 200
    assert form.context["form"]["amount"].value() == "1500.00"  # what the courier holds, proposed
    assert form.context["form"]["to_cash_desk"].value() == cash_desk.pk  # the organization's only company desk
    key = form.context["form"]["idempotency_key"].value()
    data = {"amount": "1 450,00", "to_cash_desk": cash_desk.pk, "comment": "two notes missing",
            "idempotency_key": key}

    response = web.post(url, data)

    handover = CashHandover.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("payments:cash_handover_detail",
                                                                          args=[handover.pk])
    assert (handover.expected, handover.amount, handover.comment) == (D("1500.00"), D("1450.00"),
                                                                      "two notes missing")
    page = web.get(response["Location"]).content.decode()
    assert 'id="handover-expected">1,500.00' in page
    assert 'id="handover-amount">1,450.00' in page
    assert 'text-danger fw-semibold" id="handover-difference">−50.00' in page
    assert "Short by 50.00" in page
    assert 'id="held-now">50.00' in page

    # the form sent twice makes one handover
    again = web.post(url, data, follow=True)
    assert CashHandover.objects.count() == 1
    assert "already made" in again.content.decode()
    # and the past handovers list shows it
    listing = web.get(reverse("payments:cash_handover_list")).content.decode()
    assert handover.number in listing and "50.00" in listing


def test_a_surplus_through_the_page_is_refused_at_the_field(web: Client, organization: Any, courier: User,
                                                            cash_desk: CashDesk, take_cash: Any) -> None:
    take_cash(courier, organization, "1500")
    url = reverse("payments:cash_handover_new", args=[courier.pk, organization.pk])

    response = web.post(url, {"amount": "1600", "to_cash_desk": cash_desk.pk, "idempotency_key": "k-page"})

    assert response.status_code == 200
    assert response.context["form"].errors["amount"] == [
        "Courier's cash: Pyotr Kuryerov holds 1,500.00: at most 1,500.00 can be handed over, 1,600.00 was counted."]
    bad = web.post(url, {"amount": "a lot", "to_cash_desk": cash_desk.pk, "idempotency_key": "k-page-2"})
    assert bad.context["form"].errors["amount"] == ["Enter the counted amount as a number, such as 1250.50."]
    assert CashHandover.objects.count() == 0


def _pages(courier: User, organization: Any, handover: CashHandover) -> list[str]:
    return [reverse("payments:couriers_cash"),
            reverse("payments:cash_handover_new", args=[courier.pk, organization.pk]),
            reverse("payments:cash_handover_detail", args=[handover.pk]),
            reverse("payments:cash_handover_list")]


def test_permission_matrix(client: Client, organization: Any, courier: User, cashier: User, cash_desk: CashDesk,
                           take_cash: Any, role_user: Any) -> None:
    take_cash(courier, organization, "1500")
    handover = hand_over_cash(courier, organization.pk, cash_desk, D("1000"), user=cashier)
    pages = _pages(courier, organization, handover)
    accept = pages[1]
    post_data = {"amount": "100", "to_cash_desk": cash_desk.pk, "idempotency_key": "k-matrix"}

    for url in pages:
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/login/?next="), url
    assert client.post(accept, post_data).status_code == 302

    for role in (Role.COURIER, Role.STOREKEEPER, Role.LOGISTICIAN):
        client.force_login(courier if role == Role.COURIER else role_user(role))
        for url in pages:
            assert client.get(url).status_code == 403, (role, url)
        assert client.post(accept, post_data).status_code == 403, role
    assert CashHandover.objects.count() == 1

    for role in (Role.CASHIER, Role.ACCOUNTANT, Role.ADMINISTRATOR):
        client.force_login(cashier if role == Role.CASHIER else role_user(role))
        for url in pages:
            assert client.get(url).status_code == 200, (role, url)
