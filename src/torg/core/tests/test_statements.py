"""Statements built with the ORM once per process and sent again with new values."""
from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from torg.catalogs.models import Partner
from torg.core import statements
from torg.core.statements import built_once

pytestmark = pytest.mark.django_db


def _clients(kind: str, first: int, name: str) -> tuple[str, list[Any]]:
    return (Partner.objects.filter(pk__gte=first, name__gt=name, name__lt="Zz", is_client=kind == "client")
            .order_by("pk").values_list("name").query.sql_with_params())


def _rows(sql: str, params: list[Any]) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_a_statement_built_once_is_sent_with_each_calls_values(monkeypatch):
    monkeypatch.setattr(statements, "_BUILT", {})
    made = [Partner.objects.create(name=name, is_client=True) for name in ("Alpha", "Alpine", "Beta")]
    calls = []

    def build(first: int, name: str) -> tuple[str, list[Any]]:
        calls.append((first, name))
        return _clients("client", first, name)

    sql, params = built_once("clients", build, first=made[0].pk, name="Alpha")
    assert _rows(sql, params) == ["Alpine", "Beta"]
    again, params = built_once("clients", build, first=made[2].pk, name="Alpha")
    assert again == sql and _rows(again, params) == ["Beta"]
    assert _rows(*built_once("clients", build, first=made[0].pk, name="Beta")) == []
    assert len(calls) == 1 and calls[0][0] < 0  # built once, on stand-in values
    assert "Zz" in params  # a constant of the statement stays as it was


def test_values_the_statement_does_not_take_as_plain_parameters_are_refused(monkeypatch):
    monkeypatch.setattr(statements, "_BUILT", {})
    with pytest.raises(TypeError):
        built_once("ids", lambda ids: ("SELECT 1", [ids]), ids=[1, 2])
    with pytest.raises(RuntimeError, match="not plain parameters"):  # written into the text: not replaceable
        built_once("inlined", lambda name: (f"SELECT '{name}'", []), name="x")
    with pytest.raises(RuntimeError, match="not plain parameters"):  # changed on the way: not recognisable
        built_once("changed", lambda name: ("SELECT %s", [name.upper()]), name="x")
    with pytest.raises(RuntimeError, match="not plain parameters"):  # a lookup that rewrites its value (LIKE)
        built_once("like", lambda name: Partner.objects.filter(name__startswith=name).query.sql_with_params(),
                   name="Alp")
