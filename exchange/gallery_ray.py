"""The UK gallery sharded over Ray actors (DESIGN.md §6): `[gallery] backend = "ray"`.

Each shard is a Ray actor holding a `NodeGallery` (every modality's index) for its share of
the references: shard `blake2b(reference) mod N` (`shard_of`, stable across processes and
runs, unlike Python's salted `hash`). Adds, removals and replacements go to the owning shard;
a search goes to every shard and the answers are merged in the order the embedded gallery
gives: DNA by `exchange.gallery.dna_rank` (match type, wildcard, loci compared, then
reference), faces and fingerprints by `score_rank` (score, then reference), cut at the limit.
Each shard holds the top `limit` of its share, so the merged top `limit` is the gallery's.

Failure: shards are created with `max_restarts=-1` (Ray restarts a dead actor, running its
`__init__` again, which reloads the shard's index files when their stamp is current or
rebuilds its share from the source of truth, `ShardSource`) and `max_task_retries=0` (a call
in flight when its shard dies fails rather than running twice). A shard that is dead,
restarting or later than `timeout_s` makes the call raise `GalleryUnavailable` naming each
shard's status: a search is never answered from part of the gallery, since the missing share
might hold the hit (Ray: "Fault tolerance / Actor fault tolerance", docs.ray.io).

Ray is optional (`pip install 'prum-exchange[cluster]'`): it is imported here, lazily, and
nothing imports this module unless the config says `backend = "ray"`. Every call blocks on
other processes (`remote = True`): callers keep them off the event loop.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from exchange.gallery import (
    DEFAULT_FACE_MODELS,
    GalleryError,
    GalleryUnavailable,
    NodeGallery,
    ShardStatus,
    Thresholds,
    UnsupportedFeatureModel,
    dna_rank,
    score_rank,
    scored_candidates,
)
from exchange.model import Candidate, DnaProfile, FaceTemplate, FingerprintSet, PersonRecord
from matchers.dna_profile import MicrovariantRule

T = TypeVar("T")
NAMESPACE = "prum-exchange"


def shard_of(reference: str, shards: int) -> int:
    """The shard that owns `reference`: a stable hash (BLAKE2b, 8 bytes) modulo `shards`."""
    digest = hashlib.blake2b(reference.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


@dataclass(frozen=True, slots=True)
class GallerySettings:
    """What every shard builds its `NodeGallery` from (sent to the actors, so plain data)."""

    feature_model: str
    face_dim: int
    thresholds: Thresholds
    face_index: str = "auto"
    face_search: str = ""
    dna_microvariants: MicrovariantRule = "annex"
    # The Euclidean face models held beside `feature_model`, with their thresholds
    # (`NodeGallery`'s `face_models`), as pairs so the settings stay plain data.
    face_models: tuple[tuple[str, float], ...] = tuple(DEFAULT_FACE_MODELS.items())

    def build(self) -> NodeGallery:
        return NodeGallery(
            feature_model=self.feature_model,
            face_dim=self.face_dim,
            thresholds=self.thresholds,
            face_index=self.face_index,
            face_search=self.face_search,
            dna_microvariants=self.dna_microvariants,
            face_models=dict(self.face_models),
        )


class ShardSource(Protocol):
    """The source of truth a restarted shard reloads its share from (picklable)."""

    def version(self) -> str:
        """The current gallery version (index files stamped otherwise are stale)."""
        ...

    def records(self, shard: int, shards: int) -> Iterator[tuple[str, PersonRecord]]:
        """Every (reference, record) whose reference `shard_of` gives to `shard`."""
        ...


def shard_directory(directory: Path, shard: int) -> Path:
    return directory / f"shard-{shard}"


Refused = str  # a shard's refusal of a probe or record (a GalleryError's text)


class GalleryShard:
    """One shard: a `NodeGallery` for its share, filled at start (and at each restart)."""

    def __init__(
        self,
        shard: int,
        shards: int,
        settings: GallerySettings,
        index_dir: str | None,
        source: ShardSource | None,
    ) -> None:
        self.shard, self.shards = shard, shards
        self.settings = settings
        self.index_dir = index_dir
        self.source = source
        self.gallery = settings.build()
        self.filled_from = "empty"
        self.version: str | None = None
        if source is not None:
            self.fill(index_dir, source.version())

    def fill(self, index_dir: str | None, version: str) -> str:
        """Load the shard's index files when stamped `version`, else rebuild from the source;
        where its share came from ("index files", "sqlite", or "empty" with no source).
        Already at `version` (filled at its start, or by another gateway): nothing to do."""
        if self.version == version:
            return self.filled_from
        if index_dir is not None:
            where = shard_directory(Path(index_dir), self.shard)
            if self.gallery.load_files(where, version):
                self.filled_from, self.version = "index files", version
                return self.filled_from
        if self.source is None:
            return self.filled_from
        fresh = self.settings.build()
        for reference, record in self.source.records(self.shard, self.shards):
            try:
                fresh.add(reference, record)
            except GalleryError:  # as `rebuild_gallery`: stored before a check, skipped
                continue
        self.gallery, self.filled_from, self.version = fresh, "sqlite", version
        return self.filled_from

    def count(self) -> int:
        return len(self.gallery)

    def contains(self, reference: str) -> bool:
        return reference in self.gallery

    def add(self, reference: str, record: PersonRecord) -> Refused | None:
        try:
            self.gallery.add(reference, record)
        except GalleryError as exc:
            return str(exc)
        return None

    def add_many(self, items: Sequence[tuple[str, PersonRecord]]) -> list[Refused | None]:
        return [self.add(reference, record) for reference, record in items]

    def remove(self, reference: str) -> bool:
        return self.gallery.remove(reference)

    def memory_bytes(self) -> dict[str, int]:
        """The shard's index bytes by modality (as the matchers count them)."""
        return {
            "dna": self.gallery.dna.nbytes(),
            "face": self.gallery.face.memory_bytes() if len(self.gallery.face) else 0,
            "fingerprint": sum(self.gallery.fingerprints.memory_bytes().values()),
        }

    def save(self, directory: str, version: str) -> None:
        self.gallery.save(shard_directory(Path(directory), self.shard), version)

    def dna(self, profiles: Sequence[DnaProfile], limit: int) -> list[list[Candidate] | Refused]:
        return [
            found if isinstance(found, list) else str(found)
            for found in self.gallery.search_dna_many(profiles, limit)
        ]

    def face(self, template: FaceTemplate, limit: int) -> list[tuple[str, float]] | Refused:
        try:
            return self.gallery.face_scores(template, limit)
        except GalleryError as exc:
            return str(exc)

    def fingerprints(
        self, fingerprints: FingerprintSet, limit: int
    ) -> list[tuple[str, float]] | Refused:
        try:
            return self.gallery.fingerprint_scores(fingerprints, limit)
        except GalleryError as exc:
            return str(exc)


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - the config check names the extra
        raise GalleryError(
            "gallery.backend = 'ray' needs Ray: pip install 'prum-exchange[cluster]'"
        ) from exc
    return ray


def connect(address: str) -> None:
    """Join the Ray cluster at `address`, or start a local one for `local` (once a process)."""
    ray = _ray()
    if ray.is_initialized():
        return
    if address == "local":
        ray.init(include_dashboard=False, namespace=NAMESPACE, log_to_driver=False)
    else:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=False)


class RayGallery:
    """A `exchange.gallery.Gallery` whose references are spread over `shards` Ray actors."""

    remote = True

    def __init__(
        self,
        settings: GallerySettings,
        *,
        shards: int,
        name: str,
        index_dir: Path | None = None,
        source: ShardSource | None = None,
        timeout_s: float = 5.0,
        detached: bool = False,
    ) -> None:
        """`name`: the actors' name prefix; processes giving the same name (several gateways
        over one store) share the shards. `detached`: the shards outlive this process."""
        ray = _ray()
        if not ray.is_initialized():
            raise GalleryError("Ray is not initialised: call exchange.gallery_ray.connect")
        self.settings = settings
        self.feature_model = settings.feature_model
        self.face_dim = settings.face_dim
        self.thresholds = settings.thresholds
        self._face_models = sorted({settings.feature_model, *dict(settings.face_models)})
        self.timeout_s = timeout_s
        self.detached = detached
        self.name = name
        actor = ray.remote(GalleryShard)
        self._actors = [
            actor.options(
                name=f"{name}-{i}",
                namespace=NAMESPACE,
                get_if_exists=True,
                lifetime="detached" if detached else None,
                max_restarts=-1,
                max_task_retries=0,
                num_cpus=0,
                scheduling_strategy="SPREAD",
            ).remote(i, shards, settings, None if index_dir is None else str(index_dir), source)
            for i in range(shards)
        ]

    @property
    def shards(self) -> int:
        return len(self._actors)

    @property
    def actors(self) -> list[Any]:
        """The shard actors' handles (for tests and operators: `ray.kill` one to drill)."""
        return list(self._actors)

    # -- calls ---------------------------------------------------------------------------

    def _gather(
        self,
        call: Callable[[int, Any], Any],
        which: Sequence[int] | None = None,
        timeout_s: float | None = -1.0,
    ) -> list[Any]:
        """`call(shard, actor)` for every shard (or `which`), waiting at most `timeout_s`
        (default the gallery's; None: no limit) for all; their answers in shard order, or
        `GalleryUnavailable` naming the shards that did not answer."""
        ray = _ray()
        exc_types = (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError)
        which = range(len(self._actors)) if which is None else which
        refs = [call(i, self._actors[i]) for i in which]
        wait = self.timeout_s if timeout_s == -1.0 else timeout_s
        deadline = None if wait is None else time.monotonic() + wait
        answers: list[Any] = []
        statuses: dict[int, ShardStatus] = {}
        for i, ref in zip(which, refs, strict=True):
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                answers.append(ray.get(ref, timeout=left))
                statuses[i] = ShardStatus(i, "up")
            except exc_types as exc:
                reason = "no answer in time" if isinstance(exc, TimeoutError) else "actor down"
                statuses[i] = ShardStatus(i, "down", reason=reason)
                answers.append(None)
        down = [s for s in statuses.values() if s.status == "down"]
        if down:
            raise GalleryUnavailable(
                "the gallery is incomplete: "
                + ", ".join(f"shard {s.shard} of {self.shards} {s.reason}" for s in down)
                + "; try again shortly",
                tuple(statuses[i] for i in which),
            )
        return answers

    def _owner(self, reference: str) -> int:
        return shard_of(reference, len(self._actors))

    def shard_statuses(self) -> tuple[ShardStatus, ...]:
        """Each shard's status now (its record count when up), asked with `timeout_s`."""
        try:
            counts = self._gather(lambda _, a: a.count.remote())
        except GalleryUnavailable as exc:
            return exc.shards
        return tuple(ShardStatus(i, "up", n) for i, n in enumerate(counts))

    def __len__(self) -> int:
        return sum(self._gather(lambda _, a: a.count.remote()))

    def __contains__(self, reference: object) -> bool:
        if not isinstance(reference, str):
            return False
        owner = self._owner(reference)
        (held,) = self._gather(lambda _, a: a.contains.remote(reference), [owner])
        return bool(held)

    # -- writes --------------------------------------------------------------------------

    def add(self, reference: str, record: PersonRecord) -> None:
        owner = self._owner(reference)
        (refused,) = self._gather(lambda _, a: a.add.remote(reference, record), [owner])
        if refused is not None:
            raise GalleryError(refused)

    def add_many(self, items: Sequence[tuple[str, PersonRecord]]) -> list[str | None]:
        """Enrol many records, one call per shard (a bulk load); each one's refusal or None."""
        by_shard: dict[int, list[int]] = {}
        for n, (reference, _) in enumerate(items):
            by_shard.setdefault(self._owner(reference), []).append(n)
        shards = sorted(by_shard)
        answers = self._gather(
            lambda i, a: a.add_many.remote([items[n] for n in by_shard[i]]),
            shards,
            timeout_s=None,
        )
        out: list[str | None] = [None] * len(items)
        for shard, refused in zip(shards, answers, strict=True):
            for n, why in zip(by_shard[shard], refused, strict=True):
                out[n] = why
        return out

    def memory_bytes(self) -> list[dict[str, int]]:
        """Each shard's index bytes by modality."""
        found: list[dict[str, int]] = self._gather(lambda _, a: a.memory_bytes.remote())
        return found

    def remove(self, reference: str) -> bool:
        owner = self._owner(reference)
        (removed,) = self._gather(lambda _, a: a.remove.remote(reference), [owner])
        return bool(removed)

    # -- index files ---------------------------------------------------------------------

    def save(self, directory: Path, version: str) -> None:
        """Each shard writes its files under `directory/shard-i` (a path its node can
        reach: one machine, or storage shared by the cluster)."""
        directory.mkdir(parents=True, exist_ok=True)
        self._gather(lambda _, a: a.save.remote(str(directory), version))

    def load_files(self, directory: Path, version: str) -> bool:
        """Every shard loads its files if stamped `version`, else rebuilds its share from
        its source; True if every share came from index files."""
        return all(s == "index files" for s in self.fill(directory, version))

    def fill(self, directory: Path, version: str) -> list[str]:
        """Where each shard's share came from: "index files", "sqlite" or "empty"."""
        # No time limit: a shard rebuilding millions of records from SQLite takes minutes.
        found: list[str] = self._gather(
            lambda _, a: a.fill.remote(str(directory), version), timeout_s=None
        )
        return found

    # -- searches ------------------------------------------------------------------------

    def search_dna(self, profile: DnaProfile, limit: int) -> list[Candidate]:
        (found,) = self.search_dna_many([profile], limit)
        if isinstance(found, GalleryError):
            raise found
        return found

    def search_dna_many(
        self, profiles: Sequence[DnaProfile], limit: int
    ) -> list[list[Candidate] | GalleryError]:
        """One call per shard for all the probes (a DNA message's batch), merged per probe."""
        answers = self._gather(lambda _, a: a.dna.remote(list(profiles), limit))
        out: list[list[Candidate] | GalleryError] = []
        for p in range(len(profiles)):
            parts = [answer[p] for answer in answers]
            refused = next((x for x in parts if isinstance(x, str)), None)
            if refused is not None:
                out.append(GalleryError(refused))
            else:
                out.append(merge_ranked(parts, dna_rank, limit))
        return out

    def holds_face_model(self, model: str) -> bool:
        return model in self._face_models

    def face_model_ids(self) -> list[str]:
        return list(self._face_models)

    def search_face(self, template: FaceTemplate, limit: int) -> list[Candidate]:
        if not self.holds_face_model(template.feature_model):  # typed here, not as a shard's text
            raise UnsupportedFeatureModel(template.feature_model, self._face_models)
        answers = self._gather(lambda _, a: a.face.remote(template, limit))
        return scored_candidates(merge_ranked(_accepted(answers), score_rank, limit))

    def search_fingerprints(self, fingerprints: FingerprintSet, limit: int) -> list[Candidate]:
        answers = self._gather(lambda _, a: a.fingerprints.remote(fingerprints, limit))
        return scored_candidates(merge_ranked(_accepted(answers), score_rank, limit))

    def close(self) -> None:
        """End the shards this process owns (detached shards are left to the cluster)."""
        if self.detached:
            return
        ray = _ray()
        for actor in self._actors:
            ray.kill(actor, no_restart=True)


def _accepted(answers: Sequence[list[T] | Refused]) -> list[list[T]]:
    for answer in answers:
        if isinstance(answer, str):
            raise GalleryError(answer)
    return [a for a in answers if not isinstance(a, str)]


def merge_ranked(parts: Iterable[list[T]], key: Callable[[T], Any], limit: int) -> list[T]:
    """The top `limit` of the shards' answers, each already ordered by `key`."""
    merged = [item for part in parts for item in part]
    merged.sort(key=key)
    return merged[:limit]
