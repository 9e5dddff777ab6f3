"""The API documentation page: Swagger UI served from the django-ninja package itself (no CDN).

ninja ships the Swagger UI files but links them through the staticfiles app only when "ninja" is an
installed app; otherwise its page loads them from a CDN. torg runs on closed office networks, so the
page and its few files are served here, from the installed package.
"""
from __future__ import annotations

import json
import mimetypes
from pathlib import Path
from typing import Any

import ninja
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from ninja.openapi.docs import DocsBase

ASSET_DIR = Path(ninja.__file__).resolve().parent / "static" / "ninja"
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-init.js", "favicon.svg", "favicon.png"})
SWAGGER_SETTINGS: dict[str, Any] = {
    "layout": "BaseLayout",
    "deepLinking": True,
    "persistAuthorization": True,
    "validatorUrl": None,  # the default badge would call validator.swagger.io
}


class LocalSwagger(DocsBase):
    def render_page(self, request: HttpRequest, api: Any, **kwargs: Any) -> HttpResponse:
        settings = {**SWAGGER_SETTINGS, "url": self.get_openapi_url(api, kwargs)}
        return render(request, "api/docs.html", {"api": api, "swagger_settings": json.dumps(settings)})


@require_GET
def docs_asset(request: HttpRequest, name: str) -> FileResponse:
    """One of the Swagger UI files (a fixed list; nothing else of the file system is reachable)."""
    if name not in ASSETS:
        raise Http404(name)
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    response = FileResponse((ASSET_DIR / name).open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response


def asset_url(name: str) -> str:
    return reverse("api-docs-asset", args=[name])
