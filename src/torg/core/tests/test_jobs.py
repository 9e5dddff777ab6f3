"""The database job queue: enqueue after commit, retries with backoff, failure, run_until_empty, unique keys."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from torg.core import jobs
from torg.core.models import Job

DONE: list[dict[str, Any]] = []


@pytest.fixture(autouse=True)
def handlers() -> Iterator[None]:
    DONE.clear()

    @jobs.job("test.record")
    def record(payload: dict[str, Any]) -> None:
        DONE.append(payload)

    @jobs.job("test.fail")
    def fail(payload: dict[str, Any]) -> None:
        raise RuntimeError(f"printer {payload['printer']} is offline")

    yield
    jobs.HANDLERS.pop("test.record", None)
    jobs.HANDLERS.pop("test.fail", None)


def _make_due(job: Job) -> None:
    Job.objects.filter(pk=job.pk).update(run_after=timezone.now() - dt.timedelta(seconds=1))


def test_enqueue_adds_the_job_when_the_transaction_commits(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        jobs.enqueue("test.record", {"n": 1})
        assert Job.objects.count() == 0  # nothing before the commit
    assert len(callbacks) == 1
    callbacks[0]()
    job = Job.objects.get()
    assert (job.name, job.payload, job.status, job.attempts) == ("test.record", {"n": 1}, Job.Status.QUEUED, 0)


def test_a_rolled_back_transaction_queues_nothing(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with pytest.raises(ZeroDivisionError):
            with transaction.atomic():
                jobs.enqueue("test.record", {"n": 1})
                1 / 0  # noqa: B018 — the business operation fails
    assert callbacks == []
    assert Job.objects.count() == 0


def test_run_until_empty_runs_every_due_job_in_order(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            jobs.enqueue("test.record", {"n": n})
        jobs.enqueue("test.record", {"n": 99}, run_after=timezone.now() + dt.timedelta(hours=1))
    assert jobs.run_until_empty() == 3
    assert DONE == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert Job.objects.filter(status=Job.Status.DONE).count() == 3
    assert list(Job.objects.filter(status=Job.Status.QUEUED).values_list("payload", flat=True)) == [{"n": 99}]
    assert jobs.run_until_empty() == 0


def test_a_failing_job_is_retried_with_backoff_then_failed_with_its_error(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("test.fail", {"printer": "P-1"})
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(max_attempts=3)

    before = timezone.now()
    jobs.run_one()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.QUEUED, 1)
    assert "printer P-1 is offline" in job.last_error
    # 2 ** attempts seconds later
    assert before + dt.timedelta(seconds=2) <= job.run_after <= timezone.now() + dt.timedelta(seconds=2)
    assert jobs.run_one() is None  # not due yet

    _make_due(job)
    before = timezone.now()
    jobs.run_one()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.QUEUED, 2)
    assert before + dt.timedelta(seconds=4) <= job.run_after <= timezone.now() + dt.timedelta(seconds=4)

    _make_due(job)
    jobs.run_one()
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.FAILED, 3)
    assert job.finished_at is not None
    assert job.last_error.startswith("printer P-1 is offline")
    _make_due(job)
    assert jobs.run_until_empty() == 0


def test_a_job_without_a_handler_fails_with_a_clear_error(db: Any, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("test.nobody", {})
    jobs.run_one()
    job = Job.objects.get()
    assert job.status == Job.Status.QUEUED
    assert job.last_error.startswith("no handler for job 'test.nobody'")


def test_unique_key_keeps_one_queued_job_and_frees_the_key_when_done(
    db: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("test.record", {"n": 1}, unique_key="export:42")
        jobs.enqueue("test.record", {"n": 2}, unique_key="export:42")
    assert list(Job.objects.values_list("payload", flat=True)) == [{"n": 1}]

    assert jobs.run_until_empty() == 1
    with django_capture_on_commit_callbacks(execute=True):
        jobs.enqueue("test.record", {"n": 3}, unique_key="export:42")
    assert Job.objects.count() == 2
    assert Job.objects.get(status=Job.Status.QUEUED).payload == {"n": 3}
    assert jobs.run_until_empty() == 1
    assert DONE == [{"n": 1}, {"n": 3}]


@pytest.mark.django_db(transaction=True)
def test_a_job_that_fails_after_its_key_was_queued_again_retries_beside_the_new_one() -> None:
    """A drain job fails while a new receipt queued a drain of the same register: both stay queued, the retry
    without the key (one queued job per key), and nothing raises."""

    @jobs.job("test.busy")
    def busy(payload: dict[str, Any]) -> None:
        if payload["n"] == 1:  # a receipt arrives while the first one runs (no transaction: queued at once)
            jobs.enqueue("test.busy", {"n": 2}, unique_key="drain:P-1")
        raise RuntimeError("printer P-1 is offline")

    try:
        jobs.enqueue("test.busy", {"n": 1}, unique_key="drain:P-1")
        first = jobs.run_one()
        assert first is not None and first.payload == {"n": 1}
        queued = {j.payload["n"]: j.unique_key for j in Job.objects.filter(status=Job.Status.QUEUED)}
        assert queued == {1: None, 2: "drain:P-1"}
        jobs.enqueue("test.busy", {"n": 3}, unique_key="drain:P-1")  # still one queued job with the key
        assert Job.objects.filter(status=Job.Status.QUEUED).count() == 2
    finally:
        jobs.HANDLERS.pop("test.busy", None)
