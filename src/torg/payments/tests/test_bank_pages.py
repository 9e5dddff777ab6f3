"""Bank-statement pages through the test client, as the accountant uses them: upload a file and see its lines and
its problems line by line, post the matched lines, match an unmatched line to a client and its order and post it,
post an acquiring credit with its difference, export refunds as payment orders; other roles are refused and do
not see the menu entries."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import BankAccount, Partner
from torg.conftest import moment
from torg.core.permissions import Role
from torg.payments import bank_exchange as bx
from torg.payments.models import (
    AcquiringCredit,
    BankStatement,
    BankStatementLine,
    IncomingPayment,
    LineStatus,
    PaymentMethod,
)
from torg.payments.services import register_payment
from torg.payments.tests.bank_helpers import SBER_BIK, SBER_CORR, Side, account, document, inn, statement_file
from torg.payments.tests.conftest import DAY, our_side
from torg.sales.models import SalesOrder

D = Decimal
pytestmark = pytest.mark.django_db
BANK = Side("30233810200000000001", "7707083893", "773601001", "ПАО СБЕРБАНК", SBER_BIK, SBER_CORR, "ПАО СБЕРБАНК")


@pytest.fixture
def web(client: Client, accountant: Any) -> Client:
    client.force_login(accountant)
    return client


def upload(web: Client, data: bytes, name: str = "kl_to_1c.txt") -> Any:
    return web.post(reverse("payments:bank_import"), {"file": SimpleUploadedFile(name, data, "text/plain")})


def day_file(accounts: dict[str, BankAccount], clients: dict[str, Any], *extra: list[str]) -> bytes:
    ours = our_side(accounts["main"])
    return statement_file([ours.account], DAY, DAY, [
        document("101", DAY, "1000.00", clients["c1_side"], ours, "Оплата по счету № РМ-000001", credited=DAY),
        document("9", DAY, "2400.00", Side(account(777), inn(777), "771001001", "ООО «Новый плательщик»"), ours,
                 "Оплата за ООО «Клиент 2»", credited=DAY),
        document("57", DAY, "12.00", ours, Side(account(5), inn(5000), "", "ООО «Связь»"), "Связь", debited=DAY),
        *extra])


def test_the_accountant_uploads_a_statement_and_posts_its_matched_lines(
        web: Client, organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any],
        orders: dict[str, SalesOrder], django_assert_max_num_queries: Any) -> None:
    broken = document("58", DAY, "0", clients["c1_side"], our_side(accounts["main"]), "x", credited=DAY,
                      amount_text="abc")
    response = upload(web, day_file(accounts, clients, broken))

    statement = BankStatement.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("payments:bank_statement",
                                                                           args=[statement.pk])
    with django_assert_max_num_queries(14):
        page = web.get(response["Location"])
    html = page.content.decode()
    assert "Imported: 3 new lines of 4 documents; 0 already imported, 1 not imported." in html
    assert '<dd class="col-sm-7" id="count-new">3</dd>' in html
    assert html.count('class="bank-line"') == 3
    assert ('<tr class="statement-problem" data-code="bad_amount"><td>105</td><td>Сумма “abc” is not an amount of '
            'the form 12354.00 above zero: the section that starts at line 102 is skipped.</td></tr>') in html
    assert "Post 1 matched line" in html

    posted = web.post(response["Location"], {"action": "post"}, follow=True)

    assert "Posted 1 line." in posted.content.decode()
    payment = IncomingPayment.objects.get()
    assert (payment.partner, payment.amount, payment.method) == (clients["c1"], D(1000), PaymentMethod.BANK)
    assert BankStatementLine.objects.get(number="101").status == LineStatus.POSTED

    again = upload(web, day_file(accounts, clients, broken), name="kl_to_1c (2).txt")
    assert again["Location"] == response["Location"] and BankStatement.objects.count() == 1
    assert "This file was imported before: nothing new in it (3 documents already imported)." in web.get(
        again["Location"]).content.decode()


def test_a_file_that_is_not_a_statement_is_refused_with_the_reason(web: Client, accounts: Any) -> None:
    response = upload(web, "Дата;Сумма;Плательщик\r\n".encode("cp1251"), name="report.csv")

    html = response.content.decode()
    assert response.status_code == 200 and 'id="import-problems"' in html
    assert "Line 1: This is not a 1CClientBankExchange file: its first line is “Дата;Сумма;Плательщик”." in html
    assert BankStatement.objects.count() == 0


def test_the_accountant_matches_an_unmatched_line_to_a_client_and_its_order_then_posts_it(
        web: Client, organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any],
        orders: dict[str, SalesOrder]) -> None:
    upload(web, day_file(accounts, clients))
    line = BankStatementLine.objects.get(number="9")
    url = reverse("payments:bank_line", args=[line.pk])
    assert web.get(reverse("payments:bank_lines_to_match")).content.decode().count(url) >= 1

    chosen = web.get(url, {"partner": clients["c2"].pk}).content.decode()
    # the order with exactly this amount left is proposed
    assert f'name="order-{orders["o3"].pk}" value="2400.00"' in chosen
    assert f'name="order-{orders["o4"].pk}" value=""' in chosen

    refused = web.post(url, {"action": "match", "partner": clients["c2"].pk, f"order-{orders['o3'].pk}": "2500"})
    assert refused.status_code == 200
    assert "Line 1: only 2,400.00 is left to pay on РМ-000003." in refused.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.UNMATCHED

    matched = web.post(url, {"action": "match", "partner": clients["c2"].pk, f"order-{orders['o3'].pk}": "2 400,00"})
    assert matched.status_code == 302
    line.refresh_from_db()
    assert (line.status, line.partner) == (LineStatus.MATCHED, clients["c2"])

    posted = web.post(url, {"action": "post"}, follow=True)
    html = posted.content.decode()
    line.refresh_from_db()
    assert line.status == LineStatus.POSTED and line.payment is not None
    assert f'id="line-payment">{line.payment}</a>' in html
    assert [(a.order_id, a.amount) for a in line.payment.lines.all()] == [(orders["o3"].pk, D(2400))]


def test_the_accountant_ignores_an_outgoing_line_and_restores_it(web: Client, accounts: Any, clients: Any) -> None:
    upload(web, day_file(accounts, clients))
    line = BankStatementLine.objects.get(number="57")
    url = reverse("payments:bank_line", args=[line.pk])

    web.post(url, {"action": "ignore", "reason": "bank fee paid by hand"})
    line.refresh_from_db()
    assert line.status == LineStatus.IGNORED
    assert "Ignored by accountant: bank fee paid by hand" in web.get(url).content.decode()

    web.post(url, {"action": "restore"})
    line.refresh_from_db()
    assert line.status == LineStatus.OUTGOING


def test_an_acquiring_credit_with_a_difference_is_posted_when_the_accountant_accepts_it(
        web: Client, organization: Any, accounts: dict[str, BankAccount], clients: Any) -> None:
    walk_in = Partner.objects.create(name="Retail buyer")
    register_payment(IncomingPayment(organization=organization, partner=walk_in, method=PaymentMethod.CARD,
                                     bank_account=accounts["main"], amount=D(1000), date=moment("2026-03-08", 15)))
    upload(web, day_file(accounts, clients, document(
        "901246", DAY, "955.00", BANK, our_side(accounts["main"]), "Возмещение ден.ср-в по Дог.экв. 55/21 за "
        "08.03.2026. Оборот: 975.00 руб.; Комиссия: 20.00 руб.", credited=DAY)))
    line = BankStatementLine.objects.get(number="901246")
    url = reverse("payments:bank_line", args=[line.pk])

    html = web.get(url).content.decode()
    assert '<dd class="col-sm-6 text-end" id="acquiring-expected">1,000.00</dd>' in html
    assert 'id="acquiring-difference">-25.00</dd>' in html and 'id="post-acquiring-difference"' in html
    assert "differs by -25.00 from 1,000.00 of card payments" in web.get(
        reverse("payments:bank_statement", args=[line.statement_id])).content.decode()

    refused = web.post(url, {"action": "post"})
    assert "still owed by the bank (1,000.00) by -25.00" in refused.content.decode()
    assert AcquiringCredit.objects.count() == 0

    web.post(url, {"action": "post_difference"})
    credit = AcquiringCredit.objects.get()
    assert (credit.amount, credit.commission, credit.registry_date) == (D(955), D(20), dt.date(2026, 3, 8))


def test_the_accountant_exports_refunds_as_payment_orders(web: Client, organization: Any, accounts: Any,
                                                          clients: Any, our_refund: Any) -> None:
    BankAccount.objects.create(counterparty=clients["c5"].counterparties.get(), number=clients["c5_side"].account,
                               bik="044525593")
    query = {"bank_account": accounts["main"].pk, "start": "2026-03-01", "end": "2026-03-31"}

    preview = web.get(reverse("payments:bank_export"), query).content.decode()
    assert "1 payment order" in preview and str(our_refund) in preview and 'id="export-download"' in preview

    response = web.get(reverse("payments:bank_export"), {**query, "download": "1"})
    assert response.status_code == 200 and response["Content-Type"] == "text/plain; charset=windows-1251"
    assert response["Content-Disposition"] == (
        f'attachment; filename="kl_to_1c_{accounts["main"].number}_20260301_20260331.txt"')
    parsed = bx.parse(response.content)
    assert [(d.number, d.amount, d.payee.account) for d in parsed.documents] == [
        ("1", D("700.00"), clients["c5_side"].account)]

    wrong = web.get(reverse("payments:bank_export"), {**query, "start": "2026-04-01"}).content.decode()
    assert "The period ends before it starts." in wrong


@pytest.mark.parametrize("role", [Role.CASHIER, Role.SALES_MANAGER, Role.SALES_DIRECTOR, Role.STOREKEEPER])
def test_other_roles_are_refused_and_do_not_see_the_menu(client: Client, role_user: Any, role: str,
                                                         accounts: Any) -> None:
    client.force_login(role_user(role, f"user_{role}"))
    for name in ("payments:bank_statements", "payments:bank_import", "payments:bank_lines",
                 "payments:bank_lines_to_match", "payments:bank_export"):
        assert client.get(reverse(name)).status_code == 403, name
    assert client.post(reverse("payments:bank_import"), {"file": SimpleUploadedFile("a.txt", b"x")}).status_code == 403
    assert BankStatement.objects.count() == 0
    assert reverse("payments:bank_statements") not in client.get("/").content.decode()


@pytest.mark.parametrize("role", [Role.ACCOUNTANT, Role.ADMINISTRATOR])
def test_accountants_and_administrators_see_the_pages_in_the_payments_menu(client: Client, role_user: Any,
                                                                           role: str) -> None:
    client.force_login(role_user(role, f"user_{role}"))
    home = client.get("/").content.decode()
    payments_menu = home[home.index(">Payments<"):]
    payments_menu = payments_menu[:payments_menu.index("</ul>")]
    assert reverse("payments:payment_list") in payments_menu
    for name in ("payments:bank_statements", "payments:bank_lines_to_match", "payments:bank_export"):
        assert reverse(name) in payments_menu
        assert client.get(reverse(name)).status_code == 200


def test_the_page_of_a_statement_of_46_lines_reads_in_a_fixed_number_of_queries(
        web: Client, organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any],
        orders: dict[str, SalesOrder], our_refund: Any, django_assert_max_num_queries: Any) -> None:
    from torg.payments.tests.test_bank_import import main_file

    statement = upload(web, main_file(accounts, clients)[0])["Location"]

    with django_assert_max_num_queries(14):
        html = web.get(statement).content.decode()
    assert html.count('class="bank-line"') == 46
    assert html.count('class="statement-problem"') == 5
    assert "Post 29 matched lines" in html  # 27 client payments and 2 acquiring credits
    with django_assert_max_num_queries(12):
        assert web.get(statement, {"status": "unmatched"}).content.decode().count('class="bank-line"') == 10


def test_a_card_payment_names_its_merchant_and_waits_in_the_clearing(client: Client, role_user: Any,
                                                                     organization: Any, accounts: Any) -> None:
    from torg.payments.models import AcquiringClearing, Funds

    client.force_login(role_user(Role.CASHIER, "cashier"))
    walk_in = Partner.objects.create(name="Retail buyer", is_client=True)
    form = client.get(reverse("payments:payment_new")).content.decode()
    assert 'class="col-12 col-md-6 col-xl-4 js-field-merchant"' in form

    response = client.post(reverse("payments:payment_new"), {
        "date": "2026-03-09T15:00:00", "organization": organization.pk, "partner": walk_in.pk, "method": "card",
        "cash_desk": "", "bank_account": accounts["main"].pk, "merchant": "781000000001", "amount": "3800",
        "purpose": "", "comment": "", "idempotency_key": "card-1", "action": "register", "allocation_shown": "1"})

    payment = IncomingPayment.objects.get()
    assert response.status_code == 302 and payment.merchant == "781000000001"
    assert "merchant No. 781000000001" in client.get(response["Location"]).content.decode()
    assert AcquiringClearing.balance(organization=organization, bank_account=accounts["main"],
                                     merchant="781000000001", day="2026-03-09")["amount"] == D(3800)
    assert Funds.balance(organization=organization, cash_desk=None, bank_account=accounts["main"])["amount"] == 0
