"""Request and response schemas built from model fields, and the helpers that move values between
a schema and a model instance.

Reference fields are given and returned as ids under the field's name (`"unit": 3`), money and
quantities as decimal strings (`"12.50"`, `"1.000"`). Input schemas refuse unknown fields, so a
misspelt field name is an error, not a silently ignored value.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any, Literal

from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from ninja import Schema
from pydantic import ConfigDict, Field, create_model

_TYPES: dict[type[models.Field], type] = {
    models.BooleanField: bool,
    models.DecimalField: Decimal,
    models.DateTimeField: dt.datetime,
    models.DateField: dt.date,
    models.IntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveBigIntegerField: int,
    models.SmallIntegerField: int,
    models.CharField: str,
    models.TextField: str,
    models.EmailField: str,
    models.AutoField: int,
    models.BigAutoField: int,
}


class InputSchema(Schema):
    model_config = ConfigDict(extra="forbid")


def python_type(field: models.Field) -> Any:
    """The Python type a model field is given and returned as."""
    if field.is_relation:
        return int
    if field.choices:
        return Literal[tuple(value for value, _label in field.flatchoices)]  # type: ignore[misc]
    for cls in type(field).__mro__:
        if cls in _TYPES:
            return _TYPES[cls]
    return str


def _field_info(field: models.Field, *, required: bool | None, all_optional: bool) -> tuple[Any, Any]:
    kind = python_type(field)
    extra: dict[str, Any] = {"title": str(field.verbose_name)}
    if field.help_text:
        extra["description"] = str(field.help_text)
    if isinstance(field, models.CharField) and field.max_length and not field.choices:
        extra["max_length"] = field.max_length
    nullable = field.null
    if all_optional:
        return (kind | None, Field(None, **extra))
    if required is None:
        required = not (field.has_default() or field.blank or field.null)
    if required:
        return (kind | None if nullable else kind, Field(..., **extra))
    if field.has_default():
        default = field.get_default()
        if isinstance(default, models.Model):
            default = default.pk
        if callable(field.default):
            return (kind | None, Field(default_factory=field.default, **extra))
        return (kind | None if nullable or default is None else kind, Field(default, **extra))
    if nullable or field.is_relation:
        return (kind | None, Field(None, **extra))
    return (kind, Field("" if field.empty_strings_allowed else None, **extra))


def input_schema(model: type[models.Model], fields: Sequence[str], name: str, *, all_optional: bool = False,
                 required: Iterable[str] = (), extra: dict[str, tuple[Any, Any]] | None = None) -> type[Schema]:
    """A request schema for `fields` of `model`: required where the model requires a value (or the
    field is listed in `required`); `all_optional` for PATCH, where only the fields sent change."""
    must = set(required)
    definitions: dict[str, Any] = {}
    with translation.override(None):  # the schema documents the English source strings
        for fname in fields:
            field = model._meta.get_field(fname)
            definitions[fname] = _field_info(field, required=True if fname in must else None,  # type: ignore[arg-type]
                                             all_optional=all_optional)
    definitions.update(extra or {})
    return create_model(name, __base__=InputSchema, **definitions)  # type: ignore[call-overload]


def output_schema(model: type[models.Model], fields: Sequence[str], name: str,
                  extra: dict[str, tuple[Any, Any]] | None = None) -> type[Schema]:
    definitions: dict[str, Any] = {}
    with translation.override(None):
        for fname in fields:
            field = model._meta.get_field(fname)
            kind = python_type(field)
            definitions[fname] = (kind | None if field.null or field.primary_key else kind,
                                  Field(..., title=str(getattr(field, "verbose_name", fname))))
    definitions.update(extra or {})
    return create_model(name, __base__=Schema, **definitions)  # type: ignore[call-overload]


def values_of(obj: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """Field values of an instance for a response: references as ids."""
    result: dict[str, Any] = {}
    for fname in fields:
        field = obj._meta.get_field(fname)
        result[fname] = getattr(obj, field.attname)  # type: ignore[union-attr]
    return result


def assign(obj: models.Model, data: dict[str, Any]) -> None:
    """Put request values into an instance: references by id, None as the field's empty value."""
    for fname, value in data.items():
        field = obj._meta.get_field(fname)
        if value is None and not field.null:
            if field.has_default():
                value = field.get_default()
            elif field.empty_strings_allowed and not field.is_relation:
                value = ""
        if isinstance(value, dt.datetime) and timezone.is_naive(value):
            value = timezone.make_aware(value)
        setattr(obj, field.attname, value)  # type: ignore[union-attr]


def missing_references(model: type[models.Model], rows: Sequence[dict[str, Any]],
                       name_of: Any = None) -> dict[str, list[str]]:
    """Field errors for ids in `rows` that point nowhere ("organization 999 does not exist").

    One query per reference field, whatever the number of rows; `name_of(index, field)` gives the
    error key of a row's field (default: the field name)."""
    errors: dict[str, list[str]] = {}
    wanted: dict[str, set[Any]] = defaultdict(set)
    for row in rows:
        for fname, value in row.items():
            if value is None:
                continue
            field = model._meta.get_field(fname)
            if field.is_relation and field.many_to_one:
                wanted[fname].add(value)
    for fname, ids in wanted.items():
        field = model._meta.get_field(fname)
        related = field.related_model
        found = set(related._default_manager.filter(pk__in=ids).values_list("pk", flat=True))  # type: ignore[union-attr]
        if found == ids:
            continue
        for index, row in enumerate(rows):
            value = row.get(fname)
            if value is not None and value not in found:
                key = name_of(index, fname) if name_of else fname
                errors.setdefault(key, []).append(
                    _("%(what)s %(id)s does not exist: give the id of an existing %(what)s.")
                    % {"what": related._meta.verbose_name, "id": value}  # type: ignore[union-attr]
                )
    return errors


class Page(Schema):
    """A page of a list: `count` is the total number of matching entries."""

    count: int
    limit: int
    offset: int


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    return create_model(name, __base__=Page, results=(list[item], ...))  # type: ignore[call-overload,valid-type]
