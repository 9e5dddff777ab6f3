from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogsConfig(AppConfig):
    name = "torg.catalogs"
    label = "catalogs"
    verbose_name = _("Catalogs")

    def ready(self) -> None:
        from torg.core.permissions import Cap
        from torg.web.navigation import Entry, Section, register_section

        view = Cap.CATALOGS_VIEW
        register_section(Section(_("Catalogs"), (
            Entry(_("Partners"), "catalogs:partners_list", view),
            Entry(_("Counterparties"), "catalogs:counterparties_list", view),
            Entry(_("Contacts"), "catalogs:contacts_list", view),
            Entry(_("Delivery addresses"), "catalogs:addresses_list", view),
            Entry(_("Items"), "catalogs:items_list", view),
            Entry(_("Item groups"), "catalogs:item_groups_list", view),
            Entry(_("Units"), "catalogs:units_list", view),
            Entry(_("Item prices"), "catalogs:prices_list", view),
            Entry(_("Price types"), "catalogs:price_types_list", view),
            Entry(_("Organizations"), "catalogs:organizations_list", view),
            Entry(_("Warehouses"), "catalogs:warehouses_list", view),
            Entry(_("Cash desks"), "catalogs:cash_desks_list", view),
            Entry(_("Bank accounts of our organizations"), "catalogs:organization_accounts_list", view),
            Entry(_("Bank accounts of counterparties"), "catalogs:counterparty_accounts_list", view),
        )))
