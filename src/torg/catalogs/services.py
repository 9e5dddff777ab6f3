"""Catalog use cases: save an entry safely (validation, optimistic locking, change log), mark it for deletion.

The web pages, the REST API and the demo loader call these.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from torg.catalogs.models import Barcode, Catalog, Item, ItemPrice
from torg.core.documents import diff_snapshots, log_change, snapshot
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry

M = TypeVar("M", bound=models.Model)


def field_errors(exc: ValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _validate(obj: models.Model) -> None:
    try:
        obj.full_clean(exclude=["version", "created_at", "updated_at"])
    except ValidationError as exc:
        errors = field_errors(exc)
        first = next(iter(errors.values()))[0] if errors else ""
        raise CoreError(ErrorCode.INVALID, _("Check the entry: %(error)s") % {"error": first}, errors) from exc


def _stale(obj: models.Model) -> CoreError:
    return CoreError(
        ErrorCode.CONCURRENT_EDIT,
        _("“%(obj)s” was changed by someone else while you were editing it. Your input is kept below: "
          "open the entry again in another tab to see their changes, then save yours.") % {"obj": obj},
    )


def save_catalog_entry(obj: M, user: Any = None, expected_version: int | None = None, *,
                       validate: bool = True, extra_changes: dict[str, Any] | None = None) -> M:
    """Create or change a catalog entry.

    A change bumps `version` with `UPDATE … WHERE version = expected` in the same
    transaction as the save, so of two people editing one entry the second is
    refused (`CONCURRENT_EDIT`) and nothing of theirs is written. `expected_version`
    defaults to the version the object was loaded with. Field and `clean()` errors
    are refused as `INVALID` with the messages per field. Writes a change-log entry
    (created, or changed with the old and new values of what changed; `extra_changes`
    adds changes of parts that are not fields, such as an item's barcodes).
    """
    if validate:
        _validate(obj)
    model = type(obj)
    versioned = isinstance(obj, Catalog)
    with transaction.atomic():
        if obj.pk is None:
            obj.save()
            log_change(obj, ChangeLogEntry.Action.CREATED, user)
            return obj
        current = model._default_manager.filter(pk=obj.pk).first()
        if current is None:
            raise CoreError(ErrorCode.INVALID, _("This entry no longer exists: it cannot be saved."))
        before = snapshot(current)
        if versioned:
            expected = obj.version if expected_version is None else expected_version  # type: ignore[attr-defined]
            updated = model._default_manager.filter(pk=obj.pk, version=expected).update(version=F("version") + 1)
            if not updated:
                raise _stale(current)
            obj.version = expected + 1  # type: ignore[attr-defined]
            obj.updated_at = timezone.now()  # type: ignore[attr-defined]
        obj.save()
        # Compare stored values with stored values (Decimal('0') and '0.000' are the same weight).
        changes = {**diff_snapshots(before, snapshot(model._default_manager.get(pk=obj.pk))), **(extra_changes or {})}
        if changes:
            log_change(obj, ChangeLogEntry.Action.CHANGED, user, changes)
    return obj


def save_item(item: Item, barcodes: Iterable[str], user: Any = None, expected_version: int | None = None) -> Item:
    """Create or change an item together with its barcodes (the list given replaces the item's barcodes).

    Refuses like `save_catalog_entry`, and a barcode that is invalid or belongs to another item (`INVALID`)."""
    codes = [c.strip() for c in barcodes if c and c.strip()]
    errors: list[str] = []
    for code in codes:
        try:
            Barcode(item=item, code=code).clean_fields(exclude=["item"])
        except ValidationError as exc:
            errors.extend(str(m) for m in exc.messages)
    if len(set(codes)) != len(codes):
        errors.append(_("The same barcode is given twice: keep one."))
    taken = Barcode.objects.filter(code__in=codes).exclude(item_id=item.pk).select_related("item")
    for b in taken:
        errors.append(_("Barcode %(code)s already belongs to “%(item)s”.") % {"code": b.code, "item": b.item})
    _validate(item)
    if errors:
        raise CoreError(ErrorCode.INVALID, errors[0], {"barcodes": errors})
    with transaction.atomic():
        before_codes = [] if item.pk is None else sorted(item.barcodes.values_list("code", flat=True))
        changed = sorted(codes) != before_codes
        save_catalog_entry(item, user, expected_version, validate=False,
                           extra_changes={"barcodes": [before_codes, sorted(codes)]} if changed else None)
        if changed:
            Barcode.objects.filter(item=item).exclude(code__in=codes).delete()
            Barcode.objects.bulk_create([Barcode(item=item, code=c) for c in codes if c not in before_codes])
    return item


def set_catalog_deletion_mark(obj: Catalog, mark: bool, user: Any = None) -> Catalog:
    """Mark a catalog entry for deletion (it stays, hidden from choices) or remove the mark.

    Entries are never deleted from the pages: documents may refer to them."""
    with transaction.atomic():
        model = type(obj)
        model._default_manager.filter(pk=obj.pk).update(
            deletion_mark=mark, version=F("version") + 1, updated_at=timezone.now())
        obj.refresh_from_db(fields=["deletion_mark", "version", "updated_at"])
        log_change(obj, ChangeLogEntry.Action.MARKED if mark else ChangeLogEntry.Action.UNMARKED, user)
    return obj


def delete_item_price(price: ItemPrice, user: Any = None) -> None:
    """Remove one price record (a wrong entry); the change log keeps what it was."""
    with transaction.atomic():
        log_change(price, ChangeLogEntry.Action.DELETED, user, {"price": [str(price.price), None]},
                   comment=str(price))
        price.delete()
