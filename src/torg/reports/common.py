"""What the settlement and sales reports share: links that may not exist yet, day bounds, percentages and the
.xlsx writer."""
from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise

ZERO = Decimal(0)
HUNDRED = Decimal(100)

# The page of each kind of document a report row may link to (app_label.model → URL name taking the pk).
DOCUMENT_PAGES = {
    "sales.salesorder": "sales:orders_edit",
    "sales.shipment": "shipping:shipments_edit",
    "payments.incomingpayment": "payments:payment_detail",
    "payments.refund": "payments:refund_detail",
}


def safe_reverse(name: str, *args: Any) -> str:
    """The URL, or "" while the page does not exist (pages of other areas are built alongside)."""
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return ""


def document_url(content_type_id: int, pk: int) -> str:
    content_type = ContentType.objects.get_for_id(content_type_id)  # cached after the first time
    name = DOCUMENT_PAGES.get(f"{content_type.app_label}.{content_type.model}")
    return safe_reverse(name, pk) if name else ""


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def percent(part: Decimal, whole: Decimal, places: int = 2) -> Decimal | None:
    """part / whole in %, rounded half up to `places`; None when the whole is zero (a margin of nothing)."""
    if not whole:
        return None
    return (part * HUNDRED / whole).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class ValueColumn:
    key: str
    label: str | Promise
    places: int = 2  # 0: whole numbers (days, counts)
    summed: bool = True  # False: the totals row leaves it empty (or the report fills it itself)


# ------------------------------------------------------------------ .xlsx
@dataclass
class SheetRow:
    cells: Sequence[Any]
    level: int = 0  # 0: a detail row; 1: a group (subtotal) row; 2: the grand total
    indent: int = 0  # indentation of the first cell


FORMATS = {0: "#,##0", 1: "#,##0.0", 2: "#,##0.00", 3: "#,##0.000"}


def workbook(title: str, sheet: str, filters: Sequence[str], header: Sequence[str], rows: Sequence[SheetRow],
             places: Sequence[int | None], widths: Sequence[int]) -> bytes:
    """One sheet: the title, the filters in words, a bold header, the rows (groups and total in bold), number
    formats per column (`places[i]` None: text), frozen header."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    ws.title = sheet[:31]
    ws.append([title])
    ws["A1"].font = Font(bold=True, size=13)
    for text in filters:
        ws.append([text])
    ws.append([])
    ws.append([str(h) for h in header])
    header_row = ws.max_row
    fill = PatternFill("solid", fgColor="E9ECEF")
    for cell in ws[header_row]:
        cell.font = Font(bold=True)
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    group_fill = PatternFill("solid", fgColor="F8F9FA")
    for row in rows:
        ws.append([c if c is None or isinstance(c, (Decimal, int, float, dt.date)) else str(c) for c in row.cells])
        n = ws.max_row
        for i, p in enumerate(places, start=1):
            cell = ws.cell(row=n, column=i)
            if p is not None:
                cell.number_format = FORMATS.get(p, FORMATS[2])
            elif isinstance(cell.value, dt.date):
                cell.number_format = "DD.MM.YYYY"
            if row.level:
                cell.font = Font(bold=True)
                if row.level == 1:
                    cell.fill = group_fill
        if row.indent:
            ws.cell(row=n, column=1).alignment = Alignment(indent=row.indent)
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = w
    ws.freeze_panes = ws.cell(row=header_row + 1, column=1)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
