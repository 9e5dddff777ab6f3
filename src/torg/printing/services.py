"""Print forms: HTML templates rendered to PDF (WeasyPrint), and the amount in Russian words.

Every print form extends "printing/base.html", which sets A4, the fonts that carry
Cyrillic (DejaVu / Liberation, also inside the @page margin boxes) and the page numbers.
"""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.template.loader import render_to_string
from pytils import numeral

_RUB = ("рубль", "рубля", "рублей")
_KOP = ("копейка", "копейки", "копеек")


def render_pdf(template_name: str, context: dict[str, Any]) -> bytes:
    """Render a print-form template to PDF bytes (A4)."""
    from weasyprint import HTML  # imported here: loading WeasyPrint takes a while and only printing needs it

    html = render_to_string(template_name, context)
    return HTML(string=html, base_url=None).write_pdf()


def amount_in_words(amount: Decimal) -> str:
    """The amount as an invoice writes it: «Одна тысяча двести тридцать четыре рубля 56 копеек».

    Roubles in words with the first letter capitalised, kopecks in two digits.
    """
    value = Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    sign = "минус " if value < 0 else ""
    value = abs(value)
    rub = int(value)
    kop = int((value - rub) * 100)
    words = numeral.sum_string(rub, numeral.MALE, _RUB) if rub else "Ноль рублей"
    text = f"{sign}{words} {kop:02d} {numeral.choose_plural(kop, _KOP)}"
    return text[:1].upper() + text[1:]
