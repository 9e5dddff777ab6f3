"""The filter forms (GET) of the report pages."""
from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.catalogs.models import ItemGroup, Organization, Partner, Warehouse
from torg.reports.sales import GROUPING_LABELS, Grouping, SalesParams
from torg.reports.settlements import CardParams, DisciplineParams, ReceivablesParams
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


# ================================================================ settlement and sales reports
def _organizations() -> Any:
    return Organization.objects.filter(deletion_mark=False)


def _clients() -> Any:
    return Partner.objects.filter(deletion_mark=False, is_client=True)


def _select(**attrs: Any) -> forms.Select:
    return forms.Select(attrs={"class": "form-select-sm", **attrs})


class _ReportForm(BootstrapMixin, forms.Form):
    """Shared by the report forms: the cleaned values or none, and the filters in words for the .xlsx header."""

    def values(self) -> dict[str, Any]:
        """The fields that are valid (a wrong one falls back to its default, the others still apply)."""
        self.is_valid()
        return self.cleaned_data

    def describe(self) -> list[str]:
        d = self.values()
        parts = []
        for name, field in self.fields.items():
            value = d.get(name)
            if value in (None, "", False) or isinstance(field.widget, forms.HiddenInput) or name in ("start", "end"):
                continue
            if isinstance(field, forms.BooleanField):
                parts.append(str(field.label))
            elif isinstance(field, forms.ChoiceField) and not isinstance(field, forms.ModelChoiceField):
                parts.append(f"{field.label}: {dict(field.choices).get(value, value)}")
            else:
                parts.append(f"{field.label}: {value}")
        return parts


class ReceivablesForm(_ReportForm):
    organization = forms.ModelChoiceField(label=_("Organization"), required=False, queryset=_organizations(),
                                          empty_label=_("All organizations"), widget=_select())
    partner = forms.ModelChoiceField(label=_("Client"), required=False, queryset=_clients(),
                                     empty_label=_("All clients"), widget=_select())
    overdue = forms.BooleanField(label=_("Only overdue"), required=False)
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def params(self) -> ReceivablesParams:
        d = self.values()
        return ReceivablesParams(organization=_pk(d.get("organization")), partner=_pk(d.get("partner")),
                                 only_overdue=bool(d.get("overdue")), sort=d.get("sort") or "client")


class SettlementCardForm(_ReportForm):
    organization = forms.ModelChoiceField(label=_("Organization"), required=False, queryset=_organizations(),
                                          widget=_select())
    partner = forms.ModelChoiceField(label=_("Client"), required=False, queryset=_clients(), widget=_select())
    start = forms.DateField(label=pgettext_lazy("period", "From"), required=False, widget=forms.DateInput())
    end = forms.DateField(label=pgettext_lazy("period", "To"), required=False, widget=forms.DateInput())

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.single_organization = None
        organizations = list(_organizations().values_list("pk", flat=True)[:2])
        if len(organizations) == 1:  # one organization: nothing to choose
            self.single_organization = organizations[0]
            self.fields["organization"].empty_label = None

    def params(self) -> CardParams:
        d = self.values()
        return CardParams(organization=_pk(d.get("organization")) or self.single_organization,
                          partner=_pk(d.get("partner")), start=d.get("start"), end=d.get("end"))


class PaymentDisciplineForm(_ReportForm):
    organization = forms.ModelChoiceField(label=_("Organization"), required=False, queryset=_organizations(),
                                          empty_label=_("All organizations"), widget=_select())
    start = forms.DateField(label=_("Payments due from"), required=False, widget=forms.DateInput())
    end = forms.DateField(label=pgettext_lazy("period", "To"), required=False, widget=forms.DateInput())
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def params(self) -> DisciplineParams:
        d = self.values()
        return DisciplineParams(organization=_pk(d.get("organization")), start=d.get("start"), end=d.get("end"),
                                sort=d.get("sort") or "-late_percent")


class SalesReportForm(_ReportForm):
    start = forms.DateField(label=pgettext_lazy("period", "From"), required=False, widget=forms.DateInput())
    end = forms.DateField(label=pgettext_lazy("period", "To"), required=False, widget=forms.DateInput())
    organization = forms.ModelChoiceField(label=_("Organization"), required=False, queryset=_organizations(),
                                          empty_label=_("All organizations"), widget=_select())
    group = forms.ChoiceField(label=_("Group by"), required=False, widget=_select(),
                              choices=[(g.value, GROUPING_LABELS[g]) for g in Grouping])
    subgroup = forms.ChoiceField(label=_("Then by"), required=False, widget=_select(),
                                 choices=[("", "—")] + [(g.value, GROUPING_LABELS[g]) for g in Grouping])
    # drill-down filters, set by following a group's link
    manager = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    partner = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    item = forms.IntegerField(required=False, min_value=1, widget=forms.HiddenInput)
    sort = forms.CharField(required=False, widget=forms.HiddenInput)

    def params(self) -> SalesParams:
        d = self.values()
        return SalesParams(start=d.get("start"), end=d.get("end"), organization=_pk(d.get("organization")),
                           group=d.get("group") or Grouping.CLIENT, subgroup=d.get("subgroup") or "",
                           manager=d.get("manager"), partner=d.get("partner"), item=d.get("item"),
                           sort=d.get("sort") or "-revenue")


def _pk(obj: Any) -> int | None:
    return obj.pk if obj is not None else None
