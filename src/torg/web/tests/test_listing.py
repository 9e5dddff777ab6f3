"""List cells show numbers the way the reader's language writes them."""
from __future__ import annotations

from decimal import Decimal

from django.utils import translation

from torg.web.listing import Cell


def test_money_and_quantities_are_grouped_in_the_active_language() -> None:
    amount = Cell(Decimal("198242.10"), False, None, True)
    quantity = Cell(Decimal("1500.000"), False, None, True)
    with translation.override("en"):
        assert (amount.display, quantity.display) == ("198,242.10", "1,500.000")
    with translation.override("ru"):
        assert (amount.display, quantity.display) == ("198\xa0242,10", "1\xa0500,000")


def test_other_values_are_shown_as_they_are() -> None:
    assert Cell("ТД-000095", False, None, False).display == "ТД-000095"
    assert Cell(42, False, None, True).display == 42
