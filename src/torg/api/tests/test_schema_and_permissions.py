"""The OpenAPI schema, the docs page, and the permission matrix of every operation in the schema.

Each operation publishes the capabilities it needs as `x-capabilities`; the matrix walks the
schema, so operations added later are covered without touching this file.
"""
from __future__ import annotations

import re
from functools import cache
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from torg.core.models import ApiToken
from torg.core.permissions import ROLE_CAPS, Cap, Role

pytestmark = pytest.mark.django_db

FAKE_ID = 987654
ALLOWED_FOR_RIGHT_ROLE = {200, 201, 404, 409, 422}


@cache
def operations() -> list[tuple[str, str, tuple[str, ...]]]:
    from torg.api.api import api

    schema = api.get_openapi_schema()
    result = []
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            result.append((method.upper(), path, tuple(op["x-capabilities"])))
    return result


def _url(path: str) -> str:
    return re.sub(r"\{\w+\}", str(FAKE_ID), path)


def _role_with(capabilities: tuple[str, ...]) -> str:
    """A role that has the capabilities, preferring one that is not the administrator."""
    roles = [r for r in Role if r != Role.ADMINISTRATOR and set(capabilities) <= ROLE_CAPS[r]]
    return roles[0] if roles else Role.ADMINISTRATOR


def _roles_without(capabilities: tuple[str, ...]) -> list[str]:
    return [r for r in Role if not set(capabilities) <= ROLE_CAPS[r]]


def _token(role: str) -> str:
    """A token of a user in the role (no password: hashing one per user would make the matrix slow)."""
    user, created = User.objects.get_or_create(username=f"matrix_{role}")
    if created:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return ApiToken.issue(user)[1]


def _call(client: Client, method: str, url: str, token: str | None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if method in {"POST", "PUT", "PATCH"}:
        return getattr(client, method.lower())(url, "{}", content_type="application/json", **headers)
    return getattr(client, method.lower())(url, **headers)


def test_openapi_schema_loads_and_lists_stock_endpoints(client: Client) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    paths = schema["paths"]
    for kind in ("opening-balances", "purchases", "transfers", "write-offs", "surpluses", "stock-counts"):
        assert set(paths[f"/api/v1/stock/{kind}"]) == {"get", "post"}
        assert set(paths[f"/api/v1/stock/{kind}/{{pk}}"]) == {"get", "put"}
        assert "get" in paths[f"/api/v1/stock/{kind}/{{pk}}/movements"]
    assert "post" in paths["/api/v1/stock/transfers/{pk}/post"]
    assert "post" in paths["/api/v1/stock/transfers/{pk}/unpost"]
    assert "post" in paths["/api/v1/stock/stock-counts/{pk}/fill"]
    assert "post" in paths["/api/v1/stock/stock-counts/{pk}/complete"]
    assert schema["components"]["securitySchemes"] == {"TokenAuth": {"type": "http", "scheme": "bearer"}}
    assert paths["/api/v1/stock/transfers"]["post"]["security"] == [{"TokenAuth": []}]


def test_every_operation_declares_capabilities_including_api() -> None:
    assert len(operations()) > 50
    for method, path, caps in operations():
        assert caps[0] == Cap.API, (method, path)
        assert len(caps) >= 2, (method, path)


def test_docs_page_loads_nothing_from_outside(client: Client) -> None:
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(s.startswith("/api/v1/docs/assets/") for s in sources)
    for source in sources:
        asset = client.get(source)
        assert asset.status_code == 200, source
        b"".join(asset.streaming_content)
    assert client.get("/api/v1/docs/assets/..%2Fapi.py").status_code == 404
    init = client.get("/api/v1/docs/assets/swagger-ui-init.js")
    assert b"http" not in b"".join(init.streaming_content)


@pytest.mark.parametrize(("method", "path", "caps"), operations(), ids=lambda v: v if isinstance(v, str) else "")
def test_permission_matrix(method: str, path: str, caps: tuple[str, ...]) -> None:
    url = _url(path)
    client = Client()

    anonymous = _call(client, method, url, None)
    assert anonymous.status_code == 401, (method, path)
    assert anonymous.json()["code"] == "not_authenticated"

    for role in _roles_without(caps):
        response = _call(client, method, url, _token(role))
        assert response.status_code == 403, (method, path, role)
        assert response.json()["code"] == "forbidden"

    right = _call(client, method, url, _token(_role_with(caps)))
    assert right.status_code in ALLOWED_FOR_RIGHT_ROLE, (method, path, right.status_code, right.content)
    if method == "GET":
        assert right.status_code == (404 if "{" in path else 200), (method, path)
