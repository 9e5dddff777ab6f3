from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    name = "torg.web"
    label = "web"
    verbose_name = _("Web")

    def ready(self) -> None:
        from torg.core.permissions import Cap
        from torg.web.navigation import Entry, Section, register_section

        register_section(Section(_("Administration"), (
            Entry(_("Users and roles"), "user_list", Cap.USERS_MANAGE),
            Entry(_("Settings"), "settings", Cap.SETTINGS_MANAGE),
        )))
