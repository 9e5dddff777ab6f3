"""The web shell: login, navigation per role, language switch, error pages, users, tokens, settings."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from torg.core.models import ApiToken, SystemSettings, hash_token_key
from torg.core.permissions import Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def english(settings: Any) -> None:
    settings.LANGUAGE_CODE = "en"


def _menu(response: Any) -> dict[str, list[str]]:
    return {str(s["title"]): [str(e["title"]) for e in s["entries"]] for s in response.context["nav_menu"]}


def test_login_page_logs_in_and_goes_home(client: Client, role_user: Any) -> None:
    role_user(Role.STOREKEEPER, "keeper")
    page = client.get(reverse("login"))
    wrong = client.post(reverse("login"), {"username": "keeper", "password": "nope"})
    right = client.post(reverse("login"), {"username": "keeper", "password": "pass12345"})

    assert page.status_code == 200 and 'name="username"' in page.content.decode()
    assert "The login or the password is wrong" in wrong.content.decode()
    assert (right.status_code, right["Location"]) == (302, reverse("home"))


def test_anonymous_home_redirects_to_login(client: Client) -> None:
    response = client.get("/")
    assert (response.status_code, response["Location"]) == (302, "/login/?next=/")


def test_logout_is_a_post_form(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.CASHIER))
    html = client.get("/").content.decode()
    assert f'action="{reverse("logout")}" method="post"' in html
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert client.get("/").status_code == 302


def test_navigation_differs_per_role(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    admin_menu = _menu(client.get("/"))
    client.force_login(role_user(Role.CASHIER))
    cashier_menu = _menu(client.get("/"))
    client.force_login(role_user(Role.COURIER))
    courier_home = client.get("/")

    assert admin_menu["Administration"] == ["Users and roles", "Settings"]
    assert "Items" in admin_menu["Catalogs"] and "Partners" in admin_menu["Catalogs"]
    assert "Administration" not in cashier_menu and "Items" in cashier_menu["Catalogs"]
    # A courier's start page is the phone workplace, not the desktop shell.
    assert courier_home.status_code == 302 and courier_home["Location"] == "/courier/"


def test_shell_shows_user_name_and_roles(client: Client, role_user: Any) -> None:
    user = role_user(Role.ACCOUNTANT, "acc")
    user.first_name, user.last_name = "Мария", "Иванова"
    user.save()
    client.force_login(user)
    html = client.get("/").content.decode()
    assert "Мария Иванова" in html and "Accountant" in html


def test_language_switch_changes_the_next_page_language(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.CASHIER))
    assert client.get("/").context["LANGUAGE_CODE"] == "en"

    response = client.post(reverse("set_language"), {"language": "ru", "next": "/"})
    page = client.get("/")

    assert (response.status_code, response["Location"]) == (302, "/")
    assert page.context["LANGUAGE_CODE"] == "ru"
    assert '<html lang="ru">' in page.content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert client.get("/").context["LANGUAGE_CODE"] == "en"


def test_403_and_404_pages_look_like_the_app(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.CASHIER))
    forbidden = client.get(reverse("user_list"))
    missing = client.get("/no-such-page/")
    assert forbidden.status_code == 403 and "You have no access to this page" in forbidden.content.decode()
    assert missing.status_code == 404 and "Page not found" in missing.content.decode()
    assert 'class="navbar' in forbidden.content.decode() and 'class="navbar' in missing.content.decode()


def test_messages_are_shown_as_alerts(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    response = client.post(reverse("settings"), {"company_name": "torg", "period_lock_date": ""}, follow=True)
    assert 'class="alert alert-success' in response.content.decode() and "Settings saved." in response.content.decode()


# ---------------------------------------------------------------- users
def test_create_user_with_roles_and_password(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    response = client.post(reverse("user_new"), {
        "username": "olga", "first_name": "Ольга", "last_name": "Кузнецова", "email": "olga@example.ru",
        "is_active": "on", "roles": [Role.CASHIER, Role.STOREKEEPER], "password": "secret123"})
    olga = User.objects.get(username="olga")
    assert response.status_code == 302
    assert sorted(olga.groups.values_list("name", flat=True)) == ["cashier", "storekeeper"]
    assert olga.check_password("secret123") and olga.is_active


def test_user_list_shows_roles_and_filters_by_role(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR, "boss"))
    role_user(Role.CASHIER, "kassa")
    rows = client.get(reverse("user_list"), {"groups__name": "cashier"}).context["listing"].rows
    assert [(r.obj.username, r.cells[3].value) for r in rows] == [("kassa", "Cashier")]


def test_edit_user_changes_roles_keeps_password_when_empty(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    target = role_user(Role.CASHIER, "ivan")
    client.post(reverse("user_edit", args=[target.pk]), {
        "username": "ivan", "is_active": "on", "roles": [Role.COURIER], "password": ""})
    target.refresh_from_db()
    assert list(target.groups.values_list("name", flat=True)) == ["courier"]
    assert target.check_password("pass12345")


def test_short_password_is_refused(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    response = client.post(reverse("user_new"), {"username": "x", "roles": [], "password": "123"})
    assert response.context["form"].errors["password"] == [
        "This password is too short. It must contain at least 6 characters."]
    assert not User.objects.filter(username="x").exists()


def test_issue_and_revoke_api_token(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    target = role_user(Role.STOREKEEPER, "api")
    issued = client.post(reverse("token_issue", args=[target.pk]), {"name": "1C exchange"}).content.decode()
    token = ApiToken.objects.get(user=target)
    keys = set(re.findall(r"\b[0-9a-f]{40}\b", issued))
    assert len(keys) == 1, "the new key is shown once on the page"
    key = keys.pop()
    # Only the key's hash and first characters are stored.
    assert token.name == "1C exchange"
    assert (token.key_hash, token.prefix) == (hash_token_key(key), key[:6])
    assert key not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert client.get("/api/v1/catalogs/units", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    page = client.get(reverse("user_edit", args=[target.pk])).content.decode()
    assert key not in page and f"{key[:6]}…" in page

    client.post(reverse("token_revoke", args=[target.pk, token.pk]))
    assert ApiToken.objects.count() == 0
    assert client.get("/api/v1/catalogs/units", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_settings_page_sets_the_period_lock_date(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ACCOUNTANT))
    client.post(reverse("settings"), {"company_name": "Ромашка", "period_lock_date": "2025-03-31"})
    settings = SystemSettings.get()
    assert (settings.period_lock_date, settings.company_name) == (dt.date(2025, 3, 31), "Ромашка")
