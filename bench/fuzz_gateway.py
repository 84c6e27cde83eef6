"""Long fuzz run of the gateway's four entry points, with mutated valid inputs, against a real
gateway and partners on loopback: the JSON client API, the Prüm XML partner API, the
ANSI/NIST-ITL reader (a UK record whose prints come as a base64 transaction, mutated at
the byte level, sent through the client API), and the partner API's INT-I route (Interpol's
CPS in both INT-I encodings, XML and traditional). Client requests (searches, and enrolments
of a record) carry an `Idempotency-Key` about a third of the time, mostly one of a few, so
bodies meet their own replays and other bodies under a used key, sometimes a bad one.

Every answer must be a typed refusal (4xx with a JSON or XML error body) or a success; a
5xx, a dropped connection or an answer slower than `--hang-s` is a finding. Mutations:
byte flips, insertions and deletions, truncation, duplicated spans, swapped JSON values
(wrong types, huge numbers, deep nesting, NaN, long strings), and XML element and
attribute damage. Bounded by `--inputs` and `--minutes`; deterministic from `--seed`.

`python3 -m bench.fuzz_gateway --minutes 10 --inputs 100000 [--seed 1]` prints counts per
entry point and outcome, and writes the findings (inputs that failed) under `--out`.
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
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from exchange import event_loop
from exchange.codecs import ansi_nist, int_i_traditional, int_i_xml, prum_xml, uk_json
from exchange.codecs.int_i_envelope import int_i_tcn
from exchange.gateway import logs
from exchange.gateway.inbound.partner_api import INT_I_PATH
from exchange.translate import Outbound, record_to_envelope, translate
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, running_cluster

SEED_SUBJECTS = (PARTNER_SUBJECTS + 1, PARTNER_SUBJECTS + 2, 5)
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


def _idempotency_key(rng: random.Random) -> str:
    """Mostly one of a few keys (so bodies meet their replays and other bodies under a key
    already used), sometimes one the header check must refuse (empty, too long, spaces)."""
    if rng.random() < 0.85:
        return f"fz-key-{rng.randrange(40)}"
    return rng.choice(["", " ", "k" * 256, "k" * 255, "two words", "~!@#$%^&*()"])


def _int_i_tcn_of(data: bytes) -> bytes:
    """The TCN of a seed (either encoding), as its bytes appear in it."""
    decode = int_i_xml.decode if data.lstrip()[:1] == b"<" else int_i_traditional.decode
    return decode(data).type1.tcn.encode()


async def run(minutes: float, inputs: int, seed: int, hang_s: float, out: Path) -> dict[str, Any]:
    rng = random.Random(seed)
    bodies, messages, transactions = seeds_with_transactions()
    int_i = int_i_seeds()
    counts: Counter[str] = Counter()
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
            int_i_url = f"http://127.0.0.1:{c.gateway.partner_port}{INT_I_PATH}"
            timeout = aiohttp.ClientTimeout(total=hang_s)
            async with aiohttp.ClientSession(timeout=timeout) as s:
                n = 0
                while n < inputs and time.monotonic() < deadline:
                    n += 1
                    pick = rng.random()
                    extra: dict[str, str] = {}
                    if pick < 0.2:
                        entry, url, ctype = "ansi-nist", client, "application/json"
                        tx = mutate_bytes(rng.choice(transactions), rng)
                        doc = dict(rng.choice(bodies))
                        record = dict(doc["record"])
                        record["fingerprints"] = {"ansi_nist": base64.b64encode(tx).decode()}
                        doc["record"], doc["modalities"] = record, ["fingerprint"]
                        data = json.dumps(doc).encode()
                    elif pick < 0.5:
                        entry, url, ctype = "client", client, "application/json"
                        seed_doc: Any = rng.choice(bodies)
                        if rng.random() < 0.2:  # an enrolment, a record of its own
                            entry, url, seed_doc = "records", records, seed_doc["record"]
                        doc = mutate_json(seed_doc, rng)
                        data = json.dumps(doc).encode()
                        if rng.random() < 0.3:
                            data = mutate_bytes(data, rng)
                        if rng.random() < 0.3:  # replays, other bodies, bad keys
                            extra = {"Idempotency-Key": _idempotency_key(rng)}
                    elif pick < 0.8:
                        entry, url, ctype = "partner", partner, "application/xml"
                        # A message id of its own (seeds carry fz-<i>-<kind>), so that what
                        # still decodes is answered, not refused as a reused id (409).
                        message = rng.choice(messages).replace(b">fz-", f">fz{n}-".encode(), 1)
                        data = mutate_bytes(message, rng)
                    else:
                        entry, url, ctype = "int-i", int_i_url, "application/xml"
                        # A TCN of its own, so that what still decodes is searched, not
                        # refused as a TCN reused for another transaction (409).
                        seed_tx = rng.choice(int_i)
                        tcn = _int_i_tcn_of(seed_tx)
                        fresh = int_i_tcn(f"fz-int-i-{n}", dt.datetime.now(dt.UTC).year)
                        data = mutate_bytes(seed_tx.replace(tcn, fresh.encode()), rng)
                    try:
                        headers = {"Content-Type": ctype, **extra}
                        async with s.post(url, data=data, headers=headers) as r:
                            body = await r.read()
                            outcome = f"{r.status // 100}xx"
                            if r.status >= 500 or (r.status >= 400 and not body):
                                findings.append(
                                    {
                                        "entry": entry,
                                        "status": r.status,
                                        "input": data[:2000].decode("latin-1"),
                                    }
                                )
                    except (TimeoutError, aiohttp.ClientError) as exc:
                        outcome = f"failed:{type(exc).__name__}"
                        findings.append(
                            {
                                "entry": entry,
                                "status": outcome,
                                "input": data[:2000].decode("latin-1"),
                            }
                        )
                    counts[f"{entry} {outcome}"] += 1
    out.mkdir(parents=True, exist_ok=True)
    (out / "fuzz_gateway_findings.json").write_text(json.dumps(findings[:200], indent=1))
    return {"inputs": n, "counts": dict(counts), "findings": len(findings), "seed": seed}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.fuzz_gateway", description=__doc__)
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--inputs", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--hang-s", type=float, default=10.0)
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "prum-fuzz")
    args = parser.parse_args(argv)
    logs.configure(level=logging.WARNING, fmt="json")
    started = time.monotonic()
    result = event_loop.run(run(args.minutes, args.inputs, args.seed, args.hang_s, args.out))
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result, indent=1))
    return 0 if result["findings"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
