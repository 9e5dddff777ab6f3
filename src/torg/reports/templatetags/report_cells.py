"""`{{ value|cell:column }}`: a report figure formatted by its column (places; empty for zero or none)."""
from __future__ import annotations

from typing import Any

from django import template
from django.template.defaultfilters import floatformat

register = template.Library()


@register.filter
def cell(value: Any, column: Any) -> str:
    """Money to 2 places, quantities to 3, shares to 1, days and counts whole; a zero shows as an empty cell."""
    if value is None or not value:
        return ""
    places = getattr(column, "places", 2)
    if places == 0:
        return str(value)
    return floatformat(value, f"{places}g")


@register.filter
def money(value: Any) -> str:
    """A money figure that shows even when it is zero (totals, balances)."""
    return floatformat(value or 0, "2g")


@register.filter
def absolute(value: Any) -> Any:
    return abs(value) if value is not None else value
