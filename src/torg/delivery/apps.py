from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "torg.delivery"
    label = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        from torg.catalogs.demo import DEMO_EXTENSIONS
        from torg.delivery import menu
        from torg.delivery.demo import add_delivery

        menu.register()
        if add_delivery not in DEMO_EXTENSIONS:
            DEMO_EXTENSIONS.append(add_delivery)  # after the sales history: today's trip ships its orders
