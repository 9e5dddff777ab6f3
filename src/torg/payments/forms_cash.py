"""The form of accepting a courier's cash: the counted amount (what the courier holds, proposed), the company's cash
desk that takes it, a comment, and the idempotency key made when the form was rendered."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import CashDesk
from torg.payments.forms import new_idempotency_key, parse_money
from torg.web.forms import BootstrapMixin


class CashHandoverForm(BootstrapMixin, forms.Form):
    amount = forms.CharField(label=_("Counted"), max_length=30,
                             help_text=_("The cash really handed over. What the courier held and did not hand over "
                                         "stays on their cash desk as a shortage."),
                             widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}))
    to_cash_desk = forms.ModelChoiceField(label=_("Into the cash desk"), queryset=CashDesk.objects.none())
    comment = forms.CharField(label=_("Comment"), required=False, max_length=1000,
                              widget=forms.Textarea(attrs={"rows": 2}))
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    def __init__(self, *args: Any, organization_id: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The company's own cash desks of the organization the cash was taken for (not a courier's).
        desks = CashDesk.objects.filter(organization_id=organization_id, holder__isnull=True, deletion_mark=False)
        self.fields["to_cash_desk"].queryset = desks
        if not self.is_bound:
            if not self.initial.get("idempotency_key"):
                self.fields["idempotency_key"].initial = new_idempotency_key()
            only = list(desks[:2])
            if len(only) == 1 and not self.initial.get("to_cash_desk"):
                self.fields["to_cash_desk"].initial = only[0].pk

    def clean_amount(self) -> Decimal:
        value = parse_money(self.cleaned_data["amount"])
        if value is None:
            raise forms.ValidationError(_("Enter the counted amount as a number, such as 1250.50."))
        return value
