"""The codecs' typed errors: each names where in the input it went wrong and why (STYLE.md §6)."""

from __future__ import annotations


class CodecError(ValueError):
    """Input that cannot be decoded, or a model that cannot be encoded.

    `field` is a path into the input (`record.dna.loci.vWA[1]`, `/Envelope/Header/Sender`,
    `Type-9[3].9.012`); `offset` is a byte offset where the format has one.
    """

    def __init__(self, field: str, reason: str, *, offset: int | None = None) -> None:
        self.field = field
        self.reason = reason
        self.offset = offset
        where = f"{field} (byte {offset})" if offset is not None else field
        super().__init__(f"{where}: {reason}")


class HostileInputError(CodecError):
    """Input refused before parsing: DTDs, entities, oversize bodies, runaway nesting."""


class OversizeInputError(HostileInputError):
    """Input refused for its size alone (a gateway answers it 413, not 400)."""


class NumberTooLongError(CodecError):
    """A JSON integer of more digits than Python converts; `field` is where it stood."""
