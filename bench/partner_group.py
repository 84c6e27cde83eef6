"""Several mock partner nodes in one process, one event loop: `bench gateway
--partner-processes 1`.

Each partner is the node `prum-exchange partner` runs (its own gallery, port and HTTP
server; `--simple` or the full node code), started with the same arguments the bench gives
the separate processes, and prints the same ready line. Only the process is shared. On a
machine where the partners take CPU from the gateway, one process wakes once for the four
messages of a fan-out instead of four processes waking once each: measured at 30-100
searches/s open loop with simple partners, about a quarter less partner CPU per search
(`bench gateway` reports it). Real partners are on other machines and cost ours nothing,
so the less CPU the fixtures take here, the nearer the measurement is to that.

With `--wan-medians` (milliseconds, one per id, simple nodes only), each partner holds its
answers back by draws from its own lognormal latency (`mock_partners.wan`), seeded with
(`--wan-seed`, `--wan-index-base` + its place in `--ids` x `--wan-index-step`), and serves
the times of what it answered at GET /wan/answers: `bench gateway --partners 30 --wan`.

Usage: python -m bench.partner_group --ids DE,FR,NL,EUROPOL --seed S --gallery-size N
       --offset-step K --root DIR [--simple] [--wan-medians 20,40,... --wan-sigma 0.7
       --wan-seed S --wan-index-base I --offset-base K0]
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

from exchange import event_loop
from exchange.gateway import logs
from mock_partners.node import running_partner
from mock_partners.simple_node import running_simple_partner
from mock_partners.wan import SIGMA, LatencyModel

DAILY_CAPACITY = 100_000_000


async def serve_group(
    ids: Sequence[str],
    *,
    seed: int,
    gallery_size: int,
    offset_step: int,
    root: Path,
    simple: bool,
    latencies: Sequence[LatencyModel] | None = None,
    offset_base: int = 0,
) -> None:
    """Start every partner, print each one's ready line, and serve until SIGINT or SIGTERM.

    `latencies`: one model per id (simple nodes only), or None for answers at once."""
    if latencies is not None and (not simple or len(latencies) != len(ids)):
        raise ValueError("latencies: one per id, and only for simple nodes")
    async with contextlib.AsyncExitStack() as stack:
        for i, partner_id in enumerate(ids):
            offset = offset_base + i * offset_step
            starting = (
                running_simple_partner(
                    partner_id,
                    0,
                    seed=seed,
                    gallery_size=gallery_size,
                    offset=offset,
                    daily_capacity=DAILY_CAPACITY,
                    with_fingerprints=False,
                    latency=None if latencies is None else latencies[i],
                )
                if simple
                else running_partner(
                    partner_id,
                    0,
                    seed=seed,
                    gallery_size=gallery_size,
                    data_dir=root / partner_id,
                    offset=offset,
                    daily_capacity=DAILY_CAPACITY,
                    with_fingerprints=False,
                )
            )
            ready = await stack.enter_async_context(starting)
            print(json.dumps(ready), flush=True)
        event_loop.settle_heap()
        await event_loop.until_signalled()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.partner_group", description=__doc__)
    parser.add_argument("--ids", required=True, help="partner ids, comma-separated")
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--gallery-size", type=int, required=True)
    parser.add_argument("--offset-step", type=int, required=True, help="subjects between partners")
    parser.add_argument("--root", type=Path, required=True, help="data directories (full nodes)")
    parser.add_argument("--simple", action="store_true", help="simple partner nodes")
    parser.add_argument("--offset-base", type=int, default=0, help="the first partner's offset")
    parser.add_argument("--wan-medians", default=None, help="latency medians, ms, one per id")
    parser.add_argument("--wan-sigma", type=float, default=SIGMA, help="lognormal sigma")
    parser.add_argument("--wan-seed", type=int, default=0, help="latency draws' seed")
    parser.add_argument("--wan-index-base", type=int, default=0, help="first partner's index")
    parser.add_argument("--wan-index-step", type=int, default=1, help="between partners' indices")
    args = parser.parse_args(argv)
    ids = args.ids.split(",")
    latencies = None
    if args.wan_medians is not None:
        medians = [float(m) / 1000 for m in args.wan_medians.split(",")]
        if len(medians) != len(ids) or not args.simple:
            parser.error("--wan-medians: one per id, with --simple")
        latencies = [
            LatencyModel(
                m, args.wan_sigma, args.wan_seed, args.wan_index_base + i * args.wan_index_step
            )
            for i, m in enumerate(medians)
        ]
    logs.configure()
    event_loop.run(
        serve_group(
            ids,
            seed=args.seed,
            gallery_size=args.gallery_size,
            offset_step=args.offset_step,
            root=args.root,
            simple=args.simple,
            latencies=latencies,
            offset_base=args.offset_base,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
