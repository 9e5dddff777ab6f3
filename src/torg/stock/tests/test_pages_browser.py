"""The purchase flow through the pages in Chromium: item search, live totals, save and post, movements.

Screenshots go to settings.SCREENSHOT_DIR / "stock".
"""
from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings

from torg.stock.models import Purchase, Stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page: Any, name: str) -> None:
    folder = settings.SCREENSHOT_DIR / "stock"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


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


def test_purchase_through_the_pages(live_server: Any, page: Any, storekeeper: Any, organization: Any,
                                    warehouse: Any, supplier: Any, milk: Any, bread: Any) -> None:
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": live_server.url}])
    page.goto(live_server.url + "/login/")
    page.fill("input[name=username]", "storekeeper")
    page.fill("input[name=password]", "pass12345")
    page.click("form button.w-100")
    page.goto(live_server.url + "/stock/purchases/new/")
    page.select_option("select[name=organization]", str(organization.pk))
    page.select_option("select[name=supplier]", str(supplier.pk))
    page.select_option("select[name=warehouse]", str(warehouse.pk))
    pick_item(page, 0, "Mil")
    page.fill("input[name='lines-0-quantity']", "10")
    page.fill("input[name='lines-0-price']", "61")
    page.click(".js-add-line")
    pick_item(page, 1, "Bre")
    assert page.eval_on_selector_all("[data-role=item-id]", "els => els.map(e => e.value)") == [str(milk.pk),
                                                                                                str(bread.pk)]
    page.fill("input[name='lines-1-quantity']", "3")
    page.fill("input[name='lines-1-price']", "40.50")
    assert page.inner_text("[data-total=amount]") == "731.50"
    shot(page, "purchase-new")

    page.click("button[value=save_post]")
    page.wait_for_selector("#doc-status")
    shot(page, "purchase-posted")
    doc = Purchase.objects.get()
    assert doc.posted is True
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == Decimal("10.000")
    assert Stock.balance(warehouse=warehouse, item=bread)["quantity"] == Decimal("3.000")
    page.click("#tab-movements")
    assert "Bread" in page.inner_text("#doc-movements")
    shot(page, "purchase-movements")
