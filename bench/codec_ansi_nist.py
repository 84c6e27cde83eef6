"""Throughput of the ANSI/NIST-ITL codec against nistitl 0.6 as the baseline, in the same run.

What: transactions per second for reading (bytes -> records, and bytes -> model envelope)
and writing (records -> bytes, and model envelope -> bytes) of a Prüm ten-print search (CPS,
ANSI/NIST-ITL traditional encoding, INT-I profile): 10 fingers with 60 Type-9 minutiae each,
and the same with a 20 KB opaque image per finger in Type-14 records. Baseline: the
independent `nistitl` package (IDEMIA) parsing the same bytes (`Message.parse`) and
building plus serialising the same records (`Message.NIST`). Each figure is the best of
five timed rounds, ours and the baseline interleaved within each round, so a busy machine
slows both alike and the ratio stays meaningful.

`run(quick)` returns one dict per (operation, case); `python3 -m bench.codec_ansi_nist
[--quick]` prints them as JSON.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import nistitl

from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs.ansi_nist import (
    TaggedRecord,
    Transaction,
    Type4Record,
    decode_transaction,
    encode_transaction,
)
from exchange.model import (
    BiometricImage,
    DactySearchRequest,
    Envelope,
    Finger,
    FingerprintSet,
    Header,
    MessageType,
    Minutia,
    MinutiaKind,
    Purpose,
)

MINUTIAE_PER_FINGER = 60
IMAGE_BYTES = 20_000


def sample_cps(*, images: bool, seed: int = 7) -> Envelope:
    """A ten-print CPS search request with minutiae on every finger (and images if asked)."""
    rnd = random.Random(seed)
    kinds = list(MinutiaKind)
    fingers = []
    for position in range(1, 11):
        minutiae = tuple(
            Minutia(
                rnd.randrange(800), rnd.randrange(750), rnd.randrange(360), rnd.choice(kinds), 100
            )
            for _ in range(MINUTIAE_PER_FINGER)
        )
        image = None
        if images:
            image = BiometricImage(rnd.randbytes(IMAGE_BYTES), "WSQ20", 800, 750, 500)
        fingers.append(Finger(position, minutiae, image))
    header = Header(
        message_id="GB-0000001",
        correlation_id="GB-0000001",
        timestamp=dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC),
        sender="GB/UKFP",
        receiver="DE/BKA",
        message_type=MessageType.DACTY_SEARCH_REQUEST,
        purpose=Purpose.INVESTIGATION,
    )
    return Envelope(header, DactySearchRequest("GB-REF-1", "TP/TP", FingerprintSet(tuple(fingers))))


def to_nistitl(tx: Transaction) -> Any:
    """Build the same transaction with nistitl's API (the baseline writer's work)."""
    msg = nistitl.Message()
    first = msg[0]
    for tag, value in tx.header.items():
        field = first[tag]
        if field is None:
            first += nistitl.Field(1, tag, _nistitl_value(value))
        else:
            field.value = _nistitl_value(value)
    for rec in tx.records:
        if isinstance(rec, Type4Record):
            r4 = nistitl.BinaryRecord(4)
            r4.IDC = rec.idc
            fgp = bytes(rec.positions) + b"\xff" * (6 - len(rec.positions))
            r4.value = (
                bytes([rec.impression])
                + fgp
                + bytes([rec.resolution])
                + rec.width.to_bytes(2, "big")
                + rec.height.to_bytes(2, "big")
                + bytes([rec.compression])
                + rec.data
            )
            msg += r4
            continue
        assert isinstance(rec, TaggedRecord)
        r = nistitl.AsciiRecord(rec.type)
        r.IDC = rec.idc
        for tag, value in rec.fields.items():
            r += nistitl.Field(rec.type, tag, _nistitl_value(value))
        if rec.data is not None:
            r += nistitl.BinaryField(rec.type, 999, rec.data)
        msg += r
    return msg


def _nistitl_value(value: tuple[tuple[str, ...], ...]) -> Any:
    if len(value) == 1 and len(value[0]) == 1:
        return value[0][0]
    return [list(items) for items in value]


def _rates(fns: list[Callable[[], object]], budget: float) -> list[float]:
    """Transactions per second of each function: best of 5 rounds, the functions interleaved
    within each round so that a busy neighbour on the machine slows them all alike."""
    sizes = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        once = max(time.perf_counter() - start, 1e-6)
        sizes.append(max(1, int(budget / 5 / once)))
    best = [float("inf")] * len(fns)
    for _ in range(5):
        for i, (fn, n) in enumerate(zip(fns, sizes, strict=True)):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[i] = min(best[i], (time.perf_counter() - start) / n)
    return [1.0 / b for b in best]


def run(quick: bool) -> list[dict[str, object]]:
    budget = 0.5 if quick else 3.0
    results: list[dict[str, object]] = []
    for images in (False, True):
        envelope = sample_cps(images=images)
        case = "cps_10_fingers_minutiae" + ("_type14_images" if images else "")
        data = messages.encode(envelope)
        tx = decode_transaction(data)
        assert nistitl_parse(data) is not None
        read_what, write_what = "nistitl Message.parse", "nistitl build Message + .NIST"
        ops: list[tuple[str, Callable[[], object], int, str]] = [
            ("read records", partial(decode_transaction, data), 0, read_what),
            ("read to model", partial(messages.decode, data), 0, read_what),
            ("write records", partial(encode_transaction, tx), 1, write_what),
            ("write from model", partial(messages.encode, envelope), 1, write_what),
        ]
        baselines = [partial(nistitl_parse, data), partial(nistitl_write, tx)]
        rates = _rates(baselines + [fn for _, fn, _, _ in ops], budget)
        for (name, _, which, baseline_what), ours in zip(ops, rates[2:], strict=True):
            baseline = rates[which]
            results.append(
                {
                    "benchmark": "codec.ansi_nist",
                    "operation": name,
                    "case": case,
                    "transaction_bytes": len(data),
                    "fingers": 10,
                    "minutiae_per_finger": MINUTIAE_PER_FINGER,
                    "image_bytes_per_finger": IMAGE_BYTES if images else 0,
                    "tx_per_s": round(ours, 1),
                    "baseline": f"nistitl {nistitl.__version__}: {baseline_what}",
                    "baseline_tx_per_s": round(baseline, 1),
                    "ratio_vs_baseline": round(ours / baseline, 2),
                    "quick": quick,
                }
            )
    return results


def nistitl_write(tx: Transaction) -> bytes:
    return bytes(to_nistitl(tx).NIST)


def nistitl_parse(data: bytes) -> Any:
    msg = nistitl.Message()
    msg.parse(data)
    return msg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.quick), indent=2))


if __name__ == "__main__":
    main()
