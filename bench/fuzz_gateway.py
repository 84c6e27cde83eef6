"""Long fuzz run of the gateway's four entry points, with mutated valid inputs, against a real
gateway and partners on loopback: the JSON client API, the Prüm XML partner API, the
ANSI/NIST-ITL reader (a UK record whose prints come as a base64 transaction, mutated at
the byte level, sent through the client API), and the partner API's INT-I route (Interpol's
CPS in both INT-I encodings, XML and traditional). Client requests (searches, and enrolments
of a record) carry an `Idempotency-Key` about a third of the time, mostly one of a few, so
bodies meet their own replays and other bodies under a used key, sometimes a bad one.

Images (issue 22), `IMAGE_SHARE` of the inputs, seeds and mutations in `bench.fuzz_images`:
searches and enrolments whose record's face is an image only (`face.image`: synthetic JPEG,
PNG and JPEG 2000 drawings, huge-header pictures, a PNG bomb, and the ageitgey photographs
read from `shared/thirdparty` when present), damaged inside the base64 and at the JSON level;
searches and enrolments with image-only prints (one or two of the example card's Type-14 WSQ
images, the WSQ bytes damaged and the transaction rewritten with its lengths right, sometimes
its framing damaged too); and Prüm face and dacty searches carrying images only. Most fail
at a header or in decoding; a few per cent reach extraction (about half a second each). A
503 with Retry-After and a typed `extraction_busy` / `busy` body (a full extraction pool)
is counted apart (`503 busy`), not as a finding.

Every answer must be a typed refusal (4xx with a JSON or XML error body) or a success; a
5xx, a dropped connection or an answer slower than `--hang-s` is a finding. Mutations:
byte flips, insertions and deletions, truncation, duplicated spans, swapped JSON values
(wrong types, huge numbers, deep nesting, NaN, long strings), and XML element and
attribute damage. Bounded by `--inputs` and `--minutes`; deterministic from `--seed`.

`python3 -m bench.fuzz_gateway --minutes 10 --inputs 100000 [--seed 1]` prints counts per
entry point and outcome, and writes the findings (inputs that failed, with their number)
under `--out`; `--seed S --replay N` makes input N of that run again and sends it alone to a
fresh gateway.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import logging
import random
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

from bench import fuzz_images as images
from exchange import event_loop
from exchange.codecs import ansi_nist, int_i_traditional, int_i_xml, prum_xml, uk_json
from exchange.codecs.int_i_envelope import int_i_tcn
from exchange.gateway import logs
from exchange.gateway.inbound.partner_api import INT_I_PATH
from exchange.model import PersonRecord
from exchange.translate import Outbound, record_to_envelope, translate
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, running_cluster

SEED_SUBJECTS = (PARTNER_SUBJECTS + 1, PARTNER_SUBJECTS + 2, 5)
# Inputs carrying images (issue 22): face pictures and image-only prints at the client API,
# image-only face and dacty searches at the partner API. They are slower (decoding, and for
# the few that decode, extraction at about half a second), hence a small share.
IMAGE_SHARE = 0.1
IMAGE_ENTRIES = ("face", "face", "prints-image", "partner-face", "partner-dacty")
NASTY: list[Any] = [
    None,
    True,
    -1,
    0,
    10**30,
    1e308,
    "",
    "x" * 5000,
    [],
    {},
    [[[[[]]]]],
    "12/1234567D",
    "\u0000",
    "../../etc/passwd",
    "NaN",
    {"$ref": "#"},
]


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        if not b:
            break
        i = rng.randrange(len(b))
        if op == 0:
            b[i] = rng.randrange(256)
        elif op == 1:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del b[i : i + rng.randint(1, 16)]
        elif op == 3:
            b = b[: rng.randrange(len(b) + 1)]
        else:
            j = rng.randrange(len(b))
            b[j:j] = b[i : i + rng.randint(1, 64)]
    return bytes(b)


def mutate_json(doc: Any, rng: random.Random) -> Any:
    if isinstance(doc, dict) and doc:
        key = rng.choice(list(doc))
        out = dict(doc)
        if rng.random() < 0.5:
            out[key] = rng.choice(NASTY)
        else:
            out[key] = mutate_json(doc[key], rng)
        return out
    if isinstance(doc, list) and doc:
        out_list = list(doc)
        i = rng.randrange(len(out_list))
        out_list[i] = mutate_json(out_list[i], rng) if rng.random() < 0.7 else rng.choice(NASTY)
        return out_list
    return rng.choice(NASTY)


def seeds() -> tuple[list[dict[str, Any]], list[bytes]]:
    bodies, messages, _ = seeds_with_transactions()
    return bodies, messages


def seeds_with_transactions() -> tuple[list[dict[str, Any]], list[bytes], list[bytes]]:
    people = population.people(3, list(SEED_SUBJECTS), "GB", capture=1)
    bodies = []
    messages = []
    now = dt.datetime.now(dt.UTC)
    for i, p in enumerate(people):
        rec = uk_json.record_to_json(p.record)
        bodies.append(
            {
                "purpose": "investigation",
                "case_reference": f"F{i}",
                "record": rec,
                "modalities": ["dna", "face"],
                "partners": "all",
                "max_candidates": 3,
            }
        )
        for kind in ("dna-search", "face-search", "dacty-search"):
            env = record_to_envelope(
                p.record,
                Outbound(
                    message_id=f"fz-{i}-{kind}",
                    correlation_id="fz",
                    timestamp=now,
                    sender="DE",
                    receiver="GB",
                    message=kind,
                ),
            )
            messages.append(prum_xml.encode(env))
    transactions = [
        ansi_nist.fingerprints_to_bytes(
            p.record.fingerprints, timestamp=now, originator="GB", destination="GB", tcn=f"T{i}"
        )
        for i, p in enumerate(people)
        if p.record.fingerprints is not None
    ]
    return bodies, messages, transactions


def int_i_seeds() -> list[bytes]:
    """Interpol's CPS of each seed subject's prints, in INT-I XML and in traditional encoding."""
    now = dt.datetime.now(dt.UTC)
    found = []
    for i, p in enumerate(population.people(3, list(SEED_SUBJECTS), "GB", capture=1)):
        if p.record.fingerprints is None:
            continue
        out = Outbound(
            f"fz-int-i-{i}", f"fz-int-i-{i}", now, "INTERPOL", "GB", message="dacty-search"
        )
        xml = translate(uk_json.encode(p.record), "uk-json", "int-i-xml", out)
        found += [xml, int_i_traditional.encode(int_i_xml.decode(xml))]
    return found


Seeds = tuple[list[dict[str, Any]], list[bytes], list[bytes], list[bytes], tuple[bytes, ...]]


def image_message_seeds() -> tuple[bytes, bytes, bytes, bytes]:
    """Partner messages carrying images only: (face search, the placeholder picture's base64
    in it, dacty search with one finger's WSQ image and no minutiae, that WSQ's base64)."""
    now = dt.datetime.now(dt.UTC)
    person = population.people(1, [SEED_SUBJECTS[0]], "GB", capture=1)[0]
    doc = uk_json.record_to_json(person.record)
    fmt, picture = images.face_pictures()[1]
    doc["face"] = {"image": {"format": fmt, "data": base64.b64encode(picture).decode()}}
    doc["fingerprints"] = {
        "ansi_nist": base64.b64encode(
            images.print_transaction(random.Random(0), mutate=False)
        ).decode()
    }
    record: PersonRecord = uk_json.decode(json.dumps(doc).encode())
    found = []
    for kind in ("face-search", "dacty-search"):
        env = record_to_envelope(
            record,
            Outbound(
                message_id=f"fz-0-image-{kind}",
                correlation_id="fz",
                timestamp=now,
                sender="DE",
                receiver="GB",
                message=kind,
            ),
        )
        found.append(prum_xml.encode(env))
    assert record.fingerprints is not None and record.fingerprints.fingers[0].image is not None
    wsq = base64.b64encode(record.fingerprints.fingers[0].image.data)
    face, dacty = found
    picture_b64 = base64.b64encode(picture)
    assert picture_b64 in face and wsq in dacty
    return face, picture_b64, dacty, wsq


def image_input(
    entry: str, rng: random.Random, bodies: list[dict[str, Any]], partner_seeds: tuple[bytes, ...]
) -> tuple[str, bytes]:
    """An input of one of the image entry points: (which door, "client"/"records"/"partner")."""
    if entry in ("face", "prints-image"):
        seed_doc = rng.choice(bodies)
        enrol = rng.random() < 0.3
        record = dict(seed_doc["record"])
        if entry == "face":
            photos = images.face_photographs()
            if photos and rng.random() < 0.15:
                fmt, picture = rng.choice(photos)
            else:
                fmt, picture = rng.choice(images.face_pictures())
            if rng.random() > 0.03:  # a few per cent go through unmutated
                picture = images.mutate_picture(rng, picture)
            face: dict[str, Any] = {"image": images.face_image_json(rng, fmt, picture)}
            if rng.random() < 0.05:  # template and image both
                face = {**seed_doc["record"]["face"], **face}
            record["face"] = face
            record.pop("fingerprints", None)
            modalities = ["face"]
        else:
            tx = images.print_transaction(rng, mutate=rng.random() > 0.03)
            if rng.random() < 0.2:  # the ANSI/NIST framing too
                tx = mutate_bytes(tx, rng)
            record["fingerprints"] = {"ansi_nist": base64.b64encode(tx).decode()}
            record.pop("face", None)
            modalities = ["fingerprint"]
        doc: Any = record if enrol else {**seed_doc, "record": record, "modalities": modalities}
        if rng.random() < 0.1:
            doc = mutate_json(doc, rng)
        return ("records" if enrol else "client"), json.dumps(doc).encode()
    face_msg, picture_b64, dacty_msg, wsq_b64 = partner_seeds
    if entry == "partner-face":
        fmt, picture = rng.choice(images.face_pictures())
        if rng.random() > 0.03:
            picture = images.mutate_picture(rng, picture)
        data = face_msg.replace(picture_b64, base64.b64encode(picture))
        if rng.random() < 0.3:
            compression = {"jpeg": b"JPEGB", "png": b"PNG", "jp2": b"JP2"}[fmt]
            if rng.random() < 0.2:
                compression = rng.choice([b"WSQ20", b"", b"jpeg", b"GIF"])
            data = data.replace(b'compression="PNG"', b'compression="' + compression + b'"', 1)
    else:
        wsq = images.wsq_images()[rng.randrange(len(images.wsq_images()))].data or b""
        if rng.random() > 0.03:
            wsq = images.mutate_wsq(rng, wsq)
        data = dacty_msg.replace(wsq_b64, base64.b64encode(wsq))
    if rng.random() < 0.15:  # the XML around it too
        data = mutate_bytes(data, rng)
    return "partner", data


def _idempotency_key(rng: random.Random) -> str:
    """Mostly one of a few keys (so bodies meet their replays and other bodies under a key
    already used), sometimes one the header check must refuse (empty, too long, spaces)."""
    if rng.random() < 0.85:
        return f"fz-key-{rng.randrange(40)}"
    return rng.choice(["", " ", "k" * 256, "k" * 255, "two words", "~!@#$%^&*()"])


def _busy(status: int, headers: Any, body: bytes) -> str | None:
    """A full extraction pool's typed 503 with Retry-After: "busy", counted apart, not a
    finding. The client API's body is JSON with code `extraction_busy` (or `busy`); the
    partner API's a Prüm error whose code is `quota_exceeded` (`InboundBusy`, 503 with
    Retry-After). The same answer to a worker that died under the input (`PoolBroken`: a
    crash in native decoding code) is "worker died", a finding."""
    if status != 503 or "Retry-After" not in headers:
        return None
    typed = b'"extraction_busy"' in body or b'"busy"' in body
    typed = typed or (b"<Error" in body and b'code="quota_exceeded"' in body)
    if not typed:
        return None
    return "worker died" if b"worker died" in body else "busy"


def _int_i_tcn_of(data: bytes) -> bytes:
    """The TCN of a seed (either encoding), as its bytes appear in it."""
    decode = int_i_xml.decode if data.lstrip()[:1] == b"<" else int_i_traditional.decode
    return decode(data).type1.tcn.encode()


def make_input(
    n: int, rng: random.Random, image_share: float, seeds: Seeds
) -> tuple[str, str, bytes, dict[str, str]]:
    """Input `n` as (entry point, door: client, records, partner or int-i, body, headers).
    It depends on `rng`'s state only, not on any answer, so a run's input `n` can be rebuilt
    by making the inputs before it again (`--replay`)."""
    bodies, messages, transactions, int_i, partner_seeds = seeds
    pick = rng.random()
    extra: dict[str, str] = {}
    image = pick < image_share  # the other entry points share the rest
    pick = (pick - image_share) / (1 - image_share) if not image else 0.0
    if image:
        entry = rng.choice(IMAGE_ENTRIES)
        door, data = image_input(entry, rng, bodies, partner_seeds)
        if door == "partner":  # a message id of its own
            data = data.replace(b">fz-0-", f">fz{n}-".encode(), 1)
        elif rng.random() < 0.2:
            extra = {"Idempotency-Key": _idempotency_key(rng)}
        return f"{entry} {door}", door, data, extra
    if pick < 0.2:
        tx = mutate_bytes(rng.choice(transactions), rng)
        doc = dict(rng.choice(bodies))
        record = dict(doc["record"])
        record["fingerprints"] = {"ansi_nist": base64.b64encode(tx).decode()}
        doc["record"], doc["modalities"] = record, ["fingerprint"]
        return "ansi-nist", "client", json.dumps(doc).encode(), extra
    if pick < 0.5:
        entry = door = "client"
        seed_doc: Any = rng.choice(bodies)
        if rng.random() < 0.2:  # an enrolment, a record of its own
            entry, door, seed_doc = "records", "records", seed_doc["record"]
        data = json.dumps(mutate_json(seed_doc, rng)).encode()
        if rng.random() < 0.3:
            data = mutate_bytes(data, rng)
        if rng.random() < 0.3:  # replays, other bodies, bad keys
            extra = {"Idempotency-Key": _idempotency_key(rng)}
        return entry, door, data, extra
    if pick < 0.8:
        # A message id of its own (seeds carry fz-<i>-<kind>), so that what
        # still decodes is answered, not refused as a reused id (409).
        message = rng.choice(messages).replace(b">fz-", f">fz{n}-".encode(), 1)
        return "partner", "partner", mutate_bytes(message, rng), extra
    # A TCN of its own, so that what still decodes is searched, not
    # refused as a TCN reused for another transaction (409).
    seed_tx = rng.choice(int_i)
    tcn = _int_i_tcn_of(seed_tx)
    fresh = int_i_tcn(f"fz-int-i-{n}", dt.datetime.now(dt.UTC).year)
    return "int-i", "int-i", mutate_bytes(seed_tx.replace(tcn, fresh.encode()), rng), extra


def all_seeds() -> Seeds:
    bodies, messages, transactions = seeds_with_transactions()
    return bodies, messages, transactions, int_i_seeds(), image_message_seeds()


def replay(
    seed: int, number: int, image_share: float = IMAGE_SHARE
) -> tuple[str, str, bytes, dict[str, str]]:
    """Input `number` (1-based) of a run with `seed`, made again."""
    rng = random.Random(seed)
    seeds = all_seeds()
    for n in range(1, number):
        make_input(n, rng, image_share, seeds)
    return make_input(number, rng, image_share, seeds)


async def run(
    minutes: float,
    inputs: int,
    seed: int,
    hang_s: float,
    out: Path,
    image_share: float = IMAGE_SHARE,
) -> dict[str, Any]:
    rng = random.Random(seed)
    seeds = all_seeds()
    counts: Counter[str] = Counter()
    seconds: defaultdict[str, float] = defaultdict(float)  # time answering, by entry point
    slowest: defaultdict[str, float] = defaultdict(float)
    findings: list[dict[str, Any]] = []
    deadline = time.monotonic() + minutes * 60
    with tempfile.TemporaryDirectory(prefix="prum-fuzz-") as tmp:
        async with running_cluster(
            Path(tmp),
            ("DE", "INTERPOL"),
            seed=3,
            gallery_size=5,
            uk_overrides={"search_deadline_s": 2.0},
        ) as c:
            client = f"{c.client_url}/v1/searches"
            records = f"{c.client_url}/v1/records"
            partner = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
            doors = {
                "client": (client, "application/json"),
                "records": (records, "application/json"),
                "partner": (partner, "application/xml"),
                "int-i": (
                    f"http://127.0.0.1:{c.gateway.partner_port}{INT_I_PATH}",
                    "application/xml",
                ),
            }
            timeout = aiohttp.ClientTimeout(total=hang_s)
            async with aiohttp.ClientSession(timeout=timeout) as s:
                n = 0
                while n < inputs and time.monotonic() < deadline:
                    n += 1
                    entry, door, data, extra = make_input(n, rng, image_share, seeds)
                    url, ctype = doors[door]
                    sent = time.monotonic()
                    try:
                        headers = {"Content-Type": ctype, **extra}
                        async with s.post(url, data=data, headers=headers) as r:
                            body = await r.read()
                            outcome = f"{r.status // 100}xx"
                            busy = _busy(r.status, r.headers, body)
                            if busy is not None:
                                outcome = f"503 {busy}"
                            if busy != "busy" and (
                                r.status >= 500 or (r.status >= 400 and not body)
                            ):
                                findings.append(
                                    {
                                        "number": n,
                                        "entry": entry,
                                        "status": r.status,
                                        "retry_after": r.headers.get("Retry-After"),
                                        "answer": body[:2000].decode("latin-1"),
                                        "input": data[:2000].decode("latin-1"),
                                    }
                                )
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        outcome = f"failed:{type(exc).__name__}"
                        findings.append(
                            {
                                "number": n,
                                "entry": entry,
                                "status": outcome,
                                "input": data[:2000].decode("latin-1"),
                            }
                        )
                    counts[f"{entry} {outcome}"] += 1
                    took = time.monotonic() - sent
                    seconds[entry] += took
                    slowest[entry] = max(slowest[entry], took)
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz_gateway_findings.json").write_text(json.dumps(findings[:200], indent=1))
    return {
        "inputs": n,
        "counts": dict(counts),
        "findings": len(findings),
        "seed": seed,
        "answer_seconds": {k: round(v, 1) for k, v in seconds.items()},
        "slowest_answer_s": {k: round(v, 3) for k, v in slowest.items()},
    }


async def send_alone(door: str, data: bytes, extra: dict[str, str]) -> dict[str, Any]:
    """One input to a fresh gateway (the run's cluster), its answer."""
    with tempfile.TemporaryDirectory(prefix="prum-fuzz-") as tmp:
        async with running_cluster(
            Path(tmp),
            ("DE", "INTERPOL"),
            seed=3,
            gallery_size=5,
            uk_overrides={"search_deadline_s": 2.0},
        ) as c:
            partner = f"http://127.0.0.1:{c.gateway.partner_port}"
            url, ctype = {
                "client": (f"{c.client_url}/v1/searches", "application/json"),
                "records": (f"{c.client_url}/v1/records", "application/json"),
                "partner": (f"{partner}/prum/v1/messages", "application/xml"),
                "int-i": (f"{partner}{INT_I_PATH}", "application/xml"),
            }[door]
            async with aiohttp.ClientSession() as s:
                headers = {"Content-Type": ctype, **extra}
                async with s.post(url, data=data, headers=headers) as r:
                    body = await r.read()
                    return {
                        "status": r.status,
                        "retry_after": r.headers.get("Retry-After"),
                        "answer": body[:2000].decode("latin-1"),
                    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.fuzz_gateway", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-s", type=float, default=10.0)
    parser.add_argument(
        "--image-share", type=float, default=IMAGE_SHARE, help="of inputs carrying images"
    )
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "prum-fuzz")
    parser.add_argument(
        "--replay", type=int, help="make input N of the run with --seed again, send it alone"
    )
    args = parser.parse_args(argv)
    logs.configure(level=logging.WARNING, fmt="json")
    if args.replay:
        entry, door, data, extra = replay(args.seed, args.replay, args.image_share)
        answer = event_loop.run(send_alone(door, data, extra))
        print(json.dumps({"input": args.replay, "entry": entry, **answer}, indent=1))
        return 0 if answer["status"] < 500 else 1
    started = time.monotonic()
    result = event_loop.run(
        run(args.minutes, args.inputs, args.seed, args.hang_s, args.out, args.image_share)
    )
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=1))
    return 0 if result["findings"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
