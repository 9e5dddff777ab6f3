"""Statements built with the ORM once per process, then sent again and again with new values.

Building a query with the ORM (filters resolved, joins set up, SQL compiled) costs more than the database's work
for the small statements posting sends. `built_once` builds a statement once per process and database vendor from
stand-in values and, on each call, puts the caller's values where the stand-ins were: the statement keeps its one
definition in ORM terms and costs a list comprehension afterwards. Only scalar values (ids, keys) are supported:
a list changes the statement's shape.

`query_once` does the same for a queryset and returns what iterating it would: model instances (with their
`select_related` relations), `values()` dicts or `values_list()` tuples, converted as the ORM converts them. Its
values may also be lists of ids: each length is its own statement.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import QuerySet
from django.db.models.query import (
    FlatValuesListIterable,
    ModelIterable,
    ValuesIterable,
    ValuesListIterable,
    get_related_populators,
)

_BUILT: dict[tuple[str, str], tuple[str, list[tuple[bool, Any]]]] = {}


def _stand_in(index: int, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"built_once takes ids and keys (int or str), not {type(value).__name__}")
    return -(10**15) - index if isinstance(value, int) else f"\x02stand-in {index}\x03"


def built_once(statement: str, build: Callable[..., tuple[str, Sequence[Any]]], /,
               **values: Any) -> tuple[str, list[Any]]:
    """(sql, params) of `build(**values)`, with `build` run once per process and vendor on stand-in values (the
    `statement` names it)."""
    key = (statement, connection.vendor)
    built = _BUILT.get(key)
    if built is None:
        stand_ins = {name_: _stand_in(n, value) for n, (name_, value) in enumerate(values.items())}
        sql, params = build(**stand_ins)
        which = {stand_in: name_ for name_, stand_in in stand_ins.items()}
        template = [(True, which[p]) if isinstance(p, int | str) and not isinstance(p, bool) and p in which
                    else (False, p) for p in params]
        missing = set(stand_ins) - {v for is_value, v in template if is_value}
        if missing or any(isinstance(s, str) and s in sql for s in stand_ins.values()):
            raise RuntimeError(f"{statement}: the values {sorted(missing) or '(inlined)'} are not plain parameters "
                               "of the statement; it cannot be built once")
        built = _BUILT[key] = (sql, template)
    sql, template = built
    return sql, [values[v] if is_value else v for is_value, v in template]


_QUERIES: dict[tuple[Any, ...], tuple[str, list[tuple[bool, Any]], Callable[[list[tuple[Any, ...]]], list[Any]]]] = {}


def _stand_ins(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    n = 0
    for name_, value in values.items():
        if isinstance(value, list | tuple):
            out[name_] = []
            for v in value:
                out[name_].append(_stand_in(n, v))
                n += 1
        else:
            out[name_] = _stand_in(n, value)
            n += 1
    return out


def _reader(queryset: QuerySet[Any], compiler: Any) -> Callable[[list[tuple[Any, ...]]], list[Any]]:
    """What turns the statement's rows into what iterating `queryset` gives (ModelIterable and the values
    iterables of Django, without their per-call set-up)."""
    db = queryset.db
    fields = [s[0] for s in compiler.select[0: compiler.col_count]]
    converters = compiler.get_converters(fields)
    kind = queryset._iterable_class

    trim = compiler.col_count if compiler.has_extra_select else None

    def converted(rows: list[tuple[Any, ...]]) -> list[Any]:
        if trim is not None:
            rows = [row[:trim] for row in rows]
        return list(compiler.apply_converters(rows, converters)) if converters else rows

    if kind is ModelIterable:
        if queryset._known_related_objects or queryset.query.annotation_select:
            raise RuntimeError("query_once reads plain model rows (with select_related), not annotated ones")
        klass_info = compiler.klass_info
        model = klass_info["model"]
        start, end = klass_info["select_fields"][0], klass_info["select_fields"][-1] + 1
        init_list = [f[0].target.attname for f in compiler.select[start:end]]
        populators = get_related_populators(klass_info, compiler.select, db)

        def objects(rows: list[tuple[Any, ...]]) -> list[Any]:
            out = []
            for row in converted(rows):
                obj = model.from_db(db, init_list, row[start:end])
                for populator in populators:
                    populator.populate(row, obj)
                out.append(obj)
            return out

        return objects
    if kind is FlatValuesListIterable:
        return lambda rows: [row[0] for row in converted(rows)]
    if kind is ValuesListIterable:
        return lambda rows: [tuple(row) for row in converted(rows)]
    if kind is ValuesIterable:
        query = queryset.query
        names = [*query.extra_select, *query.values_select, *query.annotation_select]
        return lambda rows: [dict(zip(names, row, strict=True)) for row in converted(rows)]
    raise RuntimeError(f"query_once does not read {kind.__name__} results")


def query_once(statement: str, make: Callable[..., QuerySet[Any]], /, **values: Any) -> list[Any]:
    """What `list(make(**values))` gives, with the queryset built and compiled once per process, vendor and
    shape (the lengths of list values); the `statement` names it. Values are ids and keys (int or str), or
    lists of them."""
    shape = tuple((name_, len(v) if isinstance(v, list | tuple) else None) for name_, v in values.items())
    key = (statement, connection.vendor, shape)
    built = _QUERIES.get(key)
    if built is None:
        stand_ins = _stand_ins(values)
        queryset = make(**stand_ins)
        compiler = queryset.query.get_compiler(using=queryset.db)
        try:
            sql, params = compiler.as_sql()
        except EmptyResultSet:  # nothing can match (an empty list of ids): no statement
            _QUERIES[key] = ("", [], lambda rows: [])
            return []
        which: dict[Any, tuple[str, int | None]] = {}
        for name_, v in stand_ins.items():
            if isinstance(v, list):
                which.update({s: (name_, i) for i, s in enumerate(v)})
            else:
                which[v] = (name_, None)
        template = [(True, which[p]) if isinstance(p, int | str) and not isinstance(p, bool) and p in which
                    else (False, p) for p in params]
        used = {v for is_value, v in template if is_value}
        if set(which.values()) - used or any(isinstance(s, str) and s in sql for s in which):
            raise RuntimeError(f"{statement}: some values are not plain parameters of the statement; it cannot be "
                               "built once")
        built = _QUERIES[key] = (sql, template, _reader(queryset, compiler))
    sql, template, read = built
    if not sql:
        return []
    params = [(values[v[0]] if v[1] is None else values[v[0]][v[1]]) if is_value else v for is_value, v in template]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return read(rows)
