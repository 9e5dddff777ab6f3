"""Fixtures for API tests: a client that sends a user's bearer token and JSON bodies."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client

from torg.core.models import ApiToken
from torg.core.permissions import Role


@dataclass
class Api:
    client: Client
    token: str | None

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def call(self, method: str, path: str, body: Any = None, *, raw: str | None = None) -> Any:
        url = path if path.startswith("/") else f"/api/v1/{path}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        kwargs: dict[str, Any] = {"content_type": "application/json"} if data is not None else {}
        handler = getattr(self.client, method.lower())
        if data is not None:
            return handler(url, data, **kwargs, **self._headers())
        return handler(url, **self._headers())

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def post(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Any:
        return self.call("PATCH", path, body, **kw)


@pytest.fixture
def api_for(role_user: Any) -> Any:
    """`api_for(Role.X)`: a client authenticated with a fresh token of a user in that role (None: anonymous)."""
    counter = {"n": 0}

    def make(role: str | None, *, anonymous: bool = False) -> Api:
        if anonymous:
            return Api(Client(), None)
        counter["n"] += 1
        user = role_user(role, f"api_{role or 'none'}_{counter['n']}")
        return Api(Client(), ApiToken.issue(user, "test")[1])

    return make


@pytest.fixture
def accountant_api(api_for: Any) -> Api:
    return api_for(Role.ACCOUNTANT)


@pytest.fixture
def storekeeper_api(api_for: Any) -> Api:
    return api_for(Role.STOREKEEPER)
