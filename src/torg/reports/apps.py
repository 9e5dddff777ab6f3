from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "torg.reports"
    label = "reports"
    verbose_name = _("Reports")

    def ready(self) -> None:
        from torg.core.permissions import Cap
        from torg.web.navigation import Entry, Section, register_section

        register_section(Section(_("Reports"), (
            Entry(_("Stock report"), "reports:stock", Cap.REPORTS_STOCK),
            Entry(_("Sales report"), "reports:sales", Cap.REPORTS_SALES),
            Entry(_("Receivables"), "reports:receivables", Cap.REPORTS_SETTLEMENTS),
            Entry(_("Client settlement card"), "reports:settlement_card", Cap.REPORTS_SETTLEMENTS),
            Entry(_("Reconciliation statement"), "reports:reconciliation", Cap.REPORTS_SETTLEMENTS),
            Entry(_("Payment discipline"), "reports:payment_discipline", Cap.REPORTS_SETTLEMENTS),
        )))
