"""A durable, database-backed job queue.

`enqueue("name", payload)` adds a job when the surrounding transaction commits
(never for a transaction that rolled back). `python manage.py run_worker`
claims due jobs one at a time — `SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL, an IMMEDIATE transaction on SQLite — so any number of workers can
run side by side. A failing job is retried with exponential backoff and kept
as `failed` with its error after `max_attempts`.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from torg.core.models import Job

log = logging.getLogger("torg.jobs")
HANDLERS: dict[str, Callable[[dict[str, Any]], Any]] = {}


def job(name: str) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[[dict[str, Any]], Any]]:
    """Register a function as the handler of jobs called `name`."""

    def register(func: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        HANDLERS[name] = func
        return func

    return register


def enqueue(name: str, payload: dict[str, Any] | None = None, *, unique_key: str | None = None,
            run_after: dt.datetime | None = None) -> None:
    """Queue a job after the current transaction commits. With `unique_key`, a job
    with the same key that is still queued is not added twice."""

    def create() -> None:
        job = Job(name=name, payload=payload or {}, run_after=run_after or timezone.now(), unique_key=unique_key)
        if unique_key:
            # One statement: the partial unique index (one queued job per key) makes a second one a no-op, while a
            # running or finished job with the key does not stop a new one.
            Job.objects.bulk_create([job], ignore_conflicts=True)
        else:
            job.save()

    transaction.on_commit(create)


def _claim(worker: str) -> Job | None:
    now = timezone.now()
    with transaction.atomic():
        qs = Job.objects.filter(status=Job.Status.QUEUED, run_after__lte=now).order_by("run_after", "id")
        if connection.vendor == "postgresql":
            qs = qs.select_for_update(skip_locked=True)
        claimed = qs.first()
        if claimed is None:
            return None
        claimed.status = Job.Status.RUNNING
        claimed.started_at = now
        claimed.attempts += 1
        claimed.worker = worker
        claimed.save(update_fields=["status", "started_at", "attempts", "worker"])
        return claimed


def run_one(worker: str | None = None) -> Job | None:
    """Claim and run one due job. Returns it, or None when nothing is due."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    claimed = _claim(worker)
    if claimed is None:
        return None
    handler = HANDLERS.get(claimed.name)
    try:
        if handler is None:
            raise LookupError(f"no handler for job {claimed.name!r}")
        handler(claimed.payload)
    except Exception as exc:  # noqa: BLE001 — a job's failure must not stop the worker
        claimed.last_error = f"{exc}\n{traceback.format_exc(limit=5)}"
        if claimed.attempts >= claimed.max_attempts:
            claimed.status = Job.Status.FAILED
            claimed.finished_at = timezone.now()
        else:
            claimed.status = Job.Status.QUEUED
            claimed.run_after = timezone.now() + dt.timedelta(seconds=min(2 ** claimed.attempts, 3600))
            if claimed.unique_key and Job.objects.filter(unique_key=claimed.unique_key,
                                                         status=Job.Status.QUEUED).exists():
                claimed.unique_key = None  # queued again while it ran: that job does the work; this one retries too
        log.warning("job %s #%s failed (attempt %s): %s", claimed.name, claimed.pk, claimed.attempts, exc)
    else:
        claimed.status = Job.Status.DONE
        claimed.finished_at = timezone.now()
        claimed.last_error = ""
    claimed.save(update_fields=["status", "finished_at", "last_error", "run_after", "unique_key"])
    return claimed


def run_until_empty(limit: int = 10_000) -> int:
    """Run due jobs until none is left (tests, demo load). Returns how many ran."""
    count = 0
    while count < limit and run_one() is not None:
        count += 1
    return count


def work_forever(poll_seconds: float = 1.0, stop: Callable[[], bool] = lambda: False) -> None:
    worker = f"{socket.gethostname()}:{os.getpid()}"
    log.info("worker %s started", worker)
    while not stop():
        try:
            ran = run_one(worker)
        except Exception:  # noqa: BLE001 — database hiccup: wait and go on
            log.exception("worker loop error")
            ran = None
        if ran is None:
            time.sleep(poll_seconds)
