"""Header forms of the stock documents (the generic document form builds the rest)."""
from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext as _

from torg.catalogs.models import Partner
from torg.web.forms import BootstrapMixin


class StockHeaderForm(BootstrapMixin, forms.ModelForm):
    """Choices hide catalog entries marked for deletion (keeping the one already chosen)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):
                model = field.queryset.model
                if any(f.name == "deletion_mark" for f in model._meta.fields):
                    current = getattr(self.instance, f"{name}_id", None)
                    field.queryset = field.queryset.filter(Q(deletion_mark=False) | Q(pk=current))


class PurchaseHeaderForm(StockHeaderForm):
    """A purchase's supplier is a partner marked as a supplier; the counterparty belongs to the supplier."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "supplier" in self.fields:
            current = self.instance.supplier_id if self.instance.pk else None
            self.fields["supplier"].queryset = Partner.objects.filter(
                Q(is_supplier=True, deletion_mark=False) | Q(pk=current))
        if "counterparty" in self.fields:
            self.fields["counterparty"].queryset = self.fields["counterparty"].queryset.select_related("partner")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        supplier, counterparty = data.get("supplier"), data.get("counterparty")
        if supplier and counterparty and counterparty.partner_id != supplier.pk:
            self.add_error("counterparty", forms.ValidationError(_(
                "%(cp)s belongs to %(partner)s, not to the supplier %(supplier)s: choose one of the supplier's "
                "counterparties or leave it empty.") % {"cp": counterparty, "partner": counterparty.partner,
                                                       "supplier": supplier}))
        return data
