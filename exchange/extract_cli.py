"""`prum-exchange extract {face,fingerprint} FILE... [--json] [--position N]` and
`prum-exchange compare {face,fingerprint} A B [--position N] [--json]` (DESIGN.md §4).

`extract face` prints, per picture in each FILE (an image, an ANSI/NIST-ITL transaction with
Type-10 records, an INT-I v6 XML transaction or an ISO/IEC 19794-5 record), the model id, the
detector's score as quality and the face box; `compare face` the Euclidean distance between
the two templates, the model's threshold and `same` or `different`. A file that cannot be
read, or a picture without a face, is one line on stderr and exit 2.

The fingerprint side lives in `exchange.finger_samples` (`extract_command(args)`,
`compare_command(args)`), imported only when asked for; a build without it says so.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from exchange.codecs.errors import CodecError
from exchange.face_models import FaceModelConfig, extract
from exchange.face_samples import face_samples
from exchange.option_types import int_in
from matchers import face_image

EXIT_OK = 0
EXIT_USAGE = 2


def register(sub: Any) -> None:
    """Add the `extract` and `compare` subcommands to the `prum-exchange` parser."""
    ex = sub.add_parser("extract", help="extract templates from face or fingerprint samples")
    ex.add_argument("modality", choices=("face", "fingerprint"))
    ex.add_argument("files", metavar="FILE", nargs="+", help="image, ANSI/NIST or ISO record")
    ex.add_argument("--json", action="store_true", help="one JSON object per sample")
    ex.add_argument(
        "--position", type=int_in(0, 38), help="finger position, ANSI/NIST FGP (fingerprints)"
    )
    ex.set_defaults(func=extract_command)
    co = sub.add_parser("compare", help="compare two face or fingerprint samples")
    co.add_argument("modality", choices=("face", "fingerprint"))
    co.add_argument("a", metavar="A")
    co.add_argument("b", metavar="B")
    co.add_argument(
        "--position", type=int_in(0, 38), help="finger position, ANSI/NIST FGP (fingerprints)"
    )
    co.add_argument("--json", action="store_true", help="the result as JSON")
    co.set_defaults(func=compare_command)


def _fingerprint(args: argparse.Namespace, name: str) -> int:
    from exchange import finger_samples  # NBIS: imported only for fingerprints

    result: int = getattr(finger_samples, name)(args)
    return result


def extract_command(args: argparse.Namespace) -> int:
    if args.modality == "fingerprint":
        return _fingerprint(args, "extract_command")
    model = FaceModelConfig()
    for name in args.files:
        try:
            for where, found in _extract_all(Path(name), model):
                _print_extraction(name, where, found, args.json)
        except _Refused as exc:
            print(f"prum-exchange extract face: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_OK


def compare_command(args: argparse.Namespace) -> int:
    if args.modality == "fingerprint":
        return _fingerprint(args, "compare_command")
    model = FaceModelConfig()
    try:
        (_, a), *_ = _extract_all(Path(args.a), model)
        (_, b), *_ = _extract_all(Path(args.b), model)
    except _Refused as exc:
        print(f"prum-exchange compare face: {exc}", file=sys.stderr)
        return EXIT_USAGE
    d = face_image.distance(a.vector, b.vector)
    verdict = "same" if d <= model.distance_threshold else "different"
    if args.json:
        doc = {
            "model": a.model_id,
            "distance": round(d, 4),
            "score": round(1.0 - d, 4),
            "threshold_distance": round(model.distance_threshold, 4),
            "threshold_score": model.threshold,
            "verdict": verdict,
        }
        print(json.dumps(doc))
    else:
        print(
            f"{a.model_id}: distance {d:.4f} (score {1.0 - d:.4f}); threshold distance"
            f" {model.distance_threshold:.2f} (score {model.threshold:.2f}): {verdict}"
        )
    return EXIT_OK


class _Refused(Exception):
    """A file or picture that yields no template: the one line to print."""


def _extract_all(path: Path, model: FaceModelConfig) -> list[tuple[str, face_image.FaceExtraction]]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _Refused(f"{path}: {exc.strerror or exc}") from exc
    try:
        samples = face_samples(data, str(path))
    except CodecError as exc:
        raise _Refused(f"{path}: {exc}") from exc
    out = []
    for sample in samples:
        try:
            out.append((sample.where, extract(sample.image.data, model)))
        except face_image.FaceImageError as exc:
            raise _Refused(f"{path}: {sample.where}: {exc.reason}") from exc
    return out


def _print_extraction(name: str, where: str, e: face_image.FaceExtraction, as_json: bool) -> None:
    box = e.box
    if as_json:
        doc = {
            "file": name,
            "sample": where,
            "model": e.model_id,
            "dim": int(e.vector.shape[0]),
            "quality": e.quality,
            "box": {"left": box.left, "top": box.top, "right": box.right, "bottom": box.bottom},
            "width": e.width,
            "height": e.height,
            "faces_found": e.faces_found,
        }
        print(json.dumps(doc))
        return
    print(
        f"{name} [{where}]: {e.model_id} quality {e.quality:.3f}"
        f" face ({box.left},{box.top})-({box.right},{box.bottom}) of {e.width}x{e.height}"
        + (f", {e.faces_found} faces (the best scored)" if e.faces_found > 1 else "")
    )
