"""Payments: money a client pays us (by cash, bank transfer or card), refunds of advances, the bank's credits for
card payments, and imported bank statements.

    IncomingPayment ──► Funds(+amount)  ClientSettlements(+paid per allocated order/shipment)
                        ClientAdvances(+the unallocated rest)
                        by card: AcquiringClearing(+amount) instead of Funds — the bank owes it until it pays
    Refund          ──► Funds(−amount)  ClientAdvances(−amount)   (controlled: never above the advance held)
                        by card: AcquiringClearing(−amount) instead of Funds — the bank deducts it
    AcquiringCredit ──► Funds(+credited)  AcquiringClearing(−gross)  BankCharges(+commission)
    CashHandover    ──► Funds(−amount at the courier's desk, +amount at the company's desk)
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import BankAccount, CashDesk, Counterparty, Organization, Partner
from torg.core.documents import Document, DocumentLine
from torg.core.money import MoneyField
from torg.core.registers import Dimension, Movement, Register, RegisterKind, Resource
from torg.sales.models import ClientAdvances, ClientSettlements, SalesOrder, Shipment, settlement_orders

ZERO = Decimal(0)

# Money of the company in a cash desk or on a bank account (денежные средства). Controlled: a till cannot
# give out more than it holds.
Funds = Register(
    name="funds",
    app_label="payments",
    verbose_name=_("Funds"),
    kind=RegisterKind.BALANCE,
    controlled=True,
    lock_order=450,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("cash_desk", "catalogs.CashDesk", _("cash desk")),
        Dimension("bank_account", "catalogs.BankAccount", _("bank account")),
    ],
    resources=[Resource("amount", 2, _("amount"))],
    shortage_message=_("Money in {cash_desk}{bank_account}"),
)
FundsMovement, FundsTotal, FundsMonthlyTotal = Funds.build(__name__)

# Card money the acquiring bank owes us (расчёты с эквайрером): card payments raise it on the day they are taken,
# the bank's credit for that day closes it (net on the account, the commission as a bank charge). Kept by the
# account the bank pays to, the merchant number when the card payment names it, and the day of the card
# operations — the bank's registry pays one day of one merchant. Not controlled: a day's card refunds may exceed
# its sales, and a credit that differs from the day's card payments is posted only when a person accepts the
# difference, which then stays visible here.
AcquiringClearing = Register(
    name="acquiring_clearing",
    app_label="payments",
    verbose_name=_("Acquiring clearing"),
    kind=RegisterKind.BALANCE,
    controlled=False,
    lock_order=440,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("bank_account", "catalogs.BankAccount", _("bank account")),
        Dimension("merchant", None, _("merchant"), max_length=20),
        Dimension("day", None, _("day of the card payments"), max_length=10),
    ],
    resources=[Resource("amount", 2, _("amount"))],
)
AcquiringClearingMovement, AcquiringClearingTotal, AcquiringClearingMonthlyTotal = AcquiringClearing.build(__name__)


class BankChargeKind(models.TextChoices):
    ACQUIRING_COMMISSION = "acquiring", _("acquiring commission")


# What banks charge us (расходы на услуги банков): a turnover register by organization, account and kind.
BankCharges = Register(
    name="bank_charges",
    app_label="payments",
    verbose_name=_("Bank charges"),
    kind=RegisterKind.TURNOVER,
    lock_order=460,
    dimensions=[
        Dimension("organization", "catalogs.Organization", _("organization")),
        Dimension("bank_account", "catalogs.BankAccount", _("bank account")),
        Dimension("kind", None, _("kind"), max_length=20),
    ],
    resources=[Resource("amount", 2, _("amount"))],
)
BankChargesMovement, _BankChargesTotal, BankChargesMonthlyTotal = BankCharges.build(__name__)


def local_day(moment: Any) -> str:
    """The day (ISO) a moment falls on in the project's time zone: the clearing's `day`."""
    return timezone.localtime(moment).date().isoformat() if timezone.is_aware(moment) else moment.date().isoformat()


class PaymentMethod(models.TextChoices):
    CASH = "cash", _("cash")
    BANK = "bank", _("bank transfer")
    CARD = "card", _("card")


class IncomingPayment(Document):
    """A client's payment: a cash receipt order (ПКО), a bank receipt, or a card payment."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("counterparty"))
    method = models.CharField(_("method"), max_length=6, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    cash_desk = models.ForeignKey(CashDesk, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("cash desk"))
    bank_account = models.ForeignKey(BankAccount, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("bank account"))
    amount = MoneyField(_("amount"))
    purpose = models.CharField(_("purpose of payment"), max_length=500, blank=True)
    merchant = models.CharField(_("merchant No."), max_length=20, blank=True,
                                help_text=_("Card payments: the merchant (terminal contract) number the bank's "
                                            "credit names. Leave empty with a single terminal."))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True,
                                       editable=False)
    registers = (AcquiringClearing, ClientAdvances, ClientSettlements, Funds)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("incoming payment")
        verbose_name_plural = _("incoming payments")
        indexes = [models.Index(fields=["partner", "date"])]

    def validate_for_posting(self) -> None:
        """A payment needs no allocation lines: what is not allocated is an advance."""

    @property
    def allocated(self) -> Decimal:
        return sum((ln.amount for ln in self.lines.all()), ZERO)  # type: ignore[attr-defined]

    def movements(self) -> Iterable[Movement]:
        lines = list(self.lines.all())  # type: ignore[attr-defined]
        allocated = ZERO
        for line in lines:
            allocated += line.amount
            yield ClientSettlements.receipt(self.date, line_no=line.line_no, organization=self.organization_id,
                                            partner=self.partner_id, order=line.order_id,
                                            shipment=line.shipment_id, paid=line.amount)
        rest = self.amount - allocated
        if rest > 0:
            yield ClientAdvances.receipt(self.date, organization=self.organization_id, partner=self.partner_id,
                                         amount=rest)
        if self.method == PaymentMethod.CARD:
            # The card money reaches the account only when the bank credits it (net of its commission).
            yield AcquiringClearing.receipt(self.date, organization=self.organization_id,
                                            bank_account=self.bank_account_id, merchant=self.merchant or "",
                                            day=local_day(self.date), amount=self.amount)
        else:
            yield Funds.receipt(self.date, organization=self.organization_id, cash_desk=self.cash_desk_id,
                                bank_account=self.bank_account_id, amount=self.amount)

    def after_movements_written(self, changed: dict[Register, set[str]], previous_date: Any) -> None:
        from torg.sales.states import refresh_order_states

        refresh_order_states(settlement_orders(changed))


class PaymentAllocation(DocumentLine):
    """The part of a payment that pays one order or one shipment made without an order (расшифровка платежа)."""

    document = models.ForeignKey(IncomingPayment, on_delete=models.CASCADE, related_name="lines")
    order = models.ForeignKey(SalesOrder, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                              verbose_name=_("order"))
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("shipment"))
    amount = MoneyField(_("amount"))

    class Meta(DocumentLine.Meta):
        verbose_name = _("payment allocation")
        indexes = [models.Index(fields=["order"])]


class Refund(Document):
    """Money returned to a client out of the advance it holds (возврат оплаты клиенту)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    partner = models.ForeignKey(Partner, on_delete=models.PROTECT, related_name="+", verbose_name=_("client"))
    method = models.CharField(_("method"), max_length=6, choices=PaymentMethod.choices, default=PaymentMethod.CASH)
    cash_desk = models.ForeignKey(CashDesk, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("cash desk"))
    bank_account = models.ForeignKey(BankAccount, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("bank account"))
    amount = MoneyField(_("amount"))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True,
                                       editable=False)
    registers = (AcquiringClearing, ClientAdvances, Funds)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def validate_for_posting(self) -> None:
        """A refund has no lines: its amount is all it needs."""

    def movements(self) -> Iterable[Movement]:
        yield ClientAdvances.expense(self.date, organization=self.organization_id, partner=self.partner_id,
                                     amount=self.amount)
        if self.method == PaymentMethod.CARD:
            # Back to the card: the bank deducts it from its next credit for that day's card operations.
            yield AcquiringClearing.expense(self.date, organization=self.organization_id,
                                            bank_account=self.bank_account_id, merchant="",
                                            day=local_day(self.date), amount=self.amount)
        else:
            yield Funds.expense(self.date, organization=self.organization_id, cash_desk=self.cash_desk_id,
                                bank_account=self.bank_account_id, amount=self.amount)


class AcquiringCredit(Document):
    """The bank's credit for one day of card payments of one merchant (поступление от банка по эквайрингу): the
    gross card money (credited + commission) leaves the acquiring clearing, the credited amount arrives on the
    account, the commission is booked as a bank charge."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("bank account"))
    merchant = models.CharField(_("merchant No."), max_length=20, blank=True)
    registry_date = models.DateField(_("registry date"), help_text=_("The day of the card operations it pays for."))
    amount = MoneyField(_("credited"))
    commission = MoneyField(_("commission"), default=ZERO)
    card_refunds = MoneyField(_("card refunds"), default=ZERO)
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True,
                                       editable=False)
    registers = (AcquiringClearing, BankCharges, Funds)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("acquiring credit")
        verbose_name_plural = _("acquiring credits")

    @property
    def gross(self) -> Decimal:
        """The card money this credit pays for: what was credited plus what the bank kept."""
        return self.amount + self.commission

    def validate_for_posting(self) -> None:
        """No lines: the amounts are in the header."""

    def movements(self) -> Iterable[Movement]:
        yield Funds.receipt(self.date, organization=self.organization_id, cash_desk=None,
                            bank_account=self.bank_account_id, amount=self.amount)
        yield AcquiringClearing.expense(self.date, organization=self.organization_id,
                                        bank_account=self.bank_account_id, merchant=self.merchant or "",
                                        day=self.registry_date.isoformat(), amount=self.gross)
        if self.commission:
            yield BankCharges.record(self.date, organization=self.organization_id, bank_account=self.bank_account_id,
                                     kind=BankChargeKind.ACQUIRING_COMMISSION.value, amount=self.commission)


class CashHandover(Document):
    """A courier hands the cash taken at the door over to the company's cash desk (сдача выручки): the counted
    amount leaves the courier's own cash desk and arrives in a company desk of the same organization. What the
    courier's desk held and was not handed over (a shortage) stays on it, in sight, until it is handed over or
    explained; more than it holds cannot be handed over (Funds is controlled)."""

    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    courier = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("courier"))
    from_cash_desk = models.ForeignKey(CashDesk, on_delete=models.PROTECT, related_name="+",
                                       verbose_name=_("courier's cash desk"))
    to_cash_desk = models.ForeignKey(CashDesk, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("to the cash desk"))
    expected = MoneyField(_("held by the courier"), default=ZERO,
                          help_text=_("What the courier's cash desk held when the handover was made."))
    amount = MoneyField(_("counted"), help_text=_("The cash really handed over."))
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True,
                                       editable=False)
    registers = (Funds,)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("cash handover")
        verbose_name_plural = _("cash handovers")
        indexes = [models.Index(fields=["courier", "date"])]

    @property
    def shortage(self) -> Decimal:
        """What the courier held and did not hand over (stays on the courier's desk); zero when all was."""
        return max(self.expected - self.amount, ZERO)

    def validate_for_posting(self) -> None:
        """No lines: the amount is in the header."""

    def movements(self) -> Iterable[Movement]:
        yield Funds.expense(self.date, organization=self.organization_id, cash_desk=self.from_cash_desk_id,
                            bank_account=None, amount=self.amount)
        yield Funds.receipt(self.date, organization=self.organization_id, cash_desk=self.to_cash_desk_id,
                            bank_account=None, amount=self.amount)


# ------------------------------------------------------------------ bank statements
class BankStatement(models.Model):
    """One imported bank statement file (выписка банка, 1CClientBankExchange)."""

    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    sha256 = models.CharField(_("SHA-256 of the file"), max_length=64, db_index=True)
    encoding = models.CharField(_("encoding"), max_length=20, blank=True)
    format_version = models.CharField(_("format version"), max_length=10, blank=True)
    sender = models.CharField(_("sender"), max_length=200, blank=True)
    period_start = models.DateField(_("from"), null=True, blank=True)
    period_end = models.DateField(_("to"), null=True, blank=True)
    bank_account = models.ForeignKey(BankAccount, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("bank account"),
                                     help_text=_("When all imported lines are of one of our accounts."))
    imported_at = models.DateTimeField(_("imported"), default=timezone.now)
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+", verbose_name=_("imported by"))
    documents = models.PositiveIntegerField(_("documents in the file"), default=0)
    new_lines = models.PositiveIntegerField(_("new lines"), default=0)
    duplicates = models.PositiveIntegerField(_("duplicates"), default=0)
    not_imported = models.PositiveIntegerField(_("not imported"), default=0)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    balances = models.JSONField(_("balances"), default=list, blank=True)

    class Meta:
        ordering = ["-imported_at", "-id"]
        verbose_name = _("bank statement")
        verbose_name_plural = _("bank statements")

    def __str__(self) -> str:
        from django.utils.formats import date_format

        when = date_format(timezone.localtime(self.imported_at), "SHORT_DATETIME_FORMAT")
        return str(_("Bank statement %(file)s of %(when)s")) % {"file": self.file_name or "—", "when": when}


class LineDirection(models.TextChoices):
    IN = "in", _("incoming")
    OUT = "out", _("outgoing")


class LineStatus(models.TextChoices):
    """What became of a statement line. Allowed changes:

    unmatched → matched (a person chooses the client) · matched → matched (chosen again) → posted
    acquiring → posted · outgoing → posted (when it is our refund) · unmatched/matched/acquiring/outgoing → ignored
    ignored → back to what it was (restored)"""

    UNMATCHED = "unmatched", _("to match")  # money in from someone we could not recognise: a person chooses
    MATCHED = "matched", _("matched")  # the client (and orders) found or chosen: ready to post as a payment
    ACQUIRING = "acquiring", _("acquiring")  # the bank's credit for card payments: closes them when posted
    POSTED = "posted", _("posted")  # in the books: a payment or acquiring credit registered, or our own refund
    OUTGOING = "outgoing", _("outgoing")  # money out with no document of ours to match (to a supplier…)
    IGNORED = "ignored", _("ignored")  # needs nothing: a transfer between our accounts, or a person's decision


class BankStatementLine(models.Model):
    """One document of an imported statement, on one of our accounts. The same document imported again (the same
    file, or the next statement repeating a day) finds its `dedup_key` taken and is not added."""

    statement = models.ForeignKey(BankStatement, on_delete=models.CASCADE, related_name="lines",
                                  verbose_name=_("bank statement"))
    source_line = models.PositiveIntegerField(_("line of the file"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    bank_account = models.ForeignKey(BankAccount, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("bank account"))
    direction = models.CharField(_("direction"), max_length=3, choices=LineDirection.choices)
    kind = models.CharField(_("document kind"), max_length=60, blank=True)
    number = models.CharField(_("number"), max_length=30)
    date = models.DateField(_("document date"))
    posting_date = models.DateField(_("posting date"), help_text=_("The day the money moved on our account."))
    amount = MoneyField(_("amount"))
    counterparty_name = models.CharField(_("payer or payee"), max_length=300, blank=True)
    counterparty_inn = models.CharField(_("INN"), max_length=12, blank=True)
    counterparty_kpp = models.CharField(_("KPP"), max_length=9, blank=True)
    counterparty_account = models.CharField(_("account"), max_length=20, blank=True)
    counterparty_bik = models.CharField(_("BIK"), max_length=9, blank=True)
    counterparty_bank = models.CharField(_("bank"), max_length=300, blank=True)
    purpose = models.TextField(_("purpose of payment"), blank=True)
    status = models.CharField(_("status"), max_length=10, choices=LineStatus.choices, default=LineStatus.UNMATCHED)
    notes = models.JSONField(_("notes"), default=list, blank=True)  # [{"code": …, "params": {…}}]: why this status
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("client"))
    counterparty = models.ForeignKey(Counterparty, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("counterparty"))
    payment = models.OneToOneField(IncomingPayment, null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="statement_line", verbose_name=_("incoming payment"))
    acquiring_credit = models.OneToOneField(AcquiringCredit, null=True, blank=True, on_delete=models.PROTECT,
                                            related_name="statement_line", verbose_name=_("acquiring credit"))
    refund = models.OneToOneField(Refund, null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="statement_line", verbose_name=_("refund"))
    is_acquiring = models.BooleanField(_("acquiring credit"), default=False)
    merchant = models.CharField(_("merchant No."), max_length=20, blank=True)
    registry_date = models.DateField(_("registry date"), null=True, blank=True)
    commission = MoneyField(_("commission"), default=ZERO)
    card_refunds = MoneyField(_("card refunds"), default=ZERO)
    dedup_key = models.CharField(max_length=200, unique=True, editable=False)
    fields = models.JSONField(default=dict, blank=True, editable=False)  # the document's fields as the bank wrote them

    class Meta:
        ordering = ["statement_id", "source_line", "id"]
        verbose_name = _("bank statement line")
        verbose_name_plural = _("bank statement lines")
        indexes = [models.Index(fields=["status", "posting_date"]), models.Index(fields=["partner", "posting_date"])]

    def __str__(self) -> str:
        from django.utils.formats import date_format, number_format

        return str(_("No. %(number)s of %(date)s, %(amount)s")) % {
            "number": self.number, "date": date_format(self.date, "SHORT_DATE_FORMAT"),
            "amount": number_format(self.amount, 2, use_l10n=True, force_grouping=True)}

    @property
    def gross(self) -> Decimal:
        """An acquiring credit's card money: credited plus the bank's commission."""
        return self.amount + self.commission

    @property
    def idempotency_key(self) -> str:
        """The key of the payment or acquiring credit this line registers: from the document's identity, so it is
        never registered twice, even from a statement imported again."""
        import hashlib

        return "bank-line:" + hashlib.sha256(self.dedup_key.encode()).hexdigest()[:48]

    def can_match(self) -> bool:
        return (self.direction == LineDirection.IN and not self.is_acquiring
                and self.status in (LineStatus.UNMATCHED, LineStatus.MATCHED, LineStatus.IGNORED))

    def can_post(self) -> bool:
        return self.status in (LineStatus.MATCHED, LineStatus.ACQUIRING)

    def can_ignore(self) -> bool:
        return self.status in (LineStatus.UNMATCHED, LineStatus.MATCHED, LineStatus.ACQUIRING, LineStatus.OUTGOING)

    def can_restore(self) -> bool:
        return self.status == LineStatus.IGNORED


class BankLineAllocation(models.Model):
    """The part of a statement line proposed (or chosen) to pay one order; the rest of the line is an advance."""

    line = models.ForeignKey(BankStatementLine, on_delete=models.CASCADE, related_name="allocations")
    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="+", verbose_name=_("order"))
    amount = MoneyField(_("amount"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("allocation of a statement line")
        indexes = [models.Index(fields=["order"])]
