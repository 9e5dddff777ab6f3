"""The stock report's filter form (GET)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.catalogs.models import ItemGroup, Organization, Warehouse
from torg.reports.stock import MODE_LABELS, Mode, StockReportParams
from torg.web.forms import BootstrapMixin


class StockReportForm(BootstrapMixin, forms.Form):
    mode = forms.ChoiceField(label=_("Report"), choices=[(m.value, MODE_LABELS[m]) for m in Mode], required=False)
    date = forms.DateField(label=_("Balance at the end of"), required=False, widget=forms.DateInput())
    start = forms.DateField(label=pgettext_lazy("period", "From"), required=False, widget=forms.DateInput())
    end = forms.DateField(label=pgettext_lazy("period", "To"), required=False, widget=forms.DateInput())
    warehouse = forms.ModelMultipleChoiceField(label=_("Warehouses"), required=False,
                                               queryset=Warehouse.objects.filter(deletion_mark=False),
                                               widget=forms.CheckboxSelectMultiple)
    organization = forms.ModelMultipleChoiceField(label=_("Organizations"), required=False,
                                                  queryset=Organization.objects.filter(deletion_mark=False),
                                                  widget=forms.CheckboxSelectMultiple)
    group = forms.ModelChoiceField(label=_("Item group"), required=False, empty_label=_("All groups"),
                                   queryset=ItemGroup.objects.filter(deletion_mark=False),
                                   widget=forms.Select(attrs={"class": "form-select-sm"}))
    q = forms.CharField(label=_("Item"), required=False, max_length=100,
                        widget=forms.TextInput(attrs={"placeholder": _("Name, article or barcode"), "type": "search",
                                                    "class": "form-control-sm"}))
    nonzero = forms.BooleanField(label=_("Only non-zero"), required=False)
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, data: Any = None, *args: Any, **kwargs: Any) -> None:
        # A first visit (no "mode" in the query) shows only non-zero rows.
        if data is not None and "mode" not in data:
            data = data.copy()
            data["nonzero"] = "on"
        super().__init__(data, *args, **kwargs)

    def params(self) -> StockReportParams:
        d = self.cleaned_data if self.is_valid() else {}
        start, end = d.get("start"), d.get("end")
        if start and end and start > end:
            start, end = end, start
        return StockReportParams(
            mode=d.get("mode") or Mode.BALANCE, date=d.get("date"), start=start, end=end,
            warehouses=[w.pk for w in d.get("warehouse") or []],
            organizations=[o.pk for o in d.get("organization") or []],
            group=d["group"].pk if d.get("group") else None, search=(d.get("q") or "").strip(),
            nonzero=bool(d.get("nonzero", True)), sort=d.get("sort") or "item",
        )

    def describe(self) -> list[str]:
        """The filters in words, for the .xlsx header."""
        if not self.is_valid():
            return []
        d = self.cleaned_data
        parts = []
        if d.get("warehouse"):
            parts.append(f"{self.fields['warehouse'].label}: {', '.join(str(w) for w in d['warehouse'])}")
        if d.get("organization"):
            parts.append(f"{self.fields['organization'].label}: {', '.join(str(o) for o in d['organization'])}")
        if d.get("group"):
            parts.append(f"{self.fields['group'].label}: {d['group']}")
        if d.get("q"):
            parts.append(f"{self.fields['q'].label}: {d['q']}")
        if d.get("nonzero"):
            parts.append(str(self.fields["nonzero"].label))
        return parts
