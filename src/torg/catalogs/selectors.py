"""Read-side queries on catalogs shared by pages, the API, documents and reports."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

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
    ids = [i if isinstance(i, int) else i.pk for i in items]
    if not ids:
        return {}
    type_id = price_type if isinstance(price_type, int) else price_type.pk
    # A plain statement, built once per number of items: orders ask on every save and status change, and the ORM's
    # subquery cost more to build than to run.
    key = (connection.vendor, len(ids))
    sql = _PRICES_SQL.get(key)
    if sql is None:
        table = connection.ops.quote_name(ItemPrice._meta.db_table)
        sql = _PRICES_SQL[key] = (
            f"SELECT p.item_id, CAST(p.price AS TEXT) FROM {table} p "
            f"WHERE p.item_id IN ({', '.join(['%s'] * len(ids))}) AND p.price_type_id = %s "
            f"AND p.valid_from = (SELECT MAX(q.valid_from) FROM {table} q "
            f"WHERE q.item_id = p.item_id AND q.price_type_id = %s AND q.valid_from <= %s)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, type_id, type_id, connection.ops.adapt_datefield_value(day)])
        rows = cursor.fetchall()
    return {item_id: round_money(Decimal(price)) for item_id, price in rows}


_PRICES_SQL: dict[tuple[str, int], str] = {}


def current_prices(item: Item, day: dt.date) -> list[tuple[PriceType, Decimal, dt.date]]:
    """The item's price in every price type on `day`: (price type, price, valid from), by price type name."""
    latest = (ItemPrice.objects.filter(item_id=item.pk, price_type_id=OuterRef("price_type_id"), valid_from__lte=day)
              .order_by("-valid_from").values("valid_from")[:1])
    rows = (ItemPrice.objects.filter(item_id=item.pk, valid_from=Subquery(latest))
            .select_related("price_type").order_by("price_type__name"))
    return [(r.price_type, r.price, r.valid_from) for r in rows]
