"""`prum-exchange bench dna`: Prüm-rule DNA search against the naive full scan, same run.

Measured: build time, single-search latency (p50, p99 of wall time, and of the thread CPU time
that leaves out the waits of a shared host; through the public `search` with its
profile parsing), searches/s, gallery bytes per profile, and the naive baseline (the same rule
as one vectorised comparison over the whole (N, loci, 2) array, `matchers.dna.naive_search`)
on a subset of the same queries; the ratio is naive mean / blocked mean. Correctness: the
blocked result set must equal the naive one on every baseline query, and every mated stain
must find its donor.

Data: synthetic UK DNA-17 reference profiles (`matchers.synthetic.dna_keys`, UK NDNAD allele
frequencies, Caucasian group). Queries, "realistic": stains of enrolled donors with 3 loci
lost and allele drop-out (a quarter near matches), plus the same number of non-mated stains.
"worst": 6-locus stains (the fewest loci the rules allow) typed only at the six loci whose
commonest genotype is most common, each locus holding one of its three commonest genotypes
(query i takes the base-3 digits of i, so query 0 holds the commonest genotype everywhere):
the longest postings the index can be asked for and the most matches (thousands at 7M).
"microvariant": the realistic stains with 2-4 alleles each read as a micro-variant related to
the donor's by the annex's tables (12 as 12.1 or 11.3, 9.3 as 9.2; `matchers.microvariants`):
every probe then carries micro-variants at 2-4 loci, whose blocks are unions of several
genotypes' postings. Each scenario is its own row with its own naive baseline.

`--microvariants` picks the reading the gallery and the queries are encoded with (default the
annex's tables; "repeat" was the default before them, for before/after figures).

`--cache DIR` keeps each generated gallery as `DIR/dna-keys-<seed>-<N>.npy` for the next run
(generating 7M profiles takes minutes).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.report import Plot, Report, Row, Series, describe, write_report
from exchange.option_types import SIZE, OneLineParser, int_list
from exchange.outputs import BENCH_OUT
from matchers.dna import DnaGallery, naive_search
from matchers.dna_profile import (
    BLANK,
    DNA17_LOCI,
    LOCI,
    LOCUS_INDEX,
    MICROVARIANT_RULES,
    PENTANUCLEOTIDE_LOCI,
    WILDCARD,
    MicrovariantRule,
    allele_key,
    decode_keys,
    key_text,
)
from matchers.microvariants import neighbours
from matchers.synthetic import dna_keys, dna_recapture_keys

SEED = 20260
FULL_SIZES = (100_000, 1_000_000, 7_000_000)
QUICK_SIZES = (20_000,)


WORST_LOCI = 6  # the fewest full loci a searchable profile may have (2008/616 Annex 1.1)
WORST_CHOICES = 3  # genotypes per locus the worst-case queries draw from


def _worst_queries(keys: npt.NDArray[np.int16], n: int) -> npt.NDArray[np.int16]:
    """6-locus profiles built from the commonest genotypes: the least selective queries.

    The six loci are those whose commonest genotype is most common; query i holds, at the
    j-th of them, the (base-3 digit j of i)-th commonest genotype there.
    """
    sample = keys[: min(len(keys), 50_000)]
    out = np.zeros((n, keys.shape[1], 2), dtype=np.int16)
    commonest: list[tuple[float, int, npt.NDArray[np.int16]]] = []
    for name in DNA17_LOCI:
        col = LOCUS_INDEX[name]
        pairs, counts = np.unique(sample[:, col, :], axis=0, return_counts=True)
        order = np.argsort(-counts, kind="stable")
        commonest.append((float(counts[order[0]]) / len(sample), col, pairs[order]))
    commonest.sort(key=lambda t: -t[0])
    digits = np.arange(n)
    for _, col, pairs in commonest[:WORST_LOCI]:
        choice = (digits % WORST_CHOICES) % len(pairs)
        out[:, col, :] = pairs[choice]
        digits = digits // WORST_CHOICES
    return out


def _microvariant_queries(stains: npt.NDArray[np.int16], seed: int) -> npt.NDArray[np.int16]:
    """The stains with 2, 3 or 4 alleles (by turn) each moved to a micro-variant the annex
    relates to it, at as many distinct typed loci (annex keys in, annex keys out)."""
    rng = np.random.default_rng(seed)
    out = stains.copy()
    for i, row in enumerate(out):
        typed = [c for c in range(len(LOCI)) if row[c, 0] > BLANK]
        for col in rng.permutation(typed)[: 2 + i % 3]:
            side = int(rng.integers(2))
            penta = LOCI[col] in PENTANUCLEOTIDE_LOCI
            key = int(row[col, side])
            moves = sorted(k for k in neighbours(key, penta) if k % 10 and k != key)
            if moves:
                row[col, side] = moves[int(rng.integers(len(moves)))]
        row.sort(axis=1)
    return out


def under_rule(keys: npt.NDArray[np.int16], rule: MicrovariantRule) -> npt.NDArray[np.int16]:
    """Annex-encoded keys as `rule` encodes the same allele strings (through `allele_key`,
    one distinct value at a time), pairs sorted again, all-wildcard loci made blank."""
    if rule == "annex":
        return keys
    out = keys.copy()
    for col, locus in enumerate(LOCI):
        column = out[:, col, :]
        for key in np.unique(column):
            if key > BLANK:
                column[column == key] = allele_key(key_text(int(key)), locus, rule)
    out.sort(axis=2)
    out[(out[..., 0] == WILDCARD) & (out[..., 1] == WILDCARD)] = BLANK
    return out


def _gallery_keys(n: int, cache: Path | None) -> tuple[npt.NDArray[np.int16], float]:
    """The N synthetic reference profiles (annex keys) and the seconds spent generating them
    (0 if cached)."""
    path = None if cache is None else cache / f"dna-keys-annex-{SEED}-{n}.npy"
    if path is not None and path.exists():
        keys = np.load(path, allow_pickle=False)
        if keys.shape == (n, len(LOCI), 2) and keys.dtype == np.int16:
            return keys, 0.0
    t0 = time.perf_counter()
    keys = dna_keys(SEED, 0, n)
    gen_s = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        part = path.with_name(path.name + ".part.npy")
        np.save(part, keys)
        part.replace(path)
    return keys, gen_s


def _time_searches(
    gallery: DnaGallery, queries: npt.NDArray[np.int16], keep: int
) -> tuple[list[float], list[float], list[int], list[list[str]]]:
    """Wall and thread CPU time and hit count of each search, and the references found by the
    first `keep` (CPU time leaves out the waits of a shared host: preemption, other jobs).

    Only those few are kept: holding every result list (millions of references over a
    worst-case run at 7M) made each full garbage collection during later searches walk them
    all, charging the benchmark's own bookkeeping to the search.
    """
    gc.collect()
    lat: list[float] = []
    cpu: list[float] = []
    hits: list[int] = []
    kept: list[list[str]] = []
    for i, q in enumerate(queries):
        loci = decode_keys(q)
        t0, c0 = time.perf_counter(), time.thread_time()
        matches = gallery.search(loci, profile_type="stain")
        cpu.append(time.thread_time() - c0)
        lat.append(time.perf_counter() - t0)
        hits.append(len(matches))
        if i < keep:
            kept.append(sorted(m.reference for m in matches))  # duplicates would show
        del matches
    return lat, cpu, hits, kept


def run_size(
    n: int,
    n_queries: int,
    n_naive: int,
    cache: Path | None = None,
    rule: MicrovariantRule = "annex",
) -> list[Row]:
    annex_keys, gen_s = _gallery_keys(n, cache)
    keys = under_rule(annex_keys, rule)
    gallery = DnaGallery(microvariants=rule)
    t0 = time.perf_counter()
    gallery.add_keys([f"S{i}" for i in range(n)], keys)
    gallery.seal()
    build_s = time.perf_counter() - t0
    nbytes = gallery.nbytes()
    mates = np.linspace(0, n - 1, n_queries // 2).astype(np.int64)
    strangers = np.arange(n, n + n_queries // 2)
    realistic = np.concatenate(
        (
            dna_recapture_keys(SEED, mates, dropout=0.25, drop_loci=3),
            dna_recapture_keys(SEED, strangers, dropout=0.25, drop_loci=3),
        )
    )
    scenarios = (
        ("realistic", under_rule(realistic, rule)),
        ("worst", _worst_queries(keys, n_queries)),
        ("microvariant", under_rule(_microvariant_queries(realistic, SEED), rule)),
    )
    rows: list[Row] = []
    for scenario, queries in scenarios:
        mated = scenario != "worst"
        keep = max(n_naive, len(mates) if mated else 0)
        lat, cpu, hits, found = _time_searches(gallery, queries, keep)
        mate_hits = sum(f"S{m}" in found[i] for i, m in enumerate(mates)) if mated else None
        naive_lat: list[float] = []
        agree = 0
        for i in range(n_naive):
            t0 = time.perf_counter()
            verdict = naive_search(keys, queries[i], rule)
            naive_lat.append(time.perf_counter() - t0)
            agree += sorted(f"S{j}" for j in np.flatnonzero(verdict.is_match)) == found[i]
        lat_ms = np.array(lat) * 1e3
        cpu_ms = np.array(cpu) * 1e3
        naive_ms = float(np.mean(naive_lat) * 1e3)
        rows.append(
            {
                "N": n,
                "microvariants": rule,
                "queries": scenario,
                "n_queries": len(queries),
                "gen_s": gen_s,
                "build_s": build_s,
                "bytes_per_profile": nbytes / n,
                "p50_ms": float(np.percentile(lat_ms, 50)),
                "p99_ms": float(np.percentile(lat_ms, 99)),
                "cpu_p50_ms": float(np.percentile(cpu_ms, 50)),
                "cpu_p99_ms": float(np.percentile(cpu_ms, 99)),
                "mean_ms": float(lat_ms.mean()),
                "searches_per_s": float(1e3 / lat_ms.mean()),
                "naive_mean_ms": naive_ms,
                "speedup_vs_naive": naive_ms / float(lat_ms.mean()),
                "naive_agreement": f"{agree}/{n_naive}",
                "mates_found": None if mate_hits is None else f"{mate_hits}/{len(mates)}",
                "hits_per_query": float(np.mean(hits)),
                "max_hits": int(max(hits)),
            }
        )
        print(describe_row(rows[-1]), flush=True)
    del gallery, keys
    return rows


def describe_row(row: Row) -> str:
    return (
        f"N={row['N']:>9} {row['microvariants']:>6} {row['queries']:>12}: "
        f"p50 {row['p50_ms']:.2f} ms, "
        f"p99 {row['p99_ms']:.2f} ms (cpu p50 {row['cpu_p50_ms']:.2f}, p99 "
        f"{row['cpu_p99_ms']:.2f}), "
        f"naive {row['naive_mean_ms']:.1f} ms, x{row['speedup_vs_naive']:.0f}, "
        f"agree {row['naive_agreement']}, mates {row['mates_found']}, "
        f"hits mean {row['hits_per_query']:.1f} max {row['max_hits']}"
    )


def main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench dna", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small gallery, a few seconds")
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    parser.add_argument("--sizes", type=int_list(1, 100_000_000), default=None)
    parser.add_argument("--queries", type=SIZE, default=None)
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep generated galleries here between runs"
    )
    parser.add_argument(
        "--microvariants",
        choices=MICROVARIANT_RULES,
        default="annex",
        help="the micro-variant reading of gallery and queries (default: the annex's tables)",
    )
    args = parser.parse_args(list(argv))
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    n_queries = args.queries or (100 if args.quick else 400)
    n_naive = 5 if args.quick else 10
    rows: list[Row] = []
    for n in sizes:
        rows.extend(run_size(n, n_queries, n_naive, args.cache, args.microvariants))

    def series(scenario: str, key: str, label: str) -> Series:
        sel = [r for r in rows if r["queries"] == scenario]
        return Series(label, [float(r["N"]) for r in sel], [float(r[key]) for r in sel])  # type: ignore[arg-type]

    report = Report(
        name="dna",
        measured="Prüm-rule DNA search latency and throughput, blocked index vs naive full scan",
        data="synthetic UK DNA-17 reference profiles (likeLTD DNA17-db frequencies, NDU1); "
        "stains of donors (3 loci lost, allele drop-out) and non-mated stains; worst case: "
        "6-locus stains of the 3 commonest genotypes at the 6 loci with the commonest ones; "
        "micro-variant-heavy: the stains with 2-4 alleles read as related micro-variants",
        baseline="matchers.dna.naive_search: the same rule vectorised over the whole "
        "(N, loci, 2) int16 array, timed in the same process on the first queries",
        params={
            "sizes": ",".join(map(str, sizes)),
            "queries": n_queries,
            "naive_queries": n_naive,
            "seed": SEED,
            "microvariants": args.microvariants,
            "threads": 1,
        },
        rows=rows,
        plots=[
            Plot(
                "search latency",
                "gallery size N",
                "ms",
                [
                    series("realistic", "p50_ms", "blocked p50 (realistic)"),
                    series("realistic", "p99_ms", "blocked p99 (realistic)"),
                    series("worst", "p50_ms", "blocked p50 (worst case)"),
                    series("worst", "p99_ms", "blocked p99 (worst case)"),
                    series("microvariant", "p99_ms", "blocked p99 (micro-variant-heavy)"),
                    series("realistic", "naive_mean_ms", "naive full scan (realistic)"),
                    series("worst", "naive_mean_ms", "naive full scan (worst case)"),
                ],
                log_x=True,
                log_y=True,
            ),
            Plot(
                "speed-up over naive",
                "gallery size N",
                "naive / blocked",
                [
                    series("realistic", "speedup_vs_naive", "realistic"),
                    series("worst", "speedup_vs_naive", "worst case"),
                    series("microvariant", "speedup_vs_naive", "micro-variant-heavy"),
                ],
                log_x=True,
            ),
        ],
        notes=[
            "targets: 1M <= 5 ms per search and >= 50x naive; 7M < 50 ms",
            "latency is wall time of one search through the public API (profile parsing, "
            "blocking, rule check, building every match), single thread, on a shared host",
        ],
    )
    json_path, png_path = write_report(report, args.out)
    print(describe(report))
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
