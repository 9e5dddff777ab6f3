"""Delivery planning: zones, carriers, vehicles, and the trip (задание на перевозку) with its stops.

The trip posts nothing: it is a plan of which shipments (to clients) and transfers (to our own warehouses and
stores) a vehicle takes where, in which order."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from torg.catalogs.models import Catalog, DeliveryAddress, Organization, Partner, Warehouse
from torg.core.documents import Document
from torg.sales.models import Shipment
from torg.stock.models import Transfer

TRIP_NUMBER_PREFIX = "РЛ"


class DeliveryZone(Catalog):
    """An area deliveries are planned by: a polygon on the map and/or a list of districts."""

    name = models.CharField(_("name"), max_length=200)
    districts = models.TextField(_("districts"), blank=True, help_text=_("One district per line."))
    polygon = models.JSONField(_("polygon"), default=list, blank=True,
                               help_text=_("A list of [latitude, longitude] points, e.g. [[55.7, 37.5], [55.8, 37.6], "
                                           "[55.7, 37.7]]."))
    comment = models.CharField(_("comment"), max_length=300, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("delivery zone")
        verbose_name_plural = _("delivery zones")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        polygon = self.polygon or []
        if not isinstance(polygon, list) or any(
                not isinstance(p, list | tuple) or len(p) != 2
                or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in p) for p in polygon):
            raise ValidationError(
                {"polygon": _("Give the polygon as a list of [latitude, longitude] pairs of numbers.")})
        if polygon and len(polygon) < 3:
            raise ValidationError({"polygon": _("A polygon needs at least 3 points; this one has %(n)s.")
                                   % {"n": len(polygon)}})


class Carrier(Catalog):
    """A transport company that delivers for us (перевозчик)."""

    name = models.CharField(_("name"), max_length=200)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("partner"))
    comment = models.TextField(_("comment"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("carrier")
        verbose_name_plural = _("carriers")

    def __str__(self) -> str:
        return self.name


class Vehicle(Catalog):
    """A vehicle (транспортное средство): its capacity, whose it is, who usually drives it."""

    name = models.CharField(_("name"), max_length=200)
    plate = models.CharField(_("registration plate"), max_length=20, blank=True)
    capacity_kg = models.DecimalField(_("capacity, kg"), max_digits=12, decimal_places=3, default=Decimal(0),
                                      help_text=_("0: not limited."))
    capacity_m3 = models.DecimalField(_("capacity, m³"), max_digits=12, decimal_places=3, default=Decimal(0),
                                      help_text=_("0: not limited."))
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="vehicles",
                                verbose_name=_("carrier"), help_text=_("Empty: our own vehicle."))
    default_courier = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+", verbose_name=_("default courier"))
    # Goods refused at the door or not delivered ride back in the vehicle: stock on this warehouse until unloaded.
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("vehicle's stock"), editable=False)

    class Meta:
        ordering = ["name"]
        verbose_name = _("vehicle")
        verbose_name_plural = _("vehicles")

    def __str__(self) -> str:
        return f"{self.name} {self.plate}".strip()

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        errors = {}
        if self.capacity_kg is not None and self.capacity_kg < 0:
            errors["capacity_kg"] = _("Capacity cannot be negative.")
        if self.capacity_m3 is not None and self.capacity_m3 < 0:
            errors["capacity_m3"] = _("Capacity cannot be negative.")
        if errors:
            raise ValidationError(errors)


class TripStatus(models.TextChoices):
    FORMING = "forming", _("forming")  # stops and shipments are being planned
    LOADING = "loading", _("loading")  # the plan is fixed, the vehicle is being loaded
    ON_ROUTE = "on_route", _("on route")  # the vehicle has left the warehouse
    DONE = "done", _("done")  # the trip is over; its shipments may go on another trip


# from → the statuses a trip may move to
TRIP_TRANSITIONS: dict[str, frozenset[str]] = {
    TripStatus.FORMING: frozenset({TripStatus.LOADING}),
    TripStatus.LOADING: frozenset({TripStatus.FORMING, TripStatus.ON_ROUTE}),
    TripStatus.ON_ROUTE: frozenset({TripStatus.DONE}),
    TripStatus.DONE: frozenset(),
}


class DeliveryTrip(Document):
    """One vehicle's trip on a day (задание на перевозку): its stops in order, the shipments, the courier."""

    trip_date = models.DateField(_("trip date"))
    vehicle = models.ForeignKey(Vehicle, on_delete=models.PROTECT, related_name="trips", verbose_name=_("vehicle"))
    courier = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="delivery_trips", verbose_name=_("courier"))
    carrier = models.ForeignKey(Carrier, null=True, blank=True, on_delete=models.PROTECT, related_name="trips",
                                verbose_name=_("carrier"))
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("loading warehouse"))
    status = models.CharField(_("status"), max_length=16, choices=TripStatus.choices, default=TripStatus.FORMING)

    class Meta(Document.Meta):
        verbose_name = _("delivery trip")
        verbose_name_plural = _("delivery trips")
        indexes = [models.Index(fields=["trip_date", "status"])]

    def number_prefix(self) -> str:
        # A trip may carry shipments of several organizations: it is numbered on its own, not per organization.
        return TRIP_NUMBER_PREFIX

    def can_move_to(self, status: str) -> bool:
        return status in TRIP_TRANSITIONS.get(self.status, frozenset())

    @property
    def is_editable(self) -> bool:
        """Stops and shipments change only while the trip is being formed."""
        return self.status == TripStatus.FORMING


class StopStatus(models.TextChoices):
    PENDING = "pending", _("pending")  # not visited yet
    DONE = "done", _("done")  # delivered
    FAILED = "failed", _("not delivered")  # see the reason


class TripStop(models.Model):
    """A place the trip calls at: a client's door (one per client and delivery address) or one of our warehouses."""

    trip = models.ForeignKey(DeliveryTrip, on_delete=models.CASCADE, related_name="stops")
    sequence = models.PositiveIntegerField(_("No."), default=0)
    delivery_address = models.ForeignKey(DeliveryAddress, null=True, blank=True, on_delete=models.PROTECT,
                                         related_name="+", verbose_name=_("delivery address"))
    # A stop is a client's door (their shipments) or one of our warehouses or stores (the transfers to it).
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                verbose_name=_("client"))
    warehouse = models.ForeignKey(Warehouse, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                  verbose_name=_("receiving warehouse"))
    # Copied when the stop is made: the route sheet shows the address as planned, whatever happens to the catalog.
    address = models.CharField(_("address"), max_length=500, blank=True)
    latitude = models.DecimalField(_("latitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    longitude = models.DecimalField(_("longitude"), max_digits=9, decimal_places=6, null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=StopStatus.choices, default=StopStatus.PENDING)
    failure_reason = models.CharField(_("failure reason"), max_length=300, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)
    # For the courier's workplace: the idempotency key of the confirmation and what it registered.
    confirmation_key = models.CharField(max_length=64, null=True, blank=True, unique=True)
    result = models.JSONField(default=dict, blank=True)
    confirmed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+", verbose_name=_("confirmed by"))

    class Meta:
        ordering = ["trip", "sequence", "id"]
        verbose_name = _("trip stop")
        verbose_name_plural = _("trip stops")
        indexes = [models.Index(fields=["trip", "sequence"])]
        constraints = [models.CheckConstraint(
            condition=(Q(partner__isnull=False, warehouse__isnull=True)
                       | Q(partner__isnull=True, warehouse__isnull=False)),
            name="delivery_stop_client_or_warehouse")]

    def __str__(self) -> str:
        return f"{self.sequence}. {self.address}"

    @property
    def is_transfer(self) -> bool:
        """The stop delivers transfers to one of our warehouses: no client, no money."""
        return self.warehouse_id is not None

    @property
    def recipient(self) -> Any:
        """Who takes the goods: the client, or our receiving warehouse."""
        return self.partner if self.partner_id else self.warehouse


class TripStopDocument(models.Model):
    """A shipment (or a transfer) delivered at a stop, with its weight and volume as planned."""

    stop = models.ForeignKey(TripStop, on_delete=models.CASCADE, related_name="documents")
    shipment = models.ForeignKey(Shipment, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("shipment"))
    transfer = models.ForeignKey(Transfer, null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                 verbose_name=_("transfer"))
    organization = models.ForeignKey(Organization, on_delete=models.PROTECT, related_name="+",
                                     verbose_name=_("organization"))
    weight_kg = models.DecimalField(_("weight, kg"), max_digits=12, decimal_places=3, default=Decimal(0))
    volume_m3 = models.DecimalField(_("volume, m³"), max_digits=12, decimal_places=6, default=Decimal(0))

    class Meta:
        ordering = ["stop", "id"]
        verbose_name = _("document of a stop")
        verbose_name_plural = _("documents of a stop")
        indexes = [models.Index(fields=["shipment"]), models.Index(fields=["transfer"])]
        constraints = [models.CheckConstraint(
            condition=(Q(shipment__isnull=False, transfer__isnull=True)
                       | Q(shipment__isnull=True, transfer__isnull=False)),
            name="delivery_stop_document_shipment_or_transfer")]

    @property
    def document(self) -> Any:
        """The shipment or the transfer delivered."""
        return self.shipment if self.shipment_id else self.transfer
