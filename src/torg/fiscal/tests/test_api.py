"""Receipts through the REST API: filters, every tag with its value, the device's answer; retry and cancel;
refusals answered 4xx with field errors; the capabilities."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.test import Client

from torg.core.models import ApiToken
from torg.core.permissions import Role
from torg.fiscal.models import CashRegister, FiscalReceipt, ReceiptStatus
from torg.fiscal.queue import drain

D = Decimal
pytestmark = pytest.mark.django_db


@pytest.fixture
def api(role_user):
    counter = {"n": 0}

    def make(role):
        counter["n"] += 1
        user = role_user(role, f"api_{role}_{counter['n']}")
        token = ApiToken.issue(user, "test")[1]
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")

        def call(method, path, body=None):
            kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
            return getattr(client, method)(f"/api/v1/{path}", **kwargs)

        return call

    return make


def test_list_filter_and_read_with_tags(api, register, make_order, pay, client_partner, organization):
    order = make_order()
    payment = pay(client_partner, "2000.00", {order: "2000.00"})
    advance = pay(client_partner, "500.00", organization=organization)
    drain(register.pk)
    call = api(Role.ACCOUNTANT)
    page = call("get", f"fiscal/receipts?order={order.pk}").json()
    assert page["count"] == 1
    (receipt,) = page["results"]
    assert receipt["payment"] == payment.pk and receipt["orders"] == [order.pk]
    assert receipt["status"] == "registered" and receipt["device"]["fiscal_document_number"] == 2
    tags = receipt["tags"]
    assert (tags["1054"], D(tags["1031"]), D(tags["1020"])) == (1, D("2000.00"), D("2000.00"))
    assert [(ln["1214"], ln["1212"], ln["1199"]) for ln in tags["1059"]] == [(1, 1, 12), (1, 1, 12)]
    assert D(tags["1059"][0]["1200"]) == D("180.33")  # 1000.00 × 22/122
    by_payment = call("get", f"fiscal/receipts?payment={advance.pk}").json()["results"]
    assert [r["tags"]["1059"][0]["1214"] for r in by_payment] == [3]
    assert call("get", "fiscal/receipts?status=failed").json()["count"] == 0
    assert call("get", f"fiscal/receipts?cash_register={register.pk}&shift=1").json()["count"] == 2
    assert call("get", f"fiscal/receipts/{receipt['id']}").json()["uuid"] == receipt["uuid"]
    assert call("get", "fiscal/receipts/987654").status_code == 404
    assert call("get", "fiscal/receipts?status=nonsense").status_code == 422
    registers = call("get", "fiscal/registers").json()
    assert [(r["id"], r["waiting"], r["failed"]) for r in registers] == [(register.pk, 0, 0)]


def test_retry_and_cancel(api, register, make_order, pay, client_partner):
    CashRegister.objects.filter(pk=register.pk).update(payments_address="")
    order = make_order()
    pay(client_partner, "100.00", {order: "100.00"})
    pay(client_partner, "200.00", {order: "200.00"})
    drain(register.pk)
    first, second = FiscalReceipt.objects.order_by("pk")
    assert first.status == second.status == ReceiptStatus.FAILED
    call = api(Role.ACCOUNTANT)
    refused = call("post", f"fiscal/receipts/{first.pk}/cancel", {"reason": ""})
    assert refused.status_code == 422 and "reason" in refused.json()["fields"]
    assert call("post", f"fiscal/receipts/{first.pk}/cancel", {"reason": "printed by hand"}).json()["status"] == \
        "cancelled"
    CashRegister.objects.filter(pk=register.pk).update(payments_address="Москва")
    assert call("post", f"fiscal/receipts/{second.pk}/retry").json()["status"] == "queued"
    drain(register.pk)
    again = call("post", f"fiscal/receipts/{second.pk}/retry")
    assert again.status_code in (409, 422) and "registered" in again.json()["message"]


def test_capabilities(api, register):
    assert api(Role.SALES_MANAGER)("get", "fiscal/receipts").status_code == 200
    assert api(Role.SALES_MANAGER)("post", "fiscal/receipts/1/retry").status_code == 403
    assert api(Role.STOREKEEPER)("get", "fiscal/receipts").status_code == 403
    assert Client().get("/api/v1/fiscal/receipts").status_code == 401
