"""Generic list pages: search, filters, column sorting and pagination from a small declarative config.

Usage (in a view)::

    from torg.web.listing import Column, Filter, ListConfig, render_list

    ITEMS = ListConfig(
        model=Item,
        title=_("Items"),
        columns=(
            Column("name", _("Name"), link=True),
            Column("sku", _("Article")),
            Column("unit__name", _("Unit")),           # follows foreign keys with "__"
            Column("kind", _("Kind")),                 # choices show their label
            Column("price", _("Price"), value=lambda o: o.price_now, sortable=False),
        ),
        search_fields=("name", "sku", "barcodes__code"),
        filters=(Filter("kind"), Filter("group"), Filter("deletion_mark")),  # kind guessed from the field
        ordering=("name",),
        page_size=50,
        row_url=lambda obj: reverse("catalogs:item_edit", args=[obj.pk]),
        create_url_name="catalogs:item_new",
        queryset=lambda: Item.objects.select_related("unit", "group"),
    )

    @requires(Cap.CATALOGS_VIEW)
    def item_list(request):
        return render_list(request, ITEMS)

Query parameters: ``q`` (search), one per filter (its ``name``), ``sort`` (a column
name, ``-`` prefix for descending) and ``page``. Unknown or invalid values are
ignored, never an error. The page works without JavaScript; with htmx, searching,
filtering, sorting and paging refresh only the table (``#list-table``).

``build_list(request, config, queryset=None)`` returns the `ListPage` (page,
rows, filters, sort state) for views that want their own template; pass
``queryset`` to narrow the rows (for example, to what the user's role allows).
``render_list(request, config, queryset=..., extra_context=..., template_name=..., can_create=...)``
renders it; the template gets ``listing`` (a `ListPage`) and the extra context. A
custom template may extend "web/listing/list.html" and fill its blocks
``list_actions`` (buttons next to "New") and ``list_before_table``.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.core.paginator import Page, Paginator
from django.db import connection, models
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

Label = str | Promise

PARTIAL_TARGET = "list-table"


@dataclass(frozen=True)
class Column:
    """One column. `name` is a field path ("unit__name"); `value` overrides how the cell is computed."""

    name: str
    label: Label | None = None  # default: the field's verbose name
    sortable: bool = True
    sort_by: str | None = None  # ordering expression, default `name`
    link: bool = False  # the cell links to the row's page
    value: Callable[[Any], Any] | None = None
    align_end: bool = False  # right-align (numbers); guessed for numeric fields


@dataclass(frozen=True)
class Filter:
    """A filter on a model field. `kind` is "choice", "boolean" or "fk"; guessed from the field when empty."""

    name: str  # field name, also the query parameter
    label: Label | None = None
    kind: str = ""
    choices: Callable[[], Sequence[tuple[Any, Any]]] | None = None  # override the options (value, label)
    as_select: bool = True  # False: no drop-down (too many options); set by links, shown as a removable chip


@dataclass(frozen=True)
class ListConfig:
    model: type[models.Model]
    columns: tuple[Column, ...]
    title: Label | None = None  # default: the model's verbose_name_plural, capitalised
    search_fields: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = ()
    ordering: tuple[str, ...] = ()  # default: the model's Meta.ordering
    page_size: int = 50
    row_url: Callable[[Any], str] | None = None
    create_url_name: str | None = None  # shown as a "New" button when given
    create_url: Callable[[], str] | None = None  # alternative to create_url_name (e.g. with a query string)
    queryset: Callable[[], QuerySet] | None = None  # base rows, with select_related/prefetch_related
    template_name: str = "web/listing/list.html"


@dataclass
class FilterState:
    name: str
    label: Label
    kind: str
    options: list[tuple[str, str]]
    selected: str
    as_select: bool = True
    remove_query: str = ""  # the query string without this filter (for the chip's ×)

    @property
    def selected_label(self) -> str:
        return next((label for value, label in self.options if value == self.selected), "")


@dataclass
class HeaderState:
    label: Label
    name: str
    sortable: bool
    direction: str  # "asc", "desc" or ""
    toggle: str  # the `sort` value a click on the header sets
    align_end: bool


@dataclass
class Cell:
    value: Any
    is_bool: bool
    link: str | None
    align_end: bool

    @property
    def display(self) -> Any:
        """Numbers with the language's grouping and decimal mark (1 234,50 / 1,234.50), at their own places."""
        if isinstance(self.value, Decimal):
            places = max(-int(self.value.as_tuple().exponent), 0)
            return number_format(self.value, decimal_pos=places, use_l10n=True, force_grouping=True)
        return self.value


@dataclass
class Row:
    obj: Any
    url: str | None
    cells: list[Cell]


@dataclass
class ListPage:
    config: ListConfig
    title: Label
    page: Page
    rows: list[Row]
    headers: list[HeaderState]
    filters: list[FilterState]
    query: str
    sort: str
    create_url: str | None
    total: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


# ------------------------------------------------------------------ helpers
def _model_field(model: type[models.Model], path: str) -> models.Field | None:
    current: Any = model
    found: Any = None
    for part in path.split("__"):
        try:
            found = current._meta.get_field(part)
        except (FieldDoesNotExist, AttributeError):
            return None
        current = found.related_model if found.is_relation else None
    return found


def _label(model: type[models.Model], path: str, given: Label | None) -> Label:
    if given is not None:
        return given
    f = _model_field(model, path)
    name = getattr(f, "verbose_name", None) or path.replace("__", " ").replace("_", " ")
    return str(name)[:1].upper() + str(name)[1:]


def _cell_value(obj: Any, column: Column) -> Any:
    if column.value is not None:
        return column.value(obj)
    current: Any = obj
    parts = column.name.split("__")
    for i, part in enumerate(parts):
        if current is None:
            return ""
        if i == len(parts) - 1:
            display = getattr(current, f"get_{part}_display", None)
            if callable(display):
                return display()
        current = getattr(current, part, None)
        if callable(current) and not isinstance(current, models.Model):
            current = current()
    return "" if current is None else current


def _is_numeric(f: models.Field | None) -> bool:
    return isinstance(f, (models.DecimalField, models.IntegerField, models.FloatField)) and not f.choices


def _search_q(fields: Sequence[str], text: str) -> Q:
    # SQLite's LIKE folds case for ASCII only; try the usual spellings of a Cyrillic word as well.
    variants = {text}
    if connection.vendor == "sqlite":
        variants |= {text.lower(), text.upper(), text.capitalize(), text.title()}
    q = Q()
    for name in fields:
        for variant in variants:
            q |= Q(**{f"{name}__icontains": variant})
    return q


def _filter_kind(f: models.Field | None, given: str) -> str:
    if given:
        return given
    if isinstance(f, models.BooleanField):
        return "boolean"
    if f is not None and f.is_relation:
        return "fk"
    return "choice"


def _filter_options(config: ListConfig, flt: Filter, f: models.Field | None, kind: str,
                    selected: str) -> list[tuple[str, str]]:
    if flt.choices is not None:
        return [(str(v), str(label)) for v, label in flt.choices()]
    if kind == "boolean":
        return [("1", str(_("Yes"))), ("0", str(_("No")))]
    if kind == "fk" and f is not None and f.related_model is not None:
        related = f.related_model._default_manager.all()
        if not flt.as_select:
            return [(str(o.pk), str(o)) for o in related.filter(pk=selected)] if selected.isdigit() else []
        if any(x.name == "deletion_mark" for x in f.related_model._meta.fields):
            related = related.filter(deletion_mark=False)
        return [(str(o.pk), str(o)) for o in related]
    if f is not None and f.choices:
        return [(str(v), str(label)) for v, label in f.flatchoices]
    return []


def _apply_filter(qs: QuerySet, flt: Filter, kind: str, value: str, options: list[tuple[str, str]]) -> QuerySet:
    if kind == "boolean":
        return qs.filter(**{flt.name: value == "1"}) if value in ("1", "0") else qs
    if value not in {v for v, _label in options}:
        return qs
    if kind == "fk":
        return qs.filter(**{f"{flt.name}_id" if "__" not in flt.name else flt.name: value})
    return qs.filter(**{flt.name: value})


# ------------------------------------------------------------------ API
def build_list(request: HttpRequest, config: ListConfig, queryset: QuerySet | None = None) -> ListPage:
    """Apply the request's search, filters, sort and page to the config's rows."""
    params: QueryDict = request.GET
    model = config.model
    qs = queryset if queryset is not None else (config.queryset() if config.queryset else model._default_manager.all())

    text = params.get("q", "").strip()
    if text and config.search_fields:
        qs = qs.filter(_search_q(config.search_fields, text))
        if any("__" in s for s in config.search_fields):
            qs = qs.distinct()

    filter_states: list[FilterState] = []
    for flt in config.filters:
        f = _model_field(model, flt.name)
        kind = _filter_kind(f, flt.kind)
        selected = params.get(flt.name, "")
        options = _filter_options(config, flt, f, kind, selected)
        qs = _apply_filter(qs, flt, kind, selected, options)
        if selected not in {v for v, _label in options}:
            selected = ""
        without = params.copy()
        for key in (flt.name, "page"):
            without.pop(key, None)
        filter_states.append(FilterState(flt.name, _label(model, flt.name, flt.label), kind, options, selected,
                                         flt.as_select, "?" + without.urlencode()))

    sortable = {c.name: (c.sort_by or c.name) for c in config.columns if c.sortable}
    sort = params.get("sort", "")
    sort_name = sort.lstrip("-")
    if sort_name in sortable:
        expr = sortable[sort_name]
        order = [f"-{expr}" if sort.startswith("-") else expr]
    else:
        sort = ""
        order = list(config.ordering or model._meta.ordering or [])
    qs = qs.order_by(*order, "pk")  # pk last: stable pages

    paginator = Paginator(qs, config.page_size)
    page = paginator.get_page(params.get("page"))

    headers = []
    for c in config.columns:
        f = _model_field(model, c.name)
        direction = ""
        if sort_name == c.name and sort:
            direction = "desc" if sort.startswith("-") else "asc"
        toggle = f"-{c.name}" if direction == "asc" else c.name
        headers.append(HeaderState(_label(model, c.name, c.label), c.name, c.sortable and c.name in sortable,
                                   direction, toggle, c.align_end or _is_numeric(f)))

    rows = []
    for obj in page.object_list:
        url = config.row_url(obj) if config.row_url else None
        cells = []
        for c, h in zip(config.columns, headers, strict=True):
            value = _cell_value(obj, c)
            cells.append(Cell(value, isinstance(value, bool), url if c.link else None,
                              h.align_end or isinstance(value, Decimal)))
        rows.append(Row(obj, url, cells))

    if config.create_url is not None:
        create_url: str | None = config.create_url()
    elif config.create_url_name:
        create_url = reverse(config.create_url_name)
    else:
        create_url = None
    title = config.title or str(model._meta.verbose_name_plural).capitalize()
    return ListPage(config, title, page, rows, headers, filter_states, text, sort, create_url,
                    total=paginator.count)


def render_list(
    request: HttpRequest,
    config: ListConfig,
    *,
    queryset: QuerySet | None = None,
    extra_context: dict[str, Any] | None = None,
    template_name: str | None = None,
    can_create: bool = True,
) -> HttpResponse:
    """The list page, or only its table for an htmx request that targets `#list-table`.

    `can_create=False` hides the "New" button (e.g. for a role that may only look)."""
    listing = build_list(request, config, queryset)
    if not can_create:
        listing.create_url = None
    context = {"listing": listing, **(extra_context or {})}
    htmx = getattr(request, "htmx", None)
    if htmx and htmx.target == PARTIAL_TARGET:
        return render(request, "web/listing/_table.html", context)
    return render(request, template_name or config.template_name, context)
