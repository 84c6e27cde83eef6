"""Time-ordered identifiers (UUID version 7) for the keys the gateway writes on its hot path.

Search ids, partner message ids, DNA batch message ids and hit ids are primary or unique
keys of SQLite B-tree indexes. A random UUID (version 4) lands each new key on a random leaf
page, so every search dirties several pages scattered over the indexes, and each commit
writes every page it dirtied, whole, to the WAL; as the tables grow those pages also fall
out of SQLite's page cache. A UUID whose leading bits are the time lands every new key on the
rightmost leaf, where the keys of the other searches in the same group commit land too.
Measured with `prum-exchange bench store` (2026-11-29, stores aged to 10,000 and 200,000
searches, two full runs): random ids cost 1.14-1.37x the CPU, 1.29-1.60x the wall time and
2.2-2.3x the WAL bytes per search of these, the gap widening as the store grows; in the
gateway under `bench gateway`'s load (simple partners, 12 searches in flight), 26.8 WAL
pages per search with random ids, 22.7 with these.

Layout (RFC 9562, "Universally Unique IDentifiers (UUIDs)", May 2024, §5.7): 48 bits of
Unix time in milliseconds, the version (7), 12 bits `rand_a`, the variant (0b10) and 62
random bits `rand_b`. `rand_a` holds the sub-millisecond fraction of the time (§6.2,
method 3, "Replace Leftmost Random Bits with Increased Clock Precision"), and the stamp never
repeats or goes back within a process, so ids sort in the order they were made even within
one millisecond or across a clock step; 62 random bits keep them unguessable. Their
creation time, to the millisecond, can be read from them: the searches' and messages' own
timestamps already say as much to whoever holds them.
"""

from __future__ import annotations

import os
import threading
import uuid
from time import time_ns

_VERSION = 7 << 76
_VARIANT = 0b10 << 62
_STAMP_BITS = 60  # unix_ts_ms (48) and rand_a (12): the part that orders ids
_lock = threading.Lock()
_last = 0  # the last stamp handed out in this process


def uuid7() -> str:
    """A new UUID version 7 as the usual 36-character text; later calls sort later."""
    global _last
    ms, sub_ns = divmod(time_ns(), 1_000_000)
    stamp = ms << 12 | sub_ns * 4096 // 1_000_000  # the fraction of the millisecond in 12 bits
    with _lock:
        # Never back, never equal: an id made in the same 244 ns tick as the last one, or
        # after the clock stepped back, takes the next stamp (RFC 9562 §6.2, "Monotonicity
        # and Counters": the timestamp may be incremented).
        stamp = max(stamp, _last + 1) & ((1 << _STAMP_BITS) - 1)
        _last = stamp
    rand_b = int.from_bytes(os.urandom(8)) & ((1 << 62) - 1)
    value = (stamp >> 12) << 80 | _VERSION | (stamp & 0xFFF) << 64 | _VARIANT | rand_b
    return str(uuid.UUID(int=value))
