"""A person's prints ⇄ ANSI/NIST-ITL records: Type-9 minutiae and Type-4/13/14/15 images.

Formats (ANSI/NIST-ITL 1-2011, NIST SP 500-290; INT-I v4.22b profile):

- Type-9 legacy "standard format" minutiae (FMT = S; 1-2011 Table 27 refers to 1-2007
  §13.1 for 9.005-9.012; INT-I v6.00.02 keeps them, see Interpol's field list in
  INTERPOL-Innovation-Centre/ANSI-NIST-XML-ITL-Implementation): 9.003 IMP, 9.004 FMT,
  9.005 OFR, 9.006 FGP, 9.007 FPC, 9.010 MIN, 9.011 RDG, 9.012 MRC with items (index,
  XXXXYYYYTTT, quality, type); palms use five digits for X and Y (XXXXXYYYYYTTT).
  X and Y are in units of 0.01 mm from the lower-left corner of the image, theta in
  degrees counter-clockwise from the positive X axis. The model holds pixels from the
  top-left corner at the set's ppi, with the same angle convention, so Y is flipped
  against the image height; with no image, against the largest value the digits can carry
  (9999 or 99999), which keeps relative geometry exact and round-trips. Quality 9.012 item
  3 is 0-63 (0 manual, 1 none, 2 best to 63 worst); the model's 0-100 maps linearly onto
  2-63 (lossy: 101 values onto 62). This is what the writer emits.
- Type-9 INCITS 378 block (FMT = U, 1-2011 Table 28, used by INT-I v6): read only, from
  9.130 SLC, 9.131 THPS, 9.134 FGP, 9.136 NOM and 9.137 FMD (see `_incits_minutiae`).
- Type-9 Extended Feature Set (FMT = U, 9.300-9.399, 1-2011 Update 2015 §8.9.7): read only,
  position from 9.302 and minutiae from 9.331 (`ansi_nist_efs`).
- Images, optional, one per finger with the same IDC as its Type-9 record (the IDC
  cross-reference the reader checks): Type-14 for ten-prints (Type-4 on request: 18-byte
  binary header, GCA code), Type-13 for latents, Type-15 for palms (1-2011 §8.4, 8.13-8.15:
  IMP, SRC, date, HLL, VLL, SLC, THPS, TVPS, CGA, BPX, FGP, DATA); image bytes are opaque.
- Impression codes from 1-2011 Table 7; compression codes from Table 15.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from exchange.codecs.ansi_nist_efs import efs_minutiae, efs_position, is_efs
from exchange.codecs.ansi_nist_records import (
    Record,
    Subfields,
    TaggedRecord,
    Transaction,
    Type4Record,
    text,
    unsigned,
)
from exchange.codecs.errors import CodecError
from exchange.model import (
    BiometricImage,
    Finger,
    FingerprintSet,
    Impression,
    Minutia,
    MinutiaKind,
)

SYSTEM_NAME = "PRUM-EXCHANGE"

#: Impression type codes (1-2011 Table 7) written for each model impression.
IMPRESSION_CODE: Mapping[Impression, int] = {
    Impression.PLAIN: 0,
    Impression.ROLLED: 1,
    Impression.LATENT: 4,
    Impression.PALM: 10,
    Impression.LATENT_PALM: 12,
}
_IMPRESSION_OF_CODE: Mapping[int, Impression] = {
    0: Impression.PLAIN,
    2: Impression.PLAIN,
    8: Impression.PLAIN,
    1: Impression.ROLLED,
    3: Impression.ROLLED,
    9: Impression.ROLLED,
    4: Impression.LATENT,
    5: Impression.LATENT,
    6: Impression.LATENT,
    7: Impression.LATENT,
    10: Impression.PALM,
    11: Impression.PALM,
    12: Impression.LATENT_PALM,
    13: Impression.LATENT_PALM,
    14: Impression.LATENT_PALM,
    15: Impression.LATENT_PALM,
}
#: Type-4 GCA binary codes and the tagged records' CGA strings (1-2011 Table 15).
COMPRESSION_CODES: Mapping[int, str] = {
    0: "NONE",
    1: "WSQ20",
    2: "JPEGB",
    3: "JPEGL",
    4: "JP2",
    5: "JP2L",
    6: "PNG",
}
_CODE_OF_COMPRESSION = {name: code for code, name in COMPRESSION_CODES.items()}

#: Model quality 0-100 -> 9.012 quality 2 (best) - 63 (worst), and back (0 manual, 1 none).
_CODE_OF_QUALITY = tuple(str(2 + round((100 - q) * 61 / 100)) for q in range(101))
_QUALITY_OF_CODE: Mapping[str, int] = {
    **{
        f"{w:0{d}d}": 100 if w < 2 else 100 - round((w - 2) * 100 / 61)
        for w in range(64)
        for d in (1, 2)
    },
}
_KIND_OF_CODE: Mapping[str, MinutiaKind] = {k.value: k for k in MinutiaKind}
_KIND_OF_INCITS = (MinutiaKind.OTHER, MinutiaKind.RIDGE_ENDING, MinutiaKind.BIFURCATION)

_IMAGE_RECORD_TYPES = frozenset({3, 4, 13, 14, 15})
#: Type-3 at ISR 0: the minimum low-resolution scanning rate, 9.84 px/mm (1-2000 §11).
LOW_RES_PPI = 250
DEFAULT_PPI = 500


def fingerprint_records(
    prints: FingerprintSet, *, source: str, date: dt.datetime, legacy_images: bool = False
) -> tuple[Record, ...]:
    """One Type-9 record per finger, and its image record with the same IDC if it has one."""
    if len(prints.fingers) > 99:
        raise CodecError("fingerprints.fingers", "at most 99 fingers fit the IDC range")
    imp = IMPRESSION_CODE[prints.impression]
    minutiae: list[Record] = []
    images: list[Record] = []
    for i, finger in enumerate(prints.fingers):
        path = f"fingerprints.fingers[{i}]"
        idc = i + 1
        check_position(finger.position, prints.impression, f"{path}.position")
        digits = _digits(prints.impression)
        height = _height_units(finger.image, digits, path)
        if finger.minutiae or finger.image is None:
            minutiae.append(_type9(finger, idc, imp, prints.ppi, height, digits, path))
        if finger.image is not None:
            images.append(
                _image_record(
                    finger, idc, imp, prints.impression, source, date, legacy_images, path
                )
            )
    return (*minutiae, *images)


def fingerprint_set(tx: Transaction) -> FingerprintSet:
    """The fingers of a transaction: Type-9 minutiae and Type-4/13/14/15 images by IDC."""
    type9: dict[int, tuple[int, TaggedRecord]] = {}
    image: dict[int, tuple[int, Record]] = {}
    for index, rec in enumerate(tx.records, start=1):
        if rec.type == 9 and isinstance(rec, TaggedRecord):
            type9[rec.idc] = (index, rec)
        elif rec.type in _IMAGE_RECORD_TYPES:
            if rec.idc in image:
                raise CodecError(
                    f"Type-{rec.type}[{index}].{rec.type}.002",
                    f"two image records share IDC {rec.idc}",
                )
            image[rec.idc] = (index, rec)
    ppi = ppi_from_header(tx)
    impressions: list[Impression] = []
    fingers: list[Finger] = []
    for idc in sorted(set(type9) | set(image)):
        img = _read_image(*image[idc], ppi) if idc in image else None
        pos_img = img[1] if img else None
        if idc in type9:
            index, rec = type9[idc]
            finger, imp = _read_type9(index, rec, ppi, img[0] if img else None)
            if pos_img is not None and pos_img != finger.position:
                raise CodecError(
                    f"Type-9[{index}].9.006",
                    f"finger position {finger.position} disagrees with image record IDC "
                    f"{idc} position {pos_img}",
                )
            if img is not None:
                finger = Finger(finger.position, finger.minutiae, img[0])
        else:
            assert img is not None
            finger = Finger(img[1], (), img[0])
            imp = img[2]
        fingers.append(finger)
        impressions.append(imp)
    impression = impressions[0] if impressions else Impression.ROLLED
    return FingerprintSet(tuple(fingers), impression, ppi)


# --- Type-9 minutiae -------------------------------------------------------------------------


def _type9(
    finger: Finger, idc: int, imp: int, ppi: int, height: int, digits: int, path: str
) -> TaggedRecord:
    fields: dict[int, Subfields] = {
        3: text(str(imp)),
        4: text("S"),
        5: ((SYSTEM_NAME, "A"),),
        6: text(str(finger.position)),
        7: (("T", "UC"),),
        10: text(str(len(finger.minutiae))),
        11: text("0"),
    }
    if len(finger.minutiae) > 999:
        raise CodecError(f"{path}.minutiae", "more than 999 minutiae")
    mrc = []
    scale = 2540 / ppi
    top: int = 10**digits - 1
    for n, m in enumerate(finger.minutiae, start=1):
        x = round(m.x * scale)
        y = height - round(m.y * scale)
        if not (0 <= x <= top and 0 <= y <= top and 0 <= m.angle <= 359 and 0 <= m.quality <= 100):
            raise CodecError(
                f"{path}.minutiae[{n - 1}]",
                f"x, y must fit 0-{top / 100:.2f} mm inside the image at {ppi} ppi, "
                "angle 0-359, quality 0-100",
            )
        mrc.append(
            (
                str(n),
                f"{x:0{digits}d}{y:0{digits}d}{m.angle:03d}",
                _CODE_OF_QUALITY[m.quality],
                m.kind.value,
            )
        )
    if mrc:
        fields[12] = tuple(mrc)
    return TaggedRecord(9, idc, fields)


def _read_type9(
    index: int, rec: TaggedRecord, ppi: int, image: BiometricImage | None
) -> tuple[Finger, Impression]:
    where = f"Type-9[{index}]"
    imp = impression_of(rec.text(3), f"{where}.9.003")
    fmt = rec.text(4)
    if fmt == "S":
        position = unsigned(rec.text(6) or "", f"{where}.9.006")
        check_position(position, imp, f"{where}.9.006")
        return Finger(position, _legacy_minutiae(where, rec, ppi, image, imp)), imp
    if fmt == "U" and 137 in rec.fields:
        position = unsigned(rec.text(134) or "", f"{where}.9.134")
        check_position(position, imp, f"{where}.9.134")
        return Finger(position, _incits_minutiae(where, rec, ppi)), imp
    if fmt == "U" and is_efs(rec):
        position = efs_position(where, rec)
        check_position(position, imp, f"{where}.9.302")
        return Finger(position, efs_minutiae(where, rec, ppi)), imp
    raise CodecError(
        f"{where}.9.004",
        "reads the legacy format (FMT S, 9.012), INCITS 378 (FMT U, 9.137) or EFS (9.302, 9.331)",
    )


def _legacy_minutiae(
    where: str, rec: TaggedRecord, ppi: int, image: BiometricImage | None, imp: Impression
) -> tuple[Minutia, ...]:
    """9.010 MIN and 9.012 MRC: X, Y in 0.01 mm from the lower left, theta in degrees."""
    height = 10 ** _digits(imp) - 1
    if image is not None:
        height = round(image.height * 2540 / image.ppi)
    mrc = rec.fields.get(12, ())
    count = rec.text(10)
    if count is not None and unsigned(count, f"{where}.9.010") != len(mrc):
        raise CodecError(f"{where}.9.010", f"MIN {count} but 9.012 lists {len(mrc)} minutiae")
    minutiae: list[Minutia] = []
    scale = ppi / 2540
    for n, items in enumerate(mrc):
        xyt = items[1] if len(items) >= 4 else ""
        if len(xyt) not in (11, 13) or not xyt.isdigit() or not xyt.isascii():
            raise CodecError(
                f"{where}.9.012[{n}]", "minutia must be (index, XXXXYYYYTTT, quality, type, ...)"
            )
        d = (len(xyt) - 3) // 2  # 4 digits for fingers, 5 for palms
        x, y, theta = int(xyt[:d]), int(xyt[d : 2 * d]), int(xyt[2 * d :])
        quality = _QUALITY_OF_CODE.get(items[2])
        kind = _KIND_OF_CODE.get(items[3])
        if theta > 359 or quality is None or kind is None or y > height:
            raise CodecError(
                f"{where}.9.012[{n}]",
                "theta beyond 359, quality outside 0-63, type not A-D, or Y above the image",
            )
        minutiae.append(
            Minutia(round(x * scale), round((height - y) * scale), theta, kind, quality)
        )
    return tuple(minutiae)


def fmd_minutia(items: Sequence[str], path: str) -> tuple[int, int, int, int, int]:
    """One 9.137 FMD minutia's (x, y, angle, type, quality), checked: six items (index first),
    angle 0-179 (units of 2 degrees), type 0-2, quality 0-100."""
    if len(items) != 6:
        raise CodecError(path, "minutia must be (index, x, y, angle, type, quality)")
    x, y, angle, kind, quality = (unsigned(v, path, digits=5) for v in items[1:])
    if angle > 179 or kind > 2 or quality > 100:
        raise CodecError(path, "angle beyond 179, type beyond 2 or quality beyond 100")
    return x, y, angle, kind, quality


def _incits_minutiae(where: str, rec: TaggedRecord, ppi: int) -> tuple[Minutia, ...]:
    """9.136 NOM and 9.137 FMD (INCITS 378 block, 1-2011 Table 28; INT-I v6 uses it).

    Items: index, X and Y in pixels from the upper left at the block's resolution (9.130
    SLC, 9.131 THPS), angle in units of 2 degrees (0-179), type 0 other / 1 ridge ending /
    2 bifurcation, quality 1-100 or 0 for none. The angle is turned into the legacy 9.012
    convention the model keeps, theta = 2 * angle + 180 (mod 360), as NIST-format tools do.
    """
    fmd = rec.fields[137]
    count = rec.text(136)
    if count is not None and unsigned(count, f"{where}.9.136") != len(fmd):
        raise CodecError(f"{where}.9.136", f"NOM {count} but 9.137 lists {len(fmd)} minutiae")
    scale_units = unsigned(rec.text(130) or "1", f"{where}.9.130", digits=1)
    pixel_scale = unsigned(rec.text(131) or str(ppi), f"{where}.9.131")
    source_ppi = pixel_scale if scale_units == 1 else round(pixel_scale * 2.54)
    if scale_units not in (1, 2) or source_ppi <= 0:
        raise CodecError(f"{where}.9.131", "resolution must be positive, in ppi or ppcm")
    scale = ppi / source_ppi
    minutiae: list[Minutia] = []
    for n, items in enumerate(fmd):
        x, y, angle, kind, quality = fmd_minutia(items, f"{where}.9.137[{n}]")
        minutiae.append(
            Minutia(
                round(x * scale),
                round(y * scale),
                (2 * angle + 180) % 360,
                _KIND_OF_INCITS[kind],
                quality or 100,
            )
        )
    return tuple(minutiae)


def _digits(impression: Impression) -> int:
    """9.012 writes X and Y in 4 digits for fingers, 5 for palms (INT-I v6, 9.012-B)."""
    return 5 if impression in (Impression.PALM, Impression.LATENT_PALM) else 4


def _height_units(image: BiometricImage | None, digits: int, path: str) -> int:
    top: int = 10**digits - 1
    if image is None:
        return top
    if image.ppi <= 0 or image.height < 0:
        raise CodecError(f"{path}.image", "image ppi and height must be positive")
    height = round(image.height * 2540 / image.ppi)
    if height > top:
        raise CodecError(f"{path}.image.height", f"image taller than {top / 100:.2f} mm")
    return height


# --- images ----------------------------------------------------------------------------------


def _image_record(
    finger: Finger,
    idc: int,
    imp: int,
    impression: Impression,
    source: str,
    date: dt.datetime,
    legacy: bool,
    path: str,
) -> Record:
    image = finger.image
    assert image is not None
    ipath = f"{path}.image"
    if legacy and impression in (Impression.ROLLED, Impression.PLAIN):
        code = _CODE_OF_COMPRESSION.get(image.compression)
        if code is None or image.ppi != DEFAULT_PPI:
            raise CodecError(ipath, "a Type-4 record needs 500 ppi and a known compression")
        if not 1 <= finger.position <= 15:
            raise CodecError(f"{path}.position", "Type-4 carries finger positions 1-15 only")
        return Type4Record(
            idc, imp, (finger.position,), image.width, image.height, code, image.data
        )
    rtype = {Impression.LATENT: 13, Impression.PALM: 15, Impression.LATENT_PALM: 15}.get(
        impression, 14
    )
    if not 0 < image.width <= 99999 or not 0 < image.height <= 99999:
        raise CodecError(ipath, "width and height must be 1-99999")
    if not 0 < image.ppi <= 99999:  # 14.009 HPS: at most five digits
        raise CodecError(ipath, f"ppi {image.ppi} outside 1-99999")
    fields: dict[int, Subfields] = {
        3: text(str(imp)),
        4: text(plain(source, "header.sender")),
        5: text(date_field(date)),
        6: text(str(image.width)),
        7: text(str(image.height)),
        8: text("1"),
        9: text(str(image.ppi)),
        10: text(str(image.ppi)),
        11: text(plain(image.compression, f"{ipath}.compression")),
        12: text("8"),
        13: text(str(finger.position)),
    }
    return TaggedRecord(rtype, idc, fields, image.data)


def _read_image(index: int, rec: Record, ppi: int) -> tuple[BiometricImage, int, Impression]:
    where = f"Type-{rec.type}[{index}]"
    if isinstance(rec, Type4Record):
        compression = COMPRESSION_CODES.get(rec.compression)
        if compression is None:
            raise CodecError(
                f"{where}.{rec.type}.008", f"unknown compression code {rec.compression}"
            )
        imp = impression_of(str(rec.impression), f"{where}.{rec.type}.003")
        check_position(rec.positions[0], imp, f"{where}.{rec.type}.004")
        image_ppi = LOW_RES_PPI if rec.type == 3 and rec.resolution == 0 else DEFAULT_PPI
        image = BiometricImage(rec.data, compression, rec.width, rec.height, image_ppi)
        return image, rec.positions[0], imp
    if not isinstance(rec, TaggedRecord):
        raise CodecError(where, f"a Type-{rec.type} record is no fingerprint image")
    t = rec.type
    imp = impression_of(rec.text(3), f"{where}.{t}.003")
    width = unsigned(rec.text(6) or "", f"{where}.{t}.006", digits=5)
    height = unsigned(rec.text(7) or "", f"{where}.{t}.007", digits=5)
    if not width or not height:
        raise CodecError(f"{where}.{t}.006", "image width and height must be positive")
    scale = unsigned(rec.text(8) or "0", f"{where}.{t}.008", digits=1)
    horizontal = unsigned(rec.text(9) or "0", f"{where}.{t}.009")
    image_ppi = horizontal if scale == 1 else round(horizontal * 2.54) if scale == 2 else ppi
    if image_ppi <= 0:
        raise CodecError(f"{where}.{t}.009", "resolution must be positive")
    compression = rec.text(11)
    if not compression:
        raise CodecError(f"{where}.{t}.011", "compression algorithm missing")
    position = unsigned(rec.text(13) or "", f"{where}.{t}.013")
    check_position(position, imp, f"{where}.{t}.013")
    assert rec.data is not None
    return BiometricImage(rec.data, compression, width, height, image_ppi), position, imp


def impression_of(code: str | None, path: str) -> Impression:
    """The model impression of an ANSI/NIST-ITL impression type code (1-2011 Table 7)."""
    imp = _IMPRESSION_OF_CODE.get(unsigned(code or "", path, digits=2))
    if imp is None:
        raise CodecError(path, f"impression type {code} is not a finger or palm impression")
    return imp


def check_position(position: int, impression: Impression, path: str) -> None:
    palm = impression in (Impression.PALM, Impression.LATENT_PALM)
    ok = 20 <= position <= 38 if palm else 0 <= position <= 15
    if not ok:
        raise CodecError(path, f"position {position} is not valid for {impression.value} prints")


def ppi_from_header(tx: Transaction) -> int:
    nsr = tx.text(11) or ""
    whole, _, frac = nsr.partition(".")
    if whole.isascii() and whole.isdigit() and (not frac or (frac.isascii() and frac.isdigit())):
        ppi = round(float(nsr) * 25.4)
        if 0 < ppi <= 9999:
            return ppi
    return DEFAULT_PPI


def plain(value: str, path: str) -> str:
    """`value` if it is text that can travel in a field (no ANSI/NIST separators)."""
    if not isinstance(value, str) or any(c in value for c in "\x1c\x1d\x1e\x1f"):
        raise CodecError(path, "must be text without ANSI/NIST separators")
    return value


def date_field(stamp: dt.datetime) -> str:
    """YYYYMMDD with a four-digit year (strftime drops the zeros of years before 1000)."""
    return f"{stamp.year:04d}{stamp.month:02d}{stamp.day:02d}"
