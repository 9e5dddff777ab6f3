from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class StockConfig(AppConfig):
    name = "torg.stock"
    label = "stock"
    verbose_name = _("Stock")

    def ready(self) -> None:
        from torg.core.permissions import Cap
        from torg.stock import costing  # noqa: F401 — registers the cost recalculation job
        from torg.web.navigation import Entry, Section, register_section

        view = Cap.STOCK_VIEW
        register_section(Section(pgettext_lazy("menu section", "Stock"), (
            Entry(_("Purchases"), "stock:purchases_list", view),
            Entry(_("Transfers"), "stock:transfers_list", view),
            Entry(_("Stock counts"), "stock:stock_counts_list", view),
            Entry(_("Write-offs"), "stock:write_offs_list", view),
            Entry(_("Surpluses"), "stock:surpluses_list", view),
            Entry(_("Opening balances"), "stock:opening_balances_list", view),
        )))
