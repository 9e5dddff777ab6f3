"""Forms of the payment pages: an incoming payment, a refund, and the allocation table of a payment.

The allocation table reads what the client has to pay (`payments.services.open_items`), proposes an
allocation oldest-due first (`suggest_allocation`), and shows before anything is saved what would go to
the client's advance: what the payment does not allocate, and the part of a line above what is left to pay
on its order or shipment.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from torg.catalogs.models import BankAccount, CashDesk, Partner
from torg.core.money import round_money
from torg.payments import services
from torg.payments.models import IncomingPayment, PaymentAllocation, Refund
from torg.sales.models import SalesOrder, Shipment
from torg.web.forms import BootstrapMixin

ZERO = Decimal(0)
DATE_WIDGET = forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}, format="%Y-%m-%dT%H:%M:%S")


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


class MoneyFormMixin(BootstrapMixin):
    """Shared by the payment and refund forms: the idempotency key, choices without entries marked for deletion,
    clients only, and the money places named with their organization."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        key = self.fields["idempotency_key"]  # type: ignore[attr-defined]
        if not self.is_bound and not self.initial.get("idempotency_key"):  # type: ignore[attr-defined]
            key.initial = new_idempotency_key()
        fields = self.fields  # type: ignore[attr-defined]
        fields["organization"].queryset = fields["organization"].queryset.filter(deletion_mark=False)
        fields["partner"].queryset = Partner.objects.filter(is_client=True, deletion_mark=False)
        fields["partner"].label = gettext_lazy("Client")
        fields["cash_desk"].queryset = CashDesk.objects.filter(deletion_mark=False).select_related("organization")
        fields["cash_desk"].label_from_instance = lambda c: f"{c} · {c.organization}"
        fields["bank_account"].queryset = BankAccount.objects.filter(
            organization__isnull=False, deletion_mark=False).select_related("organization")
        fields["bank_account"].label_from_instance = lambda b: f"{b.name or b.number} · {b.organization}"
        if "date" in fields and not self.is_bound:  # type: ignore[attr-defined]
            fields["date"].initial = timezone.localtime().replace(microsecond=0)


class PaymentForm(MoneyFormMixin, forms.ModelForm):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    class Meta:
        model = IncomingPayment
        fields = ["date", "organization", "partner", "method", "cash_desk", "bank_account", "merchant", "amount",
                  "purpose", "comment"]
        widgets = {"date": DATE_WIDGET, "comment": forms.Textarea(attrs={"rows": 2}),
                   "amount": forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"})}


class RefundForm(MoneyFormMixin, forms.ModelForm):
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=100)

    class Meta:
        model = Refund
        fields = ["date", "organization", "partner", "method", "cash_desk", "bank_account", "amount", "comment"]
        widgets = {"date": DATE_WIDGET, "comment": forms.Textarea(attrs={"rows": 2}),
                   "amount": forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"})}


# ------------------------------------------------------------------ the allocation table
def object_key(order_id: int | None, shipment_id: int | None) -> str:
    return f"o{order_id}" if order_id else f"s{shipment_id}"


def parse_money(raw: str) -> Decimal | None:
    """A typed amount ("1 234,50", "1234.5"), or None when it is not a number."""
    text = raw.replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return round_money(value) if value.is_finite() else None


@dataclass
class AllocationRow:
    key: str
    order_id: int | None
    shipment_id: int | None
    label: str
    due: Any
    remaining: Decimal  # what is left to pay on it (for a re-allocation: including this payment's own part)
    typed: str = ""  # what the person typed (kept as typed when it is not a number)
    amount: Decimal = ZERO  # the typed amount as a number
    error: str = ""

    @property
    def applied(self) -> Decimal:
        """What this line really pays: never more than is left on the order or shipment."""
        return max(min(self.amount, self.remaining), ZERO)

    @property
    def excess(self) -> Decimal:
        """The part above what is left to pay: it goes to the advance."""
        return max(self.amount - self.remaining, ZERO)

    @property
    def is_order(self) -> bool:
        return self.order_id is not None


@dataclass
class AllocationTable:
    """The allocation of one payment as the page shows it before saving."""

    amount: Decimal | None  # the payment's amount (None: not entered yet)
    rows: list[AllocationRow] = field(default_factory=list)
    advance_held: Decimal = ZERO  # what the client holds as an advance now
    ready: bool = False  # organization, client and amount known
    own_advance: Decimal = ZERO  # re-allocation: what the payment now leaves in the advance

    @property
    def allocated(self) -> Decimal:
        return sum((r.applied for r in self.rows), ZERO)

    @property
    def excess(self) -> Decimal:
        return sum((r.excess for r in self.rows), ZERO)

    @property
    def to_advance(self) -> Decimal:
        """What the payment leaves unallocated: the client's advance grows by it."""
        return max((self.amount or ZERO) - self.allocated, ZERO)

    @property
    def advance_after(self) -> Decimal:
        return self.advance_held - self.own_advance + self.to_advance

    @property
    def over(self) -> Decimal:
        """How much the lines allocate above the payment's amount (an error to correct). Nothing for an amount that
        is not above zero: that is the amount's own error, not the lines'."""
        if not self.amount or self.amount <= 0:
            return ZERO
        return max(self.allocated - self.amount, ZERO)

    @property
    def errors(self) -> list[str]:
        result = [r.error for r in self.rows if r.error]
        if self.over > 0:
            result.append(_("The lines allocate %(allocated)s, more than the payment of %(amount)s: lower them by "
                            "%(over)s.") % {"allocated": self.allocated, "amount": self.amount, "over": self.over})
        return result

    def lines(self) -> list[PaymentAllocation]:
        return [PaymentAllocation(order_id=r.order_id, shipment_id=r.shipment_id, amount=r.applied)
                for r in self.rows if r.applied > 0]


def build_allocation(organization_id: int | None, partner_id: int | None, amount: Decimal | None, *,
                     typed: dict[str, str] | None = None, payment: IncomingPayment | None = None) -> AllocationTable:
    """The client's open orders and shipments with the amount of this payment on each.

    `typed` (key → text, from the page) is what the person entered; without it the amount is proposed
    oldest-due first (`suggest_allocation`). For a posted `payment` being re-allocated its own allocation is
    what it may take back: it counts as still to pay, and its objects are listed even when it paid them off."""
    table = AllocationTable(amount)
    if not organization_id or not partner_id:
        return table
    table.advance_held = services.advance_held(organization_id, partner_id)
    items = services.open_items(organization_id, partner_id)
    own: dict[str, Decimal] = {}
    if payment is not None and payment.pk and payment.posted:
        for line in payment.lines.all():  # type: ignore[attr-defined]
            key = object_key(line.order_id, line.shipment_id)
            own[key] = own.get(key, ZERO) + line.amount
        table.own_advance = payment.amount - sum(own.values(), ZERO)
    rows: dict[str, AllocationRow] = {}
    for item in items:
        key = object_key(item.order_id, item.shipment_id)
        rows[key] = AllocationRow(key, item.order_id, item.shipment_id, item.label, item.due,
                                  item.remaining + own.get(key, ZERO))
    missing = [k for k in own if k not in rows]
    if missing:
        orders = {o.pk: o for o in SalesOrder.objects.filter(pk__in=[int(k[1:]) for k in missing if k[0] == "o"])}
        shipments = {s.pk: s for s in Shipment.objects.filter(pk__in=[int(k[1:]) for k in missing if k[0] == "s"])}
        for key in missing:
            obj: Any = orders.get(int(key[1:])) if key[0] == "o" else shipments.get(int(key[1:]))
            rows[key] = AllocationRow(key, obj.pk if key[0] == "o" else None, obj.pk if key[0] == "s" else None,
                                      str(obj), None, own[key])
    table.rows = list(rows.values())
    table.ready = amount is not None
    if typed is not None:
        for row in table.rows:
            raw = typed.get(row.key, "").strip()
            row.typed = raw
            if not raw:
                continue
            value = parse_money(raw)
            if value is None or value < 0:
                row.error = _("%(object)s: “%(raw)s” is not an amount; enter a number, zero or more.") % {
                    "object": row.label, "raw": raw}
                continue
            row.amount = value
    elif payment is not None and own:
        for row in table.rows:
            row.amount = own.get(row.key, ZERO)
            row.typed = str(row.amount) if row.amount else ""
    elif amount is not None and amount > 0:
        proposed, _rest = services.suggest_allocation(organization_id, partner_id, amount)
        by_key = {object_key(p.order_id, p.shipment_id): p.amount for p in proposed}
        for row in table.rows:
            row.amount = by_key.get(row.key, ZERO)
            row.typed = str(row.amount) if row.amount else ""
    return table


def typed_allocation(data: Any) -> dict[str, str] | None:
    """The allocation amounts a page sent (`alloc-o12`, `alloc-s7`), or None when it sent no table."""
    if data.get("allocation_shown") != "1":
        return None
    return {k[len("alloc-"):]: v for k, v in data.items() if k.startswith("alloc-")}


def int_or_none(raw: Any) -> int | None:
    text = str(raw or "").strip()
    return int(text) if text.isdigit() else None


def client_filter(organization_id: int | None, partner_id: int | None) -> Q:
    q = Q()
    if organization_id:
        q &= Q(organization_id=organization_id)
    if partner_id:
        q &= Q(partner_id=partner_id)
    return q
