"""The "Fiscal" menu section. Registered by FiscalConfig.ready()."""
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from torg.core.permissions import Cap
from torg.web.navigation import Entry, Section, register_section


def register() -> None:
    register_section(Section(pgettext_lazy("menu section", "Fiscal"), (
        Entry(_("Receipts journal"), "fiscal:receipt_list", Cap.FISCAL_VIEW),
        Entry(_("Correction receipt"), "fiscal:correction_new", Cap.FISCAL_OPERATE),
        Entry(_("Cash registers"), "fiscal:register_list", Cap.FISCAL_VIEW),
    )))
