"""Image-only prints made searchable: extraction over a print set, the gallery's 1:N search of
real prints among 10,000 synthetic subjects, refusals, and image-only fingers on the wire."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from PIL import Image

from exchange.codecs import prum_xml
from exchange.codecs.ansi_nist import fingerprints_from_bytes
from exchange.finger_samples import FingerSampleError, extract_fingers, needs_extraction
from exchange.gallery import GalleryError, NodeGallery, Thresholds
from exchange.model import (
    BiometricImage,
    DactySearchRequest,
    Finger,
    FingerprintSet,
    Impression,
    Minutia,
    PersonRecord,
)
from exchange.translate import Outbound, record_to_envelope
from matchers.synthetic import minutiae_recapture, tenprint
from tests.shared_data import THIRDPARTY, needs_shared

TPCARD = THIRDPARTY / "wct097-eft-viewer" / "nist-type-14-tpcard.eft"
FLATS = THIRDPARTY / "wct097-eft-viewer" / "nist-type-4-14-flats.eft"
SEED = 5
N = 10_000


@cache
def _tpcard() -> FingerprintSet:
    """The tpcard with mindtct's minutiae beside its images (extracted once per module)."""
    return extract_fingers(fingerprints_from_bytes(TPCARD.read_bytes()))[0]


def _only(prints: FingerprintSet, positions: set[int], impression: Impression) -> FingerprintSet:
    return replace(
        prints,
        fingers=tuple(f for f in prints.fingers if f.position in positions),
        impression=impression,
    )


def _blank_png() -> BiometricImage:
    out = io.BytesIO()
    Image.new("L", (300, 300), 230).save(out, format="PNG")
    return BiometricImage(out.getvalue(), "PNG", 300, 300)


@pytest.fixture(scope="module")
def gallery() -> NodeGallery:
    """10,000 synthetic subjects (the subject index fitted) plus NIST's rolled ten-print."""
    if not TPCARD.exists():
        pytest.skip("../shared (third-party data) is absent")
    g = NodeGallery(feature_model="test", face_dim=8, thresholds=Thresholds())
    g.fingerprints.add_many([f"S{i}" for i in range(N)], [tenprint(SEED, i) for i in range(N)])
    g.add(
        "NIST-REAL",
        PersonRecord(fingerprints=_only(_tpcard(), set(range(1, 11)), Impression.ROLLED)),
    )
    return g


@needs_shared
def test_a_ten_print_gets_minutiae_for_every_rolled_finger_and_skips_its_slaps() -> None:
    raw = fingerprints_from_bytes(TPCARD.read_bytes())
    assert needs_extraction(raw) and not needs_extraction(_tpcard())
    got = {f.position: len(f.minutiae) for f in _tpcard().fingers}
    assert all(got[p] >= 50 for p in range(1, 13))
    assert got[13] == got[14] == 0  # every finger of the slaps is held rolled already
    assert all(f.image is not None for f in _tpcard().fingers)  # images travel on


@needs_shared
def test_a_slaps_only_transaction_is_cut_into_ten_fingers() -> None:
    prints, reports = extract_fingers(fingerprints_from_bytes(FLATS.read_bytes()))
    assert {r.position for r in reports} == set(range(1, 11))
    assert {r.source for r in reports} == {"slap 13", "slap 14", "slap 15"}
    assert {f.position for f in prints.fingers if f.image is not None} == {13, 14, 15}


@needs_shared
@pytest.mark.parametrize(
    ("name", "positions"),
    [("plain right thumb", {11}), ("plain thumbs", {11, 12}), ("plain set", {11, 12, 13, 14})],
)
def test_plain_impressions_find_their_rolled_mate_at_rank_one(
    gallery: NodeGallery, name: str, positions: set[int]
) -> None:
    probe = _only(_tpcard(), positions, Impression.PLAIN)
    found = gallery.search_fingerprints(probe, 5)
    assert found and found[0].reference == "NIST-REAL", name
    assert all(c.score < found[0].score for c in found[1:])


@needs_shared
def test_the_flats_transaction_finds_the_same_person(gallery: NodeGallery) -> None:
    flats = extract_fingers(fingerprints_from_bytes(FLATS.read_bytes()))[0]
    found = gallery.search_fingerprints(flats, 5)
    assert [c.reference for c in found][:1] == ["NIST-REAL"]


@needs_shared
def test_synthetic_probes_are_still_paired_and_found(gallery: NodeGallery) -> None:
    """A synthetic re-capture (no image) keeps the pairing score and finds its subject."""
    for subject in (3, 4321, 9876):
        fingers = tuple(
            Finger(p, _minutiae(minutiae_recapture(SEED, subject, p, 1))) for p in range(1, 11)
        )
        found = gallery.search_fingerprints(FingerprintSet(fingers), 3)
        assert found[0].reference == f"S{subject}"


def _minutiae(rows: np.ndarray) -> tuple[Minutia, ...]:
    from exchange.model import MinutiaKind

    return tuple(
        Minutia(
            max(0, round(float(x))),
            max(0, round(float(y))),
            round(float(t)) % 360,
            MinutiaKind.BIFURCATION if k else MinutiaKind.RIDGE_ENDING,
            int(q),
        )
        for x, y, t, k, q in rows
    )


def test_prints_with_no_usable_finger_are_refused_not_enrolled() -> None:
    blank = FingerprintSet((Finger(2, image=_blank_png()), Finger(3, image=_blank_png())))
    with pytest.raises(FingerSampleError, match="no usable finger") as caught:
        extract_fingers(blank, field="record.fingerprints")
    assert caught.value.field == "record.fingerprints"
    g = NodeGallery(feature_model="test", face_dim=8, thresholds=Thresholds())
    with pytest.raises(GalleryError, match="no usable finger"):
        g.add("R1", PersonRecord(fingerprints=blank))
    assert "R1" not in g and len(g.fingerprints) == 0
    with pytest.raises(GalleryError, match="no usable finger"):
        g.search_fingerprints(blank, 5)


def test_image_only_fingers_travel_in_a_dacty_search_and_back() -> None:
    image = _blank_png()
    prints = FingerprintSet((Finger(1, image=image), Finger(13, image=image)), Impression.PLAIN)
    record = PersonRecord(reference="GB-T-1", fingerprints=prints)
    out = Outbound(
        message_id="m-1",
        correlation_id="c-1",
        timestamp=dt.datetime(2026, 12, 8, tzinfo=dt.UTC),
        sender="GB",
        receiver="DE",
        message="dacty-search",
    )
    back = prum_xml.decode(prum_xml.encode(record_to_envelope(record, out))).body
    assert isinstance(back, DactySearchRequest)
    assert [(f.position, f.minutiae, f.image) for f in back.fingerprints.fingers] == [
        (1, (), image),
        (13, (), image),
    ]


def test_the_refusal_survives_the_trip_back_from_a_pool_worker() -> None:
    """Raised in a worker process, the error is pickled back whole (field and reason)."""
    import pickle

    back = pickle.loads(pickle.dumps(FingerSampleError("record.fingerprints", "no usable finger")))
    assert (back.field, back.reason) == ("record.fingerprints", "no usable finger")
