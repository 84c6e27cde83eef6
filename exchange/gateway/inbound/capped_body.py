"""Reading an HTTP request body whole, with a size cap (the partner API's inbound messages).

`StreamReader.read(n)` returns whatever has arrived so far, not the whole body, so a body
sent in pieces (a slow link, a large message) must be read chunk by chunk until its end.
"""

from __future__ import annotations

from aiohttp import StreamReader


class BodyTooLarge(Exception):
    """The body grew past the cap; nothing more is read."""


async def read_capped(stream: StreamReader, limit: int) -> bytes:
    data = bytearray()
    async for chunk in stream.iter_any():
        data += chunk
        if len(data) > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
    return bytes(data)
