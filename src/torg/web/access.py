"""Access checks for pages: log in first, then the role must grant the capability.

Anonymous users are sent to the login page; a logged-in user without the
capability gets 403 (never a page with someone else's data).
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

from torg.core.permissions import has_capability

View = Callable[..., HttpResponse]


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def requires(*capabilities: str, write: tuple[str, ...] = ()) -> Callable[[View], View]:
    """Decorator for a view: every listed capability is needed.

    `write` lists capabilities needed in addition for POST/PUT/PATCH/DELETE (a page
    everyone with `capabilities` may look at, but only some may change). The
    permission-matrix test reads `required_capabilities` and `write_capabilities`.
    """

    def decorate(view: View) -> View:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not all(has_capability(request.user, c) for c in capabilities):
                raise PermissionDenied
            if request.method in WRITE_METHODS and not all(has_capability(request.user, c) for c in write):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        wrapper.required_capabilities = capabilities  # type: ignore[attr-defined]
        wrapper.write_capabilities = write  # type: ignore[attr-defined]
        return wrapper

    return decorate


def check(request: HttpRequest, capability: str) -> None:
    """Inside a view: refuse with 403 unless the user has the capability."""
    if not has_capability(request.user, capability):
        raise PermissionDenied
