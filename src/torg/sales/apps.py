from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "torg.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from torg.sales import menu, menu_shipping

        menu.register()
        menu_shipping.register()
