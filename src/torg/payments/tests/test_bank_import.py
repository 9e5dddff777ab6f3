"""Importing bank statements through the services: a realistic file of 50 documents (known and unknown clients,
orders named in the purpose or found by the amount, acquiring credits, our own refund, payments to suppliers, a
transfer between our accounts, a duplicate, a document of an account we do not have, a broken section, a document
without its posting date) and a second statement in CP866 import exactly as expected; importing both again adds
nothing."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount
from torg.core.models import ChangeLogEntry
from torg.payments import bank
from torg.payments.bank_exchange import ProblemCode
from torg.payments.models import (
    BankLineAllocation,
    BankStatement,
    BankStatementLine,
    IncomingPayment,
    LineDirection,
    LineStatus,
    PaymentMethod,
    Refund,
)
from torg.payments.tests.bank_helpers import (
    SBER_BIK,
    SBER_CORR,
    VTB_BIK,
    VTB_CORR,
    Side,
    account,
    document,
    inn,
    statement_file,
)
from torg.payments.tests.conftest import DAY, OUR_INN, our_side

D = Decimal
pytestmark = pytest.mark.django_db


def supplier(n: int) -> Side:
    return Side(account(300 + n, VTB_BIK), inn(300 + n), "500301001", f"ООО «Поставщик {n}»", VTB_BIK, VTB_CORR,
                "БАНК ВТБ (ПАО)")


def unknown(n: int) -> Side:
    return Side(account(400 + n), inn(400 + n), "771001001", f"ООО «Незнакомец {n}»")


BANK = Side("30233810200000000001", "7707083893", "773601001", "ПАО СБЕРБАНК", SBER_BIK, SBER_CORR, "ПАО СБЕРБАНК")


def main_file(accounts: dict[str, BankAccount], clients: dict[str, Any]) -> tuple[bytes, list[list[str]]]:
    """The statement of the main account for DAY: 50 documents (the numbers in the comments are the sections)."""
    ours = our_side(accounts["main"])
    c = clients
    docs: list[list[str]] = []

    def incoming(number: str, amount: str, payer: Side, purpose: str) -> list[str]:
        return document(number, DAY, amount, payer, ours, purpose, credited=DAY)

    def outgoing(number: str, amount: str, payee: Side, purpose: str) -> list[str]:
        return document(number, DAY, amount, ours, payee, purpose, debited=DAY)

    # 1–4: clients 1 and 2 pay their orders — by the full number, the bare number, the amount, more than is left
    docs.append(incoming("101", "1000.00", c["c1_side"], "Оплата по счету № РМ-000001 от 02.03.2026 за молоко. "
                                                           "В т.ч. НДС (22%) 180.33"))
    docs.append(incoming("102", "500.00", c["c1_side"], "Оплата по счету №2 от 02.03.2026. В т.ч. НДС 90.16"))
    docs.append(incoming("201", "2400.00", c["c2_side"], "Оплата за товар по договору поставки. НДС 432.79"))
    docs.append(incoming("202", "500.00", c["c2_side"], "Оплата заказа РМ-000004. В т.ч. НДС 90.16"))
    # 5–24: twenty payments of clients 3–6 naming no order: advances
    for n in range(20):
        client = f"c{3 + n % 4}"
        docs.append(incoming(f"3{n:02d}", f"{100 + n}.50", c[f"{client}_side"], f"Аванс за товар, {n + 1}-я часть"))
    # 25: a person known by the account the money comes from; 26: an INN two clients share
    docs.append(incoming("401", "750.00", c["person_side"], "Оплата за товар, Иванов И.И."))
    docs.append(incoming("402", "1200.00", c["twin_side"], "Оплата по счету № 77"))
    # 27–34: eight payers we do not know; 35: a payer whose INN fails its check digits
    for n in range(8):
        docs.append(incoming(f"5{n:02d}", f"{1000 + n}.00", unknown(n), "Оплата по счету"))
    docs.append(incoming("599", "42.00", Side(account(499), "7710123450", "", "ООО «Опечатка»"), "Оплата"))
    # 36–37: the bank's credits for card payments of the day before — one that matches, one that does not
    docs.append(incoming("901245", "3741.50", BANK, "Зачисление средств по операциям эквайринга. Мерчант "
                                                    "№781000000001. Дата реестра 09.03.2026. Комиссия 58.50. Возврат "
                                                    "покупки 0.00/0.00. НДС не облагается"))
    docs.append(incoming("901246", "980.00", BANK, "Возмещение ден.ср-в по Дог.экв. 55/21 за 08.03.2026. Оборот: "
                                                   "1000.00 руб.; Комиссия: 20.00 руб."))
    # 38: our refund to client 5 (payment order No. 1); 39–43: payments to suppliers
    docs.append(outgoing("1", "700.00", c["c5_side"], "Возврат аванса (переплаты). Без налога (НДС)"))
    for n in range(5):
        docs.append(outgoing(f"{60 + n}", f"{5000 + n * 100}.00", supplier(n), f"Оплата по договору № {n + 1}"))
    # 44: a transfer to our other account; 45: one more payment of client 5
    docs.append(outgoing("70", "10000.00", our_side(accounts["second"]), "Перевод собственных средств"))
    docs.append(incoming("601", "333.33", c["c5_side"], "Предоплата"))
    # 46: document 1 again; 47: of accounts we do not have; 48: broken; 49: no ДатаПоступило; 50: client 6
    docs.append(list(docs[0]))
    docs.append(document("801", DAY, "77.00", unknown(90), unknown(91), "Чужой документ", credited=DAY))
    docs.append(document("802", DAY, "0", c["c6_side"], ours, "Оплата", credited=DAY, amount_text="12.3.4"))
    docs.append(document("803", DAY, "55.00", c["c6_side"], ours, "Оплата без даты поступления"))
    docs.append(incoming("804", "640.00", c["c6_side"], "Оплата по счету № 804 от 01.03.2026"))
    assert len(docs) == 50
    data = statement_file([accounts["main"].number], DAY, DAY, docs)
    return data, docs


def second_file(accounts: dict[str, BankAccount], clients: dict[str, Any]) -> bytes:
    """The other account's statement for DAY, in DOS (CP866): the transfer from the main account arriving, two
    payments of client 3, one of a stranger."""
    ours, main = our_side(accounts["second"]), our_side(accounts["main"])
    docs = [
        document("70", DAY, "10000.00", main, ours, "Перевод собственных средств", credited=DAY),
        document("11", DAY, "150.00", clients["c3_side"], ours, "Оплата по счету", credited=DAY),
        document("12", DAY, "250.00", clients["c3_side"], ours, "Оплата за товар", credited=DAY),
        document("13", DAY, "99.00", unknown(7), ours, "Оплата", credited=DAY),
    ]
    return statement_file([accounts["second"].number], DAY, DAY, docs, encoding="DOS")


def statuses(statement: BankStatement) -> dict[str, int]:
    result: dict[str, int] = {}
    for status in statement.lines.values_list("status", flat=True):
        result[status] = result.get(status, 0) + 1
    return result


def line(number: str, direction: str = LineDirection.IN, bank_account: BankAccount | None = None) -> BankStatementLine:
    qs = BankStatementLine.objects.filter(number=number, direction=direction)
    return qs.get(bank_account=bank_account) if bank_account else qs.get()


def allocations(ln: BankStatementLine) -> list[tuple[str, Decimal]]:
    return [(a.order.number, a.amount) for a in ln.allocations.select_related("order")]


def test_a_realistic_statement_of_50_documents_and_one_in_cp866_import_exactly_as_expected(
        organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any], orders: dict[str, Any],
        our_refund: Refund, accountant: Any, django_assert_max_num_queries: Any) -> None:
    data, docs = main_file(accounts, clients)

    with django_assert_max_num_queries(40):  # bulk reads and writes: the query count does not grow with the file
        result = bank.import_bank_statement(data, user=accountant, file_name="kl_to_1c.txt")

    statement = result.statement
    assert statement is not None and not result.already_imported
    assert (result.documents, result.new, result.duplicates, result.not_imported) == (50, 46, 1, 3)
    assert (statement.documents, statement.new_lines, statement.duplicates, statement.not_imported) == (50, 46, 1, 3)
    assert statement.bank_account == accounts["main"] and statement.encoding == "cp1251"
    assert (statement.period_start, statement.period_end, statement.imported_by) == (DAY, DAY, accountant)
    assert statuses(statement) == result.by_status == {
        LineStatus.MATCHED: 27, LineStatus.UNMATCHED: 10, LineStatus.ACQUIRING: 2, LineStatus.POSTED: 1,
        LineStatus.OUTGOING: 5, LineStatus.IGNORED: 1}
    starts = [12]  # the header has 11 lines
    for doc in docs[:-1]:
        starts.append(starts[-1] + len(doc))
    # reported line by line: the duplicate, the foreign document, the broken amount, the missing posting date,
    # and the payer's INN that fails its check digits
    assert [(p.line, p.code) for p in result.problems] == [
        (starts[34] + 6, ProblemCode.INVALID_INN),  # its ПлательщикИНН line
        (starts[45], ProblemCode.DUPLICATE_IN_FILE),
        (starts[46], ProblemCode.UNKNOWN_ACCOUNT),
        (starts[47] + 3, ProblemCode.BAD_AMOUNT),  # its Сумма line
        (starts[48], ProblemCode.NO_POSTING_DATE),
    ]
    assert result.problems[1].message == (f"Document No. 101 of 03/10/2026 for 1,000.00 is the same as at line "
                                          f"{starts[0]}: imported once.")
    assert result.problems[4].message == (
        f"Document No. 803 of 03/10/2026 for 55.00 has no ДатаПоступило (the date the money moved on account "
        f"{accounts['main'].number}): not imported.")
    assert [p.as_dict() for p in result.problems] == statement.problems

    # orders: by the full number, by the bare number, by the amount, and up to what is left (the rest an advance)
    assert allocations(line("101")) == [("РМ-000001", D("1000.00"))]
    assert allocations(line("102")) == [("РМ-000002", D("500.00"))]
    assert allocations(line("201")) == [("РМ-000003", D("2400.00"))]
    assert allocations(line("202")) == [("РМ-000004", D("300.00"))]
    assert bank.note_texts(line("202")) == ["Client found by the payer's INN " + inn(2) + ".",
                                            "Orders named in the purpose: РМ-000004.",
                                            "200.00 is not for any open order named in the purpose or of this "
                                            "amount: it becomes the client's advance (and pays its open shipments)."]
    assert (line("300").partner, allocations(line("300"))) == (clients["c3"], [])
    assert line("303").counterparty.name == "ООО «Клиент 6»" and line("303").posting_date == DAY
    assert (line("401").partner, bank.note_texts(line("401"))[0]) == (
        clients["person"], f"Client found by the payer's account {clients['person_side'].account}.")
    twin = line("402")
    assert (twin.status, twin.partner) == (LineStatus.UNMATCHED, None)
    assert bank.note_texts(twin) == [f"The payer's INN {inn(50)} belongs to several clients (Branch 1, Branch 2): "
                                     f"choose one."]
    assert line("500").status == LineStatus.UNMATCHED and line("599").status == LineStatus.UNMATCHED
    assert line("804").partner == clients["c6"] and allocations(line("804")) == []  # "№ 804" is no order of theirs

    # acquiring credits, read from their purposes
    sber, other = line("901245"), line("901246")
    assert (sber.status, sber.is_acquiring, sber.merchant, sber.registry_date, sber.commission, sber.gross) == (
        LineStatus.ACQUIRING, True, "781000000001", dt.date(2026, 3, 9), D("58.50"), D("3800.00"))
    assert (other.merchant, other.registry_date, other.commission) == ("", dt.date(2026, 3, 8), D("20.00"))

    # outgoing: our refund is recognised, payments to suppliers are kept as they are, the transfer is ignored
    refund_line = line("1", LineDirection.OUT)
    assert (refund_line.status, refund_line.refund, refund_line.partner) == (LineStatus.POSTED, our_refund,
                                                                             clients["c5"])
    assert [ln.status for ln in BankStatementLine.objects.filter(number__in=["60", "61", "62", "63", "64"])] == [
        LineStatus.OUTGOING] * 5
    transfer = line("70", LineDirection.OUT)
    assert (transfer.status, bank.note_texts(transfer)) == (
        LineStatus.IGNORED, ["A transfer between our own accounts: nothing to post."])
    assert ChangeLogEntry.objects.filter(content_type__model="bankstatement", object_id=statement.pk,
                                         action="created").get().changes == {
        "new_lines": 46, "duplicates": 1, "not_imported": 3}

    # the other account's statement, in DOS (CP866)
    second = bank.import_bank_statement(second_file(accounts, clients), user=accountant, file_name="vtb.txt")
    assert second.statement is not None and second.statement.encoding == "cp866" and second.problems == []
    assert (second.new, second.duplicates, second.not_imported) == (4, 0, 0)
    assert statuses(second.statement) == {LineStatus.IGNORED: 1, LineStatus.MATCHED: 2, LineStatus.UNMATCHED: 1}
    arrived = line("70", LineDirection.IN)
    assert (arrived.bank_account, arrived.status) == (accounts["second"], LineStatus.IGNORED)
    assert line("12").counterparty_name == 'ООО "Клиент 3"'  # read right from CP866
    assert line("11").partner == clients["c3"]

    # twice: nothing is added, the first statements are returned
    before = (BankStatement.objects.count(), BankStatementLine.objects.count(), BankLineAllocation.objects.count(),
              ChangeLogEntry.objects.count())
    again = bank.import_bank_statement(data, user=accountant, file_name="kl_to_1c (1).txt")
    again_second = bank.import_bank_statement(second_file(accounts, clients), user=accountant)
    assert (again.new, again.duplicates, again.not_imported, again.already_imported) == (0, 47, 3, True)
    assert again.statement == statement and again_second.statement == second.statement
    assert (again_second.new, again_second.duplicates) == (0, 4)
    assert before == (2, 50, 4, ChangeLogEntry.objects.count())
    assert IncomingPayment.objects.filter(method=PaymentMethod.BANK).count() == 1  # importing posts nothing


def test_an_overlapping_statement_adds_only_the_documents_not_seen_yet(
        organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any], accountant: Any) -> None:
    ours = our_side(accounts["main"])
    first = [document("1", DAY, "10.00", clients["c1_side"], ours, "Оплата", credited=DAY)]
    later = [*first, document("2", DAY, "20.00", clients["c1_side"], ours, "Оплата", credited=DAY)]
    bank.import_bank_statement(statement_file([ours.account], DAY, DAY, first), user=accountant)

    result = bank.import_bank_statement(statement_file([ours.account], DAY, DAY, later), user=accountant)

    assert (result.new, result.duplicates, result.already_imported) == (1, 1, False)
    assert list(result.statement.lines.values_list("number", flat=True)) == ["2"]  # type: ignore[union-attr]


def test_a_statement_of_an_account_we_do_not_have_imports_nothing_and_says_so(
        organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any]) -> None:
    stranger = Side(account(9, SBER_BIK), OUR_INN, "773601001", "ООО «Ромашка»", SBER_BIK, SBER_CORR)
    data = statement_file([stranger.account], DAY, DAY, [
        document("1", DAY, "10.00", clients["c1_side"], stranger, "Оплата", credited=DAY)])

    result = bank.import_bank_statement(data, file_name="other.txt")

    assert (result.new, result.not_imported) == (0, 1)
    assert [(p.line, p.code) for p in result.problems] == [(10, ProblemCode.UNKNOWN_HEADER_ACCOUNT),
                                                           (12, ProblemCode.UNKNOWN_ACCOUNT)]
    assert result.problems[0].message == (f"Account {stranger.account} is not one of our bank accounts: its documents "
                                          f"are not imported. Add the account to the organization to import them.")
    assert BankStatementLine.objects.count() == 0
    assert BankStatement.objects.get().not_imported == 1  # the attempt and its problems are kept


def test_a_file_that_is_not_a_statement_writes_nothing(db: Any) -> None:
    result = bank.import_bank_statement("Дата;Сумма\n".encode("cp1251"), file_name="report.csv")

    assert result.statement is None and [p.code for p in result.problems] == [ProblemCode.NOT_A_BANK_FILE]
    assert BankStatement.objects.count() == 0
