"""The "Shipping" and "Payments" menu sections (backlog, shipments, goods issue, payments, refunds).
Registered by SalesConfig.ready()."""
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.core.permissions import Cap
from torg.web.navigation import Entry, Section, register_section


def register() -> None:
    register_section(Section(pgettext_lazy("menu section", "Shipping"), (
        Entry(_("Shipping backlog"), "shipping:backlog", Cap.SALES_VIEW),
        Entry(_("Shipments"), "shipping:shipments_list", Cap.SALES_VIEW),
        Entry(_("Goods issue"), "shipping:goods_issue_desk", Cap.GOODS_ISSUE),
        Entry(_("Goods issues"), "shipping:goods_issues_list", Cap.STOCK_VIEW),
    )))
    register_section(Section(pgettext_lazy("menu section", "Payments"), (
        Entry(_("Incoming payments"), "payments:payment_list", Cap.PAYMENTS_VIEW),
        Entry(_("Refunds"), "payments:refund_list", Cap.PAYMENTS_VIEW),
    )))
