"""Image seeds and mutations for `bench.fuzz_gateway` (issue 23 item 15, images of issue 22).

Face pictures: small synthetic ones drawn here with Pillow (JPEG, PNG, JPEG 2000; no
photograph of anyone is in the repository), pictures whose header claims a huge size (PNG
IHDR with its CRC made right again, JPEG SOF), and a PNG decompression bomb (a 6,000 x 6,000
grey picture, 36 megapixels, a few kB compressed). The ageitgey/face_recognition test
photographs are read at run time from `shared/thirdparty` when it is there (never copied):
they are the ones that reach a real extraction. Fingerprints: the example ten-print card's
Type-14 WSQ images (`examples/nist-type-14-tpcard.eft`, no minutiae), cut to transactions of one
or two fingers and rewritten with LEN and CNT right after the WSQ bytes are mutated, so the
WSQ decoder is reached and not only the ANSI/NIST parser.

Extraction costs about half a second a picture, so mutations mostly damage what is read
first (headers, markers, the first kilobyte) or cut the data short; the unmutated and
lightly mutated inputs that reach extraction are a few per cent.
"""

from __future__ import annotations

import base64
import io
import random
import struct
import zlib
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from bench.fuzz_seeds import thirdparty
from exchange.codecs import ansi_nist_records as records

_ROOT = Path(__file__).resolve().parent.parent
FACE_FORMATS = ("jpeg", "png", "jp2")
ODD_FORMATS: list[Any] = ["JPEG", "jpg", "gif", "wsq", "", None, 5, ["png"], "png\u0000", "x" * 300]


def _drawn(width: int, height: int, shade: int) -> Image.Image:
    """A face-like drawing (an oval, two eyes, a mouth): no person's likeness."""
    img = Image.new("RGB", (width, height), (shade, shade, 200))
    d = ImageDraw.Draw(img)
    w, h = width, height
    d.ellipse((w * 0.2, h * 0.1, w * 0.8, h * 0.9), fill=(224, 172, 140))
    for x in (0.38, 0.62):
        d.ellipse((w * (x - 0.05), h * 0.38, w * (x + 0.05), h * 0.45), fill=(40, 30, 20))
    d.line((w * 0.4, h * 0.7, w * 0.6, h * 0.7), fill=(120, 40, 40), width=max(1, w // 40))
    return img


def _save(img: Image.Image, fmt: str) -> bytes:
    out = io.BytesIO()
    img.save(out, {"jpeg": "JPEG", "png": "PNG", "jp2": "JPEG2000"}[fmt])
    return out.getvalue()


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_with_size(data: bytes, width: int, height: int) -> bytes:
    """The PNG with its IHDR width and height replaced, CRC right, so the header check decides."""
    ihdr = data[16:29]
    return data[:8] + _png_chunk(b"IHDR", struct.pack(">II", width, height) + ihdr[8:]) + data[33:]


def jpeg_with_size(data: bytes, width: int, height: int) -> bytes:
    """The JPEG with its SOF0 height and width replaced."""
    i = data.find(b"\xff\xc0")
    if i < 0:
        return data
    return data[: i + 5] + struct.pack(">HH", height, width) + data[i + 9 :]


@cache
def png_bomb() -> bytes:
    """36 megapixels of grey (over the 25-megapixel cap) in a few kilobytes."""
    return _save(Image.new("L", (6000, 6000), 128), "png")


@cache
def face_pictures() -> list[tuple[str, bytes]]:
    """(format, bytes): drawings, huge-header and bomb pictures, and the real photographs."""
    out: list[tuple[str, bytes]] = []
    for i, (w, h) in enumerate(((48, 64), (120, 150), (200, 240))):
        for fmt in FACE_FORMATS:
            out.append((fmt, _save(_drawn(w, h, 60 + 40 * i), fmt)))
    png = out[1][1]
    jpeg = out[0][1]
    out += [
        ("png", png_with_size(png, 100_000, 100_000)),
        ("png", png_with_size(png, 2**31 - 1, 1)),
        ("png", png_with_size(png, 0, 0)),
        ("jpeg", jpeg_with_size(jpeg, 65535, 65535)),
        ("jpeg", jpeg_with_size(jpeg, 0, 10)),
        ("png", png_bomb()),
    ]
    return out


@cache
def face_photographs() -> list[tuple[str, bytes]]:
    root = thirdparty()
    if root is None:
        return []
    return [("jpeg", p.read_bytes()) for p in sorted(root.glob("ageitgey-face_recognition/*.jpg"))]


def mutate_picture(rnd: random.Random, data: bytes) -> bytes:
    """Damage where decoding fails fast: the first kilobyte, a cut, a flip; rarely nothing."""
    buf = bytearray(data)
    op = rnd.randrange(6)
    if op == 0:  # truncated: the decoder runs out of data
        return bytes(buf[: rnd.randrange(len(buf))])
    if op == 1:  # header bytes: signature, IHDR / SOF / SIZ
        for _ in range(rnd.randint(1, 4)):
            buf[rnd.randrange(min(len(buf), 1024))] = rnd.randrange(256)
        return bytes(buf)
    if op == 2:  # a span of the header dropped or doubled
        i = rnd.randrange(min(len(buf), 512))
        span = rnd.randint(1, 64)
        if rnd.random() < 0.5:
            del buf[i : i + span]
        else:
            buf[i:i] = buf[i : i + span]
        return bytes(buf)
    if op == 3:  # the end marker / last chunk gone, some tail garbage
        return bytes(buf[: max(0, len(buf) - rnd.randint(1, 32))]) + rnd.randbytes(rnd.randrange(8))
    if op == 4:  # anywhere (entropy data: decodes to a damaged picture, extracted)
        buf[rnd.randrange(len(buf))] ^= 1 << rnd.randrange(8)
        return bytes(buf)
    return bytes(rnd.randbytes(rnd.randrange(1, 64))) + bytes(buf[rnd.randrange(len(buf)) :])


def face_image_json(rnd: random.Random, fmt: str, data: bytes) -> dict[str, Any]:
    """The `face.image` object, sometimes damaged at the JSON level."""
    obj: dict[str, Any] = {"format": fmt, "data": base64.b64encode(data).decode()}
    r = rnd.random()
    if r < 0.08:
        obj["format"] = rnd.choice(ODD_FORMATS)
    elif r < 0.12:
        obj["format"] = rnd.choice([f for f in FACE_FORMATS if f != fmt])
    elif r < 0.16:
        del obj["data"]
    elif r < 0.20:
        obj["data"] = rnd.choice(["", "!!!", "AAA", obj["data"][:-3] + "*==", 7, None])
    elif r < 0.24:
        obj[rnd.choice(["width", "height", "ppi"])] = rnd.choice([0, -1, 1, 10**9, "64", 64.5])
    elif r < 0.27:
        obj["compression"] = rnd.choice(["JPEGB", "PNG", "JP2", "WSQ20", "NONE", 1])
    elif r < 0.29:
        obj["extra"] = 1
    return obj


@cache
def card() -> records.Transaction:
    return records.decode_transaction((_ROOT / "examples" / "nist-type-14-tpcard.eft").read_bytes())


def wsq_images() -> list[records.TaggedRecord]:
    """The card's single-finger Type-14 records (the four-finger slaps cost four extractions)."""
    return [
        r
        for r in card().records
        if isinstance(r, records.TaggedRecord) and r.type == 14 and r.text(13) not in {"13", "14"}
    ]


def mutate_wsq(rnd: random.Random, data: bytes) -> bytes:
    """WSQ damage: markers and tables (SOI FFA0, DTT, DQT, DHT, SOF FFA2 with the size), a cut,
    a flip in the coded data; the huge-size SOF makes the decoder's pixel cap decide."""
    buf = bytearray(data)
    op = rnd.randrange(5)
    if op == 0:
        return bytes(buf[: rnd.randrange(len(buf))])
    if op == 1:
        for _ in range(rnd.randint(1, 4)):
            buf[rnd.randrange(min(len(buf), 1024))] = rnd.randrange(256)
        return bytes(buf)
    if op == 2:
        sof = buf.find(b"\xff\xa2")
        if sof >= 0 and sof + 10 < len(buf):  # FFA2, Lsof(2), black(1), white(1), Y(2), X(2)
            size = rnd.choice([(65535, 65535), (0, 0), (1, 65535)])
            buf[sof + 6 : sof + 10] = struct.pack(">HH", *size)
        return bytes(buf)
    if op == 3:
        i = rnd.randrange(min(len(buf), 2048))
        del buf[i : i + rnd.randint(1, 256)]
        return bytes(buf)
    buf[rnd.randrange(len(buf))] ^= 1 << rnd.randrange(8)
    return bytes(buf)


def print_transaction(rnd: random.Random, *, mutate: bool = True) -> bytes:
    """One or two of the card's fingers, WSQ mutated (mostly), LEN and CNT right."""
    head = card()
    fingers = rnd.sample(wsq_images(), rnd.choice((1, 1, 2)))
    recs: list[records.Record] = [r for r in head.records if r.type == 2]
    for idc, f in enumerate(fingers, start=1):
        data = f.data or b""
        if mutate:
            data = mutate_wsq(rnd, data)
        recs.append(records.TaggedRecord(14, idc, f.fields, data))
    header = {k: v for k, v in head.header.items() if k not in (1, 3)}
    return records.encode_transaction(records.Transaction(header, tuple(recs)))
