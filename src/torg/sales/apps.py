from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class SalesConfig(AppConfig):
    name = "torg.sales"
    label = "sales"
    verbose_name = _("Sales")

    def ready(self) -> None:
        from torg.catalogs.demo import DEMO_EXTENSIONS
        from torg.sales import arrivals, menu, menu_shipping
        from torg.sales.demo import add_sales

        arrivals.connect()
        menu.register()
        menu_shipping.register()
        if add_sales not in DEMO_EXTENSIONS:
            DEMO_EXTENSIONS.append(add_sales)
