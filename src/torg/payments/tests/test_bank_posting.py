"""Statement lines after the import: matched lines posted as bank payments (once, however often posting is asked),
a person matching an unmatched line and posting it, refusals that leave the line as it was, acquiring credits that
close the day's card payments and book the commission, and the export of refunds as payment orders that reads back
as the same documents."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount, Partner
from torg.conftest import moment
from torg.core.errors import CoreError, ErrorCode
from torg.payments import bank
from torg.payments import bank_exchange as bx
from torg.payments.models import (
    AcquiringClearing,
    AcquiringCredit,
    BankChargeKind,
    BankCharges,
    BankStatementLine,
    Funds,
    IncomingPayment,
    LineDirection,
    LineStatus,
    PaymentAllocation,
    PaymentMethod,
    Refund,
)
from torg.payments.services import refund, register_payment
from torg.payments.tests.bank_helpers import SBER_BIK, SBER_CORR, Side, account, document, inn, statement_file
from torg.payments.tests.conftest import DAY, our_side
from torg.sales.models import ClientAdvances, ClientSettlements, OrderState, SalesOrder

D = Decimal
pytestmark = pytest.mark.django_db
BANK = Side("30233810200000000001", "7707083893", "773601001", "ПАО СБЕРБАНК", SBER_BIK, SBER_CORR, "ПАО СБЕРБАНК")


def imported(accounts: dict[str, BankAccount], docs: list[list[str]], user: Any = None) -> list[BankStatementLine]:
    result = bank.import_bank_statement(statement_file([accounts["main"].number], DAY, DAY, docs), user=user)
    assert result.statement is not None
    return list(result.statement.lines.order_by("source_line"))


def paid_on(order: SalesOrder) -> Decimal:
    return ClientSettlements.balances(["order"], order=order).get((order.pk,), {"paid": D(0)})["paid"]


def funds(acc: BankAccount) -> Decimal:
    return Funds.balance(organization=acc.organization_id, cash_desk=None, bank_account=acc)["amount"]


def advance(organization: Any, partner: Partner) -> Decimal:
    return ClientAdvances.balance(organization=organization, partner=partner)["amount"]


def test_matched_lines_post_as_bank_payments_once(organization: Any, accounts: dict[str, BankAccount],
                                                   clients: dict[str, Any], orders: dict[str, SalesOrder],
                                                   accountant: Any) -> None:
    ours = our_side(accounts["main"])
    by_number, rest_to_advance = imported(accounts, [
        document("101", DAY - dt.timedelta(days=1), "1000.00", clients["c1_side"], ours,
                 "Оплата по счету № РМ-000001 от 02.03.2026", credited=DAY),
        document("202", DAY, "500.00", clients["c2_side"], ours, "Оплата заказа РМ-000004", credited=DAY),
    ], accountant)

    result = bank.post_statement_lines(bank.lines_to_post(), user=accountant)

    assert result.refused == [] and [ln.pk for ln in result.posted] == [by_number.pk, rest_to_advance.pk]
    first = IncomingPayment.objects.get(statement_line=by_number)
    assert (first.method, first.bank_account, first.partner, first.counterparty.name, first.amount) == (
        PaymentMethod.BANK, accounts["main"], clients["c1"], "ООО «Клиент 1»", D("1000.00"))
    assert first.date == moment("2026-03-10")  # ДатаПоступило at noon, not the document's Дата (09.03)
    assert first.purpose == "Оплата по счету № РМ-000001 от 02.03.2026" and first.posted and first.author == accountant
    assert first.idempotency_key == by_number.idempotency_key
    assert [(a.order, a.amount) for a in PaymentAllocation.objects.filter(document=first)] == [
        (orders["o1"], D("1000.00"))]
    assert paid_on(orders["o1"]) == D(1000) and paid_on(orders["o4"]) == D(300)
    assert advance(organization, clients["c2"]) == D(200)  # what РМ-000004 did not need
    assert funds(accounts["main"]) == D(1500)
    assert OrderState.objects.get(order=orders["o1"]).paid_percent == D(100)
    by_number.refresh_from_db()
    assert (by_number.status, by_number.payment) == (LineStatus.POSTED, first)

    again = bank.post_statement_lines([by_number, rest_to_advance], user=accountant)

    assert (again.posted, again.refused) == ([], [])
    assert IncomingPayment.objects.count() == 2 and funds(accounts["main"]) == D(1500)


def test_a_person_matches_an_unmatched_line_then_posts_it(organization: Any, accounts: dict[str, BankAccount],
                                                          clients: dict[str, Any], orders: dict[str, SalesOrder],
                                                          accountant: Any) -> None:
    stranger = Side(account(777), inn(777), "771001001", "ООО «Новый плательщик»")
    (ln,) = imported(accounts, [document("9", DAY, "1300.00", stranger, our_side(accounts["main"]),
                                         "Оплата за Клиента 1 по письму", credited=DAY)])
    assert ln.status == LineStatus.UNMATCHED and ln.can_match()

    with pytest.raises(CoreError) as refused:
        bank.match_statement_line(ln, clients["c1"], [(orders["o1"].pk, D(1000)), (orders["o3"].pk, D(300))],
                                  user=accountant)
    assert refused.value.code == ErrorCode.INVALID
    assert refused.value.fields == {"orders.2": ["Line 2: this is not an open order of Client 1."]}
    ln.refresh_from_db()
    assert (ln.status, ln.partner, ln.allocations.count()) == (LineStatus.UNMATCHED, None, 0)  # nothing written

    bank.match_statement_line(ln, clients["c1"], [(orders["o1"].pk, D(1000)), (orders["o2"].pk, D(200))],
                              user=accountant)
    assert (ln.status, ln.partner) == (LineStatus.MATCHED, clients["c1"])
    assert [(a.order, a.amount) for a in ln.allocations.all()] == [(orders["o1"], D(1000)), (orders["o2"], D(200))]
    assert bank.note_texts(ln) == ["Matched by accountant.", "100.00 is not for any open order named in the "
                                   "purpose or of this amount: it becomes the client's advance (and pays its open "
                                   "shipments)."]
    # chosen again: its own proposal does not count as someone else's pending payment
    bank.match_statement_line(ln, clients["c1"], [(orders["o1"].pk, D(1000)), (orders["o2"].pk, D(300))],
                              user=accountant)

    result = bank.post_statement_lines([ln], user=accountant)

    assert result.refused == [] and ln.pk in [p.pk for p in result.posted]
    assert (paid_on(orders["o1"]), paid_on(orders["o2"]), advance(organization, clients["c1"])) == (
        D(1000), D(300), D(0))
    with pytest.raises(CoreError) as late:
        bank.match_statement_line(ln, clients["c2"], [], user=accountant)
    assert late.value.code == bank.BankErrorCode.NOT_MATCHABLE


def test_a_refused_line_stays_as_it_was_and_the_others_post(organization: Any, accounts: dict[str, BankAccount],
                                                            clients: dict[str, Any], orders: dict[str, SalesOrder],
                                                            accountant: Any) -> None:
    ours = our_side(accounts["main"])
    late, fine = imported(accounts, [
        document("1", DAY, "1000.00", clients["c1_side"], ours, "Оплата по счету № РМ-000001", credited=DAY),
        document("2", DAY, "2400.00", clients["c2_side"], ours, "Оплата по счету № РМ-000003", credited=DAY),
    ])
    # meanwhile someone entered order РМ-000001's payment by hand
    register_payment(IncomingPayment(organization=organization, partner=clients["c1"], method=PaymentMethod.BANK,
                                     bank_account=accounts["main"], amount=D(1000), date=moment("2026-03-10", 9)))

    result = bank.post_statement_lines([late, fine], user=accountant)

    assert [ln.pk for ln in result.posted] == [fine.pk]
    assert [(ln.pk, text) for ln, text in result.refused] == [(late.pk, (
        "Please correct the errors below. Line 1: this is not an open order or shipment of the client."))]
    late.refresh_from_db()
    assert (late.status, late.payment) == (LineStatus.MATCHED, None)
    assert IncomingPayment.objects.filter(idempotency_key=late.idempotency_key).count() == 0
    # the person sends it to the advance instead
    bank.match_statement_line(late, clients["c1"], [], user=accountant)
    assert bank.post_statement_lines([late], user=accountant).refused == []
    assert advance(organization, clients["c1"]) == D(1000)


def test_ignored_and_outgoing_lines_are_not_posted(organization: Any, accounts: dict[str, BankAccount],
                                                   clients: dict[str, Any], accountant: Any) -> None:
    ours = our_side(accounts["main"])
    incoming, paid_out = imported(accounts, [
        document("1", DAY, "50.00", Side(account(5), inn(5000), "", "ООО «Банк-заёмщик»"), ours, "Возврат займа",
                 credited=DAY),
        document("2", DAY, "80.00", ours, Side(account(6), inn(6000), "", "ООО «Аренда»"), "Аренда", debited=DAY),
    ])
    bank.ignore_statement_line(incoming, user=accountant, reason="a loan, not a client's payment")

    result = bank.post_statement_lines([incoming, paid_out], user=accountant)

    assert result.posted == []
    assert [text for _ln, text in result.refused] == [
        "No. 1 of 03/10/2026, 50.00 is ignored: only matched lines and acquiring credits are posted.",
        "No. 2 of 03/10/2026, 80.00 is outgoing: only matched lines and acquiring credits are posted."]
    assert bank.note_texts(incoming)[-1] == "Ignored by accountant: a loan, not a client's payment"
    bank.restore_statement_line(incoming, user=accountant)
    assert incoming.status == LineStatus.UNMATCHED and paid_out.direction == LineDirection.OUT


# ------------------------------------------------------------------ acquiring
@pytest.fixture
def card_payments(organization: Any, accounts: dict[str, BankAccount]) -> Partner:
    """Card payments on 09.03 at the shop: 2 500.00 and 1 300.00 (merchant 781000000001) and, on 08.03, 1 000.00
    without a merchant."""
    walk_in = Partner.objects.create(name="Retail buyer", is_client=True)
    for day, amount, merchant in (("2026-03-09", "2500", "781000000001"), ("2026-03-09", "1300", "781000000001"),
                                  ("2026-03-08", "1000", "")):
        register_payment(IncomingPayment(organization=organization, partner=walk_in, method=PaymentMethod.CARD,
                                         bank_account=accounts["main"], merchant=merchant, amount=D(amount),
                                         date=moment(day, 15)))
    return walk_in


def clearing(organization: Any, acc: BankAccount, merchant: str, day: str) -> Decimal:
    return AcquiringClearing.balance(organization=organization, bank_account=acc, merchant=merchant,
                                     day=day)["amount"]


def test_card_money_waits_in_the_clearing_until_the_bank_credits_it(
        organization: Any, accounts: dict[str, BankAccount], card_payments: Partner, accountant: Any) -> None:
    main = accounts["main"]
    assert funds(main) == D(0)  # card money is not on the account yet
    assert clearing(organization, main, "781000000001", "2026-03-09") == D(3800)
    assert clearing(organization, main, "", "2026-03-08") == D(1000)
    (credit_line,) = imported(accounts, [document(
        "901245", DAY, "3741.50", BANK, our_side(main), "Зачисление средств по операциям эквайринга. Мерчант "
        "№781000000001. Дата реестра 09.03.2026. Комиссия 58.50. Возврат покупки 0.00/0.00. НДС не облагается",
        credited=DAY)])
    check = bank.clearing_checks([credit_line])[credit_line.pk]
    assert (check.expected, check.gross, check.difference, check.merchant) == (D(3800), D("3800.00"), D(0),
                                                                               "781000000001")

    result = bank.post_statement_lines(bank.lines_to_post(), user=accountant)

    assert result.refused == []
    credit = AcquiringCredit.objects.get(statement_line=credit_line)
    assert (credit.amount, credit.commission, credit.gross, credit.registry_date, credit.merchant, credit.posted) == (
        D("3741.50"), D("58.50"), D("3800.00"), dt.date(2026, 3, 9), "781000000001", True)
    assert credit.date == moment("2026-03-10")
    assert funds(main) == D("3741.50")  # the net arrived
    assert clearing(organization, main, "781000000001", "2026-03-09") == D(0)  # the gross card payments closed
    assert BankCharges.turnovers(moment("2026-03-01", 0), moment("2026-04-01", 0), ["kind"],
                                 organization=organization) == {(BankChargeKind.ACQUIRING_COMMISSION,):
                                                                {"amount": D("58.50")}}
    assert bank.post_statement_lines([credit_line], user=accountant).refused == []  # posting again: nothing new
    assert AcquiringCredit.objects.count() == 1 and funds(main) == D("3741.50")


def test_an_acquiring_credit_that_differs_from_the_card_payments_waits_for_a_person(
        organization: Any, accounts: dict[str, BankAccount], card_payments: Partner, accountant: Any) -> None:
    main = accounts["main"]
    (credit_line,) = imported(accounts, [document(
        "901246", DAY, "955.00", BANK, our_side(main), "Возмещение ден.ср-в по Дог.экв. 55/21 за 08.03.2026. "
        "Оборот: 975.00 руб.; Комиссия: 20.00 руб.", credited=DAY)])

    result = bank.post_statement_lines([credit_line], user=accountant)

    assert result.posted == []
    assert result.refused[0][1] == (
        "No. 901246 of 03/10/2026, 955.00: the card payments it pays for (975.00 = 955.00 credited + 20.00 "
        "commission) differ from the card payments of 03/08/2026 still owed by the bank (1,000.00) by -25.00. Check "
        "the card payments of that day and the commission, or post it with the difference.")
    assert AcquiringCredit.objects.count() == 0 and funds(main) == D(0)
    credit_line.refresh_from_db()
    assert credit_line.status == LineStatus.ACQUIRING

    # the person sees a card refund of 25.00 the bank deducted and was not entered: they accept the difference
    accepted = bank.post_statement_lines([credit_line], user=accountant, accept_difference=True)

    assert accepted.refused == [] and funds(main) == D("955.00")
    assert clearing(organization, main, "", "2026-03-08") == D(25)  # the difference stays in sight


def test_a_person_corrects_what_was_read_from_an_acquiring_purpose(
        organization: Any, accounts: dict[str, BankAccount], card_payments: Partner, accountant: Any) -> None:
    (credit_line,) = imported(accounts, [document("5", DAY, "3741.50", BANK, our_side(accounts["main"]),
                                                  "Зачисление по операциям эквайринга", credited=DAY)])
    assert (credit_line.registry_date, credit_line.commission) == (None, D(0))
    assert bank.note_texts(credit_line)[1:] == [
        "The purpose names no registry date: enter the day of the card payments it pays for.",
        "The purpose names no commission: 0.00 is taken; correct it if the bank kept one."]
    refused = bank.post_statement_lines([credit_line], user=accountant, accept_difference=True)
    assert refused.refused[0][1].endswith("enter the registry date (the day of the card payments it pays for) first.")

    bank.correct_acquiring_line(credit_line, registry_date=dt.date(2026, 3, 9), commission=D("58.50"),
                                merchant="781000000001", user=accountant)

    assert bank.post_statement_lines([credit_line], user=accountant).refused == []
    assert clearing(organization, accounts["main"], "781000000001", "2026-03-09") == D(0)


def test_a_card_refund_comes_out_of_the_clearing(organization: Any, accounts: dict[str, BankAccount],
                                                 card_payments: Partner) -> None:
    refund(Refund(organization=organization, partner=card_payments, method=PaymentMethod.CARD,
                  bank_account=accounts["main"], amount=D(100), date=moment("2026-03-08", 18)))

    assert clearing(organization, accounts["main"], "", "2026-03-08") == D(900)
    assert funds(accounts["main"]) == D(0)


# ------------------------------------------------------------------ export
def test_refunds_by_bank_transfer_export_as_payment_orders_that_read_back_the_same(
        organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any], our_refund: Refund) -> None:
    organization.full_name = "Общество с ограниченной ответственностью «Ромашка»"
    organization.save()
    # a refund to a client with no known bank account is left out with the reason
    register_payment(IncomingPayment(organization=organization, partner=clients["c4"], method=PaymentMethod.BANK,
                                     bank_account=accounts["main"], amount=D(300), date=moment("2026-03-05")), [])
    unknown_account = refund(Refund(organization=organization, partner=clients["c4"], method=PaymentMethod.BANK,
                                    bank_account=accounts["main"], amount=D(120), date=moment("2026-03-10", 12)))
    # client 5's account: from its counterparty in the catalogs
    cp5 = clients["c5"].counterparties.get()
    BankAccount.objects.create(counterparty=cp5, number=clients["c5_side"].account, bik="044525593",
                               bank_name='АО "АЛЬФА-БАНК"', correspondent_account="30101810200000000593")

    result = bank.export_payment_orders(accounts["main"], DAY, DAY, created_at=moment("2026-03-10", 18))

    assert [(r.number, reason) for r, reason in result.skipped] == [
        (unknown_account.number, "the client has no bank account in the catalogs")]
    assert result.file_name == f"kl_to_1c_{accounts['main'].number}_20260310_20260310.txt"
    parsed = bx.parse(result.content)
    assert parsed.problems == [] and parsed.encoding == "cp1251"
    assert [(d.number, d.date, d.amount, d.payer, d.payee, d.purpose) for d in parsed.documents] == [(
        "1", DAY, D("700.00"),
        bx.Party(account=accounts["main"].number, inn="7707083893", kpp="773601001",
                 name="Общество с ограниченной ответственностью «Ромашка»", bank="ПАО СБЕРБАНК", bik=SBER_BIK,
                 correspondent_account=SBER_CORR),
        bx.Party(account=clients["c5_side"].account, inn=inn(5), kpp="770501001", name="ООО «Клиент 5»",
                 bank='АО "АЛЬФА-БАНК"', bik="044525593", correspondent_account="30101810200000000593"),
        "Возврат аванса (переплаты) по документу № РМ-000001 от 10.03.2026. Сумма 700.00 руб. Без налога (НДС)")]
    assert [o for _r, o in result.orders] == [
        bx.PaymentOrder(d.number, d.date, d.amount, d.payer, d.payee, d.purpose) for d in parsed.documents]
