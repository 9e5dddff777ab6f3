"""The main menu: sections and entries, each shown only to users with its capability."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise

from torg.core.permissions import capabilities


@dataclass(frozen=True)
class Entry:
    title: str | Promise
    url_name: str
    capability: str
    kwargs: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class Section:
    title: str | Promise
    entries: tuple[Entry, ...]


MENU: list[Section] = []


def register_section(section: Section) -> None:
    MENU.append(section)


def menu_for(user: Any) -> list[dict[str, Any]]:
    caps = capabilities(user)
    result = []
    for section in MENU:
        entries = []
        for e in section.entries:
            if e.capability not in caps:
                continue
            try:
                url = reverse(e.url_name, kwargs=dict(e.kwargs))
            except NoReverseMatch:
                continue
            entries.append({"title": e.title, "url": url})
        if entries:
            result.append({"title": section.title, "entries": entries})
    return result
