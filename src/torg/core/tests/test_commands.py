"""Management commands of the engine: check_registers and recalculate_costs."""
from __future__ import annotations

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from torg.catalogs.models import Item, Organization, Partner, VatRate, Warehouse
from torg.conftest import moment
from torg.stock.models import Stock, StockCost, StockTotal
from torg.stock.tests.helpers import purchase, write_off


def test_check_registers_passes_when_totals_equal_movements(
    organization: Organization, warehouse: Warehouse, supplier: Partner, milk: Item
) -> None:
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(milk, 10, 50)])
    write_off(organization, warehouse, moment("2025-03-02"), [(milk, 3)])
    out = StringIO()
    call_command("check_registers", stdout=out)
    text = out.getvalue()
    assert "stock.stock: OK" in text
    assert "stock.stock_cost: OK" in text
    assert "Every register's totals equal the sum of its movements." in text


def test_check_registers_lists_a_mismatch_and_exits_with_1(
    organization: Organization, warehouse: Warehouse, supplier: Partner, milk: Item
) -> None:
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(milk, 10, 50)])
    StockTotal.objects.update(quantity=Decimal("11"))
    out = StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("check_registers", stdout=out)
    assert raised.value.returncode == 1
    assert "1 total(s) differ" in str(raised.value)
    key = Stock.key_of((warehouse.pk, milk.pk))
    assert f"total {key}: movements give (10.000, 10.000), kept (11.000, 10.000)" in out.getvalue()


def test_check_registers_exit_code_from_the_command_line(
    organization: Organization, warehouse: Warehouse, supplier: Partner, milk: Item, capsys: Any, monkeypatch: Any
) -> None:
    # call_command raises; run_from_argv turns the CommandError into the process exit code.
    from django.core.management import ManagementUtility, base

    # run_from_argv closes the connections at the end, which would end the test's transaction.
    monkeypatch.setattr(base.connections, "close_all", lambda: None)
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(milk, 10, 50)])
    ManagementUtility(["manage.py", "check_registers"]).execute()  # no SystemExit: exit code 0
    StockTotal.objects.update(quantity=Decimal("9"))
    with pytest.raises(SystemExit) as raised:
        ManagementUtility(["manage.py", "check_registers"]).execute()
    assert raised.value.code == 1
    assert "1 total(s) differ from the sum of their movements" in capsys.readouterr().err


def test_recalculate_costs_makes_a_back_dated_purchase_count(
    organization: Organization, warehouse: Warehouse, supplier: Partner, make_item: Any
) -> None:
    tea = make_item("Tea", vat_rate=VatRate.VAT_0)
    purchase(organization, warehouse, supplier, moment("2025-03-01"), [(tea, 10, 100)])
    issue = write_off(organization, warehouse, moment("2025-03-10"), [(tea, 5)])
    assert StockCost.movements_of(issue)[0].amount == Decimal("500.00")
    purchase(organization, warehouse, supplier, moment("2025-03-05"), [(tea, 10, 200)])  # back-dated

    out = StringIO()
    call_command("recalculate_costs", "--organization", str(organization.pk), "--from", "2025-03-05", stdout=out)

    assert "1 document(s) changed" in out.getvalue()
    assert StockCost.movements_of(issue)[0].amount == Decimal("750.00")  # 5 × (1,000 + 2,000) / 20
    assert StockCost.balance(organization=organization.pk, item=tea.pk) == {
        "quantity": Decimal("15.000"), "amount": Decimal("2250.00")}


def test_recalculate_costs_refuses_an_unknown_organization_and_a_bad_date(organization: Organization) -> None:
    with pytest.raises(CommandError, match=f"No organization with id 999; known ids: {organization.pk} "):
        call_command("recalculate_costs", "--organization", "999", "--from", "2025-03-05")
    with pytest.raises(CommandError, match="--from must be a date as YYYY-MM-DD"):
        call_command("recalculate_costs", "--organization", str(organization.pk), "--from", "05.03.2025")
