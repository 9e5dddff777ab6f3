"""Delivery pages at /delivery/: zones, vehicles, carriers, trips, the route sheet.

Thin: parse, check the capability, call `delivery.services`, render."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.db.models import Count, Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from torg.catalogs.services import save_catalog_entry
from torg.core.errors import CoreError
from torg.core.permissions import Cap, has_capability
from torg.delivery import forms as df
from torg.delivery import services
from torg.delivery.geometry import route_map
from torg.delivery.models import (
    TRIP_TRANSITIONS,
    Carrier,
    DeliveryTrip,
    DeliveryZone,
    TripStatus,
    Vehicle,
)
from torg.sales.models import Shipment
from torg.stock.models import Transfer
from torg.web.access import requires
from torg.web.listing import Column, Filter, ListConfig, render_list

MAP_WIDTH, MAP_HEIGHT = 640, 360


def _post_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    view.post_only = True  # type: ignore[attr-defined]  # read by the permission-matrix test
    return view


# ================================================================ catalogs
@dataclass(frozen=True)
class CatalogPage:
    key: str  # url names delivery:<key>_list, _new, _edit
    model: type[Model]
    form: type[df.CatalogForm]
    columns: tuple[Column, ...]
    title: str | Promise
    new_title: str | Promise
    search_fields: tuple[str, ...] = ("name",)
    filters: tuple[Filter, ...] = (Filter("deletion_mark"),)
    queryset: Callable[[], Any] | None = None

    def listing(self) -> ListConfig:
        return ListConfig(model=self.model, columns=self.columns, title=self.title, search_fields=self.search_fields,
                          filters=self.filters, queryset=self.queryset,
                          row_url=lambda obj: reverse(f"delivery:{self.key}_edit", args=[obj.pk]),
                          create_url_name=f"delivery:{self.key}_new")


CATALOGS = {
    "zone": CatalogPage(
        "zone", DeliveryZone, df.DeliveryZoneForm,
        (Column("name", gettext_lazy("Name"), link=True), Column("districts", gettext_lazy("Districts")),
         Column("points", gettext_lazy("Polygon points"), sortable=False, align_end=True,
                value=lambda z: len(z.polygon or [])),
         Column("deletion_mark", gettext_lazy("Marked for deletion"))),
        gettext_lazy("Delivery zones"), gettext_lazy("New delivery zone"), search_fields=("name", "districts")),
    "vehicle": CatalogPage(
        "vehicle", Vehicle, df.VehicleForm,
        (Column("name", gettext_lazy("Name"), link=True), Column("plate", gettext_lazy("Registration plate")),
         Column("capacity_kg", gettext_lazy("Capacity, kg")), Column("capacity_m3", gettext_lazy("Capacity, m³")),
         Column("carrier__name", gettext_lazy("Carrier"), value=lambda v: v.carrier or _("own")),
         Column("default_courier__username", gettext_lazy("Default courier"))),
        gettext_lazy("Vehicles"), gettext_lazy("New vehicle"), search_fields=("name", "plate"),
        filters=(Filter("carrier"), Filter("deletion_mark")),
        queryset=lambda: Vehicle.objects.select_related("carrier", "default_courier")),
    "carrier": CatalogPage(
        "carrier", Carrier, df.CarrierForm,
        (Column("name", gettext_lazy("Name"), link=True), Column("phone", gettext_lazy("Phone")),
         Column("partner__name", gettext_lazy("Partner")),
         Column("deletion_mark", gettext_lazy("Marked for deletion"))),
        gettext_lazy("Carriers"), gettext_lazy("New carrier"), search_fields=("name", "phone"),
        queryset=lambda: Carrier.objects.select_related("partner")),
}


def _catalog_list(key: str) -> Callable[..., HttpResponse]:
    @requires(Cap.DELIVERY_VIEW)
    def view(request: HttpRequest) -> HttpResponse:
        return render_list(request, CATALOGS[key].listing(), can_create=has_capability(request.user, Cap.DELIVERY_PLAN))

    view.__name__ = f"{key}_list"
    return view


def _catalog_new(key: str) -> Callable[..., HttpResponse]:
    @requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
    def view(request: HttpRequest) -> HttpResponse:
        return _catalog_form(request, CATALOGS[key], CATALOGS[key].model())

    view.__name__ = f"{key}_new"
    return view


def _catalog_edit(key: str) -> Callable[..., HttpResponse]:
    @requires(Cap.DELIVERY_VIEW, write=(Cap.DELIVERY_PLAN,))
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return _catalog_form(request, CATALOGS[key], get_object_or_404(CATALOGS[key].model, pk=pk))

    view.__name__ = f"{key}_edit"
    return view


def _catalog_form(request: HttpRequest, page: CatalogPage, obj: Model) -> HttpResponse:
    form = page.form(request.POST or None, instance=obj)
    if request.method == "POST" and form.is_valid():
        try:
            saved = save_catalog_entry(form.instance, request.user, form.expected_version, validate=False)
        except CoreError as exc:
            for name, msgs in (exc.fields or {}).items():
                form.add_error(name if name in form.fields else None, msgs)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            messages.success(request, _("Saved: %(obj)s.") % {"obj": saved})
            return HttpResponseRedirect(reverse(f"delivery:{page.key}_edit", args=[saved.pk]))
    can_edit = has_capability(request.user, Cap.DELIVERY_PLAN)
    if not can_edit:
        for field in form.fields.values():
            field.disabled = True
    return render(request, "delivery/catalog_form.html", {
        "form": form, "obj": obj, "page": page, "can_edit": can_edit,
        "zone_map": services.zone_map(obj if obj.pk else None) if page.key == "zone" else None,
        "list_url": reverse(f"delivery:{page.key}_list"),
        "action": (reverse(f"delivery:{page.key}_edit", args=[obj.pk]) if obj.pk
                   else reverse(f"delivery:{page.key}_new"))})


# ================================================================ trips
TRIPS = ListConfig(
    model=DeliveryTrip,
    title=gettext_lazy("Delivery trips"),
    columns=(
        Column("number", gettext_lazy("Number"), link=True),
        Column("trip_date", gettext_lazy("Trip date")),
        Column("status", gettext_lazy("Status")),
        Column("vehicle__name", gettext_lazy("Vehicle"), value=lambda t: t.vehicle),
        Column("courier__username", gettext_lazy("Courier")),
        Column("stop_count", gettext_lazy("Stops"), align_end=True),
    ),
    search_fields=("number", "comment"),
    filters=(Filter("status"), Filter("courier", kind="fk"), Filter("vehicle")),
    ordering=("-trip_date", "-id"),
    row_url=lambda t: reverse("delivery:trip_detail", args=[t.pk]),
    create_url_name="delivery:trip_new",
    queryset=lambda: DeliveryTrip.objects.select_related("vehicle", "courier").annotate(stop_count=Count("stops")),
)


def _parse_day(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


@requires(Cap.DELIVERY_VIEW)
def trip_list(request: HttpRequest) -> HttpResponse:
    day = _parse_day(request.GET.get("day"))
    queryset = TRIPS.queryset().filter(trip_date=day) if day else None  # type: ignore[misc]
    return render_list(request, TRIPS, queryset=queryset, template_name="delivery/trip_list.html",
                       can_create=has_capability(request.user, Cap.DELIVERY_PLAN),
                       extra_context={"day": day.isoformat() if day else ""})


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
def trip_new(request: HttpRequest) -> HttpResponse:
    trip = DeliveryTrip(trip_date=dt.date.today())
    form = df.TripForm(request.POST or None, instance=trip)
    if request.method == "POST" and form.is_valid():
        try:
            vehicle = form.cleaned_data["vehicle"]
            saved = services.create_trip(form.cleaned_data["trip_date"], vehicle,
                                         courier=form.cleaned_data["courier"], carrier=form.cleaned_data["carrier"],
                                         warehouse=form.cleaned_data["warehouse"], user=request.user,
                                         comment=form.cleaned_data["comment"])
        except CoreError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved: %(obj)s.") % {"obj": saved})
            return HttpResponseRedirect(reverse("delivery:trip_detail", args=[saved.pk]))
    return render(request, "delivery/trip_new.html", {"form": form})


def _form_errors(form: Any, exc: CoreError) -> None:
    for name, msgs in (exc.fields or {}).items():
        form.add_error(name if name in form.fields else None, msgs)
    if not exc.fields:
        form.add_error(None, exc.message)


def _trip(pk: int) -> DeliveryTrip:
    return get_object_or_404(DeliveryTrip.objects.select_related("vehicle", "courier", "carrier", "warehouse"), pk=pk)


@requires(Cap.DELIVERY_VIEW, write=(Cap.DELIVERY_PLAN,))
def trip_detail(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(pk)
    form = df.TripForm(request.POST or None, instance=trip)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_trip(form.instance, user=request.user, expected_version=form.expected_version)
        except CoreError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Saved: %(obj)s.") % {"obj": trip})
            return HttpResponseRedirect(reverse("delivery:trip_detail", args=[trip.pk]))
    can_plan = has_capability(request.user, Cap.DELIVERY_PLAN)
    if not can_plan or trip.status == TripStatus.DONE:
        for field in form.fields.values():
            field.disabled = True
    stops = services.stops_of(trip)
    load = services.load_of(trip)
    zone = DeliveryZone.objects.filter(pk=request.GET.get("zone") or 0, deletion_mark=False).first() \
        if (request.GET.get("zone") or "").isdigit() else None
    day = _parse_day(request.GET.get("day")) or trip.trip_date
    without_address = request.GET.get("without_address") == "1"
    planning = trip.is_editable and can_plan
    waiting = services.waiting_for_delivery(day, zone, without_address=without_address) if planning else []
    waiting_transfers = services.transfers_waiting(day, zone) if planning else []
    points = route_map([(s.latitude, s.longitude, s.address) for s in stops], MAP_WIDTH, MAP_HEIGHT)
    return render(request, "delivery/trip_detail.html", {
        "trip": trip, "form": form, "can_plan": can_plan, "stops": stops, "load": load,
        "bar_percent": min(load.percent or 0, 100),
        "waiting": waiting, "waiting_transfers": waiting_transfers,
        "zones": DeliveryZone.objects.filter(deletion_mark=False),
        "zone": zone, "day": day.isoformat(), "without_address": without_address,
        "transitions": [(s, TripStatus(s).label) for s in sorted(TRIP_TRANSITIONS[trip.status])],
        "map_points": points, "map_path": " ".join(f"{p.x},{p.y}" for p in points),
        "map_width": MAP_WIDTH, "map_height": MAP_HEIGHT,
        "can_overload": has_capability(request.user, Cap.DELIVERY_OVERLOAD),
    })


def _back(trip: DeliveryTrip, request: HttpRequest) -> HttpResponseRedirect:
    query = request.POST.get("back_query", "")
    return HttpResponseRedirect(reverse("delivery:trip_detail", args=[trip.pk]) + (f"?{query}" if query else ""))


def _run(request: HttpRequest, action: Callable[[], Any], done: str) -> None:
    try:
        action()
    except CoreError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, done)


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
@require_POST
def trip_add(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(pk)
    ship_ids = [int(i) for i in request.POST.getlist("shipment") if i.isdigit()]
    transfer_ids = [int(i) for i in request.POST.getlist("transfer") if i.isdigit()]
    if not ship_ids and not transfer_ids:
        messages.error(request, _("Tick the shipments or transfers to add."))
        return _back(trip, request)
    shipments = list(Shipment.objects.filter(pk__in=ship_ids))
    transfers = list(Transfer.objects.filter(pk__in=transfer_ids))
    _run(request, lambda: services.add_documents(trip, shipments=shipments, transfers=transfers, user=request.user),
         _("Documents added: %(n)s.") % {"n": len(shipments) + len(transfers)})
    return _back(trip, request)


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
@require_POST
def trip_fill(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(pk)
    zone = DeliveryZone.objects.filter(pk=request.POST.get("zone") or 0).first() \
        if (request.POST.get("zone") or "").isdigit() else None
    day = _parse_day(request.POST.get("day")) or trip.trip_date
    _run(request, lambda: services.fill_from_zone(trip, zone, day, request.user),
         _("The trip is filled with what waits for delivery."))
    return _back(trip, request)


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
@require_POST
def trip_remove(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(pk)
    shipment = request.POST.get("shipment", "")
    transfer = request.POST.get("transfer", "")
    if shipment.isdigit():
        _run(request, lambda: services.remove_shipment(trip, int(shipment), request.user),
             _("The shipment is taken off the trip."))
    elif transfer.isdigit():
        _run(request, lambda: services.remove_transfer(trip, int(transfer), request.user),
             _("The transfer is taken off the trip."))
    return _back(trip, request)


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
@require_POST
def trip_reorder(request: HttpRequest, pk: int) -> HttpResponse:
    """The new order of stops, from dragging (answers JSON to a script) or the up/down buttons (redirects)."""
    trip = _trip(pk)
    if "move" in request.POST:
        stop, _sep, direction = request.POST["move"].partition(":")
        if stop.isdigit() and direction in ("up", "down"):
            _run(request, lambda: services.move_stop(trip, int(stop), -1 if direction == "up" else 1, request.user),
                 _("The route is changed."))
        return _back(trip, request)
    ids = [int(i) for i in request.POST.getlist("stop") if i.isdigit()]
    try:
        services.reorder_stops(trip, ids, request.user)
    except CoreError as exc:
        return JsonResponse({"ok": False, "message": exc.message}, status=409)
    return JsonResponse({"ok": True})


@requires(Cap.DELIVERY_VIEW, Cap.DELIVERY_PLAN)
@require_POST
def trip_status(request: HttpRequest, pk: int) -> HttpResponse:
    trip = _trip(pk)
    to = request.POST.get("status", "")
    service = services.TRANSITION_SERVICES.get(to)  # type: ignore[call-overload]
    if service is None:
        raise Http404
    _run(request, lambda: service(trip, request.user),
         _("The trip is now %(status)s.") % {"status": TripStatus(to).label})
    return _back(trip, request)


@requires(Cap.DELIVERY_VIEW)
def route_sheet(request: HttpRequest, pk: int) -> HttpResponse:
    from torg.printing.services import render_pdf

    trip = _trip(pk)
    stops = services.stops_of(trip)
    pdf = render_pdf("delivery/route_sheet.html", {
        "trip": trip, "stops": stops, "load": services.load_of(trip),
        "total_amount": sum((d.shipment.amount for s in stops for d in s.documents.all() if d.shipment_id), 0)})
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="route-sheet-{trip.pk}.pdf"'
    return response


for _view in (trip_add, trip_fill, trip_remove, trip_reorder, trip_status):
    _post_only(_view)
