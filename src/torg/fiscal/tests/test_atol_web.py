"""The ATOL Web Server driver against a local emulator that checks every request against the published format."""
from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest

from torg.fiscal.atol_format import dto_task
from torg.fiscal.devices import Cashier, DeviceRefused, DeviceUnavailable
from torg.fiscal.drivers.atol_web import AtolWebServerDevice
from torg.fiscal.receipts import Operation, PaymentSums
from torg.fiscal.tests.atol_servers import AtolWebServerEmulator, sample_receipt, wire

MSK = dt.timezone(dt.timedelta(hours=3))
CASHIER = Cashier("Иванов И.И.", "770123456703")


@pytest.fixture
def server() -> Iterator[AtolWebServerEmulator]:
    emulator = AtolWebServerEmulator()
    with emulator:
        yield emulator
    assert emulator.violations == []


def device_for(server: AtolWebServerEmulator, **settings: Any) -> AtolWebServerDevice:
    return AtolWebServerDevice(**{"base_url": server.base_url, "timeout_s": 1.0, "poll_interval_s": 0.002,
                                  "max_poll_interval_s": 0.01, "request_timeout_s": 0.5, **settings})


def calls(server: AtolWebServerEmulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in server.requests]


def test_a_sale_is_queued_polled_and_registered(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")

    result = device_for(server).register(receipt)

    assert calls(server) == ["GET /api/v2/requests/r-1", "POST /api/v2/requests", "GET /api/v2/requests/r-1",
                             "GET /api/v2/requests/r-1"]
    assert server.requests[1].body == {"uuid": "r-1", "request": [wire(dto_task(receipt))]}
    assert server.requests[1].headers["content-type"] == "application/json; charset=utf-8"
    assert (result.fiscal_document_number, result.fn_number, result.shift_number, result.receipt_number,
            result.registration_number, result.total, result.ofd_url) == (
        101, "9999078900012345", 7, 1, "0000000001002292", D(3800), "www.nalog.gov.ru")
    assert result.fiscal_sign == "0000799819"
    assert result.registered_at == dt.datetime(2026, 2, 10, 14, 5, tzinfo=MSK)
    assert server.state.cash == D(1800)  # 1,000 in the drawer + 800 in cash


@pytest.mark.parametrize(("operation", "task_type"), [
    (Operation.SELL, "sell"), (Operation.SELL_RETURN, "sellReturn"), (Operation.BUY, "buy"),
    (Operation.BUY_RETURN, "buyReturn"), (Operation.SELL_CORRECTION, "sellCorrection"),
    (Operation.SELL_RETURN_CORRECTION, "sellReturnCorrection"),
])
def test_every_receipt_type_reaches_the_register(server: AtolWebServerEmulator, operation: Operation,
                                                 task_type: str) -> None:
    result = device_for(server).register(sample_receipt("r-1", operation))

    (task,) = server.receipt_tasks()
    assert task["type"] == task_type
    if operation.is_correction:
        assert (task["correctionType"], task["correctionBaseDate"]) == ("self", "2026.01.15")
    else:
        assert "correctionType" not in task
    assert result.fiscal_document_number == 101


def test_a_resent_receipt_is_registered_once_and_returns_the_first_result(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    first = device_for(server).register(receipt)

    again = device_for(server).register(receipt)  # e.g. the queue restarted after sending
    once_more = device_for(server).register(receipt)

    assert again == first and once_more == first
    assert server.posts == ["r-1"]
    assert server.state.receipt_number == 1
    assert calls(server)[4:] == ["GET /api/v2/requests/r-1"] * 4  # asked, never posted again


def test_a_conflict_on_post_means_already_queued(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    first = device_for(server).register(receipt)
    server.hide_once.add("r-1")  # another client queued it between our GET and our POST

    again = device_for(server).register(receipt)

    assert again == first
    assert server.posts == ["r-1", "r-1"]  # the second POST answered 409 and was not executed
    assert server.state.receipt_number == 1


def test_a_refusal_carries_the_devices_own_text_and_is_not_retried(server: AtolWebServerEmulator) -> None:
    server.state.shift_open = False
    receipt = sample_receipt("r-1")

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(receipt)
    with pytest.raises(DeviceRefused) as again:
        device_for(server).register(receipt)

    assert (refused.value.message, refused.value.code) == ("Смена закрыта - операция невозможна", 68)
    assert (again.value.message, again.value.code) == ("Смена закрыта - операция невозможна", 68)
    assert server.posts == ["r-1"]
    assert server.state.receipt_number == 0


def test_a_receipt_the_register_rejects(server: AtolWebServerEmulator) -> None:
    server.refuse_next(3828, "Неверная сумма оплаты")

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(sample_receipt("r-1"))

    assert (refused.value.message, refused.value.code) == ("Неверная сумма оплаты", 3828)


def test_server_down_then_back_registers_the_receipt_exactly_once(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    device = device_for(server)
    server.go_down("refuse")

    with pytest.raises(DeviceUnavailable) as unavailable:
        device.register(receipt)
    server.come_back()
    result = device.register(receipt)
    again = device.register(receipt)

    assert "ATOL Web Server cannot be reached at http://127.0.0.1:" in unavailable.value.message
    assert unavailable.value.code == "network"
    assert again == result
    assert server.posts == ["r-1"]
    assert server.state.receipt_number == 1


def test_an_answer_503_is_unavailable(server: AtolWebServerEmulator) -> None:
    server.go_down("503")

    with pytest.raises(DeviceUnavailable) as unavailable:
        device_for(server).register(sample_receipt("r-1"))
    server.come_back()
    device_for(server).register(sample_receipt("r-1"))

    assert unavailable.value.code == 503
    assert server.posts == ["r-1"]


def test_a_slow_server_is_unavailable_and_the_receipt_registers_once_later(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    server.delay_s = 0.2

    with pytest.raises(DeviceUnavailable) as unavailable:
        device_for(server, request_timeout_s=0.05).register(receipt)
    server.delay_s = 0
    result = device_for(server).register(receipt)

    assert "no answer within 0.05 s" in unavailable.value.message
    assert result.fiscal_document_number == 101
    assert server.state.receipt_number == 1


def test_a_task_still_waiting_at_the_deadline_is_unavailable_then_returns_its_result(
        server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    server.polls_before_ready = 10_000  # the register is printing a long queue

    with pytest.raises(DeviceUnavailable) as unavailable:
        device_for(server, timeout_s=0.1).register(receipt)
    server.polls_before_ready = 0
    result = device_for(server).register(receipt)

    assert unavailable.value.code == "timeout"
    assert result.fiscal_document_number == 101
    assert server.posts == ["r-1"]


@pytest.mark.parametrize("status", ["interrupted", "canceled", "blocked"])
def test_a_task_that_did_not_finish_needs_a_person(server: AtolWebServerEmulator, status: str) -> None:
    server.final_statuses.append(status)

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(sample_receipt("r-1"))

    assert refused.value.code == status


def test_an_unbalanced_receipt_is_not_sent(server: AtolWebServerEmulator) -> None:
    receipt = sample_receipt("r-1")
    unbalanced = dataclasses.replace(receipt, draft=dataclasses.replace(
        receipt.draft, payments=PaymentSums(cash=D(800))))

    with pytest.raises(DeviceRefused) as refused:
        device_for(server).register(unbalanced)

    assert refused.value.message == "The receipt was not sent to the register: payments 800 ≠ total 3800."
    assert server.requests == []


def test_shifts_reports_and_the_drawer(server: AtolWebServerEmulator) -> None:
    device = device_for(server)
    device.register(sample_receipt("r-1"))

    closed = device.close_shift(CASHIER)
    opened = device.open_shift(CASHIER)
    device.cash_in(D("5000.00"), CASHIER)
    device.cash_out(D("1200.50"), CASHIER)
    x_report = device.report_x(CASHIER)
    status = device.status()

    assert (closed.shift_number, closed.is_open, closed.receipts, closed.fiscal_document_number) == (7, False, 1, 102)
    assert (opened.shift_number, opened.is_open, opened.fiscal_document_number) == (8, True, 103)
    assert opened.opened_at == dt.datetime(2026, 2, 10, 14, 5, tzinfo=MSK)
    assert (x_report.shift_number, x_report.is_open, x_report.receipts) == (8, True, 0)
    assert (status.reachable, status.shift_open, status.shift_number, status.shift_expired) == (True, True, 8, False)
    assert status.shift_opened_at == dt.datetime(2026, 2, 10, 14, 5, tzinfo=MSK)
    assert server.state.cash == D("1000") + D("800") + D("5000") - D("1200.50")
    bodies = server.posted_bodies()
    assert [[task["type"] for task in body["request"]] for body in bodies] == [
        ["sell"], ["closeShift"], ["openShift"], ["cashIn"], ["cashOut"], ["reportX", "getShiftStatus"],
        ["getDeviceStatus", "getShiftStatus"]]
    assert bodies[1]["request"][0]["operator"] == {"name": "Иванов И.И.", "vatin": "770123456703"}
    assert bodies[3]["request"][0]["cashSum"] == 5000 and bodies[4]["request"][0]["cashSum"] == D("1200.5")
    uuids = [body["uuid"] for body in bodies]
    assert len(set(uuids)) == len(uuids)  # every operation has its own id


def test_the_drawer_refuses_to_pay_out_more_than_it_holds(server: AtolWebServerEmulator) -> None:
    with pytest.raises(DeviceRefused) as refused:
        device_for(server).cash_out(D("1000.01"), CASHIER)

    assert (refused.value.message, refused.value.code) == ("Не хватает наличности в денежном ящике", 70)
    assert server.state.cash == D(1000)


def test_opening_an_open_shift_is_refused_by_the_register(server: AtolWebServerEmulator) -> None:
    with pytest.raises(DeviceRefused) as refused:
        device_for(server).open_shift(CASHIER)

    assert refused.value.message == "Смена открыта - операция невозможна"


def test_basic_auth_is_sent_and_a_wrong_password_needs_a_person() -> None:
    with AtolWebServerEmulator(login="admin", password="s3cret") as server:
        result = device_for(server, login="admin", password="s3cret").register(sample_receipt("r-1"))
        with pytest.raises(DeviceRefused) as refused:
            device_for(server, login="admin", password="wrong").register(sample_receipt("r-2"))
        status = device_for(server, login="admin", password="wrong").status()

    assert result.fiscal_document_number == 101
    assert server.requests[0].headers["authorization"] == "Basic YWRtaW46czNjcmV0"
    assert refused.value.code == 401
    assert "did not accept the login and password (HTTP 401)" in refused.value.message
    assert (status.reachable, status.message) == (False, refused.value.message)
    assert server.violations == []


def test_status_of_a_server_that_is_down(server: AtolWebServerEmulator) -> None:
    server.go_down("refuse")

    status = device_for(server).status()

    assert status.reachable is False
    assert "ATOL Web Server cannot be reached" in status.message
