"""Issue 24 item 4 probe: `N DIR build` builds N subjects in 10k chunks, measures anonymous memory
growth, after malloc_trim(0), saves to DIR; `N DIR load` loads DIR in a fresh process and
measures it (smaps_rollup).
"""

import ctypes
import gc
import json
import sys
from pathlib import Path

from matchers.fingerprint import FingerprintGallery
from matchers.synthetic import tenprint


def mem() -> dict[str, int]:
    kb = {}
    for line in Path("/proc/self/smaps_rollup").read_text().splitlines()[1:]:
        p = line.split()
        if p[-1] == "kB":
            kb[p[0].rstrip(":")] = int(p[1]) * 1024
    return kb


n = int(sys.argv[1])
d = Path(sys.argv[2])
if sys.argv[3] == "load":
    gc.collect()
    b = mem()
    g = FingerprintGallery.load(d)
    gc.collect()
    a = mem()
    r = g.search([tenprint(4242, 7, capture=1)], k=1)
    gc.collect()
    c = mem()
    print(
        json.dumps(
            {
                "loaded_anonymous_per_subject": (a["Anonymous"] - b["Anonymous"]) / n,
                "loaded_rss_per_subject": (a["Rss"] - b["Rss"]) / n,
                "after_one_search_anonymous": (c["Anonymous"] - b["Anonymous"]) / n,
                "after_one_search_rss": (c["Rss"] - b["Rss"]) / n,
                "hit": r[0][0].reference,
            }
        )
    )
    sys.exit()
gc.collect()
b = mem()
g = FingerprintGallery()
for s in range(0, n, 10000):
    sets = [tenprint(4242, i) for i in range(s, min(n, s + 10000))]
    g.add_many([f"S{i}" for i in range(s, min(n, s + 10000))], sets)
    del sets
gc.collect()
a = mem()
ctypes.CDLL("libc.so.6").malloc_trim(0)
t = mem()
g.save(d)
print(
    json.dumps(
        {
            "built_anonymous_per_subject": (a["Anonymous"] - b["Anonymous"]) / n,
            "after_malloc_trim_anonymous_per_subject": (t["Anonymous"] - b["Anonymous"]) / n,
            "memory_bytes": {k: v / n for k, v in g.memory_bytes().items()},
        }
    )
)
