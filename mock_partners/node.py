"""One mock partner node as a long-running server: `prum-exchange partner --id DE --port P`.

A partner node is the gateway's own node code (store, gallery, responder, partner API) run
under the partner's id, seeded with `gallery_size` subjects of the synthetic population
(subjects `offset` onwards), accepting searches from the UK (`GB`) up to its declared daily
capacity. Prints one JSON line with its id and port when ready, so scripts can start several.
"""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import replace
from pathlib import Path

from exchange.gateway.app import Gateway
from exchange.gateway.config import DEFAULT_CAPACITIES, Listener
from mock_partners import population
from mock_partners.cluster import partner_node_config


async def serve_partner(
    partner_id: str,
    port: int,
    *,
    seed: int,
    gallery_size: int,
    data_dir: Path,
    offset: int = 0,
    daily_capacity: int | None = None,
    with_fingerprints: bool = True,
) -> None:
    cfg = partner_node_config(partner_id, data_dir)
    cfg = replace(cfg, partner_listener=Listener("127.0.0.1", port))
    if daily_capacity is not None:
        caps = dict.fromkeys(DEFAULT_CAPACITIES, daily_capacity)
        cfg = replace(
            cfg, partners=tuple(replace(p, inbound_capacities=caps) for p in cfg.partners)
        )
    gateway = Gateway(cfg)
    node = await gateway.start()
    if len(node.gallery) == 0:
        subjects = list(range(offset, offset + gallery_size))
        for chunk in range(0, len(subjects), 1000):
            batch = subjects[chunk : chunk + 1000]
            for person in population.people(
                seed, batch, partner_id, with_fingerprints=with_fingerprints
            ):
                node.enrol(person.record.reference or str(person.subject), person.record)
    print(
        json.dumps(
            {"partner": partner_id, "port": gateway.partner_port, "records": len(node.gallery)}
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await gateway.stop()
