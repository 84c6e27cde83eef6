"""A job that holds one slot of an extraction pool until the test lets it go.

Tests that need the pool full must not bet on a sleep outlasting the requests they send (a
loaded machine makes those slower than any fixed sleep); this job waits for a file the test
creates when it is done, bounded so that a failing test cannot leave a worker behind.
"""

from __future__ import annotations

import time
from pathlib import Path

HOLD_LIMIT_S = 60.0


def hold_until(release: str, limit_s: float = HOLD_LIMIT_S) -> None:
    """Return once `release` exists, or after `limit_s` seconds at most."""
    ends = time.monotonic() + limit_s
    while not Path(release).exists() and time.monotonic() < ends:
        time.sleep(0.02)
