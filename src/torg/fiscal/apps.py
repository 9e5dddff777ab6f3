from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FiscalConfig(AppConfig):
    name = "torg.fiscal"
    label = "fiscal"
    verbose_name = _("Fiscal receipts")

    def ready(self) -> None:
        from torg.core import events
        from torg.fiscal import menu, queue, services  # noqa: F401 — registers the queue's jobs

        menu.register()

        events.subscribe("payment_registered", services.on_payment_registered)
        events.subscribe("payment_unposted", services.on_payment_unposted)
        events.subscribe("refund_registered", services.on_refund_registered)
        events.subscribe("shipment_posted", services.on_shipment_posted)
