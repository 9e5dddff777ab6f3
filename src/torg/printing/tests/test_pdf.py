"""Print forms: PDF rendering and the amount in words."""
from __future__ import annotations

import subprocess
from decimal import Decimal
from typing import Any

import pytest

from torg.conftest import moment
from torg.printing.services import amount_in_words, render_pdf
from torg.stock.tests.helpers import purchase, transfer
from torg.stock.views import print_context


@pytest.mark.parametrize(("amount", "words"), [
    ("1", "Один рубль 00 копеек"),
    ("2", "Два рубля 00 копеек"),
    ("5", "Пять рублей 00 копеек"),
    ("21", "Двадцать один рубль 00 копеек"),
    ("1001.01", "Одна тысяча один рубль 01 копейка"),
    ("1234.56", "Одна тысяча двести тридцать четыре рубля 56 копеек"),
    ("0.02", "Ноль рублей 02 копейки"),
    ("2000000.10", "Два миллиона рублей 10 копеек"),
    ("15.005", "Пятнадцать рублей 01 копейка"),  # rounded half up to kopecks
])
def test_amount_in_words(amount: str, words: str) -> None:
    assert amount_in_words(Decimal(amount)) == words


def _text(pdf: bytes) -> str:
    """The text of a PDF, extracted by pdftotext (apt poppler-utils, installed by .ci/run)."""
    return subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()


@pytest.mark.django_db
def test_purchase_pdf_has_number_lines_and_amount_in_words(organization: Any, warehouse: Any, supplier: Any,
                                                           milk: Any, bread: Any) -> None:
    doc = purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61), (bread, 2, "40.28")])
    pdf = render_pdf("stock/print/document.html", print_context(doc))
    assert pdf.startswith(b"%PDF")
    text = _text(pdf)
    assert doc.number == "РМ-000001"
    assert "РМ-000001" in text
    assert "Milk 1L" in text and "Molokozavod" in text and "Central" in text
    assert "Шестьсот девяносто рублей 56 копеек" in text  # 610.00 + 80.56


@pytest.mark.django_db
def test_transfer_pdf_names_both_warehouses(organization: Any, warehouse: Any, warehouse2: Any, supplier: Any,
                                            milk: Any) -> None:
    purchase(organization, warehouse, supplier, moment("2025-03-10"), [(milk, 10, 61)])
    doc = transfer(organization, warehouse, warehouse2, moment("2025-03-11"), [(milk, 4)])
    text = _text(render_pdf("stock/print/document.html", print_context(doc)))
    assert doc.number in text
    assert "Central" in text and "North" in text
