"""Helpers for the order-to-cash API tests: requests with an Idempotency-Key, and the sales area's fixtures
(a client, an agreement with a 30/40/30 schedule, prices, stock, a till) made available to `api/tests`."""
from __future__ import annotations

import json
from typing import Any

from torg.api.tests.conftest import Api
from torg.sales.tests import conftest as sales_fixtures

# The sales area's fixtures, visible to a test module that assigns them (pytest finds fixtures among a module's
# names): `agreement = sales_helpers.agreement`.
FIXTURES = ("client_partner", "price_type", "schedule", "agreement", "prices", "cash_desk", "bank_account",
            "stocked", "director")
fixtures = {name: getattr(sales_fixtures, name) for name in FIXTURES}

ORDER_DAY = "2026-03-10"


def send(api: Api, method: str, path: str, body: Any = None, *, key: str | None = None,
         raw: str | None = None) -> Any:
    """A request with the token and, when given, an `Idempotency-Key` header."""
    url = path if path.startswith("/") else f"/api/v1/{path}"
    headers: dict[str, str] = {"HTTP_AUTHORIZATION": f"Bearer {api.token}"} if api.token else {}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    data = raw if raw is not None else (json.dumps(body) if body is not None else None)
    handler = getattr(api.client, method.lower())
    if data is not None:
        return handler(url, data, content_type="application/json", **headers)
    return handler(url, **headers)


def order_body(organization: Any, client: Any, agreement: Any, warehouse: Any, lines: list[dict[str, Any]],
               **extra: Any) -> dict[str, Any]:
    return {"organization": organization.pk, "partner": client.pk, "agreement": agreement.pk,
            "warehouse": warehouse.pk, "date": f"{ORDER_DAY}T10:00:00", "lines": lines, **extra}


def ok(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return response.json()  # type: ignore[no-any-return]
