"""Point in polygon, the zone of a point, and the trip drawn on the small map."""
from decimal import Decimal
from types import SimpleNamespace

from torg.delivery.geometry import contains, route_map, zone_of

SQUARE = [[0, 0], [0, 10], [10, 10], [10, 0]]
# A "U": the notch between its arms (x 4..6, y 3..10) is outside.
U_SHAPE = [[0, 0], [10, 0], [10, 10], [6, 10], [6, 3], [4, 3], [4, 10], [0, 10]]


def test_inside_outside_and_on_the_edge() -> None:
    assert contains(SQUARE, 5, 5)
    assert not contains(SQUARE, 11, 5)
    assert not contains(SQUARE, -0.1, 5)
    assert contains(SQUARE, 0, 5)  # on an edge: inside
    assert contains(SQUARE, 10, 10)  # a vertex
    assert contains(SQUARE, Decimal("9.999999"), Decimal("0.000001"))


def test_concave_polygon() -> None:
    assert contains(U_SHAPE, 5, 1)  # the bottom of the U
    assert not contains(U_SHAPE, 5, 6)  # the notch
    assert contains(U_SHAPE, 2, 8)  # the left arm
    assert contains(U_SHAPE, 8, 8)  # the right arm


def test_degenerate_polygons_contain_nothing() -> None:
    assert not contains([], 0, 0)
    assert not contains([[0, 0], [1, 1]], 0, 0)


def test_zone_of_takes_the_first_zone_that_contains_the_point() -> None:
    a = SimpleNamespace(name="A", polygon=SQUARE)
    b = SimpleNamespace(name="B", polygon=[[20, 20], [20, 30], [30, 30], [30, 20]])
    empty = SimpleNamespace(name="districts only", polygon=[])
    assert zone_of(25, 25, [empty, a, b]) is b
    assert zone_of(5, 5, [empty, a, b]) is a
    assert zone_of(50, 50, [a, b]) is None
    assert zone_of(None, 5, [a, b]) is None


def test_route_map_places_stops_north_up_and_skips_unknown_places() -> None:
    points = route_map([(55.0, 37.0, "a"), (None, None, "b"), (56.0, 38.0, "c")], width=100, height=100, margin=10)
    assert [p.number for p in points] == [1, 3]
    first, last = points
    assert first.x < last.x and first.y > last.y  # the second is north-east: right and up
    assert all(10 <= p.x <= 90 and 10 <= p.y <= 90 for p in points)
