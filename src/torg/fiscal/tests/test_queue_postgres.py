"""The fiscal queue under real concurrency on PostgreSQL: four workers drain one register at once and every
receipt is registered exactly once, in order; payments registered from several threads each get their receipt.

Run by `make test-pg` (deselected on SQLite by `-m "not postgres"`).
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from torg.fiscal.models import EmulatorDocument, FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import drain, queue_receipts
from torg.fiscal.tests.test_queue import drafts
from torg.stock.tests.test_concurrency import _require_postgresql, _run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
D = Decimal


def test_four_workers_drain_one_register_once_in_order(register, organization):
    _require_postgresql()
    queue_receipts(drafts(60), organization_id=organization.pk, cash_register=register)
    outcomes = _run_at_once([lambda n=n: drain(register.pk, owner=f"worker-{n}", force=True) for n in range(4)])
    assert all(kind == "ok" for kind, _ in outcomes), outcomes
    registered = sum(result.registered for _, result in outcomes)
    assert registered == 60
    assert sum(1 for _, result in outcomes if result.busy) >= 1  # the others found the register taken
    rows = list(FiscalReceipt.objects.order_by("pk").values_list("status", "fiscal_document_number"))
    assert {status for status, _ in rows} == {ReceiptStatus.REGISTERED}
    numbers = [n for _, n in rows]
    assert numbers == sorted(numbers) and len(set(numbers)) == 60
    assert EmulatorDocument.objects.filter(kind="sell").count() == 60


def test_payments_from_eight_threads_each_get_their_receipt(register, make_order, pay, client_partner):
    _require_postgresql()
    order = make_order()
    _run_at_once([lambda: pay(client_partner, "100.00", {order: "100.00"}) for _ in range(8)])
    assert FiscalReceipt.objects.count() == 8
    drain(register.pk)
    totals = list(FiscalReceipt.objects.values_list("status", "total").order_by().distinct())
    assert totals == [(ReceiptStatus.REGISTERED, D("100.00"))]
