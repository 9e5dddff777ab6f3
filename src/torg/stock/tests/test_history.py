"""The change history records what really changed, not how a value happened to be written."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from torg.conftest import moment
from torg.core.models import ChangeLogEntry
from torg.stock import services
from torg.stock.models import Purchase, PurchaseLine
from torg.stock.tests.helpers import purchase

pytestmark = pytest.mark.django_db


def _last_changes(doc: Purchase) -> dict:
    return ChangeLogEntry.objects.filter(object_id=doc.pk, action="changed").latest("id").changes


def test_saving_again_unchanged_records_no_change(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, "10", "55")], post=False)
    fresh = Purchase.objects.get(pk=doc.pk)
    # The same moment in another zone, quantities and prices written with other trailing zeros.
    fresh.date = fresh.date.astimezone(ZoneInfo("Asia/Vladivostok"))
    lines = [PurchaseLine(item=milk, quantity=Decimal("10.000"), price=Decimal("55.0"), vat_rate=milk.vat_rate)]
    services.save_stock_document(fresh, lines, expected_version=fresh.version)
    logged = ChangeLogEntry.objects.filter(object_id=doc.pk, action="changed").values_list("changes", flat=True)
    assert [changes for changes in logged if changes] == []


def test_a_real_change_of_date_and_quantity_is_recorded(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, "10", "55")], post=False)
    fresh = Purchase.objects.get(pk=doc.pk)
    fresh.date = fresh.date + dt.timedelta(days=1)
    lines = [PurchaseLine(item=milk, quantity=Decimal("12"), price=Decimal("55"), vat_rate=milk.vat_rate)]
    services.save_stock_document(fresh, lines, expected_version=fresh.version)
    changes = _last_changes(fresh)
    assert set(changes) == {"date", "lines"}
    assert [ln["quantity"] for ln in changes["lines"]["before"]] == ["10"]
    assert [ln["quantity"] for ln in changes["lines"]["after"]] == ["12"]
    assert changes["date"] == ["2025-03-10 09:00:00+00:00", "2025-03-11 09:00:00+00:00"]
