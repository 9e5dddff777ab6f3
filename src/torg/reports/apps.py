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
        )))
