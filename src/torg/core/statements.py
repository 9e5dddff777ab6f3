"""Statements built with the ORM once per process, then sent again and again with new values.

Building a query with the ORM (filters resolved, joins set up, SQL compiled) costs more than the database's work
for the small statements posting sends. `built_once` builds a statement once per process and database vendor from
stand-in values and, on each call, puts the caller's values where the stand-ins were: the statement keeps its one
definition in ORM terms and costs a list comprehension afterwards. Values are ids and keys (int or str), or lists
of them: each length of a list is a statement of its own.

`query_once` does the same for a queryset and returns what iterating it would: model instances (with their
`select_related` relations), `values()` dicts or `values_list()` tuples, converted as the ORM converts them.
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

_BUILT: dict[tuple[Any, ...], tuple[str, list[tuple[bool, Any]]]] = {}


def _stand_in(index: int, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"built_once takes ids and keys (int or str), not {type(value).__name__}")
    return -(10**15) - index if isinstance(value, int) else f"\x02stand-in {index}\x03"


def _shape(statement: str, values: dict[str, Any]) -> tuple[Any, ...]:
    """What a statement's cache is keyed by: its name, the vendor, and the length of each list value."""
    return (statement, connection.vendor,
            tuple((name_, len(v) if isinstance(v, list | tuple) else None) for name_, v in values.items()))


def _stand_ins(values: dict[str, Any]) -> dict[str, Any]:
    """A distinct stand-in for each value, and for each element of a list value."""
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


def _template(statement: str, sql: str, params: Sequence[Any], stand_ins: dict[str, Any]) -> list[tuple[bool, Any]]:
    """The statement's parameters, each a constant or where to take the call's value from ((name, index in the
    list or None)); refused when a value is not a plain parameter (rewritten on the way, or written into the text)."""
    which: dict[Any, tuple[str, int | None]] = {}
    for name_, v in stand_ins.items():
        if isinstance(v, list):
            which.update({s: (name_, i) for i, s in enumerate(v)})
        else:
            which[v] = (name_, None)
    template = [(True, which[p]) if isinstance(p, int | str) and not isinstance(p, bool) and p in which
                else (False, p) for p in params]
    missing = set(which.values()) - {v for is_value, v in template if is_value}
    if missing or any(isinstance(s, str) and s in sql for s in which):
        raise RuntimeError(f"{statement}: the values {sorted(n for n, _i in missing) or '(inlined)'} are not plain "
                           "parameters of the statement; it cannot be built once")
    return template


def _filled(template: list[tuple[bool, Any]], values: dict[str, Any]) -> list[Any]:
    return [(values[v[0]] if v[1] is None else values[v[0]][v[1]]) if is_value else v for is_value, v in template]


def built_once(statement: str, build: Callable[..., tuple[str, Sequence[Any]]], /,
               **values: Any) -> tuple[str, list[Any]]:
    """(sql, params) of `build(**values)`, with `build` run once per process, vendor and shape (the lengths of list
    values) on stand-in values (the `statement` names it)."""
    key = _shape(statement, values)
    built = _BUILT.get(key)
    if built is None:
        stand_ins = _stand_ins(values)
        sql, params = build(**stand_ins)
        built = _BUILT[key] = (sql, _template(statement, sql, params, stand_ins))
    sql, template = built
    return sql, _filled(template, values)


_QUERIES: dict[tuple[Any, ...], tuple[str, list[tuple[bool, Any]], Callable[[list[tuple[Any, ...]]], list[Any]]]] = {}


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
        if queryset._known_related_objects:
            raise RuntimeError("query_once reads model rows with select_related and annotations, not known objects")
        klass_info = compiler.klass_info
        annotations = list(compiler.annotation_col_map.items())
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
                for name_, position in annotations:
                    setattr(obj, name_, row[position])
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
    key = _shape(statement, values)
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
        built = _QUERIES[key] = (sql, _template(statement, sql, params, stand_ins), _reader(queryset, compiler))
    sql, template, read = built
    if not sql:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, _filled(template, values))
        rows = cursor.fetchall()
    return read(rows)
