"""Print pages of the sales area: thin views that check the capability, find the document and send the form.

PDF forms open in the browser (inline); .docx and .odt download (attachment).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from torg.catalogs.models import Organization, Partner
from torg.core.permissions import Cap
from torg.printing import sales as forms
from torg.sales.models import Quote, SalesOrder, Shipment
from torg.web.access import requires

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"

_FORM_FILE_NAMES = {"upd": "UPD", "torg12": "TORG-12", "invoice": "invoice-factura"}


def _file(content: bytes, content_type: str, filename: str, *, attachment: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(attachment, filename)
    return response


@requires(Cap.SALES_VIEW)
def shipment_form(request: HttpRequest, pk: int, form: str) -> HttpResponse:
    """A shipment as УПД, ТОРГ-12 or счёт-фактура (PDF)."""
    if form not in forms.SHIPMENT_FORMS:
        raise Http404
    shipment = get_object_or_404(Shipment.objects.select_related(
        "organization", "partner", "counterparty", "delivery_address"), pk=pk)
    pdf = forms.render_shipment_form(shipment, form)
    return _file(pdf, PDF, f"{_FORM_FILE_NAMES[form]}-{shipment.number or shipment.pk}.pdf")


@requires(Cap.SALES_VIEW)
def order_invoice(request: HttpRequest, pk: int) -> HttpResponse:
    """The счёт на оплату of a sales order (PDF)."""
    order = get_object_or_404(SalesOrder.objects.select_related("organization", "partner", "counterparty"), pk=pk)
    return _file(forms.render_order_invoice(order), PDF, f"invoice-{order.number or order.pk}.pdf")


_QUOTE_FORMATS = {
    "pdf": (forms.render_quote_pdf, PDF, False),
    "docx": (forms.render_quote_docx, DOCX, True),
    "odt": (forms.render_quote_odt, ODT, True),
}


@requires(Cap.SALES_VIEW)
def quote(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    """The quote as PDF, .docx or .odt."""
    if fmt not in _QUOTE_FORMATS:
        raise Http404
    document = get_object_or_404(Quote.objects.select_related(
        "organization", "partner", "counterparty", "contact", "manager"), pk=pk)
    render_quote, content_type, attachment = _QUOTE_FORMATS[fmt]
    return _file(render_quote(document), content_type, f"quote-{document.number or document.pk}.{fmt}",
                 attachment=attachment)


@dataclass
class ReconciliationRequest:
    """The parameters of an акт сверки as read from the query string, with what is wrong with them."""

    organization: Organization | None = None
    partner: Partner | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    errors: list[str] = field(default_factory=list)


def _read_id(raw: str | None, model: Any, missing: str, unknown: str) -> tuple[Any, str | None]:
    if not raw:
        return None, missing
    if not raw.isdigit():
        return None, unknown % {"value": raw}
    found = model.objects.filter(pk=int(raw)).first()
    return (found, None) if found is not None else (None, unknown % {"value": raw})


def _read_date(raw: str | None, missing: str, wrong: str) -> tuple[dt.date | None, str | None]:
    if not raw:
        return None, missing
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, wrong % {"value": raw}


def read_reconciliation_request(query: QueryDict) -> ReconciliationRequest:
    result = ReconciliationRequest()
    checks = [
        ("organization", _read_id(query.get("organization"), Organization, _("Choose the organization."),
                                  _("There is no organization with the number “%(value)s”."))),
        ("partner", _read_id(query.get("partner"), Partner, _("Choose the client."),
                             _("There is no client with the number “%(value)s”."))),
        ("start", _read_date(query.get("start"), _("Give the first day of the period."),
                             _("The first day of the period must be a date written as YYYY-MM-DD; "
                               "“%(value)s” is not."))),
        ("end", _read_date(query.get("end"), _("Give the last day of the period."),
                           _("The last day of the period must be a date written as YYYY-MM-DD; "
                             "“%(value)s” is not."))),
    ]
    for name, (value, error) in checks:
        setattr(result, name, value)
        if error:
            result.errors.append(error)
    if result.start and result.end and result.start > result.end:
        result.errors.append(_("The period starts on %(start)s, after its last day %(end)s.") % {
            "start": result.start.isoformat(), "end": result.end.isoformat()})
    return result


@requires(Cap.REPORTS_SETTLEMENTS)
def reconciliation(request: HttpRequest) -> HttpResponse:
    """The акт сверки взаиморасчётов of an organization and a client for a period (PDF).

    Without parameters: the page to choose them. Wrong or missing ones: the same page (400) saying what is wrong."""
    asked = read_reconciliation_request(request.GET)
    if asked.errors:
        return render(request, "printing/reconciliation_request.html", {
            "errors": asked.errors if request.GET else [], "query": request.GET,
            "organizations": Organization.objects.filter(deletion_mark=False).only("pk", "name"),
            "partners": Partner.objects.filter(is_client=True, deletion_mark=False).only("pk", "name"),
        }, status=400 if request.GET else 200)
    assert asked.organization and asked.partner and asked.start and asked.end  # no errors: all are read
    pdf = forms.render_reconciliation(asked.organization, asked.partner, asked.start, asked.end)
    return _file(pdf, PDF, f"reconciliation-{asked.partner.pk}-{asked.start:%Y%m%d}-{asked.end:%Y%m%d}.pdf")
