"""Child processes a benchmark starts (gateways, partners, probes) and how they are stopped."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable


def stop(procs: Iterable[subprocess.Popen[bytes]], grace_s: float = 10.0) -> None:
    """SIGTERM every process, then wait for each; one still running after `grace_s` is killed."""
    procs = list(procs)
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(grace_s)
        except subprocess.TimeoutExpired:
            p.kill()
