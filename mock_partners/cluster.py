"""A UK gateway and mock partner nodes on loopback, seeded from one synthetic population.

A mock partner node is a real node: the gateway's own store, gallery, responder and partner
API (`exchange.gateway`), run under another node id with its own data directory and a
gallery seeded from the population. So a partner in a drill follows exactly the rules the UK
node follows. `start_cluster` starts them on ephemeral ports, then the UK gateway configured
with their URLs, and returns the ground truth: which subject each partner holds under which
reference.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from exchange.gateway.app import Gateway, Middleware
from exchange.gateway.auth import SCOPES, ClientConfig, token_hash
from exchange.gateway.config import GatewayConfig, Listener, PartnerConfig
from exchange.gateway.node import Node
from exchange.model import Modality
from exchange.pki import NodeFiles, init_pki
from mock_partners import population
from mock_partners.interpol_node import NODE_ID as INTERPOL
from mock_partners.interpol_node import InterpolNode, running_interpol_node
from mock_partners.population import PARTNER_SUBJECTS as PARTNER_SUBJECTS  # the numbering

ALL_MODALITIES = (Modality.DNA, Modality.FINGERPRINT, Modality.FACE)


@dataclass
class Cluster:
    seed: int
    gateway: Gateway
    partners: dict[str, Node]
    urls: dict[str, str]
    holdings: dict[str, list[int]] = field(default_factory=dict)  # partner -> subjects
    interpol: InterpolNode | None = None
    token: str | None = None  # the client API's bearer token, when one is configured
    root: Path = Path(".")

    @property
    def headers(self) -> dict[str, str]:
        """What a client of this cluster's gateway sends with every request."""
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.client_port}"

    def partner_url(self, partner: str) -> str:
        return self.urls[partner]

    def holder_of(self, subject: int) -> list[str]:
        return [p for p, subjects in self.holdings.items() if subject in subjects]


def cluster_files(root: Path, node_id: str) -> NodeFiles:
    """The certificate files of a node of a cluster started with `tls=True`."""
    pki = root / "pki"
    return NodeFiles(pki / "ca.pem", pki / f"{node_id}.pem", pki / f"{node_id}.key")


def partner_node_config(partner_id: str, data_dir: Path, uk: str = "GB") -> GatewayConfig:
    """A mock partner: a node that accepts searches from the UK and sends none itself."""
    return GatewayConfig(
        node_id=partner_id,
        data_dir=data_dir,
        feature_model=population.FEATURE_MODEL,
        face_dim=population.FACE_DIM,
        client=None,  # a partner node answers partners only
        partner_listener=Listener(port=0),
        partners=(
            PartnerConfig(id=uk, url="https://127.0.0.1:9/unused", modalities=ALL_MODALITIES),
        ),
    )


async def seed_partner(node: Node, partner_id: str, seed: int, subjects: Sequence[int]) -> None:
    for person in population.people(seed, subjects, owner=partner_id):
        node.enrol(person.record.reference or str(person.subject), person.record)


@contextlib.asynccontextmanager
async def running_cluster(
    root: Path,
    partner_ids: Sequence[str] = ("DE", "FR"),
    *,
    seed: int = 7,
    gallery_size: int = 20,
    shared_subjects: Sequence[int] = (),
    uk_overrides: Mapping[str, object] | None = None,
    partner_overrides: Mapping[str, Mapping[str, object]] | None = None,
    partner_middlewares: Mapping[str, Sequence[Middleware]] | None = None,
    tls: bool = False,
    client_token: str | None = None,
) -> AsyncIterator[Cluster]:
    """Partners each hold `gallery_size` subjects of their own plus `shared_subjects`.

    With `tls`, a PKI is made under `root/pki` and every node talks mutual TLS; with
    `client_token`, the gateway's client API requires it as a bearer token (all scopes).
    """
    pki = init_pki(root / "pki", ["GB", *partner_ids], dt.datetime.now(dt.UTC)) if tls else {}
    scheme = "https" if tls else "http"
    partners: dict[str, Node] = {}
    urls: dict[str, str] = {}
    holdings: dict[str, list[int]] = {}
    interpol_node: InterpolNode | None = None
    async with contextlib.AsyncExitStack() as stack:
        for j, pid in enumerate(partner_ids, start=1):
            cfg = replace(partner_node_config(pid, root / pid), tls=pki.get(pid))
            subjects = [j * PARTNER_SUBJECTS + i for i in range(gallery_size)]
            subjects += list(shared_subjects)
            if pid == INTERPOL:
                started = await stack.enter_async_context(
                    running_interpol_node(
                        cfg, seed, subjects, middlewares=(partner_middlewares or {}).get(pid, ())
                    )
                )
                partners[pid], urls[pid] = started.node, started.url
                interpol_node = started
            else:
                gw = Gateway(cfg, (partner_middlewares or {}).get(pid, ()))
                node = await gw.start()
                stack.push_async_callback(gw.stop)
                await seed_partner(node, pid, seed, subjects)
                partners[pid] = node
                urls[pid] = f"{scheme}://127.0.0.1:{gw.partner_port}/prum/v1/messages"
            holdings[pid] = subjects
        configs = []
        for pid in partners:
            interpol = pid == INTERPOL
            pc = PartnerConfig(
                id=pid,
                url=urls[pid],
                dialect="interpol" if interpol else "prum",
                modalities=(*ALL_MODALITIES, Modality.NOMINAL) if interpol else ALL_MODALITIES,
                timeout_s=2.0,
            )
            configs.append(replace(pc, **(partner_overrides or {}).get(pid, {})))  # type: ignore[arg-type]
        uk_cfg = GatewayConfig(
            node_id="GB",
            data_dir=root / "GB",
            feature_model=population.FEATURE_MODEL,
            face_dim=population.FACE_DIM,
            search_deadline_s=5.0,
            client=Listener(port=0),
            partner_listener=Listener(port=0),
            partners=tuple(configs),
            tls=pki.get("GB"),
            open_client_api=client_token is None,
            clients=(
                (ClientConfig("demo", token_hash(client_token), frozenset(SCOPES)),)
                if client_token
                else ()
            ),
        )
        uk_cfg = replace(uk_cfg, **(uk_overrides or {}))  # type: ignore[arg-type]
        uk = Gateway(uk_cfg)
        await uk.start()
        stack.push_async_callback(uk.stop)
        yield Cluster(seed, uk, partners, urls, holdings, interpol_node, client_token, root)
