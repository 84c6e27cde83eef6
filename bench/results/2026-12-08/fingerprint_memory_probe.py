"""Issue 24 item 4 probe: build a fingerprint gallery of N subjects in 10k chunks (chunks dropped),
then measure the process anonymous and resident growth (/proc/self/smaps_rollup), ten-print
rank-1 and searches/s (500 queries), latent rank-1 and searches/s (100). Run against a checkout
through PYTHONPATH: python fingerprint_memory_probe.py N OUT.json [INDEX].
"""

import gc
import json
import sys
import time
from pathlib import Path

import faiss
import numpy as np

import matchers
from matchers.fingerprint import FingerprintGallery
from matchers.synthetic import minutiae_recapture, tenprint

SEED = 4242
n = int(sys.argv[1])
out = sys.argv[2]


def mem() -> dict[str, int]:
    kb = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[-1] == "kB":
            kb[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return kb


faiss.omp_set_num_threads(2)
gc.collect()
before = mem()
g = FingerprintGallery(sys.argv[3]) if len(sys.argv) > 3 else FingerprintGallery()
t0 = time.perf_counter()
gen = 0.0
chunk = 10_000
for s in range(0, n, chunk):
    t1 = time.perf_counter()
    sets = [tenprint(SEED, i) for i in range(s, min(n, s + chunk))]
    gen += time.perf_counter() - t1
    g.add_many([f"S{i}" for i in range(s, min(n, s + chunk))], sets)
    del sets
build = time.perf_counter() - t0 - gen
gc.collect()
after = mem()
mates = np.linspace(0, n - 1, 500).astype(np.int64)
queries = [tenprint(SEED, int(i), capture=1) for i in mates]
t1 = time.perf_counter()
res = g.search(queries, k=1)
bs = time.perf_counter() - t1
t1 = time.perf_counter()
res = g.search(queries, k=1)
bs = min(bs, time.perf_counter() - t1)
rank1 = float(
    np.mean([bool(r) and r[0].reference == f"S{i}" for r, i in zip(res, mates, strict=True)])
)
faiss.omp_set_num_threads(1)
lat_ids = mates[:100]
t1 = time.perf_counter()
lat = [g.search_latent(minutiae_recapture(SEED, int(i), 2, capture=3), k=1) for i in lat_ids]
ls = time.perf_counter() - t1
lat_rank1 = float(
    np.mean(
        [
            bool(r) and (r[0].reference, r[0].position) == (f"S{i}", 2)
            for r, i in zip(lat, lat_ids, strict=True)
        ]
    )
)
gc.collect()
final = mem()
row = {
    "code": matchers.__file__,
    "N": n,
    "build_s": build,
    "gen_s": gen,
    "anonymous_bytes_per_subject": (after["Anonymous"] - before["Anonymous"]) / n,
    "rss_bytes_per_subject": (after["Rss"] - before["Rss"]) / n,
    "anonymous_after_searches_per_subject": (final["Anonymous"] - before["Anonymous"]) / n,
    "rss_after_searches_per_subject": (final["Rss"] - before["Rss"]) / n,
    "memory_bytes_per_subject": {k: v / n for k, v in g.memory_bytes().items()},
    "tenprint_rank1": rank1,
    "tenprint_batch_qps": len(queries) / bs,
    "queries": len(queries),
    "latent_rank1": lat_rank1,
    "latent_qps": len(lat_ids) / ls,
    "latent_searches": len(lat_ids),
}
print(json.dumps(row, indent=1))
Path(out).write_text(json.dumps(row, indent=1))
