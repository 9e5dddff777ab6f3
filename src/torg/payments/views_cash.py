"""Couriers' cash pages at /payments/cash-handover/: the cash each courier holds, accepting it into a company cash
desk (the counted amount, the difference shown), and the handovers made.

Thin: parse the form, check the capability, call `torg.payments.cash_handover`, render.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import Organization
from torg.core.errors import CoreError
from torg.core.money import round_money
from torg.core.permissions import Cap
from torg.payments.cash_handover import cash_held, couriers_cash, hand_over_cash
from torg.payments.forms import int_or_none
from torg.payments.forms_cash import CashHandoverForm
from torg.payments.models import CashHandover
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list

ZERO = Decimal(0)


def person_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username()) if user is not None else "—"


HANDOVERS = ListConfig(
    model=CashHandover,
    title=gettext_lazy("Cash handovers"),
    columns=(
        Column("number", gettext_lazy("Number"), link=True),
        Column("date", gettext_lazy("Date"),
               value=lambda h: date_format(timezone.localtime(h.date), "SHORT_DATETIME_FORMAT")),
        Column("organization__name", gettext_lazy("Organization")),
        Column("courier__username", gettext_lazy("Courier"), value=lambda h: person_name(h.courier)),
        Column("to_cash_desk__name", gettext_lazy("Into the cash desk")),
        Column("expected", gettext_lazy("Held"), align_end=True),
        Column("amount", gettext_lazy("Counted"), align_end=True),
        Column("shortage", gettext_lazy("Short"), align_end=True, sortable=False,
               value=lambda h: h.shortage or ""),
        Column("posted", gettext_lazy("Posted")),
    ),
    search_fields=("number", "comment", "courier__username", "courier__last_name"),
    filters=(Filter("organization"), Filter("courier", gettext_lazy("Courier"), as_select=False)),
    ordering=("-date",),
    row_url=lambda h: reverse("payments:cash_handover_detail", args=[h.pk]),
    queryset=lambda: CashHandover.objects.select_related("organization", "courier", "to_cash_desk"),
)


@requires(Cap.CASH_HANDOVER)
def couriers_cash_list(request: HttpRequest) -> HttpResponse:
    """Every courier × organization with the cash held, each with a button to accept it."""
    organization_id = int_or_none(request.GET.get("organization"))
    rows = couriers_cash(organization_id)
    return render(request, "payments/cash/couriers_cash.html", {
        "rows": rows, "total": sum((r.balance for r in rows), ZERO),
        "organizations": Organization.objects.filter(deletion_mark=False).order_by("name"),
        "organization_id": organization_id,
    })


@requires(Cap.CASH_HANDOVER)
def cash_handover_new(request: HttpRequest, courier_id: int, organization_id: int) -> HttpResponse:
    """Accept a courier's cash of one organization: the counted amount (what they hold, proposed) into a company
    cash desk. A form sent twice makes one handover (its idempotency key)."""
    courier = get_object_or_404(get_user_model(), pk=courier_id)
    organization = get_object_or_404(Organization, pk=organization_id)
    held = cash_held(courier).get(organization.pk, ZERO)
    errors: list[str] = []
    if request.method == "POST":
        form = CashHandoverForm(request.POST, organization_id=organization.pk)
        if form.is_valid():
            data = form.cleaned_data
            started = timezone.now()
            try:
                saved = hand_over_cash(courier, organization.pk, data["to_cash_desk"], data["amount"],
                                       user=request.user, comment=data["comment"],
                                       idempotency_key=data["idempotency_key"])
            except CoreError as exc:
                errors = [exc.message]
                for name, msgs in exc.fields.items():
                    for msg in msgs:
                        if name in form.fields:
                            form.add_error(name, msg)
                        else:
                            errors.append(msg)
            else:
                if saved.created_at < started:  # the key's handover was made by an earlier request
                    messages.info(request, _("This handover was already made (the form was sent twice): "
                                             "%(doc)s.") % {"doc": saved})
                else:
                    messages.success(request, _("Accepted: %(doc)s.") % {"doc": saved})
                return HttpResponseRedirect(reverse("payments:cash_handover_detail", args=[saved.pk]))
        else:
            errors = [_("Please correct the errors below.")]
    else:
        form = CashHandoverForm(initial={"amount": f"{round_money(held):.2f}"}, organization_id=organization.pk)
    return render(request, "payments/cash/handover_form.html", {
        "form": form, "errors": errors, "courier": courier, "courier_name": person_name(courier),
        "organization": organization, "held": held,
    })


@requires(Cap.CASH_HANDOVER)
def cash_handover_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A handover: what the courier held, what was counted, and the difference left on the courier's desk."""
    handover = get_object_or_404(CashHandover.objects.select_related(
        "organization", "courier", "from_cash_desk", "to_cash_desk", "author"), pk=pk)
    held_now = cash_held(handover.courier).get(handover.organization_id, ZERO)
    return render(request, "payments/cash/handover_detail.html", {
        "handover": handover, "courier_name": person_name(handover.courier), "held_now": held_now,
    })


@requires(Cap.CASH_HANDOVER)
def cash_handover_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, HANDOVERS, can_create=False)
