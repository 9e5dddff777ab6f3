from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FiscalConfig(AppConfig):
    name = "torg.fiscal"
    label = "fiscal"
    verbose_name = _("Fiscal receipts")

    def ready(self) -> None:
        from torg.catalogs.demo import DEMO_EXTENSIONS
        from torg.core import events
        from torg.fiscal import menu, queue, services  # noqa: F401 — registers the queue's jobs
        from torg.fiscal.demo import add_registers

        menu.register()
        if add_registers not in DEMO_EXTENSIONS:
            DEMO_EXTENSIONS.insert(0, add_registers)  # before the sales history, whose cash needs receipts

        events.subscribe("payment_registered", services.on_payment_registered)
        events.subscribe("payment_unposted", services.on_payment_unposted)
        events.subscribe("refund_registered", services.on_refund_registered)
        events.subscribe("shipment_posted", services.on_shipment_posted)
