"""Documents: the base model and the services that save, post and unpost them.

A concrete document extends `Document`, declares the registers it writes
(`registers`), its lines (a model extending `DocumentLine` with a foreign key
named `document` and related_name "lines"), and `movements()`.

Every state change goes through the functions here; they run in one
transaction, respect the period lock, refuse stale edits (optimistic locking
by `version`), keep the change log and re-post a posted document whose
content changed.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, ClassVar

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry, DocumentLink, NumberSequence, SystemSettings
from torg.core.posting import write_movements
from torg.core.registers import Movement, Register


class Document(models.Model):
    number = models.CharField(gettext_lazy("number"), max_length=32, blank=True, db_index=True)
    date = models.DateTimeField(gettext_lazy("date"), default=timezone.now, db_index=True)
    posted = models.BooleanField(gettext_lazy("posted"), default=False)
    deletion_mark = models.BooleanField(gettext_lazy("marked for deletion"), default=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    comment = models.TextField(gettext_lazy("comment"), blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        verbose_name=gettext_lazy("author"), editable=False,
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    registers: ClassVar[tuple[Register, ...]] = ()

    class Meta:
        abstract = True
        ordering = ["-date", "-id"]

    def __str__(self) -> str:
        when = date_format(timezone.localtime(self.date), "SHORT_DATE_FORMAT") if self.date else ""
        return _("%(kind)s No. %(number)s of %(date)s") % {
            "kind": self._meta.verbose_name.capitalize(),  # type: ignore[union-attr]
            "number": self.number or "—",
            "date": when,
        }

    # -- hooks for concrete documents
    def number_prefix(self) -> str:
        organization = getattr(self, "organization", None)
        return getattr(organization, "prefix", "") or ""

    def movements(self) -> Iterable[Movement]:
        """The register records this document's current state stands for."""
        return []

    def validate_for_posting(self) -> None:
        """Raise CoreError if the document cannot be posted as it is (beyond register control)."""
        if hasattr(self, "lines") and not self.lines.exists():  # type: ignore[attr-defined]
            raise CoreError(ErrorCode.EMPTY_DOCUMENT, _("The document has no lines: add at least one line to post it."))

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: dt.datetime | None) -> None:
        """Called inside the posting transaction after the registers were written,
        with the register keys whose movements changed."""


class DocumentLine(models.Model):
    line_no = models.PositiveIntegerField(gettext_lazy("No."), default=0)

    class Meta:
        abstract = True
        ordering = ["line_no", "id"]
        # Also the index a document's lines are read by (the planner trusts a unique index even on fresh
        # statistics, where the lone foreign-key index on `document` could lose to a join on the item).
        constraints = [models.UniqueConstraint(fields=["document", "line_no"], name="%(app_label)s_%(class)s_no")]


# ---------------------------------------------------------------- numbering
def clean_lines(lines: Sequence[models.Model], exclude: Sequence[str] = ()) -> dict[str, list[str]]:
    """Validate document lines; errors keyed ``lines.<n>.<field>``.

    Each line's own fields are checked with `full_clean`; its foreign keys are checked together, one query
    per field for all lines (Django would ask once per line and field).
    """
    errors: dict[str, list[str]] = {}
    if not lines:
        return errors
    fks = [f for f in lines[0]._meta.concrete_fields
           if f.is_relation and f.name != "document" and f.name not in exclude]
    skip = ["document", "line_no", *exclude, *(f.name for f in fks)]
    for n, line in enumerate(lines, start=1):
        try:
            line.full_clean(exclude=skip, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(f"lines.{n}.{name}", []).extend(messages)
    for field in fks:
        ids = {getattr(line, field.attname) for line in lines} - {None}
        known = set(field.related_model._base_manager.filter(pk__in=ids).values_list("pk", flat=True)) if ids \
            else set()
        for n, line in enumerate(lines, start=1):
            value = getattr(line, field.attname)
            if value is None and not field.null:
                errors.setdefault(f"lines.{n}.{field.name}", []).append(
                    _("Line %(n)s: choose the %(field)s.") % {"n": n, "field": field.verbose_name})
            elif value is not None and value not in known:
                errors.setdefault(f"lines.{n}.{field.name}", []).append(
                    _("Line %(n)s: %(field)s #%(id)s does not exist.") % {
                        "n": n, "field": field.verbose_name, "id": value})
    return errors


def next_number(document: Document) -> str:
    prefix = document.number_prefix()
    year = timezone.localtime(document.date).year
    scope = f"{document._meta.label_lower}|{prefix}|{year}"
    table = connection.ops.quote_name(NumberSequence._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, last_value) VALUES (%s, 1) "
            f"ON CONFLICT (scope) DO UPDATE SET last_value = {table}.last_value + 1 RETURNING last_value",
            [scope],
        )
        value = cursor.fetchone()[0]
    return f"{prefix}-{value:06d}" if prefix else f"{value:06d}"


# --------------------------------------------------------------- lock date
def check_period_lock(*dates: dt.datetime | None) -> None:
    lock = SystemSettings.get().period_lock_date
    if lock is None:
        return
    for d in dates:
        if d is not None and timezone.localtime(d).date() <= lock:
            raise CoreError(
                ErrorCode.PERIOD_LOCKED,
                _("The period up to %(lock)s is closed: documents dated %(date)s cannot be changed. "
                  "Use a date after %(lock)s, or ask an administrator to move the lock date.")
                % {"lock": date_format(lock, "SHORT_DATE_FORMAT"),
                   "date": date_format(timezone.localtime(d).date(), "SHORT_DATE_FORMAT")},
            )


# -------------------------------------------------------------- change log
def _json_value(value: Any) -> Any:
    if isinstance(value, (Decimal, dt.date, dt.datetime)):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(document: models.Model) -> dict[str, Any]:
    """Header fields and lines as plain values, for the change log."""
    header = {
        f.attname: _json_value(getattr(document, f.attname))
        for f in document._meta.concrete_fields
        if f.editable and f.name not in {"id", "version", "updated_at", "created_at", "posted"}
    }
    result: dict[str, Any] = {"header": header}
    if hasattr(document, "lines") and document.pk:
        line_model = document.lines.model  # type: ignore[attr-defined]
        names = [f.attname for f in line_model._meta.concrete_fields if f.name not in {"id", "document"}]
        result["lines"] = [
            {k: _json_value(v) for k, v in row.items()}
            for row in document.lines.order_by("line_no", "id").values(*names)  # type: ignore[attr-defined]
        ]
    return result


def diff_snapshots(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    if before is None:
        return {}
    changes: dict[str, Any] = {}
    for name, value in after["header"].items():
        if before["header"].get(name) != value:
            changes[name] = [before["header"].get(name), value]
    if before.get("lines") != after.get("lines"):
        changes["lines"] = {"before": before.get("lines"), "after": after.get("lines")}
    return changes


def log_change(
    obj: models.Model, action: str, user: Any, changes: dict[str, Any] | None = None, comment: str = ""
) -> None:
    ChangeLogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(obj),
        object_id=obj.pk,
        user=user if getattr(user, "pk", None) else None,
        action=action,
        changes=changes or {},
        comment=comment[:500],
    )


# ---------------------------------------------------------------- services
def save_document(
    document: Document,
    lines: Sequence[DocumentLine] | None = None,
    *,
    user: Any = None,
    expected_version: int | None = None,
) -> Document:
    """Create or change a document and its lines; re-post it if it was posted.

    Refuses: a date on or before the period lock (old or new date), a stale
    `expected_version` (someone saved in between), a posting shortfall. On a
    refusal nothing is written.
    """
    with transaction.atomic():
        previous_date = None
        if document.pk:
            current = type(document).objects.select_for_update().get(pk=document.pk)
            if expected_version is not None and current.version != expected_version:
                raise CoreError(
                    ErrorCode.CONCURRENT_EDIT,
                    _("%(doc)s was changed by someone else while you were editing it. "
                      "Reload it to see their changes, then make yours again.") % {"doc": current},
                )
            check_period_lock(current.date, document.date)
            before = snapshot(current)
            previous_date = current.date
            document.version = current.version + 1
            document.posted = current.posted
            action = ChangeLogEntry.Action.CHANGED
        else:
            check_period_lock(document.date)
            before = None
            if not document.number:
                document.number = next_number(document)
            if user is not None and getattr(user, "pk", None):
                document.author = user
            action = ChangeLogEntry.Action.CREATED
        document.updated_at = timezone.now()
        document.save()
        if lines is not None:
            _replace_lines(document, lines)
        after = snapshot(document)
        changes = diff_snapshots(before, after)
        if action == ChangeLogEntry.Action.CREATED or changes:
            log_change(document, action, user, changes)
        if document.posted and changes:
            document.validate_for_posting()
            changed = write_movements(document, list(document.movements()), document.registers)
            document.after_movements_written(changed, previous_date)
            log_change(document, ChangeLogEntry.Action.REPOSTED, user)
    return document


def _replace_lines(document: Document, lines: Sequence[DocumentLine]) -> None:
    manager = document.lines  # type: ignore[attr-defined]
    manager.all().delete()
    for i, line in enumerate(lines, start=1):
        line.pk = None
        line.line_no = i
        line.document = document  # type: ignore[attr-defined]
    manager.model.objects.bulk_create(list(lines))


def post_document(document: Document, *, user: Any = None) -> Document:
    """Post (or re-post) a document: its movements become exactly `movements()`.

    Refuses: deletion-marked documents, empty documents, the period lock, a shortfall.
    """
    with transaction.atomic():
        current = type(document).objects.select_for_update().get(pk=document.pk)
        check_period_lock(current.date)
        if current.deletion_mark:
            raise CoreError(ErrorCode.DELETION_MARKED,
                            _("%(doc)s is marked for deletion: remove the mark to post it.") % {"doc": current})
        current.validate_for_posting()
        was_posted = current.posted
        changed = write_movements(current, list(current.movements()), current.registers, has_stored=was_posted)
        current.after_movements_written(changed, None)
        if not was_posted:
            type(current).objects.filter(pk=current.pk).update(posted=True)
        log_change(current, ChangeLogEntry.Action.REPOSTED if was_posted else ChangeLogEntry.Action.POSTED, user)
    document.posted = True
    return document


def unpost_document(document: Document, *, user: Any = None) -> Document:
    """Remove a document's movements. Refuses when posted documents were based on it,
    when the period is locked, or when removing its receipts would leave a controlled balance negative."""
    with transaction.atomic():
        current = type(document).objects.select_for_update().get(pk=document.pk)
        check_period_lock(current.date)
        dependents = [d for d in derived_documents(current) if getattr(d, "posted", False)]
        if dependents:
            raise CoreError(
                ErrorCode.HAS_DEPENDENTS,
                _("%(doc)s cannot be unposted: these posted documents are based on it: %(list)s. Unpost them first.")
                % {"doc": current, "list": "; ".join(str(d) for d in dependents)},
                dependents=[str(d) for d in dependents],
            )
        changed = write_movements(current, [], current.registers)
        current.after_movements_written(changed, None)
        type(current).objects.filter(pk=current.pk).update(posted=False)
        log_change(current, ChangeLogEntry.Action.UNPOSTED, user)
    document.posted = False
    return document


def set_deletion_mark(document: Document, mark: bool, *, user: Any = None) -> Document:
    """Mark a document for deletion (unposting it first) or remove the mark."""
    with transaction.atomic():
        if mark and document.posted:
            unpost_document(document, user=user)
        type(document).objects.filter(pk=document.pk).update(deletion_mark=mark)
        document.deletion_mark = mark
        log_change(document, ChangeLogEntry.Action.MARKED if mark else ChangeLogEntry.Action.UNMARKED, user)
    return document


# ----------------------------------------------------------- based-on links
def link_documents(source: models.Model, target: models.Model) -> None:
    DocumentLink.objects.get_or_create(
        source_type=ContentType.objects.get_for_model(source), source_id=source.pk,
        target_type=ContentType.objects.get_for_model(target), target_id=target.pk,
    )


def _load(pairs: Iterable[tuple[int, int]]) -> list[models.Model]:
    by_type: dict[int, list[int]] = defaultdict(list)
    for ct_id, obj_id in pairs:
        by_type[ct_id].append(obj_id)
    result: list[models.Model] = []
    for ct_id, ids in by_type.items():
        model = ContentType.objects.get_for_id(ct_id).model_class()
        if model is not None:
            result.extend(model._default_manager.filter(pk__in=ids))
    return result


def derived_documents(document: models.Model) -> list[models.Model]:
    ct = ContentType.objects.get_for_model(document)
    return _load(DocumentLink.objects.filter(source_type=ct, source_id=document.pk)
                 .values_list("target_type_id", "target_id"))


def base_documents(document: models.Model) -> list[models.Model]:
    ct = ContentType.objects.get_for_model(document)
    return _load(DocumentLink.objects.filter(target_type=ct, target_id=document.pk)
                 .values_list("source_type_id", "source_id"))


def describe_recorders(pairs: list[tuple[int, int]]) -> list[str]:
    return [str(obj) for obj in _load(pairs)]


def document_movements(document: Document) -> list[tuple[Register, list[models.Model]]]:
    """The stored movements of a document, register by register (for the Movements tab)."""
    return [(r, r.movements_of(document)) for r in document.registers]


def document_models() -> list[type[Document]]:
    return [m for m in apps.get_models() if issubclass(m, Document)]
