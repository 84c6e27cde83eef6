"""UK person records as LEDS-style JSON <-> `exchange.model.PersonRecord`.

The format is described by `schemas/uk-record.schema.json` (DESIGN.md §3). This codec checks
everything the schema says and what it cannot say: PNC ID, CRO number and ASN check
characters (`exchange.identifiers`), real calendar dates, assigned ISO 3166 codes, known DNA
loci and well-formed allele values (`exchange.loci`), finite face-template values. Every
failure is a `CodecError` whose `field` is a path into the record (`dna.loci.vWA[1]`).

Sans-IO (STYLE.md §1): `decode(bytes) -> PersonRecord`, `encode(PersonRecord) -> bytes`.
Fingerprints may come as per-finger minutiae lists or as a base64 ANSI/NIST-ITL transaction;
the latter is decoded by `exchange.codecs.ansi_nist`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from exchange.codecs import ansi_nist
from exchange.codecs.errors import (
    CodecError,
    HostileInputError,
    NumberTooLongError,
    OversizeInputError,
)
from exchange.codecs.face_template import check_template
from exchange.countries import CountryError, normalise_country
from exchange.identifiers import IdentifierError, parse_asn, parse_cro, parse_pnc
from exchange.loci import LocusError, normalise_allele, normalise_alleles, normalise_locus
from exchange.model import (
    BiometricImage,
    DnaProfile,
    FaceTemplate,
    Finger,
    FingerprintSet,
    Identifiers,
    Impression,
    Minutia,
    MinutiaKind,
    PartialDate,
    PersonName,
    PersonRecord,
    SampleType,
    Sex,
)
from matchers import face_image

MAX_RECORD_BYTES = 16 * 1024 * 1024
IMAGE_COMPRESSIONS = frozenset({"NONE", "WSQ20", "JPEGB", "JPEGL", "JP2", "JP2L", "PNG"})
# A face picture's ANSI/NIST compression codes, by the format they are (ISO/IEC 19794-5 and
# ANSI/NIST-ITL Type-10 carry JPEG and JPEG 2000; PNG is ANSI/NIST-ITL 1-2011's too).
FACE_COMPRESSIONS: dict[str, face_image.ImageFormat] = {
    "JPEGB": "jpeg", "JPEGL": "jpeg", "JP2": "jp2", "JP2L": "jp2", "PNG": "png",
}  # fmt: skip
FACE_IMAGE_FORMATS = frozenset({"jpeg", "jp2", "png"})
_COMPRESSION_OF_FORMAT = {"jpeg": "JPEGB", "jp2": "JP2", "png": "PNG"}
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/\-]{0,127}$")
_FEATURE_MODEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
# What a string may not hold: C0 controls and DEL (tab, LF and CR too: no field is
# multi-line), and what XML 1.0 cannot carry at all (§2.2 Char: lone surrogates, U+FFFE,
# U+FFFF), so that every string of a record can go into a Prüm message and the audit log.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")

T = TypeVar("T")


# --- small typed readers; each raises CodecError with the field path -----------------------


def _obj(value: Any, path: str, allowed: frozenset[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise CodecError(path or "record", "must be an object")
    for key in value:
        if key not in allowed:
            raise CodecError(_join(path, key), "unknown field")
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _str(value: Any, path: str, *, max_len: int = 200) -> str:
    if not isinstance(value, str):
        raise CodecError(path, "must be a string")
    if not value.strip():
        raise CodecError(path, "must not be empty")
    if len(value) > max_len:
        raise CodecError(path, f"longer than {max_len} characters")
    if bad := _CONTROL.search(value):
        raise CodecError(path, f"contains U+{ord(bad[0]):04X}, which a record may not hold")
    return value


def checked_text(value: Any, path: str, *, max_len: int = 200) -> str:
    """A non-empty one-line string that XML 1.0 and the audit log can carry, as a record's are.

    For the strings beside a record that go as far (a search's case reference).
    """
    return _str(value, path, max_len=max_len)


def _int(value: Any, path: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise CodecError(path, "must be an integer")
    if not lo <= value <= hi:
        raise CodecError(path, f"must be between {lo} and {hi}")
    return value


def _list(value: Any, path: str, max_items: int) -> list[Any]:
    if not isinstance(value, list):
        raise CodecError(path, "must be an array")
    if len(value) > max_items:
        raise CodecError(path, f"more than {max_items} items")
    return value


def _b64(value: Any, path: str) -> bytes:
    """Strict base64 (RFC 4648 alphabet, padding only at the end, nothing else at all).

    Not through `_str`: its control-character scan and `strip` copy cost more than the
    decode on a 2.7 kB face template, and strict mode refuses every character outside the
    alphabet anyway. Strict mode accepts exactly what `base64.b64decode(validate=True)`
    accepts (the same checks in C, without its regular expression over the text).
    """
    if not isinstance(value, str):
        raise CodecError(path, "must be a string")
    if not value:
        raise CodecError(path, "must not be empty")
    if len(value) > MAX_RECORD_BYTES:
        raise CodecError(path, f"longer than {MAX_RECORD_BYTES} characters")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except (binascii.Error, ValueError) as exc:  # ValueError: a non-ASCII character
        raise CodecError(path, "is not valid base64") from exc


def _checked(parse: Callable[[str], T], value: Any, path: str) -> T:
    try:
        return parse(_str(value, path))
    except (IdentifierError, CountryError, LocusError) as exc:
        raise CodecError(path, str(exc)) from exc


# --- decoding -----------------------------------------------------------------------------

_TOP = frozenset(
    {
        "reference", "identifiers", "name", "aliases", "date_of_birth", "sex",
        "nationalities", "place_of_birth", "dna", "fingerprints", "face",
    }
)  # fmt: skip


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CodecError(key, "appears twice in one object")
        out[key] = value
    return out


def parse_json(data: bytes, *, max_bytes: int = MAX_RECORD_BYTES) -> Any:
    """Parse untrusted JSON: size limit, no duplicate keys, runaway nesting refused."""
    if len(data) > max_bytes:
        raise OversizeInputError("record", f"larger than {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CodecError("record", f"not UTF-8 at byte {exc.start}", offset=exc.start) from exc
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates)
    except RecursionError as exc:
        raise HostileInputError("record", "nested too deeply") from exc
    except json.JSONDecodeError as exc:
        raise CodecError("record", f"invalid JSON: {exc.msg} at line {exc.lineno}") from exc
    except CodecError:  # a key twice (`_reject_duplicates`)
        raise
    except ValueError as exc:  # an integer longer than int() converts (CVE-2020-10735)
        limit = sys.get_int_max_str_digits()
        raise NumberTooLongError(
            _long_number_path(text, limit), f"an integer of more than {limit} digits"
        ) from exc


class _LongNumber:
    """Where an integer too long to convert stood, while its path is looked for."""


def _long_number_path(text: str, limit: int) -> str:
    """The path of the first integer of more than `limit` digits in JSON `text`, or `record`.

    Only on the refusal path: the text is parsed again, each integer through a Python hook
    (slower than the default, so not on every request), to say which field held it.
    """

    def parse_int(digits: str) -> Any:
        return _LongNumber() if len(digits.lstrip("-")) > limit else int(digits)

    try:
        return _path_to(json.loads(text, parse_int=parse_int), "") or "record"
    except (RecursionError, ValueError):  # nested too deeply, or broken, after the number
        return "record"


def _path_to(value: Any, path: str) -> str | None:
    if isinstance(value, _LongNumber):
        return path
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = [(_join(path, key), v) for key, v in value.items()]
    elif isinstance(value, list):
        items = [(f"{path}[{i}]", v) for i, v in enumerate(value)]
    for sub_path, sub in items:
        found = _path_to(sub, sub_path)
        if found is not None:
            return found
    return None


def decode(data: bytes) -> PersonRecord:
    """Decode and check one UK person record."""
    return record_from_json(parse_json(data))


def record_from_json(doc: Any) -> PersonRecord:
    """Check an already parsed JSON value (used by the gateway on request bodies)."""
    obj = _obj(doc, "", _TOP)
    identifiers = _identifiers(obj.get("identifiers"), "identifiers")
    reference = None
    if "reference" in obj:
        reference = _str(obj["reference"], "reference", max_len=128)
        if not _REFERENCE.match(reference):
            raise CodecError("reference", "must be 1-128 of A-Z a-z 0-9 . _ : / -")
    if reference is None and not (identifiers.pnc_id or identifiers.cro_number or identifiers.asn):
        raise CodecError("identifiers", "a record needs a PNC ID, CRO number, ASN or reference")
    aliases = _list(obj.get("aliases", []), "aliases", 20)
    nationalities = _list(obj.get("nationalities", []), "nationalities", 5)
    return PersonRecord(
        identifiers=identifiers,
        reference=reference,
        name=_name(obj["name"], "name") if "name" in obj else None,
        aliases=tuple(_name(a, f"aliases[{i}]") for i, a in enumerate(aliases)),
        date_of_birth=_date(obj["date_of_birth"], "date_of_birth")
        if "date_of_birth" in obj
        else None,
        sex=_sex(obj.get("sex", "U")),
        nationalities=tuple(
            _checked(normalise_country, n, f"nationalities[{i}]")
            for i, n in enumerate(nationalities)
        ),
        place_of_birth=_str(obj["place_of_birth"], "place_of_birth")
        if "place_of_birth" in obj
        else None,
        dna=_dna(obj["dna"], "dna") if "dna" in obj else None,
        fingerprints=_fingerprints(obj["fingerprints"], "fingerprints")
        if "fingerprints" in obj
        else None,
        face=_face(obj["face"], "face") if "face" in obj else None,
    )


def _identifiers(value: Any, path: str) -> Identifiers:
    if value is None:
        return Identifiers()
    obj = _obj(value, path, frozenset({"pnc_id", "cro_number", "asn"}))
    return Identifiers(
        pnc_id=_checked(parse_pnc, obj["pnc_id"], f"{path}.pnc_id") if "pnc_id" in obj else None,
        cro_number=_checked(parse_cro, obj["cro_number"], f"{path}.cro_number")
        if "cro_number" in obj
        else None,
        asn=_checked(parse_asn, obj["asn"], f"{path}.asn") if "asn" in obj else None,
    )


def _name(value: Any, path: str) -> PersonName:
    obj = _obj(value, path, frozenset({"family", "given"}))
    if "family" not in obj:
        raise CodecError(f"{path}.family", "is required")
    given = _list(obj.get("given", []), f"{path}.given", 10)
    return PersonName(
        family=_str(obj["family"], f"{path}.family", max_len=100).strip(),
        given=tuple(
            _str(g, f"{path}.given[{i}]", max_len=100).strip() for i, g in enumerate(given)
        ),
    )


def parse_partial_date(value: str, path: str) -> PartialDate:
    """`YYYY`, `YYYY-MM` or `YYYY-MM-DD`, a real calendar date from 1850 on."""
    m = _DATE.match(value)
    if m is None:
        raise CodecError(path, "must be YYYY, YYYY-MM or YYYY-MM-DD")
    year = int(m[1])
    month = int(m[2]) if m[2] else None
    day = int(m[3]) if m[3] else None
    if year < 1850:
        raise CodecError(path, "year before 1850")
    try:
        dt.date(year, 1 if month is None else month, 1 if day is None else day)
    except ValueError as exc:
        raise CodecError(path, f"not a calendar date: {exc}") from exc
    return PartialDate(year, month, day)


def _date(value: Any, path: str) -> PartialDate:
    return parse_partial_date(_str(value, path, max_len=10), path)


def _sex(value: Any) -> Sex:
    try:
        return Sex(value)
    except ValueError as exc:
        raise CodecError("sex", "must be M, F or U") from exc


def _dna(value: Any, path: str) -> DnaProfile:
    obj = _obj(value, path, frozenset({"kit", "sample_type", "loci"}))
    try:
        sample_type = SampleType(str(obj.get("sample_type")))
    except ValueError as exc:
        raise CodecError(f"{path}.sample_type", "must be reference or stain") from exc
    loci_obj = obj.get("loci")
    if not isinstance(loci_obj, dict) or not loci_obj:
        raise CodecError(f"{path}.loci", "must be a non-empty object of locus -> alleles")
    loci: dict[str, tuple[str, ...]] = {}
    for raw_name, alleles in loci_obj.items():
        lpath = f"{path}.loci.{raw_name}"
        try:
            name = normalise_locus(raw_name)
        except LocusError as exc:
            raise CodecError(lpath, str(exc)) from exc
        if name in loci:
            raise CodecError(lpath, f"locus {name} given twice (under another spelling)")
        values = _list(alleles, lpath, 3)
        for i, v in enumerate(values):
            if not isinstance(v, str):
                raise CodecError(f"{lpath}[{i}]", "allele values must be strings")
        try:
            loci[name] = normalise_alleles(name, values)
        except LocusError as exc:
            bad = _first_bad_allele(name, values)
            raise CodecError(f"{lpath}[{bad}]" if bad is not None else lpath, str(exc)) from exc
    kit = _str(obj["kit"], f"{path}.kit", max_len=64) if "kit" in obj else None
    return DnaProfile(sample_type=sample_type, loci=loci, kit=kit)


def _first_bad_allele(locus: str, values: list[str]) -> int | None:
    for i, v in enumerate(values):
        try:
            normalise_allele(locus, v)
        except LocusError:
            return i
    return None


def _image(value: Any, path: str) -> BiometricImage:
    obj = _obj(value, path, frozenset({"compression", "data", "width", "height", "ppi"}))
    compression = obj.get("compression")
    # A list or object here is no code (and unhashable: `in` on a set would raise TypeError).
    if not isinstance(compression, str) or compression not in IMAGE_COMPRESSIONS:
        raise CodecError(f"{path}.compression", f"must be one of {sorted(IMAGE_COMPRESSIONS)}")
    for key in ("data", "width", "height"):
        if key not in obj:
            raise CodecError(f"{path}.{key}", "is required")
    return BiometricImage(
        data=_b64(obj["data"], f"{path}.data"),
        compression=compression,
        width=_int(obj["width"], f"{path}.width", 1, 65535),
        height=_int(obj["height"], f"{path}.height", 1, 65535),
        ppi=_int(obj.get("ppi", 500), f"{path}.ppi", 100, 4000),
    )


def _minutia(value: Any, path: str) -> Minutia:
    obj = _obj(value, path, frozenset({"x", "y", "angle", "type", "quality"}))
    for key in ("x", "y", "angle"):
        if key not in obj:
            raise CodecError(f"{path}.{key}", "is required")
    try:
        kind = MinutiaKind(obj.get("type", "A"))
    except ValueError as exc:
        raise CodecError(f"{path}.type", "must be A, B, C or D") from exc
    return Minutia(
        x=_int(obj["x"], f"{path}.x", 0, 65535),
        y=_int(obj["y"], f"{path}.y", 0, 65535),
        angle=_int(obj["angle"], f"{path}.angle", 0, 359),
        kind=kind,
        quality=_int(obj.get("quality", 100), f"{path}.quality", 0, 100),
    )


def _finger(value: Any, path: str) -> Finger:
    obj = _obj(value, path, frozenset({"position", "minutiae", "image"}))
    if "position" not in obj:
        raise CodecError(f"{path}.position", "is required")
    minutiae = _list(obj.get("minutiae", []), f"{path}.minutiae", 255)
    finger = Finger(
        position=_int(obj["position"], f"{path}.position", 0, 38),
        minutiae=tuple(_minutia(m, f"{path}.minutiae[{i}]") for i, m in enumerate(minutiae)),
        image=_image(obj["image"], f"{path}.image") if "image" in obj else None,
    )
    if not finger.minutiae and finger.image is None:
        raise CodecError(path, "a finger needs minutiae or an image")
    return finger


def _fingerprints(value: Any, path: str) -> FingerprintSet:
    obj = _obj(value, path, frozenset({"impression", "ppi", "ansi_nist", "fingers"}))
    try:
        impression = Impression(obj.get("impression", "rolled"))
    except ValueError as exc:
        raise CodecError(
            f"{path}.impression", f"must be one of {[i.value for i in Impression]}"
        ) from exc
    ppi = _int(obj.get("ppi", 500), f"{path}.ppi", 100, 4000)
    if ("ansi_nist" in obj) == ("fingers" in obj):
        raise CodecError(path, "needs exactly one of ansi_nist or fingers")
    if "ansi_nist" in obj:
        return _fingerprints_from_ansi_nist(
            _b64(obj["ansi_nist"], f"{path}.ansi_nist"), f"{path}.ansi_nist"
        )
    fingers_raw = _list(obj["fingers"], f"{path}.fingers", 99)
    if not fingers_raw:
        raise CodecError(f"{path}.fingers", "must not be empty")
    fingers = tuple(_finger(f, f"{path}.fingers[{i}]") for i, f in enumerate(fingers_raw))
    positions = [f.position for f in fingers if f.position != 0]
    if len(positions) != len(set(positions)):
        raise CodecError(f"{path}.fingers", "a finger position appears twice")
    return FingerprintSet(fingers=fingers, impression=impression, ppi=ppi)


def _fingerprints_from_ansi_nist(data: bytes, path: str) -> FingerprintSet:
    try:
        fps: FingerprintSet = ansi_nist.fingerprints_from_bytes(data)
    except CodecError as exc:
        raise CodecError(f"{path}/{exc.field}", exc.reason, offset=exc.offset) from exc
    return fps


def _face(value: Any, path: str) -> FaceTemplate:
    """A template tagged with its model, an image, or both (an image alone: the node that
    searches or enrols it extracts its own template, DESIGN.md §3)."""
    obj = _obj(value, path, frozenset({"feature_model", "template", "image"}))
    image = _face_image(obj["image"], f"{path}.image") if "image" in obj else None
    if "template" not in obj:
        if image is None:
            raise CodecError(f"{path}.template", "is required (or an image)")
        if "feature_model" in obj:
            raise CodecError(f"{path}.feature_model", "given without a template")
        return FaceTemplate(feature_model="", vector=b"", image=image)
    if "feature_model" not in obj:
        raise CodecError(f"{path}.feature_model", "is required with a template")
    model = _str(obj["feature_model"], f"{path}.feature_model", max_len=128)
    if not _FEATURE_MODEL.match(model):
        raise CodecError(f"{path}.feature_model", "must be 1-128 of A-Z a-z 0-9 . _ : -")
    return FaceTemplate(
        feature_model=model,
        vector=check_template(_b64(obj["template"], f"{path}.template"), f"{path}.template"),
        image=image,
    )


def _face_image(value: Any, path: str) -> BiometricImage:
    """`{format: jpeg|jp2|png, data: base64}` (or the ANSI/NIST `compression` code); the size
    is read from the image's header (given, it must agree), no pixel is decoded here."""
    keys = frozenset({"format", "compression", "data", "width", "height", "ppi"})
    obj = _obj(value, path, keys)
    if "data" not in obj:
        raise CodecError(f"{path}.data", "is required")
    declared = obj.get("format")
    # Strings only: a list or object is unhashable and `in` on a set would raise TypeError.
    if declared is not None and (
        not isinstance(declared, str) or declared not in FACE_IMAGE_FORMATS
    ):
        raise CodecError(f"{path}.format", f"must be one of {sorted(FACE_IMAGE_FORMATS)}")
    compression = obj.get("compression")
    if compression is not None and (
        not isinstance(compression, str) or compression not in FACE_COMPRESSIONS
    ):
        raise CodecError(f"{path}.compression", f"must be one of {sorted(FACE_COMPRESSIONS)}")
    data = _b64(obj["data"], f"{path}.data")
    try:
        header = face_image.read_header(data)
    except face_image.FaceImageError as exc:
        raise CodecError(f"{path}.data", exc.reason) from exc
    if declared is not None and declared != header.format:
        raise CodecError(f"{path}.format", f"says {declared}, the data is {header.format}")
    if compression is not None and FACE_COMPRESSIONS[compression] != header.format:
        raise CodecError(f"{path}.compression", f"says {compression}, the data is {header.format}")
    for key, actual in (("width", header.width), ("height", header.height)):
        if key in obj and _int(obj[key], f"{path}.{key}", 1, 65535) != actual:
            raise CodecError(f"{path}.{key}", f"says {obj[key]}, the image has {actual}")
    return BiometricImage(
        data=data,
        compression=compression or _COMPRESSION_OF_FORMAT[header.format],
        width=header.width,
        height=header.height,
        ppi=_int(obj.get("ppi", 500), f"{path}.ppi", 100, 4000),
    )


# --- encoding -----------------------------------------------------------------------------


def format_partial_date(d: PartialDate) -> str:
    out = f"{d.year:04d}"
    if d.month is not None:
        out += f"-{d.month:02d}"
        if d.day is not None:
            out += f"-{d.day:02d}"
    return out


def _name_json(n: PersonName) -> dict[str, Any]:
    out: dict[str, Any] = {"family": n.family}
    if n.given:
        out["given"] = list(n.given)
    return out


def _image_json(img: BiometricImage) -> dict[str, Any]:
    return {
        "compression": img.compression,
        "data": base64.b64encode(img.data).decode("ascii"),
        "width": img.width,
        "height": img.height,
        "ppi": img.ppi,
    }


def _face_image_json(img: BiometricImage) -> dict[str, Any]:
    out = _image_json(img)
    out.pop("ppi")
    fmt = FACE_COMPRESSIONS.get(img.compression)
    if fmt is not None:
        out["format"] = fmt
    return out


def _finger_json(f: Finger) -> dict[str, Any]:
    out: dict[str, Any] = {"position": f.position}
    if f.minutiae:
        out["minutiae"] = [
            {"x": m.x, "y": m.y, "angle": m.angle, "type": m.kind.value, "quality": m.quality}
            for m in f.minutiae
        ]
    if f.image is not None:
        out["image"] = _image_json(f.image)
    return out


def record_to_json(record: PersonRecord) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if record.reference is not None:
        out["reference"] = record.reference
    ids = {
        k: v
        for k, v in (
            ("pnc_id", record.identifiers.pnc_id),
            ("cro_number", record.identifiers.cro_number),
            ("asn", record.identifiers.asn),
        )
        if v is not None
    }
    if ids:
        out["identifiers"] = ids
    if record.name is not None:
        out["name"] = _name_json(record.name)
    if record.aliases:
        out["aliases"] = [_name_json(a) for a in record.aliases]
    if record.date_of_birth is not None:
        out["date_of_birth"] = format_partial_date(record.date_of_birth)
    out["sex"] = record.sex.value
    if record.nationalities:
        out["nationalities"] = list(record.nationalities)
    if record.place_of_birth is not None:
        out["place_of_birth"] = record.place_of_birth
    if record.dna is not None:
        dna: dict[str, Any] = {"sample_type": record.dna.sample_type.value}
        if record.dna.kit is not None:
            dna["kit"] = record.dna.kit
        dna["loci"] = {name: list(alleles) for name, alleles in record.dna.loci.items()}
        out["dna"] = dna
    if record.fingerprints is not None:
        fps = record.fingerprints
        out["fingerprints"] = {
            "impression": fps.impression.value,
            "ppi": fps.ppi,
            "fingers": [_finger_json(f) for f in fps.fingers],
        }
    if record.face is not None:
        face: dict[str, Any] = {}
        if record.face.vector:
            face["feature_model"] = record.face.feature_model
            face["template"] = base64.b64encode(record.face.vector).decode("ascii")
        if record.face.image is not None:
            face["image"] = _face_image_json(record.face.image)
        out["face"] = face
    return out


def encode(record: PersonRecord) -> bytes:
    """The record as UTF-8 JSON, indented for people to read."""
    return (json.dumps(record_to_json(record), ensure_ascii=False, indent=2) + "\n").encode("utf-8")
