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
        built_once("amount", lambda amount: ("SELECT %s", [amount]), amount=1.5)
    with pytest.raises(RuntimeError, match="not plain parameters"):  # a list sent as one value: not its elements
        built_once("ids", lambda ids: ("SELECT 1", [ids]), ids=[1, 2])
    with pytest.raises(RuntimeError, match="not plain parameters"):  # written into the text: not replaceable
        built_once("inlined", lambda name: (f"SELECT '{name}'", []), name="x")
    with pytest.raises(RuntimeError, match="not plain parameters"):  # changed on the way: not recognisable
        built_once("changed", lambda name: ("SELECT %s", [name.upper()]), name="x")
    with pytest.raises(RuntimeError, match="not plain parameters"):  # a lookup that rewrites its value (LIKE)
        built_once("like", lambda name: Partner.objects.filter(name__startswith=name).query.sql_with_params(),
                   name="Alp")


# ----------------------------------------------------------------- query_once
def test_a_query_built_once_gives_what_the_queryset_gives_for_each_calls_values(monkeypatch, django_assert_num_queries):
    from decimal import Decimal

    from torg.catalogs.models import BankAccount, Organization
    from torg.core.statements import query_once

    monkeypatch.setattr(statements, "_QUERIES", {})
    org = Organization.objects.create(name="Org", prefix="OR", inn="7707083893")
    other = Organization.objects.create(name="Other", prefix="OT", inn="7728168971")
    a = Partner.objects.create(name="Alpha", is_client=True, credit_limit=Decimal("1500.50"))
    b = Partner.objects.create(name="Beta", is_client=True)
    accounts = [BankAccount.objects.create(organization=o, name=f"Account {o.name}", number=f"4070281090000000000{n}",
                                           bik="044525225") for n, o in enumerate((org, other))]
    made = []

    def partners(ids: list[int]) -> Any:
        made.append(ids)
        return Partner.objects.filter(pk__in=ids).order_by("name")

    assert query_once("partners", partners, ids=[b.pk, a.pk]) == list(Partner.objects.filter(pk__in=[a.pk, b.pk])
                                                                      .order_by("name"))
    first = query_once("partners", partners, ids=[a.pk, b.pk])[0]
    assert first.name == "Alpha" and first.credit_limit == Decimal("1500.50") and not first._state.adding
    assert query_once("partners", partners, ids=[b.pk]) == [b]  # another length: its own statement
    assert query_once("partners", partners, ids=[]) == []  # nothing can match: no statement
    assert len(made) == 3
    # select_related relations, values() and flat values_list(), with the ORM's conversions
    with django_assert_num_queries(1):
        account = query_once("account", lambda pk: BankAccount.objects.select_related("organization").filter(pk=pk),
                             pk=accounts[1].pk)[0]
        assert account.organization.name == "Other"
    assert query_once("account", lambda pk: BankAccount.objects.none(), pk=accounts[0].pk)[0].organization == org
    rows = query_once("limits", lambda pk: Partner.objects.filter(pk=pk).values("name", "credit_limit"), pk=a.pk)
    assert rows == [{"name": "Alpha", "credit_limit": Decimal("1500.50")}]
    assert query_once("names", lambda org: BankAccount.objects.filter(organization_id=org)
                      .values_list("name", flat=True), org=org.pk) == ["Account Org"]
    assert query_once("names", lambda org: BankAccount.objects.none(), org=org.pk + other.pk + 1000) == []


def test_a_query_whose_values_are_not_plain_parameters_is_refused(monkeypatch):
    from torg.core.statements import query_once

    monkeypatch.setattr(statements, "_QUERIES", {})
    with pytest.raises(RuntimeError, match="not plain parameters"):
        query_once("like", lambda name: Partner.objects.filter(name__startswith=name), name="Alp")
    with pytest.raises(TypeError):
        query_once("decimal", lambda limit: Partner.objects.filter(credit_limit=limit), limit=1.5)
