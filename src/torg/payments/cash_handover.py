"""Couriers' cash (сдача выручки): the cash couriers took at the door sits on their own cash desks (`CashDesk.holder`)
until they hand it over to a company cash desk of the same organization.

`couriers_cash()` is what every courier holds (read from the kept totals of `Funds`, one query), `cash_held()` one
courier's cash per organization, `hand_over_cash()` makes and posts a `CashHandover` — idempotent on its key, like
every call that moves money.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from torg.catalogs.models import CashDesk, Organization
from torg.core.documents import save_document, service_transaction
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_money
from torg.core.posting import ShortageError
from torg.payments.models import CashHandover, Funds, FundsTotal
from torg.payments.services import _fmt, _idempotent_create

ZERO = Decimal(0)


@dataclass(frozen=True)
class CourierCash:
    """The cash one courier holds for one organization, on one of their cash desks."""

    courier: Any  # the user holding the desk
    organization: Organization
    desk: CashDesk
    balance: Decimal

    @property
    def courier_id(self) -> int:
        return int(self.courier.pk)

    @property
    def organization_id(self) -> int:
        return int(self.organization.pk)


def couriers_cash(organization_id: int | None = None) -> list[CourierCash]:
    """Every courier's cash desk that holds money (a non-zero `Funds` balance), of one organization or all, ordered
    by courier and organization. One query on the kept totals, whatever the number of couriers."""
    qs = (FundsTotal.objects.filter(cash_desk__holder__isnull=False).exclude(amount=0)
          .select_related("organization", "cash_desk", "cash_desk__holder")
          .order_by("cash_desk__holder__last_name", "cash_desk__holder__first_name", "cash_desk__holder__username",
                    "organization__name", "cash_desk_id"))
    if organization_id is not None:
        qs = qs.filter(organization_id=organization_id)
    return [CourierCash(courier=row.cash_desk.holder, organization=row.organization, desk=row.cash_desk,
                        balance=round_money(row.amount))
            for row in qs]


def cash_held(courier: Any) -> dict[int, Decimal]:
    """organization id → the cash the courier holds for it (organizations where they hold none are left out)."""
    result: dict[int, Decimal] = {}
    for row in (FundsTotal.objects.filter(cash_desk__holder=courier).exclude(amount=0)
                .values("organization_id", "amount")):
        result[row["organization_id"]] = result.get(row["organization_id"], ZERO) + round_money(row["amount"])
    return result


def _courier_desk(courier: Any, organization_id: int) -> CashDesk | None:
    """The courier's desk of the organization, chosen as `services.courier_cash_desk` chooses it (never made here:
    a courier without one holds nothing)."""
    return CashDesk.objects.filter(holder=courier, organization_id=organization_id).order_by("pk").first()


def _check(organization_id: int, to_cash_desk: CashDesk | None, amount: Decimal | None,
           from_desk: CashDesk | None, held: Decimal) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if amount is None or amount <= 0:
        errors["amount"] = [_("The counted amount must be greater than zero.")]
    if to_cash_desk is None:
        errors["to_cash_desk"] = [_("Choose the company's cash desk that takes the cash.")]
    elif to_cash_desk.organization_id != organization_id:
        errors["to_cash_desk"] = [_("%(desk)s belongs to another organization: choose a cash desk of the "
                                    "organization the cash was taken for.") % {"desk": to_cash_desk}]
    elif to_cash_desk.holder_id is not None:
        errors["to_cash_desk"] = [_("%(desk)s is a courier's own cash desk: cash is handed over to a company cash "
                                    "desk.") % {"desk": to_cash_desk}]
    elif to_cash_desk.deletion_mark:
        errors["to_cash_desk"] = [_("%(desk)s is marked for deletion: choose another cash desk.")
                                  % {"desk": to_cash_desk}]
    if from_desk is None or held <= 0:
        errors["courier"] = [_("The courier holds no cash of this organization: there is nothing to hand over.")]
    elif amount is not None and amount > held and "amount" not in errors:
        errors["amount"] = [_("%(desk)s holds %(held)s: at most %(held)s can be handed over, %(amount)s was counted.")
                            % {"desk": from_desk, "held": _fmt(held), "amount": _fmt(amount)}]
    return errors


def hand_over_cash(courier: Any, organization_id: int, to_cash_desk: CashDesk | None, amount: Decimal | None, *,
                   user: Any, comment: str = "", idempotency_key: str | None = None) -> CashHandover:
    """Accept a courier's cash into a company cash desk: makes and posts a `CashHandover` of the counted `amount`
    from the courier's desk of the organization (Funds: out of the courier's desk, into `to_cash_desk`). It records
    what the courier's desk held (`expected`); what was not handed over stays on the courier's desk.

    Refuses (CoreError with field errors; nothing written): an amount not above zero, a target desk of another
    organization, a courier's own desk, or one marked for deletion as the target, a courier holding no cash of the
    organization, and more than the courier's desk holds (also when another handover took the cash meanwhile: the
    register refuses it). A repeated `idempotency_key` returns the first handover."""
    key = idempotency_key or None
    amount = round_money(amount) if amount is not None else None

    def create() -> CashHandover:
        from_desk = _courier_desk(courier, organization_id)
        held = (Funds.balance(organization=organization_id, cash_desk=from_desk, bank_account=None)["amount"]
                if from_desk is not None else ZERO)
        errors = _check(organization_id, to_cash_desk, amount, from_desk, held)
        if errors:
            raise CoreError(ErrorCode.INVALID, _("Please correct the errors below."), fields=errors)
        assert from_desk is not None and to_cash_desk is not None and amount is not None
        handover = CashHandover(organization_id=organization_id, courier=courier, from_cash_desk=from_desk,
                                to_cash_desk=to_cash_desk, amount=amount, expected=held, comment=comment or "",
                                date=timezone.now(), idempotency_key=key)
        try:
            save_document(handover, None, user=user, post=True)
        except ShortageError as exc:  # another handover took the cash after it was read above
            have = next((s.have for s in exc.shortfalls if s.dims[1] == from_desk.pk), ZERO)
            raise CoreError(ErrorCode.SHORTAGE, _(
                "%(desk)s holds %(held)s: at most %(held)s can be handed over, %(amount)s was counted.")
                % {"desk": from_desk, "held": _fmt(have), "amount": _fmt(amount)},
                fields={"amount": [_("At most %(held)s.") % {"held": _fmt(have)}]}) from exc
        # Posting holds the row lock of the courier desk's total: what it holds now, plus what left it, is exactly
        # what it held when the handover was made — even if a payment at the door arrived after the read above.
        expected = Funds.balance(organization=organization_id, cash_desk=from_desk, bank_account=None)["amount"] \
            + amount
        if expected != held:
            CashHandover.objects.filter(pk=handover.pk).update(expected=expected)
            handover.expected = expected
        return handover

    with service_transaction():
        found: CashHandover = _idempotent_create(CashHandover, key, create)
        return found

