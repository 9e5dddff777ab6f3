"""Administration use cases: users and their roles, API tokens, system settings."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.contrib.auth.models import Group, User
from django.db import transaction
from django.utils.translation import gettext as _

from torg.core.errors import CoreError, ErrorCode
from torg.core.models import ApiToken, SystemSettings
from torg.core.permissions import Role


def save_user(user: User, roles: Iterable[str], password: str = "") -> User:
    """Create or change a user with exactly the given roles; set the password when one is given.

    Refuses unknown role names (`INVALID`)."""
    roles = list(roles)
    unknown = sorted(set(roles) - set(Role.values))
    if unknown:
        raise CoreError(ErrorCode.INVALID, _("Unknown roles: %(roles)s. Choose from the listed roles.")
                        % {"roles": ", ".join(unknown)}, {"roles": [", ".join(unknown)]})
    with transaction.atomic():
        if password:
            user.set_password(password)
        elif user.pk is None:
            user.set_unusable_password()
        user.save()
        groups = [Group.objects.get_or_create(name=r)[0] for r in roles]
        user.groups.set(groups)
    if hasattr(user, "_torg_roles"):
        del user._torg_roles
    return user


def issue_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new API token for the user and its key, to be shown once on the page (only its hash is kept)."""
    return ApiToken.issue(user, name)


def revoke_token(token: ApiToken) -> None:
    """The token stops working at once."""
    token.delete()


def set_period_lock_date(day: dt.date | None, company_name: str | None = None, user: Any = None) -> SystemSettings:
    """Move the period lock date (None: nothing is locked)."""
    with transaction.atomic():
        settings = SystemSettings.get()
        settings.period_lock_date = day
        if company_name is not None:
            settings.company_name = company_name
        settings.save()
    return settings
