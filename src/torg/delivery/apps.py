from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DeliveryConfig(AppConfig):
    name = "torg.delivery"
    label = "delivery"
    verbose_name = _("Delivery")

    def ready(self) -> None:
        from torg.delivery import menu

        menu.register()
