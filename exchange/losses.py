"""What a conversion did not carry: the fields of a value that did not survive a round trip.

`translate` decodes the source, encodes the target, and decodes what it wrote. Comparing the
value it started from with the value that came back names every field the target format could
not carry, whatever the formats: a field that came back empty was *dropped*, one that came back
different was *changed* (rounded, replaced by a pseudonym, re-coded). Paths are dataclass field
names joined by dots, with `[*]` for the elements of a sequence, so a list of 600 minutiae
gives one path, never 600. No value appears in a path: these lines go to stderr and logs, and
the values are biometric or personal data.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

__all__ = ["Losses", "losses"]

# Caches of a value's original encoding (e.g. an INT-I record's XML), not content of its own.
_IGNORED_FIELDS = frozenset({"xml"})


@dataclass(frozen=True, slots=True)
class Losses:
    dropped: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.dropped or self.changed)

    def __add__(self, other: Losses) -> Losses:
        """Both, each path once; a path dropped by either is not also named changed."""
        dropped = _unique((*self.dropped, *other.dropped))
        changed = _unique(p for p in (*self.changed, *other.changed) if p not in dropped)
        return Losses(dropped, changed)

    def line(self) -> str:
        """One line: `dropped: a, b; changed: c` (empty when nothing was lost)."""
        parts = []
        if self.dropped:
            parts.append("dropped: " + ", ".join(self.dropped))
        if self.changed:
            parts.append("changed: " + ", ".join(self.changed))
        return "; ".join(parts)


def losses(before: object, after: object, root: str = "") -> Losses:
    """The fields of `before` that `after` does not hold (dataclasses compared field by field)."""
    dropped: list[str] = []
    changed: list[str] = []
    _walk(before, after, root, dropped, changed)
    return Losses(_unique(dropped), _unique(changed))


def _empty(value: object) -> bool:
    if value is None or value == "" or value == b"":
        return True
    if isinstance(value, (tuple, list, Mapping, frozenset, set)):
        return len(value) == 0
    if isinstance(value, enum.Enum):
        return str(value.value) in ("", "unknown", "U")
    return False


def _join(root: str, name: str) -> str:
    return f"{root}.{name}" if root else name


def _walk(before: object, after: object, path: str, dropped: list[str], changed: list[str]) -> None:
    if before == after or _empty(before):
        return
    if _empty(after):
        dropped.append(path or "(all)")
        return
    if (
        dataclasses.is_dataclass(before)
        and not isinstance(before, type)
        and type(before) is type(after)
    ):
        for f in dataclasses.fields(before):
            if f.name not in _IGNORED_FIELDS:
                _walk(
                    getattr(before, f.name),
                    getattr(after, f.name),
                    _join(path, f.name),
                    dropped,
                    changed,
                )
        return
    if isinstance(before, (tuple, list)) and isinstance(after, (tuple, list)):
        if len(after) < len(before):
            dropped.append(f"{path} (some)")
        for b, a in zip(before, after, strict=False):
            _walk(b, a, f"{path}[*]", dropped, changed)
        return
    changed.append(path or "(all)")


def _unique(paths: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(paths))
