"""Checks on a face feature template as it arrives in any format (JSON, XML, Interpol XML).

A template is a vector of little-endian float32 values (DESIGN.md §3). A wrong size or a
NaN would poison a FAISS index or every score computed with it, so it is refused at the edge.
"""

from __future__ import annotations

import numpy as np

from exchange.codecs.errors import CodecError

MAX_TEMPLATE_DIM = 4096
# Sums of squares accepted without the exact checks: above the smallest normal float32 times
# MAX_TEMPLATE_DIM (some square is then normal, so no order of summation gives 0), and ten
# times below float32's largest (no order of summation overflows).
_SAFE_SQUARES = (1e-30, 3e37)


def check_template(data: bytes, path: str) -> bytes:
    """Whole float32 values, 1 to MAX_TEMPLATE_DIM of them, all finite, with a length the
    matchers can normalise (not zero, not past float32's range); else CodecError."""
    if not data or len(data) % 4:
        raise CodecError(path, "must be a whole number of float32 values")
    dim = len(data) // 4
    if dim > MAX_TEMPLATE_DIM:
        raise CodecError(path, f"{dim} values, more than {MAX_TEMPLATE_DIM}")
    values = np.frombuffer(data, dtype="<f4")
    if not np.isfinite(values).all():  # (a classification: no warning on a NaN)
        raise CodecError(path, "contains NaN or infinite values")
    # Fast path (one dot product, ~2 µs, against ~10 for the norm below): a sum of squares
    # well inside float32's range means the length the matchers compute, in whatever order
    # they sum, is finite and non-zero; a sum near either end of the range goes on to the
    # exact check. In float64, where no square of a finite float32 overflows: no warning on
    # hostile input (the values are finite, so the cast raises none either).
    wide = values.astype(np.float64)
    if _SAFE_SQUARES[0] < float(np.dot(wide, wide)) < _SAFE_SQUARES[1]:
        return data
    # The norm as `matchers.vector_gallery.normalise` computes it (float32, row-wise), so
    # that every template the codecs accept is one the matchers can search or enrol.
    with np.errstate(over="ignore", under="ignore"):  # what the checks below are for
        norm = np.linalg.norm(values.astype(np.float32)[None, :], axis=1)[0]
    if norm == 0:
        raise CodecError(path, "is all zeros (or too small to have a length): nothing to match")
    if not np.isfinite(norm):
        raise CodecError(path, "values too large: their length overflows float32")
    return data
