"""Two phones confirming one stop at the same moment, on PostgreSQL: the first confirmation stands, the second
gets it back; nothing is registered twice.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`).
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from torg.delivery import courier as door
from torg.delivery.models import StopStatus
from torg.delivery.tests import test_door as door_tests
from torg.fiscal.models import FiscalReceipt
from torg.payments.models import IncomingPayment
from torg.stock.tests.test_concurrency import _require_postgresql, _run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal
for _name in ("accountant", "address", "bank_account", "cash_desk", "client_partner", "credit_agreement", "director",
              "logistician", "manager", "on_route", "order", "price_type", "prices", "register", "stocked", "van",
              "courier"):
    globals()[_name] = getattr(door_tests, _name)  # the door scenarios' fixtures


def test_six_phones_confirming_one_stop_register_it_once(order: Any, on_route: Any, courier: Any,
                                                         register: Any) -> None:
    _require_postgresql()
    stop = on_route(order())
    # Three phones with their own keys, each also retrying once, all at the same moment.
    keys = [f"phone-{n % 3}" for n in range(6)]
    outcomes = _run_at_once([
        lambda key=key: door.confirm_stop(stop, payment=door.DoorPayment(cash=D("2000.00")), user=courier, key=key)
        for key in keys])

    assert [kind for kind, _r in outcomes] == ["ok"] * 6, outcomes
    results = [r for _k, r in outcomes]
    assert sum(1 for r in results if not r.replay) == 1  # one confirmation registered
    assert all(r.result == results[0].result for r in results)
    stop.refresh_from_db()
    assert stop.status == StopStatus.DONE
    assert IncomingPayment.objects.count() == 1 and FiscalReceipt.objects.count() == 1
    winner = stop.confirmation_key
    assert all(r.same_request == (key == winner) for key, r in zip(keys, results, strict=True) if r.replay)
