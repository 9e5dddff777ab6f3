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

import contextvars
import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, ClassVar

from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry, DocumentLink, NumberSequence, SystemSettings, settings_read_once
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
    # Relations that numbering and movements() read, fetched with the document when it is locked for posting.
    posting_related: ClassVar[tuple[str, ...]] = ()

    class Meta:
        abstract = True
        ordering = ["-date", "-id"]

    def __str__(self) -> str:
        return document_labeller(type(self))(self.number, self.date)

    # -- hooks for concrete documents
    def number_prefix(self) -> str:
        organization = getattr(self, "organization", None)
        return getattr(organization, "prefix", "") or ""

    def movements(self) -> Iterable[Movement]:
        """The register records this document's current state stands for."""
        return []

    def validate_for_posting(self) -> None:
        """Raise CoreError if the document cannot be posted as it is (beyond register control).

        Called after `movements()`, inside the posting transaction."""
        if hasattr(self, "lines") and not self.has_lines():
            raise CoreError(ErrorCode.EMPTY_DOCUMENT, _("The document has no lines: add at least one line to post it."))

    def has_lines(self) -> bool:
        count = self.__dict__.get("_line_count")
        return count > 0 if count is not None else self.lines.exists()  # type: ignore[attr-defined]

    def remember_line_count(self, count: int) -> None:
        """Note how many lines the document has in the running transaction (they were just written or read),
        so that posting need not ask again. The services forget it when their transaction starts."""
        self.__dict__["_line_count"] = count

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

    def compute(self) -> None:
        """Fill the line's computed fields (amount, VAT…) from the others; lines without any have nothing to do."""


# --------------------------------------------------------------- validation
def prices_include_vat_of(line: models.Model) -> bool:
    """Whether the prices of a line's document include VAT — also while the document is new (the services set
    `line.document` before the document is saved, when it has no id yet). A line without a document: they do."""
    if type(line).document.is_cached(line) or line.document_id:  # type: ignore[attr-defined]
        return bool(line.document.prices_include_vat)  # type: ignore[attr-defined]
    return True


def document_labeller(model: type[models.Model]) -> Any:
    """(number, date) → how a document of this kind is named ("Sales order No. РМ-000012 of 05.03.2026"), in the
    active language. For many documents at once: the kind is translated once and each day formatted once."""
    kind = str(model._meta.verbose_name).capitalize()
    template = _("%(kind)s No. %(number)s of %(date)s")
    days: dict[dt.date, str] = {}

    def label(number: str, date: dt.datetime | None) -> str:
        when = ""
        if date:
            local = timezone.localtime(date)
            when = days.get(local.date()) or days.setdefault(local.date(), date_format(local, "SHORT_DATE_FORMAT"))
        return template % {"kind": kind, "number": number or "—", "date": when}

    return label


def _reference_fields(model: type[models.Model], exclude: Sequence[str]) -> list[models.ForeignKey]:
    return [f for f in model._meta.concrete_fields
            if f.is_relation and f.many_to_one and f.name not in exclude]  # type: ignore[misc]


def _existing_references(wanted: dict[models.Field, set[Any]]) -> dict[models.Field, set[str]]:
    """Which of the referenced values exist, for every foreign key at once: one query (UNION ALL).

    Values come back as text, so that keys of any type can share the one result column."""
    groups: dict[tuple[str, str], set[Any]] = defaultdict(set)
    for field, values in wanted.items():
        if values:
            groups[(field.related_model._meta.db_table, field.target_field.column)] |= values  # type: ignore[union-attr]
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    if groups:
        db = transaction.get_connection()
        qn = db.ops.quote_name
        parts, params, order = [], [], list(groups)
        for n, (table, column) in enumerate(order):
            values = sorted(groups[(table, column)], key=str)
            parts.append(f"SELECT {n}, CAST({qn(column)} AS TEXT) FROM {qn(table)} "
                         f"WHERE {qn(column)} IN ({', '.join(['%s'] * len(values))})")
            params.extend(values)
        with db.cursor() as cursor:
            cursor.execute(" UNION ALL ".join(parts), params)
            for n, value in cursor.fetchall():
                found[order[n]].add(value)
    return {field: found[(field.related_model._meta.db_table, field.target_field.column)]  # type: ignore[union-attr]
            for field in wanted}


def _read_from_database(document: models.Model, field: models.ForeignKey, value: Any) -> bool:
    """Whether the document holds the object a foreign key refers to as read from the database (not one built in
    memory): a service that read the client or the cash desk does not have them looked up again."""
    if not field.is_cached(document):
        return False
    related = field.get_cached_value(document)
    return related is not None and not related._state.adding and related.pk == value


def clean_document(
    document: models.Model, lines: Sequence[models.Model] | None = None, exclude: Sequence[str] = ()
) -> dict[str, list[str]]:
    """Validate a document's header and lines; errors keyed by header field and ``lines.<n>.<field>``.

    Fields are checked as `full_clean` would, except that the foreign keys of the header and of all lines
    are checked together in one query (Django asks once per field and line)."""
    errors: dict[str, list[str]] = {}
    fks = _reference_fields(type(document), exclude)
    try:
        document.full_clean(exclude=[*exclude, *(f.name for f in fks)])
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            errors.setdefault(name, []).extend(messages)
    wanted: dict[models.Field, set[Any]] = {}
    header: dict[models.ForeignKey, Any] = {}
    for field in fks:
        raw = getattr(document, field.attname)
        if field.blank and raw in field.empty_values:
            continue
        try:
            value = field.to_python(raw)
            if value is None:
                raise ValidationError(field.error_messages["null" if not field.null else "blank"])
        except ValidationError as exc:
            errors.setdefault(field.name, []).extend(exc.messages)
            continue
        if _read_from_database(document, field, value):
            continue  # the caller holds the row it refers to: it exists
        header[field] = value
        wanted.setdefault(field, set()).add(value)
    line_fks, line_errors = _clean_line_fields(lines or [], ())
    for field in line_fks:
        wanted.setdefault(field, set()).update(getattr(line, field.attname) for line in lines or [])
        wanted[field].discard(None)
    existing = _existing_references(wanted)
    for field, value in header.items():
        if str(value) not in existing[field]:
            errors.setdefault(field.name, []).extend(ValidationError(
                field.error_messages["invalid"], code="invalid",
                params={"model": field.related_model._meta.verbose_name, "pk": value,  # type: ignore[union-attr]
                        "field": field.remote_field.field_name, "value": value},  # type: ignore[union-attr]
            ).messages)
    errors.update(line_errors)
    _check_line_references(lines or [], line_fks, existing, errors)
    return errors


def _clean_line_fields(
    lines: Sequence[models.Model], exclude: Sequence[str]
) -> tuple[list[models.ForeignKey], dict[str, list[str]]]:
    errors: dict[str, list[str]] = {}
    if not lines:
        return [], errors
    fks = [f for f in _reference_fields(type(lines[0]), exclude) if f.name != "document"]
    skip = ["document", "line_no", *exclude, *(f.name for f in fks)]
    for n, line in enumerate(lines, start=1):
        try:
            line.full_clean(exclude=skip, validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(f"lines.{n}.{name}", []).extend(messages)
    return fks, errors


def _check_line_references(lines: Sequence[models.Model], fks: list[models.ForeignKey],
                           existing: dict[models.Field, set[str]], errors: dict[str, list[str]]) -> None:
    for field in fks:
        for n, line in enumerate(lines, start=1):
            value = getattr(line, field.attname)
            if value is None and not field.null:
                errors.setdefault(f"lines.{n}.{field.name}", []).append(
                    _("Line %(n)s: choose the %(field)s.") % {"n": n, "field": field.verbose_name})
            elif value is not None and str(value) not in existing[field]:
                errors.setdefault(f"lines.{n}.{field.name}", []).append(
                    _("Line %(n)s: %(field)s #%(id)s does not exist.") % {
                        "n": n, "field": field.verbose_name, "id": value})


def clean_lines(lines: Sequence[models.Model], exclude: Sequence[str] = ()) -> dict[str, list[str]]:
    """Validate document lines; errors keyed ``lines.<n>.<field>``.

    Each line's own fields are checked with `full_clean`; the foreign keys of all lines are checked together
    in one query (Django would ask once per line and field).
    """
    fks, errors = _clean_line_fields(lines, exclude)
    if fks:
        wanted = {f: {getattr(line, f.attname) for line in lines} - {None} for f in fks}
        _check_line_references(lines, fks, _existing_references(wanted), errors)
    return errors


# ---------------------------------------------------------------- numbering
def _number_scope(document: Document, prefix: str) -> str:
    return f"{document._meta.label_lower}|{prefix}|{timezone.localtime(document.date).year}"


def next_number(document: Document) -> str:
    prefix = document.number_prefix()
    scope = _number_scope(document, prefix)
    db = transaction.get_connection()
    table = db.ops.quote_name(NumberSequence._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (scope, last_value) VALUES (%s, 1) "
            f"ON CONFLICT (scope) DO UPDATE SET last_value = {table}.last_value + 1 RETURNING last_value",
            [scope],
        )
        value = cursor.fetchone()[0]
    return f"{prefix}-{value:06d}" if prefix else f"{value:06d}"


def _number_new_document(document: Document, user: Any = None, entries: Sequence[tuple[str, dict[str, Any]]] = (),
                          writes: Sequence[tuple[str, Sequence[Any]]] = ()) -> None:
    """Give a document inserted in this transaction its number, as late as possible, and write the change-log
    `entries` of the call and the `writes` its posting left for the end (`write_later`).

    The sequence row stays locked from here to the commit, so documents of one type created at the same
    time wait for each other only that long, not for each other's whole posting. On PostgreSQL the
    sequence is advanced, the number written, the log entries inserted and the writes run in one statement."""
    db = transaction.get_connection()
    qn = db.ops.quote_name
    sequence, table = qn(NumberSequence._meta.db_table), qn(document._meta.db_table)
    if db.vendor != "postgresql":
        document.number = next_number(document)
        write_and_log([*writes, (f"UPDATE {table} SET number = %s WHERE id = %s", [document.number, document.pk])],
                      [(document, user, entries, "")])
        return
    prefix = document.number_prefix()
    sql = (f"WITH n AS (INSERT INTO {sequence} (scope, last_value) VALUES (%s, 1) ON CONFLICT (scope) "
           f"DO UPDATE SET last_value = {sequence}.last_value + 1 RETURNING last_value), "
           f"u AS (UPDATE {table} SET number = %s || lpad(n.last_value::text, greatest(6, "
           f"length(n.last_value::text)), '0') FROM n WHERE {table}.id = %s RETURNING {table}.number)")
    params = [_number_scope(document, prefix), f"{prefix}-" if prefix else "", document.pk]
    if entries:  # a data-modifying part runs whether or not the final SELECT reads it
        writes = [*writes, _log_statement(document, user, entries)]
    for n, (write_sql, write_params) in enumerate(writes):
        sql += f", w{n} AS ({write_sql})"
        params += list(write_params)
    with db.cursor() as cursor:
        cursor.execute(sql + " SELECT number FROM u", params)
        document.number = cursor.fetchone()[0]


# --------------------------------------------------------------- lock date
def _lock_date_value(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def period_lock_date() -> dt.date | None:
    """The period lock date as the database has it now (no row yet: no lock) — or as this service call read it
    with the other settings, in the same transaction a moment ago."""
    held = SystemSettings.held()
    if held is not None:
        return held.period_lock_date
    db = transaction.get_connection()
    table = db.ops.quote_name(SystemSettings._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"SELECT period_lock_date FROM {table} WHERE id = 1")
        row = cursor.fetchone()
    return _lock_date_value(row[0]) if row else None


def refuse_locked_dates(lock: dt.date | None, *dates: dt.datetime | None) -> None:
    """Raise PERIOD_LOCKED if any of the dates falls on or before the lock date."""
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


def check_period_lock(*dates: dt.datetime | None) -> None:
    refuse_locked_dates(period_lock_date(), *dates)


# -------------------------------------------------------------- change log
def _json_value(value: Any) -> Any:
    """A field's value for the change log, written one way whatever way it was set: a moment in UTC,
    a number without trailing zeros, so that saving an unchanged document records no change."""
    if isinstance(value, dt.datetime):
        return (value.astimezone(dt.UTC) if timezone.is_aware(value) else value).isoformat(sep=" ")
    if isinstance(value, Decimal):
        return format(value.normalize(), "f") if value.is_finite() else str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(document: models.Model, *, with_lines: bool = True) -> dict[str, Any]:
    """Header fields and lines as plain values, for the change log (`with_lines=False`: the header only, when
    the lines are not being changed)."""
    header = {
        f.attname: _json_value(getattr(document, f.attname))
        for f in document._meta.concrete_fields
        if f.editable and f.name not in {"id", "version", "updated_at", "created_at", "posted"}
    }
    result: dict[str, Any] = {"header": header}
    if with_lines and hasattr(document, "lines") and document.pk:
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
    _log_changes(obj, user, [(action, changes or {})], comment=comment)


def _log_changes(obj: models.Model, user: Any, entries: Sequence[tuple[str, dict[str, Any]]], *,
                 comment: str = "") -> None:
    """Write the change-log entries of one service call, in one INSERT."""
    if not entries:
        return
    sql, params = _log_statement(obj, user, entries, comment=comment)
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(sql, params)


class _Later:
    """What a save leaves for its last statement: writes nothing in the save reads any more, change-log entries, and
    the number of a new document (given as late as possible). A caller that saves a document and then writes more
    of the same change (an order's payment stages and computed state) holds the scope, and all of it goes at its
    end: one statement on PostgreSQL."""

    def __init__(self) -> None:
        self.writes: list[tuple[str, list[Any]]] = []
        self.rows: set[tuple[str, Any]] = set()  # (table, id) the writes update
        self.logs: list[tuple[models.Model, Any, Sequence[tuple[str, dict[str, Any]]], str]] = []
        self.numbered: list[tuple[Document, Any, Sequence[tuple[str, dict[str, Any]]]]] = []

    def flush(self) -> None:
        if not self.numbered:
            write_and_log(self.writes, self.logs)
            return
        for document, user, entries in self.numbered[:-1]:
            _number_new_document(document, user, entries)
        document, user, entries = self.numbered[-1]
        if (document._meta.db_table, document.pk) in self.rows:  # not two updates of one row in one statement
            _number_new_document(document, user, entries)
            write_and_log(self.writes, self.logs)
            return
        _number_new_document(document, user, entries,
                             [*self.writes, *(_log_statement(o, u, e, comment=c) for o, u, e, c in self.logs if e)])


_LATER: contextvars.ContextVar[_Later | None] = contextvars.ContextVar("torg_writes_later", default=None)


def write_later(writes: Sequence[tuple[str, Sequence[Any]]],
                logged: Sequence[tuple[models.Model, Any, Sequence[tuple[str, dict[str, Any]]], str]] = (), *,
                updates: Iterable[models.Model] = ()) -> None:
    """`write_and_log`, or — while a document is saved (`writes_at_the_end`) — with the save's last statement (its
    number or its log entries), for writes nothing else in the save reads (the computed state of the orders a
    document touches). `updates`: the rows the writes update."""
    later = _LATER.get()
    if later is None:
        write_and_log(writes, logged)
        return
    later.writes += [(sql, list(params)) for sql, params in writes]
    later.rows.update((obj._meta.db_table, obj.pk) for obj in updates)
    later.logs += list(logged)


@contextmanager
def writes_at_the_end() -> Iterator[_Later]:
    """The scope of `write_later`: its writes, the log entries and the number of a new document saved in it go
    with its last statement. Inside a caller's scope, the caller's."""
    outer = _LATER.get()
    if outer is not None:
        yield outer
        return
    later = _Later()
    token = _LATER.set(later)
    try:
        yield later
        _LATER.reset(token)
        token = None
        later.flush()
    finally:
        if token is not None:
            _LATER.reset(token)


def write_and_log(writes: Sequence[tuple[str, Sequence[Any]]],
                  logged: Sequence[tuple[models.Model, Any, Sequence[tuple[str, dict[str, Any]]], str]] = ()) -> None:
    """Run writes that return nothing (sql, params), and write change-log entries (object, user, entries, comment)
    for them: one statement on PostgreSQL (data-modifying WITH parts, each on the snapshot before all of them),
    one each elsewhere."""
    db = transaction.get_connection()
    statements = [(sql, list(params)) for sql, params in writes] + [
        _log_statement(obj, user, entries, comment=comment) for obj, user, entries, comment in logged if entries]
    with db.cursor() as cursor:
        if db.vendor == "postgresql" and len(statements) > 1:
            cursor.execute("WITH " + ", ".join(f"w{n} AS ({s})" for n, (s, _p) in enumerate(statements))
                           + " SELECT 1", [v for _s, p in statements for v in p])
            return
        for s, p in statements:
            cursor.execute(s, p)


def _log_statement(obj: models.Model, user: Any, entries: Sequence[tuple[str, dict[str, Any]]], *,
                   comment: str = "") -> tuple[str, list[Any]]:
    """The INSERT of change-log entries (built once per vendor and number of entries) and its values."""
    db = transaction.get_connection()
    ct_id = ContentType.objects.get_for_model(obj).pk
    user_id = user.pk if getattr(user, "pk", None) else None
    at = db.ops.adapt_datetimefield_value(timezone.now())
    changes_field = ChangeLogEntry._meta.get_field("changes")
    key = (db.vendor, len(entries))
    sql = _LOG_SQL.get(key)
    if sql is None:
        qn = db.ops.quote_name
        row = "(%s, %s, %s, %s, %s, %s, %s)"
        sql = _LOG_SQL[key] = (
            f"INSERT INTO {qn(ChangeLogEntry._meta.db_table)} (content_type_id, object_id, {qn('at')}, user_id, "
            f"{qn('action')}, {qn('changes')}, {qn('comment')}) VALUES " + ", ".join([row] * len(entries)))
    params: list[Any] = []
    for action, changes in entries:
        params += [ct_id, obj.pk, at, user_id, str(action), changes_field.get_db_prep_save(changes or {}, db),
                   comment[:500]]
    return sql, params


_LOG_SQL: dict[tuple[str, int], str] = {}


# ------------------------------------------------------------- fast writes
_INSERT_SQL: dict[tuple[str, str, int, bool], tuple[str, list[models.Field]]] = {}


def _plain_insert_possible(db: Any, model: type[models.Model]) -> bool:
    key = (db.vendor, model._meta.label_lower)
    plain = _PLAIN.get(key)
    if plain is None:
        plain = _PLAIN[key] = db.features.can_return_rows_from_bulk_insert and not any(
            getattr(f, "generated", False) or getattr(f, "db_default", models.NOT_PROVIDED) is not models.NOT_PROVIDED
            for f in model._meta.concrete_fields)
    return plain


_PLAIN: dict[tuple[str, str], bool] = {}


def insert_statement(model: type[models.Model], objs: Sequence[models.Model]) -> tuple[str, list[Any]]:
    """The INSERT of new plain rows for `objs` (no database defaults, no generated fields), built once per model
    and row count, and its values; the objects get no primary keys (run it with `write_later`)."""
    db = transaction.get_connection()
    if not _plain_insert_possible(db, model):
        raise TypeError(f"{model._meta.label}: not plain rows")
    sql, fields = _insert_sql(db, model, len(objs), returning=False)
    return sql, _insert_params(db, objs, fields)


def _insert_sql(db: Any, model: type[models.Model], n: int, *, returning: bool) -> tuple[str, list[models.Field]]:
    key = (db.vendor, model._meta.label_lower, n, returning)
    cached = _INSERT_SQL.get(key)
    if cached is None:
        qn = db.ops.quote_name
        pk = model._meta.pk
        fields = [f for f in model._meta.concrete_fields if f is not pk]
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES "
               + ", ".join([row] * n))
        if returning:
            sql += f" RETURNING {qn(pk.column)}"  # type: ignore[union-attr]
        cached = _INSERT_SQL[key] = (sql, fields)
    return cached


def _insert_params(db: Any, objs: Sequence[models.Model], fields: Sequence[models.Field]) -> list[Any]:
    params: list[Any] = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="save")  # an unsaved related object is refused
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields)
    return params


def insert_rows(model: type[models.Model], objs: Sequence[models.Model], *, returning: bool = True) -> None:
    """INSERT new rows for `objs` in one statement and give them their primary keys.

    What `bulk_create` does for plain rows (no database defaults, no generated fields), with the statement
    built once per model and row count: the ORM's compiler costs more than the database on this path.
    No signals are sent — torg keeps business logic out of signals."""
    if not objs:
        return
    db = transaction.get_connection()
    if not _plain_insert_possible(db, model):
        model._base_manager.bulk_create(list(objs))
        return
    sql, fields = _insert_sql(db, model, len(objs), returning=returning)
    params = _insert_params(db, objs, fields)
    with db.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()] if returning else []
    for n, obj in enumerate(objs):
        if returning:
            obj.pk = ids[n]
        obj._state.adding = False
        obj._state.db = db.alias


_UPDATE_SQL: dict[tuple[Any, ...], str] = {}


def update_row(obj: models.Model, fields: Sequence[models.Field]) -> None:
    """Write these fields of an existing row (what `save(update_fields=…)` does for plain fields, without signals),
    with the statement built once per model and set of fields."""
    if not fields:
        return
    db = transaction.get_connection()
    key = (db.vendor, obj._meta.label_lower, tuple(f.attname for f in fields))
    sql = _UPDATE_SQL.get(key)
    if sql is None:
        qn = db.ops.quote_name
        sql = _UPDATE_SQL[key] = (f"UPDATE {qn(obj._meta.db_table)} SET "
                                  + ", ".join(f"{qn(f.column)} = %s" for f in fields)
                                  + f" WHERE {qn(obj._meta.pk.column)} = %s")  # type: ignore[union-attr]
    with db.cursor() as cursor:
        cursor.execute(sql, [*(f.get_db_prep_save(f.pre_save(obj, False), db) for f in fields), obj.pk])


_UPSERT_SQL: dict[tuple[Any, ...], tuple[str, list[models.Field]]] = {}


def upsert_statement(model: type[models.Model], objs: Sequence[models.Model], *, unique: Sequence[str],
                     update: Sequence[str]) -> tuple[str, list[Any]]:
    """The INSERT of rows for `objs` that overwrites the `update` fields of rows that exist with the same `unique`
    fields (what `bulk_create(update_conflicts=True)` does), built once per model and row count, and its values;
    run it with `write_and_log`. The objects get no primary keys."""
    db = transaction.get_connection()
    key = (db.vendor, model._meta.label_lower, len(objs), tuple(unique), tuple(update))
    cached = _UPSERT_SQL.get(key)
    if cached is None:
        qn = db.ops.quote_name
        fields = [f for f in model._meta.concrete_fields if not f.db_returning]  # a generated id is left out
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        columns = [qn(model._meta.get_field(name).column) for name in update]
        sql = (f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) VALUES "
               + ", ".join([row] * len(objs))
               + f" ON CONFLICT ({', '.join(qn(model._meta.get_field(n).column) for n in unique)}) DO UPDATE SET "
               + ", ".join(f"{c} = EXCLUDED.{c}" for c in columns))
        cached = _UPSERT_SQL[key] = (sql, fields)
    sql, fields = cached
    params: list[Any] = []
    for obj in objs:
        params.extend(f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields)
    return sql, params


_LOCK_SQL: dict[tuple[str, str, tuple[str, ...]], tuple[str, list[Any]]] = {}


def _row_reader(db: Any, model: type[models.Model], alias: str) -> tuple[list[str], Any]:
    """Select-list items of a model's columns and a function that makes an instance of a row slice,
    with the same conversions the ORM applies."""
    qn = db.ops.quote_name
    fields = list(model._meta.concrete_fields)
    conversions = []
    for f in fields:
        col = f.get_col(model._meta.db_table)
        conversions.append((db.ops.get_db_converters(col) + col.get_db_converters(db), col))
    attnames = [f.attname for f in fields]

    def read(values: Sequence[Any]) -> models.Model:
        converted = []
        for value, (converters, col) in zip(values, conversions, strict=True):
            for convert in converters:
                value = convert(value, col, db)
            converted.append(value)
        return model.from_db(db.alias, attnames, converted)

    return [f"{qn(alias)}.{qn(f.column)}" for f in fields], read


_RELATED_SQL: dict[tuple[Any, ...], tuple[str, Any]] = {}


def _load_posting_related(document: Document) -> dt.date | None:
    """Fetch the relations in `posting_related` that the document does not hold yet (a new document built
    from ids), one plain statement each, so that numbering and movements() find them cached; returns the
    period lock date, read with the first of them (or alone)."""
    db = transaction.get_connection()
    held = SystemSettings.held()
    lock: Any = _NOT_READ if held is None else held.period_lock_date
    for name in document.posting_related:
        field = document._meta.get_field(name)
        if field.is_cached(document):  # type: ignore[union-attr]
            continue
        value = getattr(document, field.attname)  # type: ignore[union-attr]
        related = None
        if value is not None:
            model = field.related_model
            key = (db.vendor, model._meta.label_lower)  # type: ignore[union-attr]
            with_lock = lock is _NOT_READ
            key = (*key, with_lock)
            cached = _RELATED_SQL.get(key)
            if cached is None:
                qn = db.ops.quote_name
                columns, read = _row_reader(db, model, "r")  # type: ignore[arg-type]
                width, joined = len(columns), ""
                if with_lock:
                    columns, joined = [*columns, *_settings_reader(db)[0]], _settings_join(db)
                cached = _RELATED_SQL[key] = (
                    f"SELECT {', '.join(columns)} FROM {qn(model._meta.db_table)} {qn('r')}{joined} "  # type: ignore[union-attr]
                    f"WHERE {qn('r')}.{qn(field.target_field.column)} = %s", (read, width))  # type: ignore[union-attr]
            sql, (read, width) = cached
            with db.cursor() as cursor:
                cursor.execute(sql, [value])
                row = cursor.fetchone()
            if row is None:
                raise field.related_model.DoesNotExist(  # type: ignore[union-attr]
                    f"{field.related_model._meta.object_name} #{value} does not exist.")  # type: ignore[union-attr]
            if with_lock:
                lock, row = _held_settings(db, row[width:]), row[:width]
            related = read(row)
        field.set_cached_value(document, related)  # type: ignore[union-attr]
    return period_lock_date() if lock is _NOT_READ else lock


_NOT_READ = object()


_SETTINGS_READER: dict[str, tuple[list[str], Any]] = {}


def _settings_reader(db: Any) -> tuple[list[str], Any]:
    reader = _SETTINGS_READER.get(db.vendor)
    if reader is None:
        reader = _SETTINGS_READER[db.vendor] = _row_reader(db, SystemSettings, "s")
    return reader


def _settings_join(db: Any) -> str:
    """The settings row, joined to a statement that reads a document's relations: its period lock date is checked,
    and the rest is what this service call reads of the settings (`SystemSettings.hold`)."""
    qn = db.ops.quote_name
    return f" LEFT OUTER JOIN {qn(SystemSettings._meta.db_table)} {qn('s')} ON {qn('s')}.{qn('id')} = 1"


def _held_settings(db: Any, values: Sequence[Any]) -> dt.date | None:
    """The period lock date of the settings row read with a document's relations, the row held for the call."""
    if values[0] is None:  # no settings row yet: no lock
        return None
    settings = _settings_reader(db)[1](values)
    SystemSettings.hold(settings)  # type: ignore[arg-type]
    return settings.period_lock_date  # type: ignore[attr-defined]


def _lock_document(model: type[Document], pk: Any,
                   with_related: tuple[str, ...] = ()) -> tuple[Document, dt.date | None]:
    """The document's current row, locked until the transaction ends (concurrent posting or saving of the
    same document waits here), with the relations in `posting_related` (and `with_related`, what the caller
    reads too) and the period lock date: one statement, built once per model."""
    db = transaction.get_connection()
    names = tuple(dict.fromkeys((*model.posting_related, *with_related)))
    key = (db.vendor, model._meta.label_lower, names)
    cached = _LOCK_SQL.get(key)
    if cached is None:
        qn = db.ops.quote_name
        columns, read = _row_reader(db, model, "d")
        joins, related = [], []
        for n, name in enumerate(names):
            field = model._meta.get_field(name)
            alias = f"r{n}"
            rel_columns, rel_read = _row_reader(db, field.related_model, alias)  # type: ignore[arg-type]
            related.append((field, len(columns), len(rel_columns), rel_read))
            columns += rel_columns
            joins.append(f"LEFT OUTER JOIN {qn(field.related_model._meta.db_table)} {qn(alias)} "  # type: ignore[union-attr]
                         f"ON {qn(alias)}.{qn(field.target_field.column)} = {qn('d')}.{qn(field.column)}")  # type: ignore[union-attr]
        settings_at = len(columns)
        columns += _settings_reader(db)[0]
        sql = (f"SELECT {', '.join(columns)} FROM {qn(model._meta.db_table)} {qn('d')} "
               + " ".join(joins) + _settings_join(db)
               + f" WHERE {qn('d')}.{qn(model._meta.pk.column)} = %s")  # type: ignore[union-attr]
        if db.features.has_select_for_update:
            sql += f" FOR UPDATE OF {qn('d')}" if db.features.has_select_for_update_of else " FOR UPDATE"
        cached = _LOCK_SQL[key] = (sql, [read, related, settings_at])
    sql, (read, related, settings_at) = cached
    with db.cursor() as cursor:
        cursor.execute(sql, [pk])
        row = cursor.fetchone()
    if row is None:
        raise model.DoesNotExist(f"{model._meta.object_name} matching query does not exist.")
    current = read(row[: len(model._meta.concrete_fields)])
    for field, start, width, rel_read in related:
        values = row[start : start + width]
        field.set_cached_value(current, None if getattr(current, field.attname) is None else rel_read(values))
    return current, _held_settings(db, row[settings_at:])


# ---------------------------------------------------------------- services
_IN_SERVICE: contextvars.ContextVar[bool] = contextvars.ContextVar("torg_in_service_transaction", default=False)


@contextmanager
def service_transaction(*, own_savepoint: bool = False) -> Iterator[None]:
    """The transaction of a service call: one savepoint for the whole call, however many services it calls.

    The outermost service block is an ordinary `atomic()` (a transaction, or a savepoint inside a caller's
    transaction, so that a caller who catches a refusal can go on). Blocks of the services it calls join it
    without savepoints of their own — each one costs two statements, and nothing inside a service call goes on
    after an inner refusal: the refusal leaves the call. Code that catches a refusal and continues inside a
    service call asks for `own_savepoint` around what may fail."""
    if not own_savepoint and _IN_SERVICE.get() and transaction.get_connection().in_atomic_block:
        with transaction.atomic(savepoint=False):
            yield
        return
    token = _IN_SERVICE.set(True)
    try:
        with settings_read_once(), transaction.atomic():
            yield
    finally:
        _IN_SERVICE.reset(token)


def lock_document(model: type[Document], pk: Any,
                  with_related: tuple[str, ...] = ()) -> tuple[Document, dt.date | None]:
    """Lock a document's row for a service that changes it (see `save_document(locked=...)`): the row as it is,
    with its `posting_related` and `with_related` relations, and the period lock date, in one statement."""
    return _lock_document(model, pk, with_related)


def _post_in_transaction(document: Document, *, has_stored: bool, previous_date: dt.datetime | None) -> None:
    """Make the registers hold `document.movements()`; the caller holds the document (locked or just created)."""
    movements = list(document.movements())
    document.validate_for_posting()
    changed = write_movements(document, movements, document.registers, has_stored=has_stored)
    document.after_movements_written(changed, previous_date)


def _refuse_deletion_marked(document: Document) -> None:
    if document.deletion_mark:
        raise CoreError(ErrorCode.DELETION_MARKED,
                        _("%(doc)s is marked for deletion: remove the mark to post it.") % {"doc": document})


def _set_posted(document: Document, posted: bool) -> None:
    db = transaction.get_connection()
    table = db.ops.quote_name(document._meta.db_table)
    with db.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET posted = %s WHERE id = %s", [posted, document.pk])


def save_document(
    document: Document,
    lines: Sequence[DocumentLine] | None = None,
    *,
    user: Any = None,
    expected_version: int | None = None,
    post: bool = False,
    locked: tuple[Document, dt.date | None] | None = None,
) -> Document:
    """Create or change a document and its lines; re-post it if it was posted; with `post=True` also post it,
    in the same transaction.

    `locked`: the caller already holds the document's row locked in its transaction (`lock_document`), as
    (the row as it was read, before the caller's changes; the period lock date) — it is not read again.

    Refuses: a date on or before the period lock (old or new date), a stale
    `expected_version` (someone saved in between), a posting shortfall, and with `post`
    a deletion mark or an empty document. On a refusal nothing is written — with `post`,
    neither the document nor its changes.
    """
    document.__dict__.pop("_line_count", None)
    if lines is not None and hasattr(document, "lines"):
        document.__dict__.get("_prefetched_objects_cache", {}).pop(
            document.lines.field.remote_field.cache_name, None)  # type: ignore[attr-defined]
    if document.pk:
        return _save(document, lines, user, expected_version, post, locked)
    # A refused new document keeps no trace of the rolled-back insert: it can be corrected and saved again.
    number, author_id = document.number, document.author_id  # type: ignore[attr-defined]
    try:
        return _save(document, lines, user, expected_version, post)
    except BaseException:
        document.pk, document.number, document.author_id, document.posted = None, number, author_id, False  # type: ignore[attr-defined]
        document._state.adding = True
        for line in lines or []:
            line.pk = None
            line._state.adding = True
        raise


def _save(document: Document, lines: Sequence[DocumentLine] | None, user: Any, expected_version: int | None,
          post: bool, locked: tuple[Document, dt.date | None] | None = None) -> Document:
    with service_transaction(), writes_at_the_end() as later:
        entries: list[tuple[str, dict[str, Any]]] = []
        if document.pk:
            current, lock = locked if locked is not None else _lock_document(type(document), document.pk)
            if expected_version is not None and current.version != expected_version:
                raise CoreError(
                    ErrorCode.CONCURRENT_EDIT,
                    _("%(doc)s was changed by someone else while you were editing it. "
                      "Reload it to see their changes, then make yours again.") % {"doc": current},
                )
            refuse_locked_dates(lock, current.date, document.date)
            before = snapshot(current, with_lines=lines is not None)
            was_posted = current.posted
            document.version = current.version + 1
            document.posted = was_posted
            document.updated_at = timezone.now()
            # The row is locked and `current` is what it holds: only the columns that differ are written.
            update_row(document, [f for f in document._meta.concrete_fields
                                  if not f.primary_key and getattr(document, f.attname) != getattr(current, f.attname)])
            if lines is not None:
                _replace_lines(document, lines, new=False)
            changes = diff_snapshots(before, snapshot(document, with_lines=lines is not None))
            if changes:
                entries.append((ChangeLogEntry.Action.CHANGED, changes))
            if was_posted and (changes or post):
                if post:
                    _refuse_deletion_marked(document)
                _post_in_transaction(document, has_stored=True, previous_date=current.date)
                entries.append((ChangeLogEntry.Action.REPOSTED, {}))
            elif post:
                _refuse_deletion_marked(document)
                # Posted before after_movements_written runs: what it recomputes (an order's state) reads the flag.
                _set_posted(document, True)
                document.posted = True
                _post_in_transaction(document, has_stored=False, previous_date=None)
                entries.append((ChangeLogEntry.Action.POSTED, {}))
        else:
            lock = _load_posting_related(document)
            refuse_locked_dates(lock, document.date)
            if post:
                _refuse_deletion_marked(document)
            numbered = bool(document.number)
            if user is not None and getattr(user, "pk", None):
                document.author = user
            document.updated_at = timezone.now()
            # A new document is posted as it is inserted: nobody sees it before the transaction commits,
            # and a refused posting rolls the insert back.
            document.posted = post
            insert_rows(type(document), [document])
            if lines is not None:
                _replace_lines(document, lines, new=True)
            entries.append((ChangeLogEntry.Action.CREATED, {}))
            if post:
                _post_in_transaction(document, has_stored=False, previous_date=None)
                entries.append((ChangeLogEntry.Action.POSTED, {}))
            if not numbered:
                later.numbered.append((document, user, entries))
                return document
        later.logs.append((document, user, entries, ""))
    return document


def _replace_lines(document: Document, lines: Sequence[DocumentLine], *, new: bool) -> None:
    manager = document.lines  # type: ignore[attr-defined]
    if not new:
        manager.all().delete()
    for i, line in enumerate(lines, start=1):
        line.pk = None
        line.line_no = i
        line.document = document  # type: ignore[attr-defined]
    insert_rows(manager.model, list(lines))
    document.remember_line_count(len(lines))
    _hold_lines(document, manager, lines)


def _hold_lines(document: Document, manager: Any, lines: Sequence[DocumentLine]) -> None:
    """Keep the lines just written as the document's `lines.all()` (what a prefetch would hold), so that its
    movements() need not read back what this transaction wrote. Dropped when the next save replaces them."""
    hold_related(document, manager, sorted(lines, key=lambda ln: ln.line_no))


def hold_related(obj: models.Model, manager: Any, related: Sequence[models.Model]) -> None:
    """Keep `related` (read by the caller, in the manager's order) as what `obj.<manager>.all()` gives, as a
    prefetch would, each pointing back at `obj`."""
    field = manager.field
    name = field.remote_field.cache_name
    cache = obj.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.pop(name, None)
    held = manager.get_queryset()
    held._result_cache = list(related)
    held._prefetch_done = True
    cache[name] = held
    for item in related:
        field.set_cached_value(item, obj)


def post_document(document: Document, *, user: Any = None) -> Document:
    """Post (or re-post) a document: its movements become exactly `movements()`.

    Refuses: deletion-marked documents, empty documents, the period lock, a shortfall.
    """
    with service_transaction():
        current, lock = _lock_document(type(document), document.pk)
        refuse_locked_dates(lock, current.date)
        _refuse_deletion_marked(current)
        was_posted = current.posted
        if not was_posted:
            # Posted before after_movements_written runs: what it recomputes (an order's state) reads the flag.
            _set_posted(current, True)
            current.posted = True
        _post_in_transaction(current, has_stored=was_posted, previous_date=None)
        _log_changes(current, user, [
            (ChangeLogEntry.Action.REPOSTED if was_posted else ChangeLogEntry.Action.POSTED, {})])
    document.posted = True
    return document


def unpost_document(document: Document, *, user: Any = None) -> Document:
    """Remove a document's movements. Refuses when posted documents were based on it,
    when the period is locked, or when removing its receipts would leave a controlled balance negative."""
    with service_transaction():
        current, lock = _lock_document(type(document), document.pk)
        refuse_locked_dates(lock, current.date)
        dependents = [d for d in derived_documents(current) if getattr(d, "posted", False)]
        if dependents:
            raise CoreError(
                ErrorCode.HAS_DEPENDENTS,
                _("%(doc)s cannot be unposted: these posted documents are based on it: %(list)s. Unpost them first.")
                % {"doc": current, "list": "; ".join(str(d) for d in dependents)},
                dependents=[str(d) for d in dependents],
            )
        changed = write_movements(current, [], current.registers)
        _set_posted(current, False)  # before after_movements_written, which may read the flag (order states)
        current.posted = False
        current.after_movements_written(changed, None)
        _log_changes(current, user, [(ChangeLogEntry.Action.UNPOSTED, {})])
    document.posted = False
    return document


def set_deletion_mark(document: Document, mark: bool, *, user: Any = None) -> Document:
    """Mark a document for deletion (unposting it first) or remove the mark."""
    with service_transaction():
        if mark and document.posted:
            unpost_document(document, user=user)
        type(document).objects.filter(pk=document.pk).update(deletion_mark=mark)
        document.deletion_mark = mark
        log_change(document, ChangeLogEntry.Action.MARKED if mark else ChangeLogEntry.Action.UNMARKED, user)
    return document


# ----------------------------------------------------------- based-on links
def link_documents(source: models.Model, target: models.Model) -> None:
    """Record that `target` was based on `source` (once: linking them again changes nothing)."""
    db = transaction.get_connection()
    qn = db.ops.quote_name
    with db.cursor() as cursor:
        cursor.execute(f"INSERT INTO {qn(DocumentLink._meta.db_table)} (source_type_id, source_id, target_type_id, "
                       f"target_id) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                       [ContentType.objects.get_for_model(source).pk, source.pk,
                        ContentType.objects.get_for_model(target).pk, target.pk])


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
    """Labels of documents given as (content type id, id), in the order given ("" for one that is gone)."""
    labels = {(ContentType.objects.get_for_model(obj).pk, obj.pk): str(obj) for obj in _load(pairs)}
    return [labels.get((ct_id, obj_id), "") for ct_id, obj_id in pairs]


def document_movements(document: Document) -> list[tuple[Register, list[models.Model]]]:
    """The stored movements of a document, register by register (for the Movements tab)."""
    return [(r, r.movements_of(document)) for r in document.registers]


def document_models() -> list[type[Document]]:
    return [m for m in apps.get_models() if issubclass(m, Document)]
