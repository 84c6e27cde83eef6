"""`prum-exchange bench store`: the gateway's hot-path SQLite writes on an aged store.

Measured: CPU and wall time per search of the writes the gateway makes for one DNA search
fanned out to four partners, as it makes them (group commit: `GROUP` searches per
transaction, three transactions per group: the searches created with their submission
audited; the sends audited and marked; the four partners' answers, one with a hit, with their
receipts audited, and the searches closed with their results audited), on a store already
holding N searches made the same way, and the WAL bytes those commits write per search.

Baseline, same run: the same writes with random (version 4) UUIDs as search, message and
hit ids, which the gateway used before its time-ordered (version 7) ids
(`exchange.gateway.state.ids`).
A random key lands on a random leaf of its index: every search dirties pages scattered over
the indexes, each commit writes each dirtied page whole to the WAL, and once the indexes
outgrow SQLite's page cache the writes also read. The ratio is baseline / time-ordered.

Data: a store in a temporary directory on this machine's disk (`--dir` to choose), WAL mode,
`synchronous = NORMAL` as the gateway opens it; each search carries a 1.5 kB record, as a
UK DNA record's JSON does.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from bench.report import Plot, Report, Row, Series, describe, write_report
from exchange.gateway.state.audit import AuditEntry, AuditLog, ClientEvent, Direction, Outcome
from exchange.gateway.state.ids import uuid7
from exchange.gateway.state.store import NewHit, PartnerStatus, SearchRow, SearchStatus, Store
from exchange.model import MatchType, MessageType, Modality, Purpose
from exchange.option_types import OneLineParser, int_list
from exchange.outputs import BENCH_OUT

PARTNERS = ("DE", "EUROPOL", "FR", "NL")
GROUP = 8  # searches per group commit: about what the gateway batches at 250-300 searches/s
RECORD_JSON = '{"record": "' + "x" * 1500 + '"}'
FULL_SIZES = (10_000, 200_000)
QUICK_SIZES = (2_000,)
MEASURED = 4_000  # searches timed at each size
WAL_SAMPLE = 800  # searches whose WAL bytes are counted (automatic checkpoints off)
KEYS: dict[str, Callable[[], str]] = {
    "uuid4 (random)": lambda: str(uuid.uuid4()),
    "uuid7 (time-ordered)": uuid7,
}
T0 = dt.datetime(2026, 11, 29, tzinfo=dt.UTC)
PURPOSE = Purpose.INVESTIGATION


def _group(store: Store, audit: AuditLog, at: dt.datetime, count: int) -> None:
    """One group of searches through the gateway's three hot-path transactions."""
    purpose = PURPOSE
    with store.flat_transaction():
        rows: list[SearchRow] = []
        for _ in range(count):
            row = store.create_search(
                client_id="bench",
                purpose=purpose,
                case_reference="BENCH",
                modalities=[Modality.DNA],
                partners=PARTNERS,
                max_candidates=5,
                record_json=RECORD_JSON,
                correlation_id=str(uuid.uuid4()),
                now=at,
                deadline_at=at + dt.timedelta(seconds=10),
            )
            _client_event(audit, at, row.search_id, ClientEvent.SEARCH_SUBMITTED)
            rows.append(row)
    with store.flat_transaction():
        for row in rows:
            store.mark_fanned_out(row.search_id, now=at)
            audit.append_many(
                [
                    AuditEntry(
                        at,
                        Direction.SENT,
                        MessageType.DNA_SEARCH_REQUEST,
                        Outcome.SUPPLIED,
                        "bench",
                        r.partner,
                        r.message_id,
                        (row.search_id,),
                        purpose,
                    )
                    for r in row.results
                ]
            )
    with store.flat_transaction():
        for row in rows:
            for i, r in enumerate(row.results):
                hits = (
                    [NewHit(Modality.DNA, f"{r.partner}-7", 1.0, MatchType.FULL)] if i == 0 else []
                )
                status = PartnerStatus.HIT if hits else PartnerStatus.NO_HIT
                store.set_partner_result(row.search_id, r.partner, status, now=at, hits=hits)
                audit.append_many(
                    [
                        AuditEntry(
                            at,
                            Direction.RECEIVED,
                            MessageType.SEARCH_REPLY,
                            Outcome.HIT if hits else Outcome.NO_HIT,
                            "bench",
                            r.partner,
                            r.message_id,
                            (row.search_id,),
                            purpose,
                        )
                    ]
                )
            store.close_search(row.search_id, SearchStatus.COMPLETE, now=at)
            _client_event(audit, at, row.search_id, ClientEvent.SEARCH_RESULT)


def _client_event(audit: AuditLog, at: dt.datetime, search_id: str, event: ClientEvent) -> None:
    """The client side's audit entry: the search received from, or its result sent to, LEDS."""
    submitted = event is ClientEvent.SEARCH_SUBMITTED
    audit.append_many(
        [
            AuditEntry(
                at,
                Direction.RECEIVED if submitted else Direction.SENT,
                event,
                Outcome.ACCEPTED if submitted else Outcome.HIT,
                "bench",
                references=(search_id,),
                purpose=PURPOSE,
            )
        ]
    )


def _searches(store: Store, audit: AuditLog, n: int, start: int) -> None:
    for k in range(0, n, GROUP):
        _group(store, audit, T0 + dt.timedelta(milliseconds=start + k), min(GROUP, n - k))


def run_size(size: int, keys: str, measured: int, root: Path) -> Row:
    """Age a store to `size` searches with `keys` ids, then time `measured` more."""
    with tempfile.TemporaryDirectory(prefix="prum-bench-store-", dir=root) as tmp:
        path = Path(tmp) / "gateway.sqlite3"
        store = Store.open(path)
        store.new_id = KEYS[keys]
        audit = AuditLog(store)
        try:
            aged_at = time.perf_counter()
            _searches(store, audit, size, 0)
            aging_s = time.perf_counter() - aged_at
            store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            db_mb = path.stat().st_size / 1e6
            cpu0, wall0 = time.process_time(), time.perf_counter()
            _searches(store, audit, measured, size)
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            store.connection.execute("PRAGMA wal_autocheckpoint = 0")
            _searches(store, audit, WAL_SAMPLE, size + measured)
            wal_bytes = Path(f"{path}-wal").stat().st_size
            store.connection.execute("PRAGMA wal_autocheckpoint = 1000")
        finally:
            store.close()
    return {
        "keys": keys,
        "searches_in_store": size,
        "db_mb": round(db_mb, 1),
        "aging_s": round(aging_s, 1),
        "cpu_us_per_search": round(cpu / measured * 1e6, 1),
        "wall_us_per_search": round(wall / measured * 1e6, 1),
        "wal_kb_per_search": round(wal_bytes / WAL_SAMPLE / 1024, 1),
    }


def main(argv: Sequence[str]) -> int:
    parser = OneLineParser(prog="prum-exchange bench store", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one small store, a few seconds")
    parser.add_argument(
        "--out", type=Path, default=BENCH_OUT, help=f"report directory (default: {BENCH_OUT})"
    )
    parser.add_argument("--sizes", type=int_list(1, 100_000_000), default=None)
    parser.add_argument("--dir", type=Path, default=None, help="where the stores are made")
    args = parser.parse_args(list(argv))
    sizes = args.sizes or (QUICK_SIZES if args.quick else FULL_SIZES)
    measured = MEASURED // 4 if args.quick else MEASURED
    rows = [run_size(size, keys, measured, args.dir) for size in sizes for keys in KEYS]
    base, ours = KEYS
    notes = []
    for size in sizes:
        b, o = (
            next(r for r in rows if r["keys"] == k and r["searches_in_store"] == size)
            for k in (base, ours)
        )
        notes.append(
            f"{size} searches in store: random ids cost "
            f"{_ratio(b, o, 'cpu_us_per_search')}x the CPU, "
            f"{_ratio(b, o, 'wall_us_per_search')}x the wall time and "
            f"{_ratio(b, o, 'wal_kb_per_search')}x the WAL bytes per search of time-ordered ones"
        )

    def series(keys: str, column: str) -> Series:
        sel = [r for r in rows if r["keys"] == keys]
        return Series(
            keys,
            [float(r["searches_in_store"]) for r in sel],  # type: ignore[arg-type]
            [float(r[column]) for r in sel],  # type: ignore[arg-type]
        )

    report = Report(
        name="store",
        measured="CPU and wall time per search, and WAL bytes per search, of the gateway's "
        "hot-path SQLite writes (4-partner DNA search, group commit) on a store aged to N",
        data=f"stores aged with the same writes; {GROUP} searches per group commit; "
        "1.5 kB record per search; one hit per search",
        baseline="the same writes with random (version 4) UUIDs as search, message and hit ids",
        params={
            "sizes": ",".join(map(str, sizes)),
            "measured_searches": measured,
            "wal_sample_searches": WAL_SAMPLE,
            "group": GROUP,
            "partners": len(PARTNERS),
        },
        rows=rows,
        plots=[
            Plot(
                "CPU per search",
                "searches in store",
                "µs",
                [series(k, "cpu_us_per_search") for k in KEYS],
                log_x=True,
            ),
            Plot(
                "WAL bytes per search",
                "searches in store",
                "kB",
                [series(k, "wal_kb_per_search") for k in KEYS],
                log_x=True,
            ),
        ],
        notes=notes,
    )
    print(describe(report))
    json_path, png_path = write_report(report, args.out)
    print(f"wrote {json_path}" + (f" and {png_path}" if png_path else ""))
    return 0


def _ratio(base: Row, ours: Row, column: str) -> str:
    b, o = float(base[column]), float(ours[column])  # type: ignore[arg-type]
    return f"{b / o:.2f}" if o else "inf"
