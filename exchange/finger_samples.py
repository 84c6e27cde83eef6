"""Fingerprint samples: minutiae for the fingers that travel as images only, and the CLI's
`extract fingerprint` and `compare fingerprint`.

A finger with an image and no minutiae (a real ten-print: ANSI/NIST Type-4/14 WSQ, JPEG
2000 or PNG, or an uncompressed Type-3/4 image) gets mindtct minutiae
(`matchers.fingerprint_image`); a slap (FGP 13, 14 four fingers, 15 both thumbs) is segmented
into its fingers, each added under its own position where the set has no finger of that
position with minutiae already. Fingers that already carry minutiae keep them (an ISO/IEC
19794-2 or INCITS 378 record has no image: its minutiae are used as they are). A set in which
no finger ends up with minutiae is refused (`FingerSampleError`, naming the field): a record
that would enrol but never be found is worse than a refusal.

`with_extracted_minutiae` is a plain top-level function so the gateway can run it in its
extraction pool (`exchange.extraction_pool`), off the event loop.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from exchange.codecs import ansi_nist, minutiae_records
from exchange.codecs.errors import CodecError
from exchange.gallery import Thresholds
from exchange.model import BiometricImage, Finger, FingerprintSet, Minutia, MinutiaKind
from matchers import fingerprint_image as fi

SLAPS = frozenset(fi.SLAP_FINGERS)
MIN_MINUTIAE = 8  # fewer than this is no usable print (Bozorth needs a few to compare)


class FingerSampleError(CodecError):
    """A print set with no usable finger, or an image that cannot be decoded or extracted."""

    def __reduce__(self) -> tuple[type[FingerSampleError], tuple[str, str]]:
        # Raised in a pool worker, it is pickled back: rebuilt from its field and reason
        # (the default would call __init__ with the one formatted message).
        return (type(self), (self.field, self.reason))


@dataclass(frozen=True, slots=True)
class FingerReport:
    """What extraction gave for one finger (no biometric data: counts and quality only)."""

    position: int
    minutiae: int
    nfiq2: int | None
    extractor: str
    source: str  # "image", "slap 13", or "minutiae" (carried, not extracted)


def needs_extraction(prints: FingerprintSet) -> bool:
    """True when some finger has an image and no minutiae, a slap only when the set lacks
    minutiae for some finger it holds (a ten-print's slaps add nothing to its rolled prints)."""
    held = {f.position for f in prints.fingers if f.minutiae}
    return any(
        f.image is not None
        and not f.minutiae
        and not (f.position in SLAPS and held.issuperset(fi.SLAP_FINGERS[f.position]))
        for f in prints.fingers
    )


def _minutiae(rows: np.ndarray, scale: float) -> tuple[Minutia, ...]:
    return tuple(
        Minutia(
            round(float(x) * scale),
            round(float(y) * scale),
            round(float(t)) % 360,
            MinutiaKind.BIFURCATION if k > 0.5 else MinutiaKind.RIDGE_ENDING,
            int(q),
        )
        for x, y, t, k, q in rows
    )


def _extract(image: BiometricImage, where: str, nfiq2: bool) -> fi.Extraction:
    try:
        return fi.extract_image(
            image.data, image.compression, image.width, image.height, image.ppi, nfiq2
        )
    except fi.FingerprintImageError as exc:
        raise FingerSampleError(where, exc.reason) from exc


def extract_fingers(
    prints: FingerprintSet, *, field: str = "fingerprints", nfiq2: bool = False
) -> tuple[FingerprintSet, tuple[FingerReport, ...]]:
    """The set with minutiae for its image-only fingers, and one report per usable finger;
    `nfiq2` computes NFIQ 2 too (about twice the time of mindtct alone, so only on request).

    Every finger stays where it was (a slap's image too); fingers cut from a slap are added
    after them, for positions no other finger of the set gave minutiae for."""
    scale = prints.ppi / fi.TARGET_PPI  # extraction is at 500 ppi; the model at the set's
    out = list(prints.fingers)
    reports: dict[int, FingerReport] = {}
    failures: list[str] = []
    for n, finger in enumerate(prints.fingers):
        if finger.minutiae:
            reports[finger.position] = FingerReport(
                finger.position, len(finger.minutiae), None, "carried", "minutiae"
            )
        elif finger.image is not None and finger.position not in SLAPS:
            where = f"{field}.fingers[{n}].image"
            try:
                got = _extract(finger.image, where, nfiq2)
            except FingerSampleError as exc:
                failures.append(str(exc))
                continue
            if len(got.minutiae) < MIN_MINUTIAE:
                failures.append(f"{where}: {len(got.minutiae)} minutiae found")
                continue
            out[n] = replace(finger, minutiae=_minutiae(got.minutiae, scale))
            reports[finger.position] = FingerReport(
                finger.position, len(got.minutiae), got.nfiq2, got.extractor, "image"
            )
    for n, finger in enumerate(prints.fingers):
        if finger.position in SLAPS and finger.image is not None and not finger.minutiae:
            held = {f.position for f in out if f.minutiae}
            if held.issuperset(fi.SLAP_FINGERS[finger.position]):
                continue  # a ten-print's rolled fingers: the slap adds nothing to search
            where = f"{field}.fingers[{n}].image"
            for got_finger, report in _slap_fingers(finger, where, scale, nfiq2, failures):
                if got_finger.position not in held:
                    out.append(got_finger)
                    reports[got_finger.position] = report
    if not any(f.minutiae for f in out):
        reason = "no usable finger: " + ("; ".join(failures) if failures else "no image")
        raise FingerSampleError(field, reason[:500])
    return replace(prints, fingers=tuple(out)), tuple(r for _, r in sorted(reports.items()))


def _slap_fingers(
    slap: Finger, where: str, scale: float, nfiq2: bool, failures: list[str]
) -> list[tuple[Finger, FingerReport]]:
    image = slap.image
    assert image is not None
    try:
        parts = fi.extract_slap(
            image.data,
            image.compression,
            image.width,
            image.height,
            image.ppi,
            slap.position,
            nfiq2,
        )
    except fi.FingerprintImageError as exc:
        failures.append(f"{where}: {exc.reason}")
        return []
    source = f"slap {slap.position}"
    return [
        (
            Finger(position, _minutiae(got.minutiae, scale)),
            FingerReport(position, len(got.minutiae), got.nfiq2, got.extractor, source),
        )
        for position, got in parts
        if len(got.minutiae) >= MIN_MINUTIAE
    ]


def with_extracted_minutiae(prints: FingerprintSet) -> FingerprintSet:
    """`extract_fingers`' set alone (for the extraction pool); unchanged if nothing to do."""
    if not needs_extraction(prints):
        return prints
    return extract_fingers(prints)[0]


# -- command line ----------------------------------------------------------------------------

_IMAGE_MAGIC = (
    (b"\xff\xa0", "WSQ20"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8", "JPEGB"),
    (b"\x00\x00\x00\x0cjP  ", "JP2"),
    (b"\xff\x4f\xff\x51", "JP2"),
)


def read_prints(path: str, position: int | None = None) -> FingerprintSet:
    """A print set from a file: an image, an ANSI/NIST transaction or an ISO/INCITS record;
    `position` keeps that finger only."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise FingerSampleError(path, f"cannot read: {exc.strerror}") from exc
    prints = _decode_file(data, path)
    if position is not None:
        fingers = tuple(f for f in prints.fingers if f.position == position)
        if not fingers:
            held = sorted({f.position for f in prints.fingers})
            raise FingerSampleError(path, f"no finger at position {position} (holds {held})")
        prints = replace(prints, fingers=fingers)
    return prints


def _decode_file(data: bytes, path: str) -> FingerprintSet:
    for magic, compression in _IMAGE_MAGIC:
        if data.startswith(magic):
            return FingerprintSet((Finger(0, image=BiometricImage(data, compression, 0, 0)),))
    if data.startswith(b"FMR\0"):
        try:
            # lenient_tail: NIST's own sample records miscount their last view's extended
            # data (minutiae_records' docstring); the minutiae before it are whole.
            record = minutiae_records.decode(data, lenient_tail=True)
            return minutiae_records.to_fingerprint_set(record)
        except CodecError as exc:
            raise FingerSampleError(f"{path}:{exc.field}", exc.reason) from exc
    try:
        return ansi_nist.fingerprints_from_bytes(data)
    except CodecError as exc:
        raise FingerSampleError(f"{path}:{exc.field}", exc.reason) from exc


def _fail(command: str, message: str) -> int:
    print(f"prum-exchange {command} fingerprint: {message}", file=sys.stderr)
    return 2


def extract_command(args: argparse.Namespace) -> int:
    """`extract fingerprint FILE... [--json] [--position N]`: per finger, position, minutiae
    count, NFIQ 2 and extractor; exit 2 with one line when a file has no usable print."""
    out: list[dict[str, Any]] = []
    for path in args.files:
        try:
            prints = read_prints(path, args.position)
            _, reports = extract_fingers(prints, field=path, nfiq2=True)
        except FingerSampleError as exc:
            return _fail("extract", str(exc))
        out += [
            {
                "file": path,
                "position": r.position,
                "minutiae": r.minutiae,
                "nfiq2": r.nfiq2,
                "extractor": r.extractor,
                "source": r.source,
            }
            for r in reports
        ]
    if args.json:
        print(json.dumps({"fingers": out}, indent=2))
    else:
        for row in out:
            nfiq = "-" if row["nfiq2"] is None else row["nfiq2"]
            print(
                f"{row['file']}\tposition {row['position']}\t{row['minutiae']} minutiae"
                f"\tNFIQ2 {nfiq}\t{row['extractor']}\t({row['source']})"
            )
    return 0


COMPARE_THRESHOLD = Thresholds().fingerprint_bozorth3  # the gallery's, for image probes


def compare_command(args: argparse.Namespace) -> int:
    """`compare fingerprint A B [--position N] [--json]`: Bozorth3 over the fingers both hold
    (or the one of each file when a file holds one finger), score, threshold, same/different."""
    try:
        a, _ = extract_fingers(read_prints(args.a, args.position), field=args.a)
        b, _ = extract_fingers(read_prints(args.b, args.position), field=args.b)
    except FingerSampleError as exc:
        return _fail("compare", str(exc))
    fa = {f.position: f for f in a.fingers if f.minutiae}
    fb = {f.position: f for f in b.fingers if f.minutiae}
    pairs = [(fa[p], fb[p]) for p in sorted(fa.keys() & fb.keys())]
    if not pairs and len(fa) == 1 and len(fb) == 1:
        pairs = [(next(iter(fa.values())), next(iter(fb.values())))]
    if not pairs:
        return _fail("compare", f"{args.a} and {args.b} hold no finger position in common")
    raw = [fi.bozorth_score(_array(x), _array(y)) for x, y in pairs]
    score = float(np.mean([min(1.0, r / fi.BOZORTH_FULL) for r in raw]))
    verdict = "same" if score >= COMPARE_THRESHOLD else "different"
    if args.json:
        print(
            json.dumps(
                {
                    "score": round(score, 4),
                    "threshold": COMPARE_THRESHOLD,
                    "decision": verdict,
                    "bozorth3": raw,
                    "positions": [x.position for x, _ in pairs],
                    "extractor": fi.EXTRACTOR_ID,
                }
            )
        )
    else:
        print(f"score {score:.4f}\tthreshold {COMPARE_THRESHOLD}\t{verdict}")
    return 0


def _array(finger: Finger) -> np.ndarray:
    return np.array(
        [
            (m.x, m.y, m.angle, 1.0 if m.kind is MinutiaKind.BIFURCATION else 0.0, m.quality)
            for m in finger.minutiae
        ],
        dtype=np.float32,
    )
