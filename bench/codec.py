"""Codec benchmark: messages per second for encode + validate + decode of each message type.

What it measures, on what data:
- For each Prüm message type built from the shipped example UK record (DNA-17 profile,
  10-finger minutiae set, 512-d face template, core data; a synthetic person of the same
  shape when the repository's examples/ is not there) and for a search reply with 10
  candidates: the full cycle `prum_xml.encode` (which validates) then `prum_xml.decode`
  (safe parse + validate + map), in messages per second, single-threaded.
- The baseline in the same run: validation alone of the same documents by libxml2 (lxml, the
  hot path) and by xmlschema (the explainer), and the ratio between them.
- How long each hostile input takes to be refused (XXE, billion laughs, 10,000-deep
  nesting, a 100 MB body).
- UK JSON decode + encode of the example record.
- ANSI/NIST-ITL: a 10-finger CPS transaction read and written by our codec against the
  independent `nistitl` package in the same run (`bench.codec_ansi_nist`).

`prum-exchange bench codec [--quick] [--out DIR]` prints a table and writes `codec.json`.
"""

from __future__ import annotations

import datetime as dt
import json
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lxml import etree

import schemas
from exchange.codecs import prum_xml, uk_json
from exchange.codecs.errors import CodecError
from exchange.model import (
    Candidate,
    Envelope,
    Header,
    MatchType,
    MessageType,
    Modality,
    ProbeResult,
    Purpose,
    SearchReply,
)
from exchange.option_types import OneLineParser
from exchange.outputs import BENCH_OUT
from exchange.translate import Outbound, record_to_envelope

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "uk-record.json"


def example_record_bytes() -> bytes:
    """The shipped example record in a checkout; a synthetic person of the same shape when
    installed without the repository (`pip install .` ships no examples/)."""
    if EXAMPLE.is_file():
        return EXAMPLE.read_bytes()
    from mock_partners import population

    return uk_json.encode(population.person(2026, 1).record)


T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _rate(fn: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Calls per second of `fn`, run for about `seconds` (at least 20 calls)."""
    n = 0
    started = time.perf_counter()
    deadline = started + seconds
    while n < 20 or time.perf_counter() < deadline:
        fn()
        n += 1
    elapsed = time.perf_counter() - started
    return n / elapsed, n


def _messages() -> dict[str, Envelope]:
    record = uk_json.decode(example_record_bytes())
    out = {
        kind: record_to_envelope(record, Outbound(timestamp=T0, message=kind))
        for kind in ("dna-search", "dacty-search", "face-search", "core-data")
    }
    reply = SearchReply(
        "msg-1",
        Modality.DNA,
        (
            ProbeResult(
                "GB-1",
                tuple(
                    Candidate(f"DE-{i:06d}", 1.0, MatchType.FULL, False, 16, 0) for i in range(10)
                ),
            ),
        ),
    )
    header = Header("msg-2", "c-1", T0, "DE", "GB", MessageType.SEARCH_REPLY, Purpose.INVESTIGATION)
    out["search-reply"] = Envelope(header, reply)
    return out


def _hostile() -> dict[str, bytes]:
    laughs = (
        b'<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            b'<!ENTITY %s "%s">'
            % (f"a{i}".encode(), (b"&a%d;" % (i - 1) if i > 1 else b"&a;") * 10)
            for i in range(1, 9)
        )
        + b"]><Message>&a8;</Message>"
    )
    return {
        "xxe": b'<!DOCTYPE m [<!ENTITY x SYSTEM "file:///etc/passwd">]><Message>&x;</Message>',
        "billion-laughs": laughs,
        "10000-deep": b"<a>" * 10_000 + b"</a>" * 10_000,
        "100MB-body": b"<a>" + b"x" * (100 * 1024 * 1024) + b"</a>",
    }


def run(quick: bool) -> dict[str, Any]:
    seconds = 0.3 if quick else 2.0
    results: dict[str, Any] = {"messages": [], "hostile": [], "uk_json": {}}
    lxml_schema = schemas.xsd(schemas.PRUM_ENVELOPE)
    explainer = schemas.xsd_explainer(schemas.PRUM_ENVELOPE)
    for name, env in _messages().items():
        data = prum_xml.encode(env)
        doc = etree.fromstring(data)

        def cycle(env: Envelope = env) -> object:
            return prum_xml.decode(prum_xml.encode(env))

        cycle_rate, _ = _rate(cycle, seconds)

        def lxml_validate(doc: etree._Element = doc) -> object:
            return lxml_schema.validate(doc)

        def xmlschema_validate(text: str = data.decode()) -> object:
            return explainer.is_valid(text)

        lxml_rate, _ = _rate(lxml_validate, seconds)
        xs_rate, _ = _rate(xmlschema_validate, seconds)
        results["messages"].append(
            {
                "message": name,
                "bytes": len(data),
                "encode_validate_decode_per_s": round(cycle_rate, 1),
                "lxml_validate_per_s": round(lxml_rate, 1),
                "xmlschema_validate_per_s": round(xs_rate, 1),
                "lxml_over_xmlschema": round(lxml_rate / xs_rate, 1),
            }
        )
    for name, data in _hostile().items():
        started = time.perf_counter()
        try:
            prum_xml.decode(data)
            refused = False
        except CodecError:
            refused = True
        results["hostile"].append(
            {"input": name, "bytes": len(data), "refused": refused,
             "ms": round((time.perf_counter() - started) * 1000, 3)}
        )  # fmt: skip
    raw = example_record_bytes()
    rec = uk_json.decode(raw)
    results["uk_json"] = {
        "record_bytes": len(raw),
        "decode_per_s": round(_rate(lambda: uk_json.decode(raw), seconds)[0], 1),
        "encode_per_s": round(_rate(lambda: uk_json.encode(rec), seconds)[0], 1),
    }
    results["ansi_nist"] = _ansi_nist(quick)
    results["meta"] = {
        "benchmark": "codec",
        "quick": quick,
        "seconds_per_measure": seconds,
        "python": platform.python_version(),
        "lxml": ".".join(map(str, etree.LXML_VERSION)),
        "libxml2": ".".join(map(str, etree.LIBXML_VERSION)),
        "machine": platform.machine(),
        "baseline": "xmlschema validation of the same documents, same process",
    }
    return results


def _ansi_nist(quick: bool) -> list[dict[str, object]] | str:
    """ANSI/NIST-ITL reader and writer against nistitl (a test dependency) in the same run."""
    try:
        from bench import codec_ansi_nist
    except ImportError as exc:  # nistitl comes with the `test` extra
        return f"skipped: {exc}; install prum-exchange[test] for the nistitl baseline"
    return codec_ansi_nist.run(quick)


def _print(results: dict[str, Any]) -> None:
    print("Prüm XML codec: encode+validate+decode per message type (1 thread), and validation")
    print("alone by libxml2 (lxml, hot path) vs xmlschema (baseline, explainer), same documents.")
    head = ("message", "bytes", "cycle/s", "lxml val/s", "xmlschema/s", "ratio")
    print(f"{head[0]:<14}{head[1]:>8}{head[2]:>10}{head[3]:>12}{head[4]:>13}{head[5]:>8}")
    for m in results["messages"]:
        print(
            f"{m['message']:<14}{m['bytes']:>8}{m['encode_validate_decode_per_s']:>10}"
            f"{m['lxml_validate_per_s']:>12}{m['xmlschema_validate_per_s']:>13}"
            f"{m['lxml_over_xmlschema']:>7}x"
        )
    print("Hostile input, time to a typed refusal:")
    for h in results["hostile"]:
        print(f"  {h['input']:<16}{h['bytes']:>12} bytes  refused={h['refused']}  {h['ms']} ms")
    an = results["ansi_nist"]
    if isinstance(an, str):
        print(f"ANSI/NIST-ITL: {an}")
    else:
        print("ANSI/NIST-ITL 10-finger CPS, transactions/s (ours vs nistitl, same bytes):")
        for row in an:
            print("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
    u = results["uk_json"]
    print(
        f"UK JSON record ({u['record_bytes']} bytes): decode {u['decode_per_s']}/s, "
        f"encode {u['encode_per_s']}/s"
    )


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench codec", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short measurements")
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    args = parser.parse_args(argv)
    results = run(args.quick)
    _print(results)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "codec.json"
    target.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {target}")
    return 0
