"""What the adapter makes of files other people wrote: read, translated, round trip.

For every transaction, minutiae record and INT-I sample in a folder of third-party sample
files (not in the repository: `--shared DIR` names the folder holding `thirdparty/`; by
default a `shared/` folder beside the checkout, when there is one), one row:

- **read**: what the file's own codec reads (TOT and record types, or the record's format and
  views), or the typed refusal (record and field);
- one column per `translate` target: `ok`, `ok (n lost)` where the conversion names what it
  could not carry (the stderr line of the CLI), `refused: ...` with the typed reason, or `-`
  where the target is the source format;
- **round trip**: the file read -> written by our codec -> read again gives the same model
  (`same`), or what differed.

Images and face records (`*.jpg`, `*.jp2`, `*.iso2005` face records) are not listed.

    prum-exchange bench interop [--shared DIR] [--out DIR]

Writes `interop.json` and `interop.md` (the table) into `--out`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from exchange.codecs import ansi_nist_records, int_i_xml, minutiae_records
from exchange.codecs.errors import CodecError
from exchange.option_types import OneLineParser
from exchange.outputs import BENCH_OUT
from exchange.translate import FORMATS, TranslateError, translation

_ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("uk-json", "prum-xml", "ansi-nist", "int-i-xml", "int-i")


@dataclass(frozen=True, slots=True)
class Source:
    path: Path
    fmt: str  # the translate source format
    read: Callable[[bytes], str]  # a summary of what the codec reads, or CodecError
    round_trip: Callable[[bytes], str]


def _ansi_nist_read(data: bytes) -> str:
    tx = ansi_nist_records.decode_transaction(data)
    types = sorted({r.type for r in tx.records})
    version, tot = tx.text(2), tx.text(4)
    return f"{tot} (version {version}), records {','.join(map(str, types))}"


def _ansi_nist_round_trip(data: bytes) -> str:
    tx = ansi_nist_records.decode_transaction(data)
    again = ansi_nist_records.decode_transaction(ansi_nist_records.encode_transaction(tx))
    return "same" if again == tx else "differs"


def _fmr_read(data: bytes) -> str:
    record = minutiae_records.decode(data, lenient_tail=True)
    minutiae = sum(len(v.minutiae) for v in record.views)
    return f"{record.format.value}, {len(record.views)} views, {minutiae} minutiae"


def _fmr_round_trip(data: bytes) -> str:
    record = minutiae_records.decode(data, lenient_tail=True)
    # Written as read: the miscounted last block of NIST's samples too, so read it the same way.
    again = minutiae_records.decode(minutiae_records.encode(record), lenient_tail=True)
    return "same" if again == record else "differs"


def _int_i_read(data: bytes) -> str:
    tx = int_i_xml.decode(data)
    types = sorted({r.record_type for r in tx.records})
    return f"{tx.tot}" + (f", records {','.join(map(str, types))}" if types else "")


def _int_i_round_trip(data: bytes) -> str:
    tx = int_i_xml.decode(data)
    return "same" if int_i_xml.decode(int_i_xml.encode(tx)) == tx else "differs"


def sources(thirdparty: Path) -> list[Source]:
    found: list[Source] = []
    nist = sorted(thirdparty.glob("*/*.an2k")) + sorted(thirdparty.glob("*/*.eft"))
    found += [Source(p, "ansi-nist", _ansi_nist_read, _ansi_nist_round_trip) for p in nist]
    for p in sorted(thirdparty.glob("*/fmr.*")):
        fmt = "iso-19794-2-2005" if p.suffix.startswith(".iso") else "incits-378-2004"
        found.append(Source(p, fmt, _fmr_read, _fmr_round_trip))
    samples = sorted((thirdparty / "interpol-int-i" / "XMLsamples").glob("*.xml"))
    found += [Source(p, "int-i-xml", _int_i_read, _int_i_round_trip) for p in samples]
    return found


def _cell(run: Callable[[], str]) -> str:
    try:
        return run()
    except (CodecError, TranslateError) as exc:
        return f"refused: {str(exc)[:90]}"


def _translated(data: bytes, source: str, target: str) -> str:
    if target == source:
        return "-"

    def run() -> str:
        result = translation(data, source, target)
        lost = len(result.losses.dropped) + len(result.losses.changed)
        return f"ok ({lost} lost)" if lost else "ok"

    return _cell(run)


def table(thirdparty: Path) -> list[dict[str, str]]:
    rows = []
    for s in sources(thirdparty):
        data = s.path.read_bytes()
        row = {"file": f"{s.path.parent.name}/{s.path.name}", "read": _cell(partial(s.read, data))}
        for target in TARGETS:
            row[target] = _translated(data, s.fmt, target)
        row["round trip"] = _cell(partial(s.round_trip, data))
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no third-party files found)\n"
    heads = list(rows[0])
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    lines += ["| " + " | ".join(r[h].replace("|", "/") for h in heads) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _default_thirdparty() -> Path | None:
    for parent in _ROOT.parents:
        if (parent / "shared" / "thirdparty").is_dir():
            return parent / "shared" / "thirdparty"
    return None


def main(argv: list[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench interop", description=__doc__)
    parser.add_argument(
        "--shared",
        type=Path,
        help="the folder holding thirdparty/ (default: shared/ beside the checkout)",
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    args = parser.parse_args(argv)
    thirdparty = args.shared / "thirdparty" if args.shared else _default_thirdparty()
    if thirdparty is None or not thirdparty.is_dir():
        parser.error(
            "no folder of third-party samples found: --shared DIR, DIR holding thirdparty/"
        )
    rows = table(thirdparty)
    text = markdown(rows)
    print(text, end="")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "interop.json").write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    (args.out / "interop.md").write_text(text, encoding="utf-8")
    print(f"wrote {args.out / 'interop.md'} (formats: {', '.join(FORMATS)})")
    return 0
