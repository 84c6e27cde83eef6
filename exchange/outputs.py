"""Where the commands write when not told: one git-ignored directory, `out/`.

Relative to the working directory, like every other path given on the command line; the
repository's `.gitignore` lists `/out/`, so running from a checkout leaves the tree clean.
"""

from __future__ import annotations

from pathlib import Path

OUT = Path("out")
BENCH_OUT = OUT / "bench"  # `prum-exchange bench ... --out`
PARTNER_DATA = OUT / "partner-data"  # `prum-exchange partner --data-dir`, under the id
