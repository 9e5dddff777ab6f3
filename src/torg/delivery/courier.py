"""The courier at the door: what to hand over, what is owed now, and the confirmation that records it all.

`confirm_stop` is the one transaction of a delivered stop: the shipments are finalized with the quantities the
client accepted (refused goods ride back in the vehicle's stock), refused order lines are cancelled and the
prepayment they leave over becomes an advance (kept, or given back), the money taken is registered per
organization and allocated to the stop's orders first (an overpayment stays as an advance, or is given back as
change), settlements move, and one receipt per organization is queued for the office register. Every money rule
is the order-to-cash and fiscal services'; this module only decides what to ask them.

A retry of the same confirmation (the phone lost its connection) and a second phone confirming the same stop both
get the stored result: nothing is registered twice.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from torg.catalogs.models import BankAccount, Organization, Warehouse
from torg.core.documents import service_transaction
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_money
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop, TripStopDocument, Vehicle
from torg.fiscal import services as fiscal
from torg.fiscal.models import FiscalReceipt
from torg.payments.models import Funds, IncomingPayment, PaymentAllocation, PaymentMethod, Refund
from torg.payments.services import courier_cash_desk, register_payment
from torg.payments.services import refund as register_refund
from torg.sales import services as sales
from torg.sales.models import (
    ClientAdvances,
    ClientAdvancesTotal,
    ClientSettlementsTotal,
    OrderPaymentStage,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StageKind,
)
from torg.stock.models import StockTotal, Transfer, TransferLine
from torg.stock.services import save_stock_document
from torg.stock.services import unpost as unpost_stock_document

ZERO = Decimal(0)
Key = tuple[int | None, int | None]  # a settlement object: (order, None) or (None, shipment without an order)


def _fmt(value: Decimal) -> str:
    return number_format(value, 2, use_l10n=True, force_grouping=True)


def _money(value: Decimal) -> str:
    """Money as stored in a stop's result: a decimal string with two places ("0.00", "1500.00")."""
    return str(round_money(value))


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


# ================================================================== what the courier sees
def courier_trips(user: Any, day: dt.date | None = None) -> QuerySet[DeliveryTrip]:
    """The courier's own trips to work on: loading or on route (any day), and those of the day that are done."""
    day = day or timezone.localdate()
    return (DeliveryTrip.objects.filter(courier=user, deletion_mark=False)
            .filter(Q(status__in=[TripStatus.LOADING, TripStatus.ON_ROUTE]) | Q(trip_date=day))
            .exclude(status=TripStatus.FORMING).select_related("vehicle").order_by("trip_date", "pk"))


def trip_for_courier(user: Any, trip_id: int) -> DeliveryTrip:
    """The courier's own trip, else `DeliveryTrip.DoesNotExist` (another courier's trip is not found, not
    forbidden: its existence is none of their business)."""
    return DeliveryTrip.objects.select_related("vehicle").get(pk=trip_id, courier=user, deletion_mark=False)


def stop_for_courier(user: Any, stop_id: int) -> TripStop:
    return TripStop.objects.select_related("trip", "partner", "warehouse", "delivery_address").get(
        pk=stop_id, trip__courier=user, trip__deletion_mark=False)


@dataclass(frozen=True)
class HandoverLine:
    """A line of a shipment at the stop: what the courier hands over (at our own warehouse, a line of a transfer:
    `shipment_id` and `shipment` name the transfer, and there is no price)."""

    shipment_id: int
    shipment: str
    organization_id: int
    line_no: int
    order_id: int | None
    item_id: int
    name: str
    unit: str
    quantity: Decimal
    price: Decimal  # per unit, with VAT
    amount: Decimal  # with VAT


def _shipments(stop: TripStop) -> list[Shipment]:
    lines = Prefetch("lines", queryset=ShipmentLine.objects.select_related("item__unit"))
    # The client is the stop's: when the stop holds it, the shipments share it instead of reading it again.
    partner = stop.partner if type(stop).partner.is_cached(stop) and stop.partner is not None else None
    related = ("organization",) if partner is not None else ("partner", "organization")
    shipments = list(Shipment.objects.filter(pk__in=TripStopDocument.objects.filter(stop=stop).values("shipment_id"))
                     .select_related(*related).prefetch_related(lines).order_by("organization_id", "pk"))
    for shipment in shipments:
        if partner is not None and shipment.partner_id == partner.pk:
            shipment.partner = partner
    return shipments


def _gross(line: ShipmentLine, prices_include_vat: bool) -> Decimal:
    return line.amount if prices_include_vat else line.amount + line.vat_amount


def handover_lines(stop: TripStop, shipments: list[Shipment] | None = None) -> list[HandoverLine]:
    """The goods of the stop's posted shipments, by organization and shipment (at our own warehouse: of its
    posted transfers, without prices)."""
    if stop.is_transfer:
        return _transfer_lines(_transfers(stop))
    out = []
    for shipment in shipments if shipments is not None else _shipments(stop):
        if not shipment.posted:
            continue
        for ln in sorted(shipment.lines.all(), key=lambda x: x.line_no):
            gross = _gross(ln, shipment.prices_include_vat)
            out.append(HandoverLine(shipment.pk, str(shipment), shipment.organization_id, ln.line_no, ln.order_id,
                                    ln.item_id, ln.item.name, ln.item.unit.name if ln.item.unit_id else "",
                                    ln.quantity, round_money(gross / ln.quantity) if ln.quantity else ZERO, gross))
    return out


@dataclass
class OrgDue:
    """One organization's part of a stop after the client's answer."""

    organization_id: int
    name: str
    goods: Decimal = ZERO  # goods handed over here, with VAT
    refused: Decimal = ZERO  # goods refused here
    debt: Decimal = ZERO  # what the stop's orders and shipments owe after the handover (prepayments deducted)
    advance: Decimal = ZERO  # an advance the client holds with the organization, not yet offset
    release: Decimal = ZERO  # prepayment left over by refused goods: back to the advance (or to the client)
    credit_allowed: bool = False  # every object that owes allows paying later (a credit stage / a due date)
    organization: Organization | None = field(default=None, repr=False)  # as read with the stop's shipments
    keys: dict[Key, Decimal] = field(default_factory=dict)  # object → its debt after the handover

    @property
    def due(self) -> Decimal:
        return max(self.debt - self.advance, ZERO)


@dataclass
class StopDue:
    organizations: list[OrgDue]

    @property
    def due(self) -> Decimal:
        return sum((o.due for o in self.organizations), ZERO)

    @property
    def goods(self) -> Decimal:
        return sum((o.goods for o in self.organizations), ZERO)

    @property
    def prepaid(self) -> Decimal:
        """What prepayments and advances already cover of the goods handed over."""
        return max(self.goods - self.due, ZERO)

    @property
    def release(self) -> Decimal:
        return sum((o.release for o in self.organizations), ZERO)

    @property
    def credit_allowed(self) -> bool:
        return all(o.credit_allowed for o in self.organizations if o.due > 0)


def _accepted_lines(shipments: list[Shipment], accepted: Mapping[tuple[int, int], Decimal] | None
                    ) -> dict[int, list[tuple[ShipmentLine, ShipmentLine]]]:
    """shipment → [(line as shipped, line as accepted)]; refuses quantities that are negative or above shipped."""
    errors: dict[str, list[str]] = {}
    out: dict[int, list[tuple[ShipmentLine, ShipmentLine]]] = {}
    known = set()
    for shipment in shipments:
        pairs = []
        for ln in sorted(shipment.lines.all(), key=lambda x: x.line_no):
            known.add((shipment.pk, ln.line_no))
            quantity = ln.quantity if accepted is None else accepted.get((shipment.pk, ln.line_no), ln.quantity)
            name = f"lines.{shipment.pk}.{ln.line_no}"
            if quantity is None or quantity < 0:
                errors.setdefault(name, []).append(_("The quantity cannot be negative."))
                continue
            if quantity > ln.quantity:
                errors.setdefault(name, []).append(
                    _("%(item)s: %(shipped)s shipped, the client cannot accept %(asked)s.")
                    % {"item": ln.item.name, "shipped": _plain(ln.quantity), "asked": _plain(quantity)})
                continue
            new = ShipmentLine(document=shipment, line_no=ln.line_no, order_id=ln.order_id,
                               order_line_code=ln.order_line_code, item_id=ln.item_id, warehouse_id=ln.warehouse_id,
                               quantity=quantity, price=ln.price, discount_percent=ln.discount_percent,
                               vat_rate=ln.vat_rate)
            new.compute()
            pairs.append((ln, new))
        out[shipment.pk] = pairs
    _refuse_quantities(errors, accepted, known)
    return out


def _refuse_quantities(errors: dict[str, list[str]], accepted: Mapping[tuple[int, int], Decimal] | None,
                       known: set[tuple[int, int]]) -> None:
    """Add a line asked for that is not delivered at the stop, then refuse with every line's words, if any."""
    for key in accepted or {}:
        if key not in known:
            errors.setdefault(f"lines.{key[0]}.{key[1]}", []).append(_("This line is not delivered at this stop."))
    if errors:
        raise CoreError(DeliveryError.ABOVE_SHIPPED, _("Check the quantities: %(list)s")
                        % {"list": " ".join(m for msgs in errors.values() for m in msgs)}, fields=errors)


def stop_due(stop: TripStop, accepted: Mapping[tuple[int, int], Decimal] | None = None,
             shipments: list[Shipment] | None = None) -> StopDue:
    """What the client owes now at the stop, per organization, if it accepts these quantities ((shipment, line No.)
    → quantity; missing lines: all of it): the debt of the stop's orders and shipments after the handover, less
    the prepayments and advances that already cover it. A handful of queries, whatever the number of lines.
    At our own warehouse nothing is owed; the quantities are checked against what was sent."""
    if stop.is_transfer:
        _received(handover_lines(stop), accepted)
        return StopDue([])
    shipments = [s for s in (shipments if shipments is not None else _shipments(stop)) if s.posted]
    pairs = _accepted_lines(shipments, accepted)
    orgs: dict[int, OrgDue] = {}
    delta: dict[tuple[int, Key], Decimal] = defaultdict(Decimal)
    refused_on_order: dict[int, Decimal] = defaultdict(Decimal)
    for shipment in shipments:
        org = orgs.setdefault(shipment.organization_id, OrgDue(shipment.organization_id,
                                                               shipment.organization.short_name
                                                               if hasattr(shipment.organization, "short_name")
                                                               else str(shipment.organization),
                                                               organization=shipment.organization))
        for old, new in pairs[shipment.pk]:
            before = _gross(old, shipment.prices_include_vat)
            after = _gross(new, shipment.prices_include_vat)
            key: Key = (old.order_id, None) if old.order_id else (None, shipment.pk)
            delta[(shipment.organization_id, key)] += after - before
            org.goods += after
            org.refused += before - after
            if old.order_id:
                refused_on_order[old.order_id] += before - after
    partner_id = stop.partner_id
    keys_by_org: dict[int, set[Key]] = defaultdict(set)
    for org_id, key in delta:
        keys_by_org[org_id].add(key)
    order_ids = sorted({k[0] for keys in keys_by_org.values() for k in keys if k[0]})
    shipment_ids = sorted({k[1] for keys in keys_by_org.values() for k in keys if k[1]})
    facts = _stop_facts(partner_id, order_ids, shipment_ids, sorted(orgs))
    totals, orders = facts.totals, facts.order_amounts
    dated = {s.pk for s in shipments if s.due_date}
    credit = {k: (k[0] in facts.with_credit) if k[0] else (k[1] in dated)
              for keys in keys_by_org.values() for k in keys}
    for org_id, org in orgs.items():
        allowed = True
        for key in sorted(keys_by_org[org_id], key=lambda k: (k[0] or 0, k[1] or 0)):
            shipped, paid = totals.get((org_id, key[0], key[1]), (ZERO, ZERO))
            shipped_after = round_money(shipped + delta[(org_id, key)])
            paid = round_money(paid)
            debt = max(shipped_after - paid, ZERO)
            if key[0] and refused_on_order[key[0]] > 0:
                left_to_ship = max(orders[key[0]] - refused_on_order[key[0]], shipped_after)
                org.release += max(paid - left_to_ship, ZERO)
            org.keys[key] = debt
            org.debt += debt
            if debt > 0 and not credit[key]:
                allowed = False
        org.credit_allowed = allowed
        org.advance = facts.advances.get(org_id, ZERO)
    return StopDue(sorted(orgs.values(), key=lambda o: o.organization_id))


@dataclass
class _StopFacts:
    """What the client's debt at a stop is computed from, as the registers and orders hold it now."""

    # (organization, order, shipment) → (shipped, paid)
    totals: dict[tuple[int, int | None, int | None], tuple[Decimal, Decimal]]
    order_amounts: dict[int, Decimal]
    with_credit: set[int]  # orders with a credit stage: what is left may be paid later
    advances: dict[int, Decimal]  # organization → the client's advance held there


def _stop_facts(partner_id: int, order_ids: list[int], shipment_ids: list[int], org_ids: list[int]) -> _StopFacts:
    """The client's settlements of the stop's orders and shipments, the orders' amounts, which of them allow
    credit, and the client's advances with each organization: one statement (four parts told apart by their first
    column, values as text so that the parts line up on any database) — a stop is read on every courier's screen."""
    qn = connection.ops.quote_name
    parts, params = [], []

    def marks(ids: list[Any]) -> str:
        return ", ".join(["%s"] * len(ids))

    objects = [f"{column} IN ({marks(ids)})" for column, ids in (("order_id", order_ids), ("shipment_id", shipment_ids))
               if ids]
    if objects:
        parts.append(f"SELECT 't', CAST(organization_id AS TEXT), CAST(order_id AS TEXT), CAST(shipment_id AS TEXT), "
                     f"CAST(shipped AS TEXT), CAST(paid AS TEXT) FROM {qn(ClientSettlementsTotal._meta.db_table)} "
                     f"WHERE partner_id = %s AND ({' OR '.join(objects)})")
        params += [partner_id, *order_ids, *shipment_ids]
    if order_ids:
        parts.append(f"SELECT 'o', CAST(id AS TEXT), NULL, NULL, CAST(amount AS TEXT), NULL "
                     f"FROM {qn(SalesOrder._meta.db_table)} WHERE id IN ({marks(order_ids)})")
        parts.append(f"SELECT DISTINCT 'c', CAST(order_id AS TEXT), NULL, NULL, NULL, NULL "
                     f"FROM {qn(OrderPaymentStage._meta.db_table)} WHERE order_id IN ({marks(order_ids)}) "
                     f"AND kind = %s")
        params += [*order_ids, *order_ids, StageKind.CREDIT]
    keys = {ClientAdvances.key_of((org_id, partner_id)): org_id for org_id in org_ids}
    if keys:
        parts.append(f"SELECT 'a', {qn('key')}, NULL, NULL, CAST(amount AS TEXT), NULL "
                     f"FROM {qn(ClientAdvancesTotal._meta.db_table)} WHERE {qn('key')} IN ({marks(list(keys))})")
        params += list(keys)
    facts = _StopFacts({}, {}, set(), {})
    if not parts:
        return facts
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        rows = cursor.fetchall()
    for part, a, b, c, d, e in rows:
        if part == "t":
            facts.totals[(int(a), int(b) if b else None, int(c) if c else None)] = (
                round_money(Decimal(d)), round_money(Decimal(e)))
        elif part == "o":
            facts.order_amounts[int(a)] = round_money(Decimal(d))
        elif part == "c":
            facts.with_credit.add(int(a))
        else:
            facts.advances[keys[a]] = round_money(Decimal(d))
    return facts


# ================================================================== the confirmation
@dataclass(frozen=True)
class DoorPayment:
    """How the client pays at the door."""

    cash: Decimal = ZERO  # cash the client hands over
    card: Decimal = ZERO  # charged on the courier's card terminal
    card_approval: str = ""  # the terminal's approval code: a card amount without it is not registered
    keep_overpayment: bool = False  # what exceeds the debt: kept as the client's advance (else change is given)
    on_credit: bool = False  # the client pays less than owed: the rest later (only where its terms allow credit)
    refund_method: str = ""  # prepayment left over by refused goods: "" keep as advance, "cash" or "card" give back
    buyer_contact: str = ""  # phone or e-mail for the electronic receipt


@dataclass
class Confirmation:
    stop: TripStop
    result: dict[str, Any]
    replay: bool = False  # the stop was confirmed before: this is the stored result, nothing was registered now
    same_request: bool = False  # the replay is a retry of the same confirmation (same key)


@dataclass
class _Share:
    """One organization's money at the stop."""

    org: OrgDue
    card: Decimal = ZERO
    cash: Decimal = ZERO
    extra_card: Decimal = ZERO  # overpayment kept as an advance
    extra_cash: Decimal = ZERO


def _plan(due: StopDue, pay: DoorPayment) -> tuple[list[_Share], Decimal, Decimal]:
    """Split the money over the organizations: the card first, then cash, each up to what the organization is
    owed; returns the shares, the change to give and what stays on credit. Refuses what cannot be."""
    if pay.cash < 0 or pay.card < 0:
        raise CoreError(ErrorCode.INVALID, _("Amounts cannot be negative."),
                        fields={"cash" if pay.cash < 0 else "card": [_("Enter zero or more.")]})
    if pay.card > 0 and not pay.card_approval.strip():
        raise CoreError(DeliveryError.CARD_NOT_CONFIRMED,
                        _("The card payment is not confirmed by the terminal: nothing was registered. Take the "
                          "payment on the terminal again, or take cash."),
                        fields={"card_approval": [_("Enter the approval code the terminal printed.")]})
    shares = [_Share(o) for o in due.organizations]
    card, cash = pay.card, pay.cash
    credit = ZERO
    for share in shares:
        share.card = min(card, share.org.due)
        card -= share.card
        share.cash = min(cash, share.org.due - share.card)
        cash -= share.cash
        short = share.org.due - share.card - share.cash
        if short > 0:
            if not share.org.credit_allowed:
                raise CoreError(DeliveryError.PAYMENT_SHORT, _(
                    "%(left)s remains to be paid to %(org)s, and its terms do not allow paying later: take the "
                    "rest now.") % {"left": _fmt(short), "org": share.org.name},
                    fields={"cash": [_("%(left)s remains.") % {"left": _fmt(short)}]}, remains=str(short))
            credit += short
    if credit > 0 and not pay.on_credit:
        raise CoreError(DeliveryError.PAYMENT_SHORT, _(
            "%(left)s remains to be paid. Take the rest, or record it on credit (the client's terms allow it).")
            % {"left": _fmt(credit)}, fields={"cash": [_("%(left)s remains.") % {"left": _fmt(credit)}]},
            remains=str(credit), credit_allowed=True)
    change = ZERO
    if card > 0 or cash > 0:
        if pay.keep_overpayment and shares:
            shares[0].extra_card, shares[0].extra_cash = card, cash
        elif card > 0:
            raise CoreError(DeliveryError.CARD_ABOVE_DUE, _(
                "The card is charged %(extra)s more than is owed. Keep it as the client's advance, or charge "
                "%(due)s.") % {"extra": _fmt(card), "due": _fmt(pay.card - card)},
                fields={"card": [_("At most %(due)s.") % {"due": _fmt(pay.card - card)}]})
        else:
            change = cash
    return shares, change, credit


def _bank_account(organization_id: int) -> BankAccount:
    account = BankAccount.objects.filter(organization_id=organization_id, deletion_mark=False).order_by("pk").first()
    if account is None:
        raise CoreError(DeliveryError.NO_BANK_ACCOUNT, _(
            "%(org)s has no bank account for card payments: add one (Catalogs → Bank accounts of our organizations).")
            % {"org": Organization.objects.get(pk=organization_id)})
    return account


def _allocate(keys: dict[Key, Decimal], amount: Decimal) -> list[PaymentAllocation]:
    """Up to `amount` over the objects' debts, orders first (oldest), then shipments; `keys` is lowered."""
    lines = []
    for key in sorted(keys, key=lambda k: (k[0] is None, k[0] or 0, k[1] or 0)):
        if amount <= 0:
            break
        take = min(keys[key], amount)
        if take <= 0:
            continue
        lines.append(PaymentAllocation(order_id=key[0], shipment_id=key[1], amount=take))
        keys[key] -= take
        amount -= take
    return lines


def vehicle_stock(vehicle: Vehicle) -> Warehouse:
    """The warehouse that holds what rides back in the vehicle (refused or undelivered goods); made on first need."""
    if vehicle.warehouse_id:
        return vehicle.warehouse  # type: ignore[return-value]
    name = _("Vehicle %(vehicle)s") % {"vehicle": vehicle}
    if Warehouse.objects.filter(name=name).exists():
        name = f"{name} #{vehicle.pk}"
    warehouse = Warehouse.objects.create(name=name)
    Vehicle.objects.filter(pk=vehicle.pk).update(warehouse=warehouse)
    vehicle.warehouse = warehouse
    return warehouse


def _into_vehicle(trip: DeliveryTrip, goods: Mapping[tuple[int, int, int], Decimal], user: Any
                  ) -> list[dict[str, Any]]:
    """Move goods ((organization, warehouse, item) → quantity) from their warehouses into the vehicle's stock,
    one transfer per organization and warehouse; returns what moved, for unloading later."""
    if not any(q > 0 for q in goods.values()):
        return []
    vehicle = vehicle_stock(trip.vehicle)
    by_doc: dict[tuple[int, int], list[tuple[int, Decimal]]] = defaultdict(list)
    for (org, warehouse, item), quantity in sorted(goods.items()):
        if quantity > 0:
            by_doc[(org, warehouse)].append((item, quantity))
    moved = []
    for (org, warehouse), items in sorted(by_doc.items()):
        transfer = Transfer(organization_id=org, warehouse_from_id=warehouse, warehouse_to=vehicle,
                            comment=_("Back in the vehicle: trip %(trip)s") % {"trip": trip.number})
        save_stock_document(transfer, [TransferLine(item_id=i, quantity=q) for i, q in items], user=user, post=True)
        moved += [{"organization": org, "warehouse": warehouse, "item": i, "quantity": str(q)} for i, q in items]
    return moved


def _replay(stop: TripStop, key: str) -> Confirmation:
    return Confirmation(stop, stop.result, replay=True, same_request=bool(key) and stop.confirmation_key == key)


def _lock_pending(stop: TripStop, key: str) -> TripStop | Confirmation:
    """Lock the stop and its trip (so the trip cannot change status while one of its stops is being confirmed) and
    return the stop to confirm — or the stored confirmation when it is no longer pending.

    The lock reads only what may have changed since the caller read the stop (its status, the trip's status); the
    caller's stop, with the client and trip it read, is used as it is when it still belongs to the same trip and
    client (a stop of a trip on route is not re-planned), and read again otherwise."""
    row = (TripStop.objects.select_for_update(of=("self", "trip")).select_related("trip")
           .only("status", "trip_id", "partner_id", "warehouse_id", "trip__status").get(pk=stop.pk))
    status, trip_id, partner_id, warehouse_id, trip_status = (row.status, row.trip_id, row.partner_id,
                                                              row.warehouse_id, row.trip.status)
    current = stop
    if (status != StopStatus.PENDING or (trip_id, partner_id, warehouse_id)
            != (stop.trip_id, stop.partner_id, stop.warehouse_id)):
        current = TripStop.objects.select_related("trip", "partner", "warehouse").get(pk=stop.pk)
    if status != StopStatus.PENDING:
        return _replay(current, key)
    current.status = status
    current.trip.status = trip_status
    if trip_status != TripStatus.ON_ROUTE:
        raise CoreError(DeliveryError.NOT_ON_ROUTE, _(
            "Trip %(trip)s is not on route (%(status)s): stops are confirmed once the vehicle has left.")
            % {"trip": current.trip.number, "status": current.trip.get_status_display()})
    return current


def _who(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


def confirm_stop(stop: TripStop, *, accepted: Mapping[tuple[int, int], Decimal] | None = None,
                 payment: DoorPayment = DoorPayment(), user: Any = None, key: str) -> Confirmation:
    """The client took the goods (all, or the accepted quantities) and paid as `payment` says: record it all in one
    transaction. `key` identifies this confirmation: a retry with it, or another phone confirming the stop, gets
    the stored result and registers nothing. A stop at our own warehouse is `deliver_transfers`'."""
    if stop.is_transfer:
        return deliver_transfers(stop, accepted=accepted, payment=payment, user=user, key=key)
    if not key:
        raise CoreError(ErrorCode.INVALID, _("A confirmation needs its idempotency key."),
                        fields={"key": [_("Required.")]})
    with service_transaction():
        locked = _lock_pending(stop, key)
        if isinstance(locked, Confirmation):
            return locked
        stop = locked
        trip = stop.trip
        shipments = [s for s in _shipments(stop) if s.posted]
        due = stop_due(stop, accepted, shipments)
        shares, change, credit = _plan(due, payment)
        pairs = _accepted_lines(shipments, accepted)
        with fiscal.one_receipt(buyer_contact=payment.buyer_contact, user=user) as collected:
            refused = _finalize_shipments(shipments, pairs, user)
            released = _release_refused(shipments, pairs, user)
            refunds = _refund(released, stop.partner_id, payment, key, user) if payment.refund_method else []
            for shipment in shipments:
                if shipment.posted:  # (a wholly refused one was unposted)
                    fiscal.hand_over(shipment, user=user)
            payments = _register(shares, stop, payment, key, user)
        returned = _into_vehicle(trip, refused, user)
        result = {
            "status": StopStatus.DONE, "key": key, "confirmed_at": timezone.now().isoformat(),
            "confirmed_by": _who(user), "goods": _money(due.goods), "due": _money(due.due),
            "prepaid": _money(due.prepaid), "cash": _money(payment.cash), "card": _money(payment.card),
            "change": _money(change), "credit": _money(credit),
            "advance_kept": _money(sum((s.extra_cash + s.extra_card for s in shares), ZERO)),
            "released": _money(sum((r.amount for r in released.values()), ZERO)),
            "buyer_contact": payment.buyer_contact,
            "lines": [{"shipment": old.document_id, "line_no": old.line_no, "item": old.item.name,
                       "shipped": str(old.quantity), "accepted": str(new.quantity)}
                      for s in shipments for old, new in pairs[s.pk]],
            "payments": payments, "refunds": refunds, "returned": returned,
            "receipts": [r.pk for r in collected.receipts]
            + list(FiscalReceipt.objects.filter(refund_id__in=[r["id"] for r in refunds]).values_list("pk", flat=True)),
        }
        stop.status, stop.done_at, stop.confirmation_key, stop.confirmed_by, stop.result = (
            StopStatus.DONE, timezone.now(), key, user, result)
        stop.save(update_fields=["status", "done_at", "confirmation_key", "confirmed_by", "result"])
    return Confirmation(stop, stop.result)


def _finalize_shipments(shipments: list[Shipment], pairs: dict[int, list[tuple[ShipmentLine, ShipmentLine]]],
                        user: Any) -> dict[tuple[int, int, int], Decimal]:
    """Shipments made as accepted: a changed one is re-posted with the accepted lines (a wholly refused one is
    unposted); refused order lines are cancelled. Returns the refused goods by (organization, warehouse, item)."""
    refused: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    cancel: dict[int, set[int]] = defaultdict(set)
    for shipment in shipments:
        changed = [(old, new) for old, new in pairs[shipment.pk] if new.quantity != old.quantity]
        if not changed:
            continue
        for old, new in changed:
            refused[(shipment.organization_id, old.warehouse_id or shipment.warehouse_id, old.item_id)] += (
                old.quantity - new.quantity)
            if old.order_id and old.order_line_code:
                cancel[old.order_id].add(old.order_line_code)
        kept = [new for _old, new in pairs[shipment.pk] if new.quantity > 0]
        if kept:
            for n, line in enumerate(kept, start=1):
                line.line_no = n
            sales.save_shipment(shipment, kept, user=user)
        else:
            sales.unpost_shipment(shipment, user=user)
    if not cancel:
        return refused
    reason = _("refused at delivery")
    for order in SalesOrder.objects.filter(pk__in=sorted(cancel)).order_by("pk"):
        sales.cancel_order_lines(order, cancel[order.pk], reason, user=user)
    return refused


@dataclass
class _Released:
    """Prepayment of one order made an advance again because its goods were refused at the door."""

    organization_id: int
    amount: Decimal
    goods: list[fiscal.RefusedGoods]


def _release_refused(shipments: list[Shipment], pairs: dict[int, list[tuple[ShipmentLine, ShipmentLine]]],
                     user: Any) -> dict[int, _Released]:
    """Prepayment of the orders whose goods were refused, beyond what they owe now, back to the advance:
    order → what was released, with the goods refused."""
    refused: dict[int, list[fiscal.RefusedGoods]] = defaultdict(list)
    for shipment in shipments:
        for old, new in pairs[shipment.pk]:
            if old.order_id and new.quantity != old.quantity:
                amount = _gross(old, shipment.prices_include_vat) - _gross(new, shipment.prices_include_vat)
                refused[old.order_id].append(fiscal.RefusedGoods(old.item_id, old.quantity - new.quantity, amount,
                                                                 old.vat_rate))
    released: dict[int, _Released] = {}
    if not refused:
        return released
    for order in SalesOrder.objects.filter(pk__in=sorted(refused)).order_by("pk"):
        release = sales.release_prepayment(order, user=user)
        if release is not None:
            released[order.pk] = _Released(order.organization_id, release.amount, refused[order.pk])
    return released


def _refund(released: Mapping[int, _Released], partner_id: int, pay: DoorPayment, key: str, user: Any
            ) -> list[dict[str, Any]]:
    """Give back what was released, order by order, in cash from the courier's cash or to the card; each refund's
    receipt returns the prepayment as it was receipted (the refused goods of a 100 % prepayment)."""
    if pay.refund_method not in (PaymentMethod.CASH, PaymentMethod.CARD):
        raise CoreError(ErrorCode.INVALID, _("Give the prepayment back in cash or to the card, or keep it."),
                        fields={"refund_method": [_("Choose cash or card.")]})
    out = []
    for order_id, part in sorted(released.items()):
        org_id, amount = part.organization_id, part.amount
        if amount <= 0:
            continue
        doc = Refund(organization_id=org_id, partner_id=partner_id, method=pay.refund_method, amount=amount)
        if pay.refund_method == PaymentMethod.CASH:
            doc.cash_desk = courier_cash_desk(user, org_id)
            held = Funds.balance(organization=org_id, cash_desk=doc.cash_desk.pk, bank_account=None)["amount"]
            if held < amount:
                raise CoreError(ErrorCode.SHORTAGE, _(
                    "%(amount)s is to be given back, but you hold %(held)s in cash for %(org)s: give it back to "
                    "the card, or keep it as the client's advance (the office refunds it later).")
                    % {"amount": _fmt(amount), "held": _fmt(held), "org": Organization.objects.get(pk=org_id)},
                    fields={"refund_method": [_("Not enough cash with you.")]})
        else:
            doc.bank_account = _bank_account(org_id)
        with fiscal.prepayment_returned(order_id=order_id, goods=part.goods):
            doc = register_refund(doc, user=user, idempotency_key=f"{key}:{order_id}:refund")
        out.append({"id": doc.pk, "number": doc.number, "organization": org_id, "order": order_id,
                    "method": doc.method, "amount": _money(doc.amount)})
    return out


def _register(shares: list[_Share], stop: TripStop, pay: DoorPayment, key: str, user: Any) -> list[dict[str, Any]]:
    """The money taken: one payment per organization and method, allocated to the stop's objects first."""
    out = []
    for share in shares:
        org_id = share.org.organization_id
        keys = dict(share.org.keys)
        for method, amount, extra in ((PaymentMethod.CARD, share.card, share.extra_card),
                                      (PaymentMethod.CASH, share.cash, share.extra_cash)):
            if amount + extra <= 0:
                continue
            purpose = _("Paid at delivery, trip %(trip)s") % {"trip": stop.trip.number}
            # The stop holds its client: the payment's receipt part names it without reading it again.
            doc = IncomingPayment(organization_id=org_id, partner=stop.partner, method=method, amount=amount + extra)
            if share.org.organization is not None:
                doc.organization = share.org.organization  # read with the shipments: not looked up again
            if method == PaymentMethod.CASH:
                doc.cash_desk = courier_cash_desk(user, org_id)
            else:
                doc.bank_account = _bank_account(org_id)
                purpose += ", " + _("approval code %(code)s") % {"code": pay.card_approval.strip()}
            doc.purpose = purpose
            lines = _allocate(keys, amount)
            # The stop is locked and pending, and its key is unique: no payment has this key yet.
            doc = register_payment(doc, lines, user=user, idempotency_key=f"{key}:{org_id}:{method}",
                                   auto_allocate=False, key_is_new=True)
            out.append({"id": doc.pk, "number": doc.number, "organization": org_id, "method": method,
                        "amount": _money(doc.amount), "approval": pay.card_approval if method == PaymentMethod.CARD
                        else ""})
    return out


# ================================================================== a stop at our own warehouse
def _transfers(stop: TripStop) -> list[Transfer]:
    lines = Prefetch("lines", queryset=TransferLine.objects.select_related("item__unit"))
    return list(Transfer.objects.filter(pk__in=TripStopDocument.objects.filter(stop=stop).values("transfer_id"))
                .prefetch_related(lines).order_by("organization_id", "pk"))


def _transfer_lines(transfers: list[Transfer]) -> list[HandoverLine]:
    return [HandoverLine(t.pk, str(t), t.organization_id, ln.line_no, None, ln.item_id, ln.item.name,
                         ln.item.unit.name if ln.item.unit_id else "", ln.quantity, ZERO, ZERO)
            for t in transfers if t.posted for ln in sorted(t.lines.all(), key=lambda x: x.line_no)]


def deliver_transfers(stop: TripStop, *, accepted: Mapping[tuple[int, int], Decimal] | None = None,
                      payment: DoorPayment = DoorPayment(), user: Any = None, key: str) -> Confirmation:
    """The goods of the transfers to our warehouse are received there (all, or the accepted quantities: (transfer,
    line No.) → quantity): a transfer with less received is re-posted with what arrived (a wholly refused one is
    unposted) and the rest rides back in the vehicle's stock. No money changes hands at our own door: a payment is
    refused. A retry with the same key, or a second phone, gets the stored result."""
    if not key:
        raise CoreError(ErrorCode.INVALID, _("A confirmation needs its idempotency key."),
                        fields={"key": [_("Required.")]})
    if payment.cash or payment.card:
        raise CoreError(ErrorCode.INVALID, _("Goods moved to our own warehouse are not paid for: leave the cash and "
                                             "card amounts empty."),
                        fields={name: [_("Must be empty at our own warehouse.")]
                                for name in ("cash", "card") if getattr(payment, name)})
    with service_transaction():
        locked = _lock_pending(stop, key)
        if isinstance(locked, Confirmation):
            return locked
        stop = locked
        transfers = [t for t in _transfers(stop) if t.posted]
        lines = _transfer_lines(transfers)
        wanted = {(ln.shipment_id, ln.line_no): ln.quantity for ln in lines}
        taken = _received(lines, accepted)
        refused: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
        for transfer in transfers:
            mine = [ln for ln in lines if ln.shipment_id == transfer.pk]
            if all(taken[(ln.shipment_id, ln.line_no)] == ln.quantity for ln in mine):
                continue
            for ln in mine:
                refused[(transfer.organization_id, transfer.warehouse_from_id, ln.item_id)] += (
                    ln.quantity - taken[(ln.shipment_id, ln.line_no)])
            kept = [TransferLine(line_no=n, item_id=ln.item_id, quantity=taken[(ln.shipment_id, ln.line_no)])
                    for n, ln in enumerate((ln for ln in mine if taken[(ln.shipment_id, ln.line_no)] > 0), start=1)]
            if kept:
                save_stock_document(transfer, kept, user=user, post=True)
            else:
                unpost_stock_document(transfer, user=user)
        returned = _into_vehicle(stop.trip, refused, user)
        result = {
            "status": StopStatus.DONE, "key": key, "confirmed_at": timezone.now().isoformat(),
            "confirmed_by": _who(user), "transfers": [t.pk for t in transfers],
            "lines": [{"transfer": ln.shipment_id, "line_no": ln.line_no, "item": ln.name,
                       "shipped": str(wanted[(ln.shipment_id, ln.line_no)]),
                       "accepted": str(taken[(ln.shipment_id, ln.line_no)])} for ln in lines],
            "payments": [], "refunds": [], "returned": returned, "receipts": [],
        }
        stop.status, stop.done_at, stop.confirmation_key, stop.confirmed_by, stop.result = (
            StopStatus.DONE, timezone.now(), key, user, result)
        stop.save(update_fields=["status", "done_at", "confirmation_key", "confirmed_by", "result"])
    return Confirmation(stop, stop.result)


def _received(lines: list[HandoverLine], accepted: Mapping[tuple[int, int], Decimal] | None
              ) -> dict[tuple[int, int], Decimal]:
    """(transfer, line No.) → the quantity received; refuses one that is negative, above what was sent, or of a
    line not delivered here."""
    errors: dict[str, list[str]] = {}
    out: dict[tuple[int, int], Decimal] = {}
    for ln in lines:
        quantity = ln.quantity if accepted is None else accepted.get((ln.shipment_id, ln.line_no), ln.quantity)
        name = f"lines.{ln.shipment_id}.{ln.line_no}"
        if quantity is None or quantity < 0:
            errors.setdefault(name, []).append(_("The quantity cannot be negative."))
        elif quantity > ln.quantity:
            errors.setdefault(name, []).append(
                _("%(item)s: %(sent)s sent, the warehouse cannot receive %(asked)s.")
                % {"item": ln.name, "sent": _plain(ln.quantity), "asked": _plain(quantity)})
        else:
            out[(ln.shipment_id, ln.line_no)] = quantity
    _refuse_quantities(errors, accepted, {(ln.shipment_id, ln.line_no) for ln in lines})
    return out


# ================================================================== the stop not delivered, the trip's end
def fail_stop(stop: TripStop, *, reason: str, user: Any = None, key: str) -> Confirmation:
    """The stop could not be delivered: its shipments are unposted (their orders wait to ship again), as are the
    transfers to our warehouse, and the goods ride back in the vehicle's stock until unloaded."""
    if not reason.strip():
        raise CoreError(ErrorCode.INVALID, _("Say why the stop was not delivered."),
                        fields={"reason": [_("Required.")]})
    if not key:
        raise CoreError(ErrorCode.INVALID, _("A confirmation needs its idempotency key."),
                        fields={"key": [_("Required.")]})
    with service_transaction():
        locked = _lock_pending(stop, key)
        if isinstance(locked, Confirmation):
            return locked
        stop = locked
        goods: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
        for shipment in _shipments(stop):
            if not shipment.posted:
                continue
            for ln in shipment.lines.all():
                goods[(shipment.organization_id, ln.warehouse_id or shipment.warehouse_id, ln.item_id)] += ln.quantity
            sales.unpost_shipment(shipment, user=user)
        for transfer in _transfers(stop):
            if not transfer.posted:
                continue
            for ln in transfer.lines.all():
                goods[(transfer.organization_id, transfer.warehouse_from_id, ln.item_id)] += ln.quantity
            unpost_stock_document(transfer, user=user)
        returned = _into_vehicle(stop.trip, goods, user)
        result = {"status": StopStatus.FAILED, "key": key, "confirmed_at": timezone.now().isoformat(),
                  "confirmed_by": _who(user), "reason": reason.strip(), "returned": returned,
                  "payments": [], "refunds": [], "receipts": []}
        TripStop.objects.filter(pk=stop.pk).update(status=StopStatus.FAILED, done_at=timezone.now(),
                                                   failure_reason=reason.strip()[:300], confirmation_key=key,
                                                   confirmed_by=user, result=result)
        stop.refresh_from_db()
    return Confirmation(stop, stop.result)


@dataclass
class TripEnd:
    """What the courier brings back: cash per organization, goods in the vehicle."""

    cash: dict[int, Decimal]
    goods: list[dict[str, Any]]
    pending: int


def trip_end(trip: DeliveryTrip) -> TripEnd:
    stops = list(TripStop.objects.filter(trip=trip).values("status", "result"))
    cash: dict[int, Decimal] = defaultdict(Decimal)
    goods: list[dict[str, Any]] = []
    for stop in stops:
        result = stop["result"] or {}
        for p in result.get("payments", []):
            if p["method"] == PaymentMethod.CASH:
                cash[p["organization"]] += Decimal(p["amount"])
        for r in result.get("refunds", []):
            if r["method"] == PaymentMethod.CASH:
                cash[r["organization"]] -= Decimal(r["amount"])
        goods += result.get("returned", [])
    return TripEnd(dict(cash), goods, sum(1 for s in stops if s["status"] == StopStatus.PENDING))


def finish_trip(trip: DeliveryTrip, *, user: Any = None) -> DeliveryTrip:
    """The courier ends the trip: refused while a stop is neither done nor failed."""
    from torg.delivery.services import close_trip

    pending = TripStop.objects.filter(trip=trip, status=StopStatus.PENDING).count()
    if pending:
        raise CoreError(DeliveryError.STOPS_PENDING, ngettext(
            "%(n)s stop is still pending: confirm it or report it not delivered, then end the trip.",
            "%(n)s stops are still pending: confirm them or report them not delivered, then end the trip.",
            pending) % {"n": pending})
    return close_trip(trip, user)


def unload_trip(trip: DeliveryTrip, *, user: Any = None) -> list[Transfer]:
    """The goods that rode back are back in their warehouses: transfers from the vehicle's stock, for what the
    trip's stops brought back and the vehicle still holds."""
    vehicle = trip.vehicle
    if not vehicle.warehouse_id:
        return []
    wanted: dict[tuple[int, int, int], Decimal] = defaultdict(Decimal)
    for result in TripStop.objects.filter(trip=trip).values_list("result", flat=True):
        for g in (result or {}).get("returned", []):
            wanted[(g["organization"], g["warehouse"], g["item"])] += Decimal(g["quantity"])
    held = {r["item_id"]: r["quantity"] for r in StockTotal.objects.filter(
        warehouse_id=vehicle.warehouse_id, item_id__in={k[2] for k in wanted}).values("item_id", "quantity")}
    by_doc: dict[tuple[int, int], list[tuple[int, Decimal]]] = defaultdict(list)
    for (org, warehouse, item), quantity in sorted(wanted.items()):
        take = min(quantity, held.get(item, ZERO))
        if take > 0:
            held[item] -= take
            by_doc[(org, warehouse)].append((item, take))
    made = []
    with service_transaction():
        for (org, warehouse), items in sorted(by_doc.items()):
            transfer = Transfer(organization_id=org, warehouse_from_id=vehicle.warehouse_id,
                                warehouse_to_id=warehouse,
                                comment=_("Unloaded: trip %(trip)s") % {"trip": trip.number})
            save_stock_document(transfer, [TransferLine(item_id=i, quantity=q) for i, q in items], user=user,
                                post=True)
            made.append(transfer)
    return made
