"""Money and quantity arithmetic: the one place where rounding happens.

Amounts have 2 places, quantities 3, prices 2 (unit prices may carry 4 when
derived, e.g. an average cost). Every rule is ROUND_HALF_UP, as Russian
accounting practice and fiscal devices expect.
"""
from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.db import models

MONEY_PLACES = 2
QUANTITY_PLACES = 3
PRICE_PLACES = 2
UNIT_COST_PLACES = 4

_CENT = Decimal("0.01")
_MILLI = Decimal("0.001")
_UNIT_COST = Decimal("0.0001")
ZERO = Decimal("0")


def to_decimal(value: object) -> Decimal:
    """Convert a number coming from a form, JSON or the database to Decimal (floats via str)."""
    if isinstance(value, Decimal):
        return value
    if value is None or value == "":
        return ZERO
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).replace(",", ".").replace(" ", "").replace("\u00a0", ""))
    except InvalidOperation as exc:
        raise ValueError(f"not a number: {value!r}") from exc


def round_money(value: object) -> Decimal:
    return to_decimal(value).quantize(_CENT, rounding=ROUND_HALF_UP)


def round_quantity(value: object) -> Decimal:
    return to_decimal(value).quantize(_MILLI, rounding=ROUND_HALF_UP)


def round_unit_cost(value: object) -> Decimal:
    return to_decimal(value).quantize(_UNIT_COST, rounding=ROUND_HALF_UP)


def line_amount(quantity: object, price: object) -> Decimal:
    """Amount of a document line: quantity × price rounded to kopecks."""
    return round_money(to_decimal(quantity) * to_decimal(price))


def vat_included(amount: object, rate_percent: object) -> Decimal:
    """VAT contained in an amount that includes VAT (amount × rate / (100 + rate))."""
    rate = to_decimal(rate_percent)
    if rate == 0:
        return ZERO.quantize(_CENT)
    return round_money(to_decimal(amount) * rate / (Decimal(100) + rate))


def vat_on_top(amount: object, rate_percent: object) -> Decimal:
    """VAT to add to an amount without VAT."""
    return round_money(to_decimal(amount) * to_decimal(rate_percent) / Decimal(100))


def share_of(total: object, part_quantity: object, whole_quantity: object) -> Decimal:
    """The amount that `part_quantity` of `whole_quantity` carries out of `total`.

    Taking the whole quantity takes the whole total, so no kopeck is ever left behind.
    """
    total_d, part, whole = to_decimal(total), to_decimal(part_quantity), to_decimal(whole_quantity)
    if whole == 0:
        return ZERO.quantize(_CENT)
    if part == whole:
        return round_money(total_d)
    return round_money(total_d * part / whole)


def allocate(total: object, weights: Sequence[object]) -> list[Decimal]:
    """Split `total` in proportion to `weights`, the rounding remainder going to the largest weight."""
    total_d = round_money(total)
    weights_d = [to_decimal(w) for w in weights]
    if not weights_d:
        return []
    weight_sum = sum(weights_d, ZERO)
    if weight_sum == 0:
        parts = [ZERO.quantize(_CENT) for _ in weights_d]
        parts[0] = total_d
        return parts
    parts = [round_money(total_d * w / weight_sum) for w in weights_d]
    remainder = total_d - sum(parts, ZERO)
    if remainder:
        largest = max(range(len(weights_d)), key=lambda i: abs(weights_d[i]))
        parts[largest] += remainder
    return parts


class MoneyField(models.DecimalField):
    """An amount in roubles: 2 places."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max_digits", 17)
        kwargs.setdefault("decimal_places", MONEY_PLACES)
        kwargs.setdefault("default", ZERO)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]


class QuantityField(models.DecimalField):
    """A quantity in the item's unit: 3 places."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("max_digits", 17)
        kwargs.setdefault("decimal_places", QUANTITY_PLACES)
        kwargs.setdefault("default", ZERO)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
