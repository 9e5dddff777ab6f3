"""The bank-statement and couriers' cash entries of the "Payments" menu section (the section itself is registered
by sales). Registered by PaymentsConfig.ready()."""
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.core.permissions import Cap
from torg.web.navigation import Entry, Section, extend_section


def register() -> None:
    extend_section(Section(pgettext_lazy("menu section", "Payments"), (
        Entry(_("Bank statements"), "payments:bank_statements", Cap.BANK_STATEMENTS),
        Entry(_("Bank lines to match"), "payments:bank_lines_to_match", Cap.BANK_STATEMENTS),
        Entry(_("Export payment orders"), "payments:bank_export", Cap.BANK_STATEMENTS),
        Entry(_("Couriers' cash"), "payments:couriers_cash", Cap.CASH_HANDOVER),
        Entry(_("Cash handovers"), "payments:cash_handover_list", Cap.CASH_HANDOVER),
    )))
