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
# Entries an app adds to a section another app registers (payments' bank pages under "Payments"), matched by the
# section's title; shown as a section of their own when no section has that title.
EXTENSIONS: list[Section] = []


def register_section(section: Section) -> None:
    MENU.append(section)


def extend_section(section: Section) -> None:
    """Add `section.entries` at the end of the registered section with the same title (whichever app registers
    it, and in whichever order the apps start)."""
    EXTENSIONS.append(section)


def _sections() -> list[Section]:
    extra: dict[str, list[Entry]] = {}
    for ext in EXTENSIONS:
        extra.setdefault(str(ext.title), []).extend(ext.entries)
    result = []
    for section in MENU:
        more = extra.pop(str(section.title), [])
        result.append(Section(section.title, (*section.entries, *more)) if more else section)
    result += [Section(ext.title, tuple(extra.pop(str(ext.title))))
               for ext in EXTENSIONS if str(ext.title) in extra]
    return result


def menu_for(user: Any) -> list[dict[str, Any]]:
    caps = capabilities(user)
    result = []
    for section in _sections():
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
