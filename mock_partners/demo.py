"""`prum-exchange demo`: the whole exchange on loopback in one process, no set-up.

Starts mock partner nodes (DE, FR, NL, EUROPOL, and INTERPOL speaking INT-I v6 for
fingerprints) seeded from the synthetic population and
the UK gateway pointed at them, enrols a small UK gallery, then runs a short script through
the gateway's real client API (HTTP on 127.0.0.1): a DNA search with a crime-scene stain, a
face search with a new photograph, a search for someone no partner holds, a hit confirmed
by a person and followed up for core data (also Interpol's INT-I fingerprint hit, whose SRE
named the person), a partner searching the UK gallery, and one real ten-print image search
(NIST's public-domain prints in examples/: the rolled prints enrolled as WSQ images, the
plain impressions searched; mindtct minutiae and Bozorth3). It
prints who hit what, with scores and match types, beside the ground truth, then keeps
serving and prints URLs to try (`--once` exits after the table).
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

from exchange import event_loop
from exchange.codecs import int_i_traditional, prum_xml, uk_json
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.gateway.inbound.partner_api import INT_I_PATH
from exchange.model import Envelope, Impression, PersonRecord, SearchReply
from exchange.pki import ssl_client_context
from exchange.translate import Outbound, record_to_envelope, translate
from mock_partners import population
from mock_partners.cluster import PARTNER_SUBJECTS, Cluster, cluster_files, running_cluster

PARTNERS = ("DE", "FR", "NL", "EUROPOL", "INTERPOL")
SEED = 2026
INT_I_SUBJECT = 21  # enrolled in the UK with prints; Interpol searches for them over INT-I
REAL_PRINTS_SUBJECT = 22  # enrolled in the UK with NIST's real ten-print images (examples/)
GALLERY = 60


@dataclass(frozen=True, slots=True)
class Step:
    title: str
    subject: int
    modalities: tuple[str, ...]
    expect: str  # who should hit, from the ground truth


def script() -> list[Step]:
    return [
        Step("DNA: crime-scene stain", 1 * PARTNER_SUBJECTS + 7, ("dna",), "DE"),
        Step("Face: new photograph", 2 * PARTNER_SUBJECTS + 3, ("face",), "FR"),
        Step(
            "DNA + face: person held by Europol",
            4 * PARTNER_SUBJECTS + 11,
            ("dna", "face"),
            "EUROPOL",
        ),
        Step("Fingerprints: re-rolled ten-print", 3 * PARTNER_SUBJECTS + 4, ("fingerprint",), "NL"),
        Step(
            "Nominal + prints: Interpol",
            5 * PARTNER_SUBJECTS,
            ("nominal", "fingerprint"),
            "INTERPOL",
        ),
        Step("DNA + face: nobody holds this person", 9 * PARTNER_SUBJECTS, ("dna", "face"), "none"),
    ]


def _search_body(subject: int, modalities: tuple[str, ...], case: str) -> dict[str, Any]:
    with_prints = "fingerprint" in modalities
    probe = population.people(SEED, [subject], "GB", 1, with_fingerprints=with_prints)[0].record
    return {
        "purpose": "investigation",
        "case_reference": case,
        "record": uk_json.record_to_json(probe),
        "modalities": list(modalities),
        "partners": "all",
        "max_candidates": 3,
    }


def _hit_text(hit: dict[str, Any]) -> str:
    return (
        f"{hit['modality']}:{hit['match_type']} {hit['reference'][:14]}… score {hit['score']:.3f}"
    )


async def run_script(cluster: Cluster, out: list[str]) -> dict[str, Any]:
    """Run the scripted searches and the follow-up; append table lines to `out`."""
    results: dict[str, Any] = {"steps": []}
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout, headers=cluster.headers) as s:
        out.append(
            f"{'search':<38} {'partner':<8} {'status':<9} hits (modality:match reference score)"
        )
        out.append("-" * 110)
        for i, step in enumerate(script(), start=1):
            body = _search_body(step.subject, step.modalities, f"DEMO-{i}")
            async with s.post(f"{cluster.client_url}/v1/searches?wait=20", json=body) as r:
                search = await r.json()
            holders = cluster.holder_of(step.subject)
            truth = population.reference_of(SEED, step.subject, holders[0]) if holders else None
            found_by = []
            for p in search["partners"]:
                hits = ", ".join(_hit_text(h) for h in p["hits"][:3]) or "-"
                out.append(f"{step.title:<38} {p['partner']:<8} {p['status']:<9} {hits}")
                if any(h["reference"] == truth for h in p["hits"]):
                    found_by.append(p["partner"])
            verdict = (
                "as expected"
                if found_by == ([step.expect] if step.expect != "none" else [])
                else "UNEXPECTED"
            )
            out.append(
                f"{'':<38} ground truth: {step.expect}; search {search['status']}, {verdict}"
            )
            results["steps"].append(
                {
                    "title": step.title,
                    "search": search,
                    "found_by": found_by,
                    "expected": step.expect,
                    "ok": verdict == "as expected",
                }
            )
        out.append("")
        results["follow_up"] = await _follow_up(cluster, s, results["steps"][1]["search"], out)
        results["int_i_follow_up"] = await _int_i_follow_up(
            cluster, s, results["steps"][4]["search"], out
        )
        results["inbound"] = await _partner_searches_uk(cluster, s, out)
        results["inbound_int_i"] = await _interpol_searches_uk(cluster, out)
        results["real_prints"] = await _real_prints_search_uk(cluster, s, out)
    return results


async def _follow_up(
    cluster: Cluster, s: aiohttp.ClientSession, search: dict[str, Any], out: list[str]
) -> dict[str, Any]:
    hit = next(h for p in search["partners"] for h in p["hits"])
    base = f"{cluster.client_url}/v1/searches/{search['search_id']}/hits/{hit['hit_id']}"
    async with s.post(f"{base}/follow-up") as r:
        refused = (r.status, (await r.json())["error"]["code"])
    async with s.post(f"{base}/confirm") as r:
        assert r.status == 200
    async with s.post(f"{base}/follow-up") as r:
        core = await r.json()
    name = core["core_data"]["name"]
    out.append(f"Follow-up before confirmation: HTTP {refused[0]} {refused[1]}")
    given = " ".join(name.get("given", []))
    born = core["core_data"].get("date_of_birth")
    out.append(
        f"Follow-up after a person confirmed the face hit: core data from {core['partner']}: "
        f"{given} {name['family']}, born {born}"
    )
    return {"refused": refused, "core": core}


async def _int_i_follow_up(
    cluster: Cluster, s: aiohttp.ClientSession, search: dict[str, Any], out: list[str]
) -> dict[str, Any]:
    """Interpol's fingerprint hit came in an INT-I v6 SRE naming the person: once confirmed,
    its follow-up gives that identity (kept with the hit, not asked for again)."""
    hit = next(
        h
        for p in search["partners"]
        if p["partner"] == "INTERPOL"
        for h in p["hits"]
        if h["modality"] == "fingerprint"
    )
    base = f"{cluster.client_url}/v1/searches/{search['search_id']}/hits/{hit['hit_id']}"
    async with s.post(f"{base}/confirm") as r:
        assert r.status == 200
    async with s.post(f"{base}/follow-up") as r:
        status, core = r.status, await r.json()
    if status != 200:
        out.append(f"Follow-up of Interpol's INT-I fingerprint hit: HTTP {status} UNEXPECTED")
        return {"status": status, "core": core}
    name = core["core_data"]["name"]
    given = " ".join(name.get("given", []))
    born = core["core_data"].get("date_of_birth")
    out.append(
        f"Follow-up of Interpol's INT-I fingerprint hit (SRE subject): core data from "
        f"{core['partner']}: {given} {name['family']}, born {born}"
    )
    return {"status": status, "core": core}


async def _de_searches_uk(
    cluster: Cluster, probe: PersonRecord, message: str, tag: str
) -> Envelope:
    """DE's search message for `probe` to the UK's partner listener, over mutual TLS with
    DE's certificate; the UK's reply, decoded."""
    env = record_to_envelope(
        probe,
        Outbound(
            message_id=f"{tag}-{time.time_ns()}",
            correlation_id=tag,
            timestamp=dt.datetime.now(dt.UTC),
            sender="DE",
            receiver="GB",
            message=message,
        ),
    )
    url = f"https://127.0.0.1:{cluster.gateway.partner_port}/prum/v1/messages"
    de_ssl = ssl_client_context(cluster_files(cluster.root, "DE"))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=de_ssl)) as de,
        de.post(url, data=prum_xml.encode(env), headers={"Content-Type": "application/xml"}) as r,
    ):
        return prum_xml.decode(await r.read())


async def _partner_searches_uk(
    cluster: Cluster, s: aiohttp.ClientSession, out: list[str]
) -> dict[str, Any]:
    """DE searches the UK gallery with a stain of someone the UK has enrolled."""
    subject = 1 * PARTNER_SUBJECTS + 2  # enrolled in the UK as well as held by DE
    probe = population.people(SEED, [subject], "DE", capture=1, with_fingerprints=False)[0].record
    reply = await _de_searches_uk(cluster, probe, "dna-search", "de-demo")
    refs = []
    if isinstance(reply.body, SearchReply):
        refs = [
            f"{c.match_type.value} {c.reference[:14]}…"
            for res in reply.body.results
            for c in res.candidates
        ]
    out.append(f"DE searched the UK gallery (Prüm XML, DNA stain): {', '.join(refs) or 'no hit'}")
    return {"references": refs}


EXAMPLE_PRINTS = Path(__file__).resolve().parent.parent / "examples" / "nist-type-14-tpcard.eft"


async def _real_prints_search_uk(
    cluster: Cluster, s: aiohttp.ClientSession, out: list[str]
) -> dict[str, Any]:
    """NIST's public-domain ten-print (examples/, see its NOTICE) enrolled in the UK gallery as
    the transaction it is, images only; then DE searches the UK gallery with the same
    person's plain impressions (thumbs and slaps, WSQ images only): the gateway extracts
    mindtct minutiae in its pool at both ends and re-ranks by Bozorth3."""
    if not EXAMPLE_PRINTS.exists():
        out.append("Real prints: examples/nist-type-14-tpcard.eft is absent, skipped")
        return {}
    data = EXAMPLE_PRINTS.read_bytes()
    person = population.people(SEED, [REAL_PRINTS_SUBJECT], "GB", with_fingerprints=False)[0]
    doc = uk_json.record_to_json(person.record)
    doc["fingerprints"] = {"ansi_nist": base64.b64encode(data).decode("ascii")}
    async with s.post(f"{cluster.client_url}/v1/records", json=doc) as r:
        enrolled = await r.json()
    if r.status != 201:
        out.append(f"Real prints: enrolment refused, HTTP {r.status} UNEXPECTED")
        return {"status": r.status}
    prints = fingerprints_from_bytes(data)
    plain = replace(
        prints,
        fingers=tuple(f for f in prints.fingers if f.position in (11, 12, 13, 14)),
        impression=Impression.PLAIN,
    )
    started = time.perf_counter()
    reply = await _de_searches_uk(
        cluster,
        PersonRecord(reference="DE-NIST-PLAIN-1", fingerprints=plain),
        "dacty-search",
        "de-demo-prints",
    )
    took = time.perf_counter() - started
    found = (
        [c for res in reply.body.results for c in res.candidates]
        if isinstance(reply.body, SearchReply)
        else []
    )
    ok = bool(found) and found[0].reference == enrolled["reference"]
    best = f"hit {found[0].reference[:14]}… score {found[0].score:.2f}" if found else "no hit"
    out.append(
        f"DE searched the UK gallery with NIST's plain impressions (4 WSQ images, mindtct +"
        f" Bozorth3, {took:.1f} s): {best}; ground truth: the enrolled rolled ten-print, "
        + ("as expected" if ok else "UNEXPECTED")
    )
    return {"ok": ok, "seconds": round(took, 2)}


async def _interpol_searches_uk(cluster: Cluster, out: list[str]) -> dict[str, Any]:
    """Interpol searches the UK gallery over INT-I v6 (a CPS, traditional encoding) with
    another capture of the prints of someone the UK has enrolled with prints."""
    probe = population.people(SEED, [INT_I_SUBJECT], "GB", capture=1)[0].record
    outbound = Outbound(
        message_id=f"interpol-demo-{time.time_ns()}",
        correlation_id="interpol-demo",
        timestamp=dt.datetime.now(dt.UTC),
        sender="INTERPOL",
        receiver="GB",
        message="dacty-search",
    )
    cps = translate(uk_json.encode(probe), "uk-json", "int-i", outbound)
    url = f"https://127.0.0.1:{cluster.gateway.partner_port}{INT_I_PATH}"
    interpol_ssl = ssl_client_context(cluster_files(cluster.root, "INTERPOL"))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=interpol_ssl)) as session,
        session.post(url, data=cps, headers={"Content-Type": "application/octet-stream"}) as r,
    ):
        sre = int_i_traditional.decode(await r.read())
    t2 = sre.type2
    found = t2.person.value if t2 is not None and t2.person is not None else None
    named = t2 is not None and t2.subject is not None
    out.append(
        f"INTERPOL searched the UK gallery (INT-I CPS, traditional): {sre.tot} "
        + (f"hit {found[:14]}…" if found else "no hit")
        + (", naming the person (UNEXPECTED)" if named else ", the person not named (step 2)")
    )
    return {"tot": sre.tot, "reference": found, "named": named}


async def _enrol_uk(cluster: Cluster) -> int:
    """The UK gallery: some people of its own, and some also held by DE."""
    node = cluster.gateway.node
    assert node is not None
    subjects = list(range(20)) + [1 * PARTNER_SUBJECTS + i for i in range(5)]
    people = population.people(SEED, subjects, "GB", with_fingerprints=False)
    people += population.people(SEED, [INT_I_SUBJECT], "GB")  # with prints, for INT-I
    for person in people:
        node.enrol(person.record.identifiers.pnc_id or str(person.subject), person.record)
    return len(people)


async def demo(once: bool, data_dir: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="prum-demo-") as tmp:
        root = data_dir or Path(tmp)
        print(
            f"Starting mock partners {', '.join(PARTNERS)} and the UK gateway on 127.0.0.1 ...",
            flush=True,
        )
        token = secrets.token_urlsafe(24)
        async with running_cluster(
            root, PARTNERS, seed=SEED, gallery_size=GALLERY, tls=True, client_token=token
        ) as cluster:
            enrolled = await _enrol_uk(cluster)
            print(
                f"Ready in {time.perf_counter() - started:.1f} s: {len(PARTNERS)} partners x "
                f"{GALLERY} people, UK gallery {enrolled} records.\n",
                flush=True,
            )
            lines: list[str] = []
            results = await run_script(cluster, lines)
            print("\n".join(lines), flush=True)
            if not once:
                _print_urls(cluster)
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await stop.wait()
    return results


def _print_urls(cluster: Cluster) -> None:
    url = cluster.client_url
    example = cluster.root / "search.json"
    example.write_text(json.dumps(_search_body(2 * PARTNER_SUBJECTS + 3, ("face",), "TRY-1")))
    print(f"\nServing until Ctrl-C. Client token (all scopes): {cluster.token}")
    print(f"Try:\n  {url}/v1/openapi.json   {url}/readyz")
    print(f"  curl -s -H 'Authorization: Bearer {cluster.token}' {url}/metrics")
    print(
        f"  curl -s -X POST '{url}/v1/searches?wait=10' -H 'Authorization: Bearer {cluster.token}'"
        f" -H 'Content-Type: application/json' -d @{example}"
    )
    print(f"Partner nodes (mutual TLS, certificates in {cluster.root / 'pki'}):")
    for pid in cluster.partners:
        print(f"  {pid}: {cluster.partner_url(pid)}")


def main(once: bool, data_dir: Path | None = None) -> int:
    results = event_loop.run(demo(once, data_dir))
    ok = all(step["ok"] for step in results["steps"])
    return 0 if ok else 1
