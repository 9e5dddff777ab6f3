"""Forms of the fiscal pages: a cash register, a goods return, a correction receipt, a register operation."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from torg.catalogs.forms import CatalogForm
from torg.core.money import ZERO, round_money
from torg.fiscal.models import CashRegister
from torg.fiscal.receipts import (
    FULL_RATE,
    Correction,
    CorrectionType,
    Method,
    Operation,
    PaymentSums,
    ReceiptDraft,
    ReceiptLine,
    Subject,
)

SECRET_KEYS = ("password", "pass", "token")
MASK = "********"


class CashRegisterForm(CatalogForm):
    class Meta:
        model = CashRegister
        fields = ["organization", "name", "model", "serial_number", "registration_number", "taxation",
                  "ffd_version", "payments_place", "payments_address", "cash_desk", "is_default", "driver",
                  "connection", "auto_shift", "cashier_name", "cashier_inn"]
        widgets = {"connection": forms.Textarea(attrs={"rows": 3, "class": "font-monospace"})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A password in the connection settings is never shown back: it stays as it was unless typed anew.
        shown = dict(self.instance.connection or {})
        for key in SECRET_KEYS:
            if shown.get(key):
                shown[key] = MASK
        self.initial["connection"] = shown

    def clean_connection(self) -> Any:
        value = self.cleaned_data.get("connection") or {}
        if isinstance(value, dict):
            stored = self.instance.connection or {}
            for key in SECRET_KEYS:
                if value.get(key) == MASK:
                    value[key] = stored.get(key, "")
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        desk, organization = data.get("cash_desk"), data.get("organization")
        if desk is not None and organization is not None and desk.organization_id != organization.pk:
            self.add_error("cash_desk", _("The cash desk belongs to another organization."))
        connection = data.get("connection") or {}
        if not isinstance(connection, dict):
            self.add_error("connection", _('Give the settings as a JSON object, e.g. {"base_url": "http://…"}.'))
        elif data.get("driver") in ("atol_web", "atol_online") and not connection.get("base_url"):
            self.add_error("connection", _("An ATOL register needs at least base_url in its connection settings."))
        return data


class OperationForm(forms.Form):
    operation = forms.ChoiceField(choices=[
        ("open_shift", _("open a shift")), ("close_shift", _("close the shift (Z report)")),
        ("report_x", _("X report")), ("cash_in", _("put cash in")), ("cash_out", _("take cash out")),
        ("online", _("switch the emulator on")), ("offline", _("switch the emulator off")),
        ("send_now", _("send waiting receipts now"))])
    amount = forms.DecimalField(label=_("amount"), max_digits=15, decimal_places=2, required=False, min_value=0)


class CancelForm(forms.Form):
    reason = forms.CharField(label=_("why"), max_length=300)


class CorrectionForm(forms.Form):
    """A correction receipt with one line (the usual case: a settlement that had no receipt)."""

    cash_register = forms.ModelChoiceField(label=_("cash register"), queryset=CashRegister.objects.filter(
        deletion_mark=False))
    operation = forms.ChoiceField(label=_("operation"), choices=[
        (Operation.SELL_CORRECTION.value, _("sale correction")),
        (Operation.SELL_RETURN_CORRECTION.value, _("sale return correction"))])
    correction_type = forms.ChoiceField(label=_("correction type"), choices=[
        (CorrectionType.SELF.value, _("on our own")),
        (CorrectionType.INSTRUCTION.value, _("by the tax office's order"))])
    base_date = forms.DateField(label=_("date of the settlement corrected"), widget=forms.DateInput(
        attrs={"type": "date"}))
    base_number = forms.CharField(label=_("number of the tax office's order"), max_length=50, required=False)
    name = forms.CharField(label=_("what was sold"), max_length=128)
    quantity = forms.DecimalField(label=_("quantity"), max_digits=15, decimal_places=3, min_value=Decimal("0.001"),
                                  initial=1)
    price = forms.DecimalField(label=_("price"), max_digits=15, decimal_places=2, min_value=Decimal("0.01"))
    vat_rate = forms.TypedChoiceField(label=_("VAT rate"), coerce=int, choices=[
        (22, "22%"), (10, "10%"), (5, "5%"), (7, "7%"), (0, "0%"), (-1, _("without VAT"))], initial=22)
    method = forms.TypedChoiceField(label=_("payment method"), coerce=int, initial=int(Method.FULL_PAYMENT), choices=[
        (int(Method.FULL_PAYMENT), _("full payment")), (int(Method.FULL_PREPAYMENT), _("100% prepayment")),
        (int(Method.PREPAYMENT), _("prepayment")), (int(Method.ADVANCE), _("advance")),
        (int(Method.CREDIT_PAYMENT), _("payment of credit"))])
    service = forms.BooleanField(label=_("a service"), required=False)
    cash = forms.DecimalField(label=_("paid in cash"), max_digits=15, decimal_places=2, min_value=0, required=False)
    electronic = forms.DecimalField(label=_("paid electronically"), max_digits=15, decimal_places=2, min_value=0,
                                    required=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        amount = round_money(data["quantity"] * data["price"])
        paid = (data.get("cash") or ZERO) + (data.get("electronic") or ZERO)
        if paid != amount:
            self.add_error("cash", _("Cash and electronic payments must add up to the amount, %(amount)s; they add "
                                     "up to %(paid)s.") % {"amount": amount, "paid": paid})
        if data["correction_type"] == CorrectionType.INSTRUCTION and not data.get("base_number"):
            self.add_error("base_number", _("A correction by the tax office's order needs the order's number."))
        if data["base_date"] > dt.date.today():
            self.add_error("base_date", _("The settlement corrected cannot be in the future."))
        return data

    def draft(self) -> ReceiptDraft:
        data = self.cleaned_data
        amount = round_money(data["quantity"] * data["price"])
        method = Method(data["method"])
        subject = (Subject.PAYMENT if method in (Method.PREPAYMENT, Method.ADVANCE, Method.CREDIT_PAYMENT)
                   else Subject.SERVICE if data["service"] else Subject.COMMODITY)
        from torg.fiscal.receipts import CALCULATED_RATE, Vat

        vat = (Vat.NONE if method == Method.CREDIT_PAYMENT else
               CALCULATED_RATE[data["vat_rate"]] if method.is_prepayment else FULL_RATE[data["vat_rate"]])
        line = ReceiptLine(name=data["name"], quantity=data["quantity"], price=data["price"], amount=amount,
                           method=method, subject=subject, vat=vat)
        return ReceiptDraft(operation=Operation(data["operation"]), lines=(line,),
                            payments=PaymentSums(cash=data.get("cash") or ZERO,
                                                 electronic=data.get("electronic") or ZERO),
                            correction=Correction(CorrectionType(data["correction_type"]), data["base_date"],
                                                  data.get("base_number") or ""))
