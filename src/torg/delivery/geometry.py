"""Pure geometry of delivery planning: which zone a point is in, and the trip drawn as a small map.

Points are (latitude, longitude) pairs; at the scale of a city the plane approximation is good enough."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

Number = float | Decimal | int


def contains(polygon: Sequence[Sequence[Number]], lat: Number, lon: Number) -> bool:
    """Whether the point lies inside the polygon (a list of [lat, lon] vertices; closing it is optional).

    Ray casting; a point exactly on an edge counts as inside, so a boundary address belongs to a zone."""
    points = [(float(p[0]), float(p[1])) for p in polygon if len(p) >= 2]
    if len(points) < 3:
        return False
    y, x = float(lat), float(lon)
    inside = False
    n = len(points)
    for i in range(n):
        y1, x1 = points[i]
        y2, x2 = points[(i + 1) % n]
        if _on_segment(y, x, y1, x1, y2, x2):
            return True
        if (y1 > y) != (y2 > y):
            cross_x = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < cross_x:
                inside = not inside
    return inside


def _on_segment(y: float, x: float, y1: float, x1: float, y2: float, x2: float) -> bool:
    cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)
    if abs(cross) > 1e-12:
        return False
    return min(x1, x2) - 1e-12 <= x <= max(x1, x2) + 1e-12 and min(y1, y2) - 1e-12 <= y <= max(y1, y2) + 1e-12


def zone_of(lat: Number | None, lon: Number | None, zones: Iterable[Any]) -> Any:
    """The first zone (anything with a `polygon`) whose polygon contains the point; None without coordinates."""
    if lat is None or lon is None:
        return None
    for zone in zones:
        if zone.polygon and contains(zone.polygon, lat, lon):
            return zone
    return None


@dataclass(frozen=True)
class MapPoint:
    number: int
    x: float
    y: float
    label: str


def route_map(points: Sequence[tuple[Number | None, Number | None, str]], width: int = 600, height: int = 360,
              margin: int = 24) -> list[MapPoint]:
    """Stops with coordinates placed on a width × height picture (north up), numbered in route order.

    Stops without coordinates keep their number but are not drawn."""
    known = [(n, float(lat), float(lon), label) for n, (lat, lon, label) in enumerate(points, start=1)
             if lat is not None and lon is not None]
    if not known:
        return []
    lats = [p[1] for p in known]
    lons = [p[2] for p in known]
    span_lat = max(lats) - min(lats) or 0.01
    span_lon = max(lons) - min(lons) or 0.01
    scale = min((width - 2 * margin) / span_lon, (height - 2 * margin) / span_lat)
    off_x = (width - span_lon * scale) / 2
    off_y = (height - span_lat * scale) / 2
    min_lat, min_lon = min(lats), min(lons)
    return [MapPoint(n, round(off_x + (lon - min_lon) * scale, 1), round(height - off_y - (lat - min_lat) * scale, 1),
                     label) for n, lat, lon, label in known]
