"""The REST API: one NinjaAPI at /api/v1/ with the routers of every area.

An area adds its endpoints by writing a `build_router()` that returns a ninja `Router` and listing it
in `ROUTERS` below (see DESIGN.md). Authentication, capability checks and the error shape are shared.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import translation
from ninja import NinjaAPI, Router
from ninja.parser import Parser

from torg.api import catalogs, delivery, fiscal, payments, sales, stock
from torg.api.docs import LocalSwagger
from torg.api.errors import MalformedBody, install_handlers


class JsonParser(Parser):
    """Parses JSON bodies; a syntax error becomes `MalformedBody` (answered 422 with the position)."""

    def parse_body(self, request: HttpRequest) -> Any:
        try:
            return json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedBody(str(exc)) from exc


# (URL prefix, router factory) of each area; later areas append theirs.
ROUTERS: list[tuple[str, Callable[[], Router]]] = [
    ("/catalogs/", catalogs.build_router),
    ("/", stock.build_router),
    ("/", sales.build_router),
    ("/", payments.build_router),
    ("/", fiscal.build_router),
    ("/", delivery.build_router),
]


def build_api() -> NinjaAPI:
    api = NinjaAPI(
        title="torg API",
        version="1",
        description=(
            "Trade management REST API. Authenticate with `Authorization: Bearer <token>`. "
            "Errors: `{\"code\", \"message\", \"fields\"}` with 401 (no or unknown token), 403 (role lacks "
            "the capability named in the operation's `x-capabilities`), 404 (unknown id), 409 (shortage, "
            "concurrent edit, period locked, dependent documents), 422 (invalid input)."
        ),
        urls_namespace="api",
        docs=LocalSwagger(),
        docs_url="/docs",
        openapi_url="/openapi.json",
        parser=JsonParser(),
    )
    install_handlers(api)
    # Operation summaries name models; build them from the English source strings, whatever language
    # the request that first imports the URLs asked for.
    with translation.override(None):
        for prefix, build_router in ROUTERS:
            api.add_router(prefix, build_router())
    return api


api = build_api()
