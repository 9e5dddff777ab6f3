"""Driver of a cash register behind an ATOL Web Server: ATOL Driver 10 (ДТО) JSON tasks over HTTP.

Protocol (integrations.md §2.1 tasks, §2.2 Web Server, §2.4 worked examples):

- `POST {base_url}/api/v2/requests` with `{"uuid": "<id>", "request": [<task>, …]}` queues the tasks, executed in
  order; the server answers 201 (409 when the uuid is already queued).
- `GET {base_url}/api/v2/requests/<id>` answers `{"results": [{"status", "errorCode", "errorDescription",
  "result"}, …]}`, one entry per task, with status `wait`, `inProgress`, `ready`, `error`, `interrupted`,
  `blocked` or `canceled`; 404 for an unknown uuid. (integrations.md marks this shape and status list
  unconfirmed.)
- HTTP Basic auth when the server has it enabled; default port 16732.

How torg uses it:

- A receipt is sent under its own uuid (`DeviceReceipt.uuid`), which makes the request idempotent: before
  POSTing, the driver asks for that uuid and, if the server knows it, waits for that request's result instead of
  sending it again. A receipt is never POSTed twice, so it is never printed twice; the same uuid returns the first
  result (or the first refusal: retrying a refused receipt needs a new uuid).
- The driver polls with a short back-off (`poll_interval_s`, growing ×1.5 up to `max_poll_interval_s`) until no
  task is waiting or in progress, for at most `timeout_s`.
- Not reachable, a timeout, an HTTP 5xx, or a task still waiting at the deadline → `DeviceUnavailable` (the queue
  tries again later with the same uuid). A task in `error` → `DeviceRefused` with the device's `errorDescription`
  and `errorCode`; `interrupted`, `blocked`, `canceled`, a rejected login or another 4xx → `DeviceRefused` with our
  own message.
- Shift, drawer and status operations are sent with fresh uuids: openShift, closeShift, reportX (+
  getShiftStatus), cashIn, cashOut (`cashSum`), getDeviceStatus + getShiftStatus for `status()`.

Only the standard library is used (`urllib.request`); `JsonHttp` is shared with the ATOL Online driver.
"""
from __future__ import annotations

import base64
import ipaddress
import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from http.client import HTTPException
from typing import Any

from django.utils.translation import gettext as _

from torg.fiscal.atol_format import (
    device_status_from_dto,
    dto_cash_in,
    dto_cash_out,
    dto_close_shift,
    dto_open_shift,
    dto_query,
    dto_report_x,
    dto_task,
    fiscal_result_from_dto,
    has_fiscal_params,
    shift_report_from_dto,
)
from torg.fiscal.devices import (
    Cashier,
    DeviceError,
    DeviceReceipt,
    DeviceRefused,
    DeviceStatus,
    DeviceUnavailable,
    FiscalResult,
    ShiftReport,
)

PENDING_STATUSES = frozenset({"wait", "inProgress"})


# --- HTTP with JSON, standard library only ----------------------------------------------------------------------------

@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: Any  # the parsed JSON, or None when the answer was not JSON
    text: str

    @property
    def is_server_error(self) -> bool:
        return self.status >= 500


def _is_loopback(url: str) -> bool:
    host = urllib.parse.urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class JsonHttp:
    """Sends a JSON request and returns the status and the parsed answer; the network's failures (refused, reset,
    timed out, DNS) become `DeviceUnavailable`. HTTP error statuses are returned, not raised: what they mean
    depends on the protocol."""

    def __init__(self, *, service: str, request_timeout_s: float, login: str = "", password: str = "") -> None:
        self.service = service
        self.request_timeout_s = request_timeout_s
        self._authorization = ""
        if login or password:
            token = base64.b64encode(f"{login}:{password}".encode()).decode("ascii")
            self._authorization = f"Basic {token}"

    def request(self, method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> HttpAnswer:
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json; charset=utf-8")
        if self._authorization:
            request.add_header("Authorization", self._authorization)
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        # A device on this machine is reached directly even when the environment names a proxy.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}) if _is_loopback(url)
                                             else urllib.request.ProxyHandler())
        try:
            with opener.open(request, timeout=self.request_timeout_s) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status = error.code
            try:
                raw = error.read()
            except (OSError, HTTPException):
                raw = b""
        except (urllib.error.URLError, OSError, HTTPException) as error:
            reason = getattr(error, "reason", None) or error
            if isinstance(reason, TimeoutError):
                reason = _("no answer within %(seconds)s s") % {"seconds": self.request_timeout_s}
            raise DeviceUnavailable(_("%(service)s cannot be reached at %(url)s: %(reason)s") % {
                "service": self.service, "url": url, "reason": reason}, code="network") from error
        text = raw.decode("utf-8", errors="replace")
        try:
            parsed = json.loads(text) if text.strip() else None
        except ValueError:
            parsed = None
        return HttpAnswer(status=status, body=parsed, text=text)


class Deadline:
    """The time left for one operation, and the growing pause between two polls."""

    def __init__(self, timeout_s: float, first_pause_s: float, max_pause_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._end = clock() + timeout_s
        self._pause = first_pause_s
        self._max_pause = max(max_pause_s, first_pause_s)

    @property
    def passed(self) -> bool:
        return self._clock() >= self._end

    def sleep(self) -> None:
        time.sleep(max(0.0, min(self._pause, self._end - self._clock())))
        self._pause = min(self._pause * 1.5, self._max_pause)


# --- the driver -------------------------------------------------------------------------------------------------------

class AtolWebServerDevice:
    """A cash register reached through an ATOL Web Server (`FiscalDevice`)."""

    service_name = "ATOL Web Server"

    def __init__(self, *, base_url: str, login: str = "", password: str = "", timeout_s: float = 60.0,
                 poll_interval_s: float = 0.5, max_poll_interval_s: float = 2.0,
                 request_timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.http = JsonHttp(service=self.service_name, request_timeout_s=request_timeout_s, login=login,
                             password=password)

    # FiscalDevice ------------------------------------------------------------------------------------------------

    def register(self, receipt: DeviceReceipt) -> FiscalResult:
        """Registers the receipt under its uuid, or returns what the server did with that uuid before."""
        problems = receipt.draft.problems()
        if problems:
            raise DeviceRefused(_("The receipt was not sent to the register: %(problems)s.") % {
                "problems": "; ".join(problems)}, code="invalid_receipt")
        task = dto_task(receipt)
        deadline = self._deadline()
        if self._fetch(receipt.uuid) is None:
            self._submit(receipt.uuid, [task])
        result = self._wait(receipt.uuid, deadline)[0].get("result")
        if not has_fiscal_params(result):
            raise DeviceRefused(_("The register finished the receipt without its fiscal data (fiscalParams); "
                                  "check the register's journal before sending it again."), code="no_fiscal_params")
        return fiscal_result_from_dto(result)

    def status(self) -> DeviceStatus:
        try:
            device, shift = self._run([dto_query("getDeviceStatus"), dto_query("getShiftStatus")])
        except DeviceError as error:
            return DeviceStatus(reachable=False, message=error.message)
        return device_status_from_dto(device, shift)

    def open_shift(self, cashier: Cashier) -> ShiftReport:
        (result,) = self._run([dto_open_shift(cashier)])
        return shift_report_from_dto("openShift", result)

    def close_shift(self, cashier: Cashier) -> ShiftReport:
        (result,) = self._run([dto_close_shift(cashier)])
        return shift_report_from_dto("closeShift", result)

    def report_x(self, cashier: Cashier) -> ShiftReport:
        report, shift = self._run([dto_report_x(cashier), dto_query("getShiftStatus")])
        return shift_report_from_dto("reportX", report, shift)

    def cash_in(self, amount: Decimal, cashier: Cashier) -> None:
        self._check_amount(amount)
        self._run([dto_cash_in(amount, cashier)])

    def cash_out(self, amount: Decimal, cashier: Cashier) -> None:
        self._check_amount(amount)
        self._run([dto_cash_out(amount, cashier)])

    # protocol ----------------------------------------------------------------------------------------------------

    def _deadline(self) -> Deadline:
        return Deadline(self.timeout_s, self.poll_interval_s, self.max_poll_interval_s)

    def _url(self, request_uuid: str = "") -> str:
        url = f"{self.base_url}/api/v2/requests"
        return f"{url}/{urllib.parse.quote(request_uuid, safe='')}" if request_uuid else url

    @staticmethod
    def _check_amount(amount: Decimal) -> None:
        if amount <= 0:
            raise DeviceRefused(_("The amount must be positive; %(amount)s is not.") % {"amount": amount},
                                code="invalid_amount")

    def _run(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Sends tasks under a fresh uuid and returns each task's `result` (empty dict when it has none)."""
        request_uuid = str(uuid_module.uuid4())
        deadline = self._deadline()
        self._submit(request_uuid, tasks)
        return [entry.get("result") or {} for entry in self._wait(request_uuid, deadline)]

    def _refuse_http(self, answer: HttpAnswer) -> DeviceError:
        if answer.is_server_error:
            return DeviceUnavailable(_("%(service)s answered HTTP %(status)s; it will be asked again later.") % {
                "service": self.service_name, "status": answer.status}, code=answer.status)
        if answer.status in (401, 403):
            return DeviceRefused(_("%(service)s did not accept the login and password (HTTP %(status)s); check "
                                   "them in the cash register's settings.") % {
                "service": self.service_name, "status": answer.status}, code=answer.status)
        return DeviceRefused(_("%(service)s answered HTTP %(status)s: %(text)s") % {
            "service": self.service_name, "status": answer.status, "text": answer.text.strip()[:500]},
            code=answer.status)

    def _fetch(self, request_uuid: str) -> list[dict[str, Any]] | None:
        """The request's task results, or None when the server does not know the uuid."""
        answer = self.http.request("GET", self._url(request_uuid))
        if answer.status == 404:
            return None
        if answer.status != 200:
            raise self._refuse_http(answer)
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
        if not isinstance(results, list) or not all(isinstance(entry, dict) for entry in results):
            raise DeviceUnavailable(_("%(service)s gave an answer that is not a list of results: %(text)s") % {
                "service": self.service_name, "text": answer.text.strip()[:200]}, code="bad_answer")
        return results

    def _submit(self, request_uuid: str, tasks: list[dict[str, Any]]) -> None:
        answer = self.http.request("POST", self._url(), {"uuid": request_uuid, "request": tasks})
        if answer.status in (200, 201, 409):  # 409: already queued under this uuid — its result will come
            return
        raise self._refuse_http(answer)

    def _wait(self, request_uuid: str, deadline: Deadline) -> list[dict[str, Any]]:
        """Polls until no task waits; raises for the first task that did not succeed."""
        while True:
            results = self._fetch(request_uuid)
            if results is None:
                raise DeviceUnavailable(_("%(service)s does not know the request %(uuid)s it has accepted; it will "
                                          "be asked again later.") % {"service": self.service_name,
                                                                      "uuid": request_uuid}, code="lost")
            if results and not any(entry.get("status") in PENDING_STATUSES for entry in results):
                break
            if deadline.passed:
                raise DeviceUnavailable(_("The register has not finished the task within %(seconds)s s; it will be "
                                          "asked again with the same id.") % {"seconds": self.timeout_s},
                                        code="timeout")
            deadline.sleep()
        for entry in results:
            status = entry.get("status")
            if status == "ready":
                continue
            if status == "error":
                description = str(entry.get("errorDescription") or "").strip()
                raise DeviceRefused(description or _("The register refused the task (error %(code)s).") % {
                    "code": entry.get("errorCode")}, code=entry.get("errorCode"))
            if status == "blocked":
                message = _("The ATOL Web Server's queue is blocked by an earlier failed task; a person must "
                            "resolve it on the server.")
            elif status == "canceled":
                message = _("The task was cancelled on the ATOL Web Server.")
            elif status == "interrupted":
                message = _("The register was interrupted during the task; check its journal before sending the "
                            "receipt again.")
            else:
                message = _("The ATOL Web Server reported an unknown task status: %(status)s.") % {"status": status}
            raise DeviceRefused(message, code=str(status))
        return results
