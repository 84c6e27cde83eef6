"""Face templates at the edge: every template the codecs accept is one the matchers can use.

Found by the gateway's API fuzzing: an all-zero template passed the codec (finite, right
size) and reached the face matcher, which cannot normalise it, and the partner API answered
500. Now the codec refuses it by name, and the gallery turns a matcher's refusal into a
typed one as its other searches do.
"""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.codecs.errors import CodecError
from exchange.codecs.face_template import check_template
from exchange.gallery import GalleryError, NodeGallery, Thresholds
from exchange.model import FaceTemplate
from matchers.errors import TemplateError
from matchers.vector_gallery import normalise

float32s = st.floats(width=32, allow_nan=False, allow_infinity=False)


@given(st.lists(float32s | st.sampled_from([0.0, 1e-45, 3e38, -3e38]), min_size=1, max_size=64))
def test_the_codec_accepts_exactly_the_templates_the_matchers_can_normalise(
    values: list[float],
) -> None:
    data = struct.pack(f"<{len(values)}f", *values)
    try:
        check_template(data, "face.template")
    except CodecError as exc:
        assert exc.field == "face.template"
        with pytest.raises(TemplateError):
            normalise(np.frombuffer(data, dtype="<f4"), len(values))
    else:
        unit = normalise(np.frombuffer(data, dtype="<f4"), len(values))
        assert np.isfinite(unit).all()


def test_the_gallery_refuses_a_face_search_the_matcher_cannot_run() -> None:
    gallery = NodeGallery(feature_model="m-1", face_dim=8, thresholds=Thresholds())
    zero = FaceTemplate("m-1", bytes(32))  # built directly, past the codec's check
    with pytest.raises(GalleryError, match="finite and non-zero"):
        gallery.search_face(zero, 5)


@pytest.mark.parametrize(
    "bits", [0x7F800001, 0x7FC00000, 0xFF800000, 0x7F800000, 0x7F7FFFFF, 0x00000001, 0]
)
def test_hostile_values_are_refused_or_accepted_without_a_numpy_warning(bits: int) -> None:
    # Found by the gateway fuzzer: a signalling NaN made the float64 cast warn
    # ("invalid value encountered in cast"); a warning per hostile request is log noise.
    data = struct.pack("<2I", bits, bits)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            check_template(data, "face.template")
        except CodecError as exc:
            assert exc.field == "face.template"
