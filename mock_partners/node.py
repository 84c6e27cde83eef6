"""One mock partner node as a long-running server: `prum-exchange partner --id DE --port P`.

A partner node is the gateway's own node code (store, gallery, responder, partner API) run
under the partner's id, seeded with `gallery_size` subjects of the synthetic population
(subjects `offset` onwards), accepting searches from the UK (`GB`) up to its declared daily
capacity. Prints one JSON line with its id and port when ready, so scripts can start several.
With `faults`, a `FaultInjector` (mock_partners.faults) stands in front of its partner API;
with `admin_port`, the fault admin API (mock_partners.fault_admin) listens on loopback;
with `tls` (`--tls DIR`, a `prum-exchange pki init` directory), it speaks mutual TLS with
the node's own certificate, so the gateway's `[tls]` can reach it standalone.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

from exchange.gateway.app import Gateway, Middleware
from exchange.gateway.config import DEFAULT_CAPACITIES, Listener
from exchange.pki import NodeFiles
from mock_partners import population
from mock_partners.cluster import partner_node_config
from mock_partners.fault_admin import running_admin
from mock_partners.faults import HEALTHY, FaultInjector


def fault_middlewares(injector: FaultInjector, admin_port: int | None) -> list[Middleware]:
    """The injector in front of the node, unless it can never inject anything.

    A node whose schedule is healthy throughout and that has no admin API (which could set
    another profile or an expectation) would only pay for the injector: it parses each
    message, seeds a draw and records the request, ~0.7 ms of CPU per message measured
    (against ~1.6 ms for the node's whole answer), which `bench gateway`'s four partners
    would take from the gateway on a small machine.
    """
    inert = admin_port is None and all(p == HEALTHY for _, p in injector.schedule)
    return [] if inert else [injector.middleware]


@contextlib.asynccontextmanager
async def running_partner(
    partner_id: str,
    port: int,
    *,
    seed: int,
    gallery_size: int,
    data_dir: Path,
    offset: int = 0,
    daily_capacity: int | None = None,
    with_fingerprints: bool = True,
    faults: str = "healthy",
    admin_port: int | None = None,
    tls: NodeFiles | None = None,
) -> AsyncIterator[dict[str, object]]:
    """A seeded partner node listening on loopback; yields its ready line's fields.

    With `tls` (the node's files from `prum-exchange pki init`) it listens for mutual TLS
    only, as the gateway's partner listener does.
    """
    injector = FaultInjector(seed, [(0.0, faults)])  # a bad profile fails before anything starts
    cfg = partner_node_config(partner_id, data_dir)
    cfg = replace(cfg, partner_listener=Listener("127.0.0.1", port), tls=tls)
    if daily_capacity is not None:
        caps = dict.fromkeys(DEFAULT_CAPACITIES, daily_capacity)
        cfg = replace(
            cfg, partners=tuple(replace(p, inbound_capacities=caps) for p in cfg.partners)
        )
    gateway = Gateway(cfg, fault_middlewares(injector, admin_port))
    async with contextlib.AsyncExitStack() as stack:
        node = await gateway.start()
        stack.push_async_callback(gateway.stop)
        stack.callback(injector.close)
        if len(node.gallery) == 0:
            subjects = list(range(offset, offset + gallery_size))
            for chunk in range(0, len(subjects), 1000):
                batch = subjects[chunk : chunk + 1000]
                for person in population.people(
                    seed, batch, partner_id, with_fingerprints=with_fingerprints
                ):
                    node.enrol(person.record.reference or str(person.subject), person.record)
        admin = None
        if admin_port is not None:
            admin = await stack.enter_async_context(running_admin(injector, admin_port))
        injector.restart_clock()
        yield {
            "partner": partner_id,
            "port": gateway.partner_port,
            "records": len(node.gallery),
            "faults": faults,
            "admin_port": admin,
            "tls": tls is not None,
        }
