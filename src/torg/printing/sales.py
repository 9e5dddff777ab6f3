"""Sales print forms: УПД, ТОРГ-12 and счёт-фактура of a shipment, счёт на оплату of an order, the quote as
PDF, .docx and .odt, and the акт сверки взаиморасчётов for a period.

Context builders read the documents (and, for the акт сверки, the client's settlement card) and compute the
figures every form shows the same way: per line the amount without VAT, the VAT and the amount with VAT,
whether the document's prices include VAT or not. The renderers turn a context into bytes.

The legal forms keep the Russian captions the law fixes, and write numbers and dates the Russian way whatever
the reader's language (DESIGN.md); the quote is a commercial letter and follows the reader's language.
"""
from __future__ import annotations

import datetime as dt
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _
from pytils import numeral

from torg.catalogs.models import BankAccount, Counterparty, Organization, Partner
from torg.core.money import round_money
from torg.printing.services import amount_in_words, render_pdf

ZERO = Decimal(0)
NO_VAT = -1  # VatRate.NO_VAT

_MONTHS = ("января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября", "октября",
           "ноября", "декабря")


# ================================================================ formatting (legal forms: always Russian)
def ru_money(value: Decimal | None) -> str:
    """2440 → «2 440,00» (thousands by a space, kopecks after a comma), as Russian forms write amounts."""
    if value is None:
        return ""
    amount = round_money(value)
    sign = "-" if amount < 0 else ""
    whole, _dot, cents = f"{abs(amount):.2f}".partition(".")
    groups = []
    while whole:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    return f"{sign}{' '.join(groups)},{cents}"


def ru_quantity(value: Decimal | None) -> str:
    """10.000 → «10», 1.500 → «1,5»."""
    if value is None:
        return ""
    text = f"{Decimal(value):f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text.replace(".", ",")


def ru_date(day: dt.date | None) -> str:
    """«11 марта 2026 г.»"""
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year} г." if day else ""


def ru_short_date(day: dt.date | None) -> str:
    """«11.03.2026»"""
    return day.strftime("%d.%m.%Y") if day else ""


def ru_vat_rate(rate: int) -> str:
    return "без НДС" if int(rate) < 0 else f"{int(rate)}%"


def local_date(moment: dt.datetime | dt.date | None) -> dt.date | None:
    if moment is None or not isinstance(moment, dt.datetime):
        return moment
    return timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()


def localized_money(value: Decimal) -> str:
    """An amount in the reader's language (the quote)."""
    return number_format(round_money(value), 2, use_l10n=True, force_grouping=True)


def localized_quantity(value: Decimal) -> str:
    text = f"{Decimal(value):f}"
    places = len(text.rstrip("0").partition(".")[2]) if "." in text else 0
    return number_format(Decimal(value), places, use_l10n=True, force_grouping=True)


# ============================================================================ parties
@dataclass
class Party:
    """A party named on a form: our organization or the client (its counterparty when the document has one)."""

    name: str
    inn: str = ""
    kpp: str = ""
    address: str = ""
    phone: str = ""
    bank: BankAccount | None = None

    @property
    def inn_kpp(self) -> str:
        return "/".join(x for x in (self.inn, self.kpp) if x)

    @property
    def requisites(self) -> str:
        """«ООО «Ромашка», ИНН 7707083893, КПП 773601001, Москва, ул. …, тел. …» for the legal forms."""
        parts = [self.name]
        if self.inn:
            parts.append(f"ИНН {self.inn}")
        if self.kpp:
            parts.append(f"КПП {self.kpp}")
        if self.address:
            parts.append(self.address)
        if self.phone:
            parts.append(f"тел.: {self.phone}")
        return ", ".join(parts)

    @property
    def bank_requisites(self) -> str:
        if self.bank is None:
            return ""
        account = self.bank
        parts = [f"р/с {account.number}"]
        if account.bank_name:
            parts.append(f"в банке {account.bank_name}")
        parts.append(f"БИК {account.bik}")
        if account.correspondent_account:
            parts.append(f"к/с {account.correspondent_account}")
        return ", ".join(parts)


def organization_bank_account(organization: Organization) -> BankAccount | None:
    return (BankAccount.objects.filter(organization=organization, deletion_mark=False)
            .order_by("pk").first())


def organization_party(organization: Organization, *, with_bank: bool = False) -> Party:
    return Party(name=organization.full_name or organization.name, inn=organization.inn, kpp=organization.kpp,
                 address=organization.address, phone=organization.phone,
                 bank=organization_bank_account(organization) if with_bank else None)


def client_party(partner: Partner, counterparty: Counterparty | None) -> Party:
    """The counterparty when the document names one (the legal entity the law cares about), else the partner."""
    if counterparty is not None:
        return Party(name=counterparty.full_name or counterparty.name, inn=counterparty.inn, kpp=counterparty.kpp,
                     address=counterparty.legal_address or partner.address, phone=partner.phone)
    return Party(name=partner.name, address=partner.address, phone=partner.phone)


def partner_party(partner: Partner) -> Party:
    """The client of a reconciliation: its counterparty if it has exactly one, else the partner itself."""
    counterparties = list(Counterparty.objects.filter(partner=partner, deletion_mark=False)[:2])
    return client_party(partner, counterparties[0] if len(counterparties) == 1 else None)


# ============================================================================== lines
@dataclass
class FormLine:
    """One line of a sales document as the forms print it."""

    no: int
    name: str
    sku: str
    unit_name: str
    unit_code: str
    quantity: Decimal
    price: Decimal  # as entered on the document (with or without VAT, before the discount)
    discount_percent: Decimal
    vat_rate: int
    amount: Decimal  # the document's amount (with VAT when the prices include it)
    without_vat: Decimal
    vat: Decimal
    with_vat: Decimal
    gross_weight: Decimal = ZERO

    @property
    def net_price(self) -> Decimal:
        """Price per unit without VAT, after the discount (the «Цена» of УПД, ТОРГ-12 and счёт-фактура)."""
        return round_money(self.without_vat / self.quantity) if self.quantity else ZERO

    @property
    def vat_rate_label(self) -> str:
        return ru_vat_rate(self.vat_rate)

    @property
    def ru(self) -> dict[str, str]:
        """The line's figures written the Russian way, for the legal forms."""
        return {
            "quantity": ru_quantity(self.quantity), "price": ru_money(self.price),
            "net_price": ru_money(self.net_price), "amount": ru_money(self.amount),
            "without_vat": ru_money(self.without_vat), "with_vat": ru_money(self.with_vat),
            "vat": ru_money(self.vat) if self.vat_rate >= 0 else "без НДС",
            "discount": ru_quantity(self.discount_percent) if self.discount_percent else "",
            "gross_weight": ru_quantity(self.gross_weight) if self.gross_weight else "",
        }


def form_lines(lines: Iterable[Any], prices_include_vat: bool) -> list[FormLine]:
    """Figures of each line: the line's `amount` holds VAT when the prices include it, else VAT is on top."""
    result = []
    for n, line in enumerate(lines, start=1):
        item = line.item
        amount, vat = round_money(line.amount), round_money(line.vat_amount)
        without_vat = amount - vat if prices_include_vat else amount
        result.append(FormLine(
            no=n, name=item.name, sku=item.sku, unit_name=item.unit.name, unit_code=item.unit.code,
            quantity=line.quantity, price=line.price, discount_percent=line.discount_percent or ZERO,
            vat_rate=int(line.vat_rate), amount=amount, without_vat=without_vat, vat=vat,
            with_vat=without_vat + vat, gross_weight=(item.weight_kg or ZERO) * line.quantity))
    return result


@dataclass
class Totals:
    quantity: Decimal
    amount: Decimal
    without_vat: Decimal
    vat: Decimal
    with_vat: Decimal
    gross_weight: Decimal
    vat_by_rate: list[tuple[int, Decimal]] = field(default_factory=list)

    @property
    def has_vat(self) -> bool:
        return any(rate >= 0 for rate, _amount in self.vat_by_rate)

    @property
    def ru(self) -> dict[str, str]:
        return {"quantity": ru_quantity(self.quantity), "amount": ru_money(self.amount),
                "without_vat": ru_money(self.without_vat),
                "vat": ru_money(self.vat) if self.has_vat else "без НДС", "with_vat": ru_money(self.with_vat),
                "gross_weight": ru_quantity(self.gross_weight) if self.gross_weight else ""}

    @property
    def ru_vat_lines(self) -> list[tuple[str, str]]:
        """«В том числе НДС (22%)» per rate, or «Без налога (НДС)» when no line carries VAT."""
        return [(f"НДС ({ru_vat_rate(rate)})", ru_money(amount)) for rate, amount in self.vat_by_rate if rate >= 0]


def totals_of(lines: Sequence[FormLine]) -> Totals:
    by_rate: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for line in lines:
        by_rate[line.vat_rate] += line.vat
    return Totals(
        quantity=sum((ln.quantity for ln in lines), ZERO), amount=sum((ln.amount for ln in lines), ZERO),
        without_vat=sum((ln.without_vat for ln in lines), ZERO), vat=sum((ln.vat for ln in lines), ZERO),
        with_vat=sum((ln.with_vat for ln in lines), ZERO),
        gross_weight=sum((ln.gross_weight for ln in lines), ZERO),
        vat_by_rate=sorted(by_rate.items(), key=lambda kv: -kv[0]))


def _doc_ref(number: str, moment: dt.datetime | dt.date | None) -> str:
    """«№ РМ-000001 от 10.03.2026»"""
    day = local_date(moment)
    return f"№ {number or '—'} от {ru_short_date(day)}" if day else f"№ {number or '—'}"


# ========================================================================= shipment
SHIPMENT_FORMS = {
    "upd": "printing/upd.html",
    "torg12": "printing/torg12.html",
    "invoice": "printing/invoice_factura.html",
}


def shipment_context(shipment: Any) -> dict[str, Any]:
    """What УПД, ТОРГ-12 and счёт-фактура of a shipment show."""
    from torg.payments.models import PaymentAllocation
    from torg.sales.models import SalesOrder

    lines = list(shipment.lines.select_related("item__unit").order_by("line_no", "id"))
    printed = form_lines(lines, shipment.prices_include_vat)
    totals = totals_of(printed)
    organization = shipment.organization
    seller = organization_party(organization, with_bank=True)
    buyer = client_party(shipment.partner, shipment.counterparty)
    consignee_address = shipment.delivery_address.address if shipment.delivery_address_id else buyer.address
    order_ids = sorted({ln.order_id for ln in lines if ln.order_id})
    orders = list(SalesOrder.objects.filter(pk__in=order_ids).order_by("date", "pk"))
    # Payments received for these orders (or this shipment) up to the shipment: line 5 of УПД and счёт-фактура.
    payment_docs: dict[int, Any] = {}
    allocations = (PaymentAllocation.objects
                   .filter(Q(order_id__in=order_ids) | Q(shipment=shipment), document__posted=True,
                           document__date__lte=shipment.date)
                   .select_related("document").order_by("document__date", "document_id"))
    for allocation in allocations:
        payment_docs.setdefault(allocation.document_id, allocation.document)
    day = local_date(shipment.date)
    basis = "; ".join(f"Заказ клиента {_doc_ref(o.number, o.date)}"
                      + (f" (заказ покупателя {_doc_ref(o.client_po_number, o.client_po_date)})"
                         if o.client_po_number else "") for o in orders)
    return {
        "doc": shipment, "number": shipment.number or "—", "day": day, "date_ru": ru_date(day),
        "date_short": ru_short_date(day), "month_genitive": _MONTHS[day.month - 1] if day else "",
        "organization": organization, "seller": seller, "buyer": buyer,
        "consignee": Party(name=buyer.name, inn=buyer.inn, kpp=buyer.kpp, address=consignee_address),
        "lines": printed, "totals": totals, "words": amount_in_words(totals.with_vat),
        "line_count_words": numeral.in_words(len(printed)), "basis": basis or "Основной договор",
        "payment_refs": "; ".join(_doc_ref(p.number, p.date) for p in payment_docs.values()) or "--",
        "upd_status": 1 if organization.vat_payer else 2,
        "director": organization.director, "chief_accountant": organization.chief_accountant,
        "currency": "Российский рубль, 643",
    }


def render_shipment_form(shipment: Any, form: str) -> bytes:
    """The shipment as УПД ("upd"), ТОРГ-12 ("torg12") or счёт-фактура ("invoice"), PDF."""
    context = shipment_context(shipment)
    if form == "upd":
        return _render_with_sheet_count(SHIPMENT_FORMS[form], context)
    return render_pdf(SHIPMENT_FORMS[form], context)


def _render_with_sheet_count(template: str, context: dict[str, Any]) -> bytes:
    """A form that says how many sheets it has («Документ составлен на 2 листах»): laid out for one sheet,
    and laid out again only when it takes more."""
    from django.template.loader import render_to_string
    from weasyprint import HTML

    def layout(sheets: int) -> Any:
        text = f"{sheets} {numeral.choose_plural(sheets, ('листе', 'листах', 'листах'))}"
        return HTML(string=render_to_string(template, {**context, "sheets": text}), base_url=None).render()

    document = layout(1)
    if len(document.pages) != 1:
        document = layout(len(document.pages))
    return document.write_pdf()


# ==================================================================== order invoice
_STAGE_RU = {"advance": "аванс", "prepayment": "предоплата до отгрузки", "credit": "оплата после отгрузки"}


def order_invoice_context(order: Any) -> dict[str, Any]:
    """What the счёт на оплату of an order shows: the bank details of our organization, the live lines,
    totals with the VAT inside or on top, the amount in words and the payment schedule."""
    lines = list(order.lines.filter(cancelled=False).select_related("item__unit").order_by("line_no", "id"))
    printed = form_lines(lines, order.prices_include_vat)
    totals = totals_of(printed)
    organization = order.organization
    seller = organization_party(organization, with_bank=True)
    day = local_date(order.date)
    stages = []
    for stage in order.stages.all():
        when = f" до {ru_short_date(stage.due_date)}" if stage.due_date else ""
        stages.append(f"{_STAGE_RU.get(stage.kind, stage.kind)} {ru_quantity(stage.percent)}% "
                      f"({ru_money(stage.amount)} руб.){when}")
    return {
        "doc": order, "number": order.number or "—", "day": day, "date_ru": ru_date(day),
        "organization": organization, "seller": seller, "bank": seller.bank,
        "buyer": client_party(order.partner, order.counterparty),
        "lines": printed, "totals": totals, "has_discount": any(ln.discount_percent for ln in printed),
        "prices_include_vat": order.prices_include_vat,
        "words": amount_in_words(totals.with_vat), "line_count": len(printed),
        "stages": stages, "basis": f"Заказ клиента {_doc_ref(order.number, order.date)}",
        "director": organization.director, "chief_accountant": organization.chief_accountant,
    }


def render_order_invoice(order: Any) -> bytes:
    return render_pdf("printing/payment_invoice.html", order_invoice_context(order))


# ============================================================================ quote
def quote_context(quote: Any) -> dict[str, Any]:
    """What the quote shows, in the reader's language: our details, the client, the lines with price, discount,
    amount and VAT, the totals, the amount in words, the validity and the terms."""
    lines = list(quote.lines.select_related("item__unit").order_by("line_no", "id"))
    printed = form_lines(lines, quote.prices_include_vat)
    totals = totals_of(printed)
    organization = quote.organization
    day = local_date(quote.date)
    title = _("Commercial proposal No. %(number)s of %(date)s") % {
        "number": quote.number or "—", "date": date_format(day, "DATE_FORMAT")}
    if quote.revision > 1:
        title = _("%(title)s, version %(revision)s") % {"title": title, "revision": quote.revision}
    manager = ""
    if quote.manager_id:
        manager = quote.manager.get_full_name() or quote.manager.get_username()
    return {
        "doc": quote, "title": title, "day": day, "organization": organization,
        "seller": organization_party(organization, with_bank=True),
        "buyer": client_party(quote.partner, quote.counterparty), "contact": quote.contact,
        "lines": printed, "totals": totals, "words": amount_in_words(totals.with_vat),
        "prices_include_vat": quote.prices_include_vat, "has_discount": any(ln.discount_percent for ln in printed),
        "valid_until": quote.valid_until, "terms": quote.terms, "manager": manager,
        "director": organization.director,
    }


def quote_rows(context: dict[str, Any]) -> tuple[list[str], list[list[str]], list[tuple[str, str]]]:
    """The quote's table as text for .docx and .odt: the header, the rows, and the totals (label, value)."""
    header = [_("No."), _("Item"), _("Unit"), _("Quantity"), _("Price"), _("Discount, %"), _("Amount"),
              _("VAT rate"), _("VAT")]
    rows = []
    for line in context["lines"]:
        rows.append([str(line.no), line.name, line.unit_name, localized_quantity(line.quantity),
                     localized_money(line.price),
                     localized_quantity(line.discount_percent) if line.discount_percent else "",
                     localized_money(line.amount),
                     _("without VAT") if line.vat_rate < 0 else f"{line.vat_rate}%",
                     localized_money(line.vat) if line.vat_rate >= 0 else ""])
    return header, rows, quote_total_rows(context)


def quote_total_rows(context: dict[str, Any]) -> list[tuple[str, str]]:
    totals: Totals = context["totals"]
    rows = [(_("Total"), localized_money(totals.amount))]
    if not totals.has_vat:
        rows.append((_("Without VAT"), ""))
    elif context["prices_include_vat"]:
        rows.append((_("Including VAT"), localized_money(totals.vat)))
    else:
        rows.append((_("VAT"), localized_money(totals.vat)))
        rows.append((_("Total with VAT"), localized_money(totals.with_vat)))
    return rows


def quote_paragraphs(context: dict[str, Any]) -> dict[str, list[str]]:
    """The quote's text around the table, shared by .docx and .odt (the PDF template says the same)."""
    seller: Party = context["seller"]
    buyer: Party = context["buyer"]
    head = [seller.name]
    ids = ", ".join(x for x in (_("INN %(inn)s") % {"inn": seller.inn} if seller.inn else "",
                                _("KPP %(kpp)s") % {"kpp": seller.kpp} if seller.kpp else "") if x)
    if ids:
        head.append(ids)
    if seller.address:
        head.append(seller.address)
    if seller.phone:
        head.append(_("Phone: %(phone)s") % {"phone": seller.phone})
    if seller.bank is not None:
        head.append(_("Account %(number)s, BIK %(bik)s") % {"number": seller.bank.number, "bik": seller.bank.bik})
    to = [_("To: %(client)s") % {"client": buyer.name}]
    if buyer.inn:
        to.append(", ".join(x for x in (_("INN %(inn)s") % {"inn": buyer.inn},
                                        _("KPP %(kpp)s") % {"kpp": buyer.kpp} if buyer.kpp else "") if x))
    if context["contact"] is not None:
        to.append(_("Attention of: %(contact)s") % {"contact": context["contact"].name})
    after = [_("Total amount: %(words)s") % {"words": context["words"]}]
    if context["valid_until"]:
        after.append(_("The offer is valid until %(date)s.") % {
            "date": date_format(context["valid_until"], "DATE_FORMAT")})
    if context["terms"]:
        after.append(_("Terms of delivery and payment: %(terms)s") % {"terms": context["terms"]})
    signature = [_("Manager: %(name)s") % {"name": context["manager"]}] if context["manager"] else []
    return {"head": head, "to": to, "after": after, "signature": signature}


def render_quote_pdf(quote: Any) -> bytes:
    return render_pdf("printing/quote.html", quote_context(quote))


def render_quote_docx(quote: Any) -> bytes:
    """The quote as a Word document (A4), built with python-docx."""
    from docx import Document as WordDocument
    from docx.enum.table import WD_TABLE_ALIGNMENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Mm, Pt

    context = quote_context(quote)
    text = quote_paragraphs(context)
    header, rows, total_rows = quote_rows(context)
    word = WordDocument()
    section = word.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.left_margin, section.right_margin = Mm(20), Mm(12)
    section.top_margin, section.bottom_margin = Mm(15), Mm(15)
    normal = word.styles["Normal"]
    normal.font.name = "DejaVu Sans"
    normal.font.size = Pt(9)
    for line in text["head"]:
        p = word.add_paragraph(line)
        p.paragraph_format.space_after = Pt(0)
    word.add_paragraph()
    for line in text["to"]:
        p = word.add_paragraph(line)
        p.paragraph_format.space_after = Pt(0)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    word.add_heading(context["title"], level=1)
    table = word.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    for cell, caption in zip(table.rows[0].cells, header, strict=True):
        cell.text = caption
        cell.paragraphs[0].runs[0].bold = True
    numeric = {0, 3, 4, 5, 6, 8}
    for values in rows:
        cells = table.add_row().cells
        for i, (cell, value) in enumerate(zip(cells, values, strict=True)):
            cell.text = value
            if i in numeric:
                cell.paragraphs[0].alignment = WD_ALIGN_PARAGRAPH.RIGHT
    for label, value in total_rows:
        p = word.add_paragraph()
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.space_after = Pt(0)
        p.add_run(f"{label}: ").bold = True
        p.add_run(value)
    for line in text["after"]:
        word.add_paragraph(line)
    for line in text["signature"]:
        word.add_paragraph(f"{line} ____________________")
    out = io.BytesIO()
    word.save(out)
    return out.getvalue()


def render_quote_odt(quote: Any) -> bytes:
    """The quote as an OpenDocument text (A4), built with odfpy."""
    from odf.opendocument import OpenDocumentText
    from odf.style import (
        MasterPage,
        PageLayout,
        PageLayoutProperties,
        ParagraphProperties,
        Style,
        TableCellProperties,
        TableColumnProperties,
        TableProperties,
        TextProperties,
    )
    from odf.table import Table, TableCell, TableColumn, TableHeaderRows, TableRow
    from odf.text import H, P

    context = quote_context(quote)
    text = quote_paragraphs(context)
    header, rows, total_rows = quote_rows(context)
    odt = OpenDocumentText()
    layout = PageLayout(name="A4")
    layout.addElement(PageLayoutProperties(pagewidth="21cm", pageheight="29.7cm", printorientation="portrait",
                                           margintop="1.5cm", marginbottom="1.5cm", marginleft="2cm",
                                           marginright="1.2cm"))
    odt.automaticstyles.addElement(layout)
    odt.masterstyles.addElement(MasterPage(name="Standard", pagelayoutname=layout))

    def paragraph_style(name: str, *, align: str = "start", bold: bool = False, size: str = "9pt") -> Style:
        style = Style(name=name, family="paragraph")
        style.addElement(ParagraphProperties(textalign=align, marginbottom="0.05cm"))
        style.addElement(TextProperties(fontsize=size, fontweight="bold" if bold else "normal",
                                        fontname="DejaVu Sans", fontfamily="DejaVu Sans"))
        odt.automaticstyles.addElement(style)
        return style

    plain = paragraph_style("Plain")
    right = paragraph_style("Right", align="end")
    bold_right = paragraph_style("BoldRight", align="end", bold=True)
    heading = paragraph_style("Title", bold=True, size="13pt")
    th = paragraph_style("TableHead", align="center", bold=True, size="8pt")
    cell_style = Style(name="Cell", family="table-cell")
    cell_style.addElement(TableCellProperties(border="0.5pt solid #000000", padding="0.08cm"))
    odt.automaticstyles.addElement(cell_style)
    table_style = Style(name="Lines", family="table")
    table_style.addElement(TableProperties(width="17.8cm", align="center"))
    odt.automaticstyles.addElement(table_style)
    widths = ["0.8cm", "5.2cm", "1.2cm", "1.5cm", "1.8cm", "1.3cm", "2.2cm", "1.6cm", "2.2cm"]
    for line in text["head"]:
        odt.text.addElement(P(stylename=plain, text=line))
    odt.text.addElement(P(stylename=plain, text=""))
    for line in text["to"]:
        odt.text.addElement(P(stylename=right, text=line))
    odt.text.addElement(H(outlinelevel=1, stylename=heading, text=context["title"]))
    table = Table(name="Lines", stylename=table_style)
    for n, width in enumerate(widths):
        column_style = Style(name=f"Col{n}", family="table-column")
        column_style.addElement(TableColumnProperties(columnwidth=width))
        odt.automaticstyles.addElement(column_style)
        table.addElement(TableColumn(stylename=column_style))
    head_rows = TableHeaderRows()
    head_row = TableRow()
    for caption in header:
        cell = TableCell(stylename=cell_style, valuetype="string")
        cell.addElement(P(stylename=th, text=caption))
        head_row.addElement(cell)
    head_rows.addElement(head_row)
    table.addElement(head_rows)
    numeric = {0, 3, 4, 5, 6, 8}
    for values in rows:
        row = TableRow()
        for i, value in enumerate(values):
            cell = TableCell(stylename=cell_style, valuetype="string")
            cell.addElement(P(stylename=right if i in numeric else plain, text=value))
            row.addElement(cell)
        table.addElement(row)
    odt.text.addElement(table)
    for label, value in total_rows:
        odt.text.addElement(P(stylename=bold_right, text=f"{label}: {value}"))
    for line in text["after"]:
        odt.text.addElement(P(stylename=plain, text=line))
    for line in text["signature"]:
        odt.text.addElement(P(stylename=plain, text=f"{line} ____________________"))
    out = io.BytesIO()
    odt.write(out)
    return out.getvalue()


# =================================================================== акт сверки
# How each kind of document is named on our side of the statement and, mirrored, on the client's side.
_RECONCILIATION_NAMES = {
    "sales.shipment": ("Продажа", "Приход"),
    "payments.incomingpayment": ("Оплата", "Оплата"),
    "payments.refund": ("Возврат оплаты", "Возврат оплаты"),
}


@dataclass
class ReconciliationRow:
    day: dt.date
    ours: str  # the document as we name it
    theirs: str  # the same document as the client books it
    debit: Decimal  # our side: the client's debt grows
    credit: Decimal  # our side: it shrinks

    @property
    def ru(self) -> dict[str, str]:
        return {"date": ru_short_date(self.day), "debit": ru_money(self.debit) if self.debit else "",
                "credit": ru_money(self.credit) if self.credit else ""}


def _split(balance: Decimal) -> tuple[str, str]:
    """A balance as (debit, credit) cells: the client owes us → debit on our side."""
    if balance > 0:
        return ru_money(balance), ""
    if balance < 0:
        return "", ru_money(-balance)
    return "", ""


def reconciliation_context(organization: Organization, partner: Partner, start: dt.date,
                           end: dt.date) -> dict[str, Any]:
    """The акт сверки взаиморасчётов of `organization` and `partner` from `start` to `end` (both included): the
    figures come from the client's settlement card; the client's side mirrors ours."""
    from torg.sales.settlements import settlement_card

    start_moment = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    end_moment = timezone.make_aware(dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min))
    card = settlement_card(organization.pk, partner.pk, start_moment, end_moment)
    objects: dict[tuple[int, int], Any] = {}
    by_type: dict[int, list[int]] = defaultdict(list)
    for entry in card.entries:
        by_type[entry.recorder[0]].append(entry.recorder[1])
    labels: dict[int, str] = {}
    for ct_id, ids in by_type.items():
        content_type = ContentType.objects.get_for_id(ct_id)
        labels[ct_id] = f"{content_type.app_label}.{content_type.model}"
        model = content_type.model_class()
        if model is not None:
            for obj in model._default_manager.filter(pk__in=ids):
                objects[(ct_id, obj.pk)] = obj
    rows = []
    for entry in card.entries:
        obj = objects.get(entry.recorder)
        ours, theirs = _RECONCILIATION_NAMES.get(labels.get(entry.recorder[0], ""), ("", ""))
        if obj is not None and ours:
            ref = f"{obj.number or '—'} от {ru_short_date(local_date(obj.date))}"
            ours, theirs = f"{ours} ({ref})", f"{theirs} ({ref})"
        else:
            with translation.override("ru"):
                ours = theirs = str(obj) if obj is not None else entry.document
        rows.append(ReconciliationRow(local_date(entry.date) or start, ours, theirs, entry.debit, entry.credit))
    ours_party = organization_party(organization)
    client = partner_party(partner)
    closing = card.closing
    if closing > 0:
        verdict = f"задолженность в пользу {ours_party.name} {ru_money(closing)} руб. ({amount_in_words(closing)})"
    elif closing < 0:
        verdict = f"задолженность в пользу {client.name} {ru_money(-closing)} руб. ({amount_in_words(-closing)})"
    else:
        verdict = "задолженность отсутствует"
    opening_debit, opening_credit = _split(card.opening)
    closing_debit, closing_credit = _split(closing)
    return {
        "organization": organization, "ours": ours_party, "client": client, "start": start, "end": end,
        "period": f"{ru_short_date(start)} – {ru_short_date(end)}", "end_short": ru_short_date(end),
        "card": card, "rows": rows,
        "opening": {"debit": opening_debit, "credit": opening_credit},
        "closing": {"debit": closing_debit, "credit": closing_credit},
        "turnover": {"debit": ru_money(card.debit), "credit": ru_money(card.credit)},
        "verdict": verdict, "director": organization.director, "chief_accountant": organization.chief_accountant,
    }


def render_reconciliation(organization: Organization, partner: Partner, start: dt.date, end: dt.date) -> bytes:
    return render_pdf("printing/reconciliation.html", reconciliation_context(organization, partner, start, end))
