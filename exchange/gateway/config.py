"""Gateway configuration: one TOML file with defaults that work (STYLE.md, "Shape").

```toml
node_id = "GB"
data_dir = "data"                 # SQLite database and FAISS index files
feature_model = "synthetic-face-512-v1"
face_dim = 512
search_deadline_s = 10.0          # a search ends `partial` at its deadline
max_in_flight = 256               # outbound messages in flight, all partners together
max_searches_fanning_out = 0      # searches fanning out at once, the rest wait their turn
                                  # (stored, acknowledged); 0: no limit

[client]                          # the JSON API for UK services
host = "127.0.0.1"
port = 8080
max_in_flight = 0                 # requests admitted at once on this listener, beyond
                                  # which one is refused 503 before its body is read
                                  # (`exchange.gateway.admission`); 0: the top-level
                                  # max_in_flight (client), 256 (partner listener)
max_connections = 0               # open connections; one more is answered 503 and
                                  # closed (before its request is read, so probes too);
                                  # 0: 4 x this listener's max_in_flight, at least 1024
backlog = 511                     # the listen socket's accept queue (nginx's default;
                                  # the kernel caps it at net.core.somaxconn)

[partner_listener]                # the Prüm XML API for partners (the same keys)
host = "127.0.0.1"
port = 8443

[thresholds]                      # minimum scores for a biometric candidate
face = 0.55
fingerprint = 0.25
fingerprint_bozorth3 = 0.4        # prints that come as images (mindtct minutiae, Bozorth3)

[gallery]                         # how the UK gallery matches
dna_microvariants = "annex"       # DNA micro-variants: "annex" (2008/616 Annex ch. 1 §1.1
                                  # tables, matchers.microvariants), "repeat" (9.3 as 9) or
                                  # "exact" (as written)
face_index = "auto"               # a faiss index_factory string: "Flat", "HNSW32",
                                  # "IVF1024,Flat", ...; "auto": exact Flat, then IVF-PQ
                                  # from 200,000 templates (matchers.vector_gallery)
face_search = ""                  # its search parameters, faiss ParameterSpace syntax:
                                  # "nprobe=16", "efSearch=64" (not with "auto")
backend = "local"                 # "local": embedded in this process; "ray": sharded
                                  # over Ray actors (exchange.gallery_ray; needs the
                                  # [cluster] extra)
address = "local"                 # ray: a cluster's address ("ray://head:10001", "auto")
                                  # or "local" to start one in this process
shards = 1                        # ray: shard actors (a stable hash of the reference)
shard_timeout_s = 5.0             # ray: a shard later than this counts as down

[face_models."dlib-resnet-v1"]    # the face model this node extracts from images (dlib's
threshold = 0.4                   # ResNet, exchange.face_models): scores are 1 - Euclidean
                                  # distance, so 0.4 is dlib's published 0.6 distance
detect_long_side = 1000           # the detector runs on a copy this long at most (0: full size)
upsample = 0                      # detector upsampling (tried at +1 on a miss in a small copy)
jitters = 0                       # descriptor jitters (dlib's num_jitters; each costs ~1x)

[extraction]                      # the process pool templates are extracted in
workers = 1                       # processes; default: cores - 1, at least 1
queue = 2                         # jobs waiting beyond those running; one more is 503

[tls]                             # optional: mutual TLS on the partner listener and
ca = "pki/ca.pem"                 # on calls to partners (see `prum-exchange pki init`);
cert = "pki/GB.pem"               # a partner's server certificate must then name the
key = "pki/GB.key"                # partner (its id as common name), and http:// partner
                                  # URLs are refused unless the partner says insecure = true

[[partners]]
id = "DE"
dialect = "prum"                  # or "interpol"
profile = "prum-2008"             # the wire profile: "prum-2008" (Prüm XML; for Interpol,
                                  # our ANSI/NIST CPS and Interpol XML) or "int-i-6"
                                  # (Interpol's INT-I v6 XML for fingerprint searches);
                                  # default: "int-i-6" for dialect "interpol", "prum-2008"
                                  # for "prum" (which speaks nothing else)
url = "http://127.0.0.1:9001/prum/v1/messages"
modalities = ["dna", "fingerprint", "face"]
timeout_s = 5.0                   # one attempt
retries = 2                       # extra attempts on transient failures
max_in_flight = 32
dna_batch_max = 32                # DNA probes of several searches in one message, at most
dna_batch_lanes = 2               # batches in flight at once (a DNA search goes alone only
                                  # when nothing of ours is in flight to the partner)
dna_batch_linger_s = 0.01         # and none went to it in this long; 0: no wait
insecure = false                  # true: plain http:// allowed under [tls] (local tests
                                  # only; logged as a warning at start)
[partners.capacities]             # what the partner accepts from us per day, by search type
DNA = 1000
"TP/TP" = 100
[partners.inbound_capacities]     # what we accept from the partner per day
DNA = 1000
```

Search types: `DNA`, `FACE`, `NOMINAL`, and the Prüm fingerprint types of the Implementing
Agreement Art. 9 (`TP/TP`, `LT/TP`, ...). Omitted capacities default to the Art. 9 figures
for fingerprints and to 1000 a day for DNA and face.

`[gallery]` strings are checked at load by building the empty index at `face_dim` and
applying the parameters (`matchers.index_spec`); `prum-exchange bench match --face-index
STRING --face-search STRING` measures the same strings. An index that must be trained (IVF,
PQ, SQ) runs as exact Flat until the gallery holds enough templates to train it (39 per
centroid, at least 1,000), then is built. Index files saved under other strings are not
loaded: the gallery is rebuilt from SQLite.
"""

from __future__ import annotations

import importlib.util
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from exchange.capacities import CAPACITIES
from exchange.extraction_pool import DEFAULT_QUEUE, default_workers
from exchange.face_models import DLIB_MODEL, EXTRACTING_MODELS, FACE_MODEL_KEYS, FaceModelConfig
from exchange.gateway.auth import SCOPES, ClientConfig
from exchange.gateway.state.rows import FOLLOW_UP_WINDOW
from exchange.model import Modality
from exchange.pki import NodeFiles
from matchers.dna_profile import MICROVARIANT_RULES, MicrovariantRule
from matchers.errors import MatcherError
from matchers.index_spec import check_factory, check_search

MAX_DNA_PROFILES = 100  # profiles in one DNA search request (prum-dna-1.0.xsd)
DNA_BATCH_MAX = 32  # default dna_batch_max
DNA_BATCH_LINGER_S = 0.01  # default dna_batch_linger_s (`dna_batch`: why, and what it costs)
MAX_DNA_BATCH_LINGER_S = 1.0
FOLLOW_UP_WINDOW_S = FOLLOW_UP_WINDOW.total_seconds()  # core data only for hits of the last 48 h
SEARCH_RETENTION_S = 30 * 86400.0  # default search_retention_s

DIALECTS = ("prum", "interpol")
PROFILES = ("int-i-6", "prum-2008")
# The profile a dialect speaks when its partner's config names none.
DEFAULT_PROFILE: Mapping[str, str] = {"prum": "prum-2008", "interpol": "int-i-6"}
# Searches a day per partner: Prüm Implementing Agreement Art. 9 for the fingerprint search
# types (exchange.capacities); DNA, face and nominal checks have no agreed figure here.
DEFAULT_CAPACITIES: Mapping[str, int] = {
    "DNA": 1000,
    "FACE": 1000,
    "NOMINAL": 10_000,
    **{t: c.max_searches_per_day for t, c in CAPACITIES.items()},
}


class ConfigError(ValueError):
    """A configuration file that cannot be used; names the key."""


MAX_LISTENER_IN_FLIGHT = 100_000
MAX_LISTENER_CONNECTIONS = 1_000_000
MAX_BACKLOG = 65535
# nginx's listen backlog on Linux (https://nginx.org/en/docs/http/ngx_http_core_module.html#listen):
# a burst of connects waits in the queue for the gateway to accept it; past a full queue the
# kernel drops a SYN and the client sends it again only after a second or more.
DEFAULT_BACKLOG = 511
MIN_DERIVED_CONNECTIONS = 1024


@dataclass(frozen=True, slots=True)
class Listener:
    """Where a listener listens, and how much it takes at once (`exchange.gateway.admission`):
    requests admitted (0: derived by `in_flight_bound`), open connections (0: derived) and
    the accept backlog."""

    host: str = "127.0.0.1"
    port: int = 0
    max_in_flight: int = 0
    max_connections: int = 0
    backlog: int = DEFAULT_BACKLOG

    def in_flight_bound(self, derived: int) -> int:
        return self.max_in_flight or derived

    def connection_bound(self, derived_in_flight: int, per_admitted: int) -> int:
        """`max_connections`, or `per_admitted` per admitted request and at least
        `MIN_DERIVED_CONNECTIONS`: a connection over it is refused before its request is
        read, probes included, so the derived bound leaves room for clients' idle pools."""
        derived = per_admitted * self.in_flight_bound(derived_in_flight)
        return self.max_connections or max(MIN_DERIVED_CONNECTIONS, derived)


@dataclass(frozen=True, slots=True)
class PartnerConfig:
    id: str
    url: str
    dialect: str = "prum"
    # The wire profile (`PROFILES`); "" takes the dialect's default (`DEFAULT_PROFILE`).
    profile: str = ""
    modalities: tuple[Modality, ...] = (Modality.DNA, Modality.FINGERPRINT, Modality.FACE)
    timeout_s: float = 5.0
    retries: int = 2
    max_in_flight: int = 32
    breaker_failures: int = 5  # consecutive transient failures that open the breaker
    breaker_reset_s: float = 10.0  # how long it stays open before one trial message
    # DNA searches to a Prüm partner that already has a message of ours in flight, or had
    # one sent less than `dna_batch_linger_s` ago, wait, and go together in one message of
    # up to `dna_batch_max` profiles, with at most `dna_batch_lanes` such messages in
    # flight (`dna_batch`). dna_batch_max = 1: off.
    dna_batch_max: int = DNA_BATCH_MAX
    dna_batch_lanes: int = 2
    dna_batch_linger_s: float = DNA_BATCH_LINGER_S
    capacities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITIES))
    inbound_capacities: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_CAPACITIES))
    # Plain http:// to this partner although the node has [tls]: no encryption and no
    # partner identity. For local tests only; `plain_http_problem` refuses it otherwise.
    insecure: bool = False

    def __post_init__(self) -> None:
        if not self.profile:
            object.__setattr__(self, "profile", DEFAULT_PROFILE.get(self.dialect, "prum-2008"))
        problem = profile_problem(self.dialect, self.profile)
        if problem is not None:
            raise ValueError(f"partner {self.id}: {problem}")


def plain_http_problem(config: GatewayConfig) -> str | None:
    """Why a node with [tls] cannot start: a partner URL in plain http:// that is not marked
    `insecure` (its messages would go unencrypted, to a server nobody identified)."""
    if config.tls is None:
        return None
    for i, p in enumerate(config.partners):
        if p.url.lower().startswith("http://") and not p.insecure:
            return (
                f"partners[{i}].url: {p.id} is http:// but [tls] is configured; use https://,"
                " or set insecure = true for local tests only"
            )
    return None


def profile_problem(dialect: str, profile: str) -> str | None:
    """Why a dialect cannot speak a profile, or None: Prüm partners speak only Prüm 2008."""
    if profile not in PROFILES:
        return f"one of {', '.join(PROFILES)}"
    if dialect == "prum" and profile != "prum-2008":
        return f"{profile} is Interpol's; a partner of dialect prum speaks prum-2008"
    return None


GalleryBackend = Literal["local", "ray"]
GALLERY_BACKENDS = ("local", "ray")


@dataclass(frozen=True, slots=True)
class GalleryConfig:
    """The face gallery's index: a faiss index_factory string (or "auto") and its search
    parameters in ParameterSpace syntax, as `matchers.face.FaceGallery(dim, index, params)`;
    the DNA gallery's micro-variant reading (`matchers.dna_profile.MicrovariantRule`);
    where it runs: embedded (`local`) or sharded over a Ray cluster (`ray`: its `address`,
    `shards` actors, and how long a shard may take before it counts as down)."""

    face_index: str = "auto"
    face_search: str = ""
    dna_microvariants: MicrovariantRule = "annex"
    backend: GalleryBackend = "local"
    address: str = "local"
    shards: int = 1
    shard_timeout_s: float = 5.0


GALLERY_KEYS = (
    "dna_microvariants", "face_index", "face_search", "backend", "address", "shards",
    "shard_timeout_s",
)  # fmt: skip
EXTRACTION_KEYS = ("workers", "queue")


@dataclass(frozen=True, slots=True)
class ExtractionConfig:
    """`[extraction]`: the process pool of `exchange.extraction_pool`."""

    workers: int = field(default_factory=default_workers)
    queue: int = DEFAULT_QUEUE


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    node_id: str = "GB"
    data_dir: Path = Path("data")
    feature_model: str = "synthetic-face-512-v1"
    face_dim: int = 512
    search_deadline_s: float = 10.0
    max_in_flight: int = 256
    # Searches fanning out at once; the others wait their turn before the fan-out
    # (`search_tasks.SearchTasks`). 0: no limit.
    max_searches_fanning_out: int = 0
    follow_up_window_s: float = FOLLOW_UP_WINDOW_S
    client: Listener | None = field(default_factory=lambda: Listener(port=8080))  # None: off
    partner_listener: Listener = field(default_factory=lambda: Listener(port=8443))
    thresholds: Mapping[str, float] = field(
        default_factory=lambda: {"face": 0.55, "fingerprint": 0.25, "fingerprint_bozorth3": 0.4}
    )
    partners: tuple[PartnerConfig, ...] = ()
    gallery: GalleryConfig = field(default_factory=GalleryConfig)
    # The face models this node extracts from images, by id (`exchange.face_models`).
    face_models: Mapping[str, FaceModelConfig] = field(
        default_factory=lambda: {DLIB_MODEL: FaceModelConfig()}
    )
    extraction: ExtractionConfig = field(default_factory=ExtractionConfig)
    tls: NodeFiles | None = None
    clients: tuple[ClientConfig, ...] = ()
    open_client_api: bool = False  # no tokens at all: only for local demos and tests
    # A connection that has not completed a request within this time (idle, or trickling its
    # headers: slow loris), or on the partner port its TLS handshake, is closed.
    idle_timeout_s: float = 15.0
    # How often the gallery's index files are saved while running (when it changed), so a
    # crash costs a reload rather than a rebuild of every record; 0: only at a clean stop.
    index_save_interval_s: float = 600.0
    # How often old partner-side rows are dropped (`app.housekeep_periodically`); 0: never.
    housekeeping_interval_s: float = 600.0
    # How long an answered partner message's id and reply are kept, so that a retry of it
    # gets the same reply and is not searched again; older ones are forgotten.
    reply_retention_s: float = 7 * 86400.0
    # How long a search is kept after it ended, with its partner results and hits, for its
    # client to read, confirm and follow up; older ones are dropped (data minimisation: the
    # audit log keeps the trail of what was sent and received). 0: kept for ever.
    search_retention_s: float = SEARCH_RETENTION_S

    def partner(self, partner_id: str) -> PartnerConfig | None:
        for p in self.partners:
            if p.id == partner_id:
                return p
        return None


TOP_KEYS = (
    "node_id", "data_dir", "feature_model", "face_dim", "search_deadline_s", "max_in_flight",
    "idle_timeout_s", "index_save_interval_s", "housekeeping_interval_s", "reply_retention_s",
    "search_retention_s", "max_searches_fanning_out", "open_client_api", "client",
    "partner_listener", "thresholds", "gallery", "tls", "clients", "partners", "face_models",
    "extraction",
)  # fmt: skip
PARTNER_KEYS = (
    "id", "url", "dialect", "profile", "modalities", "timeout_s", "retries", "max_in_flight",
    "breaker_failures", "breaker_reset_s", "dna_batch_max", "dna_batch_lanes",
    "dna_batch_linger_s", "capacities", "inbound_capacities", "insecure",
)  # fmt: skip
CLIENT_KEYS = ("id", "token_sha256", "scopes", "rate_per_minute")
LISTENER_KEYS = ("host", "port", "max_in_flight", "max_connections", "backlog")
TLS_KEYS = ("ca", "cert", "key")
THRESHOLD_KEYS = ("face", "fingerprint", "fingerprint_bozorth3")


def _known(doc: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    """A key the gateway does not read is a mistake (a typo would silently take a default)."""
    for key in doc:
        if key not in keys:
            raise ConfigError(f"{where}{key}: unknown key")


def _table(doc: Mapping[str, Any], key: str, keys: tuple[str, ...]) -> Mapping[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table")
    _known(value, keys, f"{key}.")
    return value


def _listener(doc: Mapping[str, Any], key: str, default_port: int) -> Listener:
    table = _table(doc, key, LISTENER_KEYS)
    port = _get(table, "port", int, default_port, f"{key}.")
    if not 0 <= port <= 65535:
        raise ConfigError(f"{key}.port: 0 to 65535")
    in_flight = _get(table, "max_in_flight", int, 0, f"{key}.")
    if not 0 <= in_flight <= MAX_LISTENER_IN_FLIGHT:
        raise ConfigError(f"{key}.max_in_flight: 0 (derived) to {MAX_LISTENER_IN_FLIGHT}")
    connections = _get(table, "max_connections", int, 0, f"{key}.")
    if connections != 0 and not in_flight <= connections <= MAX_LISTENER_CONNECTIONS:
        raise ConfigError(
            f"{key}.max_connections: 0 (derived), or from max_in_flight ({in_flight}) to "
            f"{MAX_LISTENER_CONNECTIONS}: a connection carries one request at a time"
        )
    backlog = _get(table, "backlog", int, DEFAULT_BACKLOG, f"{key}.")
    if not 1 <= backlog <= MAX_BACKLOG:
        raise ConfigError(f"{key}.backlog: 1 to {MAX_BACKLOG}")
    host = _get(table, "host", str, "127.0.0.1", f"{key}.")
    return Listener(host, port, in_flight, connections, backlog)


def _get(doc: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = doc.get(key, default)
    if value is None:
        raise ConfigError(f"{where}{key}: is required")
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise ConfigError(f"{where}{key}: expected {kind.__name__}")
    return value


def _positive(doc: Mapping[str, Any], key: str, kind: type, default: Any, where: str) -> Any:
    value = _get(doc, key, kind, default, where)
    if value <= 0:
        raise ConfigError(f"{where}{key}: must be greater than 0")
    return value


def _batch_max(doc: Mapping[str, Any], where: str) -> int:
    value: int = _positive(doc, "dna_batch_max", int, DNA_BATCH_MAX, where)
    if value > MAX_DNA_PROFILES:
        raise ConfigError(f"{where}dna_batch_max: at most {MAX_DNA_PROFILES} (prum-dna-1.0.xsd)")
    return value


def _batch_linger(doc: Mapping[str, Any], where: str) -> float:
    value: float = _get(doc, "dna_batch_linger_s", float, DNA_BATCH_LINGER_S, where)
    if not 0 <= value <= MAX_DNA_BATCH_LINGER_S:
        raise ConfigError(f"{where}dna_batch_linger_s: 0 to {MAX_DNA_BATCH_LINGER_S:g} seconds")
    return value


def _non_negative_int(doc: Mapping[str, Any], key: str) -> int:
    value: int = _get(doc, key, int, 0, "")
    if value < 0:
        raise ConfigError(f"{key}: 0 (no limit) or more")
    return value


def _non_negative(doc: Mapping[str, Any], key: str, default: float) -> float:
    return _at_least(doc, key, default, 0.0)


def _at_least(doc: Mapping[str, Any], key: str, default: float, least: float) -> float:
    value: float = _get(doc, key, float, default, "")
    if value < least:
        raise ConfigError(f"{key}: must be {least:g} or more")
    return value


def _search_retention(doc: Mapping[str, Any], follow_up_window_s: float) -> float:
    """0 (kept for ever), or long enough to confirm and follow up every hit in its window."""
    value = _non_negative(doc, "search_retention_s", SEARCH_RETENTION_S)
    if 0 < value < follow_up_window_s:
        raise ConfigError(
            f"search_retention_s: 0 (keep) or at least the follow-up window "
            f"({follow_up_window_s:g} s), so that a hit can be followed up while it may"
        )
    return value


def _capacities(doc: Any, where: str) -> dict[str, int]:
    out = dict(DEFAULT_CAPACITIES)
    if doc is None:
        return out
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a table of search type = daily limit")
    for key, value in doc.items():
        if key not in DEFAULT_CAPACITIES:
            raise ConfigError(f"{where}.{key}: unknown search type")
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"{where}.{key}: expected a non-negative integer")
        out[key] = value
    return out


def _partner(doc: Any, index: int) -> PartnerConfig:
    where = f"partners[{index}]."
    if not isinstance(doc, dict):
        raise ConfigError(f"partners[{index}]: expected a table")
    _known(doc, PARTNER_KEYS, where)
    dialect = _get(doc, "dialect", str, "prum", where)
    if dialect not in DIALECTS:
        raise ConfigError(f"{where}dialect: one of {', '.join(DIALECTS)}")
    profile = _get(doc, "profile", str, DEFAULT_PROFILE[dialect], where)
    problem = profile_problem(dialect, profile)
    if problem is not None:
        raise ConfigError(f"{where}profile: {problem}")
    try:
        modalities = tuple(Modality(m) for m in _get(doc, "modalities", list, ["dna"], where))
    except ValueError as exc:
        raise ConfigError(f"{where}modalities: {exc}") from exc
    return PartnerConfig(
        id=_get(doc, "id", str, None, where),
        url=_get(doc, "url", str, None, where),
        dialect=dialect,
        profile=profile,
        modalities=modalities,
        timeout_s=_get(doc, "timeout_s", float, 5.0, where),
        retries=_get(doc, "retries", int, 2, where),
        max_in_flight=_get(doc, "max_in_flight", int, 32, where),
        breaker_failures=_positive(doc, "breaker_failures", int, 5, where),
        breaker_reset_s=_positive(doc, "breaker_reset_s", float, 10.0, where),
        dna_batch_max=_batch_max(doc, where),
        dna_batch_lanes=_positive(doc, "dna_batch_lanes", int, 2, where),
        dna_batch_linger_s=_batch_linger(doc, where),
        capacities=_capacities(doc.get("capacities"), f"{where}capacities"),
        inbound_capacities=_capacities(doc.get("inbound_capacities"), f"{where}inbound_capacities"),
        insecure=_get(doc, "insecure", bool, False, where),
    )


def _client(doc: Any, index: int) -> ClientConfig:
    where = f"clients[{index}]."
    if not isinstance(doc, dict):
        raise ConfigError(f"clients[{index}]: expected a table")
    _known(doc, CLIENT_KEYS, where)
    digest = _get(doc, "token_sha256", str, None, where).lower()
    if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ConfigError(f"{where}token_sha256: expected 64 hex digits (sha256 of the token)")
    scopes = _get(doc, "scopes", list, ["search"], where)
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ConfigError(f"{where}scopes: unknown {unknown}; one of {', '.join(SCOPES)}")
    return ClientConfig(
        id=_get(doc, "id", str, None, where),
        token_sha256=digest,
        scopes=frozenset(scopes),
        rate_per_minute=_get(doc, "rate_per_minute", int, 600, where),
    )


def _gallery(doc: Any, face_dim: int) -> GalleryConfig:
    """`[gallery]`: strings FAISS cannot use at `face_dim` are refused here, naming the key."""
    if doc is None:
        return GalleryConfig()
    if not isinstance(doc, dict):
        raise ConfigError(f"gallery: expected a table with {', '.join(GALLERY_KEYS)}")
    for key in doc:
        if key not in GALLERY_KEYS:
            raise ConfigError(f"gallery.{key}: unknown key; one of {', '.join(GALLERY_KEYS)}")
    index = _get(doc, "face_index", str, "auto", "gallery.").strip()
    search = _get(doc, "face_search", str, "", "gallery.").strip()
    try:
        check_factory(index, face_dim)
    except MatcherError as exc:
        raise ConfigError(f"gallery.face_index: {exc}") from exc
    try:
        check_search(index, search, face_dim)
    except MatcherError as exc:
        raise ConfigError(f"gallery.face_search: {exc}") from exc
    rule = _get(doc, "dna_microvariants", str, "annex", "gallery.").strip()
    if rule not in MICROVARIANT_RULES:
        raise ConfigError(
            f"gallery.dna_microvariants: {rule!r}; one of {', '.join(MICROVARIANT_RULES)}"
        )
    backend = _get(doc, "backend", str, "local", "gallery.").strip()
    if backend not in GALLERY_BACKENDS:
        raise ConfigError(f"gallery.backend: {backend!r}; one of {', '.join(GALLERY_BACKENDS)}")
    if backend == "ray" and importlib.util.find_spec("ray") is None:
        raise ConfigError(
            "gallery.backend: 'ray' needs Ray installed: pip install 'prum-exchange[cluster]'"
        )
    address = _get(doc, "address", str, "local", "gallery.").strip()
    if not address:
        raise ConfigError("gallery.address: empty; a Ray cluster's address, or 'local'")
    shards = _positive(doc, "shards", int, 1, "gallery.")
    timeout = _positive(doc, "shard_timeout_s", float, 5.0, "gallery.")
    return GalleryConfig(
        face_index=index,
        face_search=search,
        dna_microvariants=cast(MicrovariantRule, rule),
        backend=cast(GalleryBackend, backend),
        address=address,
        shards=shards,
        shard_timeout_s=timeout,
    )


def _face_models(doc: Any) -> dict[str, FaceModelConfig]:
    """`[face_models."ID"]`: only models this build extracts (`EXTRACTING_MODELS`)."""
    out = {DLIB_MODEL: FaceModelConfig()}
    if doc is None:
        return out
    if not isinstance(doc, dict):
        raise ConfigError('face_models: expected tables [face_models."MODEL"]')
    for model, table in doc.items():
        where = f'face_models."{model}".'
        if model not in EXTRACTING_MODELS:
            raise ConfigError(f"{where[:-1]}: unknown model; one of {', '.join(EXTRACTING_MODELS)}")
        if not isinstance(table, dict):
            raise ConfigError(f"{where[:-1]}: expected a table")
        _known(table, FACE_MODEL_KEYS, where)
        default = FaceModelConfig()
        threshold = _get(table, "threshold", float, default.threshold, where)
        if not -1.0 <= threshold <= 1.0:
            raise ConfigError(f"{where}threshold: -1 to 1 (a score: 1 - Euclidean distance)")
        long_side = _get(table, "detect_long_side", int, default.detect_long_side, where)
        if not (long_side == 0 or 80 <= long_side <= 20000):
            raise ConfigError(f"{where}detect_long_side: 0 (full size) or 80 to 20000 pixels")
        upsample = _get(table, "upsample", int, default.upsample, where)
        if not 0 <= upsample <= 2:
            raise ConfigError(f"{where}upsample: 0 to 2")
        jitters = _get(table, "jitters", int, default.jitters, where)
        if not 0 <= jitters <= 100:
            raise ConfigError(f"{where}jitters: 0 to 100")
        out[model] = FaceModelConfig(model, threshold, long_side, upsample, jitters)
    return out


def _extraction(doc: Any) -> ExtractionConfig:
    if doc is None:
        return ExtractionConfig()
    if not isinstance(doc, dict):
        raise ConfigError("extraction: expected a table with workers and queue")
    _known(doc, EXTRACTION_KEYS, "extraction.")
    workers = _get(doc, "workers", int, default_workers(), "extraction.")
    if not 1 <= workers <= 256:
        raise ConfigError("extraction.workers: 1 to 256")
    queue = _get(doc, "queue", int, DEFAULT_QUEUE, "extraction.")
    if not 0 <= queue <= 10_000:
        raise ConfigError("extraction.queue: 0 to 10000")
    return ExtractionConfig(workers, queue)


def _tls(doc: Any, base_dir: Path | None) -> NodeFiles | None:
    if doc is None:
        return None
    if not isinstance(doc, dict):
        raise ConfigError("tls: expected a table with ca, cert and key")
    _known(doc, TLS_KEYS, "tls.")

    def path(key: str) -> Path:
        p = Path(_get(doc, key, str, None, "tls."))
        p = base_dir / p if base_dir is not None and not p.is_absolute() else p
        if not p.is_file():
            raise ConfigError(f"tls.{key}: no file at {p}")
        return p

    return NodeFiles(ca=path("ca"), cert=path("cert"), key=path("key"))


def from_mapping(doc: Mapping[str, Any], base_dir: Path | None = None) -> GatewayConfig:
    """Build a config from parsed TOML; relative data_dir is taken from `base_dir`."""
    data_dir = Path(_get(doc, "data_dir", str, "data", ""))
    if base_dir is not None and not data_dir.is_absolute():
        data_dir = base_dir / data_dir
    _known(doc, TOP_KEYS, "")
    thresholds = dict(GatewayConfig().thresholds)
    for key in _table(doc, "thresholds", THRESHOLD_KEYS):
        thresholds[key] = _get(doc["thresholds"], key, float, None, "thresholds.")
    partners = tuple(_partner(p, i) for i, p in enumerate(doc.get("partners", [])))
    ids = [p.id for p in partners]
    if len(ids) != len(set(ids)):
        raise ConfigError("partners: a partner id appears twice")
    clients = tuple(_client(c, i) for i, c in enumerate(doc.get("clients", [])))
    open_api = _get(doc, "open_client_api", bool, False, "")
    if not clients and not open_api:
        raise ConfigError(
            "clients: no [[clients]] configured; add client tokens, or set"
            " open_client_api = true for local use only"
        )
    face_dim = _positive(doc, "face_dim", int, 512, "")
    config = GatewayConfig(
        clients=clients,
        open_client_api=open_api,
        tls=_tls(doc.get("tls"), base_dir),
        node_id=_get(doc, "node_id", str, "GB", ""),
        data_dir=data_dir,
        feature_model=_get(doc, "feature_model", str, "synthetic-face-512-v1", ""),
        face_dim=face_dim,
        gallery=_gallery(doc.get("gallery"), face_dim),
        face_models=_face_models(doc.get("face_models")),
        extraction=_extraction(doc.get("extraction")),
        search_deadline_s=_get(doc, "search_deadline_s", float, 10.0, ""),
        idle_timeout_s=_get(doc, "idle_timeout_s", float, 15.0, ""),
        index_save_interval_s=_non_negative(doc, "index_save_interval_s", 600.0),
        housekeeping_interval_s=_non_negative(doc, "housekeeping_interval_s", 600.0),
        reply_retention_s=_at_least(doc, "reply_retention_s", 7 * 86400.0, 3600.0),
        search_retention_s=_search_retention(doc, FOLLOW_UP_WINDOW_S),
        max_in_flight=_get(doc, "max_in_flight", int, 256, ""),
        max_searches_fanning_out=_non_negative_int(doc, "max_searches_fanning_out"),
        client=_listener(doc, "client", 8080),
        partner_listener=_listener(doc, "partner_listener", 8443),
        thresholds=thresholds,
        partners=partners,
    )
    problem = plain_http_problem(config)
    if problem is not None:
        raise ConfigError(problem)
    return config


def load(path: Path) -> GatewayConfig:
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 at byte {exc.start}") from exc
    except ValueError as exc:  # an integer longer than int() converts
        raise ConfigError(f"{path}: {str(exc).split(';')[0]}") from exc
    return from_mapping(doc, path.parent)
