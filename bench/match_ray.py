"""`prum-exchange bench match --backend ray --shards 1,2,4`: the gallery sharded over Ray actors
beside the embedded gallery, in the same run, on the same records and probes.

One synthetic population (`mock_partners.population`: DNA-17 reference profiles drawn from
allele frequencies, faces of low intrinsic dimension, ten-prints) is enrolled into the local
`exchange.gallery.NodeGallery` (the baseline) and, for each shard count, into an
`exchange.gallery_ray.RayGallery` on a Ray cluster this process starts (`ray.init` on this
machine, one CPU per shard at most). Probes are second captures (a crime-scene stain with loci
lost, another photograph, re-rolled prints) of enrolled and of unknown subjects.

For each backend and modality: single searches one after another (p50, p99), and throughput
with `--clients` threads searching at once (what a gateway does under load); `identical`: every
probe's candidate list (references, scores, match types, order) equals the local one;
`merge_us`: the merge of the shards' answers alone (timed on the same answers, in the caller);
`call_overhead_ms`: p50 minus the local p50. FAISS runs on one OpenMP thread on both sides
(the actors' default under Ray). Memory per template is what each shard's
matchers hold (`GalleryShard.memory_bytes`), summed. On one machine all shards share its cores:
throughput per shard is what a shard of this machine serves, not a cluster's scaling.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.report import Report, Row, describe, write_report
from exchange.gallery import NodeGallery, Thresholds, dna_rank, score_rank
from exchange.model import Candidate, PersonRecord

MODALITIES = ("dna", "face", "fingerprint")
K = 10


def _records(n: int, seed: int) -> list[tuple[str, PersonRecord]]:
    from mock_partners import population

    people = population.people(seed, list(range(n)))
    return [(p.record.reference or "", p.record) for p in people]


def _probes(n: int, gallery_size: int, seed: int) -> list[PersonRecord]:
    """Second captures: mostly enrolled subjects, one in five unknown."""
    from mock_partners import population

    step = max(1, gallery_size // n)
    subjects = [i * step for i in range(n - n // 5)] + [gallery_size + i for i in range(n // 5)]
    return [p.record for p in population.people(seed, subjects, capture=1)]


def _search(gallery: Any, modality: str, probe: PersonRecord) -> list[Candidate]:
    if modality == "dna":
        assert probe.dna is not None
        return list(gallery.search_dna(probe.dna, K))
    if modality == "face":
        assert probe.face is not None
        return list(gallery.search_face(probe.face, K))
    assert probe.fingerprints is not None
    return list(gallery.search_fingerprints(probe.fingerprints, K))


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _measure(
    gallery: Any, modality: str, probes: Sequence[PersonRecord], clients: int
) -> tuple[list[list[Candidate]], dict[str, float]]:
    """Results, single-search p50/p99 (ms) and throughput with `clients` threads."""
    results, times = [], []
    for probe in probes:
        t0 = time.perf_counter()
        results.append(_search(gallery, modality, probe))
        times.append(time.perf_counter() - t0)
    with ThreadPoolExecutor(clients) as pool:
        t0 = time.perf_counter()
        list(pool.map(lambda p: _search(gallery, modality, p), probes))
        wall = time.perf_counter() - t0
    return results, {
        "p50_ms": 1e3 * statistics.median(times),
        "p99_ms": 1e3 * _percentile(times, 0.99),
        "qps": len(probes) / wall,
    }


def _merge_us(gallery: Any, modality: str, probes: Sequence[PersonRecord]) -> float:
    """The merge alone: the shards' answers fetched first, then merged as RayGallery does."""
    import ray

    from exchange.gallery_ray import merge_ranked

    spent = []
    for probe in probes[:50]:
        if modality == "dna":
            assert probe.dna is not None
            refs = [a.dna.remote([probe.dna], K) for a in gallery.actors]
            parts = [answer[0] for answer in ray.get(refs)]
            key: Callable[[Any], Any] = dna_rank
        elif modality == "face":
            refs = [a.face.remote(probe.face, K) for a in gallery.actors]
            parts, key = ray.get(refs), score_rank
        else:
            refs = [a.fingerprints.remote(probe.fingerprints, K) for a in gallery.actors]
            parts, key = ray.get(refs), score_rank
        if any(isinstance(p, str) for p in parts):
            continue
        t0 = time.perf_counter()
        merge_ranked(parts, key, K)
        spent.append(time.perf_counter() - t0)
    return 1e6 * statistics.mean(spent) if spent else 0.0


def _bytes_per_template(memory: Sequence[dict[str, int]], n: int) -> dict[str, float]:
    return {m: sum(shard[m] for shard in memory) / n for m in MODALITIES}


def run(args: argparse.Namespace) -> int:
    """The sharded run; `args` from `bench.match.main` (`--shards`, `--quick`, `--out`, ...)."""
    try:
        import ray
    except ImportError:
        print("bench match --backend ray: needs Ray: pip install 'prum-exchange[cluster]'")
        return 2
    from exchange.gallery_ray import NAMESPACE, GallerySettings, RayGallery
    from mock_partners import population

    shard_counts: list[int] = args.shards
    size = args.ray_size or (1000 if args.quick else 10_000)
    n_probes = args.queries or (100 if args.quick else 400)
    clients = args.clients
    seed = 4242
    print(f"records: {size} subjects with DNA, face and ten-prints; probes: {n_probes}", flush=True)
    t0 = time.perf_counter()
    records = _records(size, seed)
    probes = _probes(n_probes, size, seed)
    print(f"generated in {time.perf_counter() - t0:.1f} s", flush=True)
    settings = GallerySettings(population.FEATURE_MODEL, population.FACE_DIM, Thresholds())
    # Like for like: Ray starts actor workers with OMP_NUM_THREADS=1 (seen in this project's
    # Ray 2.60: a num_cpus=0 actor reports faiss.omp_get_max_threads() == 1), so the local
    # baseline's FAISS runs on one OpenMP thread too.
    import faiss

    faiss.omp_set_num_threads(1)
    local: NodeGallery = settings.build()
    t0 = time.perf_counter()
    for reference, record in records:
        local.add(reference, record)
    local_build = time.perf_counter() - t0
    local_memory = [
        {
            "dna": local.dna.nbytes(),
            "face": local.face.memory_bytes(),
            "fingerprint": sum(local.fingerprints.memory_bytes().values()),
        }
    ]
    rows: list[Row] = []
    baseline: dict[str, list[list[Candidate]]] = {}
    for modality in MODALITIES:
        found, figures = _measure(local, modality, probes, clients)
        baseline[modality] = found
        rows.append(
            {
                "backend": "local",
                "shards": 0,
                "modality": modality,
                "records": size,
                "build_s": local_build,
                **figures,
                "qps_per_shard": figures["qps"],
                "call_overhead_ms": 0.0,
                "merge_us": 0.0,
                "identical": "baseline",
                "bytes_per_template": _bytes_per_template(local_memory, size)[modality],
                "hits": sum(bool(r) for r in found),
            }
        )
        print(f"local {modality}: {figures}", flush=True)
    started = not ray.is_initialized()  # a test's cluster is used as it is
    if started:
        ray.init(
            num_cpus=max(shard_counts), include_dashboard=False, log_to_driver=False,
            namespace=NAMESPACE,
        )  # fmt: skip
    try:
        for shards in shard_counts:
            gallery = RayGallery(settings, shards=shards, name=f"bench-{shards}", timeout_s=60.0)
            try:
                t0 = time.perf_counter()
                for start in range(0, len(records), 2000):
                    gallery.add_many(records[start : start + 2000])
                build = time.perf_counter() - t0
                memory = gallery.memory_bytes()
                per_template = _bytes_per_template(memory, size)
                for modality in MODALITIES:
                    found, figures = _measure(gallery, modality, probes, clients)
                    same = found == baseline[modality]
                    local_p50 = next(
                        float(r["p50_ms"] or 0)
                        for r in rows
                        if r["backend"] == "local" and r["modality"] == modality
                    )
                    rows.append(
                        {
                            "backend": "ray",
                            "shards": shards,
                            "modality": modality,
                            "records": size,
                            "build_s": build,
                            **figures,
                            "qps_per_shard": figures["qps"] / shards,
                            "call_overhead_ms": figures["p50_ms"] - local_p50,
                            "merge_us": _merge_us(gallery, modality, probes),
                            "identical": "yes" if same else "no",
                            "differing_probes": sum(
                                a != b for a, b in zip(found, baseline[modality], strict=True)
                            ),
                            "bytes_per_template": per_template[modality],
                            "hits": sum(bool(r) for r in found),
                        }
                    )
                    print(
                        f"ray shards={shards} {modality}: {figures} identical: "
                        f"{'yes' if same else 'no'}",
                        flush=True,
                    )
            finally:
                gallery.close()
    finally:
        if started:
            ray.shutdown()
    report = Report(
        name="match-ray",
        measured="the gallery sharded over Ray actors beside the embedded gallery: search "
        "p50/p99, throughput, merge overhead, identical results, memory per template",
        data=f"{size} synthetic subjects (mock_partners.population, seed {seed}) with DNA-17, "
        f"a d={population.FACE_DIM} face template and ten-prints; {n_probes} second captures "
        "(four in five of enrolled subjects)",
        baseline="exchange.gallery.NodeGallery in this process, same records and probes",
        params={
            "shards": ",".join(map(str, shard_counts)),
            "records": size,
            "probes": n_probes,
            "clients": clients,
            "faiss_threads": 1,
            "k": K,
            "ray": str(ray.__version__),
        },
        rows=rows,
        notes=[
            "one machine: every shard shares its 2 cores with the driver and the other "
            "shards, so qps_per_shard is a lower bound of what a shard on its own node serves",
            "the machine is shared: other sessions' jobs may have run during this measurement",
        ],
    )
    json_path, png_path = write_report(report, args.out)
    print(describe(report))
    print(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    identical = all(r["identical"] in ("yes", "baseline") for r in rows)
    print(f"identical: {'yes' if identical else 'no'}")
    return 0
