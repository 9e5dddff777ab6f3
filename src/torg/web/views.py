"""Pages of the web shell: home, error pages, users and roles, API tokens, system settings."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy
from django.views.decorators.http import require_POST

from torg.core.errors import CoreError
from torg.core.models import ApiToken, SystemSettings
from torg.core.permissions import Cap, Role, capabilities
from torg.web import services
from torg.web.access import requires
from torg.web.forms import SettingsForm, TokenForm, UserForm
from torg.web.listing import Column, Filter, ListConfig, render_list


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # A courier works from the phone: their start page is the phone workplace, not the desktop shell.
    if capabilities(request.user) - {Cap.API} == {Cap.DELIVERY_COURIER}:
        return redirect("courier:trips")
    return render(request, "web/home.html")


# ---------------------------------------------------------------- users
def _role_labels(user: User) -> str:
    names = {g.name for g in user.groups.all()}
    return ", ".join(str(label) for value, label in Role.choices if value in names)


USERS = ListConfig(
    model=User,
    title=gettext_lazy("Users"),
    columns=(
        Column("username", gettext_lazy("Login"), link=True),
        Column("last_name", pgettext_lazy("person", "Name"), value=lambda u: u.get_full_name()),
        Column("email", gettext_lazy("E-mail")),
        Column("roles", gettext_lazy("Roles"), sortable=False, value=_role_labels),
        Column("is_active", gettext_lazy("Active")),
        Column("last_login", gettext_lazy("Last login")),
    ),
    search_fields=("username", "first_name", "last_name", "email"),
    filters=(Filter("is_active", gettext_lazy("Active")),
             Filter("groups__name", gettext_lazy("Role"), kind="choice", choices=lambda: Role.choices)),
    ordering=("username",),
    row_url=lambda u: reverse("user_edit", args=[u.pk]),
    create_url_name="user_new",
    queryset=lambda: User.objects.prefetch_related("groups"),
)


@requires(Cap.USERS_MANAGE)
def user_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, USERS)


def _user_page(request: HttpRequest, user: User, form: UserForm, status: int = 200, new_key: str = "") -> HttpResponse:
    tokens = list(user.api_tokens.order_by("-created_at")) if user.pk else []
    return render(request, "web/user_edit.html", {
        "edited": user, "form": form, "tokens": tokens, "token_form": TokenForm(), "new_key": new_key,
        "title": user.get_username() if user.pk else _("New user"),
    }, status=status)


def _save_user(request: HttpRequest, user: User) -> HttpResponse:
    form = UserForm(request.POST, instance=user)
    if form.is_valid():
        is_new = user.pk is None
        try:
            saved = services.save_user(form.save(commit=False), form.cleaned_data["roles"],
                                       form.cleaned_data["password"])
        except CoreError as exc:
            form.add_error(None, exc.message)
            return _user_page(request, user, form)
        messages.success(request, (_("User %(name)s created.") if is_new else _("User %(name)s saved."))
                         % {"name": saved.get_username()})
        return HttpResponseRedirect(reverse("user_edit", args=[saved.pk]))
    return _user_page(request, user, form)


@requires(Cap.USERS_MANAGE)
def user_new(request: HttpRequest) -> HttpResponse:
    user = User()
    if request.method == "POST":
        return _save_user(request, user)
    return _user_page(request, user, UserForm(instance=user))


@requires(Cap.USERS_MANAGE)
def user_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    if request.method == "POST":
        return _save_user(request, user)
    return _user_page(request, user, UserForm(instance=user))


@requires(Cap.USERS_MANAGE)
@require_POST
def token_issue(request: HttpRequest, pk: int) -> HttpResponse:
    user = get_object_or_404(User, pk=pk)
    form = TokenForm(request.POST)
    name = form.cleaned_data["name"] if form.is_valid() else ""
    _token, key = services.issue_token(user, name)
    messages.success(request, _("A new API token was issued. Copy it now: it is shown only on this page."))
    return _user_page(request, user, UserForm(instance=user), new_key=key)


@requires(Cap.USERS_MANAGE)
@require_POST
def token_revoke(request: HttpRequest, pk: int, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user_id=pk)
    services.revoke_token(token)
    messages.success(request, _("The API token “%(name)s” was revoked.") % {"name": token.name or token.prefix})
    return HttpResponseRedirect(reverse("user_edit", args=[pk]))


token_issue.post_only = True  # type: ignore[attr-defined]
token_revoke.post_only = True  # type: ignore[attr-defined]


# ---------------------------------------------------------------- settings
@requires(Cap.SETTINGS_MANAGE)
def system_settings(request: HttpRequest) -> HttpResponse:
    current = SystemSettings.get()
    form = SettingsForm(request.POST or None, instance=current)
    if request.method == "POST" and form.is_valid():
        services.set_period_lock_date(form.cleaned_data["period_lock_date"], form.cleaned_data["company_name"],
                                      request.user)
        messages.success(request, _("Settings saved."))
        return HttpResponseRedirect(reverse("settings"))
    context: dict[str, Any] = {"form": form, "title": _("Settings")}
    return render(request, "web/settings.html", context)
