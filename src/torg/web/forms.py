"""Forms of the web shell (users, settings) and the Bootstrap styling every torg form shares."""
from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from torg.core.models import SystemSettings
from torg.core.permissions import Role


class BootstrapMixin:
    """Gives every widget its Bootstrap class; fields with errors get `is-invalid`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        self.style_widgets()

    def style_widgets(self) -> None:
        for field in self.fields.values():  # type: ignore[attr-defined]
            widget = field.widget
            if isinstance(widget, (forms.CheckboxInput, forms.CheckboxSelectMultiple, forms.RadioSelect)):
                css = "form-check-input"
            elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
                css = "form-select"
            else:
                css = "form-control"
            if isinstance(widget, forms.DateInput):
                widget.input_type = "date"
                widget.format = "%Y-%m-%d"
            if css:
                widget.attrs["class"] = (widget.attrs.get("class", "") + " " + css).strip()

    def full_clean(self) -> None:
        super().full_clean()  # type: ignore[misc]
        if self.is_bound:  # type: ignore[attr-defined]
            for name in self.errors:  # type: ignore[attr-defined]
                if name in self.fields:  # type: ignore[attr-defined]
                    widget = self.fields[name].widget  # type: ignore[attr-defined]
                    if "is-invalid" not in widget.attrs.get("class", ""):
                        widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()


class UserForm(BootstrapMixin, forms.ModelForm):
    roles = forms.MultipleChoiceField(label=_("Roles"), choices=Role.choices, required=False,
                                      widget=forms.CheckboxSelectMultiple)
    password = forms.CharField(
        label=_("New password"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Leave empty to keep the current password."),
    )

    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "is_active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = list(self.instance.groups.values_list("name", flat=True))
        else:
            self.fields["password"].required = True
            self.fields["password"].help_text = _("At least 6 characters.")

    def clean_password(self) -> str:
        password = self.cleaned_data.get("password") or ""
        if password:
            validate_password(password, self.instance)
        return password


class SettingsForm(BootstrapMixin, forms.ModelForm):
    class Meta:
        model = SystemSettings
        fields = ["company_name", "period_lock_date", "receipts_at_delivery"]
        widgets = {"period_lock_date": forms.DateInput()}


class TokenForm(BootstrapMixin, forms.Form):
    name = forms.CharField(label=_("Token name"), max_length=100, required=False,
                           help_text=_("What the token is for, e.g. “online store exchange”."))
