"""Forms of the courier's phone screens: quantities accepted, how the client pays, the receipt's contact, the reason
a stop was not delivered.

They parse what the courier typed (a comma works as the decimal mark: phones in Russian show one) and do the
arithmetic the screens show (change, what remains); the confirmation service has the last word on every rule."""
from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.core.money import round_money, to_decimal
from torg.delivery.courier import HandoverLine

ZERO = Decimal(0)


def money_text(value: Decimal) -> str:
    return number_format(value, 2, use_l10n=True, force_grouping=True)


def _number(value: Any, *, quantity: bool = False) -> Decimal:
    text = str(value or "").strip()
    if not text:
        return ZERO
    try:
        number = to_decimal(text)
    except ValueError:
        raise ValidationError(_("Enter a number, e.g. 1500 or 1500,50.")) from None
    if not number.is_finite():
        raise ValidationError(_("Enter a number, e.g. 1500 or 1500,50."))
    if number < 0:
        raise ValidationError(_("Enter zero or more."))
    return number if quantity else round_money(number)


class NumberField(forms.CharField):
    """A number typed on a phone: "1 500,50" or "1500.5"; empty is zero."""

    def __init__(self, *, quantity: bool = False, **kwargs: Any) -> None:
        self.quantity = quantity
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 20)
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        return {**super().widget_attrs(widget), "inputmode": "decimal", "autocomplete": "off", "class": "num"}

    def clean(self, value: Any) -> Decimal:  # type: ignore[override]
        return _number(super().clean(value), quantity=self.quantity)


def line_field(shipment_id: int, line_no: int) -> str:
    return f"q_{shipment_id}_{line_no}"


class QuantitiesForm(forms.Form):
    """The quantities the client accepts, one field per line handed over (initially all that was shipped)."""

    def __init__(self, lines: Sequence[HandoverLine], *args: Any, **kwargs: Any) -> None:
        initial = kwargs.pop("accepted", None) or {}
        super().__init__(*args, **kwargs)
        self.lines = list(lines)
        for ln in self.lines:
            name = line_field(ln.shipment_id, ln.line_no)
            self.fields[name] = NumberField(quantity=True, label=ln.name)
            self.fields[name].initial = _plain(initial.get((ln.shipment_id, ln.line_no), ln.quantity))

    def rows(self) -> list[tuple[HandoverLine, forms.BoundField]]:
        return [(ln, self[line_field(ln.shipment_id, ln.line_no)]) for ln in self.lines]

    def accepted(self) -> dict[tuple[int, int], Decimal]:
        return {(ln.shipment_id, ln.line_no): self.cleaned_data[line_field(ln.shipment_id, ln.line_no)]
                for ln in self.lines}

    def add_service_errors(self, fields: dict[str, list[str]]) -> None:
        """The service names a line "lines.<shipment>.<line No.>": show its message under that line's field."""
        for name, messages in fields.items():
            parts = name.split(".")
            target = line_field(int(parts[1]), int(parts[2])) if len(parts) == 3 and parts[0] == "lines" else None
            for message in messages:
                self.add_error(target if target in self.fields else None, message)


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


class Method:
    """How the client pays: the screens of the payment step."""

    CASH = "cash"
    CARD = "card"
    MIXED = "mixed"
    CREDIT = "credit"
    NONE = "none"  # nothing is owed: prepaid
    ALL = (CASH, CARD, MIXED, CREDIT)


class PaymentForm(forms.Form):
    """The money of one payment screen: cash the client gives, the card amount and the terminal's approval code.

    `due` is what the client owes now; the form works out what remains, the change and the overpayment."""

    cash = NumberField(label=gettext_lazy("Cash given"))
    card = NumberField(label=gettext_lazy("On the card"))
    card_approval = forms.CharField(
        label=gettext_lazy("Approval code"), required=False, max_length=30,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}))

    FIELDS = {Method.CASH: ("cash",), Method.CARD: ("card", "card_approval"),
              Method.MIXED: ("card", "card_approval", "cash"), Method.CREDIT: ("cash",)}

    def __init__(self, method: str, due: Decimal, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.method, self.due = method, due
        for name in list(self.fields):
            if name not in self.FIELDS[method]:
                del self.fields[name]
        if method == Method.CREDIT:
            self.fields["cash"].label = _("Taken now in cash (may be 0)")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        card = data.get("card") or ZERO
        if card > 0 and not (data.get("card_approval") or "").strip():
            self.add_error("card_approval", _("Enter the approval code the terminal printed: without it the card "
                                              "payment is not registered."))
        return data

    @property
    def taken(self) -> Decimal:
        return (self.cleaned_data.get("cash") or ZERO) + (self.cleaned_data.get("card") or ZERO)

    @property
    def remains(self) -> Decimal:
        return max(self.due - self.taken, ZERO)

    @property
    def overpaid(self) -> Decimal:
        return max(self.taken - self.due, ZERO)


class ContactForm(forms.Form):
    """Where the electronic receipt goes: a phone number or an e-mail (empty: a paper receipt only)."""

    buyer_contact = forms.CharField(label=gettext_lazy("Phone or e-mail"), required=False, max_length=100,
                                    widget=forms.TextInput(attrs={"autocomplete": "off", "inputmode": "email",
                                                                  "autocapitalize": "none"}))

    def clean_buyer_contact(self) -> str:
        value = self.cleaned_data["buyer_contact"].strip()
        if not value:
            return ""
        if "@" in value:
            try:
                validate_email(value)
            except ValidationError:
                raise ValidationError(_("%(value)s is not an e-mail address.") % {"value": value}) from None
            return value
        digits = re.sub(r"\D", "", value)
        if re.fullmatch(r"\+?[\d\s()\-]+", value) is None or not 10 <= len(digits) <= 15:
            raise ValidationError(_("Enter a phone number with its code (e.g. +7 900 123-45-67) or an e-mail; "
                                    "%(value)s is neither.") % {"value": value})
        if len(digits) == 11 and digits[0] == "8":
            digits = "7" + digits[1:]
        return "+" + digits


FAILURE_REASONS = (
    ("absent", gettext_lazy("Nobody at the address")),
    ("refused", gettext_lazy("The client refused the goods")),
    ("closed", gettext_lazy("Closed, or no access")),
    ("no_money", gettext_lazy("The client cannot pay")),
    ("address", gettext_lazy("Address not found")),
    ("time", gettext_lazy("No time left on the route")),
    ("other", gettext_lazy("Another reason")),
)


class FailForm(forms.Form):
    """Why the stop was not delivered: a choice, and words (needed for "another reason")."""

    reason = forms.ChoiceField(label=gettext_lazy("Reason"), choices=FAILURE_REASONS, widget=forms.RadioSelect)
    comment = forms.CharField(label=gettext_lazy("Comment"), required=False, max_length=250,
                              widget=forms.Textarea(attrs={"rows": 2}))

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("reason") == "other" and not (data.get("comment") or "").strip():
            self.add_error("comment", _("Say what happened."))
        return data

    def reason_text(self) -> str:
        label = str(dict(FAILURE_REASONS)[self.cleaned_data["reason"]])
        comment = (self.cleaned_data.get("comment") or "").strip()
        if self.cleaned_data["reason"] == "other":
            return comment
        return f"{label}: {comment}" if comment else label
