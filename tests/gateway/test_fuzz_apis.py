"""Property-based attack on both HTTP entry points: mutated valid inputs never get a 5xx,
a dropped connection, or an error without a typed body (the long run: bench/fuzz_gateway)."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from pathlib import Path

import aiohttp
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.fuzz_gateway import mutate_bytes, mutate_json, seeds
from mock_partners.cluster import running_cluster


def test_mutated_inputs_get_typed_answers(tmp_path: Path) -> None:
    bodies, messages = seeds()
    results: list[tuple[str, int, bytes]] = []

    @settings(max_examples=150, database=None)
    @given(
        seed=st.integers(0, 2**32), entry=st.sampled_from(["client", "partner"]), raw=st.booleans()
    )
    def cases(seed: int, entry: str, raw: bool) -> None:
        rng = random.Random(seed)
        if entry == "client":
            data = json.dumps(mutate_json(rng.choice(bodies), rng)).encode()
            inputs.append(("client", mutate_bytes(data, rng) if raw else data))
        else:
            inputs.append(("partner", mutate_bytes(rng.choice(messages), rng)))

    inputs: list[tuple[str, bytes]] = []
    cases()

    async def main() -> None:
        async with running_cluster(
            tmp_path, ("DE",), seed=3, gallery_size=4, uk_overrides={"search_deadline_s": 2.0}
        ) as c:
            urls = {
                "client": f"{c.client_url}/v1/searches",
                "partner": f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages",
            }
            types = {"client": "application/json", "partner": "application/xml"}
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s:
                for entry, data in inputs:
                    async with s.post(
                        urls[entry], data=data, headers={"Content-Type": types[entry]}
                    ) as r:
                        results.append((entry, r.status, await r.read()))

    asyncio.run(main())
    assert len(results) == len(inputs) >= 100
    for entry, status, body in results:
        assert status < 500, (entry, status, body[:300])
        if status >= 400:
            if entry == "client":
                assert "error" in json.loads(body)
            else:
                assert b"<Error" in body and b"urn:prum-exchange:prum:1.0" in body


def test_an_all_zero_face_template_is_refused_at_both_doors(tmp_path: Path) -> None:
    """What the fuzzing above once found: a template of zeros passed the codecs and crashed
    the face matcher (500 on the partner side). Now a typed 4xx names the field: 422 for the
    client's record (its JSON is well formed), 400 for the partner's message."""
    bodies, messages = seeds()
    body = json.loads(json.dumps(bodies[0]))
    template = body["record"]["face"]["template"]
    zeros = base64.b64encode(bytes(len(base64.b64decode(template)))).decode()
    body["record"]["face"]["template"] = zeros
    (face,) = [m for m in messages if b"fz-0-face-search" in m]
    assert template.encode() in face
    message = face.replace(template.encode(), zeros.encode())

    async def main() -> list[tuple[int, bytes]]:
        async with (
            running_cluster(tmp_path, ("DE",), seed=3, gallery_size=4) as c,
            aiohttp.ClientSession() as s,
        ):
            partner_url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
            out = []
            async with s.post(f"{c.client_url}/v1/searches", json=body) as r:
                out.append((r.status, await r.read()))
            headers = {"Content-Type": "application/xml"}
            async with s.post(partner_url, data=message, headers=headers) as r:
                out.append((r.status, await r.read()))
            return out

    (client_status, client_body), (partner_status, partner_body) = asyncio.run(main())
    assert client_status == 422, client_body
    error = json.loads(client_body)["error"]
    assert error["field"] == "record.face.template" and "all zeros" in error["message"]
    assert partner_status == 400
    assert b"<Error" in partner_body and b"all zeros" in partner_body


def test_mutated_int_i_gets_int_i_errors_and_the_seeds_are_searched(tmp_path: Path) -> None:
    """The partner API's INT-I route: each seed (Interpol's CPS, XML and traditional) under a
    TCN of its own is searched (200, an SRE); mutated, never a 5xx, and every 4xx carries an
    INT-I ERR in the encoding that was sent (or the transport's error for a body too big)."""
    import datetime as dt

    from bench.fuzz_gateway import _int_i_tcn_of, int_i_seeds
    from exchange.codecs import int_i_codes as codes
    from exchange.codecs import int_i_traditional, int_i_xml
    from exchange.codecs.int_i_envelope import int_i_tcn
    from exchange.gateway.inbound.partner_api import INT_I_PATH

    year = dt.datetime.now(dt.UTC).year
    rng = random.Random(21)
    seeds_ = int_i_seeds()
    fresh = [
        s.replace(_int_i_tcn_of(s), int_i_tcn(f"t{i}", year).encode()) for i, s in enumerate(seeds_)
    ]
    mutated = [
        mutate_bytes(rng.choice(seeds_).replace(_int_i_tcn_of(seeds_[0]), b""), rng)
        for _ in range(60)
    ] + [mutate_bytes(s, rng) for s in fresh for _ in range(10)]

    async def main() -> list[tuple[bytes, int, bytes]]:
        async with (
            running_cluster(tmp_path, ("DE", "INTERPOL"), seed=3, gallery_size=4) as c,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as s,
        ):
            url = f"http://127.0.0.1:{c.gateway.partner_port}{INT_I_PATH}"
            out = []
            for data in fresh + mutated:
                async with s.post(url, data=data) as r:
                    out.append((data, r.status, await r.read()))
            return out

    results = asyncio.run(main())
    for data, status, body in results[: len(fresh)]:
        assert status == 200, body[:300]
        decode = int_i_xml.decode if data[:1] == b"<" else int_i_traditional.decode
        assert decode(body).tot == codes.TOT_SRE
    for data, status, body in results[len(fresh) :]:
        assert status < 500, (status, body[:300])
        if status >= 400 and status != 413:
            sent_xml = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<"
            decode = int_i_xml.decode if sent_xml else int_i_traditional.decode
            assert decode(body).tot == codes.TOT_ERR, body[:300]


def test_the_gateway_fuzzer_s_image_entry_points_get_typed_answers(tmp_path: Path) -> None:
    """bench.fuzz_gateway's image inputs (face pictures and image-only prints at the client
    API, image-only face and dacty searches at the partner API), a few of each, against its
    real gateway: every entry point is reached and none answers 5xx or drops the connection."""
    from bench import fuzz_gateway

    result = asyncio.run(
        fuzz_gateway.run(2.0, 40, seed=5, hang_s=30.0, out=tmp_path, image_share=1.0)
    )
    assert result["inputs"] == 40
    reached = {key.rsplit(" ", 1)[0].split(" ")[0] for key in result["counts"]}
    assert reached == set(fuzz_gateway.IMAGE_ENTRIES), result["counts"]
    assert result["findings"] == 0, (tmp_path / "fuzz_gateway_findings.json").read_text()
    assert not [k for k in result["counts"] if k.endswith("5xx") or "failed" in k]


def test_a_wsq_image_that_crashes_the_decoder_is_refused_and_costs_the_gateway_nothing(
    tmp_path: Path,
) -> None:
    """What the gateway fuzzer found (seed 13, input 193575): the example card's finger 7
    with 47 bytes of its coded data cut (offset 1075) makes NBIS's WSQ decoder segfault. The
    extraction worker dies, and dies again when the job runs alone: the partner gets a typed
    refusal of its prints (422 profile_rejected: a retry would crash again), not a 5xx, the
    pool is restarted, and the next image-only search is answered."""
    from bench import fuzz_gateway, fuzz_images

    _, _, dacty, wsq_b64 = fuzz_gateway.image_message_seeds()
    (finger7,) = [r for r in fuzz_images.wsq_images() if r.text(13) == "7"]
    assert finger7.data is not None
    crashing = finger7.data[:1075] + finger7.data[1122:]
    bad = dacty.replace(wsq_b64, base64.b64encode(crashing)).replace(b">fz-0-", b">fzc1-", 1)
    good = dacty.replace(b">fz-0-", b">fzc2-", 1)

    async def main() -> list[tuple[int, str | None, bytes]]:
        async with running_cluster(tmp_path, ("DE",), seed=3, gallery_size=4) as c:
            url = f"http://127.0.0.1:{c.gateway.partner_port}/prum/v1/messages"
            out = []
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as s:
                for data in (bad, good):
                    async with s.post(
                        url, data=data, headers={"Content-Type": "application/xml"}
                    ) as r:
                        out.append((r.status, r.headers.get("Retry-After"), await r.read()))
            return out

    (bad_status, retry, bad_body), (good_status, _, good_body) = asyncio.run(main())
    assert retry is None  # a refusal of the input, not "come back later"
    assert bad_status == 422, bad_body[:300]
    assert b'code="profile_rejected"' in bad_body and b"crashed the decoder" in bad_body
    assert good_status == 200, good_body[:300]
