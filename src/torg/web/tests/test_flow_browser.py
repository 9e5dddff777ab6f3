"""The foundation's story in Chromium, one screenshot per step (settings.SCREENSHOT_DIR / "flow"):

log in → create an item → post a purchase of it → see the stock report change → switch the language.
"""
from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.utils import translation

from torg.catalogs.models import Item
from torg.stock.models import Purchase, Stock

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def shot(page: Any, step: int, name: str) -> None:
    folder = settings.SCREENSHOT_DIR / "flow"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{step}-{name}.png"), full_page=True)


def report_row(page: Any, item_name: str) -> list[str]:
    """The cells of the stock report row of one item (empty list when the item is not in the report)."""
    return page.eval_on_selector_all(
        "#report-table tbody tr",
        "(rows, name) => { const r = rows.find(tr => tr.innerText.includes(name));"
        " return r ? [...r.cells].map(c => c.innerText.trim()) : []; }",
        item_name)


def test_log_in_create_item_post_purchase_see_report_switch_language(
        live_server: Any, page: Any, admin_user: Any, organization: Any, warehouse: Any, supplier: Any,
        unit: Any) -> None:
    base = live_server.url
    page.context.add_cookies([{"name": "django_language", "value": "en", "url": base}])

    # 1. Log in.
    page.goto(base + "/login/")
    shot(page, 1, "login")
    page.fill("input[name=username]", "administrator")
    page.fill("input[name=password]", "pass12345")
    page.click("form button.w-100")
    page.wait_for_url(base + "/")
    assert {"Catalogs", "Stock", "Reports", "Administration"} <= set(page.inner_text("nav").split("\n"))
    shot(page, 2, "home")

    # 2. The stock report before: the new item is not there.
    page.goto(base + "/reports/stock/")
    assert report_row(page, "Кефир 3,2% 900 г") == []
    shot(page, 3, "report-before")

    # 3. Create an item through its catalog page.
    page.goto(base + "/catalogs/items/new/")
    page.fill("input[name=name]", "Кефир 3,2% 900 г")
    page.fill("input[name=sku]", "KEF-900")
    page.select_option("select[name=kind]", "goods")
    page.select_option("select[name=unit]", str(unit.pk))
    page.fill("input[name=weight_kg]", "0.95")
    page.fill("input[name=volume_m3]", "0.001")
    page.select_option("select[name=vat_rate]", "10")
    page.locator("#barcodes input[type=text]").first.fill("4607001771234")
    shot(page, 4, "item-form")
    page.click("button[name=save_close]")
    page.wait_for_url(lambda url: "/new/" not in url)
    item = Item.objects.get(sku="KEF-900")
    assert (item.name, item.weight_kg, item.vat_rate) == ("Кефир 3,2% 900 г", Decimal("0.950"), 10)
    assert list(item.barcodes.values_list("code", flat=True)) == ["4607001771234"]
    shot(page, 5, "item-saved")

    # 4. Post a purchase of it.
    page.goto(base + "/stock/purchases/new/")
    page.select_option("select[name=organization]", str(organization.pk))
    page.select_option("select[name=supplier]", str(supplier.pk))
    page.select_option("select[name=warehouse]", str(warehouse.pk))
    search = page.locator(".js-item-search").first
    search.click()
    search.press_sequentially("Кеф", delay=30)
    page.wait_for_function(
        "() => [...document.querySelectorAll('#item-options option')].some(o => o.value.includes('Кефир'))")
    label = page.eval_on_selector_all("#item-options option",
                                      "os => os.map(o => o.value).find(v => v.includes('Кефир'))")
    search.fill(label)
    search.dispatch_event("change")
    page.fill("input[name='lines-0-quantity']", "24")
    page.fill("input[name='lines-0-price']", "88.00")
    assert page.inner_text("[data-total=amount]") == "2,112.00"
    shot(page, 6, "purchase-form")
    page.click("button[value=save_post]")
    page.wait_for_selector("#doc-status")
    shot(page, 7, "purchase-posted")
    purchase = Purchase.objects.get()
    assert purchase.posted
    assert Stock.balance(warehouse=warehouse, item=item)["quantity"] == Decimal("24.000")

    # 5. The stock report now shows the item with its quantity.
    page.goto(base + "/reports/stock/")
    row = report_row(page, "Кефир 3,2% 900 г")
    assert row[0] == warehouse.name
    assert "24.000" in row or "24,000" in row
    shot(page, 8, "report-after")

    # 6. Switch the interface to Russian with the switch in the top bar: the same report, in Russian.
    page.click("form.torg-lang button[value=ru]")
    page.wait_for_selector("html[lang=ru]")
    with translation.override("ru"):
        title_ru = translation.gettext("Stock report")
    assert title_ru != "Stock report", "the Russian catalog has no translation of the report's title"
    assert title_ru in page.inner_text("h1")
    assert report_row(page, "Кефир 3,2% 900 г")[0] == warehouse.name
    shot(page, 9, "report-russian")

    # 7. And back to English.
    page.click("form.torg-lang button[value=en]")
    page.wait_for_selector("html[lang=en]")
    assert "Total" in page.inner_text("#report-totals")
    shot(page, 10, "report-english")
