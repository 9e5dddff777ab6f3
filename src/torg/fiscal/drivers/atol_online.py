"""Driver of an ATOL Online v5 cloud cash register group (ФФД 1.2).

Protocol (integrations.md §2.3 API, §2.4 worked examples, §1.5 corrections):

- `POST {base_url}/getToken` with `{"login", "pass"}` → `{"error": null, "token", "timestamp"}`. The token is
  kept and sent in the `Token` header; it is replaced after HTTP 401 or an error code of a missing/expired token
  (10, 11: the codes of v4, **unconfirmed** for v5), and the call is repeated once.
- `POST {base_url}/{group_code}/{operation}` (sell, sell_refund, buy, buy_refund, sell_correction, …) with the
  body of `atol_format.online_body()`; `external_id` is the receipt's uuid → `{"uuid", "status": "wait",
  "error": null, "timestamp"}`.
- `GET {base_url}/{group_code}/report/{uuid}` → `{"status": "wait" | "done" | "fail", "error": {code, text,
  type} | null, "payload": {…fiscal data…}}`, polled with a back-off (`poll_interval_s` ×1.5 up to
  `max_poll_interval_s`) for at most `timeout_s`.

Idempotency: the same `external_id` must not make a second document. The driver remembers, for the life of the
process, which document uuid each receipt got, and polls it instead of posting again. After a restart the
receipt is posted again: ATOL Online then answers with the existing document — either a normal answer carrying its
uuid or the error "a receipt with this external_id exists" (code 33 in v4, **unconfirmed** for v5) carrying the
uuid; both are followed to that document's report. Such an error without a uuid is refused with a message that
says so (a person looks the receipt up in the ATOL Online account).

Errors: not reachable, timeouts, HTTP 5xx, a report still `wait` at the deadline → `DeviceUnavailable`; a `fail`
report → `DeviceRefused` with ATOL's `error.text` and `error.code`; a rejected login or a refused request (4xx with
an error) → `DeviceRefused`. ATOL Online manages shifts itself and has no cash drawer: the shift and drawer
operations are refused, and `status()` says whether a token can be obtained.
"""
from __future__ import annotations

import dataclasses
import threading
import urllib.parse
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext as _

from torg.fiscal.atol_format import fiscal_result_from_online, online_body
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
from torg.fiscal.drivers.atol_web import Deadline, HttpAnswer, JsonHttp

DEFAULT_BASE_URL = "https://online.atol.ru/possystem/v5"
TOKEN_ERROR_CODES = frozenset({10, 11})  # missing token, expired or unknown token (v4 numbering)
EXISTING_EXTERNAL_ID_CODE = 33


def _error(body: Any) -> dict[str, Any] | None:
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, dict) else None


def _error_code(body: Any) -> int | str | None:
    error = _error(body)
    if error is None:
        return None
    code = error.get("code")
    try:
        return int(code)
    except (TypeError, ValueError):
        return code


def _error_text(answer: HttpAnswer) -> str:
    error = _error(answer.body)
    text = str(error.get("text") or "").strip() if error else ""
    return text or answer.text.strip()[:500]


class AtolOnlineDevice:
    """An ATOL Online v5 group of cloud registers (`FiscalDevice`)."""

    service_name = "ATOL Online"

    def __init__(self, *, login: str, password: str, group_code: str, base_url: str = DEFAULT_BASE_URL,
                 company_inn: str = "", company_email: str = "", callback_url: str = "", source: str = "",
                 timeout_s: float = 60.0, poll_interval_s: float = 1.0, max_poll_interval_s: float = 5.0,
                 request_timeout_s: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.login = login
        self.password = password
        self.group_code = group_code
        self.company_inn = company_inn
        self.company_email = company_email
        self.callback_url = callback_url
        self.source = source
        self.timeout_s = timeout_s
        self.poll_interval_s = poll_interval_s
        self.max_poll_interval_s = max_poll_interval_s
        self.http = JsonHttp(service=self.service_name, request_timeout_s=request_timeout_s)
        self._token = ""
        self._lock = threading.Lock()
        self._documents: dict[str, str] = {}  # external_id (the receipt's uuid) → ATOL's document uuid

    # FiscalDevice ------------------------------------------------------------------------------------------------

    def register(self, receipt: DeviceReceipt) -> FiscalResult:
        """Registers the receipt under `external_id` = its uuid, or follows the document made for it before."""
        problems = receipt.draft.problems()
        if problems:
            raise DeviceRefused(_("The receipt was not sent to the register: %(problems)s.") % {
                "problems": "; ".join(problems)}, code="invalid_receipt")
        receipt = dataclasses.replace(receipt, company_inn=receipt.company_inn or self.company_inn,
                                      company_email=receipt.company_email or self.company_email)
        operation, body = online_body(receipt, callback_url=self.callback_url)
        deadline = Deadline(self.timeout_s, self.poll_interval_s, self.max_poll_interval_s)
        document_uuid = self._documents.get(receipt.uuid)
        if document_uuid is None:
            document_uuid = self._submit(operation, body)
            self._documents[receipt.uuid] = document_uuid
        return fiscal_result_from_online(self._wait(document_uuid, deadline))

    def status(self) -> DeviceStatus:
        try:
            self._new_token()
        except DeviceError as error:
            return DeviceStatus(reachable=False, message=error.message)
        return DeviceStatus(reachable=True, shift_open=True, message=_("ATOL Online manages shifts itself."))

    def open_shift(self, cashier: Cashier) -> ShiftReport:
        raise self._no_shifts()

    def close_shift(self, cashier: Cashier) -> ShiftReport:
        raise self._no_shifts()

    def report_x(self, cashier: Cashier) -> ShiftReport:
        raise self._no_shifts()

    def cash_in(self, amount: Decimal, cashier: Cashier) -> None:
        raise self._no_drawer()

    def cash_out(self, amount: Decimal, cashier: Cashier) -> None:
        raise self._no_drawer()

    # protocol ----------------------------------------------------------------------------------------------------

    @staticmethod
    def _no_shifts() -> DeviceRefused:
        return DeviceRefused(_("ATOL Online manages shifts itself: shifts are not opened, closed or reported from "
                               "torg for this register."), code="not_supported")

    @staticmethod
    def _no_drawer() -> DeviceRefused:
        return DeviceRefused(_("ATOL Online manages shifts itself and has no cash drawer: cash in and cash out are "
                               "not recorded on this register."), code="not_supported")

    def _url(self, *parts: str) -> str:
        return "/".join([self.base_url, *(urllib.parse.quote(part, safe="") for part in parts)])

    def _unavailable(self, answer: HttpAnswer) -> DeviceUnavailable:
        return DeviceUnavailable(_("%(service)s answered HTTP %(status)s; it will be asked again later.") % {
            "service": self.service_name, "status": answer.status}, code=answer.status)

    def _new_token(self) -> str:
        credentials = {"login": self.login, "pass": self.password}
        if self.source:
            credentials["source"] = self.source
        answer = self.http.request("POST", self._url("getToken"), credentials)
        if answer.is_server_error:
            raise self._unavailable(answer)
        token = answer.body.get("token") if isinstance(answer.body, dict) else None
        if answer.status != 200 or _error(answer.body) is not None or not isinstance(token, str) or not token:
            raise DeviceRefused(_("%(service)s did not give a token for the login %(login)s: %(text)s") % {
                "service": self.service_name, "login": self.login, "text": _error_text(answer)},
                code=_error_code(answer.body) or answer.status)
        with self._lock:
            self._token = token
        return token

    def _call(self, method: str, url: str, body: Any = None) -> HttpAnswer:
        """A request with the token; a rejected token is replaced once."""
        with self._lock:
            token = self._token
        for attempt in range(2):
            if not token:
                token = self._new_token()
            answer = self.http.request(method, url, body, headers={"Token": token})
            if answer.status != 401 and _error_code(answer.body) not in TOKEN_ERROR_CODES:
                return answer
            if attempt == 0:
                with self._lock:
                    if self._token == token:
                        self._token = ""
                token = ""
        raise DeviceRefused(_("%(service)s does not accept a fresh token: %(text)s") % {
            "service": self.service_name, "text": _error_text(answer)}, code=_error_code(answer.body) or 401)

    def _submit(self, operation: str, body: dict[str, Any]) -> str:
        """Posts the document and returns its uuid (the existing document's, when the external_id is known)."""
        answer = self._call("POST", self._url(self.group_code, operation), body)
        if answer.is_server_error:
            raise self._unavailable(answer)
        document_uuid = answer.body.get("uuid") if isinstance(answer.body, dict) else None
        code = _error_code(answer.body)
        if code == EXISTING_EXTERNAL_ID_CODE:
            if isinstance(document_uuid, str) and document_uuid:
                return document_uuid
            raise DeviceRefused(_("%(service)s already has a receipt with the id %(id)s but did not say which "
                                  "document it is; find it in the ATOL Online account. %(text)s") % {
                "service": self.service_name, "id": body.get("external_id"), "text": _error_text(answer)},
                code=code)
        if answer.status == 200 and code is None and isinstance(document_uuid, str) and document_uuid:
            return document_uuid
        if answer.status == 200 and code is None:
            raise DeviceUnavailable(_("%(service)s accepted the receipt without giving its document id: "
                                      "%(text)s") % {"service": self.service_name, "text": answer.text[:200]},
                                    code="bad_answer")
        raise DeviceRefused(_error_text(answer), code=code if code is not None else answer.status)

    def _wait(self, document_uuid: str, deadline: Deadline) -> dict[str, Any]:
        url = self._url(self.group_code, "report", document_uuid)
        while True:
            answer = self._call("GET", url)
            if answer.is_server_error:
                raise self._unavailable(answer)
            report = answer.body if isinstance(answer.body, dict) else {}
            status = report.get("status")
            if answer.status == 200 and status == "done":
                return report
            if status == "fail":
                error = _error(report) or {}
                raise DeviceRefused(str(error.get("text") or "").strip() or _error_text(answer),
                                    code=_error_code(report))
            if answer.status not in (200, 404):  # 404: not in the report store yet
                raise DeviceRefused(_error_text(answer), code=_error_code(report) or answer.status)
            if deadline.passed:
                raise DeviceUnavailable(_("%(service)s has not registered the receipt within %(seconds)s s; it "
                                          "will be asked again with the same id.") % {
                    "service": self.service_name, "seconds": self.timeout_s}, code="timeout")
            deadline.sleep()
