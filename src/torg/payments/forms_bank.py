"""Forms of the bank-statement pages: the file to import, a person's match of a line, the acquiring details, the
export of payment orders."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import BankAccount, Counterparty, Partner
from torg.web.forms import BootstrapMixin

MAX_FILE_SIZE = 20 * 1024 * 1024  # a year of a busy account's statements is a few megabytes


class ImportForm(BootstrapMixin, forms.Form):
    file = forms.FileField(label=_("Statement file (1CClientBankExchange, kl_to_1c.txt)"),
                           widget=forms.ClearableFileInput(attrs={"accept": ".txt,text/plain"}))

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_SIZE:
            raise forms.ValidationError(_("The file is %(size)s MB; a statement file is at most 20 MB."),
                                        params={"size": upload.size // (1024 * 1024)})
        return upload


class MatchForm(BootstrapMixin, forms.Form):
    partner = forms.ModelChoiceField(label=_("Client"), queryset=Partner.objects.none())
    counterparty = forms.ModelChoiceField(label=_("Counterparty"), queryset=Counterparty.objects.none(),
                                          required=False)

    def __init__(self, *args: Any, partner_id: int | None = None, refresh_url: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["partner"].queryset = Partner.objects.filter(is_client=True, deletion_mark=False)
        # Choosing the client brings its open orders and its counterparties (HTMX; without it: the button).
        self.fields["partner"].widget.attrs.update({
            "hx-get": refresh_url, "hx-trigger": "change", "hx-target": "#match-choices",
            "hx-select": "#match-choices", "hx-swap": "outerHTML", "hx-include": "this"})
        self.fields["counterparty"].queryset = Counterparty.objects.filter(partner_id=partner_id or 0,
                                                                           deletion_mark=False)
        self.fields["counterparty"].label_from_instance = lambda c: f"{c.name} · {c.inn or '—'}"


class IgnoreForm(BootstrapMixin, forms.Form):
    reason = forms.CharField(label=_("Why it needs nothing"), max_length=200, required=False)


class AcquiringForm(BootstrapMixin, forms.Form):
    registry_date = forms.DateField(label=_("Registry date"), widget=forms.DateInput(),
                                    help_text=_("The day of the card payments the credit pays for."))
    commission = forms.DecimalField(label=_("Commission"), max_digits=15, decimal_places=2, min_value=0)
    merchant = forms.CharField(label=_("Merchant No."), max_length=20, required=False)


class ExportForm(BootstrapMixin, forms.Form):
    bank_account = forms.ModelChoiceField(label=_("Bank account"), queryset=BankAccount.objects.none())
    start = forms.DateField(label=_("From"), widget=forms.DateInput())
    end = forms.DateField(label=_("To"), widget=forms.DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["bank_account"]
        field.queryset = BankAccount.objects.filter(organization__isnull=False, deletion_mark=False).select_related(
            "organization")
        field.label_from_instance = lambda b: f"{b.name or b.number} · {b.number} · {b.organization}"
        if not self.is_bound:
            today = timezone.localdate()
            self.initial.setdefault("start", today - dt.timedelta(days=today.weekday()))
            self.initial.setdefault("end", today)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            self.add_error("end", _("The period ends before it starts."))
        return data
