"""Template context shared by every page."""
from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def navigation(request: HttpRequest) -> dict[str, Any]:
    from torg.web.navigation import menu_for

    return {"nav_menu": menu_for(request.user)}
