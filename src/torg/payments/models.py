"""Payments: money a client pays us (by cash, bank transfer or card) and refunds of advances.

    IncomingPayment ──► Funds(+amount)  ClientSettlements(+paid per allocated order/shipment)
                        ClientAdvances(+the unallocated rest)
    Refund          ──► Funds(−amount)  ClientAdvances(−amount)   (controlled: never above the advance held)
"""
from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.db import models
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
    idempotency_key = models.CharField(_("idempotency key"), max_length=100, null=True, blank=True, unique=True,
                                       editable=False)
    registers = (ClientAdvances, ClientSettlements, Funds)
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
    registers = (ClientAdvances, Funds)
    posting_related = ("organization",)

    class Meta(Document.Meta):
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def validate_for_posting(self) -> None:
        """A refund has no lines: its amount is all it needs."""

    def movements(self) -> Iterable[Movement]:
        yield ClientAdvances.expense(self.date, organization=self.organization_id, partner=self.partner_id,
                                     amount=self.amount)
        yield Funds.expense(self.date, organization=self.organization_id, cash_desk=self.cash_desk_id,
                            bank_account=self.bank_account_id, amount=self.amount)
