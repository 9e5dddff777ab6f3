"""Statements built with the ORM once per process, then sent again and again with new values.

Building a query with the ORM (filters resolved, joins set up, SQL compiled) costs more than the database's work
for the small statements posting sends. `built_once` builds a statement once per process and database vendor from
stand-in values and, on each call, puts the caller's values where the stand-ins were: the statement keeps its one
definition in ORM terms and costs a list comprehension afterwards. Only scalar values (ids, keys) are supported:
a list changes the statement's shape.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection

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
