"""`exchange.losses`: what a round trip did not carry, by field path, never by value."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from exchange.losses import Losses, losses


@dataclass(frozen=True)
class Point:
    x: int
    quality: int = 0


@dataclass(frozen=True)
class Shape:
    name: str | None
    points: tuple[Point, ...] = ()
    xml: bytes | None = None  # a cache of the original encoding, not content
    blob: bytes = b""


def test_equal_values_lose_nothing() -> None:
    shape = Shape("a", (Point(1, 2),), b"<a/>")
    assert losses(shape, shape) == Losses()
    assert not losses(shape, shape)


def test_dropped_and_changed_fields_are_named_by_path_once() -> None:
    before = Shape("secret name", (Point(1, 90), Point(2, 80), Point(3, 70)), b"<x/>", b"ext")
    after = Shape(None, (Point(1, 88), Point(2, 77)), None, b"")
    lost = losses(before, after, "record")
    assert lost.dropped == ("record.name", "record.points (some)", "record.blob")
    assert lost.changed == ("record.points[*].quality",)  # one path for every point
    assert lost.line() == (
        "dropped: record.name, record.points (some), record.blob; changed: record.points[*].quality"
    )


def test_what_the_source_did_not_hold_is_not_a_loss() -> None:
    assert not losses(Shape(None), Shape("added", (Point(1),)))


def test_losses_add_without_repeating() -> None:
    one = Losses(("a",), ("b",))
    assert one + Losses(("a", "c"), ()) == Losses(("a", "c"), ("b",))


@given(st.text(min_size=1), st.integers(), st.integers())
def test_no_value_ever_appears_in_the_line(name: str, x: int, quality: int) -> None:
    before = Shape(f"NAME<{name}>", (Point(x, quality),))
    after = Shape(None, (Point(x, quality + 1),))
    line = losses(before, after).line()
    assert f"NAME<{name}>" not in line
    assert line == "dropped: name; changed: points[*].quality"
