"""The accountant's bank statement in Chromium, as a person does it: the menu, uploading the bank's file, the lines
and the problem found in it, posting the matched lines, matching a stranger's payment to a client's order and
posting it, and downloading the payment orders of the month's refunds.

Screenshots go to settings.SCREENSHOT_DIR / "payments"."""
from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from torg.catalogs.models import BankAccount
from torg.payments import bank_exchange as bx
from torg.payments.models import BankStatementLine, IncomingPayment, LineStatus
from torg.payments.tests.bank_helpers import Side, account, document, inn, statement_file
from torg.payments.tests.conftest import DAY, our_side

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
D = Decimal


def shot(page: Any, name: str) -> None:
    folder = settings.SCREENSHOT_DIR / "payments"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def log_in(page: Any, url: str, username: str) -> None:
    page.context.clear_cookies()
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": url}])
    page.goto(url + "/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pass12345")
    page.click("form button.w-100")
    page.wait_for_url(lambda u: "/login/" not in u)


def test_the_accountant_imports_matches_posts_and_exports_through_the_pages(
        live_server: Any, page: Any, tmp_path: Path, organization: Any, accounts: Any, clients: Any, orders: Any,
        our_refund: Any, accountant: Any) -> None:
    ours = our_side(accounts["main"])
    stranger = Side(account(777), inn(777), "771001001", "ООО «Новый плательщик»")
    statement = tmp_path / "kl_to_1c.txt"
    statement.write_bytes(statement_file([ours.account], DAY, DAY, [
        document("101", DAY, "1000.00", clients["c1_side"], ours, "Оплата по счету № РМ-000001", credited=DAY),
        document("9", DAY, "2400.00", stranger, ours, "Оплата за ООО «Клиент 2» по письму", credited=DAY),
        document("1", DAY, "700.00", ours, clients["c5_side"], "Возврат аванса", debited=DAY),
        document("58", DAY, "0", clients["c1_side"], ours, "x", credited=DAY, amount_text="abc"),
    ]))
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, live_server.url, "accountant")

    # -- the menu: Payments → Bank statements → New
    page.click("nav a.dropdown-toggle:has-text('Payments')")
    page.click("a.dropdown-item:has-text('Bank statements')")
    page.click("a:has-text('New')")
    page.set_input_files("input[name=file]", str(statement))
    page.click("#import-submit")
    page.wait_for_selector("#statement-lines")
    assert "Imported: 3 new lines of 4 documents" in page.inner_text(".torg-messages")
    assert page.locator("tr.bank-line").count() == 3
    assert "Сумма “abc” is not an amount" in page.inner_text("#statement-problems")
    assert page.inner_text(f"#line-{BankStatementLine.objects.get(number='1').pk}").count("Posted") == 1
    shot(page, "bank-statement-imported")

    # -- post the matched line
    page.click("#post-lines")
    page.wait_for_selector(".torg-messages:has-text('Posted 1 line.')")
    assert IncomingPayment.objects.get(statement_line__number="101").partner == clients["c1"]

    # -- the stranger's payment: choose client 2, its order with this amount is proposed, match, post
    page.click("#status-filter a:has-text('To match')")
    page.click(f"tr#line-{BankStatementLine.objects.get(number='9').pk} a")
    page.select_option("select[name=partner]", str(clients["c2"].pk))  # its orders come without a reload
    page.wait_for_selector(f"input[name=order-{orders['o3'].pk}]")
    assert page.locator("select[name=counterparty] option").all_inner_texts() == ["---------",
                                                                               f"ООО «Клиент 2» · {inn(2)}"]
    assert page.input_value(f"input[name=order-{orders['o3'].pk}]") == "2400.00"
    shot(page, "bank-line-match")
    page.click("#match-line")
    page.wait_for_selector("#line-status:has-text('Matched')")
    page.click("#post-line")
    page.wait_for_selector("#line-payment")
    line = BankStatementLine.objects.get(number="9")
    assert line.status == LineStatus.POSTED and line.payment.partner == clients["c2"]
    shot(page, "bank-line-posted")

    # -- the month's refunds as payment orders (client 5's account is in the catalogs)
    BankAccount.objects.create(counterparty=clients["c5"].counterparties.get(), number=clients["c5_side"].account,
                               bik="044525593")
    page.goto(live_server.url + "/payments/bank/export/")
    page.select_option("select[name=bank_account]", str(accounts["main"].pk))
    page.fill("input[name=start]", "2026-03-01")
    page.fill("input[name=end]", "2026-03-31")
    page.click("#export-preview")
    page.wait_for_selector("#export-orders")
    shot(page, "bank-export")
    with page.expect_download() as download_info:
        page.click("#export-download")
    parsed = bx.parse(Path(download_info.value.path()).read_bytes())
    assert [(d.number, d.amount) for d in parsed.documents] == [("1", D("700.00"))]
