"""Edit forms of the catalogs. Validation messages come from the models' field validators and `clean()`."""
from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import (
    BankAccount,
    CashDesk,
    Contact,
    Counterparty,
    DeliveryAddress,
    Item,
    ItemGroup,
    ItemPrice,
    Organization,
    Partner,
    PriceType,
    Unit,
    Warehouse,
    validate_ean13,
)
from torg.web.forms import BootstrapMixin


class CatalogForm(BootstrapMixin, forms.ModelForm):
    """Carries the entry's `version` for optimistic locking; choices hide entries marked for deletion."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if hasattr(self.instance, "version"):
            self.fields["version"].initial = self.instance.version
        else:
            del self.fields["version"]
        for name, field in self.fields.items():
            if isinstance(field, forms.ModelChoiceField):
                model = field.queryset.model
                if any(f.name == "deletion_mark" for f in model._meta.fields):
                    current = getattr(self.instance, f"{name}_id", None)
                    field.queryset = field.queryset.filter(Q(deletion_mark=False) | Q(pk=current))

    @property
    def expected_version(self) -> int | None:
        value = self.cleaned_data.get("version") if hasattr(self, "cleaned_data") else None
        return int(value) if value is not None else None


class OrganizationForm(CatalogForm):
    class Meta:
        model = Organization
        fields = ["name", "full_name", "prefix", "inn", "kpp", "ogrn", "tax_system", "vat_payer", "address",
                  "phone", "director", "chief_accountant"]


class PartnerForm(CatalogForm):
    class Meta:
        model = Partner
        fields = ["name", "is_client", "is_supplier", "phone", "email", "address", "latitude", "longitude",
                  "comment"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 3})}


class CounterpartyForm(CatalogForm):
    class Meta:
        model = Counterparty
        fields = ["partner", "name", "full_name", "legal_form", "inn", "kpp", "ogrn", "legal_address"]


class ContactForm(CatalogForm):
    class Meta:
        model = Contact
        fields = ["partner", "name", "position", "phone", "email"]


class DeliveryAddressForm(CatalogForm):
    class Meta:
        model = DeliveryAddress
        fields = ["partner", "address", "latitude", "longitude", "comment"]


class ItemForm(CatalogForm):
    class Meta:
        model = Item
        fields = ["name", "sku", "kind", "group", "unit", "weight_kg", "volume_m3", "vat_rate", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}


class BarcodeForm(BootstrapMixin, forms.Form):
    code = forms.CharField(label=_("Barcode"), max_length=14, required=False, validators=[validate_ean13],
                           widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}))


class BaseBarcodeFormSet(forms.BaseFormSet):
    def codes(self) -> list[str]:
        return [f.cleaned_data["code"] for f in self.forms
                if f.cleaned_data.get("code") and not f.cleaned_data.get("DELETE")]

    def clean(self) -> None:
        if any(self.errors):
            return
        codes = self.codes()
        if len(codes) != len(set(codes)):
            raise forms.ValidationError(_("The same barcode is given twice: keep one."))


BarcodeFormSet = forms.formset_factory(BarcodeForm, formset=BaseBarcodeFormSet, extra=2, can_delete=True)


def barcode_formset(item: Item, data: Any = None) -> BaseBarcodeFormSet:
    initial = [{"code": b.code} for b in item.barcodes.all()] if item.pk else []
    return BarcodeFormSet(data, initial=initial, prefix="barcodes")


class ItemGroupForm(CatalogForm):
    class Meta:
        model = ItemGroup
        fields = ["name"]


class UnitForm(CatalogForm):
    class Meta:
        model = Unit
        fields = ["code", "name", "full_name", "international_name"]


class WarehouseForm(CatalogForm):
    class Meta:
        model = Warehouse
        fields = ["name", "order_based", "is_retail_store", "address", "latitude", "longitude"]


class PriceTypeForm(CatalogForm):
    class Meta:
        model = PriceType
        fields = ["name", "includes_vat", "currency"]


class ItemPriceForm(CatalogForm):
    class Meta:
        model = ItemPrice
        fields = ["item", "price_type", "valid_from", "price"]
        widgets = {"valid_from": forms.DateInput()}


class CashDeskForm(CatalogForm):
    class Meta:
        model = CashDesk
        fields = ["organization", "name", "currency"]


class OrganizationAccountForm(CatalogForm):
    class Meta:
        model = BankAccount
        fields = ["organization", "name", "number", "bik", "bank_name", "correspondent_account"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"].required = True


class CounterpartyAccountForm(CatalogForm):
    class Meta:
        model = BankAccount
        fields = ["counterparty", "name", "number", "bik", "bank_name", "correspondent_account"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["counterparty"].required = True
