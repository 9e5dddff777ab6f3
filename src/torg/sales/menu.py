"""The "Sales" menu section (orders, quotes, approvals, deviations, agreements, schedules).
Registered by SalesConfig.ready()."""
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.core.permissions import Cap
from torg.web.navigation import Entry, Section, register_section


def register() -> None:
    register_section(Section(pgettext_lazy("menu section", "Sales"), (
        Entry(_("Sales orders"), "sales:orders_list", Cap.SALES_VIEW),
        Entry(_("Quotes"), "sales:quotes_list", Cap.SALES_VIEW),
        Entry(_("Approvals"), "sales:approvals", Cap.SALES_APPROVE),
        Entry(_("Deviations from agreements"), "sales:deviations", Cap.REPORTS_SALES),
        Entry(_("Trade agreements"), "sales:agreements_list", Cap.SALES_VIEW),
        Entry(_("Payment schedules"), "sales:schedules_list", Cap.SALES_VIEW),
    )))
