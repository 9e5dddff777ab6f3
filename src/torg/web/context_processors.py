"""Template context shared by every page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from torg.core.permissions import Role, user_roles
    from torg.web.navigation import menu_for

    user = getattr(request, "user", None)
    roles = user_roles(user) if user is not None else set()
    labels = [str(label) for value, label in Role.choices if value in roles]
    if getattr(user, "is_superuser", False) and not labels:
        labels = [str(Role.ADMINISTRATOR.label)]
    return {"nav_menu": menu_for(user), "user_role_labels": labels}
