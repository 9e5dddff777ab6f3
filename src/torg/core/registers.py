"""Declarative accumulation registers (регистры накопления).

A register is declared once, in the models module of the app that owns it::

    Stock = Register(
        name="stock", app_label="stock", verbose_name=_("Stock"),
        kind=RegisterKind.BALANCE, controlled=True,
        dimensions=[Dimension("warehouse", "catalogs.Warehouse"), Dimension("item", "catalogs.Item")],
        resources=[Resource("quantity", 3)],
    )
    StockMovement, StockTotal, StockMonthlyTotal = Stock.build(__name__)

`build` makes three concrete models:

* movements: one row per document line and register record (the audit trail);
* kept current totals (balance registers only): one row per dimension key,
  updated by posting with the difference only, read in constant time;
* monthly totals: per key and calendar month (local time), the receipts and
  expenses of a balance register, or the sums of a turnover register.
  Balances at a past moment and turnovers for a period are assembled from the
  monthly rows of whole months plus the movements of the open part of a month.

Rows of every table carry a `key`: the dimension values joined with "|".
A single-column key makes upserts, locks and lookups uniform whatever the
number of dimensions, and treats an empty (NULL) dimension as a value.

Writes go through `torg.core.posting` only.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import pgettext_lazy

from torg.core.statements import query_once


class RegisterKind(StrEnum):
    BALANCE = "balance"  # keeps a running balance per key (stock, settlements, cash)
    TURNOVER = "turnover"  # only sums (sales turnover)


class RecordType(models.IntegerChoices):
    RECEIPT = 1, "receipt"
    EXPENSE = -1, "expense"


@dataclass(frozen=True)
class Dimension:
    name: str
    to: str | None = None  # "app_label.Model" for a reference to a catalog or document
    verbose_name: str | Promise = ""
    max_length: int = 64  # for non-reference dimensions (stored as text)

    @property
    def attname(self) -> str:
        return f"{self.name}_id" if self.to else self.name


@dataclass(frozen=True)
class Resource:
    name: str
    places: int
    verbose_name: str | Promise = ""
    # A movement that does not name this resource takes the value of that one (Stock.free follows quantity
    # except where a document says otherwise: a reserve moves free stock only).
    default_from: str | None = None
    # For a controlled register: what falls short when this resource would go negative, if it is not
    # the register's shortage_message ("{dimension}" placeholders).
    shortage_message: str | Promise = ""

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.places)


@dataclass(frozen=True)
class Movement:
    """One record a document wants in a register. Built by `Register.receipt/expense/record`."""

    register: Register
    period: dt.datetime
    record_type: int
    dims: tuple[Any, ...]
    resources: tuple[Decimal, ...]
    line_no: int = 0

    @property
    def key(self) -> str:
        return self.register.key_of(self.dims)

    def signed(self, index: int) -> Decimal:
        return self.resources[index] * self.record_type

    def comparable(self) -> tuple[Any, ...]:
        return (self.line_no, self.period, self.record_type, self.dims, self.resources)


def _index_name(table: str, suffix: str) -> str:
    """An index or constraint name within Django's 30 characters, unique per table and suffix."""
    name = f"{table}_{suffix}"
    if len(name) <= 30:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:6]
    return f"{table[:30 - len(suffix) - 8]}_{digest}_{suffix}"


def month_of(period: dt.datetime) -> dt.date:
    """The calendar month (in the local time zone) a moment belongs to."""
    local = timezone.localtime(period) if timezone.is_aware(period) else period
    return local.date().replace(day=1)


def month_start(month: dt.date) -> dt.datetime:
    naive = dt.datetime(month.year, month.month, 1)
    return timezone.make_aware(naive) if timezone.is_naive(naive) else naive


def next_month(month: dt.date) -> dt.date:
    return dt.date(month.year + (month.month // 12), month.month % 12 + 1, 1)


@dataclass
class Register:
    name: str
    app_label: str
    verbose_name: str | Promise
    kind: RegisterKind
    dimensions: list[Dimension]
    resources: list[Resource]
    controlled: bool = False
    # Registers are written (and their rows locked) in ascending lock_order, then by name.
    # A register whose totals a document reads *for update* while computing its
    # movements (the cost register) must come before the registers written after it.
    lock_order: int = 100
    # "{dimension}" placeholders are filled with the names of the dimension values.
    shortage_message: str | Promise = ""
    movement_model: type[models.Model] = field(init=False, repr=False)
    total_model: type[models.Model] | None = field(init=False, repr=False, default=None)
    monthly_model: type[models.Model] = field(init=False, repr=False)

    def __hash__(self) -> int:
        return hash(self.label)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Register) and other.label == self.label

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def is_balance(self) -> bool:
        return self.kind == RegisterKind.BALANCE

    @property
    def dim_attnames(self) -> list[str]:
        return [d.attname for d in self.dimensions]

    @property
    def resource_names(self) -> list[str]:
        return [r.name for r in self.resources]

    # ----------------------------------------------------------------- models
    def _model_label(self, part: Promise) -> Promise:
        """The name of one of the register's tables, e.g. «Товары на складах: движения» (lazy: any language)."""
        return format_lazy("{}: {}", self.verbose_name, part)

    def build(self, module: str) -> tuple[type[models.Model], type[models.Model] | None, type[models.Model]]:
        camel = "".join(part.capitalize() for part in self.name.split("_"))
        table = f"{self.app_label}_reg_{self.name}"

        def dim_fields(indexed: bool) -> dict[str, models.Field]:
            result: dict[str, models.Field] = {}
            for d in self.dimensions:
                if d.to:
                    result[d.name] = models.ForeignKey(
                        d.to, on_delete=models.PROTECT, related_name="+", null=True, db_constraint=False,
                        db_index=indexed, verbose_name=d.verbose_name or d.name,
                    )
                else:
                    result[d.name] = models.CharField(
                        max_length=d.max_length, blank=True, default="", verbose_name=d.verbose_name or d.name
                    )
            return result

        def resource_field(r: Resource) -> models.DecimalField:
            return models.DecimalField(max_digits=21, decimal_places=r.places, default=Decimal(0),
                                       verbose_name=r.verbose_name or r.name)

        movement_attrs: dict[str, Any] = {
            "__module__": module,
            "recorder_type": models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+",
                                               db_constraint=False, db_index=False),
            "recorder_id": models.PositiveBigIntegerField(),
            "line_no": models.PositiveIntegerField(default=0),
            "period": models.DateTimeField(),
            "record_type": models.SmallIntegerField(choices=RecordType.choices, default=RecordType.RECEIPT),
            "key": models.CharField(max_length=255),
            **dim_fields(indexed=False),
            **{r.name: resource_field(r) for r in self.resources},
            "Meta": type("Meta", (), {
                "app_label": self.app_label,
                "db_table": f"{table}_movement",
                "verbose_name": self._model_label(pgettext_lazy("register table", "movement")),
                "indexes": [
                    models.Index(fields=["recorder_type", "recorder_id"], name=_index_name(table, "mv_rec")),
                    models.Index(fields=["key", "period"], name=_index_name(table, "mv_key")),
                    models.Index(fields=["period"], name=_index_name(table, "mv_per")),
                ],
            }),
        }
        self.movement_model = type(f"{camel}Movement", (models.Model,), movement_attrs)

        if self.is_balance:
            total_attrs: dict[str, Any] = {
                "__module__": module,
                "key": models.CharField(max_length=255),
                **dim_fields(indexed=True),
                **{r.name: resource_field(r) for r in self.resources},
                "Meta": type("Meta", (), {
                    "app_label": self.app_label,
                    "db_table": f"{table}_total",
                    "verbose_name": self._model_label(pgettext_lazy("register table", "balance")),
                    # a constraint, not unique=True: on PostgreSQL the latter also builds a LIKE index nobody reads
                    "constraints": [models.UniqueConstraint(fields=["key"], name=_index_name(table, "tot_key"))],
                }),
            }
            self.total_model = type(f"{camel}Total", (models.Model,), total_attrs)

        monthly_resources: dict[str, models.Field] = {}
        for r in self.resources:
            if self.is_balance:
                monthly_resources[f"{r.name}_receipt"] = resource_field(r)
                monthly_resources[f"{r.name}_expense"] = resource_field(r)
            else:
                monthly_resources[r.name] = resource_field(r)
        monthly_attrs: dict[str, Any] = {
            "__module__": module,
            "month": models.DateField(),
            "key": models.CharField(max_length=255),
            **dim_fields(indexed=False),
            **monthly_resources,
            "Meta": type("Meta", (), {
                "app_label": self.app_label,
                "db_table": f"{table}_monthly",
                "verbose_name": self._model_label(pgettext_lazy("register table", "monthly totals")),
                "constraints": [models.UniqueConstraint(fields=["key", "month"], name=_index_name(table, "mo_uniq"))],
                "indexes": [models.Index(fields=["month"], name=_index_name(table, "mo_month"))],
            }),
        }
        self.monthly_model = type(f"{camel}MonthlyTotal", (models.Model,), monthly_attrs)
        REGISTRY[self.label] = self
        return self.movement_model, self.total_model, self.monthly_model

    # ---------------------------------------------------------------- records
    def dims_of(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        dims = []
        for d in self.dimensions:
            if d.name not in values:
                raise TypeError(f"{self.label}: dimension {d.name!r} is missing")
            value = values[d.name]
            if d.to:
                value = getattr(value, "pk", value)
            else:
                value = "" if value is None else str(value)
            dims.append(value)
        return tuple(dims)

    def key_of(self, dims: Sequence[Any]) -> str:
        return "|".join("" if v is None else str(v) for v in dims)

    def _resources_of(self, values: Mapping[str, Any]) -> tuple[Decimal, ...]:
        return tuple(
            Decimal(str(values.get(r.name, values.get(r.default_from, 0) if r.default_from else 0) or 0))
            .quantize(r.quantum, rounding=ROUND_HALF_UP)
            for r in self.resources
        )

    def _movement(self, record_type: int, period: dt.datetime, line_no: int, values: Mapping[str, Any]) -> Movement:
        known = {d.name for d in self.dimensions} | {r.name for r in self.resources}
        unknown = set(values) - known
        if unknown:
            raise TypeError(f"{self.label}: unknown fields {sorted(unknown)}")
        return Movement(self, period, record_type, self.dims_of(values), self._resources_of(values), line_no)

    def receipt(self, period: dt.datetime, *, line_no: int = 0, **values: Any) -> Movement:
        """A movement that raises the balance (приход)."""
        assert self.is_balance, f"{self.label} is a turnover register: use record()"
        return self._movement(RecordType.RECEIPT, period, line_no, values)

    def expense(self, period: dt.datetime, *, line_no: int = 0, **values: Any) -> Movement:
        """A movement that lowers the balance (расход)."""
        assert self.is_balance, f"{self.label} is a turnover register: use record()"
        return self._movement(RecordType.EXPENSE, period, line_no, values)

    def record(self, period: dt.datetime, *, line_no: int = 0, **values: Any) -> Movement:
        """A turnover record (negative values are storno)."""
        assert not self.is_balance, f"{self.label} is a balance register: use receipt()/expense()"
        return self._movement(RecordType.RECEIPT, period, line_no, values)

    # ------------------------------------------------------------------ reads
    def _dims_q(self, prefix: str = "", **filters: Any) -> Q:
        q = Q()
        exact: dict[str, Any] = {}
        for name, value in filters.items():
            dim = next((d for d in self.dimensions if d.name == name.split("__")[0]), None)
            if dim is None:
                raise TypeError(f"{self.label}: no dimension {name!r}")
            if isinstance(value, models.Model):
                value = value.pk
            if isinstance(value, (list, tuple, set, frozenset)) and "__" not in name:
                name = f"{dim.attname}__in"
                value = [getattr(v, "pk", v) for v in value]
            elif "__" not in name:
                name = dim.attname
                # Only values whose text is exactly what `key_of` stored (an id, a text dimension).
                if (isinstance(value, int) and not isinstance(value, bool)) if dim.to else isinstance(value, str):
                    exact[dim.name] = value
            q &= Q(**{name: value})
        if len(exact) == len(self.dimensions):
            # One key: the same condition on `key` lets the (key, month) and (key, period) indexes
            # find its rows directly instead of scanning every key's rows of the period.
            q &= Q(key=self.key_of([exact[d.name] for d in self.dimensions]))
        return q

    def balance(self, **dims: Any) -> dict[str, Decimal]:
        """The current balance of one key, from the kept totals (one indexed row)."""
        assert self.total_model is not None
        key = self.key_of(self.dims_of(dims))
        found = query_once(f"{self.label} balance", lambda key: self.total_model.objects  # type: ignore[union-attr]
                           .filter(key=key).values(*self.resource_names).order_by("pk")[:1], key=key)
        row = found[0] if found else None
        return {r.name: (row[r.name] if row else Decimal(0)).quantize(r.quantum) for r in self.resources}

    def balances(self, group_by: Sequence[str], **filters: Any) -> dict[tuple[Any, ...], dict[str, Decimal]]:
        """Current balances grouped by some dimensions, from the kept totals."""
        assert self.total_model is not None
        attnames = [self._attname(g) for g in group_by]
        qs = self.total_model.objects.filter(self._dims_q(**filters)).values(*attnames)  # type: ignore[attr-defined]
        qs = qs.annotate(**{f"s_{r.name}": Sum(r.name) for r in self.resources}).order_by()
        return {
            tuple(row[a] for a in attnames): {r.name: _dec(row[f"s_{r.name}"], r) for r in self.resources}
            for row in qs
        }

    def _attname(self, name: str) -> str:
        for d in self.dimensions:
            if d.name == name:
                return d.attname
        raise TypeError(f"{self.label}: no dimension {name!r}")

    def balances_at(
        self,
        moment: dt.datetime,
        group_by: Sequence[str],
        before: tuple[int, int] | None = None,
        **filters: Any,
    ) -> dict[tuple[Any, ...], dict[str, Decimal]]:
        """Balances at a past moment (movements with period < moment), grouped by some dimensions.

        Whole months come from the monthly totals, the open part of the month
        from the movements. `before=(content_type_id, document_id)` also counts
        movements at exactly `moment` of documents that sort before that one
        (the order in which average cost is computed).
        """
        assert self.is_balance
        attnames = [self._attname(g) for g in group_by]
        month = month_of(moment)
        q = self._dims_q(**filters)
        result: dict[tuple[Any, ...], dict[str, Decimal]] = {}

        def add(row: Mapping[str, Any], sign_fields: Mapping[str, str]) -> None:
            k = tuple(row[a] for a in attnames)
            acc = result.setdefault(k, {r.name: Decimal(0) for r in self.resources})
            for r in self.resources:
                acc[r.name] += _dec(row[sign_fields[r.name]], r)

        monthly = (
            self.monthly_model.objects.filter(q, month__lt=month)  # type: ignore[attr-defined]
            .values(*attnames)
            .annotate(**{f"b_{r.name}": Sum(F(f"{r.name}_receipt") - F(f"{r.name}_expense")) for r in self.resources})
            .order_by()
        )
        for row in monthly:
            add(row, {r.name: f"b_{r.name}" for r in self.resources})

        period_q = Q(period__gte=month_start(month), period__lt=moment)
        if before is not None:
            ct_id, doc_id = before
            period_q |= Q(period=moment, recorder_type_id__lt=ct_id) | Q(
                period=moment, recorder_type_id=ct_id, recorder_id__lt=doc_id
            )
        open_part = (
            self.movement_model.objects.filter(q, period_q)  # type: ignore[attr-defined]
            .values(*attnames)
            .annotate(**{f"b_{r.name}": Sum(F(r.name) * F("record_type")) for r in self.resources})
            .order_by()
        )
        for row in open_part:
            add(row, {r.name: f"b_{r.name}" for r in self.resources})
        return result

    def kept_if_nothing_from(self, moment: dt.datetime, keys: Sequence[str]) -> dict[str, dict[str, Decimal]] | None:
        """The kept balances of these keys, which are their balances at `moment` when none of them has a movement at
        or after it (a document dated now): then {key: balance} (a key never moved is absent), else None — ask
        `balances_at`. One statement. A caller that must keep the answer true until it commits locks the total rows
        first, in a statement of its own: the statement that waits for a lock sees the rows committed meanwhile, but
        not their movements."""
        assert self.total_model is not None
        if not keys:
            return {}
        db = transaction.get_connection()
        sql_key = ("kept_if_nothing_from", db.vendor, self.label, len(keys))
        sql = _KEPT_SQL.get(sql_key)
        if sql is None:
            qn = db.ops.quote_name
            resources = ", ".join(f"t.{qn(r.name)}" for r in self.resources)
            sql = _KEPT_SQL[sql_key] = (
                f"SELECT t.{qn('key')}, {resources}, EXISTS (SELECT 1 FROM "
                f"{qn(self.movement_model._meta.db_table)} m WHERE m.{qn('key')} = t.{qn('key')} "  # type: ignore[attr-defined]
                f"AND m.period >= %s) FROM {qn(self.total_model._meta.db_table)} t "  # type: ignore[attr-defined]
                f"WHERE t.{qn('key')} IN ({', '.join(['%s'] * len(keys))})")
        with db.cursor() as cursor:
            cursor.execute(sql, [db.ops.adapt_datetimefield_value(moment), *keys])
            rows = cursor.fetchall()
        if any(row[-1] for row in rows):
            return None
        return {row[0]: {r.name: _dec(v, r) for r, v in zip(self.resources, row[1:-1], strict=True)} for row in rows}

    def turnovers(
        self, start: dt.datetime, end: dt.datetime, group_by: Sequence[str], **filters: Any
    ) -> dict[tuple[Any, ...], dict[str, Decimal]]:
        """Turnovers for start <= period < end, grouped by some dimensions.

        For a balance register the result has `<resource>_receipt` and
        `<resource>_expense`; for a turnover register, `<resource>`.
        """
        attnames = [self._attname(g) for g in group_by]
        q = self._dims_q(**filters)
        out_names = (
            [f"{r.name}_{side}" for r in self.resources for side in ("receipt", "expense")]
            if self.is_balance
            else [r.name for r in self.resources]
        )
        result: dict[tuple[Any, ...], dict[str, Decimal]] = {}

        def add(rows: Iterable[Mapping[str, Any]], sign: int = 1) -> None:
            for row in rows:
                k = tuple(row[a] for a in attnames)
                acc = result.setdefault(k, {n: Decimal(0) for n in out_names})
                for n in out_names:
                    acc[n] += sign * Decimal(str(row[f"t_{n}"] or 0))

        def months(lo: dt.date, hi: dt.date) -> Iterable[Mapping[str, Any]]:
            """Monthly totals of the months lo <= month < hi."""
            return (self.monthly_model.objects.filter(q, month__gte=lo, month__lt=hi)  # type: ignore[attr-defined]
                    .values(*attnames).annotate(**{f"t_{n}": Sum(n) for n in out_names}).order_by())

        def moves(lo: dt.datetime, hi: dt.datetime) -> Iterable[Mapping[str, Any]]:
            """Movements with lo <= period < hi, summed."""
            if lo >= hi:
                return []
            qs = self.movement_model.objects.filter(q, period__gte=lo, period__lt=hi)  # type: ignore[attr-defined]
            if self.is_balance:
                ann = {}
                for r in self.resources:
                    ann[f"t_{r.name}_receipt"] = Sum(r.name, filter=Q(record_type=RecordType.RECEIPT))
                    ann[f"t_{r.name}_expense"] = Sum(r.name, filter=Q(record_type=RecordType.EXPENSE))
            else:
                ann = {f"t_{r.name}": Sum(r.name) for r in self.resources}
            return qs.values(*attnames).annotate(**ann).order_by()

        first_full = month_of(start) if month_start(month_of(start)) == start else next_month(month_of(start))
        end_month = month_of(end)
        if first_full < end_month:
            add(months(first_full, end_month))  # the whole months inside [start, end)
            edges = [(start, month_start(first_full)), (month_start(end_month), end)]
        else:
            edges = [(start, end)]
        for lo, hi in edges:
            # Each part of a month: its movements, or — when that reads fewer days — the month's
            # totals less the movements of the rest of the month.
            while lo < hi:
                month = month_of(lo)
                m_lo, m_hi = month_start(month), month_start(next_month(month))
                part_hi = min(hi, m_hi)
                if (lo - m_lo) + (m_hi - part_hi) < part_hi - lo:
                    add(months(month, next_month(month)))
                    add(moves(m_lo, lo), -1)
                    add(moves(part_hi, m_hi), -1)
                else:
                    add(moves(lo, part_hi))
                lo = part_hi
        result = {k: acc for k, acc in result.items() if any(acc.values())}
        for acc in result.values():
            for n in out_names:
                res = next(r for r in self.resources if n.startswith(r.name))
                acc[n] = acc[n].quantize(res.quantum)
        return result

    def movements_of(self, recorder: models.Model) -> list[models.Model]:
        ct = ContentType.objects.get_for_model(recorder)
        return list(
            self.movement_model.objects.filter(recorder_type=ct, recorder_id=recorder.pk)  # type: ignore[attr-defined]
            .order_by("line_no", "id")
        )


def _dec(value: Any, resource: Resource) -> Decimal:
    # SQLite keeps NUMERIC as binary floats; going through str() and quantize gives back the exact decimal.
    return Decimal(str(value or 0)).quantize(resource.quantum, rounding=ROUND_HALF_UP)


REGISTRY: dict[str, Register] = {}
_KEPT_SQL: dict[tuple[Any, ...], str] = {}


def all_registers() -> Iterable[Register]:
    return sorted(REGISTRY.values(), key=lambda r: (r.lock_order, r.label))
