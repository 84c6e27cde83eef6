"""The prints half of the real-samples drill: NIST's prints planted at a partner and searched
as images through a real UK gateway, scored against ground truth."""

from __future__ import annotations

import tomllib
from pathlib import Path

import aiohttp
import pytest

from exchange import event_loop
from mock_partners import real_prints
from mock_partners.cluster import running_cluster
from tests.shared_data import THIRDPARTY, needs_shared

PRINTS_PART = Path(real_prints.__file__).parent / "real-samples.prints.toml"


def test_the_scenario_tables_parse_and_bad_ones_are_named() -> None:
    doc = tomllib.loads(PRINTS_PART.read_text())["real_samples"]
    plants, probes = real_prints.parse(doc, ["DE"])
    assert [p.reference for p in plants] == ["DE-REAL-PRINTS-1"]
    assert [p.expect for p in probes] == ["hit", "hit", "hit", "no_hit"]
    with pytest.raises(real_prints.RealPrintsError, match=r"prints\[0\]\.at"):
        real_prints.parse(doc, ["FR"])
    bad = {"print_probes": [{"probe": "x", "expect": "hit", "mate": "NOBODY"}]}
    with pytest.raises(real_prints.RealPrintsError, match="mate"):
        real_prints.parse(bad, ["DE"])


@needs_shared
def test_planted_prints_are_found_and_a_stranger_is_not(tmp_path: Path) -> None:
    doc = tomllib.loads(PRINTS_PART.read_text())["real_samples"]
    plants, probes = real_prints.parse(doc, ["DE"])
    chosen = [p for p in probes if p.path.endswith(("flats.eft", "img.jp2"))]

    async def main() -> list[dict[str, object]]:
        async with (
            running_cluster(
                tmp_path,
                ("DE",),
                gallery_size=6,
                uk_overrides={"search_deadline_s": 60.0},
                partner_overrides={"DE": {"timeout_s": 30.0}},
            ) as c,
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as s,
        ):
            for planted in plants:
                real_prints.plant(c.partners[planted.at], planted, THIRDPARTY)
            return await real_prints.run_probes(s, c.client_url, chosen, THIRDPARTY, 7)

    results = event_loop.run(main())
    assert [(r["expect"], r["ok"]) for r in results] == [("hit", True), ("no_hit", True)]
