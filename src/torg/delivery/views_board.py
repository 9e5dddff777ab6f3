"""The live board at /delivery/board/: the page in the desktop shell, and its fragment that the page fetches every
few seconds (htmx polling) so it follows the couriers without a reload."""
from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from torg.core.permissions import Cap, has_capability
from torg.delivery.board import board
from torg.web.access import requires

POLL_SECONDS = 5


def _day(request: HttpRequest) -> dt.date:
    """The day asked for (?day=YYYY-MM-DD), today when absent or not a date."""
    try:
        return dt.date.fromisoformat(request.GET.get("day", ""))
    except ValueError:
        return timezone.localdate()


def _context(request: HttpRequest) -> dict[str, Any]:
    day = _day(request)
    return {
        "board": board(day), "day": day.isoformat(), "is_today": day == timezone.localdate(),
        "live_url": reverse("delivery:board_live") + "?" + urlencode({"day": day.isoformat()}),
        "poll_seconds": POLL_SECONDS,
        "can_see_receipts": has_capability(request.user, Cap.FISCAL_VIEW),
        "can_see_trips": has_capability(request.user, Cap.DELIVERY_VIEW),
    }


@requires(Cap.DELIVERY_BOARD)
def board_page(request: HttpRequest) -> HttpResponse:
    return render(request, "delivery/board.html", _context(request))


@requires(Cap.DELIVERY_BOARD)
def board_live(request: HttpRequest) -> HttpResponse:
    return render(request, "delivery/board_live.html", _context(request))
