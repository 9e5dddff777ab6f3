"""One error shape for every API response that refuses something.

    {"code": "shortage", "message": "Line 1: Not enough “Milk 1L” at Central: need 5, have 2",
     "fields": {"lines.1.quantity": ["..."]}}

`details` is added where a refusal carries structured data (the shortfalls of a
shortage, the dependent documents). Each exception the API can meet is turned
into this shape by `install_handlers`; a 500 is always a bug.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError

from torg.core.errors import CoreError, ErrorCode

logger = logging.getLogger("torg.api")


class ApiCode:
    """Codes the API adds to the engine's `ErrorCode`s."""

    NOT_AUTHENTICATED = "not_authenticated"  # no token, or an unknown / revoked one
    NOT_FOUND = "not_found"  # the id in the path does not exist
    CONFLICT = "conflict"  # the database refused a write that raced with another one
    INTERNAL = "internal_error"  # a bug: never expected


# Refusals caused by the state of the data rather than by the request itself. Besides the engine's codes: the
# sales area's (`torg.sales.services`: payment terms not met, credit limit or overdue debt, shipping more than
# ordered) and a reused idempotency key (`torg.api.idempotency`). The sales `agreement` code stays 422: it names
# the field to correct.
CONFLICT_CODES = frozenset({
    ErrorCode.SHORTAGE, ErrorCode.CONCURRENT_EDIT, ErrorCode.PERIOD_LOCKED, ErrorCode.HAS_DEPENDENTS,
    ErrorCode.DELETION_MARKED, ErrorCode.NOT_POSTED, ErrorCode.ALREADY_POSTED,
    "payment_terms", "credit_limit", "beyond_order", "idempotency_key_reused",
    # the courier's: the trip is not on route, stops still pending — the state, not the request, is wrong
    "delivery_not_on_route", "delivery_stops_pending", "delivery_wrong_status",
})


def status_for(code: str) -> int:
    if code in CONFLICT_CODES:
        return 409
    if code == ErrorCode.FORBIDDEN:
        return 403
    return 422


class ErrorOut(Schema):
    code: str
    message: str
    fields: dict[str, list[str]] = {}
    details: list[dict[str, Any]] | None = None


# Documented on every operation, so clients see the error shape in the schema.
ERROR_RESPONSES: dict[int, type[Schema]] = {401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut,
                                             422: ErrorOut}


class ApiForbidden(Exception):
    """The token is valid but its user's role lacks a capability."""

    def __init__(self, missing: Iterable[str]):
        self.missing = list(missing)
        super().__init__(", ".join(self.missing))


class NotFound(Exception):
    """An id in the path does not exist."""

    def __init__(self, what: str, pk: Any):
        self.what = what
        self.pk = pk
        super().__init__(f"{what} {pk}")


class MalformedBody(ValueError):
    """The request body is not valid JSON (raised by the parser, wrapped by ninja into HttpError 400)."""


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None,
               details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": str(code), "message": str(message), "fields": fields or {}}
    if details:
        body["details"] = details
    return body


# Pydantic's messages are English and technical; the common ones get a translatable message saying what is right.
def _type_messages() -> dict[str, str]:
    return {
        "missing": _("This field is required."),
        "extra_forbidden": _("Unknown field: remove it or check its spelling."),
        "int_parsing": _("Give a whole number."),
        "int_type": _("Give a whole number."),
        "int_from_float": _("Give a whole number."),
        "decimal_parsing": _("Give a number, such as \"12.5\"."),
        "decimal_type": _("Give a number, such as \"12.5\"."),
        "float_parsing": _("Give a number, such as \"12.5\"."),
        "bool_parsing": _("Give true or false."),
        "bool_type": _("Give true or false."),
        "string_type": _("Give a text string."),
        "list_type": _("Give a list."),
        "dict_type": _("Give an object."),
        "model_type": _("Give an object."),
        "model_attributes_type": _("Give an object."),
        "datetime_parsing": _("Give a date and time in ISO 8601, such as \"2025-03-01T10:00:00\"."),
        "datetime_from_date_parsing": _("Give a date and time in ISO 8601, such as \"2025-03-01T10:00:00\"."),
        "datetime_type": _("Give a date and time in ISO 8601, such as \"2025-03-01T10:00:00\"."),
        "date_parsing": _("Give a date in ISO 8601, such as \"2025-03-01\"."),
        "date_from_datetime_parsing": _("Give a date in ISO 8601, such as \"2025-03-01\"."),
        "date_type": _("Give a date in ISO 8601, such as \"2025-03-01\"."),
    }


def field_name(loc: Iterable[Any]) -> str:
    """("body", "payload", "lines", 0, "quantity") → "lines.1.quantity" (lines, payment stages — every entry
    of a list — are numbered from 1, like the services number them)."""
    parts = list(loc)
    if parts and parts[0] in {"body", "query", "path", "header", "cookie", "form"}:
        source = parts.pop(0)
        if source == "body" and parts:
            parts.pop(0)  # the name of the body parameter
    names: list[str] = []
    for i, part in enumerate(parts):
        if isinstance(part, int) and i > 0:
            names.append(str(part + 1))
        else:
            names.append(str(part))
    return ".".join(names) or "__all__"


def _validation_message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        return _("Choose one of: %(choices)s.") % {"choices": expected}
    if kind == "string_too_long":
        return _("At most %(n)s characters.") % {"n": error.get("ctx", {}).get("max_length", "")}
    ctx = error.get("ctx", {})
    bounds = {
        "greater_than": (_("Give a number greater than %(n)s."), "gt"),
        "greater_than_equal": (_("Give a number of at least %(n)s."), "ge"),
        "less_than": (_("Give a number less than %(n)s."), "lt"),
        "less_than_equal": (_("Give a number of at most %(n)s."), "le"),
        "decimal_max_digits": (_("At most %(n)s digits in all."), "max_digits"),
        "decimal_max_places": (_("At most %(n)s digits after the decimal point."), "decimal_places"),
    }
    if kind in ("too_short", "string_too_short"):
        n = int(ctx.get("min_length") or 0)
        if kind == "too_short":
            return ngettext("Give at least %(n)s entry.", "Give at least %(n)s entries.", n) % {"n": n}
        return ngettext("At least %(n)s character.", "At least %(n)s characters.", n) % {"n": n}
    if kind in bounds:
        template, name = bounds[kind]
        return template % {"n": ctx.get(name, "")}
    return _type_messages().get(kind, str(error.get("msg", "")))


def fields_from_ninja(errors: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(field_name(error.get("loc", ())), []).append(_validation_message(error))
    return fields


def fields_from_django(exc: DjangoValidationError) -> dict[str, list[str]]:
    if hasattr(exc, "error_dict"):
        return {k: [str(m) for e in v for m in e.messages] for k, v in exc.error_dict.items()}
    return {"__all__": [str(m) for m in exc.messages]}


def _first(fields: dict[str, list[str]]) -> str:
    for name, messages in fields.items():
        if messages:
            return f"{name}: {messages[0]}" if name != "__all__" else messages[0]
    return ""


def install_handlers(api: NinjaAPI) -> None:
    """Turn every exception an operation can raise into the one error shape."""

    def respond(request: HttpRequest, status: int, body: dict[str, Any]) -> HttpResponse:
        response = api.create_response(request, body, status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="torg"'
        return response

    def on_core_error(request: HttpRequest, exc: CoreError) -> HttpResponse:
        details: list[dict[str, Any]] | None = None
        shortfalls = getattr(exc, "shortfalls", None)
        if shortfalls:
            details = [
                {"register": s.register.label, **{k: v for k, v in s.names.items()}, "resource": s.resource,
                 "need": str(s.need), "have": str(s.have), "lines": list(s.line_nos)}
                for s in shortfalls
            ]
        elif exc.extra.get("dependents"):
            details = [{"document": d} for d in exc.extra["dependents"]]
        elif exc.extra.get("problems"):  # shipping beyond orders: one sentence per order line
            details = [{"problem": str(p)} for p in exc.extra["problems"]]
        return respond(request, status_for(exc.code), error_body(exc.code, exc.message, exc.fields, details))

    def on_ninja_validation(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        fields = fields_from_ninja(exc.errors)
        message = _("The request has invalid fields: %(first)s") % {"first": _first(fields)}
        return respond(request, 422, error_body(ErrorCode.INVALID, message, fields))

    def on_django_validation(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        fields = fields_from_django(exc)
        message = _("Check the entry: %(first)s") % {"first": _first(fields)}
        return respond(request, 422, error_body(ErrorCode.INVALID, message, fields))

    def on_not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
        if isinstance(exc, NotFound):
            message = _("%(what)s %(pk)s does not exist: check the id.") % {"what": exc.what, "pk": exc.pk}
        else:
            message = _("The requested object does not exist: check the id.")
        return respond(request, 404, error_body(ApiCode.NOT_FOUND, message))

    def on_authentication(request: HttpRequest, exc: Exception) -> HttpResponse:
        message = _("Authentication required: send the header \"Authorization: Bearer <token>\" "
                    "with a valid API token (issued on the user's page).")
        return respond(request, 401, error_body(ApiCode.NOT_AUTHENTICATED, message))

    def on_forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
        missing = getattr(exc, "missing", [])
        if missing:
            message = _("Your role does not allow this: it needs the capability %(caps)s. "
                        "Ask an administrator for a role that has it.") % {"caps": ", ".join(missing)}
        else:
            message = _("Your role does not allow this. Ask an administrator for a role that does.")
        return respond(request, 403, error_body(ErrorCode.FORBIDDEN, message))

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, MalformedBody) or exc.status_code == 400:
            detail = str(exc.__cause__) if exc.__cause__ else str(exc)
            message = _("The request body is not valid JSON (%(detail)s): send a JSON object.") % {"detail": detail}
            return respond(request, 422, error_body(ErrorCode.INVALID, message, {"__all__": [message]}))
        if exc.status_code == 401:
            return on_authentication(request, exc)
        if exc.status_code == 403:
            return on_forbidden(request, exc)
        return respond(request, exc.status_code, error_body(str(exc.status_code), str(exc)))

    def on_integrity(request: HttpRequest, exc: IntegrityError) -> HttpResponse:
        message = _("The database refused the change because it conflicts with data saved at the same time. "
                    "Reload the entry and try again.")
        logger.warning("integrity error in API: %s", exc)
        return respond(request, 409, error_body(ApiCode.CONFLICT, message))

    def on_out_of_range(request: HttpRequest, exc: Exception) -> HttpResponse:
        # A number or date the request gave that no column or calculation can hold (an id of 30 digits, a price
        # of 10^30, a date in year 9999 plus a credit term, a NUL character for PostgreSQL): the request is wrong.
        logger.warning("out-of-range value in API %s %s: %r", request.method, request.path, exc)
        message = _("A number, date or text in the request is out of the range the system can hold. "
                    "Check the values and send them again.")
        return respond(request, 422, error_body(ErrorCode.INVALID, message, {"__all__": [message]}))

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        logger.exception("unexpected error in API %s %s", request.method, request.path)
        message = _("An unexpected error occurred; it has been logged. Please report it with the time of the request.")
        return respond(request, 500, error_body(ApiCode.INTERNAL, message))

    api.add_exception_handler(CoreError, on_core_error)
    api.add_exception_handler(NinjaValidationError, on_ninja_validation)
    api.add_exception_handler(DjangoValidationError, on_django_validation)
    api.add_exception_handler(NotFound, on_not_found)
    api.add_exception_handler(ObjectDoesNotExist, on_not_found)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(ApiForbidden, on_forbidden)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(IntegrityError, on_integrity)
    api.add_exception_handler(ArithmeticError, on_out_of_range)  # OverflowError, decimal.InvalidOperation
    api.add_exception_handler(DataError, on_out_of_range)
    api.add_exception_handler(Exception, on_unexpected)
