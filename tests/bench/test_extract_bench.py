"""`bench extract`'s pieces on the real photographs (the whole run is minutes: bench/ only)."""

from __future__ import annotations

from bench import extract
from tests.shared_data import THIRDPARTY, needs_shared


@needs_shared
def test_images_per_second_counts_real_extractions() -> None:
    data = [(THIRDPARTY / "ageitgey-face_recognition" / "obama2.jpg").read_bytes()]
    rate = extract.images_per_second(data, rounds=1, long_side=1000)
    assert 0 < rate < 1000


def test_rows_share_one_shape_so_other_modalities_can_add_theirs() -> None:
    row = extract._row("images/s per worker", "full", 2.0, "images/s", True)
    assert set(row) == {"modality", "measure", "setting", "value", "unit", "baseline"}
    assert extract._percentile([3.0, 1.0, 2.0], 0.5) == 2.0
