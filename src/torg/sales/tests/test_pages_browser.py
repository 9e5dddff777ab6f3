"""The manager's quote → order → approval flow through the pages in Chromium, as a person does it: items picked
with the search (prices from the agreement), the client's answer, the order, "Agree", the director's inbox, and
the decision seen by the manager.

Screenshots go to settings.SCREENSHOT_DIR / "sales".
"""
from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from torg.sales.models import ApprovalState, OrderStatus, Quote, SalesOrder

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page: Any, name: str) -> None:
    folder = settings.SCREENSHOT_DIR / "sales"
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


def pick_item(page: Any, row: int, text: str) -> None:
    search = page.locator(".js-item-search").nth(row)
    search.click()
    search.press_sequentially(text, delay=30)
    page.wait_for_function(
        "t => [...document.querySelectorAll('#item-options option')].some(o => o.value.toLowerCase().includes(t))",
        arg=text.lower())
    label = page.eval_on_selector_all(
        "#item-options option", "(os, t) => os.map(o => o.value).find(v => v.toLowerCase().includes(t))", text.lower())
    search.fill(label)
    search.dispatch_event("change")


def test_quote_to_approved_order_through_the_pages(live_server: Any, page: Any, manager: Any, director: Any,
                                                   organization: Any, client_partner: Any, agreement: Any,
                                                   prices: Any, milk: Any, bread: Any, warehouse: Any) -> None:
    page.set_viewport_size({"width": 1440, "height": 900})
    log_in(page, live_server.url, "manager")

    # -- a quote: the client chosen brings its agreement; picked items get the agreement's prices
    page.goto(live_server.url + "/sales/quotes/new/")
    page.fill("input[name=date]", "2026-03-10T09:00:00")
    page.select_option("select[name=organization]", str(organization.pk))
    page.select_option("select[name=partner]", str(client_partner.pk))
    page.wait_for_function(f"() => document.querySelector('select[name=agreement]').value === '{agreement.pk}'")
    pick_item(page, 0, "milk")
    page.fill("input[name='lines-0-quantity']", "10")
    page.click(".js-add-line")
    pick_item(page, 1, "bread")
    page.fill("input[name='lines-1-quantity']", "20")
    assert page.input_value("input[name='lines-0-price']") == "100.00"
    assert page.input_value("input[name='lines-1-price']") == "50.00"
    assert page.inner_text("[data-total=amount]") == "2,000.00"
    shot(page, "quote-new")
    page.click("button[value=save]")
    page.wait_for_selector("#answer-form")
    quote = Quote.objects.get()
    assert quote.amount == Decimal("2000.00")

    # -- the client wants 30 bread at 48: recorded as version 2
    page.check("input[name='answer-0-agreed']")
    page.check("input[name='answer-1-agreed']")
    page.fill("input[name='answer-1-quantity']", "30")
    page.fill("input[name='answer-1-price']", "48")
    page.fill("#answer-form textarea[name=comment]", "More bread, a little cheaper")
    shot(page, "quote-answer")
    page.click("#answer-form button[value=answer]")
    page.wait_for_selector("#quote-versions")
    assert "version 2" in page.inner_text("#quote-versions")
    shot(page, "quote-version-2")

    # -- the order from the agreed lines, saved and posted, then agreed: it goes to approval
    page.click("#order-from-quote button[type=submit]")
    page.wait_for_selector("#order-state")
    assert page.is_visible("#save-agree") and page.is_visible("#save-release")  # one click to agree or release
    shot(page, "order-from-quote")
    order = SalesOrder.objects.get()
    page.click("button[value=save_post]")
    page.wait_for_selector("#doc-status")
    assert "732.00" in page.inner_text("#stages-table")  # the agreement's schedule, computed
    page.click(f"form[action='/sales/orders/{order.pk}/agree/'] button")
    page.wait_for_selector("#order-deviations")
    assert "below the agreement's price" in page.inner_text("#order-deviations")
    shot(page, "order-sent-for-approval")
    order.refresh_from_db()
    assert order.approval == ApprovalState.PENDING

    # -- the director approves it in the inbox
    log_in(page, live_server.url, "director")
    page.goto(live_server.url + "/sales/approvals/")
    shot(page, "approvals-inbox")
    page.fill("textarea[name=comment]", "Regular client")
    page.click("button[value=approve]")
    page.wait_for_selector("#approvals-empty")
    order.refresh_from_db()
    assert (order.status, order.approval) == (OrderStatus.TO_SECURE, ApprovalState.APPROVED)

    # -- the manager sees the decision on the order, and the order in the list
    log_in(page, live_server.url, "manager")
    page.goto(live_server.url + f"/sales/orders/{order.pk}/")
    assert "Approved by director" in page.inner_text("#approval-result")
    assert "Awaiting advance" in page.inner_text("#order-state")
    shot(page, "order-approved")
    page.goto(live_server.url + "/sales/orders/")
    assert "Awaiting advance" in page.inner_text("#orders-table")
    shot(page, "orders-list")
