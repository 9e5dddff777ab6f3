"""Delivery planning use cases: trips, their stops with the shipments and transfers delivered there, capacity,
statuses.

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
from torg.delivery.geometry import Frame, frame_of, zone_of
from torg.delivery.models import (
    DeliveryTrip,
    DeliveryZone,
    TripStatus,
    TripStop,
    TripStopDocument,
)
from torg.sales.models import Shipment, ShipmentLine
from torg.stock.models import Transfer, TransferLine

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


def _loads(line_model: Any, ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    ids = list(ids)
    loads: dict[int, tuple[Decimal, Decimal]] = {i: (ZERO, ZERO) for i in ids}
    rows = line_model.objects.filter(document_id__in=ids).values_list(
        "document_id", "quantity", "item__weight_kg", "item__volume_m3")
    for doc_id, qty, weight, volume in rows:
        w, v = loads[doc_id]
        loads[doc_id] = (w + qty * (weight or ZERO), v + qty * (volume or ZERO))
    return {k: (w.quantize(KG), v.quantize(M3)) for k, (w, v) in loads.items()}


def shipment_loads(shipment_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Weight (kg) and volume (m³) of each shipment: its items' weight and volume × quantity. One query."""
    return _loads(ShipmentLine, shipment_ids)


def transfer_loads(transfer_ids: Iterable[int]) -> dict[int, tuple[Decimal, Decimal]]:
    """Weight (kg) and volume (m³) of each transfer, as `shipment_loads`."""
    return _loads(TransferLine, transfer_ids)


def _active_trip_of(ids: Iterable[int], exclude_trip: int | None = None, *, field: str = "shipment_id"
                    ) -> dict[int, DeliveryTrip]:
    """The trip that is not done each of the shipments (or, with field="transfer_id", transfers) is on."""
    rows = (TripStopDocument.objects.filter(**{f"{field}__in": list(ids)})
            .exclude(stop__trip__status=TripStatus.DONE).select_related("stop__trip"))
    if exclude_trip is not None:
        rows = rows.exclude(stop__trip_id=exclude_trip)
    return {getattr(row, field): row.stop.trip for row in rows}


def _on_active_trips(field: str) -> Any:
    return TripStopDocument.objects.exclude(stop__trip__status=TripStatus.DONE).filter(
        **{f"{field}__isnull": False}).values(field)


def _dated_by(qs: Any, date: dt.date | None) -> Any:
    if date is None:
        return qs
    end = timezone.make_aware(dt.datetime.combine(date + dt.timedelta(days=1), dt.time.min))
    return qs.filter(date__lt=end)


def waiting_for_delivery(date: dt.date | None = None, zone: DeliveryZone | None = None, *,
                         without_address: bool = False) -> list[WaitingShipment]:
    """Posted shipments with a delivery address that are not on a trip that is not done.

    `date`: shipments dated on or before that day (what is waiting by then). `zone`: only those whose address
    (or, for a shipment without one, the partner's) lies in the zone's polygon. `without_address`: also
    shipments without a delivery address (delivered to the partner's own address)."""
    qs = (Shipment.objects.filter(posted=True, deletion_mark=False)
          .exclude(pk__in=_on_active_trips("shipment_id"))
          .select_related("partner", "delivery_address", "organization").order_by("date", "pk"))
    if not without_address:
        qs = qs.filter(delivery_address__isnull=False)
    shipments = list(_dated_by(qs, date))
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
class WaitingTransfer:
    """A posted transfer marked for delivery by our transport, not yet on an active trip."""

    transfer: Transfer
    weight_kg: Decimal
    volume_m3: Decimal
    zone: DeliveryZone | None

    @property
    def address(self) -> str:
        return self.transfer.warehouse_to.address


def transfers_waiting(date: dt.date | None = None, zone: DeliveryZone | None = None) -> list[WaitingTransfer]:
    """Posted transfers marked «delivered by our transport», dated on or before `date`, not on a trip that is not
    done; `zone`: only those whose receiving warehouse lies in the zone's polygon."""
    qs = (Transfer.objects.filter(posted=True, deletion_mark=False, delivery_needed=True)
          .exclude(pk__in=_on_active_trips("transfer_id"))
          .select_related("warehouse_from", "warehouse_to", "organization").order_by("date", "pk"))
    transfers = list(_dated_by(qs, date))
    zones = list(DeliveryZone.objects.filter(deletion_mark=False))
    loads = transfer_loads(t.pk for t in transfers)
    result = []
    for t in transfers:
        found = zone_of(t.warehouse_to.latitude, t.warehouse_to.longitude, zones)
        if zone is not None and (found is None or found.pk != zone.pk):
            continue
        w, v = loads[t.pk]
        result.append(WaitingTransfer(t, w, v, found))
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
    """Put shipments on the trip (see `add_documents`)."""
    return add_documents(trip, shipments=shipments, user=user)


def add_transfers(trip: DeliveryTrip, transfers: Sequence[Transfer], user: Any = None) -> list[TripStop]:
    """Put transfers on the trip (see `add_documents`)."""
    return add_documents(trip, transfers=transfers, user=user)


def add_documents(trip: DeliveryTrip, *, shipments: Sequence[Shipment] = (), transfers: Sequence[Transfer] = (),
                  user: Any = None) -> list[TripStop]:
    """Put shipments and transfers on the trip, one stop per place, new stops at the end of the route: shipments
    to one client's address share a stop (those without a delivery address go to the client's own address);
    transfers go to their receiving warehouse, one stop per warehouse.

    Refuses: a trip that is not being formed; a document not posted; a document already on a trip that is not
    done (naming that trip); a load beyond the vehicle's capacity unless the user may overload."""
    with service_transaction():
        current = _lock_trip(trip)
        _refuse_unless_forming(current)
        # The documents are locked (in key order) so that two trips formed at once cannot both take one of them:
        # the second waits, then sees the first one's stops.
        ship_ids = sorted({s.pk for s in shipments})
        rows = list(Shipment.objects.select_for_update(of=("self",)).filter(pk__in=ship_ids)
                    .select_related("partner", "delivery_address").order_by("pk")) if ship_ids else []
        transfer_ids = sorted({t.pk for t in transfers})
        moved = list(Transfer.objects.select_for_update(of=("self",)).filter(pk__in=transfer_ids)
                     .select_related("warehouse_to").order_by("pk")) if transfer_ids else []
        docs: list[Shipment | Transfer] = sorted([*rows, *moved], key=lambda d: (d.date, isinstance(d, Transfer), d.pk))
        not_posted = [d for d in docs if not d.posted or d.deletion_mark]
        if not_posted:
            raise CoreError(DeliveryError.NOT_POSTED,
                            _("%(doc)s is not posted: only posted documents can be delivered.")
                            % {"doc": not_posted[0]})
        busy: dict[Any, DeliveryTrip] = {}
        busy.update({("s", k): v for k, v in _active_trip_of(ship_ids).items()})
        busy.update({("t", k): v for k, v in _active_trip_of(transfer_ids, field="transfer_id").items()})
        if busy:
            doc = next(d for d in docs if (_kind(d), d.pk) in busy)
            raise CoreError(DeliveryError.ALREADY_ON_TRIP,
                            _("%(doc)s is already on trip No. %(number)s: remove it from that trip first.")
                            % {"doc": doc, "number": busy[(_kind(doc), doc.pk)].number},
                            fields={"transfers" if isinstance(doc, Transfer) else "shipments": [str(doc)]})
        loads = {("s", k): v for k, v in shipment_loads(ship_ids).items()}
        loads.update({("t", k): v for k, v in transfer_loads(transfer_ids).items()})
        add_kg = sum((w for w, _v in loads.values()), ZERO)
        add_m3 = sum((v for _w, v in loads.values()), ZERO)
        load = load_of(current, add_kg, add_m3)
        if load.overloaded and not has_capability(user, Cap.DELIVERY_OVERLOAD):
            raise CoreError(DeliveryError.OVERLOAD, _overload_message(load))
        stops = list(TripStop.objects.filter(trip=current))
        # One stop per place: the client (or our warehouse) and the address as written (two address records with
        # the same text, or a shipment without one going to the client's own address, are one door).
        by_place = {(s.partner_id, s.warehouse_id, _place_key(s.address)): s for s in stops}
        next_seq = max((s.sequence for s in stops), default=0)
        new_stops: list[TripStop] = []
        placed: list[TripStopDocument] = []
        for d in docs:
            if isinstance(d, Transfer):
                place: Any = d.warehouse_to
                partner_id, warehouse_id, address_id = None, d.warehouse_to_id, None
            else:
                place = d.delivery_address if d.delivery_address_id else d.partner
                partner_id, warehouse_id, address_id = d.partner_id, None, d.delivery_address_id
            key = (partner_id, warehouse_id, _place_key(place.address or ""))
            stop = by_place.get(key)
            if stop is None:
                next_seq += 1
                stop = TripStop(trip=current, sequence=next_seq, delivery_address_id=address_id,
                                partner_id=partner_id, warehouse_id=warehouse_id, address=place.address or "",
                                latitude=place.latitude, longitude=place.longitude)
                new_stops.append(stop)
                by_place[key] = stop
            weight, volume = loads[(_kind(d), d.pk)]
            placed.append(TripStopDocument(stop=stop, organization_id=d.organization_id, weight_kg=weight,
                                           volume_m3=volume, **{"transfer" if isinstance(d, Transfer)
                                                                else "shipment": d}))
        TripStop.objects.bulk_create(new_stops)
        TripStopDocument.objects.bulk_create(placed)
        for name, kind in (("shipments_added", Shipment), ("transfers_added", Transfer)):
            numbers = [d.number for d in docs if isinstance(d, kind)]
            if numbers:
                log_change(current, ChangeLogEntry.Action.CHANGED, user, {name: numbers})
        return new_stops


def _kind(doc: Shipment | Transfer) -> str:
    return "t" if isinstance(doc, Transfer) else "s"


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
    """Add every shipment and transfer waiting for delivery in the zone by the date (see `waiting_for_delivery`
    and `transfers_waiting`)."""
    with service_transaction():
        shipments = [w.shipment for w in waiting_for_delivery(date, zone)]
        transfers = [w.transfer for w in transfers_waiting(date, zone)]
        return add_documents(trip, shipments=shipments, transfers=transfers, user=user)


def remove_shipment(trip: DeliveryTrip, shipment: Shipment | int, user: Any = None) -> None:
    """Take a shipment off the trip; a stop left without documents goes, and the stops after it move up."""
    _remove(trip, "shipment", shipment if isinstance(shipment, int) else shipment.pk, user)


def remove_transfer(trip: DeliveryTrip, transfer: Transfer | int, user: Any = None) -> None:
    """Take a transfer off the trip, as `remove_shipment`."""
    _remove(trip, "transfer", transfer if isinstance(transfer, int) else transfer.pk, user)


def _remove(trip: DeliveryTrip, field: str, pk: int, user: Any) -> None:
    with service_transaction():
        current = _lock_trip(trip)
        _refuse_unless_forming(current)
        row = TripStopDocument.objects.filter(stop__trip=current, **{f"{field}_id": pk}).select_related(
            field, "stop").first()
        if row is None:
            message = (_("The transfer is not on %(trip)s.") if field == "transfer"
                       else _("The shipment is not on %(trip)s.")) % {"trip": current}
            raise CoreError(DeliveryError.NOT_ON_TRIP, message)
        stop = row.stop
        row.delete()
        if not stop.documents.exists():
            stop.delete()
            _renumber(current)
        log_change(current, ChangeLogEntry.Action.CHANGED, user, {f"{field}_removed": row.document.number})


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


@dataclass
class ZoneMap:
    """The zones on a small map with the places deliveries go to (clients' delivery addresses, our warehouses), for
    drawing a zone's polygon by clicking around the clients it should take."""

    frame: Frame
    zones: list[dict[str, Any]]  # name, pk, current, points ("x,y x,y …" for an SVG polygon), label_x, label_y
    places: list[dict[str, Any]]  # x, y, label, kind ("client" / "warehouse"), zone (its name or "")


MAP_PLACES = 3000  # the most places drawn: a page stays small even for a large client base


def zone_map(current: DeliveryZone | None, width: int = 600, height: int = 420) -> ZoneMap | None:
    """All zones (the current one marked) and the places with coordinates, in one frame; None when there is
    nothing with coordinates to show."""
    from torg.catalogs.models import DeliveryAddress, Warehouse

    zones = [z for z in DeliveryZone.objects.filter(deletion_mark=False).order_by("name")
             if z.polygon or (current is not None and z.pk == current.pk)]
    rows = [(a.latitude, a.longitude, f"{a.partner.name}: {a.address}", "client") for a in
            DeliveryAddress.objects.filter(latitude__isnull=False, longitude__isnull=False, deletion_mark=False,
                                           partner__deletion_mark=False)
            .select_related("partner").order_by("pk")[:MAP_PLACES]]
    rows += [(w.latitude, w.longitude, w.name, "warehouse") for w in
             Warehouse.objects.filter(latitude__isnull=False, longitude__isnull=False, deletion_mark=False)]
    frame = frame_of([(lat, lon) for z in zones for lat, lon in z.polygon or []]
                     + [(lat, lon) for lat, lon, _label, _kind in rows], width, height)
    if frame is None:
        return None
    drawn = []
    for z in zones:
        corners = [frame.xy(lat, lon) for lat, lon in z.polygon or []]
        middle = (round(sum(x for x, _y in corners) / len(corners), 1),
                  round(sum(y for _x, y in corners) / len(corners), 1)) if corners else (0.0, 0.0)
        drawn.append({"name": z.name, "pk": z.pk, "current": current is not None and z.pk == current.pk,
                      "points": " ".join(f"{x},{y}" for x, y in corners), "label_x": middle[0],
                      "label_y": middle[1]})
    places = []
    for lat, lon, label, kind in rows:
        x, y = frame.xy(lat, lon)
        found = zone_of(lat, lon, zones)
        places.append({"x": x, "y": y, "label": label, "kind": kind, "zone": found.name if found else ""})
    return ZoneMap(frame, drawn, places)


def stops_of(trip: DeliveryTrip) -> list[TripStop]:
    """The trip's stops in route order with their documents (shipments, transfers, organizations) and recipients
    (partners, warehouses); each stop carries `total_kg` and `total_m3`, the sums of its documents."""
    stops = list(TripStop.objects.filter(trip=trip).select_related("partner", "warehouse", "delivery_address")
                 .prefetch_related("documents__shipment", "documents__transfer", "documents__organization")
                 .order_by("sequence", "id"))
    for stop in stops:
        documents = stop.documents.all()
        stop.total_kg = sum((d.weight_kg for d in documents), ZERO)  # type: ignore[attr-defined]
        stop.total_m3 = sum((d.volume_m3 for d in documents), ZERO)  # type: ignore[attr-defined]
    return stops


