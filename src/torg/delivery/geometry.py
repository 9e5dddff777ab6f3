"""Pure geometry of delivery planning: which zone a point is in, and the trip and the zones drawn as small maps.

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


@dataclass(frozen=True)
class Frame:
    """A width × height picture of an area, north up: latitude and longitude to x and y and back (the zone page
    draws with it, and its script turns a click into a point the same way)."""

    width: int
    height: int
    min_lat: float
    min_lon: float
    scale: float  # pixels per degree, the same both ways
    off_x: float
    off_y: float

    def xy(self, lat: Number, lon: Number) -> tuple[float, float]:
        return (round(self.off_x + (float(lon) - self.min_lon) * self.scale, 1),
                round(self.height - self.off_y - (float(lat) - self.min_lat) * self.scale, 1))

    def lat_lon(self, x: float, y: float) -> tuple[float, float]:
        return (self.min_lat + (self.height - self.off_y - y) / self.scale,
                self.min_lon + (x - self.off_x) / self.scale)


def frame_of(points: Iterable[tuple[Number, Number]], width: int = 600, height: int = 360, margin: int = 24
             ) -> Frame | None:
    """The frame that shows all the points with a margin around them; None without points."""
    known = [(float(lat), float(lon)) for lat, lon in points]
    if not known:
        return None
    lats = [p[0] for p in known]
    lons = [p[1] for p in known]
    span_lat = max(lats) - min(lats) or 0.01
    span_lon = max(lons) - min(lons) or 0.01
    scale = min((width - 2 * margin) / span_lon, (height - 2 * margin) / span_lat)
    return Frame(width, height, min(lats), min(lons), scale, (width - span_lon * scale) / 2,
                 (height - span_lat * scale) / 2)


def route_map(points: Sequence[tuple[Number | None, Number | None, str]], width: int = 600, height: int = 360,
              margin: int = 24) -> list[MapPoint]:
    """Stops with coordinates placed on a width × height picture (north up), numbered in route order.

    Stops without coordinates keep their number but are not drawn."""
    known = [(n, lat, lon, label) for n, (lat, lon, label) in enumerate(points, start=1)
             if lat is not None and lon is not None]
    frame = frame_of(((lat, lon) for _n, lat, lon, _label in known), width, height, margin)
    if frame is None:
        return []
    return [MapPoint(n, *frame.xy(lat, lon), label) for n, lat, lon, label in known]
