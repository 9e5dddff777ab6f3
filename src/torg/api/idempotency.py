"""Idempotency keys for API requests that register money or goods leaving.

A client sends `Idempotency-Key: <its own unique string>` with a request that creates something. The first
request with a key does the work; a repeated one (a retry after a timeout) creates nothing and answers with
what the first one made, marked `Idempotent-Replayed: true`. Keys belong to the user of the token: two
integrations never see each other's documents through a shared key. A key sent again with a different request
is refused (409 `idempotency_key_reused`) instead of quietly answering with an unrelated document.

Where the key is kept:
- payments and refunds keep it in their own unique `idempotency_key` column (`torg.payments.services` does
  the find-or-create; the unique index settles concurrent requests);
- other documents (shipments) have no such column: `run_once` notes the key on the document's "created"
  change-log entry, and serializes requests with one key (PostgreSQL: an advisory lock for the transaction;
  SQLite: every write transaction is taken up front). A dedicated table of keys would make the look-up an
  indexed one — see DESIGN.md.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 64
KEY_REUSED = "idempotency_key_reused"  # the key was first used with another request (409)
_KEY_RE = re.compile(r"^[\x21-\x7e]+$")  # visible ASCII, no spaces
_MARK = "idempotency-key "

M = TypeVar("M", bound=models.Model)


def read_key(request: HttpRequest, *, required: bool) -> str | None:
    """The request's idempotency key; a missing one is refused when `required` (422 naming the header)."""
    raw = request.headers.get(HEADER)
    key = (raw or "").strip()
    if not key:
        if required:
            message = _("This request registers money: send an %(header)s header with a unique string (a UUID, "
                        "say) so that a retried request registers it only once.") % {"header": HEADER}
            raise CoreError(ErrorCode.INVALID, message, fields={HEADER: [message]})
        return None
    if len(key) > MAX_KEY_LENGTH or not _KEY_RE.match(key):
        message = _("The %(header)s must be 1 to %(n)s visible ASCII characters without spaces.") % {
            "header": HEADER, "n": MAX_KEY_LENGTH}
        raise CoreError(ErrorCode.INVALID, message, fields={HEADER: [message]})
    return key


def scoped(user: Any, key: str) -> str:
    """The key as stored: the user's own (≤ 100 characters)."""
    return f"api:{user.pk}:{key}"


def fingerprint(data: Any) -> str:
    """A short digest of a request, to tell a retry from another request that reuses the key."""
    text = json.dumps(data, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def reused(key: str) -> CoreError:
    return CoreError(KEY_REUSED, _("The %(header)s “%(key)s” was already used for another request. Use a new key "
                                   "for a new request; repeat a key only to retry the same request.")
                     % {"header": HEADER, "key": key}, fields={HEADER: [_("Already used for another request.")]})


def mark_replayed(response: HttpResponse, replayed: bool) -> None:
    if replayed:
        response[REPLAYED_HEADER] = "true"


def _lock(marker: str) -> None:
    """Serialize requests with one key until the transaction ends. SQLite needs nothing: its write
    transactions are taken up front (`IMMEDIATE`), one at a time."""
    if connection.vendor == "postgresql":
        number = int.from_bytes(hashlib.sha256(marker.encode()).digest()[:8], "big", signed=True)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [number])


def run_once(model: type[M], user: Any, key: str | None, request_data: Any,
             create: Callable[[], Sequence[M]]) -> tuple[list[M], bool]:
    """The documents the first request with this key created (and True), or `create()`'s (and False).

    Without a key `create()` just runs. The key is noted on the created documents' "created" change-log entries,
    in the same transaction: a refused request leaves no key behind, so its retry runs again."""
    if key is None:
        return list(create()), False
    marker = f"{_MARK}{scoped(user, key)} "
    digest = fingerprint(request_data)
    content_type = ContentType.objects.get_for_model(model)
    with transaction.atomic():
        _lock(marker)
        noted = list(ChangeLogEntry.objects.filter(content_type=content_type, action=ChangeLogEntry.Action.CREATED,
                                                   comment__startswith=marker).values_list("object_id", "comment"))
        if noted:
            if any(comment[len(marker):] != digest for _pk, comment in noted):
                raise reused(key)
            ids = sorted({pk for pk, _comment in noted})
            return list(model._default_manager.filter(pk__in=ids).order_by("pk")), True
        created = list(create())
        ChangeLogEntry.objects.filter(content_type=content_type, object_id__in=[d.pk for d in created],
                                      action=ChangeLogEntry.Action.CREATED).update(comment=marker + digest)
    return created, False


def declared(operation: dict[str, Any], *, required: bool) -> dict[str, Any]:
    """Route keyword arguments (from `secured`) that also document the header in the schema."""
    extra = dict(operation.get("openapi_extra") or {})
    extra["parameters"] = [{
        "in": "header", "name": HEADER, "required": required,
        "schema": {"type": "string", "maxLength": MAX_KEY_LENGTH},
        "description": "A unique string per request (a UUID, say); a retry with the same key registers nothing "
                       "again and answers with the first result" + ("" if required else " (optional)") + ".",
    }]
    return {**operation, "openapi_extra": extra}
