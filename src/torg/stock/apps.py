from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class StockConfig(AppConfig):
    name = "torg.stock"
    label = "stock"
    verbose_name = _("Stock")

    def ready(self) -> None:
        from torg.stock import costing  # noqa: F401 — registers the cost recalculation job
