"""The courier's endpoints: one's own trips and stops, what to hand over and what is owed, the confirmation at the
door, a stop not delivered, the trip's end.

    GET  /courier/trips                      one's trips to work on (loading, on route; the day's done ones)
    GET  /courier/trips/{id}                 the trip with its stops in route order and their statuses
    GET  /courier/stops/{id}                 address, contact, the lines to hand over, what is owed now
    POST /courier/stops/{id}/due             what would be owed if the client accepted these quantities
    POST /courier/stops/{id}/confirm         delivered: accepted quantities and the money taken (Idempotency-Key)
    POST /courier/stops/{id}/fail            not delivered, with the reason (Idempotency-Key)
    GET  /courier/trips/{id}/end             what the courier brings back: cash per organization, goods
    POST /courier/trips/{id}/finish          end the trip (refused while a stop is pending)

Every operation needs `delivery.courier`, and a courier sees only the trips assigned to them: another courier's
trip or stop is answered 404, like one that does not exist. Every change goes through `torg.delivery.courier`.
Money and quantities are decimal strings. No `from __future__ import annotations`: ninja reads the handlers'
annotations.
"""
import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status

from torg.api import idempotency
from torg.api.auth import secured
from torg.api.errors import ERROR_RESPONSES, ErrorOut, NotFound
from torg.api.sales import MAX_ID
from torg.api.schemas import InputSchema
from torg.catalogs.models import Contact, Item, Organization
from torg.core.errors import CoreError, ErrorCode
from torg.core.money import round_money
from torg.core.permissions import Cap
from torg.delivery import courier
from torg.delivery.errors import DeliveryError
from torg.delivery.models import DeliveryTrip, StopStatus, TripStop, TripStopDocument
from torg.sales.models import SalesOrder, Shipment

STOP_CLOSED = "delivery_stop_closed"  # the stop was confirmed (or reported failed) with another key: 409

MONEY = {"ge": 0, "max_digits": 17, "decimal_places": 2}


# ================================================================ schemas
class TripSummaryOut(Schema):
    id: int
    number: str
    trip_date: dt.date
    status: str = Field(..., description="loading, on_route, done")
    vehicle: str
    stops: int
    pending: int = Field(..., description="Stops neither delivered nor reported failed")
    done: int
    failed: int


class ShipmentRefOut(Schema):
    id: int
    number: str
    organization: int


class StopSummaryOut(Schema):
    id: int
    sequence: int
    status: str = Field(..., description="pending, done, failed")
    kind: Literal["client", "warehouse"] = Field(..., description="A client's door (shipments, money) or one of "
                                                                  "our warehouses (transfers, no money)")
    client: int | None
    client_name: str
    warehouse: int | None = Field(..., description="Our receiving warehouse (kind warehouse)")
    warehouse_name: str
    address: str
    latitude: Decimal | None
    longitude: Decimal | None
    shipments: list[ShipmentRefOut]
    transfers: list[ShipmentRefOut]
    done_at: dt.datetime | None
    failure_reason: str


class TripOut(TripSummaryOut):
    stop_list: list[StopSummaryOut] = Field(..., description="The stops in route order")


class ContactOut(Schema):
    name: str
    phone: str
    email: str


class HandoverLineOut(Schema):
    shipment: int = Field(..., description="The shipment (at our own warehouse: the transfer)")
    shipment_title: str
    organization: int
    line_no: int
    order: int | None
    item: int
    name: str
    unit: str
    quantity: Decimal
    price: Decimal = Field(..., description="Per unit, with VAT")
    amount: Decimal = Field(..., description="With VAT")


class OrgDueOut(Schema):
    organization: int
    name: str
    goods: Decimal = Field(..., description="Goods handed over, with VAT")
    refused: Decimal = Field(..., description="Goods refused at the door")
    debt: Decimal = Field(..., description="What the stop's orders and shipments owe after the handover")
    advance: Decimal = Field(..., description="The client's advance with the organization, offset against the debt")
    release: Decimal = Field(..., description="Prepayment left over by refused goods: kept as an advance or "
                                              "given back (refund_method)")
    due: Decimal = Field(..., description="To take now")
    credit_allowed: bool = Field(..., description="The client's terms allow paying the rest later")


class DueOut(Schema):
    goods: Decimal
    prepaid: Decimal = Field(..., description="What prepayments and advances already cover")
    due: Decimal = Field(..., description="To take now, all organizations together")
    release: Decimal
    credit_allowed: bool
    organizations: list[OrgDueOut]


class StopOut(Schema):
    id: int
    trip: int
    trip_number: str
    sequence: int
    status: str
    kind: Literal["client", "warehouse"]
    client: int | None
    client_name: str
    warehouse: int | None
    warehouse_name: str
    address: str
    address_comment: str = Field(..., description="Entrance, floor, working hours")
    latitude: Decimal | None
    longitude: Decimal | None
    phone: str = Field(..., description="The client's phone")
    contacts: list[ContactOut] = Field(..., description="The contact persons of the stop's orders")
    lines: list[HandoverLineOut] = Field(..., description="What to hand over (the posted shipments' lines; at our "
                                                          "own warehouse the posted transfers', without prices)")
    due: DueOut | None = Field(..., description="What is owed now if everything is accepted; null once the stop "
                                                "is done or failed")
    result: dict[str, Any] = Field(..., description="What the confirmation recorded (empty while pending)")


class AcceptedLineIn(InputSchema):
    shipment: int = Field(..., ge=1, le=MAX_ID, description="The shipment (at our own warehouse: the transfer)")
    line_no: int = Field(..., ge=1, le=1_000_000)
    quantity: Decimal = Field(..., ge=0, max_digits=17, decimal_places=3,
                              description="What the client accepts, at most what was shipped")


class DueIn(InputSchema):
    lines: list[AcceptedLineIn] = Field(default_factory=list, description="Lines not listed: all of it accepted")


class ConfirmIn(InputSchema):
    lines: list[AcceptedLineIn] = Field(default_factory=list, description="Accepted quantities; lines not listed: "
                                                                          "all of it accepted")
    cash: Decimal = Field(Decimal(0), **MONEY, description="Cash the client hands over")  # type: ignore[arg-type]
    card: Decimal = Field(Decimal(0), **MONEY, description="Charged on the card terminal")  # type: ignore[arg-type]
    card_approval: str = Field("", max_length=64, description="The terminal's approval code (required with card)")
    keep_overpayment: bool = Field(False, description="What exceeds the debt stays as the client's advance "
                                                      "(else change is given, in cash)")
    on_credit: bool = Field(False, description="Less than owed is taken and the rest is owed later (only where the "
                                               "client's terms allow credit)")
    refund_method: Literal["", "cash", "card"] = Field("", description="Prepayment left over by refused goods: "
                                                                       "\"\" kept as an advance, or given back")
    buyer_contact: str = Field("", max_length=100, description="Phone or e-mail for the electronic receipt")


class FailIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=300, description="Why the stop was not delivered")


class ConfirmationOut(Schema):
    stop: int
    trip: int
    status: str
    replay: bool = Field(..., description="True: the stop was confirmed before with this key; nothing was "
                                          "registered now, this is the stored result")
    result: dict[str, Any] = Field(..., description="What was recorded: goods, due, prepaid, cash, card, change, "
                                                    "credit, advance_kept, released, lines (shipped / accepted), "
                                                    "payments, refunds, returned goods, receipts; or the reason")


class StopClosedOut(ErrorOut):
    stop: int
    status: str
    result: dict[str, Any] = Field(..., description="What the first confirmation recorded")


class CashOut(Schema):
    organization: int
    name: str
    amount: Decimal


class ReturnedOut(Schema):
    organization: int
    warehouse: int
    item: int
    name: str
    quantity: Decimal


class TripEndOut(Schema):
    trip: int
    status: str
    pending: int = Field(..., description="Stops still to confirm or report failed before the trip can end")
    cash: list[CashOut] = Field(..., description="Cash taken less cash given back, per organization")
    goods: list[ReturnedOut] = Field(..., description="Goods riding back in the vehicle")


# ================================================================ reading
def _ident(pk: int) -> int:
    return pk if 0 < pk <= MAX_ID else 0


def _trips() -> QuerySet[DeliveryTrip]:
    return DeliveryTrip.objects.annotate(
        n_stops=Count("stops"),
        n_pending=Count("stops", filter=Q(stops__status=StopStatus.PENDING)),
        n_done=Count("stops", filter=Q(stops__status=StopStatus.DONE)),
        n_failed=Count("stops", filter=Q(stops__status=StopStatus.FAILED)))


def load_trip(user: Any, pk: int) -> DeliveryTrip:
    """The user's own trip (with its stop counts); another courier's is not found."""
    trip = _trips().select_related("vehicle").filter(pk=_ident(pk), courier=user, deletion_mark=False).first()
    if trip is None:
        raise NotFound(_("delivery trip"), pk)
    return trip


def load_stop(user: Any, pk: int) -> TripStop:
    try:
        return courier.stop_for_courier(user, _ident(pk))
    except TripStop.DoesNotExist:
        raise NotFound(_("trip stop"), pk) from None


def stop_shipments(stop: TripStop) -> list[Shipment]:
    """The stop's shipments with their lines, items and units, as `torg.delivery.courier` reads them."""
    ids = TripStopDocument.objects.filter(stop=stop).values("shipment_id")
    return list(Shipment.objects.filter(pk__in=ids).select_related("partner", "organization")
                .prefetch_related("lines__item__unit").order_by("organization_id", "pk"))


def trip_summary(trip: DeliveryTrip) -> dict[str, Any]:
    return {"id": trip.pk, "number": trip.number, "trip_date": trip.trip_date, "status": trip.status,
            "vehicle": str(trip.vehicle), "stops": trip.n_stops,  # type: ignore[attr-defined]
            "pending": trip.n_pending, "done": trip.n_done, "failed": trip.n_failed}  # type: ignore[attr-defined]


def recipient_out(stop: TripStop) -> dict[str, Any]:
    """Who takes the goods: the client, or our warehouse."""
    return {"kind": "warehouse" if stop.is_transfer else "client",
            "client": stop.partner_id, "client_name": stop.partner.name if stop.partner_id else "",
            "warehouse": stop.warehouse_id, "warehouse_name": stop.warehouse.name if stop.warehouse_id else ""}


def trip_out(trip: DeliveryTrip) -> dict[str, Any]:
    stops = (TripStop.objects.filter(trip=trip).select_related("partner", "warehouse")
             .prefetch_related("documents__shipment", "documents__transfer").order_by("sequence", "id"))
    return {**trip_summary(trip), "stop_list": [
        {"id": s.pk, "sequence": s.sequence, "status": s.status, **recipient_out(s),
         "address": s.address, "latitude": s.latitude, "longitude": s.longitude,
         "shipments": [{"id": d.shipment_id, "number": d.shipment.number, "organization": d.organization_id}
                       for d in s.documents.all() if d.shipment_id],
         "transfers": [{"id": d.transfer_id, "number": d.transfer.number, "organization": d.organization_id}
                       for d in s.documents.all() if d.transfer_id],
         "done_at": s.done_at, "failure_reason": s.failure_reason} for s in stops]}


def due_out(due: courier.StopDue) -> dict[str, Any]:
    return {"goods": round_money(due.goods), "prepaid": round_money(due.prepaid), "due": round_money(due.due),
            "release": round_money(due.release), "credit_allowed": due.credit_allowed,
            "organizations": [{"organization": o.organization_id, "name": o.name, "goods": round_money(o.goods),
                               "refused": round_money(o.refused), "debt": round_money(o.debt),
                               "advance": round_money(o.advance), "release": round_money(o.release),
                               "due": round_money(o.due), "credit_allowed": o.credit_allowed}
                              for o in due.organizations]}


def stop_out(stop: TripStop) -> dict[str, Any]:
    shipments = stop_shipments(stop)
    posted = [s for s in shipments if s.posted]
    pending = stop.status == StopStatus.PENDING
    order_ids = {ln.order_id for s in shipments for ln in s.lines.all() if ln.order_id}
    contacts = (Contact.objects.filter(pk__in=SalesOrder.objects.filter(pk__in=order_ids).values("contact_id"))
                .order_by("name") if order_ids else Contact.objects.none())
    address = stop.delivery_address
    return {
        "id": stop.pk, "trip": stop.trip_id, "trip_number": stop.trip.number, "sequence": stop.sequence,
        "status": stop.status, **recipient_out(stop), "address": stop.address,
        "address_comment": address.comment if address is not None else "", "latitude": stop.latitude,
        "longitude": stop.longitude, "phone": stop.partner.phone if stop.partner_id else "",
        "contacts": [{"name": c.name, "phone": c.phone, "email": c.email} for c in contacts],
        "lines": [{"shipment": ln.shipment_id, "shipment_title": ln.shipment, "organization": ln.organization_id,
                   "line_no": ln.line_no, "order": ln.order_id, "item": ln.item_id, "name": ln.name,
                   "unit": ln.unit, "quantity": ln.quantity, "price": ln.price, "amount": round_money(ln.amount)}
                  for ln in courier.handover_lines(stop, posted)],
        "due": due_out(courier.stop_due(stop, None, posted)) if pending else None,
        "result": stop.result or {},
    }


# ================================================================ parsing
LineKey = tuple[int, int]  # (shipment, line No.)


def accepted_quantities(lines: list[AcceptedLineIn]) -> tuple[dict[LineKey, Decimal], dict[LineKey, int]]:
    """{(shipment, line No.): quantity} and the position (from 1) of each line in the request; a line given twice
    is refused."""
    accepted: dict[tuple[int, int], Decimal] = {}
    position: dict[tuple[int, int], int] = {}
    errors: dict[str, list[str]] = {}
    for n, line in enumerate(lines, start=1):
        key = (line.shipment, line.line_no)
        if key in accepted:
            errors.setdefault(f"lines.{n}", []).append(
                _("Line %(line)s of shipment %(shipment)s is given twice (as entry %(first)s too): give it once.")
                % {"line": line.line_no, "shipment": line.shipment, "first": position[key]})
            continue
        accepted[key] = line.quantity
        position[key] = n
    if errors:
        raise CoreError(ErrorCode.INVALID, next(iter(errors.values()))[0], fields=errors)
    return accepted, position


def renamed(exc: CoreError, position: dict[tuple[int, int], int]) -> CoreError:
    """The service names a line `lines.<shipment>.<line No.>`; the API names the request's entry
    `lines.<N>.quantity` (or `lines.<N>` for a line not delivered at the stop)."""
    fields: dict[str, list[str]] = {}
    for name, messages in (exc.fields or {}).items():
        parts = name.split(".")
        if len(parts) == 3 and parts[0] == "lines" and parts[1].isdigit() and parts[2].isdigit():
            n = position.get((int(parts[1]), int(parts[2])))
            if n is not None:
                unknown = any(m == _("This line is not delivered at this stop.") for m in messages)
                name = f"lines.{n}" if unknown else f"lines.{n}.quantity"
        fields.setdefault(name, []).extend(messages)
    exc.fields = fields
    return exc


def _due(stop: TripStop, accepted: dict[tuple[int, int], Decimal], position: dict[tuple[int, int], int]
         ) -> courier.StopDue:
    try:
        return courier.stop_due(stop, accepted, [s for s in stop_shipments(stop) if s.posted])
    except CoreError as exc:
        if exc.code == DeliveryError.ABOVE_SHIPPED:
            raise renamed(exc, position) from None
        raise


def _same_confirmation(result: dict[str, Any], payload: ConfirmIn, accepted: dict[tuple[int, int], Decimal]) -> bool:
    """A retry must be the request the key was first used for: a confirmation, with the same money and quantities."""
    if result.get("status") != StopStatus.DONE:
        return False
    try:
        if Decimal(result.get("cash", "0")) != payload.cash or Decimal(result.get("card", "0")) != payload.card:
            return False
        stored = {(ln.get("shipment") or ln["transfer"], ln["line_no"]): Decimal(ln["accepted"])
                  for ln in result.get("lines", [])}
    except (ArithmeticError, KeyError, TypeError, ValueError):
        return False
    return all(stored.get(key) == quantity for key, quantity in accepted.items())


def _refuse_key_of_another_stop(key: str, stop: TripStop) -> None:
    if TripStop.objects.filter(confirmation_key=key).exclude(pk=stop.pk).exists():
        raise idempotency.reused(key)


def _answer(response: HttpResponse, confirmation: courier.Confirmation, key: str, same: bool) -> Status:
    """200 with the result; a replay of another confirmation (another phone, another key) is 409 with the stored
    result; the same key sent with another request is 409 `idempotency_key_reused`."""
    stop = confirmation.stop
    result = confirmation.result or {}
    if confirmation.replay and not confirmation.same_request:
        who = result.get("confirmed_by") or _("someone")
        if stop.status == StopStatus.FAILED:
            message = _("Stop %(n)s was already reported not delivered by %(who)s: nothing was registered now.")
        else:
            message = _("Stop %(n)s was already confirmed by %(who)s: nothing was registered now. The answer "
                        "carries what was recorded.")
        return Status(409, {"code": STOP_CLOSED, "message": message % {"n": stop.sequence, "who": who}, "fields": {},
                            "stop": stop.pk, "status": stop.status, "result": result})
    if confirmation.replay and not same:
        raise idempotency.reused(key)
    idempotency.mark_replayed(response, confirmation.replay)
    return Status(200, {"stop": stop.pk, "trip": stop.trip_id, "status": stop.status, "replay": confirmation.replay,
                        "result": result})


def trip_end_out(trip: DeliveryTrip) -> dict[str, Any]:
    end = courier.trip_end(trip)
    names = dict(Organization.objects.filter(pk__in=end.cash).values_list("pk", "name"))
    items = dict(Item.objects.filter(pk__in={g["item"] for g in end.goods}).values_list("pk", "name"))
    return {"trip": trip.pk, "status": trip.status, "pending": end.pending,
            "cash": [{"organization": org, "name": names.get(org, ""), "amount": round_money(amount)}
                     for org, amount in sorted(end.cash.items())],
            "goods": [{"organization": g["organization"], "warehouse": g["warehouse"], "item": g["item"],
                       "name": items.get(g["item"], ""), "quantity": Decimal(g["quantity"])} for g in end.goods]}


# ================================================================ the router
class TripsQuery(Schema):
    day: dt.date | None = Field(None, description="Besides the trips loading or on route, the done ones of this day "
                                                  "(default: today)")


def build_router() -> Router:
    router = Router()
    work = secured(Cap.DELIVERY_COURIER)
    tags = ["courier"]
    key_required = idempotency.declared(work, required=True)
    closed = {409: StopClosedOut}

    @router.get("/courier/trips", response={200: list[TripSummaryOut], **ERROR_RESPONSES}, tags=tags,
                operation_id="courier_trips_list", summary="The courier's own trips", **work)
    def list_trips(request: HttpRequest, params: Query[TripsQuery]) -> list[dict[str, Any]]:
        user = request.auth  # type: ignore[attr-defined]
        ids = courier.courier_trips(user, params.day).values("pk")
        trips = _trips().filter(pk__in=ids).select_related("vehicle").order_by("trip_date", "pk")
        return [trip_summary(t) for t in trips]

    @router.get("/courier/trips/{int:trip_id}", response={200: TripOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="courier_trips_read", summary="A trip with its stops in route order", **work)
    def read_trip(request: HttpRequest, trip_id: int) -> dict[str, Any]:
        return trip_out(load_trip(request.auth, trip_id))  # type: ignore[attr-defined]

    @router.get("/courier/stops/{int:stop_id}", response={200: StopOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="courier_stops_read",
                summary="A stop: address, contact, the lines to hand over, what is owed now", **work)
    def read_stop(request: HttpRequest, stop_id: int) -> dict[str, Any]:
        return stop_out(load_stop(request.auth, stop_id))  # type: ignore[attr-defined]

    @router.post("/courier/stops/{int:stop_id}/due", response={200: DueOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="courier_stops_due",
                 summary="What would be owed if the client accepted these quantities",
                 description="Writes nothing. Lines not listed are accepted in full.", **work)
    def preview_due(request: HttpRequest, stop_id: int, payload: DueIn) -> dict[str, Any]:
        stop = load_stop(request.auth, stop_id)  # type: ignore[attr-defined]
        accepted, position = accepted_quantities(payload.lines)
        return due_out(_due(stop, accepted, position))

    @router.post("/courier/stops/{int:stop_id}/confirm", response={200: ConfirmationOut, **ERROR_RESPONSES, **closed},
                 tags=tags, operation_id="courier_stops_confirm",
                 summary="The stop is delivered: accepted quantities and the money taken",
                 description="In one transaction: the shipments are finalized as accepted (refused goods ride back in "
                             "the vehicle), the money is registered per organization and allocated to the stop's "
                             "orders, one receipt per organization is queued. Needs an `Idempotency-Key` header: a "
                             "retry with the same key registers nothing and answers the stored result with "
                             "`replay: true`; a stop confirmed with another key (another phone) is 409 "
                             "`delivery_stop_closed` with the stored result.", **key_required)
    def confirm(request: HttpRequest, response: HttpResponse, stop_id: int, payload: ConfirmIn) -> Status:
        user = request.auth  # type: ignore[attr-defined]
        key = idempotency.read_key(request, required=True)
        assert key is not None
        stop = load_stop(user, stop_id)
        accepted, position = accepted_quantities(payload.lines)
        _refuse_key_of_another_stop(key, stop)
        payment = courier.DoorPayment(cash=payload.cash, card=payload.card, card_approval=payload.card_approval,
                                      keep_overpayment=payload.keep_overpayment, on_credit=payload.on_credit,
                                      refund_method=payload.refund_method, buyer_contact=payload.buyer_contact)
        try:
            confirmation = courier.confirm_stop(stop, accepted=accepted, payment=payment, user=user, key=key)
        except CoreError as exc:
            if exc.code == DeliveryError.ABOVE_SHIPPED:
                raise renamed(exc, position) from None
            raise
        same = not confirmation.replay or _same_confirmation(confirmation.result, payload, accepted)
        return _answer(response, confirmation, key, same)

    @router.post("/courier/stops/{int:stop_id}/fail", response={200: ConfirmationOut, **ERROR_RESPONSES, **closed},
                 tags=tags, operation_id="courier_stops_fail", summary="The stop could not be delivered",
                 description="Its shipments are unposted (their orders wait to ship again) and the goods ride back in "
                             "the vehicle. Needs an `Idempotency-Key` header, as the confirmation does.",
                 **key_required)
    def fail(request: HttpRequest, response: HttpResponse, stop_id: int, payload: FailIn) -> Status:
        user = request.auth  # type: ignore[attr-defined]
        key = idempotency.read_key(request, required=True)
        assert key is not None
        stop = load_stop(user, stop_id)
        _refuse_key_of_another_stop(key, stop)
        confirmation = courier.fail_stop(stop, reason=payload.reason, user=user, key=key)
        result = confirmation.result or {}
        same = not confirmation.replay or (result.get("status") == StopStatus.FAILED
                                           and result.get("reason") == payload.reason.strip())
        return _answer(response, confirmation, key, same)

    @router.get("/courier/trips/{int:trip_id}/end", response={200: TripEndOut, **ERROR_RESPONSES}, tags=tags,
                operation_id="courier_trips_end",
                summary="What the courier brings back: cash per organization, goods in the vehicle", **work)
    def trip_end(request: HttpRequest, trip_id: int) -> dict[str, Any]:
        return trip_end_out(load_trip(request.auth, trip_id))  # type: ignore[attr-defined]

    @router.post("/courier/trips/{int:trip_id}/finish", response={200: TripOut, **ERROR_RESPONSES}, tags=tags,
                 operation_id="courier_trips_finish", summary="End the trip",
                 description="Refused (`delivery_stops_pending`) while a stop is neither done nor failed.", **work)
    def finish(request: HttpRequest, trip_id: int) -> dict[str, Any]:
        user = request.auth  # type: ignore[attr-defined]
        courier.finish_trip(load_trip(user, trip_id), user=user)
        return trip_out(load_trip(user, trip_id))

    return router
