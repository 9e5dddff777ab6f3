"""Turnovers for any period equal the sum of the movements in it, however the period cuts the months."""
from __future__ import annotations

import datetime as dt
import random
from collections import defaultdict
from decimal import Decimal

import pytest
from django.utils import timezone

from torg.conftest import moment
from torg.stock.models import Stock, StockMovement
from torg.stock.tests.helpers import purchase, transfer

pytestmark = pytest.mark.django_db


def _brute_force(start: dt.datetime, end: dt.datetime) -> dict:
    out: dict = defaultdict(lambda: {"quantity_receipt": Decimal(0), "quantity_expense": Decimal(0),
                                     "free_receipt": Decimal(0), "free_expense": Decimal(0)})
    for m in StockMovement.objects.filter(period__gte=start, period__lt=end):
        side = "receipt" if m.record_type == 1 else "expense"
        out[(m.warehouse_id, m.item_id)][f"quantity_{side}"] += m.quantity
        out[(m.warehouse_id, m.item_id)][f"free_{side}"] += m.free
    return {k: {n: v.quantize(Decimal("0.001")) for n, v in res.items()} for k, res in out.items()}


def test_turnovers_of_any_period_equal_the_movements_in_it(organization, warehouse, warehouse2, supplier, milk,
                                                            bread):
    rng = random.Random(5)
    day = moment("2025-01-03", 9)
    for _ in range(40):  # receipts and transfers spread over five months
        day += dt.timedelta(days=rng.randint(1, 6), hours=rng.randint(0, 8))
        purchase(organization, warehouse, supplier, day, [(milk, rng.randint(5, 9), "50"), (bread, 4, "30")])
        transfer(organization, warehouse, warehouse2, day + dt.timedelta(hours=1),
                 [(milk, rng.randint(1, 4)), (bread, 1)])
    zone = timezone.get_current_timezone()
    spans = [("2025-01-01", "2025-07-01"), ("2025-01-05", "2025-01-28"), ("2025-01-05", "2025-03-29"),
             ("2025-02-01", "2025-02-27"), ("2025-02-02", "2025-05-01"), ("2025-01-31", "2025-02-02"),
             ("2025-03-15", "2025-03-16"), ("2025-04-20", "2025-06-03")]
    for a, b in spans:
        start = dt.datetime.fromisoformat(a).replace(hour=rng.randint(0, 23), tzinfo=zone)
        end = dt.datetime.fromisoformat(b).replace(hour=rng.randint(0, 23), tzinfo=zone)
        assert Stock.turnovers(start, end, ["warehouse", "item"]) == _brute_force(start, end), (a, b)
        by_item = Stock.turnovers(start, end, ["item"], warehouse=warehouse2)
        expected = {(k[1],): v for k, v in _brute_force(start, end).items() if k[0] == warehouse2.pk}
        assert by_item == expected, (a, b)
