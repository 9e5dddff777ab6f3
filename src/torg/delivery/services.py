"""Delivery planning use cases: trips, their stops and shipments, capacity, statuses.

Every change runs in `service_transaction()`; a refusal raises `CoreError` and leaves nothing written.
The web pages (and later the API and the courier's phone) call these functions only."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from torg.core.documents import clean_document, log_change, save_document, service_transaction
from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ChangeLogEntry
from torg.core.permissions import Cap, has_capability
from torg.delivery.errors import DeliveryError
from torg.delivery.geometry import zone_of
from torg.delivery.models import (
    DeliveryTrip,
    DeliveryZone,
    TripStatus,
    TripStop,
    TripStopDocument,
)
from torg.sales.models import Shipment, ShipmentLine

ZERO = Decimal(0)
KG = Decimal("0.001")
M3 = Decimal("0.000001")


def _fmt(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value else "0"
    return text


# ----------------------------------------------------------------- reading
@dataclass
class WaitingShipment:
    """A posted shipment not yet on an active trip, with what it weighs and where it goes."""

    shipment: Shipment
    weight_kg: Decimal
    volume_m3: Decimal
    zone: DeliveryZone | None
    latitude: Decimal | None
    longitude: Decimal | None

    @property
    def address(self) -> str:
        if self.shipment.delivery_address_id:
            return self.shipment.delivery_address.address
        return self.shipment.partner.address


def shipment_loads(shipment_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Weight (kg) and volume (m³) of each shipment: its items' weight and volume × quantity. One query."""
    ids = list(shipment_ids)
    loads: dict[int, tuple[Decimal, Decimal]] = {i: (ZERO, ZERO) for i in ids}
    rows = ShipmentLine.objects.filter(document_id__in=ids).values_list(
        "document_id", "quantity", "item__weight_kg", "item__volume_m3")
    for doc_id, qty, weight, volume in rows:
        w, v = loads[doc_id]
        loads[doc_id] = (w + qty * (weight or ZERO), v + qty * (volume or ZERO))
    return {k: (w.quantize(KG), v.quantize(M3)) for k, (w, v) in loads.items()}


def _active_trip_of(shipment_ids: Iterable[int], exclude_trip: int | None = None) -> dict[int, DeliveryTrip]:
    """The trip that is not done each of the shipments is on."""
    rows = (TripStopDocument.objects.filter(shipment_id__in=list(shipment_ids))
            .exclude(stop__trip__status=TripStatus.DONE).select_related("stop__trip"))
    if exclude_trip is not None:
        rows = rows.exclude(stop__trip_id=exclude_trip)
    return {row.shipment_id: row.stop.trip for row in rows}


def waiting_for_delivery(date: dt.date | None = None, zone: DeliveryZone | None = None, *,
                         without_address: bool = False) -> list[WaitingShipment]:
    """Posted shipments with a delivery address that are not on a trip that is not done.

    `date`: shipments dated on or before that day (what is waiting by then). `zone`: only those whose address
    (or, for a shipment without one, the partner's) lies in the zone's polygon. `without_address`: also
    shipments without a delivery address (delivered to the partner's own address)."""
    qs = (Shipment.objects.filter(posted=True, deletion_mark=False)
          .exclude(pk__in=TripStopDocument.objects.exclude(stop__trip__status=TripStatus.DONE)
                   .values("shipment_id"))
          .select_related("partner", "delivery_address", "organization").order_by("date", "pk"))
    if not without_address:
        qs = qs.filter(delivery_address__isnull=False)
    if date is not None:
        end = timezone.make_aware(dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min))
        qs = qs.filter(date__lt=end)
    shipments = list(qs)
    zones = list(DeliveryZone.objects.filter(deletion_mark=False))
    loads = shipment_loads(s.pk for s in shipments)
    result = []
    for s in shipments:
        place = s.delivery_address if s.delivery_address_id else s.partner
        lat, lon = place.latitude, place.longitude
        found = zone_of(lat, lon, zones)
        if zone is not None and (found is None or found.pk != zone.pk):
            continue
        w, v = loads[s.pk]
        result.append(WaitingShipment(s, w, v, found, lat, lon))
    return result


@dataclass
class Load:
    """What a trip carries against its vehicle's capacity (a capacity of 0 is not limited)."""

    weight_kg: Decimal
    volume_m3: Decimal
    capacity_kg: Decimal
    capacity_m3: Decimal
    weight_percent: Decimal | None = field(init=False)
    volume_percent: Decimal | None = field(init=False)

    def __post_init__(self) -> None:
        self.weight_percent = _percent(self.weight_kg, self.capacity_kg)
        self.volume_percent = _percent(self.volume_m3, self.capacity_m3)

    @property
    def overweight(self) -> bool:
        return bool(self.capacity_kg) and self.weight_kg > self.capacity_kg

    @property
    def over_volume(self) -> bool:
        return bool(self.capacity_m3) and self.volume_m3 > self.capacity_m3

    @property
    def overloaded(self) -> bool:
        return self.overweight or self.over_volume

    @property
    def percent(self) -> Decimal | None:
        """The fuller of the two measures, % of capacity."""
        known = [p for p in (self.weight_percent, self.volume_percent) if p is not None]
        return max(known) if known else None


def _percent(value: Decimal, capacity: Decimal) -> Decimal | None:
    if not capacity:
        return None
    return (value * 100 / capacity).quantize(Decimal("0.1"))


def load_of(trip: DeliveryTrip, extra_kg: Decimal = ZERO, extra_m3: Decimal = ZERO) -> Load:
    """The trip's load now (plus what is about to be added) against its vehicle's capacity."""
    from django.db.models import Sum

    totals = TripStopDocument.objects.filter(stop__trip=trip).aggregate(w=Sum("weight_kg"), v=Sum("volume_m3"))
    vehicle = trip.vehicle
    return Load(Decimal(totals["w"] or 0).quantize(KG) + extra_kg, Decimal(totals["v"] or 0).quantize(M3) + extra_m3,
                vehicle.capacity_kg, vehicle.capacity_m3)


# ----------------------------------------------------------------- trips
def _invalid(errors: dict[str, list[str]]) -> CoreError:
    first = next(iter(errors.values()))[0]
    return CoreError(ErrorCode.INVALID, first, fields=errors)


def save_trip(trip: DeliveryTrip, *, user: Any = None, expected_version: int | None = None) -> DeliveryTrip:
    """Create a trip or change its header (date, vehicle, courier, carrier, warehouse, comment).

    Refuses invalid fields (INVALID), a stale version (CONCURRENT_EDIT), a change of a trip that is done, and
    a vehicle too small for what the trip already carries unless the user may overload (OVERLOAD)."""
    if trip.pk and DeliveryTrip.objects.filter(pk=trip.pk, status=TripStatus.DONE).exists():
        raise CoreError(DeliveryError.WRONG_STATUS, _("%(trip)s is done: it cannot be changed.") % {"trip": trip})
    if trip.trip_date:
        # The document is dated by its trip (it is named "… No. РЛ-000001 of <trip date>"), at noon local time.
        trip.date = timezone.make_aware(dt.datetime.combine(trip.trip_date, dt.time(12)))
    errors = clean_document(trip, exclude=["number", "author", "version", "status"])
    if errors:
        raise _invalid(errors)
    with service_transaction():
        saved = save_document(trip, user=user, expected_version=expected_version)
        # Another vehicle may be smaller than what is already on the trip.
        load = load_of(saved)
        if load.overloaded and not has_capability(user, Cap.DELIVERY_OVERLOAD):
            message = _overload_message(load)
            raise CoreError(DeliveryError.OVERLOAD, message, fields={"vehicle": [message]})
    return saved


def create_trip(trip_date: dt.date, vehicle: Any, *, courier: Any = None, carrier: Any = None, warehouse: Any = None,
                user: Any = None, comment: str = "") -> DeliveryTrip:
    """A new trip being formed; the courier defaults to the vehicle's, the carrier to the vehicle's owner."""
    trip = DeliveryTrip(trip_date=trip_date, vehicle=vehicle, courier=courier or vehicle.default_courier,
                        carrier=carrier or vehicle.carrier, warehouse=warehouse, comment=comment)
    return save_trip(trip, user=user)


def _lock_trip(trip: DeliveryTrip) -> DeliveryTrip:
    current = DeliveryTrip.objects.select_for_update().select_related("vehicle").get(pk=trip.pk)
    trip.status, trip.version = current.status, current.version
    return current


def _refuse_unless_forming(trip: DeliveryTrip) -> None:
    if trip.status != TripStatus.FORMING:
        raise CoreError(DeliveryError.WRONG_STATUS,
                        _("%(trip)s is %(status)s: its stops change only while it is being formed. "
                          "Move it back to forming first.") % {"trip": trip, "status": trip.get_status_display()})


def add_shipments(trip: DeliveryTrip, shipments: Sequence[Shipment], user: Any = None) -> list[TripStop]:
    """Put shipments on the trip: one stop per delivery address (shipments to one address share it; those without
    an address get a stop per partner at the partner's address), new stops at the end of the route.

    Refuses: a trip that is not being formed; a shipment not posted; a shipment already on a trip that is not done
    (naming that trip); a load beyond the vehicle's capacity unless the user may overload."""
    with service_transaction():
        current = _lock_trip(trip)
        _refuse_unless_forming(current)
        ids = sorted({s.pk for s in shipments})
        # The shipments are locked (in key order) so that two trips formed at once cannot both take one of them:
        # the second waits, then sees the first one's stops.
        rows = list(Shipment.objects.select_for_update(of=("self",)).filter(pk__in=ids)
                    .select_related("partner", "delivery_address").order_by("pk"))
        rows.sort(key=lambda s: (s.date, s.pk))
        not_posted = [s for s in rows if not s.posted or s.deletion_mark]
        if not_posted:
            raise CoreError(DeliveryError.NOT_POSTED,
                            _("%(doc)s is not posted: only posted shipments can be delivered.")
                            % {"doc": not_posted[0]})
        busy = _active_trip_of(ids)
        if busy:
            doc = next(s for s in rows if s.pk in busy)
            raise CoreError(DeliveryError.ALREADY_ON_TRIP,
                            _("%(doc)s is already on trip No. %(number)s: remove it from that trip first.")
                            % {"doc": doc, "number": busy[doc.pk].number}, fields={"shipments": [str(doc)]})
        loads = shipment_loads(ids)
        add_kg = sum((w for w, _v in loads.values()), ZERO)
        add_m3 = sum((v for _w, v in loads.values()), ZERO)
        load = load_of(current, add_kg, add_m3)
        if load.overloaded and not has_capability(user, Cap.DELIVERY_OVERLOAD):
            raise CoreError(DeliveryError.OVERLOAD, _overload_message(load))
        stops = list(TripStop.objects.filter(trip=current))
        # One stop per place: the client and the address as written (two address records with the same text, or
        # a shipment without one going to the client's own address, are one door).
        by_place = {(s.partner_id, _place_key(s.address)): s for s in stops}
        next_seq = max((s.sequence for s in stops), default=0)
        new_stops: list[TripStop] = []
        placed: list[tuple[Shipment, TripStop]] = []
        for s in rows:
            place = s.delivery_address if s.delivery_address_id else s.partner
            key = (s.partner_id, _place_key(place.address or ""))
            stop = by_place.get(key)
            if stop is None:
                next_seq += 1
                stop = TripStop(trip=current, sequence=next_seq, delivery_address_id=s.delivery_address_id,
                                partner_id=s.partner_id, address=place.address or "",
                                latitude=place.latitude, longitude=place.longitude)
                new_stops.append(stop)
                by_place[key] = stop
            placed.append((s, stop))
        TripStop.objects.bulk_create(new_stops)
        TripStopDocument.objects.bulk_create([
            TripStopDocument(stop=stop, shipment=s, organization_id=s.organization_id,
                             weight_kg=loads[s.pk][0], volume_m3=loads[s.pk][1]) for s, stop in placed])
        if rows:
            log_change(current, ChangeLogEntry.Action.CHANGED, user,
                       {"shipments_added": [s.number for s in rows]})
        return new_stops


def _place_key(address: str) -> str:
    """An address as a place: case, spaces and punctuation at the ends do not make another door."""
    return " ".join(address.lower().replace(",", " ").split()).strip(" .")


def _overload_message(load: Load) -> str:
    parts = []
    if load.overweight:
        parts.append(_("%(load)s kg against a capacity of %(capacity)s kg")
                     % {"load": _fmt(load.weight_kg), "capacity": _fmt(load.capacity_kg)})
    if load.over_volume:
        parts.append(_("%(load)s m³ against a capacity of %(capacity)s m³")
                     % {"load": _fmt(load.volume_m3), "capacity": _fmt(load.capacity_m3)})
    return _("The vehicle would be overloaded: %(details)s. Take fewer shipments or a larger vehicle.") % {
        "details": "; ".join(parts)}


def fill_from_zone(trip: DeliveryTrip, zone: DeliveryZone | None, date: dt.date | None, user: Any = None
                   ) -> list[TripStop]:
    """Add every shipment waiting for delivery in the zone by the date (see `waiting_for_delivery`)."""
    with service_transaction():
        waiting = waiting_for_delivery(date, zone)
        return add_shipments(trip, [w.shipment for w in waiting], user)


def remove_shipment(trip: DeliveryTrip, shipment: Shipment | int, user: Any = None) -> None:
    """Take a shipment off the trip; a stop left without shipments goes, and the stops after it move up."""
    shipment_id = shipment if isinstance(shipment, int) else shipment.pk
    with service_transaction():
        current = _lock_trip(trip)
        _refuse_unless_forming(current)
        row = TripStopDocument.objects.filter(stop__trip=current, shipment_id=shipment_id).select_related(
            "shipment", "stop").first()
        if row is None:
            raise CoreError(DeliveryError.NOT_ON_TRIP, _("The shipment is not on %(trip)s.") % {"trip": current})
        stop = row.stop
        row.delete()
        if not stop.documents.exists():
            stop.delete()
            _renumber(current)
        log_change(current, ChangeLogEntry.Action.CHANGED, user, {"shipment_removed": row.shipment.number})


def _renumber(trip: DeliveryTrip, order: Sequence[int] | None = None) -> None:
    stops = list(TripStop.objects.filter(trip=trip).order_by("sequence", "id"))
    if order is not None:
        position = {pk: n for n, pk in enumerate(order)}
        stops.sort(key=lambda s: position[s.pk])
    changed = []
    for n, stop in enumerate(stops, start=1):
        if stop.sequence != n:
            stop.sequence = n
            changed.append(stop)
    TripStop.objects.bulk_update(changed, ["sequence"])


def reorder_stops(trip: DeliveryTrip, stop_ids: Sequence[int], user: Any = None) -> None:
    """Put the trip's stops in the given order (all of them, each once). Refused while the trip is on route or done,
    and for a list that is not exactly the trip's stops."""
    with service_transaction():
        current = _lock_trip(trip)
        if current.status not in (TripStatus.FORMING, TripStatus.LOADING):
            raise CoreError(DeliveryError.WRONG_STATUS,
                            _("%(trip)s is %(status)s: its route can no longer be changed.")
                            % {"trip": current, "status": current.get_status_display()})
        ids = [int(i) for i in stop_ids]
        existing = list(TripStop.objects.filter(trip=current).order_by("sequence", "id").values_list("pk", flat=True))
        if sorted(ids) != sorted(existing) or len(set(ids)) != len(ids):
            raise CoreError(DeliveryError.BAD_ORDER,
                            _("The new order must list each of the trip's %(n)s stops once; the page may be "
                              "out of date: reload it.") % {"n": len(existing)})
        if ids != existing:
            _renumber(current, ids)
            log_change(current, ChangeLogEntry.Action.CHANGED, user, {"stops": [existing, ids]})


def move_stop(trip: DeliveryTrip, stop_id: int, step: int, user: Any = None) -> None:
    """Move one stop up (step −1) or down (+1) the route; at either end nothing changes."""
    ids = list(TripStop.objects.filter(trip=trip).order_by("sequence", "id").values_list("pk", flat=True))
    if stop_id not in ids:
        raise CoreError(DeliveryError.BAD_ORDER, _("The stop is not on %(trip)s.") % {"trip": trip})
    i = ids.index(stop_id)
    j = i + step
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
    reorder_stops(trip, ids, user)


# ----------------------------------------------------------------- statuses
def _move(trip: DeliveryTrip, to: str, user: Any, comment: str = "") -> DeliveryTrip:
    with service_transaction():
        current = _lock_trip(trip)
        if not current.can_move_to(to):
            raise CoreError(DeliveryError.WRONG_STATUS,
                            _("%(trip)s is %(status)s: it cannot become %(to)s.")
                            % {"trip": current, "status": current.get_status_display(),
                               "to": TripStatus(to).label})
        if to == TripStatus.LOADING and not TripStop.objects.filter(trip=current).exists():
            raise CoreError(DeliveryError.WRONG_STATUS,
                            _("%(trip)s has no stops: add shipments before loading.") % {"trip": current})
        before = current.status
        DeliveryTrip.objects.filter(pk=current.pk).update(status=to, version=current.version + 1,
                                                          updated_at=timezone.now())
        log_change(current, ChangeLogEntry.Action.CHANGED, user, {"status": [before, to]}, comment)
        trip.status, trip.version = to, current.version + 1
    return trip


def start_loading(trip: DeliveryTrip, user: Any = None) -> DeliveryTrip:
    """forming → loading: the plan is fixed. Refused for a trip without stops."""
    return _move(trip, TripStatus.LOADING, user)


def back_to_forming(trip: DeliveryTrip, user: Any = None) -> DeliveryTrip:
    """loading → forming: the plan may change again."""
    return _move(trip, TripStatus.FORMING, user)


def send_on_route(trip: DeliveryTrip, user: Any = None) -> DeliveryTrip:
    """loading → on route: the vehicle has left."""
    return _move(trip, TripStatus.ON_ROUTE, user)


def close_trip(trip: DeliveryTrip, user: Any = None) -> DeliveryTrip:
    """on route → done: the trip is over; shipments left undelivered may go on another trip."""
    return _move(trip, TripStatus.DONE, user)


TRANSITION_SERVICES = {
    TripStatus.LOADING: start_loading,
    TripStatus.FORMING: back_to_forming,
    TripStatus.ON_ROUTE: send_on_route,
    TripStatus.DONE: close_trip,
}


def stops_of(trip: DeliveryTrip) -> list[TripStop]:
    """The trip's stops in route order with their documents (shipments, organizations) and partners; each stop
    carries `total_kg` and `total_m3`, the sums of its documents."""
    stops = list(TripStop.objects.filter(trip=trip).select_related("partner", "delivery_address")
                 .prefetch_related("documents__shipment", "documents__organization").order_by("sequence", "id"))
    for stop in stops:
        documents = stop.documents.all()
        stop.total_kg = sum((d.weight_kg for d in documents), ZERO)  # type: ignore[attr-defined]
        stop.total_m3 = sum((d.volume_m3 for d in documents), ZERO)  # type: ignore[attr-defined]
    return stops


