"""Engine tables shared by every area: numbering, change log, document links,
system settings, the job queue and API tokens."""
from __future__ import annotations

import contextvars
import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class NumberSequence(models.Model):
    """The last number given in one scope (document type, organization prefix, year). Gap-free:
    it is advanced inside the transaction that saves the document, so a rollback gives the number back."""

    scope = models.CharField(max_length=120, unique=True)
    last_value = models.PositiveBigIntegerField(default=0)

    class Meta:
        verbose_name = _("number sequence")


class SystemSettings(models.Model):
    """One row (pk=1) of company-wide settings."""

    period_lock_date = models.DateField(
        _("period lock date"), null=True, blank=True,
        help_text=_("Documents dated on or before this date cannot be posted, unposted or changed."),
    )
    company_name = models.CharField(_("company name"), max_length=200, default="torg")
    close_orders_automatically = models.BooleanField(
        _("close orders automatically"), default=True,
        help_text=_("A sales order that is fully shipped and paid closes itself."),
    )
    receipts_at_delivery = models.BooleanField(
        _("handover receipts at the door"), default=True,
        help_text=_("A shipment to a delivery address gets its handover receipt when the courier confirms the "
                    "delivery (with the money taken there), not when it is posted at the warehouse."),
    )
    aging_buckets = models.CharField(
        _("aging buckets, days"), max_length=100, default="30,60,90",
        help_text=_("Upper bounds of the overdue-days columns of the receivables report, comma-separated."),
    )

    class Meta:
        verbose_name = _("system settings")
        verbose_name_plural = _("system settings")

    @classmethod
    def get(cls) -> SystemSettings:
        """The settings row (made on first need); read once per service call (`settings_read_once`)."""
        held = _HELD_SETTINGS.get()
        if held:
            return held[0]
        from torg.core.statements import query_once

        found = query_once("system settings", lambda pk: cls.objects.filter(pk=pk), pk=1)
        obj = found[0] if found else cls.objects.get_or_create(pk=1)[0]
        if held is not None:
            held.append(obj)
        return obj

    @classmethod
    def hold(cls, obj: SystemSettings) -> None:
        """Keep the row read by another statement of this service call (with a document's relations) as the one
        the call reads."""
        held = _HELD_SETTINGS.get()
        if held is not None and not held:
            held.append(obj)

    @classmethod
    def held(cls) -> SystemSettings | None:
        """The row this service call has read already, if it has (`settings_read_once`)."""
        held = _HELD_SETTINGS.get()
        return held[0] if held else None


# Inside one service call the settings are read once: a call that asks several times (a door confirmation asks
# whether orders close themselves and whether receipts go out at delivery) gets the row it read first.
_HELD_SETTINGS: contextvars.ContextVar[list[SystemSettings] | None] = contextvars.ContextVar(
    "torg_held_settings", default=None)


@contextmanager
def settings_read_once() -> Iterator[None]:
    if _HELD_SETTINGS.get() is not None:  # an inner block of the same call
        yield
        return
    token = _HELD_SETTINGS.set([])
    try:
        yield
    finally:
        _HELD_SETTINGS.reset(token)


class ChangeLogEntry(models.Model):
    """Who did what to a document or catalog entry, and when."""

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        CHANGED = "changed", _("changed")
        POSTED = "posted", _("posted")
        REPOSTED = "reposted", _("re-posted")
        UNPOSTED = "unposted", _("unposted")
        DELETED = "deleted", _("deleted")
        MARKED = "marked", _("marked for deletion")
        UNMARKED = "unmarked", _("deletion mark removed")

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    at = models.DateTimeField(default=timezone.now)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    action = models.CharField(max_length=16, choices=Action.choices)
    changes = models.JSONField(default=dict, blank=True)
    comment = models.CharField(max_length=500, blank=True)

    class Meta:
        indexes = [models.Index(fields=["content_type", "object_id", "at"])]
        ordering = ["-at", "-id"]
        verbose_name = _("change log entry")


class DocumentLink(models.Model):
    """`target` was created based on `source` (ввод на основании)."""

    source_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    source_id = models.PositiveBigIntegerField()
    target_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    target_id = models.PositiveBigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source_type", "source_id", "target_type", "target_id"],
                                    name="core_doclink_uniq")
        ]
        indexes = [models.Index(fields=["target_type", "target_id"])]


class Job(models.Model):
    """A unit of background work (fiscal queue, e-mail, exchanges, cost recalculation)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")  # waiting for a worker (run_after may be in the future)
        RUNNING = "running", _("running")  # a worker has claimed it
        DONE = "done", _("done")
        FAILED = "failed", _("failed")  # gave up after max_attempts; a person may retry

    name = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    run_after = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=8)
    last_error = models.TextField(blank=True)
    # One queued job per key (a partial unique index): a running or finished job does not hold its key.
    unique_key = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    worker = models.CharField(max_length=100, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "run_after"])]
        constraints = [models.UniqueConstraint(fields=["unique_key"], condition=models.Q(status="queued"),
                                               name="core_job_one_queued_per_key")]
        verbose_name = _("background job")


def _new_token() -> str:
    """A random key (referenced by migration 0001, from when keys were stored)."""
    return secrets.token_hex(20)


def hash_token_key(key: str) -> str:
    """What is stored of a token: its SHA-256. The key itself is shown once, when issued, and never kept."""
    return hashlib.sha256(key.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the REST API (`Authorization: Bearer <key>`)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8)  # the key's first characters, to tell tokens apart on the page
    name = models.CharField(_("name"), max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API token")

    @classmethod
    def issue(cls, user: Any, name: str = "") -> tuple[ApiToken, str]:
        """A new token for the user, and its key (which only the caller ever sees)."""
        key = _new_token()
        token = cls.objects.create(user=user, name=name[:100], key_hash=hash_token_key(key), prefix=key[:6])
        return token, key
