"""Forms of the delivery pages: the catalogs and the trip's header."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from torg.catalogs.forms import CatalogForm
from torg.core.permissions import Role
from torg.delivery.models import Carrier, DeliveryTrip, DeliveryZone, Vehicle
from torg.web.forms import BootstrapMixin


def _couriers() -> Any:
    return get_user_model().objects.filter(is_active=True, groups__name=Role.COURIER).order_by("username").distinct()


class DeliveryZoneForm(CatalogForm):
    class Meta:
        model = DeliveryZone
        fields = ["name", "districts", "polygon", "comment"]
        widgets = {"districts": forms.Textarea(attrs={"rows": 3}),
                   "polygon": forms.Textarea(attrs={"rows": 3, "class": "font-monospace"})}


class CarrierForm(CatalogForm):
    class Meta:
        model = Carrier
        fields = ["name", "phone", "partner", "comment"]
        widgets = {"comment": forms.Textarea(attrs={"rows": 3})}


class VehicleForm(CatalogForm):
    class Meta:
        model = Vehicle
        fields = ["name", "plate", "capacity_kg", "capacity_m3", "carrier", "default_courier"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["default_courier"].queryset = _couriers()


class TripForm(BootstrapMixin, forms.ModelForm):
    version = forms.IntegerField(widget=forms.HiddenInput, required=False)

    class Meta:
        model = DeliveryTrip
        fields = ["trip_date", "vehicle", "courier", "carrier", "warehouse", "comment"]
        widgets = {"trip_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
                   "comment": forms.Textarea(attrs={"rows": 2})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["version"].initial = self.instance.version
        self.fields["courier"].queryset = _couriers()
        self.fields["vehicle"].queryset = Vehicle.objects.filter(deletion_mark=False) | Vehicle.objects.filter(
            pk=self.instance.vehicle_id or 0)
        self.fields["carrier"].queryset = Carrier.objects.filter(deletion_mark=False)

    @property
    def expected_version(self) -> int | None:
        value = self.cleaned_data.get("version")
        return int(value) if value is not None else None
