"""Stock use cases: save, post and unpost stock documents; fill and complete stock counts.

The web pages, the REST API and the demo loader all call these.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from torg.core.documents import (
    Document,
    DocumentLine,
    clean_document,
    link_documents,
    post_document,
    save_document,
    unpost_document,
)
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_unit_cost
from torg.stock.models import (
    OpeningBalance,
    Purchase,
    Stock,
    StockCost,
    StockCount,
    StockCountLine,
    Surplus,
    SurplusLine,
    Transfer,
    WriteOff,
    WriteOffLine,
)

STOCK_DOCUMENTS: tuple[type[Document], ...] = (OpeningBalance, Purchase, Transfer, WriteOff, Surplus, StockCount)


def validate_stock_document(document: Document, lines: Sequence[DocumentLine]) -> None:
    """Check the header and every line; raise one CoreError with all field errors.

    The references of the header and of all lines are checked in one query."""
    errors = clean_document(document, lines, exclude=["number", "author", "version"])
    if isinstance(document, Transfer) and document.warehouse_from_id and \
            document.warehouse_from_id == document.warehouse_to_id:
        errors.setdefault("warehouse_to", []).append(
            _("A transfer needs two different warehouses: choose another destination.")
        )
    for i, line in enumerate(lines, start=1):
        prefix = f"lines.{i}."
        quantity = getattr(line, "quantity", None)
        if quantity is not None and quantity <= 0 and not isinstance(line, StockCountLine):
            errors.setdefault(f"{prefix}quantity", []).append(
                _("Line %(n)s: the quantity must be greater than zero.") % {"n": i}
            )
        if isinstance(line, StockCountLine) and quantity is not None and quantity < 0:
            errors.setdefault(f"{prefix}quantity", []).append(
                _("Line %(n)s: a counted quantity cannot be negative.") % {"n": i}
            )
        for money_field in ("price",):
            value = getattr(line, money_field, None)
            if value is not None and value < 0:
                errors.setdefault(f"{prefix}{money_field}", []).append(
                    _("Line %(n)s: the price cannot be negative.") % {"n": i}
                )
    if errors:
        raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)


def save_stock_document(
    document: Document,
    lines: Sequence[DocumentLine],
    *,
    user: Any = None,
    expected_version: int | None = None,
    post: bool = False,
) -> Document:
    """Create or change a stock document with its lines (amounts computed here); re-posts a posted one.

    With `post=True` the document is also posted in the same transaction ("Save and post"): a refused
    posting leaves nothing behind, neither the new document nor the changes."""
    if post:
        _refuse_posting_a_count(document)
    for line in lines:
        line.document = document  # type: ignore[attr-defined]
        line.compute()
    validate_stock_document(document, lines)
    if isinstance(document, StockCount) and document.status == StockCount.Status.COMPLETED and document.pk:
        raise CoreError(ErrorCode.INVALID, _("A completed stock count cannot be changed."))
    return save_document(document, lines, user=user, expected_version=expected_version, post=post)


def _refuse_posting_a_count(document: Document) -> None:
    if isinstance(document, StockCount):
        raise CoreError(ErrorCode.INVALID, _("A stock count is not posted: complete it to create the write-off "
                                             "and surplus for its differences."))


def post(document: Document, *, user: Any = None) -> Document:
    """Post a stock document (refused on shortage, lock date, empty document)."""
    _refuse_posting_a_count(document)
    return post_document(document, user=user)


def unpost(document: Document, *, user: Any = None) -> Document:
    """Unpost a stock document (refused when documents based on it are posted, or stock would go negative)."""
    return unpost_document(document, user=user)


# --------------------------------------------------------------- stock counts
def book_quantities(count: StockCount, item_ids: Sequence[int] | None = None) -> dict[int, Decimal]:
    """Stock of the count's warehouse at the count's moment, per item."""
    filters: dict[str, Any] = {"warehouse": count.warehouse_id}
    if item_ids is not None:
        filters["item"] = list(item_ids)
    balances = Stock.balances_at(count.date, ["item"], **filters)
    return {k[0]: v["quantity"] for k, v in balances.items()}


def fill_stock_count(count: StockCount, *, user: Any = None, all_items: bool = True) -> StockCount:
    """Fill the count's lines with the book quantities (every item in stock, or the items already listed).
    Counted quantities start equal to the book quantities."""
    if count.status == StockCount.Status.COMPLETED:
        raise CoreError(ErrorCode.INVALID, _("A completed stock count cannot be refilled."))
    existing = {ln.item_id: ln for ln in count.lines.all()} if count.pk else {}
    books = book_quantities(count, None if all_items else list(existing))
    lines = []
    for item_id, book in sorted(books.items(), key=lambda kv: kv[0]):
        if book == 0 and item_id not in existing:
            continue
        counted = existing[item_id].quantity if item_id in existing else book
        lines.append(StockCountLine(item_id=item_id, book_quantity=book, quantity=counted))
    for item_id, line in existing.items():
        if item_id not in books:
            lines.append(StockCountLine(item_id=item_id, book_quantity=Decimal(0), quantity=line.quantity))
    return save_stock_document(count, lines, user=user)  # type: ignore[return-value]


def complete_stock_count(count: StockCount, *, user: Any = None) -> tuple[WriteOff | None, Surplus | None]:
    """Turn the count's differences into a posted write-off (shortages) and surplus (excess).

    Book quantities are refreshed from the register first, so the differences are those at the count's moment.
    Surplus goods are valued at the organization's current average cost of the item.
    """
    with transaction.atomic():
        count = StockCount.objects.select_for_update().get(pk=count.pk)
        if count.status == StockCount.Status.COMPLETED:
            raise CoreError(ErrorCode.INVALID, _("%(doc)s is already completed.") % {"doc": count})
        lines = list(count.lines.order_by("line_no"))
        if not lines:
            raise CoreError(ErrorCode.EMPTY_DOCUMENT, _("The stock count has no lines: fill it first."))
        books = book_quantities(count, [ln.item_id for ln in lines])
        shortages: list[WriteOffLine] = []
        excess: list[SurplusLine] = []
        excess_items = []
        for line in lines:
            book = books.get(line.item_id, Decimal(0))
            if line.book_quantity != book:
                line.book_quantity = book
                line.save(update_fields=["book_quantity"])
            diff = line.quantity - book
            if diff < 0:
                shortages.append(WriteOffLine(item_id=line.item_id, quantity=-diff))
            elif diff > 0:
                excess.append(SurplusLine(item_id=line.item_id, quantity=diff))
                excess_items.append(line.item_id)
        reason = _("Stock count %(number)s") % {"number": count.number}
        write_off = surplus = None
        if shortages:
            write_off = WriteOff(organization_id=count.organization_id, warehouse_id=count.warehouse_id,
                                 date=count.date, reason=reason)
            save_stock_document(write_off, shortages, user=user, post=True)
            link_documents(count, write_off)
        if excess:
            costs = StockCost.balances_at(count.date, ["item"], organization=count.organization_id, item=excess_items)
            for line in excess:
                balance = costs.get((line.item_id,))
                if balance and balance["quantity"] > 0:
                    line.price = round_unit_cost(balance["amount"] / balance["quantity"]).quantize(Decimal("0.01"))
            surplus = Surplus(organization_id=count.organization_id, warehouse_id=count.warehouse_id,
                              date=count.date, reason=reason)
            save_stock_document(surplus, excess, user=user, post=True)
            link_documents(count, surplus)
        StockCount.objects.filter(pk=count.pk).update(status=StockCount.Status.COMPLETED)
        count.status = StockCount.Status.COMPLETED
    return write_off, surplus
