"""The "Delivery" menu section. Registered by DeliveryConfig.ready()."""
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.core.permissions import Cap
from torg.web.navigation import Entry, Section, register_section


def register() -> None:
    register_section(Section(pgettext_lazy("menu section", "Delivery"), (
        Entry(_("Trips"), "delivery:trip_list", Cap.DELIVERY_VIEW),
        Entry(_("New trip"), "delivery:trip_new", Cap.DELIVERY_PLAN),
        Entry(_("Live board"), "delivery:board", Cap.DELIVERY_BOARD),
        Entry(_("Delivery zones"), "delivery:zone_list", Cap.DELIVERY_VIEW),
        Entry(_("Vehicles"), "delivery:vehicle_list", Cap.DELIVERY_VIEW),
        Entry(_("Carriers"), "delivery:carrier_list", Cap.DELIVERY_VIEW),
        Entry(_("My trips"), "courier:trips", Cap.DELIVERY_COURIER),
    )))
