"""Sales print forms through their pages: УПД, ТОРГ-12, счёт-фактура, счёт на оплату, the quote as PDF, .docx and
.odt, and the акт сверки. The documents are made by the services, as the order-to-cash scenario makes them:
an order of 10 milk at 100 less 5 % and 20 bread at 50 (1 950.00 with 22 % VAT inside), 1 365.00 paid before
shipping, one shipment of everything, 385.00 paid after it: the client owes 200.00."""
from __future__ import annotations

import io
import subprocess
import zipfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from torg.catalogs.models import Counterparty, Organization, Partner
from torg.conftest import moment
from torg.core.permissions import Role
from torg.payments.models import IncomingPayment, PaymentAllocation, PaymentMethod
from torg.payments.services import register_payment
from torg.printing import sales as forms
from torg.sales import services
from torg.sales.models import Quote, QuoteLine, SalesOrder, SalesOrderLine, Shipment, ShipmentLine
from torg.sales.tests.conftest import (  # noqa: F401  (fixtures)
    agreement,
    bank_account,
    cash_desk,
    client_partner,
    manager,
    price_type,
    prices,
    schedule,
    stocked,
)
from torg.stock.tests.helpers import purchase

D = Decimal
pytestmark = pytest.mark.django_db

CLIENT_NAME = "ООО «Продукты на Лесной»"


# ------------------------------------------------------------------------------ the story
@pytest.fixture
def company(organization: Organization, bank_account: Any) -> Organization:  # noqa: F811
    bank_account.bank_name = "ПАО Сбербанк, г. Москва"
    bank_account.correspondent_account = "30101810400000000225"
    bank_account.save()
    organization.full_name = "ООО «Ромашка»"
    organization.address = "123456, Москва, ул. Полевая, д. 1"
    organization.phone = "+7 495 123-45-67"
    organization.director = "Иванов И. И."
    organization.chief_accountant = "Петрова А. С."
    organization.save()
    return organization


@pytest.fixture
def counterparty(client_partner: Partner) -> Counterparty:  # noqa: F811
    return Counterparty.objects.create(partner=client_partner, name=CLIENT_NAME, inn="7701234567",
                                       kpp="770101001", legal_address="Москва, ул. Лесная, д. 5")


def _pay(order: SalesOrder, amount: str, day: str, key: str, *, user: Any, cash_desk: Any) -> IncomingPayment:  # noqa: F811
    payment = IncomingPayment(organization_id=order.organization_id, partner_id=order.partner_id,
                              method=PaymentMethod.CASH, cash_desk=cash_desk, amount=D(amount),
                              date=moment(day, 15))
    return register_payment(payment, [PaymentAllocation(order=order, amount=D(amount))], user=user,
                            idempotency_key=key)


@pytest.fixture
def order(company: Organization, counterparty: Counterparty, client_partner: Partner, agreement: Any,  # noqa: F811
          prices: Any, stocked: Any, warehouse: Any, milk: Any, bread: Any, manager: User,  # noqa: F811
          cash_desk: Any, bank_account: Any) -> SalesOrder:  # noqa: F811
    order = SalesOrder(organization=company, partner=client_partner, counterparty=counterparty, agreement=agreement,
                       warehouse=warehouse, date=moment("2026-03-10", 10))
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10), discount_percent=D(5)),
                                SalesOrderLine(item=bread, quantity=D(20))], user=manager, post=True)
    services.submit_order(order, user=manager)
    _pay(order, "1365.00", "2026-03-10", "pre", user=manager, cash_desk=cash_desk)
    services.release_to_ship(order, user=manager)
    order.refresh_from_db()
    return order


@pytest.fixture
def shipment(order: SalesOrder, manager: User, cash_desk: Any) -> Shipment:  # noqa: F811
    picks = [services.Pick(order.pk, code) for code in order.lines.order_by("line_no").values_list("code", flat=True)]
    shipment = services.create_shipments_from_backlog(picks, user=manager, date=moment("2026-03-11", 10))[0]
    _pay(order, "385.00", "2026-03-20", "after", user=manager, cash_desk=cash_desk)
    return shipment


@pytest.fixture
def quote(company: Organization, client_partner: Partner, counterparty: Counterparty, agreement: Any,  # noqa: F811
          prices: Any, milk: Any, bread: Any, manager: User) -> Quote:  # noqa: F811
    quote = Quote(organization=company, partner=client_partner, counterparty=counterparty, agreement=agreement,
                  date=moment("2026-03-09", 9), valid_until=moment("2026-03-31").date(),
                  terms="Delivery within 3 days, payment 30/40/30")
    services.save_quote(quote, [QuoteLine(item=milk, quantity=D(10), discount_percent=D(5)),
                                QuoteLine(item=bread, quantity=D(20))], user=manager)
    return quote


@pytest.fixture
def accountant_client(client: Client, role_user: Any) -> Client:
    client.force_login(role_user(Role.ACCOUNTANT, "accountant"))
    return client


# ------------------------------------------------------------------------------ helpers
def pdf_text(pdf: bytes, *, layout: bool = True) -> str:
    """The text of a PDF (pdftotext from poppler-utils), with runs of spaces made single. `layout` keeps the
    rows of tables together; without it a block of text (a form's title beside its header) stays together."""
    raw = subprocess.run(["pdftotext", *(["-layout"] if layout else []), "-", "-"], input=pdf, capture_output=True,
                         check=True).stdout.decode()
    return " ".join(raw.split())


def pdf_pages(pdf: bytes) -> int:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    return int(next(line.split()[-1] for line in info.splitlines() if line.startswith("Pages:")))


def pdf_page_size_mm(pdf: bytes) -> tuple[int, int]:
    info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    line = next(line for line in info.splitlines() if line.startswith("Page size:"))
    width, height = (float(x) for x in line.split()[2:5:2])
    return round(width * 25.4 / 72), round(height * 25.4 / 72)


# ------------------------------------------------------------------------------ figures
def test_line_figures_with_vat_inside_and_on_top(shipment: Shipment) -> None:
    context = forms.shipment_context(shipment)
    milk, bread = context["lines"]
    # milk: 10 × 100 less 5 % = 950.00 with VAT inside: 171.31 of VAT, 778.69 without, 77.87 a unit without VAT
    assert (milk.amount, milk.vat, milk.without_vat, milk.with_vat, milk.net_price) == (
        D("950.00"), D("171.31"), D("778.69"), D("950.00"), D("77.87"))
    assert (bread.vat, bread.without_vat) == (D("180.33"), D("819.67"))
    totals = context["totals"]
    assert (totals.without_vat, totals.vat, totals.with_vat) == (D("1598.36"), D("351.64"), D("1950.00"))
    assert totals.ru == {"quantity": "30", "amount": "1 950,00", "without_vat": "1 598,36", "vat": "351,64",
                         "with_vat": "1 950,00", "gross_weight": "30"}
    assert context["words"] == "Одна тысяча девятьсот пятьдесят рублей 00 копеек"
    assert context["payment_refs"].startswith("№ ") and "от 10.03.2026" in context["payment_refs"]

    on_top = forms.form_lines([SalesOrderLine(item=milk_item(shipment), quantity=D(3), price=D("10.00"),
                                              discount_percent=D(0), amount=D("30.00"), vat_rate=10,
                                              vat_amount=D("3.00"))], prices_include_vat=False)[0]
    assert (on_top.without_vat, on_top.vat, on_top.with_vat, on_top.net_price) == (
        D("30.00"), D("3.00"), D("33.00"), D("10.00"))


def milk_item(shipment: Shipment) -> Any:
    return shipment.lines.order_by("line_no").first().item


@pytest.mark.parametrize(("value", "text"), [
    ("0", "0,00"), ("5.5", "5,50"), ("1950", "1 950,00"), ("1234567.891", "1 234 567,89"), ("-200", "-200,00")])
def test_russian_money_format(value: str, text: str) -> None:
    assert forms.ru_money(D(value)) == text


# ------------------------------------------------------------------------------ shipment forms
@pytest.mark.parametrize(("form", "caption", "landscape"), [
    ("upd", "Универсальный передаточный документ", True),
    ("torg12", "ТОВАРНАЯ НАКЛАДНАЯ", True),
    ("invoice", "СЧЕТ-ФАКТУРА", True),
])
def test_shipment_forms(accountant_client: Client, shipment: Shipment, form: str, caption: str,
                        landscape: bool) -> None:
    response = accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, form]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("inline;")
    pdf = response.content
    assert pdf.startswith(b"%PDF")
    assert pdf_page_size_mm(pdf) == ((297, 210) if landscape else (210, 297))
    assert pdf_pages(pdf) == 1
    assert caption in pdf_text(pdf, layout=False)
    text = pdf_text(pdf)
    assert CLIENT_NAME in text and "7701234567" in text and "770101001" in text
    assert "ООО «Ромашка»" in text and "7707083893" in text and "773601001" in text
    assert shipment.number == "РМ-000001" and "РМ-000001" in text
    assert "Milk 1L" in text and "Bread" in text
    assert "796" in text and "шт" in text  # OKEI code and unit
    assert "1 950,00" in text and "351,64" in text and "1 598,36" in text
    assert "77,87" in text  # milk's unit price without VAT, after the discount
    assert "Иванов И. И." in text and "Петрова А. С." in text


def test_upd_status_and_amount_in_words(accountant_client: Client, shipment: Shipment) -> None:
    pdf = accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "upd"])).content
    text = pdf_text(pdf)
    assert "Статус: 1" in text
    assert "Документ составлен на 1 листе" in pdf_text(pdf, layout=False)
    assert "Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    assert "11 марта 2026 г." in text
    assert "Заказ клиента № РМ-000001 от 10.03.2026" in text  # the basis of the transfer


def test_upd_counts_its_sheets(accountant_client: Client, company: Organization, client_partner: Partner,  # noqa: F811
                              warehouse: Any, supplier: Any, make_item: Any, role_user: Any) -> None:
    items = [make_item(f"Item {n:02d} with a long name that wraps in the column") for n in range(1, 41)]
    purchase(company, warehouse, supplier, moment("2026-03-01", 9), [(item, 5, 10) for item in items])
    shipment = Shipment(organization=company, partner=client_partner, warehouse=warehouse,
                        date=moment("2026-03-12", 10))
    services.save_shipment(shipment, [ShipmentLine(item=item, quantity=D(1), price=D("15.00")) for item in items],
                           user=role_user(Role.SALES_DIRECTOR, "director"), post=True)
    pdf = accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "upd"])).content
    sheets = pdf_pages(pdf)
    assert sheets > 1
    assert f"Документ составлен на {sheets} листах" in pdf_text(pdf, layout=False)
    assert "Item 40 with a long name" in pdf_text(pdf) and "600,00" in pdf_text(pdf)


def test_torg12_amount_in_words_and_line_count(accountant_client: Client, shipment: Shipment) -> None:
    text = pdf_text(accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "torg12"])).content)
    assert "Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    assert "содержит два порядковых номеров записей" in text  # the count in words, in the form's own words
    assert "0330212" in text  # the form's OKUD code


def test_invoice_factura_amount_in_words(accountant_client: Client, shipment: Shipment) -> None:
    text = pdf_text(accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "invoice"])).content)
    assert "Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    assert "Российский рубль, 643" in text


def test_client_without_counterparty_is_named_by_the_partner(accountant_client: Client, shipment: Shipment) -> None:
    Shipment.objects.filter(pk=shipment.pk).update(counterparty=None)
    text = pdf_text(accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "upd"])).content)
    assert "Produkty na Lesnoy" in text and CLIENT_NAME not in text


# ------------------------------------------------------------------------------ счёт на оплату
def test_order_invoice(accountant_client: Client, order: SalesOrder) -> None:
    response = accountant_client.get(reverse("printing:order_invoice", args=[order.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    assert pdf_page_size_mm(pdf) == (210, 297)
    text = pdf_text(pdf)
    assert f"Счет на оплату № {order.number} от 10 марта 2026 г." in text
    assert CLIENT_NAME in text and "Milk 1L" in text and "Bread" in text
    assert "40702810900000000001" in text and "044525225" in text  # the organization's bank account
    assert "Итого: 1 950,00" in text
    assert "В том числе НДС (22%): 351,64" in text
    assert "Всего к оплате: 1 950,00" in text
    assert "Всего наименований 2, на сумму 1 950,00 руб." in text
    assert "Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    assert "Скидка, %" in pdf_text(pdf, layout=False)  # the order has a discounted line
    assert "Milk 1L 10 шт 100,00 5 950,00" in text


def test_order_invoice_leaves_out_cancelled_lines(accountant_client: Client, order: SalesOrder,
                                                  manager: User) -> None:  # noqa: F811
    bread_code = order.lines.get(line_no=2).code
    services.cancel_order_lines(order, [bread_code], "out of stock", user=manager)
    text = pdf_text(accountant_client.get(reverse("printing:order_invoice", args=[order.pk])).content)
    assert "Bread" not in text
    assert "Всего к оплате: 950,00" in text and "Девятьсот пятьдесят рублей 00 копеек" in text


def test_order_invoice_with_vat_on_top(accountant_client: Client, company: Organization, client_partner: Partner,  # noqa: F811
                                       agreement: Any, prices: Any, warehouse: Any, milk: Any, bread: Any,  # noqa: F811
                                       manager: User) -> None:  # noqa: F811
    order = SalesOrder(organization=company, partner=client_partner, agreement=agreement, warehouse=warehouse,
                       date=moment("2026-03-12", 10), prices_include_vat=False)
    services.save_order(order, [SalesOrderLine(item=milk, quantity=D(10), discount_percent=D(5)),
                                SalesOrderLine(item=bread, quantity=D(20))], user=manager, post=True)
    text = pdf_text(accountant_client.get(reverse("printing:order_invoice", args=[order.pk])).content)
    # 950.00 + 1 000.00 without VAT; 22 % on top: 209.00 + 220.00
    assert "Итого: 1 950,00" in text and "НДС (22%): 429,00" in text and "В том числе" not in text
    assert "Всего к оплате: 2 379,00" in text
    assert "Две тысячи триста семьдесят девять рублей 00 копеек" in text
    assert "Produkty na Lesnoy" in text  # no counterparty on the order: the partner's name


def test_shipment_of_an_organization_without_vat(accountant_client: Client, other_organization: Organization,
                                                 client_partner: Partner, warehouse: Any, milk: Any,  # noqa: F811
                                                 stocked: Any, role_user: Any) -> None:  # noqa: F811
    shipment = Shipment(organization=other_organization, partner=client_partner, warehouse=warehouse,
                        date=moment("2026-03-12", 10), due_date=moment("2026-03-22").date())
    services.save_shipment(shipment, [ShipmentLine(item=milk, quantity=D(2), price=D("120.00"), vat_rate=-1)],
                           user=role_user(Role.SALES_DIRECTOR, "director"), post=True)
    text = pdf_text(accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "upd"])).content)
    assert "Статус: 2" in pdf_text(accountant_client.get(
        reverse("printing:shipment_form", args=[shipment.pk, "upd"])).content, layout=False)
    assert "ИП Северов" in text and "500100732259" in text
    assert "без НДС" in text and "240,00" in text
    assert "Двести сорок рублей 00 копеек" in text


# ------------------------------------------------------------------------------ quote
def test_quote_pdf(accountant_client: Client, quote: Quote) -> None:
    response = accountant_client.get(reverse("printing:quote", args=[quote.pk, "pdf"]))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert pdf_page_size_mm(response.content) == (210, 297)
    text = pdf_text(response.content)
    assert f"Commercial proposal No. {quote.number}" in text
    assert CLIENT_NAME in text and "ООО «Ромашка»" in text and "INN 7707083893" in text
    assert "Milk 1L" in text and "Bread" in text
    assert "1,950.00" in text and "Including VAT: 351.64" in text
    assert "Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    assert "The offer is valid until March 31, 2026." in text
    assert "Delivery within 3 days" in text


def test_quote_docx(accountant_client: Client, quote: Quote) -> None:
    from docx import Document as WordDocument

    response = accountant_client.get(reverse("printing:quote", args=[quote.pk, "docx"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert response["Content-Disposition"].startswith("attachment;")
    word = WordDocument(io.BytesIO(response.content))
    section = word.sections[0]
    assert (round(section.page_width.mm), round(section.page_height.mm)) == (210, 297)
    paragraphs = "\n".join(p.text for p in word.paragraphs)
    assert f"To: {CLIENT_NAME}" in paragraphs
    assert "ООО «Ромашка»" in paragraphs
    assert "Total amount: Одна тысяча девятьсот пятьдесят рублей 00 копеек" in paragraphs
    assert "The offer is valid until March 31, 2026." in paragraphs
    rows = [[cell.text for cell in row.cells] for row in word.tables[0].rows]
    assert rows == [
        ["No.", "Item", "Unit", "Quantity", "Price", "Discount, %", "Amount", "VAT rate", "VAT"],
        ["1", "Milk 1L", "шт", "10", "100.00", "5", "950.00", "22%", "171.31"],
        ["2", "Bread", "шт", "20", "50.00", "", "1,000.00", "22%", "180.33"],
    ]


def test_quote_odt(accountant_client: Client, quote: Quote) -> None:
    from odf import teletype
    from odf.opendocument import load
    from odf.style import PageLayoutProperties
    from odf.table import Table, TableRow
    from odf.text import P

    response = accountant_client.get(reverse("printing:quote", args=[quote.pk, "odt"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.oasis.opendocument.text"
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert archive.read("mimetype") == b"application/vnd.oasis.opendocument.text"
    document = load(io.BytesIO(response.content))
    layout = document.automaticstyles.getElementsByType(PageLayoutProperties)[0]
    assert (layout.getAttribute("pagewidth"), layout.getAttribute("pageheight")) == ("21cm", "29.7cm")
    text = "\n".join(teletype.extractText(p) for p in document.text.getElementsByType(P))
    assert f"To: {CLIENT_NAME}" in text
    assert "Total amount: Одна тысяча девятьсот пятьдесят рублей 00 копеек" in text
    table = document.text.getElementsByType(Table)[0]
    rows = [[teletype.extractText(cell) for cell in row.childNodes] for row in table.getElementsByType(TableRow)]
    assert rows[1] == ["1", "Milk 1L", "шт", "10", "100.00", "5", "950.00", "22%", "171.31"]
    assert rows[2][1] == "Bread" and rows[2][6] == "1,000.00"


def test_quote_in_russian(accountant_client: Client, quote: Quote) -> None:
    accountant_client.cookies["django_language"] = "ru"
    text = pdf_text(accountant_client.get(reverse("printing:quote", args=[quote.pk, "pdf"])).content)
    assert "1 950,00" in text and CLIENT_NAME in text


# ------------------------------------------------------------------------------ акт сверки
def _reconciliation_url(organization: Organization, partner: Partner, start: str, end: str) -> str:
    return (reverse("printing:reconciliation")
            + f"?organization={organization.pk}&partner={partner.pk}&start={start}&end={end}")


def test_reconciliation_for_march(accountant_client: Client, shipment: Shipment, company: Organization,
                                  client_partner: Partner, tmp_path: Path) -> None:  # noqa: F811
    response = accountant_client.get(_reconciliation_url(company, client_partner, "2026-03-01", "2026-03-31"))
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    pdf = response.content
    # the accountant's check: the PDF renders to a picture
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-", str(tmp_path / "page")],
                   input=pdf, check=True)
    pictures = list(tmp_path.glob("page*.png"))
    assert len(pictures) == 1 and pictures[0].stat().st_size > 10_000
    assert pictures[0].read_bytes().startswith(b"\x89PNG")
    text = pdf_text(pdf)
    assert "Акт сверки" in text and "01.03.2026 – 31.03.2026" in text
    assert CLIENT_NAME in text and "ООО «Ромашка»" in text
    assert "Оплата (РМ-000001" in text and "Продажа (РМ-000001" in text and "Приход (РМ-000001" in text
    assert "1 365,00" in text and "1 950,00" in text and "385,00" in text
    # opening 0, debit 1 950.00, credit 1 750.00, closing 200.00 owed to us; the client's side mirrored
    assert "Сальдо начальное Сальдо начальное" in text
    assert "Обороты за период 1 950,00 1 750,00 Обороты за период 1 750,00 1 950,00" in text
    assert "Сальдо конечное 200,00 Сальдо конечное 200,00" in text
    assert ("По данным ООО «Ромашка» на 31.03.2026 задолженность в пользу ООО «Ромашка» 200,00 руб. "
            "(Двести рублей 00 копеек)") in text


def test_reconciliation_with_an_opening_prepayment(accountant_client: Client, shipment: Shipment,
                                                   company: Organization, client_partner: Partner) -> None:  # noqa: F811
    card = forms.reconciliation_context(company, client_partner, moment("2026-03-11").date(),
                                        moment("2026-03-15").date())
    assert card["card"].opening == D("-1365.00")  # paid before the period, not yet shipped: the client's credit
    assert [(r.ours, r.debit, r.credit) for r in card["rows"]] == [
        ("Продажа (РМ-000001 от 11.03.2026)", D("1950.00"), D("0.00"))]
    text = pdf_text(accountant_client.get(
        _reconciliation_url(company, client_partner, "2026-03-11", "2026-03-15")).content)
    assert "Сальдо начальное 1 365,00 Сальдо начальное 1 365,00" in text
    assert "Сальдо конечное 585,00 Сальдо конечное 585,00" in text
    assert "задолженность в пользу ООО «Ромашка» 585,00 руб." in text


def test_reconciliation_with_nothing_owed(accountant_client: Client, company: Organization,
                                          client_partner: Partner) -> None:  # noqa: F811
    text = pdf_text(accountant_client.get(
        _reconciliation_url(company, client_partner, "2026-03-01", "2026-03-31")).content)
    assert "задолженность отсутствует" in text


@pytest.mark.parametrize(("query", "message"), [
    ("organization=&partner={p}&start=2026-03-01&end=2026-03-31", "Choose the organization."),
    ("organization={o}&start=2026-03-01&end=2026-03-31", "Choose the client."),
    ("organization=987654&partner={p}&start=2026-03-01&end=2026-03-31",
     "There is no organization with the number “987654”."),
    ("organization={o}&partner=abc&start=2026-03-01&end=2026-03-31", "There is no client with the number “abc”."),
    ("organization={o}&partner={p}&start=2026-13-01&end=2026-03-31",
     "The first day of the period must be a date written as YYYY-MM-DD; “2026-13-01” is not."),
    ("organization={o}&partner={p}&start=2026-03-01", "Give the last day of the period."),
    ("organization={o}&partner={p}&start=2026-04-01&end=2026-03-31",
     "The period starts on 2026-04-01, after its last day 2026-03-31."),
])
def test_reconciliation_bad_parameters_get_400(accountant_client: Client, company: Organization,
                                               client_partner: Partner, query: str, message: str) -> None:  # noqa: F811
    url = reverse("printing:reconciliation") + "?" + query.format(o=company.pk, p=client_partner.pk)
    response = accountant_client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert message in response.content.decode()


def test_reconciliation_without_parameters_shows_the_choice(accountant_client: Client, company: Organization,
                                                            client_partner: Partner) -> None:  # noqa: F811
    response = accountant_client.get(reverse("printing:reconciliation"))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="organization"' in page and "Produkty na Lesnoy" in page and "alert-danger" not in page


# ------------------------------------------------------------------------------ access
def test_roles_without_the_capability_get_403(client: Client, role_user: Any, shipment: Shipment, order: SalesOrder,
                                              quote: Quote, company: Organization,
                                              client_partner: Partner) -> None:  # noqa: F811
    sales_urls = [reverse("printing:shipment_form", args=[shipment.pk, "upd"]),
                  reverse("printing:order_invoice", args=[order.pk]),
                  reverse("printing:quote", args=[quote.pk, "docx"])]
    reconciliation = _reconciliation_url(company, client_partner, "2026-03-01", "2026-03-31")
    client.force_login(role_user(Role.COURIER, "courier"))  # sees no sales at all
    for url in [*sales_urls, reconciliation]:
        assert client.get(url).status_code == 403, url
    client.force_login(role_user(Role.STOREKEEPER, "storekeeper"))  # sees sales, not settlements
    for url in sales_urls:
        assert client.get(url).status_code == 200, url
    assert client.get(reconciliation).status_code == 403
    client.logout()
    assert client.get(sales_urls[0]).status_code == 302  # to the login page


def test_missing_objects_and_unknown_forms_get_404(accountant_client: Client, shipment: Shipment,
                                                   quote: Quote) -> None:
    assert accountant_client.get(reverse("printing:shipment_form", args=[987654, "upd"])).status_code == 404
    assert accountant_client.get(reverse("printing:shipment_form", args=[shipment.pk, "m15"])).status_code == 404
    assert accountant_client.get(reverse("printing:order_invoice", args=[987654])).status_code == 404
    assert accountant_client.get(reverse("printing:quote", args=[987654, "pdf"])).status_code == 404
    assert accountant_client.get(reverse("printing:quote", args=[quote.pk, "rtf"])).status_code == 404
