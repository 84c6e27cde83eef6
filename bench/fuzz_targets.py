"""The fuzz targets of `bench.fuzz_ansi_nist`: one codec each, and what it must do with any input.

A target's `check(data, rnd)` decodes one input and returns the name of its outcome
(`decoded`, `refused:<field>`, ...); it raises on a finding. Every target allows only the
typed errors (`CodecError` and its subclasses; `translate` also its `TranslateError`), and
checks that what decodes writes back and reads again to the same thing, after at most one
normalising trip where the writer says a reading differently (INCITS 378 minutiae become
9.012 ones, quality moves onto the 2-63 scale, GMT becomes UTC).

- `records`: `ansi_nist_records` read, write, read again: the same `Transaction`.
- `messages`: `ansi_nist_messages.decode`, encode, decode: a fixed point.
- `prints`: `ansi_nist_prints.fingerprint_set` of any transaction, written by
  `fingerprints_to_bytes` (which may refuse with CodecError) and read back by its own reader,
  which must not refuse it; then a fixed point.
- `minutiae`: `minutiae_records` decode (strict, else `lenient_tail`), encode, decode.
- `int-i-xml`: `int_i_xml.decode`; what decodes must encode, validate against Interpol's
  int-i.xsd when the input did (the encoder keeps what it does not model, so it promises a
  valid output only for a valid input), and decode to the same transaction.
- `int-i-traditional`: `int_i_traditional` decode, encode, decode: the same transaction.
- `int-i-envelope`: `int_i_envelope.decode_envelope`, then `encode_envelope` (CodecError
  allowed: INT-I and the envelope do not carry the same things), whose output int-i.xsd must
  accept; then a fixed point.
- `translate`: `exchange.translate.translation` from the input's format to every other one.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lxml import etree

from bench import fuzz_seeds as seeds
from bench.fuzz_mutations import mutate_bytes, mutate_fields, mutate_json, mutate_xml
from exchange import translate
from exchange.codecs import ansi_nist, int_i_envelope, int_i_traditional, int_i_xml
from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs import minutiae_records as fmr
from exchange.codecs.errors import CodecError
from exchange.model import FingerprintSet

STAMP = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
TYPED_ERRORS: tuple[type[Exception], ...] = (CodecError, translate.TranslateError)


class Finding(AssertionError):
    """A round trip that differs, or a promise of a codec that its output breaks."""


@contextmanager
def strict(step: str) -> Iterator[None]:
    """After a successful decode, a CodecError is a finding: what decodes must write back."""
    try:
        yield
    except CodecError as exc:
        raise Finding(f"{step}: {exc}") from exc


def refused(exc: Exception) -> str:
    if isinstance(exc, CodecError):
        return "refused:" + exc.field.split(".")[0].split("[")[0][:40]
    return "refused:" + type(exc).__name__


# --- the checks ----------------------------------------------------------------------------


def check_records(data: bytes, rnd: random.Random) -> str:
    tx = ansi_nist.decode_transaction(data)
    with strict("records write/read"):
        again = ansi_nist.decode_transaction(ansi_nist.encode_transaction(tx))
    if again != tx:
        raise Finding("records changed in a write/read round trip")
    return "decoded"


def check_messages(data: bytes, rnd: random.Random) -> str:
    envelope = messages.decode(data)
    try:
        written = messages.encode(envelope)
    except CodecError:
        return "decoded, re-encode refused"
    with strict("messages re-read"):
        normal = messages.decode(written)
        again = messages.decode(messages.encode(normal))
    if again != normal:
        raise Finding("envelope changed in an encode/decode round trip")
    return "decoded"


def _write_prints(prints: FingerprintSet, legacy: bool) -> bytes:
    return ansi_nist.fingerprints_to_bytes(
        prints,
        timestamp=STAMP,
        originator="GB",
        destination="DE",
        tcn="FUZZ-1",
        legacy_images=legacy,
    )


def check_prints(data: bytes, rnd: random.Random) -> str:
    prints = ansi_nist.fingerprints_from_bytes(data)
    legacy = rnd.random() < 0.3
    try:
        written = _write_prints(prints, legacy)
    except CodecError:
        return "decoded, re-encode refused"
    with strict("the prints writer wrote what its reader refuses"):
        normal = ansi_nist.fingerprints_from_bytes(written)
        again = ansi_nist.fingerprints_from_bytes(_write_prints(normal, legacy))
    if again != normal:
        raise Finding("prints changed in a write/read round trip")
    return "decoded"


def check_minutiae(data: bytes, rnd: random.Random) -> str:
    lenient = False
    try:
        record = fmr.decode(data)
    except CodecError:
        record = fmr.decode(data, lenient_tail=True)
        lenient = True
    with strict("minutiae encode/decode"):
        again = fmr.decode(fmr.encode(record), lenient_tail=lenient)
    if again != record:
        raise Finding("minutiae record changed in an encode/decode round trip")
    prints = fmr.to_fingerprint_set(record)  # the conversion translate makes
    try:
        fmr.encode(fmr.from_fingerprint_set(prints, record.format))
    except CodecError:
        return "decoded, set not writable"
    return "decoded (lenient)" if lenient else "decoded"


def _valid(data: bytes) -> bool | None:
    schema = seeds.int_i_schema()
    if schema is None:
        return None
    try:
        return bool(schema.validate(etree.fromstring(data)))
    except etree.XMLSyntaxError:
        return False


def _schema_error() -> str:
    schema = seeds.int_i_schema()
    err = schema.error_log.last_error if schema is not None else None
    return f"{err.path}: {err.message}" if err is not None else "invalid"


def check_int_i_xml(data: bytes, rnd: random.Random) -> str:
    tx = int_i_xml.decode(data)
    with strict("int_i_xml encode"):
        written = int_i_xml.encode(tx)
    if _valid(data) and not _valid(written):
        raise Finding(f"a valid input re-encodes to what int-i.xsd refuses: {_schema_error()}")
    with strict("int_i_xml re-decode"):
        again = int_i_xml.decode(written)
    if again != tx:
        raise Finding("INT-I transaction changed in an encode/decode round trip")
    return "decoded"


def check_int_i_traditional(data: bytes, rnd: random.Random) -> str:
    tx = int_i_traditional.decode(data)
    with strict("int_i_traditional encode/decode"):
        again = int_i_traditional.decode(int_i_traditional.encode(tx))
    if again != tx:
        raise Finding("INT-I transaction changed in a traditional encode/decode round trip")
    return "decoded"


def check_int_i_envelope(data: bytes, rnd: random.Random) -> str:
    envelope = int_i_envelope.decode_envelope(data)
    try:
        written = int_i_envelope.encode_envelope(envelope)
    except CodecError:
        return "decoded, re-encode refused"
    if _valid(written) is False:
        raise Finding(f"encode_envelope wrote what int-i.xsd refuses: {_schema_error()}")
    with strict("INT-I envelope re-read"):
        normal = int_i_envelope.decode_envelope(written)
        again = int_i_envelope.decode_envelope(int_i_envelope.encode_envelope(normal))
    if again != normal:
        raise Finding("envelope changed in an INT-I encode/decode round trip")
    return "decoded"


def check_translate(data: bytes, rnd: random.Random, source: str) -> str:
    # Mostly a pair that is a translation (a minutiae record goes to and from uk-json and on
    # to the message formats), sometimes any pair, which must be refused with a typed error.
    minutiae = translate.MINUTIAE_FORMATS
    if source == "uk-json" or rnd.random() < 0.2:
        targets = [f for f in translate.FORMATS if f != source]
    else:
        targets = [f for f in translate.FORMATS if f != source and f not in minutiae]
    target = rnd.choice(targets)
    message = "auto" if rnd.random() < 0.6 else rnd.choice(translate.MESSAGES)
    out = translate.Outbound(message=message)
    translate.translation(data, source, target, out)
    return f"translated {source}->{target}"


# --- the targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    name: str
    pools: dict[str, list[bytes]]  # seeds by input format (one format but for translate)
    check: Callable[[bytes, random.Random, str], str]
    xml: bool = False
    weights: dict[str, int] | None = None  # of the input formats, if not all the same

    def make_input(self, rnd: random.Random) -> tuple[bytes, str]:
        """One input (mutated seed, or sometimes random bytes) and its format."""
        formats = sorted(self.pools)
        weights = [(self.weights or {}).get(f, 1) for f in formats]
        fmt = rnd.choices(formats, weights)[0]
        pool = self.pools[fmt]
        if rnd.random() < 0.05:
            data = rnd.randbytes(rnd.randrange(0, 512))
            prefix = rnd.choice((b"", b"1.001:", b"FMR\x00", b"<?xml version='1.0'?>", b"{"))
            return prefix + data, fmt
        seed = rnd.choice(pool)
        xml = self.xml or fmt in {"prum-xml", "int-i-xml"}
        if xml and rnd.random() < 0.7:
            return mutate_xml(rnd, seed, pool), fmt
        if fmt == "uk-json" and rnd.random() < 0.7:
            return mutate_json(rnd, seed, pool), fmt
        if fmt in {"ansi-nist", "int-i-traditional", "int-i"} and rnd.random() < 0.5:
            data = mutate_fields(rnd, seed, pool)
            return (mutate_bytes(rnd, data, pool) if rnd.random() < 0.1 else data), fmt
        return mutate_bytes(rnd, seed, pool), fmt


def _one(
    check: Callable[[bytes, random.Random], str],
) -> Callable[[bytes, random.Random, str], str]:
    return lambda data, rnd, fmt: check(data, rnd)


def targets() -> dict[str, Target]:
    """Every target with its seeds (built once: a second or so)."""
    ansi = seeds.all_ansi_nist_seeds()
    xml = seeds.int_i_xml_seeds()
    return {
        "records": Target("records", {"ansi-nist": ansi}, _one(check_records)),
        "messages": Target("messages", {"ansi-nist": ansi}, _one(check_messages)),
        "prints": Target("prints", {"ansi-nist": ansi}, _one(check_prints)),
        "minutiae": Target("minutiae", {"fmr": seeds.minutiae_seeds()}, _one(check_minutiae)),
        "int-i-xml": Target("int-i-xml", {"int-i-xml": xml}, _one(check_int_i_xml), xml=True),
        "int-i-traditional": Target(
            "int-i-traditional",
            {"int-i-traditional": seeds.int_i_traditional_seeds()},
            _one(check_int_i_traditional),
        ),
        "int-i-envelope": Target(
            "int-i-envelope", {"int-i-xml": xml}, _one(check_int_i_envelope), xml=True
        ),
        "translate": Target(
            "translate",
            seeds.translate_seeds(),
            check_translate,
            weights={"uk-json": 3, "prum-xml": 2, "ansi-nist": 3, "int-i-xml": 2, "int-i": 2},
        ),
    }


def run_check(target: Target, data: bytes, fmt: str, rnd: random.Random) -> str:
    """The outcome of one input; raises on a finding (any exception but the typed errors)."""
    try:
        return target.check(data, rnd, fmt)
    except TYPED_ERRORS as exc:
        return refused(exc)
