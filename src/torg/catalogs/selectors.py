"""Read-side queries on catalogs shared by pages, the API, documents and reports."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import OuterRef, Subquery

from torg.catalogs.models import Item, ItemPrice, PriceType


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
    latest = (ItemPrice.objects.filter(item_id=OuterRef("item_id"), price_type_id=type_id, valid_from__lte=day)
              .order_by("-valid_from").values("valid_from")[:1])
    rows = (ItemPrice.objects.filter(item_id__in=ids, price_type_id=type_id, valid_from=Subquery(latest))
            .values_list("item_id", "price"))
    return dict(rows)


def current_prices(item: Item, day: dt.date) -> list[tuple[PriceType, Decimal, dt.date]]:
    """The item's price in every price type on `day`: (price type, price, valid from), by price type name."""
    latest = (ItemPrice.objects.filter(item_id=item.pk, price_type_id=OuterRef("price_type_id"), valid_from__lte=day)
              .order_by("-valid_from").values("valid_from")[:1])
    rows = (ItemPrice.objects.filter(item_id=item.pk, valid_from=Subquery(latest))
            .select_related("price_type").order_by("price_type__name"))
    return [(r.price_type, r.price, r.valid_from) for r in rows]
