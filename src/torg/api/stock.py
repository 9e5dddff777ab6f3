"""Stock document endpoints: one `StockKind` per document type, the same operations for each.

    GET  /stock/<kind>                 list (filters, pagination)         stock.view
    POST /stock/<kind>                 create (and post with "post": true) stock.edit (+ stock.post)
    GET  /stock/<kind>/{id}            the document with its lines         stock.view
    PUT  /stock/<kind>/{id}            replace header and lines ("version") stock.edit (+ stock.post if posted)
    POST /stock/<kind>/{id}/post       post                                stock.post
    POST /stock/<kind>/{id}/unpost     unpost                              stock.post
    GET  /stock/<kind>/{id}/movements  its register movements              stock.view
    POST /stock/stock-counts/{id}/fill      book quantities into the lines  stock.edit
    POST /stock/stock-counts/{id}/complete  write-off and surplus for the differences  stock.post

A stock count is never posted (completing it posts the write-off and the surplus), so it has no
post / unpost. Everything that changes data calls `torg.stock.services`.

No `from __future__ import annotations` here: ninja reads the handlers' annotations, which name
classes created inside `add_stock_routes`.
"""
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models import Prefetch, Q
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status
from pydantic import create_model

from torg.api.auth import secured
from torg.api.crud import DEFAULT_LIMIT, MAX_LIMIT, paginate
from torg.api.errors import ERROR_RESPONSES, ApiForbidden, NotFound
from torg.api.schemas import (
    assign,
    input_schema,
    missing_references,
    output_schema,
    page_schema,
    values_of,
)
from torg.catalogs.models import Item
from torg.core.documents import Document, DocumentLine, document_movements
from torg.core.errors import CoreError, ErrorCode
from torg.core.permissions import Cap, has_capability
from torg.stock import models as sm
from torg.stock import services


@dataclass(frozen=True)
class StockKind:
    path: str  # "purchases"
    model: type[Document]
    line_model: type[DocumentLine]
    header: tuple[str, ...]  # fields besides organization, date, comment
    lines: tuple[str, ...]  # line fields a client gives
    computed: tuple[str, ...] = ()  # line fields computed by the document (amounts, VAT)
    read_only: tuple[str, ...] = ()  # header fields changed only by operations (a count's status)
    warehouses: tuple[str, ...] = ("warehouse",)  # header fields the `warehouse` filter looks at

    @property
    def name(self) -> str:
        return "".join(part.capitalize() for part in self.path.split("-"))

    @property
    def what(self) -> str:
        return str(self.model._meta.verbose_name)


STOCK_KINDS: tuple[StockKind, ...] = (
    StockKind("opening-balances", sm.OpeningBalance, sm.OpeningBalanceLine, ("warehouse",),
              ("item", "quantity", "price"), ("amount",)),
    StockKind("purchases", sm.Purchase, sm.PurchaseLine,
              ("supplier", "counterparty", "warehouse", "supplier_invoice", "prices_include_vat"),
              ("item", "quantity", "price", "vat_rate"), ("amount", "vat_amount")),
    StockKind("transfers", sm.Transfer, sm.TransferLine, ("warehouse_from", "warehouse_to"),
              ("item", "quantity"), warehouses=("warehouse_from", "warehouse_to")),
    StockKind("write-offs", sm.WriteOff, sm.WriteOffLine, ("warehouse", "reason"), ("item", "quantity")),
    StockKind("surpluses", sm.Surplus, sm.SurplusLine, ("warehouse", "reason"), ("item", "quantity", "price"),
              ("amount",)),
    StockKind("stock-counts", sm.StockCount, sm.StockCountLine, ("warehouse",), ("item", "quantity", "book_quantity"),
              read_only=("status",)),
)
KIND_BY_MODEL: dict[type[models.Model], StockKind] = {k.model: k for k in STOCK_KINDS}

COMMON_OUT = ("id", "number", "date", "posted", "deletion_mark", "version", "comment", "organization", "author",
              "created_at", "updated_at")


class DocumentRef(Schema):
    kind: str
    id: int
    number: str
    posted: bool


class MovementsOut(Schema):
    registers: list[dict[str, Any]] = Field(
        ..., description="Per register: name, title and its movements (line, date, receipt/expense, "
                         "dimensions as ids, resources as decimal strings).")


class CompletedCountOut(Schema):
    stock_count: DocumentRef
    write_off: DocumentRef | None
    surplus: DocumentRef | None


def ref(document: Document) -> dict[str, Any]:
    return {"kind": KIND_BY_MODEL[type(document)].path, "id": document.pk, "number": document.number,
            "posted": document.posted}


class _Schemas:
    """Request and response schemas of one kind."""

    def __init__(self, kind: StockKind):
        n = kind.name
        line_in = input_schema(kind.line_model, kind.lines, f"{n}LineIn")
        if "vat_rate" in kind.lines:  # omitted: the item's VAT rate
            line_in = create_model(f"{n}LineIn", __base__=line_in,
                                   vat_rate=(line_in.model_fields["vat_rate"].annotation | None, Field(None)))
        date = (dt.datetime | None, Field(None, description="ISO 8601; default: now. A date alone means midnight."))
        header = input_schema(kind.model, ("organization", *kind.header, "comment"), f"{n}Header")
        common_in: dict[str, Any] = {"date": date, "lines": (list[line_in], Field(..., min_length=0))}  # type: ignore[valid-type]
        self.create = create_model(
            f"{n}In", __base__=header, **common_in,
            post=(bool, Field(False, description="Post in the same transaction; a refusal creates nothing.")))
        self.replace = create_model(
            f"{n}Put", __base__=header, **common_in,
            version=(int, Field(..., description="The version you read; a stale one is refused (409).")))
        line_out = output_schema(kind.line_model, ("line_no", *kind.lines, *kind.computed), f"{n}LineOut")
        header_out = (*COMMON_OUT, *kind.header, *kind.read_only)
        self.summary = output_schema(kind.model, header_out, f"{n}Summary")
        self.detail = output_schema(kind.model, header_out, f"{n}Out", extra={"lines": (list[line_out], ...)})  # type: ignore[valid-type]
        self.page = page_schema(self.summary, f"{n}Page")
        warehouse_filter = (int | None, Field(None, description="Documents of this warehouse ("
                                              + ", ".join(kind.warehouses) + ")"))
        self.query = create_model(
            f"{n}Query", __base__=Schema,
            q=(str | None, Field(None, description="Search in the number and comment")),
            organization=(int | None, Field(None)), warehouse=warehouse_filter,
            posted=(bool | None, Field(None)),
            date_from=(dt.date | None, Field(None, description="From this day (inclusive)")),
            date_to=(dt.date | None, Field(None, description="To this day (inclusive)")),
            limit=(int, Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)), offset=(int, Field(0, ge=0)),
        )
        self.header_out = header_out
        self.line_out = ("line_no", *kind.lines, *kind.computed)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and timezone.is_naive(value):
        return timezone.make_aware(value)
    return value


def _build(kind: StockKind, document: Document, data: dict[str, Any]) -> list[DocumentLine]:
    """Put the request into an (unsaved) document and lines; refuse ids that point nowhere."""
    header = {k: v for k, v in data.items() if k in ("organization", *kind.header, "comment")}
    lines: list[dict[str, Any]] = data.get("lines") or []
    errors = missing_references(kind.model, [header])
    errors.update(missing_references(kind.line_model, lines, lambda i, f: f"lines.{i + 1}.{f}"))
    if errors:
        first = next(iter(errors.values()))[0]
        raise CoreError(ErrorCode.INVALID, first, errors)
    assign(document, header)
    if data.get("date") is not None:
        document.date = _aware(data["date"])  # type: ignore[assignment]
    if "vat_rate" in kind.lines:
        missing_rate = {ln["item"] for ln in lines if ln.get("vat_rate") is None}
        rates = dict(Item.objects.filter(pk__in=missing_rate).values_list("pk", "vat_rate")) if missing_rate else {}
        lines = [{**ln, "vat_rate": rates.get(ln["item"])} if ln.get("vat_rate") is None else ln for ln in lines]
    result: list[DocumentLine] = []
    for line_data in lines:
        line = kind.line_model()
        assign(line, line_data)
        result.append(line)
    return result


def _require(request: HttpRequest, capability: str) -> None:
    if not has_capability(request.auth, capability):  # type: ignore[attr-defined]
        raise ApiForbidden([capability])


def add_stock_routes(router: Router, kind: StockKind) -> None:
    s = _Schemas(kind)
    tags = [f"stock/{kind.path}"]
    op = kind.path.replace("-", "_")
    base = f"/stock/{kind.path}"

    def rows() -> Any:
        return kind.model.objects.all()  # type: ignore[attr-defined]

    def load(pk: int, *, lines: bool = False, lock: bool = False) -> Any:
        qs = rows()
        if lines:
            qs = qs.prefetch_related(Prefetch("lines", queryset=kind.line_model.objects.order_by("line_no", "id")))
        doc = qs.filter(pk=pk).first()
        if doc is None:
            raise NotFound(kind.what, pk)
        return doc

    def summary(doc: Any) -> dict[str, Any]:
        return values_of(doc, s.header_out)

    def detail(doc: Any) -> dict[str, Any]:
        return {**summary(doc), "lines": [values_of(line, s.line_out) for line in doc.lines.all()]}

    def fresh(pk: int) -> dict[str, Any]:
        return detail(load(pk, lines=True))

    @router.get(base, response={200: s.page, **ERROR_RESPONSES}, tags=tags, operation_id=f"{op}_list",
                summary=f"List {kind.model._meta.verbose_name_plural}", **secured(Cap.STOCK_VIEW))
    def list_documents(request: HttpRequest, params: Query[s.query]) -> dict[str, Any]:  # type: ignore[valid-type]
        p: Any = params
        qs = rows()
        if p.q:
            qs = qs.filter(Q(number__icontains=p.q) | Q(comment__icontains=p.q))
        if p.organization is not None:
            qs = qs.filter(organization_id=p.organization)
        if p.warehouse is not None:
            condition = Q()
            for fname in kind.warehouses:
                condition |= Q(**{f"{fname}_id": p.warehouse})
            qs = qs.filter(condition)
        if p.posted is not None:
            qs = qs.filter(posted=p.posted)
        if p.date_from is not None:
            qs = qs.filter(date__gte=timezone.make_aware(dt.datetime.combine(p.date_from, dt.time.min)))
        if p.date_to is not None:
            qs = qs.filter(date__lt=timezone.make_aware(dt.datetime.combine(p.date_to + dt.timedelta(days=1),
                                                                            dt.time.min)))
        return paginate(qs.order_by("-date", "-id"), p.limit, p.offset, summary)

    @router.post(base, response={201: s.detail, **ERROR_RESPONSES}, tags=tags, operation_id=f"{op}_create",
                 summary=f"Create a {kind.what} (and post it)", **secured(Cap.STOCK_VIEW, Cap.STOCK_EDIT))
    def create_document(request: HttpRequest, payload: s.create) -> Status:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        if data["post"]:
            _require(request, Cap.STOCK_POST)
        document = kind.model()
        lines = _build(kind, document, data)
        user = request.auth  # type: ignore[attr-defined]
        # One transaction: a posting refused for a shortage leaves no document behind.
        services.save_stock_document(document, lines, user=user, post=data["post"])
        return Status(201, fresh(document.pk))

    @router.get(f"{base}/{{int:pk}}", response={200: s.detail, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_get", summary=f"Get a {kind.what} with its lines", **secured(Cap.STOCK_VIEW))
    def get_document(request: HttpRequest, pk: int) -> dict[str, Any]:
        return fresh(pk)

    @router.put(f"{base}/{{int:pk}}", response={200: s.detail, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_replace", summary=f"Replace the header and lines of a {kind.what}",
                description="A posted document is re-posted (needs stock.post).",
                **secured(Cap.STOCK_VIEW, Cap.STOCK_EDIT))
    def replace_document(request: HttpRequest, pk: int, payload: s.replace) -> dict[str, Any]:  # type: ignore[valid-type]
        data = payload.model_dump()  # type: ignore[attr-defined]
        document = load(pk)
        if document.posted:
            _require(request, Cap.STOCK_POST)
        lines = _build(kind, document, data)
        services.save_stock_document(document, lines, user=request.auth,  # type: ignore[attr-defined]
                                     expected_version=data["version"])
        return fresh(pk)

    @router.get(f"{base}/{{int:pk}}/movements", response={200: MovementsOut, **ERROR_RESPONSES}, tags=tags,
                operation_id=f"{op}_movements", summary=f"Register movements of a {kind.what}",
                **secured(Cap.STOCK_VIEW))
    def movements(request: HttpRequest, pk: int) -> dict[str, Any]:
        document = load(pk)
        registers = []
        for register, rows_ in document_movements(document):
            registers.append({
                "name": register.label,
                "title": str(register.verbose_name),
                "movements": [_movement(register, m) for m in rows_],
            })
        return {"registers": registers}

    if kind.model is not sm.StockCount:
        @router.post(f"{base}/{{int:pk}}/post", response={200: s.detail, **ERROR_RESPONSES}, tags=tags,
                     operation_id=f"{op}_post", summary=f"Post a {kind.what}",
                     **secured(Cap.STOCK_VIEW, Cap.STOCK_POST))
        def post_document(request: HttpRequest, pk: int) -> dict[str, Any]:
            services.post(load(pk), user=request.auth)  # type: ignore[attr-defined]
            return fresh(pk)

        @router.post(f"{base}/{{int:pk}}/unpost", response={200: s.detail, **ERROR_RESPONSES}, tags=tags,
                     operation_id=f"{op}_unpost", summary=f"Unpost a {kind.what}",
                     **secured(Cap.STOCK_VIEW, Cap.STOCK_POST))
        def unpost_document(request: HttpRequest, pk: int) -> dict[str, Any]:
            services.unpost(load(pk), user=request.auth)  # type: ignore[attr-defined]
            return fresh(pk)
    else:
        @router.post(f"{base}/{{int:pk}}/fill", response={200: s.detail, **ERROR_RESPONSES}, tags=tags,
                     operation_id=f"{op}_fill", summary="Fill a stock count with the book quantities",
                     **secured(Cap.STOCK_VIEW, Cap.STOCK_EDIT))
        def fill(request: HttpRequest, pk: int, all_items: bool = True) -> dict[str, Any]:
            services.fill_stock_count(load(pk), user=request.auth, all_items=all_items)  # type: ignore[attr-defined]
            return fresh(pk)

        @router.post(f"{base}/{{int:pk}}/complete", response={200: CompletedCountOut, **ERROR_RESPONSES},
                     tags=tags, operation_id=f"{op}_complete",
                     summary="Complete a stock count: post a write-off and a surplus for its differences",
                     **secured(Cap.STOCK_VIEW, Cap.STOCK_POST))
        def complete(request: HttpRequest, pk: int) -> dict[str, Any]:
            count = load(pk)
            write_off, surplus = services.complete_stock_count(count, user=request.auth)  # type: ignore[attr-defined]
            count.refresh_from_db()
            return {"stock_count": ref(count), "write_off": ref(write_off) if write_off else None,
                    "surplus": ref(surplus) if surplus else None}


def _movement(register: Any, row: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "line_no": row.line_no,
        "date": row.period,
        "type": "receipt" if row.record_type > 0 else "expense",
    }
    for dim in register.dimensions:
        data[dim.name] = getattr(row, dim.attname)
    for res in register.resources:
        data[res.name] = getattr(row, res.name)
    return data


def build_router() -> Router:
    router = Router()
    for kind in STOCK_KINDS:
        add_stock_routes(router, kind)
    return router



