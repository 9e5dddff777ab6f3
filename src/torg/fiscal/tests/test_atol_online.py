"""The ATOL Online v5 driver against a local emulator that checks every request against the published format."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from torg.fiscal.atol_format import online_body
from torg.fiscal.devices import Cashier, DeviceRefused, DeviceUnavailable
from torg.fiscal.drivers.atol_online import AtolOnlineDevice
from torg.fiscal.receipts import Operation
from torg.fiscal.tests.atol_servers import AtolOnlineEmulator, sample_receipt, wire

MSK = dt.timezone(dt.timedelta(hours=3))
CALLBACK = "https://erp.example.ru/atol/callback"
TOKEN = "POST /possystem/v5/getToken"
SELL = "POST /possystem/v5/group-1/sell"


def report(document: str) -> str:
    return f"GET /possystem/v5/group-1/report/{document}"


@pytest.fixture
def server() -> Iterator[AtolOnlineEmulator]:
    emulator = AtolOnlineEmulator()
    with emulator:
        yield emulator
    assert emulator.violations == []


def device_for(server: AtolOnlineEmulator, **settings: Any) -> AtolOnlineDevice:
    return AtolOnlineDevice(**{
        "base_url": server.base_url, "login": "shop-login", "password": "shop-pass", "group_code": "group-1",
        "company_inn": "7728123459", "company_email": "shop@example.ru", "callback_url": CALLBACK,
        "timeout_s": 1.0, "poll_interval_s": 0.002, "max_poll_interval_s": 0.01, "request_timeout_s": 0.5,
        **settings})


def calls(server: AtolOnlineEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


def test_a_sale_gets_a_token_is_posted_and_its_report_polled(server: AtolOnlineEmulator) -> None:
    receipt = sample_receipt("r-1", created_at=dt.datetime(2026, 2, 10, 11, 5, tzinfo=dt.UTC))

    result = device_for(server).register(receipt)

    assert calls(server) == [TOKEN, SELL, report("doc-0001"), report("doc-0001")]
    assert server.requests[0].body == {"login": "shop-login", "pass": "shop-pass"}
    assert [r.headers.get("token") for r in server.requests] == [None, "token-1", "token-1", "token-1"]
    posted = server.requests[1].body
    assert posted == wire(online_body(receipt, callback_url=CALLBACK)[1])
    assert posted["timestamp"] == "10.02.2026 14:05:00" and posted["external_id"] == "r-1"
    assert (result.fiscal_document_number, result.fiscal_sign, result.fn_number, result.shift_number,
            result.receipt_number, result.registration_number, result.total, result.ofd_url) == (
        501, "3326875773", "9999078902004387", 23, 21, "0000000003027865", D(3800),
        "https://ofd.example/receipt/doc-0001")
    assert result.registered_at == dt.datetime(2026, 2, 10, 14, 5, 1, tzinfo=MSK)


def test_the_company_comes_from_the_settings_when_the_receipt_has_none(server: AtolOnlineEmulator) -> None:
    device_for(server).register(sample_receipt("r-1", company_inn="", company_email=""))

    assert server.requests[1].body["receipt"]["company"] == {
        "email": "shop@example.ru", "sno": "osn", "inn": "7728123459",
        "payment_address": "г. Москва, ул. Примерная, д. 1", "location": "Доставка курьером"}


@pytest.mark.parametrize(("operation", "path", "document_key"), [
    (Operation.SELL_RETURN, "sell_refund", "receipt"), (Operation.BUY, "buy", "receipt"),
    (Operation.BUY_RETURN, "buy_refund", "receipt"), (Operation.SELL_CORRECTION, "sell_correction", "correction"),
    (Operation.SELL_RETURN_CORRECTION, "sell_refund_correction", "correction"),
])
def test_each_operation_posts_to_its_own_path(server: AtolOnlineEmulator, operation: Operation, path: str,
                                              document_key: str) -> None:
    device_for(server).register(sample_receipt("r-1", operation))

    (posted,) = server.registrations()
    assert posted.path == f"/possystem/v5/group-1/{path}"
    assert document_key in posted.body
    if operation.is_correction:
        assert posted.body["correction"]["correction_info"] == {"type": "self", "base_date": "15.01.2026"}


def test_the_token_is_kept_between_receipts(server: AtolOnlineEmulator) -> None:
    device = device_for(server)

    device.register(sample_receipt("r-1"))
    device.register(sample_receipt("r-2"))

    assert calls(server).count(TOKEN) == 1
    assert len(server.documents) == 2


def test_an_expired_token_is_replaced_when_posting(server: AtolOnlineEmulator) -> None:
    device = device_for(server)
    device.register(sample_receipt("r-1"))
    server.expire_tokens()

    result = device.register(sample_receipt("r-2"))

    assert calls(server)[4:] == [SELL, TOKEN, SELL, report("doc-0002"), report("doc-0002")]
    assert server.requests[6].headers["token"] == "token-2"
    assert result.fiscal_document_number == 502
    assert len(server.documents) == 2


def test_an_expired_token_is_replaced_when_polling(server: AtolOnlineEmulator) -> None:
    device = device_for(server)
    server.polls_before_done = 10_000
    with pytest.raises(DeviceUnavailable):
        device_for(server, timeout_s=0.05).register(sample_receipt("r-1"))
    server.polls_before_done = 0
    first = device.register(sample_receipt("r-1"))  # posted again: ATOL answers with the existing document
    server.expire_tokens()

    again = device.register(sample_receipt("r-1"))  # remembered: only the report is asked for

    assert again == first
    assert calls(server)[-3:] == [report("doc-0001"), TOKEN, report("doc-0001")]
    assert len(server.registrations()) == 2 and len(server.documents) == 1


@pytest.mark.parametrize("duplicate_answer", ["error", "same"])
def test_a_resent_receipt_returns_the_first_document(duplicate_answer: str) -> None:
    with AtolOnlineEmulator(duplicate_answer=duplicate_answer) as server:
        receipt = sample_receipt("r-1")
        device = device_for(server)
        first = device.register(receipt)

        remembered = device.register(receipt)
        after_restart = device_for(server).register(receipt)

    assert remembered == first and after_restart == first
    assert len(server.documents) == 1
    assert len(server.registrations()) == 2  # the restarted driver posted once more and was told the uuid
    assert server.violations == []


def test_a_failed_document_is_refused_with_atols_text(server: AtolOnlineEmulator) -> None:
    server.fail_next(34, "Ошибка ККТ: смена превысила 24 часа")

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(sample_receipt("r-1"))

    assert (refused.value.message, refused.value.code) == ("Ошибка ККТ: смена превысила 24 часа", 34)


def test_wrong_credentials_need_a_person(server: AtolOnlineEmulator) -> None:
    with pytest.raises(DeviceRefused) as refused:
        device_for(server, password="wrong").register(sample_receipt("r-1"))

    assert refused.value.code == 12
    assert refused.value.message == ("ATOL Online did not give a token for the login shop-login: "
                                     "Неверный логин или пароль")
    assert server.registrations() == []


def test_cloud_down_then_back_registers_the_receipt_exactly_once(server: AtolOnlineEmulator) -> None:
    receipt = sample_receipt("r-1")
    device = device_for(server)
    server.go_down("refuse")

    with pytest.raises(DeviceUnavailable) as refused_connection:
        device.register(receipt)
    server.come_back()
    server.go_down("503")
    with pytest.raises(DeviceUnavailable) as unavailable:
        device.register(receipt)
    server.come_back()
    result = device.register(receipt)

    assert "ATOL Online cannot be reached at http://127.0.0.1:" in refused_connection.value.message
    assert unavailable.value.code == 503
    assert result.fiscal_document_number == 501
    assert len(server.documents) == 1


def test_a_document_still_waiting_at_the_deadline_is_unavailable_then_polled(server: AtolOnlineEmulator) -> None:
    device = device_for(server, timeout_s=0.05)
    server.polls_before_done = 10_000

    with pytest.raises(DeviceUnavailable) as unavailable:
        device.register(sample_receipt("r-1"))
    server.polls_before_done = 0
    result = device.register(sample_receipt("r-1"))

    assert unavailable.value.code == "timeout"
    assert result.fiscal_document_number == 501
    assert len(server.registrations()) == 1


def test_shifts_and_the_drawer_are_refused(server: AtolOnlineEmulator) -> None:
    device = device_for(server)
    cashier = Cashier("Иванов И.И.")

    for operation in (device.open_shift, device.close_shift, device.report_x):
        with pytest.raises(DeviceRefused, match="ATOL Online manages shifts itself"):
            operation(cashier)
    for drawer in (device.cash_in, device.cash_out):
        with pytest.raises(DeviceRefused, match="ATOL Online manages shifts itself and has no cash drawer"):
            drawer(D(100), cashier)

    assert server.requests == []


def test_status_is_whether_a_token_can_be_had(server: AtolOnlineEmulator) -> None:
    reachable = device_for(server).status()
    wrong_password = device_for(server, password="wrong").status()
    server.go_down("refuse")
    down = device_for(server).status()

    assert (reachable.reachable, reachable.shift_open, reachable.message) == (
        True, True, "ATOL Online manages shifts itself.")
    assert (wrong_password.reachable, wrong_password.message) == (
        False, "ATOL Online did not give a token for the login shop-login: Неверный логин или пароль")
    assert down.reachable is False and "cannot be reached" in down.message


def test_an_unbalanced_receipt_is_not_sent(server: AtolOnlineEmulator) -> None:
    receipt = sample_receipt("r-1")
    empty = dataclasses.replace(receipt, draft=dataclasses.replace(receipt.draft, lines=()))

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(empty)

    assert refused.value.code == "invalid_receipt"
    assert server.requests == []
