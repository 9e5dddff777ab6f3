"""Bank-statement pages: the statements imported, importing a file, a statement with its lines and problems, the lines
still to match, one line (match it to a client and orders, ignore it, correct an acquiring credit, post it), and the
export of payment orders. Accountants and administrators only (`Cap.BANK_STATEMENTS`).

Thin: parse the forms, call `torg.payments.bank`, render.
"""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from torg.core.errors import CoreError
from torg.core.permissions import Cap
from torg.payments import bank
from torg.payments.forms import int_or_none, parse_money
from torg.payments.forms_bank import AcquiringForm, ExportForm, IgnoreForm, ImportForm, MatchForm
from torg.payments.models import BankLineAllocation, BankStatement, BankStatementLine, LineStatus
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list

BANK = (Cap.PAYMENTS_VIEW, Cap.BANK_STATEMENTS)
STATUS_BADGES = {
    LineStatus.UNMATCHED: "text-bg-warning", LineStatus.MATCHED: "text-bg-info", LineStatus.ACQUIRING: "text-bg-info",
    LineStatus.POSTED: "text-bg-success", LineStatus.OUTGOING: "text-bg-light border",
    LineStatus.IGNORED: "text-bg-secondary",
}


def _when(moment: Any) -> str:
    return date_format(timezone.localtime(moment), "SHORT_DATETIME_FORMAT")


def _day(value: Any) -> str:
    return date_format(value, "SHORT_DATE_FORMAT") if value else "—"


STATEMENTS = ListConfig(
    model=BankStatement,
    title=gettext_lazy("Bank statements"),
    columns=(
        Column("imported_at", gettext_lazy("Imported"), link=True, value=lambda s: _when(s.imported_at)),
        Column("file_name", gettext_lazy("File")),
        Column("bank_account__number", gettext_lazy("Account")),
        Column("period_start", gettext_lazy("From"), value=lambda s: _day(s.period_start)),
        Column("period_end", gettext_lazy("To"), value=lambda s: _day(s.period_end)),
        Column("documents", gettext_lazy("Documents"), align_end=True),
        Column("new_lines", gettext_lazy("New"), align_end=True),
        Column("duplicates", gettext_lazy("Duplicates"), align_end=True),
        Column("not_imported", gettext_lazy("Not imported"), align_end=True),
        Column("to_match", gettext_lazy("To match"), align_end=True),
        Column("imported_by__username", gettext_lazy("Imported by")),
    ),
    search_fields=("file_name", "sender", "bank_account__number"),
    ordering=("-imported_at", "-id"),
    row_url=lambda s: reverse("payments:bank_statement", args=[s.pk]),
    create_url_name="payments:bank_import",
    queryset=lambda: BankStatement.objects.select_related("bank_account", "imported_by").annotate(
        to_match=Count("lines", filter=Q(lines__status=LineStatus.UNMATCHED))),
    template_name="payments/bank/statement_list.html",
)

LINES = ListConfig(
    model=BankStatementLine,
    title=gettext_lazy("Bank statement lines"),
    columns=(
        Column("posting_date", gettext_lazy("Posted by the bank"), value=lambda ln: _day(ln.posting_date)),
        Column("number", gettext_lazy("No."), link=True),
        Column("direction", gettext_lazy("Direction")),
        Column("amount", gettext_lazy("Amount"), align_end=True),
        Column("counterparty_name", gettext_lazy("Payer or payee")),
        Column("counterparty_inn", gettext_lazy("INN")),
        Column("status", gettext_lazy("Status")),
        Column("partner__name", gettext_lazy("Client")),
        Column("bank_account__number", gettext_lazy("Our account")),
    ),
    search_fields=("number", "counterparty_name", "counterparty_inn", "counterparty_account", "purpose"),
    filters=(Filter("status"), Filter("direction")),
    ordering=("-posting_date", "-id"),
    row_url=lambda ln: reverse("payments:bank_line", args=[ln.pk]),
    queryset=lambda: BankStatementLine.objects.select_related("partner", "bank_account"),
)
LINES_TO_MATCH = ListConfig(
    model=BankStatementLine,
    title=gettext_lazy("Bank lines to match"),
    columns=LINES.columns,
    search_fields=LINES.search_fields,
    filters=(Filter("direction"),),
    ordering=("-posting_date", "-id"),
    row_url=LINES.row_url,
    queryset=lambda: BankStatementLine.objects.filter(status=LineStatus.UNMATCHED).select_related("partner",
                                                                                                 "bank_account"),
)


# ------------------------------------------------------------------ statements
@requires(*BANK)
def statement_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, STATEMENTS)


@requires(*BANK)
def statement_import(request: HttpRequest) -> HttpResponse:
    """Upload a statement file: its lines are imported (each document once), matched where they can be, and the
    statement shown with what could not be read, line by line."""
    problems: list[Any] = []
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            result = bank.import_bank_statement(upload.read(), user=request.user, file_name=upload.name or "")
            if result.statement is not None:
                _import_messages(request, result)
                return HttpResponseRedirect(reverse("payments:bank_statement", args=[result.statement.pk]))
            problems = result.problems
    else:
        form = ImportForm()
    return render(request, "payments/bank/import.html", {"form": form, "problems": problems})


def _import_messages(request: HttpRequest, result: bank.ImportResult) -> None:
    if result.already_imported:
        messages.info(request, _("This file was imported before: nothing new in it (%(duplicates)s documents "
                                 "already imported).") % {"duplicates": result.duplicates})
        return
    messages.success(request, _(
        "Imported: %(new)s new lines of %(documents)s documents; %(duplicates)s already imported, %(not_imported)s "
        "not imported.") % {"new": result.new, "documents": result.documents, "duplicates": result.duplicates,
                            "not_imported": result.not_imported})
    if result.problems:
        messages.warning(request, ngettext("%(count)s problem in the file: see the list below.",
                                           "%(count)s problems in the file: see the list below.",
                                           len(result.problems)) % {"count": len(result.problems)})


def _lines(qs: Any) -> Any:
    return (qs.select_related("partner", "payment", "acquiring_credit", "refund", "bank_account")
            .prefetch_related(Prefetch("allocations", BankLineAllocation.objects.select_related("order"))))


def _decorate(lines: list[BankStatementLine]) -> list[BankStatementLine]:
    checks = bank.clearing_checks(lines)
    for ln in lines:
        ln.badge = STATUS_BADGES.get(ln.status, "text-bg-light")  # type: ignore[attr-defined]
        ln.check = checks.get(ln.pk)  # type: ignore[attr-defined]
        ln.note_list = bank.note_texts(ln)  # type: ignore[attr-defined]
    return lines


@requires(*BANK)
def statement_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A statement: what was in the file, what could not be read (line by line), its lines with their status; post
    the lines that are ready."""
    statement = get_object_or_404(BankStatement.objects.select_related("bank_account", "imported_by"), pk=pk)
    if request.method == "POST" and request.POST.get("action") == "post":
        _post(request, bank.lines_to_post(statement))
        return HttpResponseRedirect(reverse("payments:bank_statement", args=[statement.pk]))
    status = request.GET.get("status", "")
    qs = statement.lines.all()
    if status in LineStatus.values:
        qs = qs.filter(status=status)
    lines = _decorate(list(_lines(qs).order_by("source_line", "id")))
    counts = dict(statement.lines.values_list("status").annotate(n=Count("id")).order_by())
    return render(request, "payments/bank/statement_detail.html", {
        "statement": statement, "lines": lines, "problems": bank.problems_of(statement),
        "status": status, "statuses": [(value, label, counts.get(value, 0)) for value, label in LineStatus.choices],
        "ready": counts.get(LineStatus.MATCHED, 0) + counts.get(LineStatus.ACQUIRING, 0),
    })


def _post(request: HttpRequest, lines: Any, *, accept_difference: bool = False) -> bank.PostResult:
    result = bank.post_statement_lines(list(lines), user=request.user, accept_difference=accept_difference)
    if result.posted:
        messages.success(request, ngettext("Posted %(count)s line.", "Posted %(count)s lines.", len(result.posted))
                         % {"count": len(result.posted)})
    for _line, reason in result.refused:
        messages.warning(request, reason)
    if not result.posted and not result.refused:
        messages.info(request, _("Nothing to post."))
    return result


# ------------------------------------------------------------------ lines
@requires(*BANK)
def line_list(request: HttpRequest) -> HttpResponse:
    return render_list(request, LINES, can_create=False)


@requires(*BANK)
def lines_to_match(request: HttpRequest) -> HttpResponse:
    """Incoming money nobody could be found for: a person chooses the client (or ignores the line)."""
    return render_list(request, LINES_TO_MATCH, can_create=False)


@requires(*BANK)
def line_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One line: what the bank wrote, why it has its status, and what a person can do with it."""
    line = get_object_or_404(_lines(BankStatementLine.objects.select_related("statement", "counterparty")), pk=pk)
    errors: list[str] = []
    data = request.POST if request.method == "POST" else None
    action = request.POST.get("action", "") if data is not None else ""
    partner_id = int_or_none((data or request.GET).get("partner")) or line.partner_id
    match_form = MatchForm(data if action == "match" else None, partner_id=partner_id,
                           refresh_url=reverse("payments:bank_line", args=[line.pk]),
                           initial={"partner": partner_id, "counterparty": line.counterparty_id})
    ignore_form = IgnoreForm(data if action == "ignore" else None)
    acquiring_form = AcquiringForm(data if action == "correct" else None, initial={
        "registry_date": line.registry_date, "commission": line.commission, "merchant": line.merchant})
    rows = bank.match_rows(line, partner_id) if line.can_match() else []
    if action:
        try:
            done = _line_action(request, line, action, match_form, ignore_form, acquiring_form, rows)
        except CoreError as exc:
            errors = [exc.message, *[m for msgs in (exc.fields or {}).values() for m in msgs]]
        else:
            if done:
                return HttpResponseRedirect(reverse("payments:bank_line", args=[line.pk]))
            errors = [_("Please correct the errors below.")]
        if action == "match":
            for row in rows:  # show what the person typed
                row.proposed = parse_money(request.POST.get(f"order-{row.order.pk}", "") or "0") or row.proposed
    _decorate([line])
    return render(request, "payments/bank/line_detail.html", {
        "line": line, "errors": errors, "match_form": match_form, "ignore_form": ignore_form,
        "acquiring_form": acquiring_form, "rows": rows, "partner_id": partner_id,
        "allocations": list(line.allocations.all()),
    })


def _line_action(request: HttpRequest, line: BankStatementLine, action: str, match_form: MatchForm,
                 ignore_form: IgnoreForm, acquiring_form: AcquiringForm, rows: list[bank.MatchRow]) -> bool:
    """Run the action the person chose; False when its form is not valid."""
    user = request.user
    if action == "match":
        if not match_form.is_valid():
            return False
        allocations = []
        for row in rows:
            amount = parse_money(request.POST.get(f"order-{row.order.pk}", "") or "0")
            if amount is None:
                match_form.add_error(None, _("“%(value)s” is not an amount.")
                                     % {"value": request.POST.get(f"order-{row.order.pk}")})
                return False
            if amount > 0:
                allocations.append((row.order.pk, amount))
        bank.match_statement_line(line, match_form.cleaned_data["partner"], allocations, user=user,
                                  counterparty=match_form.cleaned_data["counterparty"])
        messages.success(request, _("Matched: %(line)s.") % {"line": line})
    elif action == "ignore":
        if not ignore_form.is_valid():
            return False
        bank.ignore_statement_line(line, user=user, reason=ignore_form.cleaned_data["reason"])
        messages.success(request, _("Ignored: %(line)s.") % {"line": line})
    elif action == "restore":
        bank.restore_statement_line(line, user=user)
        messages.success(request, _("Restored: %(line)s.") % {"line": line})
    elif action == "correct":
        if not acquiring_form.is_valid():
            return False
        data = acquiring_form.cleaned_data
        bank.correct_acquiring_line(line, registry_date=data["registry_date"], commission=data["commission"],
                                    merchant=data["merchant"], user=user)
        messages.success(request, _("Saved: %(line)s.") % {"line": line})
    elif action in ("post", "post_difference"):
        result = bank.post_statement_lines([line], user=user, accept_difference=action == "post_difference")
        if result.refused:
            raise CoreError(bank.BankErrorCode.NOT_READY, result.refused[0][1])
        messages.success(request, _("Posted: %(line)s.") % {"line": line})
    return True


# ------------------------------------------------------------------ export
@requires(*BANK)
def export(request: HttpRequest) -> HttpResponse:
    """Payment orders for the bank's client: the refunds by bank transfer of an account in a period, shown first
    (with those that cannot be sent and why), then downloaded as a 1CClientBankExchange file."""
    form = ExportForm(request.GET if "bank_account" in request.GET else None)
    result = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            result = bank.export_payment_orders(data["bank_account"], data["start"], data["end"])
        except CoreError as exc:
            for name, msgs in (exc.fields or {}).items():
                for message in msgs:
                    form.add_error(name if name in form.fields else None, message)
        else:
            if request.GET.get("download") == "1":
                response = HttpResponse(result.content, content_type="text/plain; charset=windows-1251")
                response["Content-Disposition"] = f'attachment; filename="{result.file_name}"'
                return response
    return render(request, "payments/bank/export.html", {
        "form": form, "result": result, "download_query": request.GET.urlencode() + "&download=1"})
