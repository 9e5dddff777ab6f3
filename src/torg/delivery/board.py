"""The managers' live board of a day's deliveries: every trip that has left planning, how far along its stops are,
the money the couriers collected (by method, refunds deducted), what stayed on credit, how the receipts fare in
the fiscal queue, the latest confirmations, and the cash each courier holds.

Everything is read from what the courier's confirmation stored on the stop (`TripStop.result`: payments, refunds,
receipts, credit — see `courier.confirm_stop`), the receipts' current statuses, and the kept totals of `Funds` for
the couriers' cash desks. Four queries whatever the number of trips and stops: trips, stops, receipts, cash.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone

from torg.delivery.models import DeliveryTrip, StopStatus, TripStatus, TripStop
from torg.fiscal.models import FiscalReceipt, ReceiptStatus
from torg.payments.cash_handover import couriers_cash
from torg.payments.models import PaymentMethod

ZERO = Decimal(0)
LAST_EVENTS = 10  # confirmations shown in "latest"
# On the board, trips on route come first: they are the ones that change.
TRIP_ORDER = {TripStatus.ON_ROUTE: 0, TripStatus.LOADING: 1, TripStatus.DONE: 2}
# Receipts not registered yet and not refused: in the queue, or handed to the driver without an answer yet.
WAITING = frozenset({ReceiptStatus.QUEUED, ReceiptStatus.SENT})
EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)


def person_name(user: Any) -> str:
    return (user.get_full_name() or user.get_username()) if user is not None else ""


@dataclass
class ReceiptCounts:
    waiting: int = 0  # queued or sent, no answer from the register yet
    failed: int = 0  # refused by the register: a person has to retry or cancel it
    registered: int = 0
    cancelled: int = 0

    def count(self, status: str) -> None:
        if status in WAITING:
            self.waiting += 1
        elif status == ReceiptStatus.FAILED:
            self.failed += 1
        elif status == ReceiptStatus.REGISTERED:
            self.registered += 1
        elif status == ReceiptStatus.CANCELLED:
            self.cancelled += 1

    def add(self, other: ReceiptCounts) -> None:
        self.waiting += other.waiting
        self.failed += other.failed
        self.registered += other.registered
        self.cancelled += other.cancelled


@dataclass
class Figures:
    """Stops and money of a trip, or of the whole day."""

    done: int = 0
    pending: int = 0
    failed: int = 0
    cash: Decimal = ZERO  # cash taken, less cash given back
    card: Decimal = ZERO  # charged on the terminal, less card refunds
    refunded: Decimal = ZERO  # prepayments given back at the door (already deducted from cash and card)
    credit: Decimal = ZERO  # left to pay later, where the client's terms allow it
    receipts: ReceiptCounts = field(default_factory=ReceiptCounts)

    @property
    def stops(self) -> int:
        return self.done + self.pending + self.failed

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        """Stops visited (delivered or not), in whole per cent."""
        return round(100 * self.finished / self.stops) if self.stops else 0

    @property
    def collected(self) -> Decimal:
        return self.cash + self.card

    def add(self, other: Figures) -> None:
        self.done += other.done
        self.pending += other.pending
        self.failed += other.failed
        self.cash += other.cash
        self.card += other.card
        self.refunded += other.refunded
        self.credit += other.credit
        self.receipts.add(other.receipts)


@dataclass(frozen=True)
class StopEvent:
    """A stop confirmed at the door, or reported not delivered."""

    stop_id: int
    trip_id: int
    trip_number: str
    sequence: int
    status: str  # StopStatus
    at: dt.datetime | None
    client: str
    address: str
    courier: str
    cash: Decimal
    card: Decimal
    credit: Decimal
    reason: str  # why it was not delivered

    @property
    def collected(self) -> Decimal:
        return self.cash + self.card

    @property
    def is_failed(self) -> bool:
        return self.status == StopStatus.FAILED


@dataclass(frozen=True)
class FailedReceipt:
    """A receipt the register refused: someone has to retry or cancel it."""

    receipt_id: int
    total: Decimal
    error: str
    trip_number: str
    client: str


@dataclass
class TripRow:
    trip_id: int
    number: str
    status: str
    status_label: str
    vehicle: str
    courier: str
    figures: Figures = field(default_factory=Figures)
    failed_stops: list[StopEvent] = field(default_factory=list)


@dataclass(frozen=True)
class CashPart:
    organization: str
    desk: str
    balance: Decimal


@dataclass
class CourierCashRow:
    """The cash a courier holds, over their cash desks (one per organization)."""

    courier_id: int
    courier: str
    total: Decimal = ZERO
    parts: list[CashPart] = field(default_factory=list)


@dataclass
class Board:
    day: dt.date
    trips: list[TripRow]
    totals: Figures
    events: list[StopEvent]  # the latest first
    failed_receipts: list[FailedReceipt]
    couriers_cash: list[CourierCashRow]
    generated_at: dt.datetime

    @property
    def cash_held(self) -> Decimal:
        return sum((c.total for c in self.couriers_cash), ZERO)


def _amount(value: Any) -> Decimal:
    return Decimal(str(value)) if value not in (None, "") else ZERO


def _money(result: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """cash, card (refunds deducted) and refunded, from a stop's stored confirmation."""
    by_method: dict[str, Decimal] = defaultdict(Decimal)
    refunded = ZERO
    for payment in result.get("payments") or []:
        by_method[payment.get("method", "")] += _amount(payment.get("amount"))
    for refund in result.get("refunds") or []:
        by_method[refund.get("method", "")] -= _amount(refund.get("amount"))
        refunded += _amount(refund.get("amount"))
    return by_method[PaymentMethod.CASH], by_method[PaymentMethod.CARD], refunded


def _event(stop: TripStop, trip: DeliveryTrip, cash: Decimal, card: Decimal) -> StopEvent:
    result = stop.result or {}
    return StopEvent(
        stop_id=stop.pk, trip_id=trip.pk, trip_number=trip.number, sequence=stop.sequence, status=stop.status,
        at=stop.done_at, client=str(stop.recipient), address=stop.address,
        courier=person_name(stop.confirmed_by) or result.get("confirmed_by", "") or person_name(trip.courier),
        cash=cash, card=card, credit=_amount(result.get("credit")),
        reason=stop.failure_reason or result.get("reason", ""))


def _receipt_statuses(ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {r["pk"]: r for r in FiscalReceipt.objects.filter(pk__in=wanted).values("pk", "status", "total",
                                                                                     "last_error")}


def _couriers_cash() -> list[CourierCashRow]:
    rows: dict[int, CourierCashRow] = {}
    for held in couriers_cash():
        row = rows.setdefault(held.courier_id, CourierCashRow(held.courier_id, person_name(held.courier)))
        row.total += held.balance
        row.parts.append(CashPart(str(held.organization), str(held.desk), held.balance))
    return sorted(rows.values(), key=lambda r: (-r.total, r.courier))


def board(day: dt.date | None = None) -> Board:
    """The board of the day's trips (of every status but forming, not marked for deletion), by default today's."""
    day = day or timezone.localdate()
    trips = sorted(DeliveryTrip.objects.filter(trip_date=day, deletion_mark=False)
                   .exclude(status=TripStatus.FORMING).select_related("vehicle", "courier"),
                   key=lambda t: (TRIP_ORDER.get(t.status, 9), t.number, t.pk))
    by_id = {t.pk: t for t in trips}
    stops = list(TripStop.objects.filter(trip_id__in=list(by_id)).select_related("partner", "warehouse", "confirmed_by")
                 .order_by("trip_id", "sequence", "pk")) if by_id else []
    receipts = _receipt_statuses(r for s in stops for r in (s.result or {}).get("receipts") or [])

    rows = {t.pk: TripRow(t.pk, t.number, t.status, t.get_status_display(), str(t.vehicle), person_name(t.courier))
            for t in trips}
    events: list[StopEvent] = []
    failed_receipts: list[FailedReceipt] = []
    for stop in stops:
        trip, row = by_id[stop.trip_id], rows[stop.trip_id]
        figures = row.figures
        if stop.status == StopStatus.PENDING:
            figures.pending += 1
            continue
        result = stop.result or {}
        cash, card, refunded = _money(result)
        event = _event(stop, trip, cash, card)
        events.append(event)
        if stop.status == StopStatus.FAILED:
            figures.failed += 1
            row.failed_stops.append(event)
        else:
            figures.done += 1
        figures.cash += cash
        figures.card += card
        figures.refunded += refunded
        figures.credit += event.credit
        for receipt_id in result.get("receipts") or []:
            receipt = receipts.get(receipt_id)
            if receipt is None:
                continue
            figures.receipts.count(receipt["status"])
            if receipt["status"] == ReceiptStatus.FAILED:
                failed_receipts.append(FailedReceipt(receipt_id, receipt["total"], receipt["last_error"],
                                                     trip.number, event.client))
    totals = Figures()
    for row in rows.values():
        totals.add(row.figures)
    events.sort(key=lambda e: (e.at or EARLIEST, e.stop_id), reverse=True)
    return Board(day=day, trips=list(rows.values()), totals=totals, events=events[:LAST_EVENTS],
                 failed_receipts=sorted(failed_receipts, key=lambda f: f.receipt_id), couriers_cash=_couriers_cash(),
                 generated_at=timezone.now())
