"""Generic catalog endpoints: one `CatalogEndpoint` per catalog gives list / get / create / PUT / PATCH.

    GET    /<path>?q=&<filter>=&ordering=&limit=&offset=   → {"count", "limit", "offset", "results": [...]}
    POST   /<path>                                          → 201 entry
    GET    /<path>/{id}                                     → entry
    PUT    /<path>/{id}   (every field, plus "version")     → entry
    PATCH  /<path>/{id}   (only the fields to change, plus "version") → entry

Saving goes through `torg.catalogs.services` (validation with `full_clean`, optimistic locking by
`version`, change log). A stale `version` is refused with 409 `concurrent_edit`.

No `from __future__ import annotations` here: ninja reads the handlers' annotations, which name
classes created inside `add_catalog_routes`.
"""
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import models
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from pydantic import create_model

from torg.api.auth import secured
from torg.api.errors import ERROR_RESPONSES, NotFound
from torg.api.schemas import assign, input_schema, missing_references, output_schema, page_schema, values_of
from torg.catalogs.models import Catalog
from torg.catalogs.services import save_catalog_entry
from torg.core.errors import CoreError, ErrorCode

MAX_LIMIT = 500
DEFAULT_LIMIT = 50

SaveFunction = Callable[[models.Model, dict[str, Any], Any, "int | None"], models.Model]


def _save_plain(obj: models.Model, extra: dict[str, Any], user: Any, expected_version: int | None) -> models.Model:
    return save_catalog_entry(obj, user, expected_version)


@dataclass(frozen=True)
class CatalogEndpoint:
    """How one catalog is exposed. `fields` are readable and writable; `extra_in` / `extra_out` add
    values that are not model fields (an item's barcodes), handled by `save` and `out_extra`."""

    path: str  # URL segment: "items"
    model: type[models.Model]
    fields: tuple[str, ...]
    edit_capability: str
    view_capability: str
    search_fields: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()  # model fields usable as exact-match query parameters
    required: tuple[str, ...] = ()  # fields required although the model allows empty (an account's owner)
    rows: Callable[[], QuerySet] | None = None  # the entries this endpoint sees (default: all)
    prefetch: tuple[str, ...] = ()
    extra_in: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    extra_out: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    out_extra: Callable[[Any], dict[str, Any]] | None = None
    save: SaveFunction = _save_plain

    @property
    def name(self) -> str:
        return "".join(part.capitalize() for part in self.path.replace("-", "_").split("_"))

    @property
    def versioned(self) -> bool:
        return issubclass(self.model, Catalog)

    @property
    def what(self) -> str:
        return str(self.model._meta.verbose_name)

    def queryset(self) -> QuerySet:
        qs = self.rows() if self.rows else self.model._default_manager.all()
        return qs.prefetch_related(*self.prefetch) if self.prefetch else qs

    def out_fields(self) -> tuple[str, ...]:
        common = ("deletion_mark", "version") if self.versioned else ()
        return ("id", *self.fields, *common)

    def to_out(self, obj: Any) -> dict[str, Any]:
        data = values_of(obj, self.out_fields())
        if self.out_extra:
            data.update(self.out_extra(obj))
        return data


def _query_schema(endpoint: CatalogEndpoint) -> type[Schema]:
    orderable = [f for f in ("id", *endpoint.fields) if not endpoint.model._meta.get_field(f).is_relation]
    ordering = Literal[tuple(v for f in orderable for v in (f, f"-{f}"))]  # type: ignore[misc]
    definitions: dict[str, Any] = {
        "q": (str | None, Field(None, description="Search in: " + ", ".join(endpoint.search_fields))),
        "ordering": (ordering | None, Field(None, description="A field name; a leading '-' sorts descending.")),
        "limit": (int, Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)),
        "offset": (int, Field(0, ge=0)),
    }
    filters = input_schema(endpoint.model, endpoint.filters, f"{endpoint.name}Filters", all_optional=True)
    for fname, info in filters.model_fields.items():
        definitions[fname] = (info.annotation, Field(None, description=info.title))
    return create_model(f"{endpoint.name}Query", __base__=Schema, **definitions)  # type: ignore[call-overload]


def _search(endpoint: CatalogEndpoint, qs: QuerySet, params: Schema) -> QuerySet:
    text = (getattr(params, "q", None) or "").strip()
    if text and endpoint.search_fields:
        condition = Q()
        for name in endpoint.search_fields:
            condition |= Q(**{f"{name}__icontains": text})
        # A subquery instead of DISTINCT: searches across barcodes or counterparties give each entry once.
        qs = qs.filter(pk__in=endpoint.model._default_manager.filter(condition).values("pk"))
    for fname in endpoint.filters:
        value = getattr(params, fname, None)
        if value is not None:
            attname = endpoint.model._meta.get_field(fname).attname  # type: ignore[union-attr]
            qs = qs.filter(**{attname: value})
    ordering = getattr(params, "ordering", None)
    if ordering:
        qs = qs.order_by(ordering, "id")
    elif not qs.query.order_by:
        qs = qs.order_by(*(endpoint.model._meta.ordering or ()), "id")
    return qs


def paginate(qs: QuerySet, limit: int, offset: int, to_out: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    """One count query and one page query (plus the queryset's prefetches)."""
    return {"count": qs.count(), "limit": limit, "offset": offset,
            "results": [to_out(obj) for obj in qs[offset:offset + limit]]}


def _check_references(endpoint: CatalogEndpoint, data: dict[str, Any]) -> None:
    refs = {k: v for k, v in data.items() if k in endpoint.fields}
    errors = missing_references(endpoint.model, [refs])
    if errors:
        first = next(iter(errors.values()))[0]
        raise CoreError(ErrorCode.INVALID, first, errors)


def _split(endpoint: CatalogEndpoint, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    model_data = {k: v for k, v in data.items() if k in endpoint.fields}
    extra = {k: v for k, v in data.items() if k in endpoint.extra_in}
    return model_data, extra


def add_catalog_routes(router: Router, endpoint: CatalogEndpoint) -> None:
    """Register the five operations of one catalog on `router`."""
    name = endpoint.name
    version_field = {"version": (int, Field(..., description="The version you read; a stale one is refused (409)."))}
    create_in = input_schema(endpoint.model, endpoint.fields, f"{name}In", required=endpoint.required,
                             extra=endpoint.extra_in)
    put_in = input_schema(endpoint.model, endpoint.fields, f"{name}Put", required=endpoint.required,
                          extra={**endpoint.extra_in, **(version_field if endpoint.versioned else {})})
    patch_in = input_schema(endpoint.model, endpoint.fields, f"{name}Patch", all_optional=True,
                            extra={**{k: (v[0] | None, Field(None)) for k, v in endpoint.extra_in.items()},
                                   **(version_field if endpoint.versioned else {})})
    out = output_schema(endpoint.model, endpoint.out_fields(), f"{name}Out", extra=endpoint.extra_out)
    page = page_schema(out, f"{name}Page")
    query = _query_schema(endpoint)
    tags = [endpoint.path]
    view = secured(endpoint.view_capability)
    edit = secured(endpoint.view_capability, endpoint.edit_capability)
    op = endpoint.path.replace("-", "_")

    def load(pk: int) -> Any:
        obj = endpoint.queryset().filter(pk=pk).first()
        if obj is None:
            raise NotFound(endpoint.what, pk)
        return obj

    def save(request: HttpRequest, obj: Any, data: dict[str, Any], expected_version: int | None) -> dict[str, Any]:
        model_data, extra = _split(endpoint, data)
        _check_references(endpoint, model_data)
        assign(obj, model_data)
        saved = endpoint.save(obj, extra, request.auth, expected_version)  # type: ignore[attr-defined]
        return endpoint.to_out(load(saved.pk))

    @router.get(f"/{endpoint.path}", response={200: page, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_list", summary=f"List {endpoint.model._meta.verbose_name_plural}", **view)
    def list_entries(request: HttpRequest, params: Query[query]) -> dict[str, Any]:  # type: ignore[valid-type]
        qs = _search(endpoint, endpoint.queryset(), params)
        return paginate(qs, params.limit, params.offset, endpoint.to_out)  # type: ignore[attr-defined]

    @router.post(f"/{endpoint.path}", response={201: out, **ERROR_RESPONSES}, tags=tags,
                 operation_id=f"{op}_create", summary=f"Create a {endpoint.what}", **edit)
    def create_entry(request: HttpRequest, payload: create_in) -> Status:  # type: ignore[valid-type]
        return Status(201, save(request, endpoint.model(), payload.model_dump(), None))

    @router.get(f"/{endpoint.path}/{{int:pk}}", response={200: out, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_get", summary=f"Get a {endpoint.what}", **view)
    def get_entry(request: HttpRequest, pk: int) -> dict[str, Any]:
        return endpoint.to_out(load(pk))

    @router.put(f"/{endpoint.path}/{{int:pk}}", response={200: out, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_replace", summary=f"Replace a {endpoint.what}", **edit)
    def replace_entry(request: HttpRequest, pk: int, payload: put_in) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()
        version = data.pop("version", None)
        return save(request, load(pk), data, version)

    @router.patch(f"/{endpoint.path}/{{int:pk}}", response={200: out, **ERROR_RESPONSES}, tags=tags,
                  operation_id=f"{op}_update", summary=f"Change fields of a {endpoint.what}", **edit)
    def update_entry(request: HttpRequest, pk: int, payload: patch_in) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump(exclude_unset=True)
        version = data.pop("version", None)
        return save(request, load(pk), data, version)
