"""The matchers' exception hierarchy (STYLE.md §6: one small typed hierarchy per package).

Handlers in the gateway turn these into 4xx answers in one place; the message always says why.
"""

from __future__ import annotations


class MatcherError(Exception):
    """Base class of every error raised by `matchers`."""


class ProfileError(MatcherError):
    """A DNA profile that may not be stored or searched under the Prüm rules.

    `locus` names the offending locus when the reason is tied to one, else it is None.
    """

    def __init__(self, reason: str, locus: str | None = None) -> None:
        self.reason = reason
        self.locus = locus
        super().__init__(f"{locus}: {reason}" if locus else reason)


class TemplateError(MatcherError):
    """A face template or minutiae array of the wrong shape, type or content."""


class UnknownReferenceError(MatcherError):
    """A reference that the gallery does not hold (remove, update)."""


class StaleIndexError(MatcherError):
    """An index file whose version stamp differs from the source of truth: rebuild it."""

    def __init__(self, path: str, stored: str, expected: str) -> None:
        self.path = path
        self.stored = stored
        self.expected = expected
        super().__init__(
            f"{path}: index version {stored!r} is stale, source of truth is {expected!r}"
        )
