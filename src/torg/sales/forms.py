"""Forms of the sales pages: payment schedules, trade agreements, the header and line forms of quotes and orders,
payment stages, the client's answer to a quote, and the approver's decision.

Validation of business rules (stages summing to 100 %, agreement checks, payment terms) stays in
`torg.sales.services`; these forms only parse what the browser sent.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from torg.catalogs.forms import CatalogForm
from torg.catalogs.models import Partner, Warehouse
from torg.sales.models import (
    AgreementStatus,
    OrderPaymentStage,
    PaymentSchedule,
    PaymentScheduleStage,
    Quote,
    StageKind,
    TradeAgreement,
)
from torg.stock.forms import StockHeaderForm
from torg.web.document_views import DocumentLineForm
from torg.web.forms import BootstrapMixin

ZERO = Decimal(0)


# ---------------------------------------------------------------- payment stages
class StageForm(BootstrapMixin, forms.Form):
    """One stage of a payment schedule (or of an order's own schedule). Amount and due date are computed."""

    kind = forms.ChoiceField(label=_("Stage"), required=False, choices=[("", "—"), *StageKind.choices],
                             widget=forms.Select(attrs={"class": "form-select-sm"}))
    percent = forms.DecimalField(label=_("Percent"), required=False, max_digits=5, decimal_places=2,
                                 widget=forms.NumberInput(attrs={"step": "any", "class": "form-control-sm text-end",
                                                                 "inputmode": "decimal"}))
    days = forms.IntegerField(label=_("Days"), required=False, min_value=-3650, max_value=3650,
                              widget=forms.NumberInput(attrs={"class": "form-control-sm text-end",
                                                              "inputmode": "numeric"}))

    def is_blank(self) -> bool:
        data = self.cleaned_data if hasattr(self, "cleaned_data") else {}
        return not data.get("kind") and data.get("percent") in (None, "") and data.get("days") in (None, "")


StageFormSet = forms.formset_factory(StageForm, extra=0)


@dataclass
class StageRow:
    """A stage as the page shows it: its form, and what the order computed for it."""

    form: StageForm
    amount: Decimal | None = None
    due_date: Any = None
    errors: list[str] | None = None


def stage_formset(data: Any = None, stages: list[Any] | None = None, *, prefix: str = "stages") -> Any:
    initial = [{"kind": s.kind, "percent": s.percent, "days": s.days} for s in (stages or [])]
    return StageFormSet(data, initial=initial, prefix=prefix)


def filled_stage_forms(formset: Any) -> list[StageForm]:
    """The rows the user filled, in order (the services number stages from 1 in this order)."""
    return [f for f in formset.forms if hasattr(f, "cleaned_data") and not f.is_blank()]


def schedule_stages(formset: Any) -> list[PaymentScheduleStage]:
    return [PaymentScheduleStage(kind=f.cleaned_data["kind"], percent=f.cleaned_data["percent"],
                                 days=f.cleaned_data.get("days") or 0) for f in filled_stage_forms(formset)]


def order_stages(formset: Any) -> list[OrderPaymentStage]:
    return [OrderPaymentStage(kind=f.cleaned_data["kind"], percent=f.cleaned_data["percent"],
                              days=f.cleaned_data.get("days") or 0) for f in filled_stage_forms(formset)]


def apply_stage_errors(formset: Any, errors: dict[str, list[str]], field: str = "stages") -> list[str]:
    """Put the service's stage errors ("stages.2.percent") on the filled row they name; return the errors
    about the whole table ("stages")."""
    filled = filled_stage_forms(formset)
    general: list[str] = []
    for name, messages in errors.items():
        parts = name.split(".")
        if parts[0] != field:
            continue
        if len(parts) == 3 and parts[1].isdigit() and 1 <= int(parts[1]) <= len(filled):
            form = filled[int(parts[1]) - 1]
            form.add_error(parts[2] if parts[2] in form.fields else None, messages)
        else:
            general += messages
    return general


# ---------------------------------------------------------------- catalogs
class PaymentScheduleForm(CatalogForm):
    class Meta:
        model = PaymentSchedule
        fields = ["name"]


class TradeAgreementForm(CatalogForm):
    class Meta:
        model = TradeAgreement
        fields = ["name", "kind", "status", "organization", "partner", "partners", "price_type", "discount_percent",
                  "max_manual_discount", "payment_schedule", "warehouse", "delivery_days", "min_order_amount",
                  "valid_from", "valid_to"]
        widgets = {"valid_from": forms.DateInput(), "valid_to": forms.DateInput(),
                   "partners": forms.SelectMultiple(attrs={"size": 8})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = [self.instance.partner_id] if self.instance.partner_id else []
        if self.instance.pk:
            current += list(self.instance.partners.values_list("pk", flat=True))
        clients = Partner.objects.filter(Q(is_client=True, deletion_mark=False) | Q(pk__in=current))
        self.fields["partner"].queryset = clients
        self.fields["partners"].queryset = clients
        self.fields["partners"].help_text = _("For a typical agreement: the clients it is for (hold Ctrl to choose "
                                              "several); none chosen means every client.")


# ---------------------------------------------------------------- quotes and orders
class SaleHeaderForm(StockHeaderForm):
    """The header of a quote or an order: the client's counterparty, contact and delivery address are the
    client's own; agreements offered are the active ones (and the one already chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        partner_id = self._partner_id()
        if "partner" in self.fields:
            current = self.instance.partner_id if self.instance.pk else None
            self.fields["partner"].queryset = Partner.objects.filter(
                Q(is_client=True, deletion_mark=False) | Q(pk=current))
        for name in ("counterparty", "contact", "delivery_address"):
            if name in self.fields and partner_id:
                current = getattr(self.instance, f"{name}_id", None)
                self.fields[name].queryset = self.fields[name].queryset.filter(
                    Q(partner_id=partner_id) | Q(pk=current))
        if "agreement" in self.fields:
            current = self.instance.agreement_id
            self.fields["agreement"].queryset = TradeAgreement.objects.filter(
                Q(status=AgreementStatus.ACTIVE, deletion_mark=False) | Q(pk=current))
        if "manager" in self.fields:
            self.fields["manager"].queryset = get_user_model().objects.filter(is_active=True).order_by("username")
        if "terms" in self.fields:
            self.fields["terms"].widget.attrs["rows"] = 2

    def _partner_id(self) -> int | None:
        if self.is_bound:
            raw = self.data.get(self.add_prefix("partner"), "")
            return int(raw) if str(raw).isdigit() else None
        return self.instance.partner_id if getattr(self.instance, "partner_id", None) else None


class SaleLineForm(DocumentLineForm):
    """A line of a quote or an order: an empty price is taken from the agreement when saving; the warehouse
    choices are read once per page (`share_choices`), not once per line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("price", "discount_percent"):
            if name in self.fields:
                self.fields[name].required = False
        if "price" in self.fields:
            self.fields["price"].widget.attrs["placeholder"] = _("from the agreement")
        if "cancel_reason" in self.fields:
            self.fields["cancel_reason"].widget.attrs.update({"class": "form-control form-control-sm",
                                                              "placeholder": _("reason")})
        if "shipment_date" in self.fields:
            self.fields["shipment_date"].widget.attrs["class"] = "form-control form-control-sm"
        if "warehouse" in self.fields:
            self.fields["warehouse"].empty_label = _("(header's)")


def warehouse_choices() -> list[tuple[Any, str]]:
    return [(w.pk, w.name) for w in Warehouse.objects.filter(deletion_mark=False).order_by("name")]


def share_choices(forms_: list[Any], choices: list[tuple[Any, str]], empty_label: str) -> None:
    """Give every line form the same warehouse choices (one query for the page instead of one per line),
    keeping a line's current warehouse even when it is marked for deletion."""
    for form in forms_:
        field = form.fields.get("warehouse")
        if field is None:
            continue
        mine = list(choices)
        current = form.instance.warehouse_id if form.instance is not None else None
        if current and all(pk != current for pk, _label in mine):
            mine.append((current, str(form.instance.warehouse)))
        field.choices = [("", empty_label), *mine]


def clean_sale_lines(document: Any, lines: list[Any]) -> None:
    """An empty price or discount is zero; a zero price is filled from the agreement by the save service."""
    for line in lines:
        if line.price is None:
            line.price = ZERO
        if getattr(line, "discount_percent", ZERO) is None:
            line.discount_percent = ZERO
        if hasattr(line, "cancel_reason") and line.cancel_reason is None:
            line.cancel_reason = ""


# ---------------------------------------------------------------- operations
class QuoteAnswerLineForm(forms.Form):
    """The client's answer on one line of a quote: another quantity or price, and whether it is agreed."""

    line_no = forms.IntegerField(widget=forms.HiddenInput)
    quantity = forms.DecimalField(required=False, min_value=Decimal("0.001"), max_digits=17, decimal_places=3,
                                  widget=forms.NumberInput(attrs={"step": "any", "class": "form-control "
                                                                  "form-control-sm text-end"}))
    price = forms.DecimalField(required=False, min_value=ZERO, max_digits=17, decimal_places=2,
                               widget=forms.NumberInput(attrs={"step": "any", "class": "form-control "
                                                               "form-control-sm text-end"}))
    agreed = forms.BooleanField(required=False, widget=forms.CheckboxInput(attrs={"class": "form-check-input"}))


QuoteAnswerFormSet = forms.formset_factory(QuoteAnswerLineForm, extra=0)


class QuoteAnswerForm(BootstrapMixin, forms.Form):
    comment = forms.CharField(label=_("What the client said"), required=False, max_length=1000,
                              widget=forms.Textarea(attrs={"rows": 2}))


def quote_answer_formset(quote: Quote, lines: list[Any], data: Any = None) -> Any:
    initial = [{"line_no": ln.line_no, "agreed": ln.agreed} for ln in lines]
    return QuoteAnswerFormSet(data, initial=initial, prefix="answer")


class OrderFromQuoteForm(BootstrapMixin, forms.Form):
    warehouse = forms.ModelChoiceField(label=_("Ship from"), queryset=Warehouse.objects.filter(deletion_mark=False),
                                       required=False, empty_label=_("the agreement's warehouse"))


class ReasonForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)


class DecisionForm(BootstrapMixin, forms.Form):
    comment = forms.CharField(label=_("Comment"), max_length=2000, required=False,
                              widget=forms.Textarea(attrs={"rows": 2}))


class DeviationsFilterForm(BootstrapMixin, forms.Form):
    AREAS = [("pricing", _("pricing")), ("financial", _("financial")), ("logistic", _("logistic"))]

    decision = forms.ChoiceField(label=_("Decision"), required=False,
                                 widget=forms.Select(attrs={"class": "form-select-sm"}))
    area = forms.ChoiceField(label=_("Area"), required=False, choices=[("", _("All")), *AREAS],
                             widget=forms.Select(attrs={"class": "form-select-sm"}))
    start = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"class": "form-control-sm"}))
    end = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"class": "form-control-sm"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from torg.sales.models import OrderApproval

        self.fields["decision"].choices = [("", _("All")), *OrderApproval.Decision.choices]
