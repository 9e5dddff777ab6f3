"""Bad input and missing credentials get the one error shape, never a 500."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from torg.core.models import ApiToken, hash_token_key
from torg.core.permissions import Role
from torg.stock.models import Transfer

pytestmark = pytest.mark.django_db


def test_malformed_json_is_422(storekeeper_api: Any) -> None:
    response = storekeeper_api.post("stock/transfers", raw='{"organization": 1,')
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert "not valid JSON" in body["message"]
    assert set(body) == {"code", "message", "fields"}


def test_body_that_is_not_an_object_is_422(storekeeper_api: Any) -> None:
    response = storekeeper_api.post("stock/transfers", [1, 2])
    assert response.status_code == 422
    assert response.json()["code"] == "invalid"


def test_wrong_types_name_the_fields(storekeeper_api: Any, milk: Any) -> None:
    response = storekeeper_api.post("stock/transfers", {
        "organization": "first", "warehouse_from": 1, "warehouse_to": 2, "date": "yesterday",
        "lines": [{"item": milk.pk, "quantity": "a lot"}], "post": "maybe", "colour": "red"})
    assert response.status_code == 422
    fields = response.json()["fields"]
    assert set(fields) == {"organization", "date", "lines.1.quantity", "post", "colour"}
    assert fields["lines.1.quantity"] == ['Give a number, such as "12.5".']
    assert Transfer.objects.count() == 0


def test_wrong_query_parameter_type_is_422(storekeeper_api: Any) -> None:
    response = storekeeper_api.get("stock/transfers?limit=many")
    assert response.status_code == 422
    assert list(response.json()["fields"]) == ["limit"]


def test_unknown_document_is_404(storekeeper_api: Any) -> None:
    for call in (storekeeper_api.get, storekeeper_api.post):
        path = "stock/transfers/987654" if call == storekeeper_api.get else "stock/transfers/987654/post"
        response = call(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"


def test_unknown_reference_in_document_is_a_field_error(storekeeper_api: Any, warehouse: Any, warehouse2: Any,
                                                        milk: Any) -> None:
    response = storekeeper_api.post("stock/transfers", {
        "organization": 999, "warehouse_from": warehouse.pk, "warehouse_to": warehouse2.pk,
        "lines": [{"item": milk.pk, "quantity": "1"}]})
    assert response.status_code == 422
    assert response.json()["fields"] == {
        "organization": ["organization 999 does not exist: give the id of an existing organization."]}


def test_no_token_or_unknown_token_is_401() -> None:
    anonymous = Client().get("/api/v1/stock/transfers")
    assert anonymous.status_code == 401
    assert anonymous.json()["code"] == "not_authenticated"
    assert anonymous["WWW-Authenticate"].startswith("Bearer")
    unknown = Client().get("/api/v1/stock/transfers", HTTP_AUTHORIZATION="Bearer nope")
    assert unknown.status_code == 401


def test_inactive_users_token_is_401(api_for: Any) -> None:
    api = api_for(Role.STOREKEEPER)
    ApiToken.objects.get(key_hash=hash_token_key(api.token)).user.__class__.objects.update(is_active=False)
    assert api.get("stock/transfers").status_code == 401


def test_session_login_is_not_enough_for_the_api(client: Client, role_user: Any) -> None:
    client.force_login(role_user(Role.ADMINISTRATOR))
    assert client.get("/api/v1/catalogs/items").status_code == 401


def test_role_without_the_capability_is_403(api_for: Any) -> None:
    logistician = api_for(Role.LOGISTICIAN)  # plans trips in the pages; no API
    response = logistician.get("stock/transfers")
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert "api.use" in response.json()["message"]


def test_last_used_at_is_written_at_most_once_a_minute(api_for: Any, django_assert_num_queries: Any) -> None:
    api = api_for(Role.STOREKEEPER)
    token = ApiToken.objects.get(key_hash=hash_token_key(api.token))
    assert token.last_used_at is None
    api.get("stock/transfers")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    api.get("stock/transfers")
    token.refresh_from_db()
    assert token.last_used_at == first
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - dt.timedelta(minutes=2))
    api.get("stock/transfers")
    token.refresh_from_db()
    assert token.last_used_at > first - dt.timedelta(seconds=1)
    assert token.last_used_at <= timezone.now()


def test_token_requests_need_no_csrf_token(api_for: Any, unit: Any) -> None:
    api = api_for(Role.ACCOUNTANT)
    client = Client(enforce_csrf_checks=True)
    response = client.post("/api/v1/catalogs/item-groups", '{"name": "Dairy"}', content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {api.token}")
    assert response.status_code == 201, response.content
    assert response.json()["name"] == "Dairy"
