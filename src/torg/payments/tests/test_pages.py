"""Payment pages through the test client: registering a payment with the allocation proposed oldest-due first,
the excess over an order's remaining amount shown as going to the advance before saving, a form sent twice
registering once, re-allocation, refunds never above the advance, and roles without the capability refused."""
from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import BankAccount, CashDesk, Partner
from torg.conftest import moment
from torg.core.permissions import Role
from torg.payments.models import Funds, IncomingPayment, PaymentAllocation, Refund
from torg.sales import services
from torg.sales.models import ClientAdvances, ClientSettlements, OrderState, SalesOrder, SalesOrderLine

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def buyer(db: Any) -> Partner:
    return Partner.objects.create(name="Produkty na Lesnoy", is_client=True)


@pytest.fixture
def till(organization: Any) -> CashDesk:
    return CashDesk.objects.create(organization=organization, name="Main till")


@pytest.fixture
def account(organization: Any) -> BankAccount:
    return BankAccount.objects.create(organization=organization, name="Settlement account",
                                      number="40702810900000000001", bik="044525225")


@pytest.fixture
def cashier(role_user: Any) -> Any:
    return role_user(Role.CASHIER, "cashier")


@pytest.fixture
def web(client: Client, cashier: Any) -> Client:
    client.force_login(cashier)
    return client


@pytest.fixture
def orders(organization: Any, warehouse: Any, buyer: Any, milk: Any, role_user: Any) -> list[SalesOrder]:
    """Two agreed orders of the client: 1 000.00 (older) and 500.00."""
    director = role_user(Role.SALES_DIRECTOR, "director")
    result = []
    for day, quantity in (("2026-03-02", "10"), ("2026-03-04", "5")):
        order = SalesOrder(organization=organization, partner=buyer, warehouse=warehouse, date=moment(day, 10))
        services.save_order(order, [SalesOrderLine(item=milk, quantity=D(quantity), price=D(100))], user=director,
                            post=True)
        services.submit_order(order, user=director)
        result.append(order)
    return result


def form_data(organization: Any, buyer: Any, till: Any, amount: str, **extra: Any) -> dict[str, Any]:
    data = {"date": "2026-03-12T12:00:00", "organization": organization.pk, "partner": buyer.pk, "method": "cash",
            "cash_desk": till.pk, "bank_account": "", "amount": amount, "purpose": "", "comment": "",
            "idempotency_key": "page-key-1", "action": "register"}
    data.update(extra)
    return data


def paid_on(order: SalesOrder) -> Decimal:
    return ClientSettlements.balances(["order"], order=order).get((order.pk,), {"paid": D(0)})["paid"]


def advance(organization: Any, buyer: Any) -> Decimal:
    return ClientAdvances.balance(organization=organization, partner=buyer)["amount"]


def test_the_form_carries_a_fresh_idempotency_key(web: Client) -> None:
    first = web.get(reverse("payments:payment_new")).content.decode()
    second = web.get(reverse("payments:payment_new")).content.decode()
    keys = [re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html).group(1) for html in (first, second)]
    assert keys[0] != keys[1]


def test_the_allocation_is_proposed_oldest_due_first_and_registered_as_shown(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    older, newer = orders
    preview = web.post(reverse("payments:allocation_preview"),
                       {**form_data(organization, buyer, till, "1200"), "auto": "1"})
    html = preview.content.decode()
    assert preview.status_code == 200
    assert f'name="alloc-o{older.pk}" value="1000.00"' in html
    assert f'name="alloc-o{newer.pk}" value="200.00"' in html
    assert '<dd class="col-4 col-md-2 text-end mb-1 fw-semibold" id="to-advance">0.00</dd>' in html
    assert 'id="client-panel" class="card" hx-swap-oob="true"' in html  # the client's money comes along

    # registered without touching the table (the page sends what it showed)
    data = form_data(organization, buyer, till, "1200", allocation_shown="1",
                     **{f"alloc-o{older.pk}": "1000.00", f"alloc-o{newer.pk}": "200.00"})
    response = web.post(reverse("payments:payment_new"), data)
    payment = IncomingPayment.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("payments:payment_detail",
                                                                           args=[payment.pk])
    assert payment.posted and payment.idempotency_key == "page-key-1"
    assert (paid_on(older), paid_on(newer), advance(organization, buyer)) == (D(1000), D(200), D(0))
    assert Funds.balance(organization=organization, cash_desk=till, bank_account=None)["amount"] == D(1200)

    page = web.get(response["Location"]).content.decode()
    assert page.count("<tr><td>Sales order No.") == 2
    assert '<dd class="col-sm-8" id="payment-advance">0.00</dd>' in page


def test_without_the_table_the_service_allocates_oldest_first(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    older, newer = orders
    page = web.get(reverse("payments:payment_new"), {"organization": organization.pk, "partner": buyer.pk})
    html = page.content.decode()
    assert html.count('class="allocation-row"') == 2  # what the client owes, before the amount is known
    assert 'name="allocation_shown"' not in html and f'name="alloc-o{older.pk}"' not in html
    response = web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "1700"))
    assert response.status_code == 302
    assert (paid_on(older), paid_on(newer), advance(organization, buyer)) == (D(1000), D(500), D(200))


def test_the_excess_over_an_orders_remaining_amount_is_shown_going_to_the_advance_before_saving(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    older, newer = orders
    typed = {"allocation_shown": "1", f"alloc-o{older.pk}": "", f"alloc-o{newer.pk}": "800"}
    preview = web.post(reverse("payments:allocation_preview"), {**form_data(organization, buyer, till, "800"),
                                                               **typed})
    html = preview.content.decode()
    row = html.split(f'data-key="o{newer.pk}"')[1].split("</tr>")[0]
    assert '<td class="text-end text-nowrap allocation-applied">500.00</td>' in row
    assert "+300.00" in row
    assert 'id="to-advance">300.00</dd>' in html
    assert "300.00 is more than is left to pay on the orders and shipments it was typed for" in html
    assert IncomingPayment.objects.count() == 0  # a preview writes nothing

    response = web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "800", **typed))
    assert response.status_code == 302
    payment = IncomingPayment.objects.get()
    assert list(payment.lines.values_list("order_id", "amount")) == [(newer.pk, D(500))]
    assert (paid_on(older), paid_on(newer), advance(organization, buyer)) == (D(0), D(500), D(300))


def test_a_form_sent_twice_registers_one_payment(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    page = web.get(reverse("payments:payment_new")).content.decode()
    key = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', page).group(1)
    data = form_data(organization, buyer, till, "300", idempotency_key=key)
    first = web.post(reverse("payments:payment_new"), data)
    second = web.post(reverse("payments:payment_new"), data, follow=True)
    payment = IncomingPayment.objects.get()
    assert first["Location"] == second.redirect_chain[0][0] == reverse("payments:payment_detail", args=[payment.pk])
    assert "This payment was already registered (the form was sent twice)" in second.content.decode()
    assert paid_on(orders[0]) == D(300)
    assert Funds.balance(organization=organization, cash_desk=till, bank_account=None)["amount"] == D(300)


def test_a_payment_the_service_refuses_keeps_the_input_and_writes_nothing(
        web: Client, organization: Any, buyer: Any, till: Any, account: Any, orders: list[SalesOrder]) -> None:
    response = web.post(reverse("payments:payment_new"),
                        form_data(organization, buyer, till, "250", method="bank", cash_desk=""))
    html = response.content.decode()
    assert response.status_code == 200
    assert "A bank transfer or card payment arrives on a bank account: choose it." in html
    assert 'value="250"' in html
    response = web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "abc"))
    assert "Please correct the errors below." in response.content.decode()
    typed = {"allocation_shown": "1", f"alloc-o{orders[0].pk}": "200", f"alloc-o{orders[1].pk}": "100"}
    html = web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "250", **typed)
                    ).content.decode()
    assert "The lines allocate 300.00, more than the payment of 250.00: lower them by 50.00." in html
    # a negative amount is the amount's error, told on its field — not lines allocating "more" than it
    html = web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "-5")).content.decode()
    assert "The amount must be greater than zero." in html
    assert "lower them by" not in html
    assert IncomingPayment.objects.count() == 0
    # by bank transfer onto the account it is registered
    response = web.post(reverse("payments:payment_new"),
                        form_data(organization, buyer, till, "250", method="bank", cash_desk="",
                                  bank_account=account.pk))
    assert response.status_code == 302
    assert Funds.balance(organization=organization, cash_desk=None, bank_account=account)["amount"] == D(250)


def test_a_posted_payment_is_re_allocated_from_its_page(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    older, newer = orders
    web.post(reverse("payments:payment_new"), form_data(
        organization, buyer, till, "400", allocation_shown="1", **{f"alloc-o{older.pk}": "400"}))
    payment = IncomingPayment.objects.get()
    assert (paid_on(older), paid_on(newer)) == (D(400), D(0))
    page = web.get(reverse("payments:payment_detail", args=[payment.pk])).content.decode()
    assert f'name="alloc-o{older.pk}" value="400.00"' in page and 'id="reallocation-form"' in page

    response = web.post(reverse("payments:payment_detail", args=[payment.pk]), {
        "action": "allocate", "version": payment.version, "allocation_shown": "1",
        f"alloc-o{older.pk}": "100", f"alloc-o{newer.pk}": "250"})
    assert response.status_code == 302
    assert (paid_on(older), paid_on(newer), advance(organization, buyer)) == (D(100), D(250), D(50))
    assert sorted(PaymentAllocation.objects.values_list("order_id", "amount")) == sorted(
        [(older.pk, D(100)), (newer.pk, D(250))])


def test_a_payment_entered_twice_is_unposted_from_its_page_and_posted_again_while_refused_when_its_advance_was_spent(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    older, newer = orders
    web.post(reverse("payments:payment_new"), form_data(
        organization, buyer, till, "1200", allocation_shown="1", **{f"alloc-o{older.pk}": "1000"}))
    payment = IncomingPayment.objects.get()
    assert (paid_on(older), advance(organization, buyer)) == (D(1000), D(200))
    url = reverse("payments:payment_detail", args=[payment.pk])
    assert 'value="unpost"' in web.get(url).content.decode()

    response = web.post(url, {"action": "unpost"})
    assert response.status_code == 302
    payment.refresh_from_db()
    assert not payment.posted
    assert (paid_on(older), advance(organization, buyer)) == (D(0), D(0))
    assert Funds.balance(organization=organization, cash_desk=till, bank_account=None)["amount"] == D(0)
    assert OrderState.objects.get(order=older).paid_amount == D(0)  # the order's state follows
    assert 'value="post"' in web.get(url).content.decode()

    # -- posted again: the same allocation, the rest back to the advance
    assert web.post(url, {"action": "post"}).status_code == 302
    assert (paid_on(older), advance(organization, buyer)) == (D(1000), D(200))

    # -- its advance refunded: unposting would take back money the client no longer holds, so it is refused
    refund_data = {"date": "2026-03-13T10:00:00", "organization": organization.pk, "partner": buyer.pk,
                   "method": "cash", "cash_desk": till.pk, "bank_account": "", "amount": "200", "comment": "",
                   "idempotency_key": "refund-x"}
    assert web.post(reverse("payments:refund_new"), refund_data).status_code == 302
    response = web.post(url, {"action": "unpost"})
    assert response.status_code == 200 and 'id="payment-error"' in response.content.decode()
    assert "Money in Main till would fall to -200. Later documents use it: Refund" in response.content.decode()
    payment.refresh_from_db()
    assert payment.posted and paid_on(older) == D(1000) and advance(organization, buyer) == D(0)


def test_a_refund_above_the_advance_is_refused_and_one_within_it_is_registered_once(
        web: Client, organization: Any, buyer: Any, till: Any) -> None:
    web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "300"))
    assert advance(organization, buyer) == D(300)  # no open orders: all of it is an advance
    page = web.get(reverse("payments:refund_new"), {"organization": organization.pk, "partner": buyer.pk})
    assert '<dd class="col-5 text-end mb-1" id="advance-held">300.00</dd>' in page.content.decode()

    data = {"date": "2026-03-13T10:00:00", "organization": organization.pk, "partner": buyer.pk, "method": "cash",
            "cash_desk": till.pk, "bank_account": "", "amount": "500", "comment": "", "idempotency_key": "refund-1"}
    response = web.post(reverse("payments:refund_new"), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert "A refund cannot exceed the advance the client holds: 300.00 is held, 500.00 asked." in html
    assert "At most 300.00." in html
    assert Refund.objects.count() == 0 and advance(organization, buyer) == D(300)

    data["amount"] = "200"
    first = web.post(reverse("payments:refund_new"), data)
    second = web.post(reverse("payments:refund_new"), data)
    refund = Refund.objects.get()
    assert first["Location"] == second["Location"] == reverse("payments:refund_detail", args=[refund.pk])
    assert advance(organization, buyer) == D(100)
    assert Funds.balance(organization=organization, cash_desk=till, bank_account=None)["amount"] == D(100)
    assert web.get(first["Location"]).status_code == 200


def test_lists_show_the_allocated_part_and_the_advance(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder]) -> None:
    web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "1800"))
    html = web.get(reverse("payments:payment_list")).content.decode()
    row = html.split("<tbody>")[1].split("</tr>")[0]
    assert "1,800.00" in row and "1,500.00" in row and "300.00" in row
    assert web.get(reverse("payments:refund_list")).status_code == 200
    panel = web.get(reverse("payments:client_panel"), {"organization": organization.pk, "partner": buyer.pk})
    assert 'id="advance-held">300.00</dd>' in panel.content.decode()


def test_roles_without_the_capability_are_refused(client: Client, role_user: Any, organization: Any, buyer: Any,
                                                  till: Any) -> None:
    storekeeper = role_user(Role.STOREKEEPER, "keeper")
    client.force_login(storekeeper)
    for name in ("payments:payment_list", "payments:payment_new", "payments:refund_list", "payments:refund_new"):
        assert client.get(reverse(name)).status_code == 403
    director = Client()
    director.force_login(role_user(Role.SALES_DIRECTOR, "director"))
    assert director.get(reverse("payments:payment_list")).status_code == 200  # may look
    assert director.get(reverse("payments:payment_new")).status_code == 403
    assert director.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "10")).status_code == 403
    assert director.post(reverse("payments:refund_new"), {"amount": "10"}).status_code == 403
    assert IncomingPayment.objects.count() == 0 and Refund.objects.count() == 0


def test_the_payments_list_reads_a_bounded_number_of_queries(
        web: Client, organization: Any, buyer: Any, till: Any, orders: list[SalesOrder],
        django_assert_max_num_queries: Any) -> None:
    for n in range(8):
        web.post(reverse("payments:payment_new"), form_data(organization, buyer, till, "150", idempotency_key=f"k{n}"))
    assert IncomingPayment.objects.count() == 8
    with django_assert_max_num_queries(8):
        html = web.get(reverse("payments:payment_list")).content.decode()
    assert html.count('href="/payments/') >= 8
