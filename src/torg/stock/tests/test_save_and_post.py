"""Save and post in one transaction, and the posting hot path: what it writes, what it refuses, how many
queries it asks."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext

from torg.conftest import moment
from torg.core.documents import _lock_document
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry, NumberSequence
from torg.core.posting import ShortageError, verify_register
from torg.stock import services
from torg.stock.models import (
    Purchase,
    PurchaseLine,
    Stock,
    StockCost,
    StockCount,
    StockCountLine,
    StockMovement,
    StockTotal,
    Transfer,
    TransferLine,
)
from torg.stock.tests.helpers import D, purchase

pytestmark = pytest.mark.django_db


def _actions(doc: Any) -> list[str]:
    ct = ContentType.objects.get_for_model(doc)
    return list(ChangeLogEntry.objects.filter(content_type=ct, object_id=doc.pk).order_by("id")
                .values_list("action", flat=True))


def _statements(queries: CaptureQueriesContext) -> list[str]:
    """The statements sent, without the savepoints a test's surrounding transaction adds."""
    return [q["sql"] for q in queries.captured_queries
            if not q["sql"].upper().startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))]


def test_save_and_post_creates_and_posts_a_purchase_in_one_go(organization, warehouse, supplier, milk, bread,
                                                             storekeeper):
    doc = Purchase(organization=organization, supplier=supplier, warehouse=warehouse, date=moment("2026-03-10"))
    services.save_stock_document(doc, [PurchaseLine(item=milk, quantity=D(10), price=D("122.00"), vat_rate=22),
                                       PurchaseLine(item=bread, quantity=D(5), price=D(61), vat_rate=22)],
                                 user=storekeeper, post=True)

    stored = Purchase.objects.get(pk=doc.pk)
    assert (doc.posted, stored.posted, stored.number, stored.author_id) == (True, True, "РМ-000001", storekeeper.pk)
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D("10.000")
    assert StockCost.balance(organization=organization, item=milk) == {"quantity": D(10), "amount": D("1000.00")}
    assert _actions(doc) == ["created", "posted"]
    entries = ChangeLogEntry.objects.filter(object_id=doc.pk)
    assert {e.user_id for e in entries} == {storekeeper.pk} and {str(e.changes) for e in entries} == {"{}"}
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_save_and_post_writes_what_save_then_post_writes(organization, warehouse, warehouse2, supplier, milk,
                                                         bread):
    lines = [(milk, 7, "99.90"), (bread, 3, "41.15"), (milk, 2, "100.00")]
    separate = purchase(organization, warehouse, supplier, moment("2026-03-10"), lines)
    together = Purchase(organization=organization, supplier=supplier, warehouse=warehouse2, date=moment("2026-03-10"))
    services.save_stock_document(together, [PurchaseLine(item=i, quantity=D(q), price=D(p), vat_rate=i.vat_rate)
                                            for i, q, p in lines], post=True)

    def written(doc: Purchase) -> list[tuple[Any, ...]]:
        return [(m.line_no, m.period, m.record_type, m.item_id, m.quantity, getattr(m, "amount", None))
                for r in (Stock, StockCost) for m in r.movements_of(doc)]

    assert written(together) == written(separate)
    assert len(written(together)) == 6


def test_refused_save_and_post_leaves_nothing_and_gives_the_number_back(organization, warehouse, warehouse2,
                                                                       supplier, milk):
    purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 3, 100)])
    before = (StockMovement.objects.count(), list(StockTotal.objects.values()), ChangeLogEntry.objects.count())
    doc = Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=warehouse2,
                   date=moment("2026-03-11"))
    lines = [TransferLine(item=milk, quantity=D(5))]

    with pytest.raises(ShortageError) as info:
        services.save_stock_document(doc, lines, post=True)

    assert info.value.code == ErrorCode.SHORTAGE
    assert (info.value.shortfalls[0].need, info.value.shortfalls[0].have) == (D(5), D(3))
    assert Transfer.objects.count() == 0
    assert (StockMovement.objects.count(), list(StockTotal.objects.values()),
            ChangeLogEntry.objects.count()) == before
    # The in-memory document is as it was: corrected, it is saved as a new one with the first number.
    assert (doc.pk, doc.number, doc.posted, lines[0].pk) == (None, "", False, None)
    lines[0].quantity = D(2)
    services.save_stock_document(doc, lines, post=True)
    assert Transfer.objects.get().number == "РМ-000001" and doc.posted
    assert Stock.balance(warehouse=warehouse2, item=milk)["quantity"] == D(2)


def test_save_and_post_of_a_saved_draft_posts_it_with_its_changes(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 3, 100)], post=False)
    doc.refresh_from_db()

    services.save_stock_document(doc, [PurchaseLine(item=milk, quantity=D(4), price=D(100), vat_rate=22)],
                                 expected_version=doc.version, post=True)

    assert Purchase.objects.get(pk=doc.pk).posted is True
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(4)
    assert _actions(doc) == ["created", "changed", "posted"]
    # Posted and unchanged: saving and posting again re-posts it and changes nothing.
    doc.refresh_from_db()
    services.save_stock_document(doc, [PurchaseLine(item=milk, quantity=D(4), price=D(100), vat_rate=22)],
                                 expected_version=doc.version, post=True)
    assert _actions(doc) == ["created", "changed", "posted", "reposted"]
    assert Stock.balance(warehouse=warehouse, item=milk)["quantity"] == D(4)
    assert verify_register(Stock) == []


def test_numbers_are_taken_at_the_end_and_grow_past_six_digits(organization, warehouse, supplier, milk):
    NumberSequence.objects.create(scope="stock.purchase|РМ|2026", last_value=999_998)
    first = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 1, 1)])
    second = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 1, 1)], post=False)
    assert (first.number, second.number) == ("РМ-999999", "РМ-1000000")
    assert list(Purchase.objects.order_by("pk").values_list("number", flat=True)) == ["РМ-999999", "РМ-1000000"]


def test_save_and_post_refuses_a_deletion_mark_a_stock_count_and_a_stale_version(organization, warehouse,
                                                                                   supplier, milk):
    marked = Purchase(organization=organization, supplier=supplier, warehouse=warehouse, date=moment("2026-03-10"),
                      deletion_mark=True)
    with pytest.raises(CoreError) as info:
        services.save_stock_document(marked, [PurchaseLine(item=milk, quantity=D(1), price=D(1), vat_rate=22)],
                                     post=True)
    assert info.value.code == ErrorCode.DELETION_MARKED
    count = StockCount(organization=organization, warehouse=warehouse, date=moment("2026-03-10"))
    with pytest.raises(CoreError) as info:
        services.save_stock_document(count, [StockCountLine(item=milk, quantity=D(1))], post=True)
    assert info.value.code == ErrorCode.INVALID
    assert Purchase.objects.count() == 0 and StockCount.objects.count() == 0
    assert not NumberSequence.objects.filter(last_value__gt=0).exists()

    draft = purchase(organization, warehouse, supplier, moment("2026-03-10"), [(milk, 3, 100)], post=False)
    with pytest.raises(CoreError) as info:
        services.save_stock_document(draft, [PurchaseLine(item=milk, quantity=D(4), price=D(1), vat_rate=22)],
                                     expected_version=draft.version - 1, post=True)
    assert info.value.code == ErrorCode.CONCURRENT_EDIT
    assert Purchase.objects.get(pk=draft.pk).posted is False and StockMovement.objects.count() == 0


def test_references_of_header_and_lines_are_checked_in_one_query(organization, warehouse, warehouse2, milk):
    doc = Transfer(organization_id=organization.pk, warehouse_from_id=warehouse.pk, warehouse_to_id=987654,
                   date=moment("2026-03-10"))
    lines = [TransferLine(item_id=milk.pk, quantity=D(1)), TransferLine(item_id=876543, quantity=D(1)),
             TransferLine(item_id=None, quantity=D(1))]
    with CaptureQueriesContext(connection) as queries, pytest.raises(CoreError) as info:
        services.validate_stock_document(doc, lines)
    assert len(_statements(queries)) == 1
    assert info.value.code == ErrorCode.INVALID
    assert set(info.value.fields) == {"warehouse_to", "lines.2.item", "lines.3.item"}
    assert "987654" in info.value.fields["warehouse_to"][0]
    assert info.value.fields["lines.2.item"] == ["Line 2: item #876543 does not exist."]

    doc.organization_id = None
    with pytest.raises(CoreError) as info:
        services.save_stock_document(doc, lines[:1])
    assert set(info.value.fields) == {"organization", "warehouse_to"}
    assert Transfer.objects.count() == 0


def test_the_document_is_locked_and_read_as_the_orm_reads_it(organization, warehouse, supplier, milk):
    doc = purchase(organization, warehouse, supplier, moment("2026-03-10", 15), [(milk, 3, 100)], post=False)
    orm = Purchase.objects.get(pk=doc.pk)
    with CaptureQueriesContext(connection) as queries:
        locked, lock_date = _lock_document(Purchase, doc.pk)
        organization_loaded = locked.organization
    assert len(_statements(queries)) == 1
    assert lock_date is None
    for field in Purchase._meta.concrete_fields:
        assert getattr(locked, field.attname) == getattr(orm, field.attname), field.name
    assert locked.date == moment("2026-03-10", 15) and locked.date.tzinfo is not None
    assert organization_loaded == organization and organization_loaded.vat_payer is True
    assert not locked._state.adding
    with pytest.raises(Purchase.DoesNotExist):
        _lock_document(Purchase, 987654)


def test_queries_per_document_on_the_posting_path(organization, warehouse, warehouse2, supplier, make_item):
    items = [make_item(f"Goods {n}") for n in range(5)]
    ContentType.objects.get_for_models(Purchase, Transfer)  # cached per process, like a running server has it

    def new_purchase() -> tuple[Purchase, list[PurchaseLine]]:
        return (Purchase(organization=organization, supplier=supplier, warehouse=warehouse,
                         date=moment("2026-03-10")),
                [PurchaseLine(item=i, quantity=D(10), price=D(50), vat_rate=22) for i in items])

    def new_transfer() -> tuple[Transfer, list[TransferLine]]:
        return (Transfer(organization=organization, warehouse_from=warehouse, warehouse_to=warehouse2,
                         date=moment("2026-03-11")), [TransferLine(item=i, quantity=D(1)) for i in items])

    # Create and post, one transaction: references, lock date, header, lines, lines read back, per register
    # movements + kept totals + monthly totals, (receipts) later issues, number, change log; a receipt into stock
    # also asks once whether any order line waits for goods to arrive (sales' listener on the stock register).
    arrivals = 1  # the one question of sales' listener when stock comes in
    numbering = 1 if connection.vendor == "postgresql" else 2  # one statement on PostgreSQL, two elsewhere
    with CaptureQueriesContext(connection) as queries:
        services.save_stock_document(*new_purchase(), post=True)
    assert len(_statements(queries)) <= 13 + arrivals + numbering, _statements(queries)
    with CaptureQueriesContext(connection) as queries:
        services.save_stock_document(*new_transfer(), post=True)
    assert len(_statements(queries)) <= 9 + arrivals + numbering, _statements(queries)

    # Posting a saved document: lock with lock date, lines, registers, later issues, posted flag, change log.
    doc, lines = new_purchase()
    services.save_stock_document(doc, lines)
    with CaptureQueriesContext(connection) as queries:
        services.post(doc)
    assert len(_statements(queries)) <= 11 + arrivals, _statements(queries)
    doc, lines = new_transfer()
    services.save_stock_document(doc, lines)
    with CaptureQueriesContext(connection) as queries:
        services.post(doc)
    assert len(_statements(queries)) <= 7 + arrivals, _statements(queries)
    assert verify_register(Stock) == [] and verify_register(StockCost) == []


def test_a_new_purchase_with_prices_without_vat_adds_vat_on_top(organization, warehouse, supplier, milk):
    """The VAT of a purchase whose prices exclude it is charged on top — also when it is saved for the first
    time (its lines then know the document only in memory)."""
    doc = Purchase(organization=organization, supplier=supplier, warehouse=warehouse, date=moment("2026-03-10"),
                   prices_include_vat=False)
    line = PurchaseLine(item=milk, quantity=D(10), price=D(100), vat_rate=22)
    services.save_stock_document(doc, [line], post=True)
    stored = PurchaseLine.objects.get(document=doc)
    assert stored.amount == D("1000.00")
    assert stored.vat_amount == D("220.00")
