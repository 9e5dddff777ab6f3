"""Generic document pages: one list page and one form page per document type, from a `DocumentConfig`.

The form page shows the header form, the lines table (add/remove rows; `web/documents.js`
recomputes amounts and totals in the browser for display only — the save service
recomputes them), the buttons Save / Save and post / Post / Unpost / Mark for deletion /
Print, and the sections "Based on / based on this", "Movements" (rendered from the
register declarations) and "History" (the change log).

Usage (in an area's views.py)::

    PURCHASES = DocumentConfig(
        key="purchases", namespace="stock", model=Purchase, line_model=PurchaseLine,
        header_fields=("date", "organization", "supplier", "warehouse", "comment"),
        line_columns=(LineColumn("item"), LineColumn("quantity", total=True), LineColumn("price"),
                      LineColumn("amount", computed=True, total=True)),
        save=services.save_stock_document, post=services.post, unpost=services.unpost,
        view_cap=Cap.STOCK_VIEW, edit_cap=Cap.STOCK_EDIT, post_cap=Cap.STOCK_POST,
        item_search_url_name="stock:item_search",
    )
    urlpatterns = document_urls(PURCHASES)   # in urls.py

Views stay thin: they parse the forms, check capabilities (`torg.web.access.requires`)
and call the services named in the config; every refusal (`CoreError`) is shown on the page
with the user's input kept.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NoReturn

from django import forms
from django.contrib import messages
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format, number_format
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext
from django.views.decorators.http import require_POST

from torg.catalogs.models import Item
from torg.core.documents import (
    Document,
    DocumentLine,
    base_documents,
    derived_documents,
    document_movements,
    set_deletion_mark,
)
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.permissions import has_capability
from torg.core.registers import RecordType, Register
from torg.web.access import check, requires
from torg.web.forms import BootstrapMixin
from torg.web.listing import Column, Filter, ListConfig, render_list

Label = str | Promise
ITEM_SEARCH_LIMIT = 20


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class LineColumn:
    """A column of the lines table.

    `computed` columns are shown but never read from the browser (amounts, VAT, book
    quantities): the save service computes them. `role` tells documents.js what the
    column is ("quantity", "price", "amount", "vat_rate", "vat_amount", "book_quantity",
    "difference"); it defaults to the name. `value` computes a shown value that is not a
    field (a count's difference)."""

    name: str
    label: Label | None = None
    computed: bool = False
    role: str = ""
    total: bool = False
    value: Callable[[Any], Any] | None = None

    @property
    def js_role(self) -> str:
        return self.role or self.name


@dataclass(frozen=True)
class DocumentAction:
    """An extra operation on a saved document (a count's "Fill from stock", "Complete").

    `run(document, user)` calls a service and returns the message to show."""

    name: str  # URL segment and url name suffix
    label: Label
    capability: str
    run: Callable[[Any, Any], str]
    icon: str = "bi-gear"
    confirm: Label | None = None
    available: Callable[[Any], bool] = lambda doc: True
    primary: bool = False


@dataclass(frozen=True)
class DocumentConfig:
    key: str  # url names: <namespace>:<key>_list/_new/_edit/_post/_unpost/_mark/_print/_<action>
    namespace: str
    model: type[Document]
    line_model: type[DocumentLine]
    header_fields: tuple[str, ...]
    line_columns: tuple[LineColumn, ...]
    save: Callable[..., Document]  # save(document, lines, user=, expected_version=, post=False)
    view_cap: str
    edit_cap: str
    post_cap: str
    post: Callable[..., Document] | None = None  # None: the document is never posted by hand
    unpost: Callable[..., Document] | None = None
    path: str = ""  # URL segment, default: key with "_" → "-"
    header_form: type[forms.ModelForm] | None = None
    read_only_header: tuple[str, ...] = ()  # shown, changed only by operations (a count's status)
    item_field: str = "item"
    item_search_url_name: str = ""
    prepare_lines: Callable[[Any, list[Any]], None] | None = None  # fill server-side line fields before saving
    locked: Callable[[Any], str] | None = None  # a reason the document cannot be edited, or ""
    actions: tuple[DocumentAction, ...] = ()
    # the list page
    list_columns: tuple[Column, ...] = ()
    list_filters: tuple[Filter, ...] = ()
    list_queryset: Callable[[], QuerySet] | None = None
    search_fields: tuple[str, ...] = ("number", "comment")
    # the print form
    print_template: str | None = None
    print_context: Callable[[Any], dict[str, Any]] | None = None
    title: Label | None = None
    # a page of its own: a template extending "web/document/form.html" (it fills the blocks doc_toolbar,
    # doc_before_form, doc_form_extra, doc_footer_buttons, doc_after_form), and what else it shows
    form_template: str = "web/document/form.html"
    extra_context: Callable[[HttpRequest, DocumentPage], dict[str, Any]] | None = None
    line_form: type[forms.ModelForm] | None = None  # base form of a line (a DocumentLineForm subclass)
    hidden_line_fields: tuple[str, ...] = ()  # line fields kept in hidden inputs (a line's stable code)
    item_search_params: tuple[str, ...] = ()  # header fields sent along with the item search (agreement)
    # a page's own forms beside the header and lines (an order's payment stages): `extra_forms(request, page)`
    # binds them from the POST into `page.extra` and returns more keyword arguments for `save`, or None when
    # they are invalid. Errors a service names under a key of `page.extra` ("stages.2.percent") go to
    # `page.extra_errors` for those forms to show.
    extra_forms: Callable[[HttpRequest, DocumentPage], dict[str, Any] | None] | None = None
    # what to say after a save, when the page's own button did more than save (an order agreed at once): a message,
    # or "" for the usual one
    saved_message: Callable[[HttpRequest, Any], str] | None = None

    @property
    def postable(self) -> bool:
        """Whether the document is posted by hand (templates cannot test `post`: they would call it)."""
        return self.post is not None

    @property
    def url_path(self) -> str:
        return self.path or self.key.replace("_", "-")

    def url(self, suffix: str, *args: Any) -> str:
        return reverse(f"{self.namespace}:{self.key}_{suffix}", args=args)

    @property
    def verbose_name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def list_title(self) -> str:
        return str(self.title or str(self.model._meta.verbose_name_plural).capitalize())

    def rows(self) -> QuerySet:
        return self.model._default_manager.all()

    def edit_line_fields(self) -> list[str]:
        return [c.name for c in self.line_columns if not c.computed and c.value is None and c.name != self.item_field]


# ------------------------------------------------------------------ forms
class DocumentLineForm(BootstrapMixin, forms.ModelForm):
    """One row of the lines table; the item comes as a hidden id chosen through the item search."""


def header_form_class(config: DocumentConfig) -> type[forms.ModelForm]:
    base = config.header_form or forms.ModelForm
    bases = (base,) if issubclass(base, BootstrapMixin) else (BootstrapMixin, base)
    widgets: dict[str, forms.Widget] = {
        "date": forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S"),
        "comment": forms.Textarea(attrs={"rows": 2}),
    }
    editable = [f for f in config.header_fields if f not in config.read_only_header]
    return forms.modelform_factory(config.model, form=type("HeaderForm", bases, {}), fields=editable,
                                   widgets=widgets)


class VersionForm(forms.Form):
    version = forms.IntegerField(required=False, widget=forms.HiddenInput)


_LINE_FORMS: dict[int, type[forms.ModelForm]] = {}


def line_form_class(config: DocumentConfig) -> type[forms.ModelForm]:
    """The form of one line (built once per document type)."""
    cached = _LINE_FORMS.get(id(config))
    if cached is None:
        cached = _LINE_FORMS[id(config)] = _build_line_form(config)
    return cached


def _build_line_form(config: DocumentConfig) -> type[forms.ModelForm]:
    fields = [config.item_field, *config.edit_line_fields(), *config.hidden_line_fields]
    widgets: dict[str, forms.Widget] = {config.item_field: forms.HiddenInput(attrs={"data-role": "item-id"})}
    for name in config.hidden_line_fields:
        widgets[name] = forms.HiddenInput(attrs={"data-role": name})
    for name in config.edit_line_fields():
        f = config.line_model._meta.get_field(name)
        role = next((c.js_role for c in config.line_columns if c.name == name), name)
        if isinstance(f, models.DecimalField):
            widgets[name] = forms.NumberInput(attrs={"step": "any", "min": "0", "data-role": role,
                                                     "class": "text-end", "inputmode": "decimal"})
        elif f.choices:
            widgets[name] = forms.Select(attrs={"data-role": role})
    form = forms.modelform_factory(config.line_model, form=config.line_form or DocumentLineForm, fields=fields,
                                   widgets=widgets)
    form.base_fields[config.item_field].queryset = Item.objects.all()  # type: ignore[attr-defined]
    form.base_fields[config.item_field].error_messages["required"] = gettext_lazy(  # type: ignore[index]
        "Choose an item: type a part of its name or article and pick it from the list.")
    form.base_fields[config.item_field].error_messages["invalid_choice"] = gettext_lazy(  # type: ignore[index]
        "This item does not exist any more: choose another one.")
    for name in config.edit_line_fields():
        form.base_fields[name].label = ""
    for name in config.hidden_line_fields:
        form.base_fields[name].required = False  # a new line has none yet: the save service gives it
    return form


LINE_KEY = re.compile(r"^lines-(\d+)-")


def _posted_line_indices(data: Any) -> list[int]:
    return sorted({int(m.group(1)) for k in data.keys() if (m := LINE_KEY.match(k))})


@dataclass
class LineCell:
    column: LineColumn
    field: Any = None  # a bound form field, for editable columns
    value: Any = None  # for computed columns
    is_number: bool = False
    label: str = ""  # the column's title, for screen readers


@dataclass
class LineRow:
    index: int | str
    form: Any
    item_label: str
    cells: list[LineCell]
    number: int | str = ""
    errors: list[str] = field(default_factory=list)


# ------------------------------------------------------------------ page state
@dataclass
class DocumentPage:
    config: DocumentConfig
    document: Document
    header: forms.ModelForm
    version: VersionForm
    line_forms: list[tuple[int, forms.ModelForm]]
    error: str = ""
    error_code: str = ""
    status: int = 200
    extra: dict[str, Any] = field(default_factory=dict)  # a page's own forms (an order's payment stages)
    extra_errors: dict[str, list[str]] = field(default_factory=dict)


def _line_form(config: DocumentConfig, index: int, data: Any = None, instance: Any = None) -> forms.ModelForm:
    cls = line_form_class(config)
    return cls(data, prefix=f"lines-{index}", instance=instance if instance is not None else config.line_model())


def _lines_from_post(config: DocumentConfig, data: Any) -> list[tuple[int, forms.ModelForm]]:
    """The rows the browser sent, without rows left completely empty."""
    result = []
    for i in _posted_line_indices(data):
        prefix = f"lines-{i}-"
        values = [data.get(prefix + config.item_field, "").strip(), data.get(prefix + "item_text", "").strip()]
        values += [data.get(prefix + n, "").strip() for n in config.edit_line_fields()
                   if not config.line_model._meta.get_field(n).choices]
        if not any(values):
            continue
        result.append((i, _line_form(config, i, data)))
    return result


def _resolve_typed_items(config: DocumentConfig, data: Any) -> Any:
    """Without JavaScript the item id stays empty: find the item by the exact name or article typed."""
    missing: dict[str, str] = {}
    for i in _posted_line_indices(data):
        prefix = f"lines-{i}-"
        text = data.get(prefix + "item_text", "").strip()
        if text and not data.get(prefix + config.item_field, "").strip():
            missing[prefix + config.item_field] = text
    if not missing:
        return data
    texts = set(missing.values())
    found: dict[str, list[int]] = defaultdict(list)
    for pk, name, sku in Item.objects.filter(models.Q(name__in=texts) | models.Q(sku__in=texts)).values_list(
            "pk", "name", "sku"):
        found[name].append(pk)
        if sku:
            found[sku].append(pk)
    data = data.copy()
    for key, text in missing.items():
        if len(found.get(text, [])) == 1:
            data[key] = str(found[text][0])
    return data


def _item_labels(config: DocumentConfig, line_forms: list[tuple[int, forms.ModelForm]]) -> dict[int, dict[str, Any]]:
    ids = set()
    for _i, form in line_forms:
        raw = form[config.item_field].value()
        if raw not in (None, "") and str(raw).isdigit():
            ids.add(int(raw))
    return {pk: {"label": _item_label(name, sku), "unit": unit}
            for pk, name, sku, unit in Item.objects.filter(pk__in=ids).values_list("pk", "name", "sku", "unit__name")}


def _item_label(name: str, sku: str) -> str:
    return f"{name} · {sku}" if sku else name


def _rows(page: DocumentPage, request: HttpRequest) -> list[LineRow]:
    config = page.config
    labels = _item_labels(config, page.line_forms)
    rows = []
    for n, (index, form) in enumerate(page.line_forms, start=1):
        raw = form[config.item_field].value()
        info = labels.get(int(raw)) if raw not in (None, "") and str(raw).isdigit() else None
        typed = (form.data.get(f"lines-{index}-item_text", "") if form.is_bound else "")
        cells = []
        for col in config.line_columns:
            if col.name == config.item_field:
                continue
            if col.computed or col.value is not None:
                value = col.value(form.instance) if col.value else getattr(form.instance, col.name, None)
                cells.append(LineCell(col, value=value, is_number=isinstance(value, Decimal),
                                      label=column_label(config, col)))
            else:
                cells.append(LineCell(col, field=form[col.name], label=column_label(config, col)))
        errors = [str(e) for e in form.non_field_errors()]
        rows.append(LineRow(index, form, info["label"] if info else typed, cells, n, errors))
    return rows


def _empty_row(config: DocumentConfig) -> LineRow:
    form = line_form_class(config)(prefix="lines-__prefix__", instance=config.line_model())
    cells = []
    for col in config.line_columns:
        if col.name == config.item_field:
            continue
        if col.computed or col.value is not None:
            cells.append(LineCell(col, value=None, is_number=True, label=column_label(config, col)))
        else:
            cells.append(LineCell(col, field=form[col.name], label=column_label(config, col)))
    return LineRow("__prefix__", form, "", cells)


# ------------------------------------------------------------------ side sections
@dataclass
class MovementTable:
    register: Register
    columns: list[str]
    rows: list[list[Any]]

    @property
    def numeric_from(self) -> int:
        """Columns after this one hold resources (right-aligned)."""
        return len(self.columns) - len(self.register.resources)


def movement_tables(document: Document) -> list[MovementTable]:
    """The document's stored movements, one table per register, columns from the register declaration."""
    tables = []
    per_register = document_movements(document)
    wanted: dict[str, set[Any]] = defaultdict(set)
    for register, rows in per_register:
        for d in register.dimensions:
            if d.to:
                wanted[d.to].update(getattr(r, d.attname) for r in rows)
    from django.apps import apps

    names: dict[tuple[str, Any], str] = {}
    for label, ids in wanted.items():
        for obj in apps.get_model(label)._default_manager.filter(pk__in=[i for i in ids if i is not None]):
            names[(label, obj.pk)] = str(obj)
    for register, rows in per_register:
        columns = [_("Line"), _("Period"), pgettext("register movement", "Kind")]
        columns += [str(d.verbose_name or d.name).capitalize() for d in register.dimensions]
        columns += [str(r.verbose_name or r.name).capitalize() for r in register.resources]
        table_rows = []
        for r in rows:
            kind = "" if not register.is_balance else (
                pgettext("register movement", "receipt") if r.record_type == RecordType.RECEIPT
                else pgettext("register movement", "expense"))
            cells: list[Any] = [r.line_no, timezone.localtime(r.period), kind]
            for d in register.dimensions:
                v = getattr(r, d.attname)
                cells.append(names.get((d.to, v), v) if d.to else v)
            cells += [getattr(r, res.name) for res in register.resources]
            table_rows.append(cells)
        tables.append(MovementTable(register, columns, table_rows))
    return tables


@dataclass
class HistoryRow:
    at: dt.datetime
    user: str
    action: str
    changes: list[str]


def _history_value(f: models.Field | None, value: Any) -> Any:
    """A logged value as a person reads it: "—" for nothing, yes/no, the label of a choice, dates and
    numbers in the reader's format (the log keeps them as ISO strings)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if f is not None and f.choices:
        return dict(f.flatchoices).get(value, value)
    if isinstance(f, models.DateTimeField) and isinstance(value, str):
        moment = parse_datetime(value)
        if moment is not None:
            moment = timezone.localtime(moment) if timezone.is_aware(moment) else moment
            return date_format(moment, "SHORT_DATETIME_FORMAT")
    elif isinstance(f, models.DateField) and isinstance(value, str):
        day = parse_date(value)
        if day is not None:
            return date_format(day, "SHORT_DATE_FORMAT")
    elif isinstance(f, models.DecimalField) and isinstance(value, str):
        try:
            return number_format(Decimal(value), decimal_pos=f.decimal_places)
        except ArithmeticError:
            return value
    return value


def history_rows(document: Document, limit: int = 50) -> list[HistoryRow]:
    ct = ContentType.objects.get_for_model(document)
    entries = list(ChangeLogEntry.objects.filter(content_type=ct, object_id=document.pk)
                   .select_related("user").order_by("-at", "-id")[:limit])
    meta = type(document)._meta
    fk_ids: dict[type[models.Model], set[Any]] = defaultdict(set)
    for e in entries:
        for name, change in (e.changes or {}).items():
            if name == "lines" or not isinstance(change, list):
                continue
            f = next((x for x in meta.concrete_fields if x.attname == name), None)
            if f is not None and f.is_relation and f.related_model is not None:
                fk_ids[f.related_model].update(v for v in change if v is not None)
    fk_names: dict[tuple[Any, Any], str] = {}
    for model, ids in fk_ids.items():
        for obj in model._default_manager.filter(pk__in=ids):
            fk_names[(model, obj.pk)] = str(obj)
    result = []
    for e in entries:
        changes = []
        for name, change in (e.changes or {}).items():
            if name == "lines":
                before = len(change.get("before") or [])
                after = len(change.get("after") or [])
                changes.append(_("lines changed (%(before)s → %(after)s rows)") % {"before": before, "after": after})
                continue
            f = next((x for x in meta.concrete_fields if x.attname == name), None)
            label = str(f.verbose_name) if f is not None else name
            old, new = (change + [None, None])[:2] if isinstance(change, list) else (None, change)
            if f is not None and f.is_relation:
                old = fk_names.get((f.related_model, old), old)
                new = fk_names.get((f.related_model, new), new)
            changes.append(f"{label}: {_history_value(f, old)} → {_history_value(f, new)}")
        user = (e.user.get_full_name() or e.user.get_username()) if e.user else _("system")
        result.append(HistoryRow(e.at, user, e.get_action_display(), changes))
    return result


@dataclass
class LinkedDocument:
    title: str
    url: str | None
    posted: bool
    deletion_mark: bool


_CONFIGS: dict[type[models.Model], DocumentConfig] = {}


def _linked(objs: Sequence[models.Model]) -> list[LinkedDocument]:
    result = []
    for obj in objs:
        cfg = _CONFIGS.get(type(obj))
        url = cfg.url("edit", obj.pk) if cfg else None
        result.append(LinkedDocument(str(obj), url, bool(getattr(obj, "posted", False)),
                                     bool(getattr(obj, "deletion_mark", False))))
    return result


# ------------------------------------------------------------------ rendering
def column_label(config: DocumentConfig, column: LineColumn) -> str:
    if column.label is not None:
        return str(column.label)
    try:
        name = str(config.line_model._meta.get_field(column.name).verbose_name)
    except Exception:  # noqa: BLE001 — a shown value that is not a field
        name = column.name.replace("_", " ")
    return name[:1].upper() + name[1:]


def _totals(config: DocumentConfig, document: Document, page: DocumentPage) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = {}
    for col in config.line_columns:
        if not col.total:
            continue
        total = Decimal(0)
        for _i, form in page.line_forms:
            value = getattr(form.instance, col.name, None) if col.computed else (
                form.cleaned_data.get(col.name) if form.is_bound and hasattr(form, "cleaned_data")
                else getattr(form.instance, col.name, None))
            if isinstance(value, Decimal):
                total += value
        totals[col.name] = total
    return totals


def render_document(request: HttpRequest, page: DocumentPage) -> HttpResponse:
    config, doc = page.config, page.document
    user = request.user
    lock_reason = config.locked(doc) if (config.locked and doc.pk) else ""
    can_edit = has_capability(user, config.edit_cap) and not lock_reason
    can_post = has_capability(user, config.post_cap) and config.post is not None
    if not can_edit:
        for f in page.header.fields.values():
            f.disabled = True
        for _i, form in page.line_forms:
            for f in form.fields.values():
                f.disabled = True
    read_only = [(str(config.model._meta.get_field(n).verbose_name).capitalize(),
                  getattr(doc, f"get_{n}_display", lambda n=n: getattr(doc, n))())
                 for n in config.read_only_header]
    tables = movement_tables(doc) if doc.pk else []
    actions = [a for a in config.actions if doc.pk and a.available(doc) and has_capability(user, a.capability)]
    context = {
        "config": config,
        "doc": doc,
        "header": page.header,
        "version_form": page.version,
        "rows": _rows(page, request),
        "empty_row": _empty_row(config),
        "column_labels": [(c, column_label(config, c)) for c in config.line_columns if c.name != config.item_field],
        "item_label": column_label(config, next(c for c in config.line_columns if c.name == config.item_field)),
        "next_index": max([i for i, _f in page.line_forms] + [-1]) + 1,
        "totals": _totals(config, doc, page),
        "error": page.error,
        "error_code": page.error_code,
        "can_edit": can_edit,
        "can_post": can_post,
        "lock_reason": lock_reason,
        "read_only": read_only,
        "actions": [(a, config.url(a.name, doc.pk)) for a in actions],
        "title": str(doc) if doc.pk else _("New: %(kind)s") % {"kind": config.verbose_name},
        "list_url": config.url("list"),
        "item_search_url": reverse(config.item_search_url_name) if config.item_search_url_name else "",
        "base_docs": _linked(base_documents(doc)) if doc.pk else [],
        "derived_docs": _linked(derived_documents(doc)) if doc.pk else [],
        "movements": tables,
        "movement_count": sum(len(t.rows) for t in tables),
        "history": history_rows(doc) if doc.pk else [],
        "item_search_params": " ".join(config.item_search_params),
    }
    if config.extra_context:
        context.update(config.extra_context(request, page))
    return render(request, config.form_template, context, status=page.status)


def _fresh_page(config: DocumentConfig, doc: Document, error: str = "", code: str = "",
                status: int = 200) -> DocumentPage:
    lines = list(doc.lines.select_related(config.item_field).order_by("line_no", "id")) if doc.pk else []  # type: ignore[attr-defined]
    return DocumentPage(
        config, doc, header_form_class(config)(instance=doc), VersionForm(initial={"version": doc.version}),
        [(i, _line_form(config, i, instance=line)) for i, line in enumerate(lines)], error, code, status,
    )


def document_page(config: DocumentConfig, doc: Document, error: str = "", code: str = "",
                  status: int = 200) -> DocumentPage:
    """The page of a document as it is stored, with an error to show (for a page's own operations)."""
    return _fresh_page(config, doc, error, code, status)


def _apply_core_error(page: DocumentPage, exc: CoreError) -> None:
    """Put field errors at their fields and lines; everything else becomes the alert at the top."""
    page.error = exc.message
    page.error_code = str(exc.code)
    if exc.code == ErrorCode.CONCURRENT_EDIT:
        page.status = 409
    for name, msgs in (exc.fields or {}).items():
        match = re.match(r"^lines\.(\d+)\.(\w+)$", name)
        if match:
            n, fname = int(match.group(1)), match.group(2)
            if 1 <= n <= len(page.line_forms):
                form = page.line_forms[n - 1][1]
                form.add_error(fname if fname in form.fields else None, msgs)
                continue
        if name in page.header.fields:
            page.header.add_error(name, msgs)
        elif name.split(".")[0] in page.extra:
            page.extra_errors.setdefault(name, []).extend(msgs)
        elif name != "__all__":
            label = _field_label(page.config.model, name)
            page.header.add_error(None, [f"{label}: {m}" for m in msgs])
        else:
            page.header.add_error(None, msgs)


def _field_label(model: type[models.Model], name: str) -> str:
    """The verbose name of a field an error names ("warehouse_id" → "warehouse"), or the name itself."""
    field = next((f for f in model._meta.concrete_fields if name in (f.name, f.attname)), None)
    return str(field.verbose_name) if field is not None else name


@transaction.atomic
def save_and_post(config: DocumentConfig, document: Document, lines: list[Any], *, user: Any,
                  expected_version: int | None, **extra: Any) -> Document:
    """Save the document and post it in one transaction: a refused posting also discards the save."""
    assert config.post is not None
    return config.save(document, lines, user=user, expected_version=expected_version, post=True, **extra)


def _save(request: HttpRequest, config: DocumentConfig, doc: Document) -> HttpResponse:
    and_post = request.POST.get("action") == "save_post" and config.postable
    if and_post:
        check(request, config.post_cap)
    if doc.pk and config.locked and config.locked(doc):
        return render_document(request, _fresh_page(config, doc, config.locked(doc), ErrorCode.INVALID))
    data = _resolve_typed_items(config, request.POST)
    header = header_form_class(config)(data, instance=doc)
    version = VersionForm(data)
    line_forms = _lines_from_post(config, data)
    page = DocumentPage(config, doc, header, version, line_forms)
    valid = header.is_valid() & version.is_valid()
    for _i, form in line_forms:
        valid = form.is_valid() and valid
    extra: dict[str, Any] = {}
    if config.extra_forms:
        read = config.extra_forms(request, page)
        valid = valid and read is not None
        extra = read or {}
    if not valid:
        page.error = _("Please correct the errors below.")
        page.error_code = ErrorCode.INVALID
        return render_document(request, page)
    lines = [form.instance for _i, form in line_forms]
    if config.prepare_lines:
        config.prepare_lines(header.instance, lines)
    expected = version.cleaned_data.get("version") if doc.pk else None
    saved_state = (doc.pk, doc.number, doc.version, doc.posted, doc.author_id)  # type: ignore[attr-defined]
    try:
        if and_post:
            save_and_post(config, header.instance, lines, user=request.user, expected_version=expected, **extra)
        else:
            config.save(header.instance, lines, user=request.user, expected_version=expected, **extra)
    except CoreError as exc:
        # The transaction rolled back: give the in-memory document its previous identity back.
        doc.pk, doc.number, doc.version, doc.posted, doc.author_id = saved_state  # type: ignore[attr-defined]
        _apply_core_error(page, exc)
        return render_document(request, page)
    saved = header.instance
    own = config.saved_message(request, saved) if config.saved_message else ""
    if own:
        messages.success(request, own)
    elif and_post:
        messages.success(request, _("Saved and posted: %(doc)s.") % {"doc": saved})
    else:
        messages.success(request, _("Saved: %(doc)s.") % {"doc": saved})
    return HttpResponseRedirect(config.url("edit", saved.pk))


# ------------------------------------------------------------------ views
def make_document_views(config: DocumentConfig) -> dict[str, Callable[..., HttpResponse]]:
    """The list, new, edit, post, unpost, mark, print and extra-action views of one document type."""
    _CONFIGS[config.model] = config
    listing = ListConfig(
        model=config.model, columns=config.list_columns or (Column("number", link=True), Column("date")),
        # lazy: the title is read in the language of each request, not of the import
        title=lazy(lambda: config.list_title, str)(), search_fields=config.search_fields, filters=config.list_filters,
        ordering=("-date",), queryset=config.list_queryset,
        row_url=lambda obj: config.url("edit", obj.pk), create_url_name=f"{config.namespace}:{config.key}_new",
        template_name="web/document/list.html",
    )

    @requires(config.view_cap)
    def list_view(request: HttpRequest) -> HttpResponse:
        qs = config.list_queryset() if config.list_queryset else config.rows()
        period = _period(request)
        if period["start"]:
            qs = qs.filter(date__gte=period["start"])
        if period["end"]:
            qs = qs.filter(date__lt=period["end"])
        return render_list(request, listing, queryset=qs, extra_context={"period": period},
                           can_create=has_capability(request.user, config.edit_cap))

    @requires(config.view_cap, config.edit_cap)
    def new_view(request: HttpRequest) -> HttpResponse:
        doc = config.model()
        if request.method == "POST":
            return _save(request, config, doc)
        return render_document(request, _fresh_page(config, doc))

    @requires(config.view_cap, write=(config.edit_cap,))
    def edit_view(request: HttpRequest, pk: int) -> HttpResponse:
        doc = get_object_or_404(config.rows(), pk=pk)
        if request.method == "POST":
            return _save(request, config, doc)
        return render_document(request, _fresh_page(config, doc))

    def _operation(request: HttpRequest, pk: int, run: Callable[[Document], str]) -> HttpResponse:
        doc = get_object_or_404(config.rows(), pk=pk)
        try:
            message = run(doc)
        except CoreError as exc:
            doc.refresh_from_db()
            status = 409 if exc.code == ErrorCode.CONCURRENT_EDIT else 200
            return render_document(request, _fresh_page(config, doc, exc.message, str(exc.code), status))
        messages.success(request, message)
        return HttpResponseRedirect(config.url("edit", doc.pk))

    @requires(config.view_cap, config.post_cap)
    @require_POST
    def post_view(request: HttpRequest, pk: int) -> HttpResponse:
        if config.post is None:
            raise_not_found()

        def run(doc: Document) -> str:
            config.post(doc, user=request.user)  # type: ignore[misc]
            return _("Posted: %(doc)s.") % {"doc": doc}

        return _operation(request, pk, run)

    @requires(config.view_cap, config.post_cap)
    @require_POST
    def unpost_view(request: HttpRequest, pk: int) -> HttpResponse:
        if config.unpost is None:
            raise_not_found()

        def run(doc: Document) -> str:
            config.unpost(doc, user=request.user)  # type: ignore[misc]
            return _("Unposted: %(doc)s.") % {"doc": doc}

        return _operation(request, pk, run)

    @requires(config.view_cap, config.edit_cap)
    @require_POST
    def mark_view(request: HttpRequest, pk: int) -> HttpResponse:
        mark = request.POST.get("mark", "1") == "1"

        def run(doc: Document) -> str:
            if mark and doc.posted:
                check(request, config.post_cap)  # marking a posted document unposts it
            set_deletion_mark(doc, mark, user=request.user)
            return (_("%(doc)s is marked for deletion.") if mark
                    else _("The deletion mark of %(doc)s is removed.")) % {"doc": doc}

        return _operation(request, pk, run)

    @requires(config.view_cap)
    def print_view(request: HttpRequest, pk: int) -> HttpResponse:
        from torg.printing.services import render_pdf

        doc = get_object_or_404(config.rows(), pk=pk)
        if not config.print_template:
            raise_not_found()
        context = config.print_context(doc) if config.print_context else {"doc": doc}
        pdf = render_pdf(config.print_template, context)
        response = HttpResponse(pdf, content_type="application/pdf")
        filename = f"{config.key}-{doc.number or doc.pk}.pdf"
        response["Content-Disposition"] = f'inline; filename="{filename}"'
        return response

    views: dict[str, Callable[..., HttpResponse]] = {
        "list": list_view, "new": new_view, "edit": edit_view, "post": post_view, "unpost": unpost_view,
        "mark": mark_view, "print": print_view,
    }
    for v in (post_view, unpost_view, mark_view):
        v.post_only = True  # type: ignore[attr-defined]

    for action in config.actions:
        views[action.name] = _action_view(config, action, _operation)
    return views


def _action_view(config: DocumentConfig, action: DocumentAction,
                 operation: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @requires(config.view_cap, action.capability)
    @require_POST
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return operation(request, pk, lambda doc: action.run(doc, request.user))

    view.post_only = True  # type: ignore[attr-defined]
    return view


def raise_not_found() -> NoReturn:
    raise Http404


def document_urls(config: DocumentConfig) -> list[URLPattern]:
    """URL patterns of one document type, to add to the area's urls.py (which sets app_name)."""
    v = make_document_views(config)
    p, k = config.url_path, config.key
    patterns = [
        path(f"{p}/", v["list"], name=f"{k}_list"),
        path(f"{p}/new/", v["new"], name=f"{k}_new"),
        path(f"{p}/<int:pk>/", v["edit"], name=f"{k}_edit"),
        path(f"{p}/<int:pk>/post/", v["post"], name=f"{k}_post"),
        path(f"{p}/<int:pk>/unpost/", v["unpost"], name=f"{k}_unpost"),
        path(f"{p}/<int:pk>/mark/", v["mark"], name=f"{k}_mark"),
        path(f"{p}/<int:pk>/print/", v["print"], name=f"{k}_print"),
    ]
    for action in config.actions:
        patterns.append(path(f"{p}/<int:pk>/{action.name}/", v[action.name], name=f"{k}_{action.name}"))
    return patterns


def _period(request: HttpRequest) -> dict[str, Any]:
    """The list's period filter: `from` and `to` dates (both included)."""
    result: dict[str, Any] = {"from": "", "to": "", "start": None, "end": None}
    for key in ("from", "to"):
        raw = request.GET.get(key, "")
        try:
            day = dt.date.fromisoformat(raw) if raw else None
        except ValueError:
            day = None
        if day is None:
            continue
        result[key] = day.isoformat()
        moment = timezone.make_aware(dt.datetime.combine(day, dt.time.min))
        if key == "from":
            result["start"] = moment
        else:
            result["end"] = moment + dt.timedelta(days=1)
    return result


def item_search(request: HttpRequest, queryset: QuerySet | None = None) -> JsonResponse:
    """Items matching `q` (name, article or barcode) for the lines' item search: [{id, label, unit, vat_rate}]."""
    from torg.web.listing import _search_q  # the same case rules as the list pages

    text = request.GET.get("q", "").strip()
    qs = queryset if queryset is not None else Item.objects.filter(deletion_mark=False)
    if text:
        barcode_ids = Item.objects.filter(barcodes__code=text).values("pk") if text.isdigit() else None
        q = _search_q(("name", "sku"), text)
        if barcode_ids is not None:
            q |= models.Q(pk__in=barcode_ids)
        qs = qs.filter(q)
    rows = qs.order_by("name").values("pk", "name", "sku", "unit__name", "vat_rate")[:ITEM_SEARCH_LIMIT]
    return JsonResponse({"items": [
        {"id": r["pk"], "label": _item_label(r["name"], r["sku"]), "unit": r["unit__name"], "vat_rate": r["vat_rate"]}
        for r in rows
    ]})
