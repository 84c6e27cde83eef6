"""Sans-IO codecs between wire formats and `exchange.model` (STYLE.md §1).

Each module turns bytes into model objects and model objects into bytes, with no sockets,
files, clocks or globals; every failure is a `CodecError` naming the field and the reason.
"""

from exchange.codecs.errors import CodecError, HostileInputError, OversizeInputError

__all__ = ["CodecError", "HostileInputError", "OversizeInputError"]
