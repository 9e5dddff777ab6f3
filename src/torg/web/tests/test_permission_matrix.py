"""Permission matrix: every page of the project for anonymous, a role without the capability, and one with it.

The pages are found by walking the URL resolver, so pages added later are covered
without touching this file. A page declares what it needs with `@requires(...)`
(`torg.web.access`), which exposes `required_capabilities` (and `write_capabilities`
for POST). A non-API page without that declaration fails `test_every_page_declares_capabilities`.

For patterns with arguments an object is created when a factory is known (catalog
entries, users); otherwise a missing id is used and the role with the capability
must get 404 — the permission check still runs before the lookup.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from torg.catalogs import models as cm
from torg.core.models import ApiToken
from torg.core.permissions import ROLE_CAPS, Role

pytestmark = pytest.mark.django_db

# Pages anyone may open (log in, log out, language switch, the home page that needs only a login).
PUBLIC = {"login", "logout", "set_language", "home"}
SKIP_PREFIXES = ("api/", "static/", "media/", "__debug__/")
MISSING_ID = 987654


@dataclass(frozen=True)
class Page:
    route: str  # "catalogs/items/<int:pk>/"
    name: str  # "catalogs:items_edit"
    view: Callable[..., Any]

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(getattr(self.view, "required_capabilities", ()))

    @property
    def write(self) -> tuple[str, ...]:
        return tuple(getattr(self.view, "write_capabilities", ()))

    @property
    def post_only(self) -> bool:
        return bool(getattr(self.view, "post_only", False))

    @property
    def args(self) -> list[str]:
        return re.findall(r"<(?:\w+:)?(\w+)>", self.route)


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> Iterator[Page]:
    for p in resolver.url_patterns:
        route = prefix + str(p.pattern)
        if isinstance(p, URLResolver):
            ns = f"{namespace}{p.namespace}:" if p.namespace else namespace
            yield from _walk(p, route, ns)
        elif isinstance(p, URLPattern):
            yield Page(route, f"{namespace}{p.name}" if p.name else route, p.callback)


def pages() -> list[Page]:
    return [p for p in _walk(get_resolver()) if not p.route.startswith(SKIP_PREFIXES)
            and not p.route.startswith("^")]


PAGES = pages()
PROTECTED = [p for p in PAGES if p.name not in PUBLIC]


# ---------------------------------------------------------------- objects for patterns with arguments
def _unit() -> cm.Unit:
    return cm.Unit.objects.get_or_create(code="796", defaults={"name": "шт"})[0]


def _org() -> cm.Organization:
    return cm.Organization.objects.get_or_create(name="Org", defaults={"prefix": "OR", "inn": "7707083893",
                                                                       "kpp": "773601001"})[0]


def _partner() -> cm.Partner:
    return cm.Partner.objects.get_or_create(name="Partner")[0]


def _counterparty() -> cm.Counterparty:
    return cm.Counterparty.objects.get_or_create(partner=_partner(), name="CP")[0]


def _item() -> cm.Item:
    return cm.Item.objects.get_or_create(name="Item", defaults={"unit": _unit()})[0]


def _price_type() -> cm.PriceType:
    return cm.PriceType.objects.get_or_create(name="Retail")[0]


CATALOG_FACTORIES: dict[str, Callable[[], Any]] = {
    "organizations": _org,
    "partners": _partner,
    "counterparties": _counterparty,
    "contacts": lambda: cm.Contact.objects.create(partner=_partner(), name="Contact"),
    "addresses": lambda: cm.DeliveryAddress.objects.create(partner=_partner(), address="Moscow"),
    "items": _item,
    "item_groups": lambda: cm.ItemGroup.objects.create(name="Group"),
    "units": _unit,
    "warehouses": lambda: cm.Warehouse.objects.create(name="WH"),
    "price_types": _price_type,
    "prices": lambda: cm.ItemPrice.objects.create(item=_item(), price_type=_price_type(),
                                                  valid_from="2024-01-01", price=1),
    "cash_desks": lambda: cm.CashDesk.objects.create(organization=_org(), name="Till"),
    "organization_accounts": lambda: cm.BankAccount.objects.create(organization=_org(), number="1" * 20,
                                                                   bik="044525225"),
    "counterparty_accounts": lambda: cm.BankAccount.objects.create(counterparty=_counterparty(), number="2" * 20,
                                                                   bik="044525225"),
}


def _bank_statement() -> Any:
    from torg.payments.models import BankStatement

    return BankStatement.objects.create(file_name="kl_to_1c.txt", sha256="0" * 64)


def _bank_line() -> Any:
    import datetime as dt

    from torg.payments.models import BankStatementLine, LineDirection

    account = cm.BankAccount.objects.create(organization=_org(), number="3" * 20, bik="044525225")
    return BankStatementLine.objects.create(
        statement=_bank_statement(), source_line=12, organization=_org(), bank_account=account,
        direction=LineDirection.IN, number="1", date=dt.date(2026, 3, 10), posting_date=dt.date(2026, 3, 10),
        amount=100, dedup_key="matrix")


def _vehicle() -> Any:
    from torg.delivery.models import Vehicle

    return Vehicle.objects.get_or_create(name="Van", defaults={"capacity_kg": 100})[0]


def _trip() -> Any:
    import datetime as dt

    from torg.delivery.services import create_trip

    return create_trip(dt.date(2026, 3, 10), _vehicle())


def _delivery_zone() -> Any:
    from torg.delivery.models import DeliveryZone

    return DeliveryZone.objects.create(name="Centre", polygon=[[0, 0], [0, 1], [1, 1]])


def _carrier() -> Any:
    from torg.delivery.models import Carrier

    return Carrier.objects.create(name="Carrier")


# Pages of other areas whose pattern takes an object: the object to open.
PAGE_FACTORIES: dict[str, Callable[[], Any]] = {
    "payments:bank_statement": _bank_statement,
    "payments:bank_line": _bank_line,
    "delivery:trip_detail": _trip,
    "delivery:route_sheet": _trip,
    "delivery:zone_edit": _delivery_zone,
    "delivery:vehicle_edit": _vehicle,
    "delivery:carrier_edit": _carrier,
}


def _user_with_token() -> dict[str, int]:
    user = User.objects.create_user("target")
    return {"pk": user.pk, "token_id": ApiToken.issue(user)[0].pk}


def url_kwargs(page: Page) -> tuple[dict[str, Any], bool]:
    """Arguments for the page's pattern, and whether they point to a real object."""
    if not page.args:
        return {}, True
    match = re.fullmatch(r"catalogs:(\w+)_(edit|mark)", page.name)
    if match and match.group(1) in CATALOG_FACTORIES:
        return {"pk": CATALOG_FACTORIES[match.group(1)]().pk}, True
    if page.name in PAGE_FACTORIES and page.args == ["pk"]:
        return {"pk": PAGE_FACTORIES[page.name]().pk}, True
    if page.name in {"user_edit", "token_issue", "token_revoke"}:
        kwargs = _user_with_token()
        return {k: v for k, v in kwargs.items() if k in page.args}, True
    return {name: MISSING_ID for name in page.args}, False


def build_url(page: Page, kwargs: dict[str, Any]) -> str:
    route = re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(kwargs[m.group(1)]), page.route)
    return "/" + route


def _user(caps_wanted: tuple[str, ...], have: bool, name: str) -> User | None:
    """A user whose role has (or lacks at least one of) the capabilities."""
    roles = sorted(Role.values, key=lambda r: (r == Role.ADMINISTRATOR, len(ROLE_CAPS[r])))
    for role in roles:
        has_all = all(c in ROLE_CAPS[role] for c in caps_wanted)
        if has_all == have:
            user = User.objects.create_user(name)
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            return user
    return None


# ---------------------------------------------------------------- the tests
def test_the_walk_finds_the_known_pages() -> None:
    names = {p.name for p in PAGES}
    assert {"home", "login", "logout", "set_language", "user_list", "settings", "catalogs:items_list",
            "catalogs:partners_edit", "catalogs:organization_accounts_new", "payments:bank_statements",
            "payments:bank_line", "payments:bank_export"} <= names
    assert not any(p.route.startswith("api/") for p in PAGES)


def test_every_page_declares_capabilities() -> None:
    undeclared = sorted(p.name for p in PROTECTED if not p.required)
    assert undeclared == [], f"pages without @requires(...): {undeclared}"


@pytest.mark.parametrize("page", PROTECTED, ids=lambda p: p.name)
def test_anonymous_is_sent_to_login(client: Client, page: Page) -> None:
    kwargs, _real = url_kwargs(page)
    url = build_url(page, kwargs)
    response = client.post(url) if page.post_only else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


@pytest.mark.parametrize("page", PROTECTED, ids=lambda p: p.name)
def test_role_without_the_capability_gets_403(client: Client, page: Page) -> None:
    if not page.required:
        pytest.fail(f"{page.name} declares no capability")
    user = _user(page.required, have=False, name="wrong") or User.objects.create_user("no_role")
    client.force_login(user)
    kwargs, _real = url_kwargs(page)
    url = build_url(page, kwargs)
    response = client.post(url) if page.post_only else client.get(url)
    assert response.status_code == 403


def _lookers(page: Page) -> list[str]:
    """Roles that may open the page but not change what it shows."""
    return [r for r in Role.values if all(c in ROLE_CAPS[r] for c in page.required)
            and not all(c in ROLE_CAPS[r] for c in page.write)]


# Pages where every role that may look may also change have no such role to try: they are not listed.
@pytest.mark.parametrize("page", [p for p in PROTECTED if p.write and _lookers(p)], ids=lambda p: p.name)
def test_role_that_may_look_but_not_change_gets_403_on_post(client: Client, page: Page) -> None:
    user = User.objects.create_user("looker")
    user.groups.add(Group.objects.get_or_create(name=_lookers(page)[0])[0])
    client.force_login(user)
    kwargs, _real = url_kwargs(page)
    before = _snapshot_catalogs()
    response = client.post(build_url(page, kwargs), {"name": "Changed"})
    assert response.status_code == 403
    assert _snapshot_catalogs() == before


def _snapshot_catalogs() -> list[Any]:
    return [list(m.objects.order_by("pk").values()) for m in
            (cm.Partner, cm.Item, cm.Organization, cm.Counterparty, cm.Contact, cm.Warehouse, cm.BankAccount)]


@pytest.mark.parametrize("page", PROTECTED, ids=lambda p: p.name)
def test_role_with_the_capability_gets_the_page(client: Client, page: Page) -> None:
    user = _user(page.required, have=True, name="right")
    assert user is not None
    client.force_login(user)
    kwargs, real = url_kwargs(page)
    response = client.get(build_url(page, kwargs))
    if page.post_only:
        assert response.status_code == 405
    elif real:
        assert response.status_code == 200
    else:
        assert response.status_code == 404
