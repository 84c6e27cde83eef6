"""Long-running fuzzer of the ANSI/NIST-ITL reader: every input must decode or raise CodecError.

Inputs: valid transactions (CPS with minutiae, CPS with Type-14 images, CPS with Type-4
images, a latent MPS with a Type-13 image, SRE, ERR, a palm PMS with a Type-15 image, and
nistitl-built transactions with Types 2, 4, 9, 10 and 14, with legacy and INCITS 378
minutiae), mutated by bit flips, separator and digit substitution, deletion,
insertion, duplication, truncation, LEN rewrites and splicing; plus random bytes. Each input
goes through `ansi_nist_messages.decode`; an input that decodes to records is written back
and read again, which must give the same records; an input that decodes to an envelope is
encoded and decoded again, after which encode/decode must give the same envelope (or a
CodecError). A failure is any exception other than `CodecError`, a round trip that
differs, or an input that takes longer than `--hang` seconds (SIGALRM). Failing inputs
are saved under `--out`.

    python3 -m bench.fuzz_ansi_nist --minutes 10 [--seed N] [--out DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import signal
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from types import FrameType

import nistitl

from bench.codec_ansi_nist import sample_cps
from exchange.codecs import ansi_nist_messages as messages
from exchange.codecs.ansi_nist import decode_transaction, encode_transaction
from exchange.codecs.errors import CodecError
from exchange.model import (
    BiometricImage,
    Candidate,
    DactySearchRequest,
    Envelope,
    ErrorBody,
    ErrorCode,
    Finger,
    FingerprintSet,
    Header,
    Impression,
    MatchType,
    MessageType,
    Minutia,
    Modality,
    ProbeResult,
    Purpose,
    SearchReply,
)

SEPARATORS = b"\x1c\x1d\x1e\x1f"
INTERESTING = SEPARATORS + b"0123456789.:\x00\xff"


class Hang(Exception):
    """Raised by SIGALRM when one input takes too long."""


def seeds() -> list[bytes]:
    out = [
        messages.encode(sample_cps(images=False)),
        messages.encode(sample_cps(images=True)),
        messages.encode(sample_cps(images=True), legacy_images=True),
    ]
    stamp = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)

    def header(kind: MessageType) -> Header:
        return Header("GB-2", "GB-1", stamp, "DE/BKA", "GB/UKFP", kind, Purpose.DETECTION)

    latent = FingerprintSet(
        (
            Finger(
                0,
                (Minutia(100, 200, 45), Minutia(300, 120, 270)),
                BiometricImage(b"\xff\xd8jpeg\x1c\x1d", "JPEGB", 400, 400, 1000),
            ),
        ),
        Impression.LATENT,
        1000,
    )
    out.append(
        messages.encode(
            Envelope(
                header(MessageType.DACTY_SEARCH_REQUEST),
                DactySearchRequest("MARK-9", "LT/TP", latent, 10),
            )
        )
    )
    reply = SearchReply(
        "GB-1",
        Modality.FINGERPRINT,
        (ProbeResult("GB-REF-1", (Candidate("DE-778", 0.93, MatchType.CANDIDATE),)),),
    )
    out.append(messages.encode(Envelope(header(MessageType.SEARCH_REPLY), reply)))
    err = ErrorBody(ErrorCode.QUOTA_EXCEEDED, "daily TP/TP capacity used", None, "GB-1")
    out.append(messages.encode(Envelope(header(MessageType.ERROR), err)))
    palm = FingerprintSet(
        (Finger(25, (Minutia(2400, 3000, 90),), BiometricImage(b"jp2", "JP2", 4000, 4000, 500)),),
        Impression.PALM,
    )
    out.append(
        messages.encode(
            Envelope(
                header(MessageType.DACTY_SEARCH_REQUEST),
                DactySearchRequest("PALM-1", "PP/ULP", palm, 5),
            )
        )
    )
    out.append(nistitl_seed())
    out.append(nistitl_seed(incits=True))
    return out


def nistitl_seed(*, incits: bool = False) -> bytes:
    msg = nistitl.Message()
    msg.TOT = "CPS"
    msg[0].DAT = "20261127"
    msg[0].TCN = "NL-1"
    r2 = nistitl.AsciiRecord(2)
    r2.IDC = 0
    r2._10 = "NL-REF"
    r2._11 = "TP/TP"
    r2._13 = "1"
    msg += r2
    r9 = nistitl.AsciiRecord(9)
    r9.IDC = 1
    for tag, value in ((3, "1"), (4, "S"), (6, "1"), (10, "1"), (11, "0")):
        r9 += nistitl.Field(9, tag, value)
    if incits:  # the INCITS 378 block that INT-I v6 uses instead of 9.012
        r9._4 = "U"
        for tag, value in ((130, "1"), (131, "500"), (134, "1"), (136, "1")):
            r9 += nistitl.Field(9, tag, value)
        r9 += nistitl.Field(9, 137, [["1", "100", "200", "45", "1", "60"]])
    else:
        r9 += nistitl.Field(9, 12, [["1", "01000200090", "10", "A"]])
    msg += r9
    r4 = nistitl.BinaryRecord(4)
    r4.IDC = 1
    r4.pack(">BBBBBBBBHHB", 1, 1, 255, 255, 255, 255, 255, 0, 800, 750, 1, b"W" * 64)
    msg += r4
    r10 = nistitl.AsciiRecord(10)
    r10.IDC = 2
    r10.IMT = "FACE"
    r10.DATA = b"\xff\xd8face"
    msg += r10
    return bytes(msg.NIST)


def mutate(rnd: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rnd.choice((1, 1, 1, 2, 3, 8))):
        if not buf:
            buf.extend(rnd.randbytes(rnd.randrange(1, 64)))
            continue
        op = rnd.randrange(9)
        i = rnd.randrange(len(buf))
        if op == 0:
            buf[i] ^= 1 << rnd.randrange(8)
        elif op == 1:
            buf[i] = rnd.choice(INTERESTING)
        elif op == 2:
            del buf[i : i + rnd.randrange(1, 32)]
        elif op == 3:
            buf[i:i] = rnd.randbytes(rnd.randrange(1, 16))
        elif op == 4:
            j = rnd.randrange(len(buf))
            buf[i:i] = buf[j : j + rnd.randrange(1, 64)]
        elif op == 5:
            del buf[rnd.randrange(len(buf) + 1) :]
        elif op == 6:  # rewrite a number (LEN, CNT, IDC, counts) with another
            digits = str(rnd.choice((0, 1, 2, 9, 99, 100, 255, 2**31, 10**12, len(buf))))
            j = i
            while j < len(buf) and 48 <= buf[j] <= 57:
                j += 1
            buf[i:j] = digits.encode()
        elif op == 7:
            other = rnd.choice(pool)
            cut = rnd.randrange(len(other) + 1)
            buf = buf[:i] + bytearray(other[cut:])
        else:
            buf[i] = rnd.randrange(256)
    return bytes(buf)


def check(data: bytes) -> str:
    """Decode one input; return the outcome name, raise on a finding."""
    try:
        envelope = messages.decode(data)
        outcome = "decoded"
    except CodecError as exc:
        outcome = "CodecError:" + exc.reason.split(" ")[0]
    else:
        try:
            written = messages.encode(envelope)
        except CodecError:
            outcome = "decoded, re-encode refused"
        else:
            # The first trip may normalise what the writer cannot say exactly (INCITS 378
            # minutiae become 9.012 ones, quality moves onto the 2-63 scale); after that the
            # envelope must be a fixed point of encode/decode.
            normal = messages.decode(written)
            if messages.decode(messages.encode(normal)) != normal:
                raise AssertionError("envelope changed in an encode/decode round trip")
    try:
        tx = decode_transaction(data)
    except CodecError:
        return outcome
    again = decode_transaction(encode_transaction(tx))
    if again != tx:
        raise AssertionError("records changed in a write/read round trip")
    return outcome


def fuzz(minutes: float, seed: int, out: Path, hang: float) -> dict[str, object]:
    rnd = random.Random(seed)
    pool = seeds()
    out.mkdir(parents=True, exist_ok=True)

    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang()

    signal.signal(signal.SIGALRM, alarm)
    outcomes: Counter[str] = Counter()
    failures: list[dict[str, str]] = []
    tried = 0
    slowest = 0.0
    start = time.monotonic()
    deadline = start + minutes * 60
    while time.monotonic() < deadline:
        if rnd.random() < 0.1:
            data = rnd.randbytes(rnd.randrange(0, 512))
            if rnd.random() < 0.5:
                data = b"1.001:" + data
        else:
            data = mutate(rnd, rnd.choice(pool), pool)
        tried += 1
        t0 = time.perf_counter()
        signal.setitimer(signal.ITIMER_REAL, hang)
        try:
            outcomes[check(data)] += 1
        except Hang:
            failures.append(_save(out, data, "hang", f"over {hang} s"))
        except Exception as exc:  # a finding, recorded below
            failures.append(_save(out, data, type(exc).__name__, traceback.format_exc()))
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        slowest = max(slowest, time.perf_counter() - t0)
    elapsed = time.monotonic() - start
    return {
        "fuzzer": "bench.fuzz_ansi_nist",
        "seed": seed,
        "seeds": len(pool),
        "duration_s": round(elapsed, 1),
        "inputs_tried": tried,
        "inputs_per_s": round(tried / elapsed, 1),
        "failures": len(failures),
        "failure_kinds": dict(Counter(f["kind"] for f in failures)),
        "slowest_input_ms": round(slowest * 1000, 2),
        "outcomes_top": dict(outcomes.most_common(15)),
        "decoded": outcomes["decoded"],
    }


def _save(out: Path, data: bytes, kind: str, detail: str) -> dict[str, str]:
    name = f"{kind}-{abs(hash(data)):x}"
    (out / f"{name}.bin").write_bytes(data)
    (out / f"{name}.txt").write_text(detail)
    return {"kind": kind, "file": name}


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz the ANSI/NIST-ITL reader.")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    default_out = Path(tempfile.gettempdir()) / "fuzz-ansi-nist-findings"
    parser.add_argument("--out", type=Path, default=default_out, help="where failing inputs go")
    parser.add_argument("--hang", type=float, default=2.0, help="seconds before an input hangs")
    args = parser.parse_args()
    report = fuzz(args.minutes, args.seed, args.out, args.hang)
    print(json.dumps(report, indent=2))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
