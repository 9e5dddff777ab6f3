"""Read-side queries on catalogs shared by pages, the API, documents and reports."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import OuterRef, Subquery

from torg.catalogs.models import Item, ItemPrice, PriceType
from torg.core.money import round_money


def price_of(item: Item | int, price_type: PriceType | int, day: dt.date) -> Decimal | None:
    """The item's price in the price type valid on `day` (the latest record from on or before it), or None."""
    item_id = item if isinstance(item, int) else item.pk
    type_id = price_type if isinstance(price_type, int) else price_type.pk
    return (ItemPrice.objects.filter(item_id=item_id, price_type_id=type_id, valid_from__lte=day)
            .order_by("-valid_from").values_list("price", flat=True).first())


def prices_of(items: Iterable[Item | int], price_type: PriceType | int, day: dt.date) -> dict[int, Decimal]:
    """Prices valid on `day` for many items in one query: {item id: price}; items without a price are absent."""
    return kinds_and_prices([], items, price_type, day)[1]


def kinds_and_prices(kinds_of: Iterable[Item | int], prices_of: Iterable[Item | int], price_type: PriceType | int,
                     day: dt.date) -> tuple[dict[int, str], dict[int, Decimal]]:
    """The kinds of some items and the prices valid on `day` of some (in `price_type`), in one statement: ({item id:
    kind}, {item id: price}); items without a price are absent. An order's save needs both of its lines' items."""
    kind_ids = [i if isinstance(i, int) else i.pk for i in kinds_of]
    price_ids = [i if isinstance(i, int) else i.pk for i in prices_of]
    if not kind_ids and not price_ids:
        return {}, {}
    type_id = price_type if isinstance(price_type, int) else price_type.pk
    # A plain statement, built once per number of items: orders ask on every save and status change, and the ORM's
    # subquery cost more to build than to run.
    key = (connection.vendor, len(kind_ids), len(price_ids))
    sql = _PRICES_SQL.get(key)
    if sql is None:
        qn = connection.ops.quote_name
        table = qn(ItemPrice._meta.db_table)
        parts = []
        if kind_ids:
            parts.append(f"SELECT 'k', id, kind FROM {qn(Item._meta.db_table)} "
                         f"WHERE id IN ({', '.join(['%s'] * len(kind_ids))})")
        if price_ids:
            parts.append(f"SELECT 'p', p.item_id, CAST(p.price AS TEXT) FROM {table} p "
                         f"WHERE p.item_id IN ({', '.join(['%s'] * len(price_ids))}) AND p.price_type_id = %s "
                         f"AND p.valid_from = (SELECT MAX(q.valid_from) FROM {table} q "
                         f"WHERE q.item_id = p.item_id AND q.price_type_id = %s AND q.valid_from <= %s)")
        sql = _PRICES_SQL[key] = " UNION ALL ".join(parts)
    params: list[Any] = [*kind_ids]
    if price_ids:
        params += [*price_ids, type_id, type_id, connection.ops.adapt_datefield_value(day)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return ({item_id: value for part, item_id, value in rows if part == "k"},
            {item_id: round_money(Decimal(value)) for part, item_id, value in rows if part == "p"})


_PRICES_SQL: dict[tuple[str, int, int], str] = {}


def current_prices(item: Item, day: dt.date) -> list[tuple[PriceType, Decimal, dt.date]]:
    """The item's price in every price type on `day`: (price type, price, valid from), by price type name."""
    latest = (ItemPrice.objects.filter(item_id=item.pk, price_type_id=OuterRef("price_type_id"), valid_from__lte=day)
              .order_by("-valid_from").values("valid_from")[:1])
    rows = (ItemPrice.objects.filter(item_id=item.pk, valid_from=Subquery(latest))
            .select_related("price_type").order_by("price_type__name"))
    return [(r.price_type, r.price, r.valid_from) for r in rows]
