"""psycopg keeps posting's long statements converted (Run by `make test-pg`; deselected on SQLite)."""
from __future__ import annotations

import pytest
from django.db import connection

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def test_a_long_statement_with_many_parameters_is_converted_once():
    from psycopg import _queries

    values = list(range(300))  # like a shipment's register writes: beyond psycopg's own 4 KB and 50 parameters
    sql = "SELECT " + " + ".join(["CAST(%s AS INTEGER)"] * len(values)) + " AS total_of_the_long_statement"
    assert len(sql) > 4096
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        before = _queries._query2pg.cache_info()
        cursor.execute(sql, values)
        assert cursor.fetchone()[0] == sum(values)
    after = _queries._query2pg.cache_info()
    assert after.hits == before.hits + 1 and after.misses == before.misses
