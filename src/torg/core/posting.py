"""The posting engine: the only code that writes registers.

`write_movements(document, movements)` makes the document's stored movements
equal to `movements`, inside the caller's transaction:

1. per register (in lock order) read the stored movements of the document;
2. if they equal the new ones, nothing is written;
3. otherwise replace the movement rows and apply the *difference* per key to
   the kept totals and per (key, month) to the monthly totals, with one
   `INSERT … ON CONFLICT DO UPDATE … RETURNING` per table whose rows are
   sorted by key — the row locks are therefore always taken in one order;
4. for controlled registers, check the new balance of exactly the keys whose
   balance went down; any shortfall aborts the whole transaction.

Documents call it through `torg.core.documents.post_document` / `unpost_document`.
"""
from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from torg.core.errors import CoreError, ErrorCode
from torg.core.registers import Movement, RecordType, Register, month_of

UPSERT_CHUNK = 400


@dataclass
class Shortfall:
    register: Register
    dims: tuple[Any, ...]
    resource: str
    need: Decimal
    have: Decimal
    balance_after: Decimal
    line_nos: list[int] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)

    def _template(self) -> Any:
        resource = next((r for r in self.register.resources if r.name == self.resource), None)
        return (resource.shortage_message if resource is not None else "") or self.register.shortage_message

    def message(self) -> str:
        fmt = {k: v for k, v in self.names.items()}
        if self.need > 0:
            text = str(self._template() or _("Not enough at {key}")).format(
                key=self.register.key_of(self.dims), **fmt
            )
            text = _("%(what)s: need %(need)s, have %(have)s") % {
                "what": text,
                "need": _fmt(self.need),
                "have": _fmt(self.have),
            }
            if self.line_nos:
                text = _("Line %(lines)s: %(text)s") % {"lines": ", ".join(map(str, self.line_nos)), "text": text}
            return text
        text = str(self._template() or "{key}").format(key=self.register.key_of(self.dims), **fmt)
        if self.dependents:
            return _("%(what)s would fall to %(balance)s. Later documents use it: %(docs)s") % {
                "what": text, "balance": _fmt(self.balance_after), "docs": "; ".join(self.dependents)}
        return _("%(what)s would fall to %(balance)s") % {"what": text, "balance": _fmt(self.balance_after)}


def _fmt(value: Decimal) -> str:
    return number_format(value.normalize() if value == value.to_integral() else value, use_l10n=True)


class ShortageError(CoreError):
    """Posting would leave a controlled register negative. Nothing was written."""

    def __init__(self, shortfalls: list[Shortfall]):
        self.shortfalls = shortfalls
        super().__init__(ErrorCode.SHORTAGE, "; ".join(s.message() for s in shortfalls))


def _require_atomic() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("register writes must run inside transaction.atomic()")


def write_movements(
    document: models.Model,
    movements: Iterable[Movement],
    registers: Sequence[Register],
    *,
    has_stored: bool = True,
) -> dict[Register, set[str]]:
    """Make the document's movements equal `movements` in every register of `registers`.

    `has_stored=False` says the document has no movements yet (it was never posted or was
    unposted), which saves reading them. Returns, per register, the keys whose movements changed."""
    _require_atomic()
    ct = ContentType.objects.get_for_model(document)
    by_register: dict[Register, list[Movement]] = defaultdict(list)
    for m in movements:
        by_register[m.register].append(m)
    unknown = set(by_register) - set(registers)
    if unknown:
        raise RuntimeError(f"{type(document).__name__} writes undeclared registers {sorted(r.label for r in unknown)}")
    shortfalls: list[Shortfall] = []
    changed: dict[Register, set[str]] = {}
    grown: dict[Register, set[str]] = {}
    db = transaction.get_connection()
    ordered = sorted(set(registers), key=lambda r: (r.lock_order, r.label))
    with db.cursor() as cursor:
        stored = _stored(db, cursor, ordered, ct, document.pk) if has_stored and ordered else {}
        statements: list[_Statement] = []
        checks: list[tuple[Register, range, list[tuple[str, list[Any]]], list[Movement]]] = []
        for register in ordered:
            new = by_register.get(register, [])
            planned, keys, grew, check = _write_register(db, register, ct, document.pk, new,
                                                         stored.get(register, []))
            if check:
                returning, rows = check
                checks.append((register, range(len(statements) + returning.start, len(statements) + returning.stop),
                               rows, new))
            statements += planned
            if keys:
                changed[register] = keys
            if grew:
                grown[register] = grew
        returned = _run(db, cursor, statements)
    for register, returning, rows, new in checks:
        balances: dict[str, tuple[Decimal, ...]] = {}
        for index in returning:  # the kept totals' upserts, UPSERT_CHUNK rows each
            balances.update(returned[index])
        shortfalls += _check(register, rows, balances, new)
    if shortfalls:
        _describe(shortfalls, ct, document.pk)
        raise ShortageError(shortfalls)
    for register, keys in changed.items():
        for listener, grew_only in _LISTENERS.get(register.label, ()):
            if not grew_only:
                listener(document, keys)
            elif register in grown:
                listener(document, grown[register])
    return changed


# Areas that must react when a register they do not own changes (sales reserves goods that arrive for
# orders waiting for them) listen here; a listener runs inside the posting transaction with the changed keys
# (with `grew_only`, only the keys where some resource's balance went up, and only when there are any).
_LISTENERS: dict[str, list[tuple[Callable[[models.Model, set[str]], None], bool]]] = defaultdict(list)


def on_register_written(register: Register, listener: Callable[[models.Model, set[str]], None], *,
                        grew_only: bool = False) -> None:
    if (listener, grew_only) not in _LISTENERS[register.label]:
        _LISTENERS[register.label].append((listener, grew_only))


def _stored_sql(db: Any, registers: Sequence[Register]) -> tuple[str, int]:
    """One statement for a document's stored movements in several registers: a part per register, told apart by
    its first column, dimensions and resources as text padded to the widest register (NULL beyond its own)."""
    qn = db.ops.quote_name
    width = max(len(r.dimensions) + len(r.resources) for r in registers)
    parts = []
    for n, register in enumerate(registers):
        values = [f"CAST({qn(c)} AS TEXT)" for c in (*register.dim_attnames, *register.resource_names)]
        values += ["NULL"] * (width - len(values))
        parts.append(f"SELECT {n}, line_no, period, record_type, {', '.join(values)} "
                     f"FROM {qn(register.movement_model._meta.db_table)} WHERE recorder_type_id = %s "
                     f"AND recorder_id = %s")
    return " UNION ALL ".join(parts), len(registers)


def _stored(db: Any, cursor: Any, registers: Sequence[Register], ct: ContentType,
            doc_id: int) -> dict[Register, list[Movement]]:
    """The movements a document has in these registers, read in one statement."""
    key = ("stored", db.vendor, tuple(r.label for r in registers))
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = _stored_sql(db, registers)[0]
    cursor.execute(sql, [ct.pk, doc_id] * len(registers))
    rows = cursor.fetchall()
    convert_period = db.ops.convert_datetimefield_value if db.vendor == "sqlite" else None
    result: dict[Register, list[Movement]] = defaultdict(list)
    for row in rows:
        register = registers[row[0]]
        n_dims = len(register.dimensions)
        dims = tuple(None if v is None else (int(v) if d.to else v)
                     for v, d in zip(row[4 : 4 + n_dims], register.dimensions, strict=True))
        res = tuple(Decimal(v or 0).quantize(r.quantum)
                    for v, r in zip(row[4 + n_dims : 4 + n_dims + len(register.resources)], register.resources,
                                    strict=True))
        period = convert_period(row[2], None, db) if convert_period else row[2]
        result[register].append(Movement(register, period, int(row[3]), dims, res, row[1]))
    return result


@dataclass
class _Statement:
    """One statement of a document's register writes; `returning`: it returns (key, *resources) rows."""

    sql: str
    params: list[Any]
    returning: int = 0  # how many resource columns follow the key in each returned row


def _write_register(
    db: Any, register: Register, ct: ContentType, doc_id: int, new: list[Movement], old: list[Movement]
) -> tuple[list[_Statement], set[str], set[str], tuple[range, list[tuple[str, list[Any]]]] | None]:
    """The statements that write one register's difference (`old`: what the document has in it); returns them, the
    keys written, the keys that grew and, for a controlled register, which statements (their positions) return the
    new balances of which changed keys (to check once they are run)."""
    if not old and not new:
        return [], set(), set(), None
    if old and Counter(m.comparable() for m in old) == Counter(m.comparable() for m in new):
        return [], set(), set(), None
    n_res = len(register.resources)
    zero = tuple(Decimal(0) for _ in range(n_res))
    total_delta: dict[str, list[Any]] = {}
    monthly_delta: dict[tuple[str, dt.date], list[Any]] = {}

    months: dict[dt.datetime, dt.date] = {}  # a document's movements mostly share one moment

    def apply(m: Movement, key: str, sign: int) -> None:
        entry = total_delta.setdefault(key, [m.dims, list(zero)])
        for i in range(n_res):
            entry[1][i] += sign * m.signed(i)
        month = months.get(m.period)
        if month is None:
            month = months[m.period] = month_of(m.period)
        mentry = monthly_delta.setdefault((key, month), [m.dims, list(zero), list(zero)])
        side = 1 if m.record_type == RecordType.RECEIPT else 2
        for i in range(n_res):
            mentry[side][i] += sign * m.resources[i]

    for m in old:
        apply(m, m.key, -1)
    new_rows = []
    adapt_period = db.ops.adapt_datetimefield_value
    adapt_month = db.ops.adapt_datefield_value
    for m in new:
        key = m.key
        apply(m, key, +1)
        new_rows.append([ct.pk, doc_id, m.line_no, adapt_period(m.period), m.record_type, key, *m.dims,
                         *m.resources])

    statements: list[_Statement] = []
    if old:
        statements.append(_Statement(f"DELETE FROM {db.ops.quote_name(register.movement_model._meta.db_table)} "
                                     "WHERE recorder_type_id = %s AND recorder_id = %s", [ct.pk, doc_id]))
    if new_rows:
        statements += _insert_statements(db, register.movement_model._meta.db_table, _movement_columns(register),
                                         new_rows)

    check = None
    if register.is_balance:
        changed = sorted((k, v) for k, v in total_delta.items() if any(v[1]))
        if changed:
            totals = _upsert_statements(
                db,
                register.total_model._meta.db_table,  # type: ignore[union-attr]
                conflict=["key"],
                fixed=["key", *register.dim_attnames],
                added=register.resource_names,
                rows=[[k, *dims, *deltas] for k, (dims, deltas) in changed],
                returning=register.controlled,
            )
            if register.controlled:
                check = (range(len(statements), len(statements) + len(totals)), changed)
            statements += totals
        monthly_added = [f"{r}_{side}" for side in ("receipt", "expense") for r in register.resource_names]
        mrows = [
            [k, adapt_month(month), *dims, *rec, *exp]
            for (k, month), (dims, rec, exp) in sorted(monthly_delta.items())
            if any(rec) or any(exp)
        ]
    else:
        monthly_added = register.resource_names
        mrows = [
            [k, adapt_month(month), *dims, *[r + e for r, e in zip(rec, exp, strict=True)]]
            for (k, month), (dims, rec, exp) in sorted(monthly_delta.items())
            if any(rec) or any(exp)
        ]
    if mrows:
        statements += _upsert_statements(
            db,
            register.monthly_model._meta.db_table,
            conflict=["key", "month"],
            fixed=["key", "month", *register.dim_attnames],
            added=monthly_added,
            rows=mrows,
            returning=False,
        )
    grew = {k for k, (_dims, deltas) in total_delta.items() if any(d > 0 for d in deltas)}
    return statements, set(total_delta), grew, check


# A combined statement stays well below PostgreSQL's 65,535 parameters.
COMBINED_PARAMS = 20_000


def _run(db: Any, cursor: Any, statements: list[_Statement]) -> dict[int, dict[str, tuple[Decimal, ...]]]:
    """Run a document's register statements; returns, per returning statement (by its index), the new values by key.

    On PostgreSQL the statements go as one: each a data-modifying WITH query of one statement, all run to completion
    on one snapshot (none sees another's rows, which they do not need: each writes its own table, and a movement
    table's DELETE of the document's old rows cannot see the new ones). It saves a round trip, a parse and an
    executor start-up per statement — 14 statements a shipment. Elsewhere (SQLite) they run one by one."""
    returned: dict[int, dict[str, tuple[Decimal, ...]]] = {}

    def alone(n: int) -> None:
        cursor.execute(statements[n].sql, statements[n].params)
        if statements[n].returning:
            returned[n] = {row[0]: tuple(Decimal(str(v)) for v in row[1:]) for row in cursor.fetchall()}

    if db.vendor != "postgresql":
        for n in range(len(statements)):
            alone(n)
        return returned
    start = 0
    while start < len(statements):
        end, size = start, 0
        while end < len(statements) and (end == start or size + len(statements[end].params) <= COMBINED_PARAMS):
            size += len(statements[end].params)
            end += 1
        batch = statements[start:end]
        if len(batch) == 1:
            alone(start)
        else:
            cursor.execute(_combined_sql(batch), [v for statement in batch for v in statement.params])
            for n in range(start, end):
                if statements[n].returning:
                    returned[n] = {}
            for row in cursor.fetchall():
                returned[start + row[0]][row[1]] = tuple(Decimal(v) for v in row[2 : 2 + statements[start + row[0]]
                                                                                 .returning])
        start = end
    return returned


def _combined_sql(batch: list[_Statement]) -> str:
    key = ("combined", *(statement.sql for statement in batch))
    sql = _SQL.get(key)
    if sql is None:
        width = max((statement.returning for statement in batch), default=0)
        parts = [f"w{n} AS ({statement.sql})" for n, statement in enumerate(batch)]
        selects = []
        for n, statement in enumerate(batch):
            if statement.returning:
                columns = [f"CAST(w.c{i} AS TEXT)" for i in range(statement.returning)]
                columns += ["NULL"] * (width - statement.returning)
                names = ", ".join(f"c{i}" for i in range(statement.returning))
                selects.append(f"SELECT {n}, w.key, {', '.join(columns)} FROM w{n} AS w(key, {names})")
        sql = _SQL[key] = "WITH " + ", ".join(parts) + " " + (" UNION ALL ".join(selects) or "SELECT NULL WHERE FALSE")
    return sql


def _movement_columns(register: Register) -> tuple[str, ...]:
    return ("recorder_type_id", "recorder_id", "line_no", "period", "record_type", "key",
            *register.dim_attnames, *register.resource_names)


# Statements are built once per table, shape and row count: building them costs more than sending them.
_SQL: dict[tuple[Any, ...], str] = {}


def _insert_statements(db: Any, table: str, columns: Sequence[str], rows: list[list[Any]]) -> list[_Statement]:
    """Plain multi-row INSERTs (the movement rows), UPSERT_CHUNK rows each."""
    qn = db.ops.quote_name
    out = []
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start : start + UPSERT_CHUNK]
        key = ("insert", db.vendor, table, tuple(columns), len(chunk))
        sql = _SQL.get(key)
        if sql is None:
            row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
            sql = _SQL[key] = (f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in columns)}) VALUES "
                               + ", ".join([row_sql] * len(chunk)))
        out.append(_Statement(sql, [v for row in chunk for v in row]))
    return out


def _upsert_statements(db: Any, table: str, conflict: list[str], fixed: list[str], added: list[str],
                       rows: list[list[Any]], returning: bool) -> list[_Statement]:
    """INSERTs of rows that add their `added` columns to an existing row (UPSERT_CHUNK rows each); with
    `returning`, each returns the new values by key."""
    qn = db.ops.quote_name
    out = []
    for start in range(0, len(rows), UPSERT_CHUNK):
        chunk = rows[start : start + UPSERT_CHUNK]
        key = ("upsert", db.vendor, table, tuple(conflict), tuple(fixed), tuple(added), returning, len(chunk))
        sql = _SQL.get(key)
        if sql is None:
            cols = [*fixed, *added]
            set_clause = ", ".join(f"{qn(c)} = {qn(table)}.{qn(c)} + excluded.{qn(c)}" for c in added)
            row_sql = "(" + ", ".join(["%s"] * len(cols)) + ")"
            sql = (
                f"INSERT INTO {qn(table)} ({', '.join(qn(c) for c in cols)}) VALUES "
                + ", ".join([row_sql] * len(chunk))
                + f" ON CONFLICT ({', '.join(qn(c) for c in conflict)}) DO UPDATE SET {set_clause}"
            )
            if returning:
                sql += f" RETURNING {qn('key')}, " + ", ".join(qn(c) for c in added)
            _SQL[key] = sql
        out.append(_Statement(sql, [v for row in chunk for v in row], len(added) if returning else 0))
    return out


def _check(
    register: Register,
    changed: list[tuple[str, list[Any]]],
    balances: dict[str, tuple[Decimal, ...]],
    new: list[Movement],
) -> list[Shortfall]:
    shortfalls = []
    for key, (dims, deltas) in changed:
        after = balances[key]
        for i, resource in enumerate(register.resources):
            if deltas[i] >= 0:
                continue
            balance_after = after[i].quantize(resource.quantum)
            if balance_after >= 0:
                continue
            mine = [m for m in new if m.key == key]
            net_out = -sum((m.signed(i) for m in mine), Decimal(0))
            shortfalls.append(
                Shortfall(
                    register=register,
                    dims=dims,
                    resource=resource.name,
                    need=net_out,
                    have=balance_after + net_out,
                    balance_after=balance_after,
                    line_nos=sorted({m.line_no for m in mine if m.record_type == RecordType.EXPENSE and m.line_no}),
                )
            )
            break  # one shortfall per key: the first resource short says it (quantity before free stock)
    return shortfalls


def _describe(shortfalls: list[Shortfall], ct: ContentType, doc_id: int) -> None:
    """Fill the names of dimension values and, for a removed receipt, the later documents that used it."""
    from torg.core.documents import describe_recorders  # local: documents imports this module

    wanted: dict[str, set[Any]] = defaultdict(set)
    for s in shortfalls:
        for d, v in zip(s.register.dimensions, s.dims, strict=True):
            if d.to and v is not None:
                wanted[d.to].add(v)
    from django.apps import apps

    names: dict[tuple[str, Any], str] = {}
    for label, ids in wanted.items():
        for obj in apps.get_model(label).objects.filter(pk__in=ids):
            names[(label, obj.pk)] = str(obj)
    for s in shortfalls:
        s.names = {
            d.name: "" if v is None else (names.get((d.to, v), str(v)) if d.to else str(v))  # an empty one: nothing
            for d, v in zip(s.register.dimensions, s.dims, strict=True)
        }
        if s.need <= 0:
            later = (
                s.register.movement_model.objects.filter(  # type: ignore[attr-defined]
                    key=s.register.key_of(s.dims), record_type=RecordType.EXPENSE
                )
                .exclude(recorder_type=ct, recorder_id=doc_id)
                .order_by("-period")
                .values_list("recorder_type_id", "recorder_id")
                .distinct()[:5]
            )
            s.dependents = describe_recorders(list(later))


@dataclass
class Mismatch:
    register: str
    table: str
    key: str
    expected: tuple[Decimal, ...]
    kept: tuple[Decimal, ...]


def verify_register(register: Register) -> list[Mismatch]:
    """Recompute kept and monthly totals from the movements and list every difference.

    Used by the property tests and by `manage.py check_registers`.
    """
    mismatches: list[Mismatch] = []
    movements = register.movement_model.objects.values_list(  # type: ignore[attr-defined]
        "key", "period", "record_type", *register.resource_names
    )
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * len(register.resources))
    monthly: dict[tuple[str, dt.date], list[Decimal]] = defaultdict(
        lambda: [Decimal(0)] * (len(register.resources) * 2)
    )
    n = len(register.resources)
    for key, period, record_type, *res in movements:
        values = [Decimal(str(v)) for v in res]
        month = month_of(period)
        for i in range(n):
            totals[key][i] += values[i] * record_type
            if register.is_balance:
                monthly[(key, month)][i if record_type == RecordType.RECEIPT else n + i] += values[i]
            else:
                monthly[(key, month)][i] += values[i]

    def q(values: Sequence[Any]) -> tuple[Decimal, ...]:
        return tuple(Decimal(str(v)).quantize(Decimal("0.001")) for v in values)

    if register.is_balance:
        kept = {
            row[0]: q(row[1:])
            for row in register.total_model.objects.values_list("key", *register.resource_names)  # type: ignore[union-attr]
        }
        for key in set(kept) | set(totals):
            expected = q(totals.get(key, [0] * n))
            got = kept.get(key, q([0] * n))
            if expected != got:
                mismatches.append(Mismatch(register.label, "total", key, expected, got))
        mcols = [f"{r}_receipt" for r in register.resource_names] + [f"{r}_expense" for r in register.resource_names]
    else:
        mcols = register.resource_names
    kept_m = {
        (row[0], row[1]): q(row[2:])
        for row in register.monthly_model.objects.values_list("key", "month", *mcols)  # type: ignore[attr-defined]
    }
    width = len(mcols)
    for km in set(kept_m) | set(monthly):
        expected = q(monthly.get(km, [0] * width)[:width])
        got = kept_m.get(km, q([0] * width))
        if expected != got:
            mismatches.append(Mismatch(register.label, "monthly", f"{km[0]}@{km[1]}", expected, got))
    return mismatches
