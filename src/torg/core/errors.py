"""Error codes of the core engine and the base exception every area's errors extend.

Tests assert the code, people read the message.
"""
from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    SHORTAGE = "shortage"  # a controlled register would go negative
    PERIOD_LOCKED = "period_locked"  # the document's date is on or before the lock date
    CONCURRENT_EDIT = "concurrent_edit"  # someone saved the document after it was opened
    HAS_DEPENDENTS = "has_dependents"  # later documents are based on this one
    NOT_POSTED = "not_posted"
    ALREADY_POSTED = "already_posted"
    DELETION_MARKED = "deletion_marked"
    INVALID = "invalid"  # field validation; details in `fields`
    EMPTY_DOCUMENT = "empty_document"
    FORBIDDEN = "forbidden"


class CoreError(Exception):
    """A refusal a person can act on. `fields` maps a field name to its messages."""

    def __init__(self, code: str, message: str, fields: dict[str, list[str]] | None = None, **extra: Any):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.extra = extra

    def __str__(self) -> str:
        return self.message
