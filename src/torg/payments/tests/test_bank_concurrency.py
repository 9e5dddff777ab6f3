"""Bank statements under real concurrency on PostgreSQL: four accountants importing the same file at the same
moment add its lines once; four of them posting the same lines register each payment once.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.catalogs.models import BankAccount
from torg.core.posting import verify_register
from torg.payments import bank
from torg.payments.models import BankStatement, BankStatementLine, Funds, IncomingPayment, LineStatus
from torg.payments.tests.bank_helpers import document, statement_file
from torg.payments.tests.conftest import DAY, our_side
from torg.sales.models import ClientAdvances, ClientSettlements
from torg.stock.tests.test_concurrency import _require_postgresql, _run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
THREADS = 4


def test_four_imports_of_one_file_at_once_add_its_lines_once_and_four_postings_post_each_once(
        organization: Any, accounts: dict[str, BankAccount], clients: dict[str, Any], accountant: Any) -> None:
    _require_postgresql()
    ours = our_side(accounts["main"])
    data = statement_file([ours.account], DAY, DAY, [
        document(str(n), DAY, f"{100 + n}.00", clients[f"c{1 + n % 6}_side"], ours, "Аванс", credited=DAY)
        for n in range(20)])

    imports = _run_at_once([lambda: bank.import_bank_statement(data, user=accountant) for _ in range(THREADS)])

    assert [kind for kind, _r in imports] == ["ok"] * THREADS, [repr(r) for k, r in imports if k == "error"]
    assert BankStatement.objects.count() == 1 and BankStatementLine.objects.count() == 20
    assert sorted(r.new for _k, r in imports) == [0, 0, 0, 20]
    assert {r.statement.pk for _k, r in imports} == {BankStatement.objects.get().pk}

    lines = list(BankStatementLine.objects.all())
    posts = _run_at_once([lambda: bank.post_statement_lines(lines, user=accountant) for _ in range(THREADS)])

    assert [kind for kind, _r in posts] == ["ok"] * THREADS, [repr(r) for k, r in posts if k == "error"]
    assert sum(len(r.posted) for _k, r in posts) == 20 and all(r.refused == [] for _k, r in posts)
    assert IncomingPayment.objects.count() == 20
    assert set(BankStatementLine.objects.values_list("status", flat=True)) == {LineStatus.POSTED}
    assert Funds.balance(organization=organization, cash_desk=None, bank_account=accounts["main"])["amount"] == \
        sum((Decimal(100 + n) for n in range(20)), Decimal(0))
    for register in (ClientSettlements, ClientAdvances, Funds):
        assert verify_register(register) == [], register.label
