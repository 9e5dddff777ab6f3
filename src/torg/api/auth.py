"""Token authentication and capability checks for API operations.

`Authorization: Bearer <key>` names an `ApiToken` (found by the SHA-256 of the key); its user's roles give the
capabilities (`torg.core.permissions`). Every operation is declared with
`secured(Cap.X, ...)`, which both checks `Cap.API` plus the listed capabilities
and publishes them in the OpenAPI schema as `x-capabilities` (the permission
matrix test reads them from there).
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.db.models import F, Q
from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from torg.api.errors import ApiForbidden
from torg.core.models import ApiToken, hash_token_key
from torg.core.permissions import Cap, has_capability

# `last_used_at` is written at most this often per token, so a busy client does not write on every call.
LAST_USED_PRECISION = dt.timedelta(minutes=1)


def user_for_token(key: str) -> Any | None:
    """The active user of an API token, or None; notes when the token was used (at most once a minute)."""
    if not key:
        return None
    # One statement: the token, its user and the user's roles (a row per role: the groups joined in).
    rows = list(ApiToken.objects.select_related("user").filter(key_hash=hash_token_key(key))
                .annotate(role=F("user__groups__name")))
    if not rows or not rows[0].user.is_active:
        return None
    token = rows[0]
    token.user._torg_roles = {r.role for r in rows if r.role}  # what `user_roles` would read
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        # Conditional update: of several concurrent requests only one writes.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION)
        ).update(last_used_at=now)
    return token.user


class TokenAuth(HttpBearer):
    """Bearer token plus the capabilities an operation needs (always `Cap.API`)."""

    def __init__(self, *capabilities: str) -> None:
        super().__init__()
        self.capabilities: tuple[str, ...] = (Cap.API, *capabilities)

    def authenticate(self, request: HttpRequest, token: str) -> Any | None:
        user = user_for_token(token)
        if user is None:
            return None  # → 401
        missing = [c for c in self.capabilities if not has_capability(user, c)]
        if missing:
            raise ApiForbidden(missing)  # → 403
        request.user = user
        return user


def secured(*capabilities: str) -> dict[str, Any]:
    """Keyword arguments for a route decorator: the auth that checks the capabilities and their
    declaration in the schema. `@router.get("/items", **secured(Cap.CATALOGS_VIEW))`."""
    auth = TokenAuth(*capabilities)
    return {"auth": auth, "openapi_extra": {"x-capabilities": list(auth.capabilities)}}
