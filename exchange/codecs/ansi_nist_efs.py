"""Type-9 Extended Feature Set (EFS) minutiae ⇄ `exchange.model`, read only.

Format: ANSI/NIST-ITL 1-2011 Update 2015 (NIST SP 500-290 e3), §8.9.7 "Extended Feature Set
(EFS)", fields 9.300-9.399 of a Type-9 record (FMT 9.004 = U; libbiomeval's
`be_feature_an2k11efs.h` reads the same fields). This module uses two of them:

- 9.302 FPP, finger/palm/plantar position: the first item of the first subfield is the
  friction ridge position code (FGP, Table 8, or PLP, Table 10); then segment and
  off-centre items, which the model does not keep.
- 9.331 MIN, minutiae: one subfield per minutia, items MXC, MYC (position in units of
  10 micrometres, 0.01 mm, from the upper-left corner of the image, X to the right, Y down),
  MTD (direction in degrees, 0-359, counter-clockwise from the positive X axis), MTY (type:
  E ridge ending, B bifurcation, X either or unknown) and optional MRU/MDU uncertainties,
  which the model does not keep.

EFS has no per-minutia quality; the model gets 100, as for legacy quality 1 "none". The
units convert to pixels at the transaction's resolution (1.011 NSR; 500 ppi when 00.00, as
in NIST's type9-efs.an2k, whose Type-9 records have no image). The angle convention is the
model's own (degrees counter-clockwise, as 9.012), so theta is kept as it is. Other EFS
fields (9.300 ROI, cores, deltas, ridge counts, 9.352-9.355 latent processing) are read by
the record layer and left in the record; they do not reach the model.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange.codecs.ansi_nist_records import TaggedRecord, unsigned
from exchange.codecs.errors import CodecError
from exchange.model import Minutia, MinutiaKind

#: 9.331 MTY -> model kind.
_KIND_OF_EFS: Mapping[str, MinutiaKind] = {
    "E": MinutiaKind.RIDGE_ENDING,
    "B": MinutiaKind.BIFURCATION,
    "X": MinutiaKind.OTHER,
}
#: One EFS unit is 10 micrometres: 2540 units to the inch.
UNITS_PER_INCH = 2540
MAX_MINUTIAE = 999


def is_efs(rec: TaggedRecord) -> bool:
    """Whether a Type-9 record carries EFS minutiae or an EFS position."""
    return 331 in rec.fields or 302 in rec.fields


def efs_position(where: str, rec: TaggedRecord) -> int:
    """9.302 FPP first item: the friction ridge position code."""
    value = rec.text(302)
    if value is None:
        raise CodecError(f"{where}.9.302", "EFS record without a finger/palm position (FPP)")
    return unsigned(value, f"{where}.9.302", digits=2)


def efs_minutiae(where: str, rec: TaggedRecord, ppi: int) -> tuple[Minutia, ...]:
    """9.331 MIN as model minutiae, in pixels from the top left at `ppi`."""
    subfields = rec.fields.get(331, ())
    if len(subfields) > MAX_MINUTIAE:
        raise CodecError(f"{where}.9.331", f"more than {MAX_MINUTIAE} minutiae")
    scale = ppi / UNITS_PER_INCH
    return tuple(_minutia(f"{where}.9.331[{n}]", items, scale) for n, items in enumerate(subfields))


def _minutia(path: str, items: tuple[str, ...], scale: float) -> Minutia:
    if len(items) < 4:
        raise CodecError(path, "minutia must be (x, y, theta, type[, MRU, MDU])")
    x, y, theta = (unsigned(v, path, digits=5) for v in items[:3])
    kind = _KIND_OF_EFS.get(items[3])
    # 360 is 0 (NIST's own type9-efs.an2k writes it once); anything beyond is an error.
    if theta > 360 or kind is None:
        raise CodecError(path, "theta beyond 360 or type not E, B or X")
    return Minutia(round(x * scale), round(y * scale), theta % 360, kind, 100)
