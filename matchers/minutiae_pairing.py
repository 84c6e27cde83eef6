"""Minutiae pairing score: align two minutiae sets, pair them, score the pairs.

The classic alignment-then-pairing matcher (Maltoni, Maio, Jain, Prabhakar, "Handbook of
Fingerprint Recognition", 2nd ed., Springer 2009, §4.3): a generalised Hough transform over
(rotation, translation) votes with every minutia pair (Ratha, Karu, Chen, Jain, "A real-time
matching system for large fingerprint databases", IEEE PAMI 18(8), 1996); the peak cell gives
the alignment, refined by the mean of its voters. The aligned sets are then paired one-to-one
(mutual nearest neighbours within a distance and an angle tolerance), and the score is
k^2 / (n_a n_b) for k pairs out of n_a and n_b minutiae (Handbook §4.3.1), in [0, 1].

The two best rotation cells are tried and the better pairing kept, since a vote peak can fall
between cells. Vectorised over all n_a x n_b minutia pairs, and over many comparisons at
once (`pairing_scores`), padded to the largest set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

ROT_BIN_DEG = 10.0
SHIFT_BIN_PX = 16.0
PAIR_DIST_PX = 14.0
PAIR_ANGLE_DEG = 25.0
MAX_SHIFT_PX = 320.0
TRIED_ROTATIONS = 2
MAX_MINUTIAE = 40  # the best by quality; pairing cost grows with the product of the counts

F32 = npt.NDArray[np.float32]


def pairing_score(a: F32, b: F32) -> float:
    """Similarity of minutiae sets `a` and `b` ((n, 3+): x, y, angle in degrees), in [0, 1]."""
    return float(pairing_scores([(a, b)])[0])


def pairing_scores(pairs: Sequence[tuple[F32, F32]]) -> npt.NDArray[np.float64]:
    """`pairing_score` of many pairs at once: one set of array operations for all of them,
    padded to the largest sets, which is what makes re-ranking ten fingers cheap."""
    if not pairs:
        return np.zeros(0)
    sets_a = [_best(a) for a, _ in pairs]
    sets_b = [_best(b) for _, b in pairs]
    na = np.array([len(a) for a in sets_a])
    nb = np.array([len(b) for b in sets_b])
    a, va = _pad(sets_a, int(na.max()))
    b, vb = _pad(sets_b, int(nb.max()))
    k = _paired_counts(a, va, b, vb)
    denom = na * nb
    return np.where(denom > 0, k * k / np.maximum(denom, 1), 0.0)


def _best(m: F32) -> F32:
    """At most MAX_MINUTIAE minutiae, the highest quality first (column 4 when present)."""
    if len(m) <= MAX_MINUTIAE:
        return m
    if m.shape[1] < 5:
        return m[:MAX_MINUTIAE]
    return m[np.argsort(-m[:, 4], kind="stable")[:MAX_MINUTIAE]]


def _pad(sets: list[F32], n: int) -> tuple[F32, npt.NDArray[np.bool_]]:
    out = np.zeros((len(sets), n, 3), dtype=np.float32)
    valid = np.zeros((len(sets), n), dtype=bool)
    for i, m in enumerate(sets):
        out[i, : len(m)] = m[:, :3]
        valid[i, : len(m)] = True
    return out, valid


def _paired_counts(
    a: F32,
    va: npt.NDArray[np.bool_],
    b: F32,
    vb: npt.NDArray[np.bool_],
) -> npt.NDArray[np.int64]:
    n_pairs = a.shape[0]
    ax, ay, at = a[..., 0][:, :, None], a[..., 1][:, :, None], a[..., 2][:, :, None]
    bx, by, bt = b[..., 0][:, None, :], b[..., 1][:, None, :], b[..., 2][:, None, :]
    both = va[:, :, None] & vb[:, None, :]
    # Rotation of every minutia pair, a -> b, and the translation it implies.
    rot = (bt - at) % 360.0
    n_rot = int(360 / ROT_BIN_DEG)
    rbin = (rot / ROT_BIN_DEG).astype(np.int64) % n_rot
    rad = np.radians(rot)
    c, s = np.cos(rad), np.sin(rad)
    tx = bx - (c * ax - s * ay)
    ty = by - (s * ax + c * ay)
    n_shift = int(2 * MAX_SHIFT_PX / SHIFT_BIN_PX)
    xbin = np.floor((tx + MAX_SHIFT_PX) / SHIFT_BIN_PX).astype(np.int64)
    ybin = np.floor((ty + MAX_SHIFT_PX) / SHIFT_BIN_PX).astype(np.int64)
    inside = both & (xbin >= 0) & (xbin < n_shift) & (ybin >= 0) & (ybin < n_shift)
    n_cells = n_rot * n_shift * n_shift
    cell = (rbin * n_shift + xbin) * n_shift + ybin
    cell = np.where(inside, cell + np.arange(n_pairs)[:, None, None] * n_cells, -1)
    cells, votes = np.unique(cell[inside], return_counts=True)
    owner = cells // n_cells
    # The TRIED_ROTATIONS best cells of each pair of sets (votes descending within owner).
    order = np.lexsort((-votes, owner))
    cells, owner = cells[order], owner[order]
    first = np.searchsorted(owner, np.arange(n_pairs))
    best = np.zeros(n_pairs, dtype=np.int64)
    for rank in range(TRIED_ROTATIONS):
        idx = first + rank
        ok = (idx < len(cells)) & (owner[np.minimum(idx, len(cells) - 1)] == np.arange(n_pairs))
        if not ok.any():
            break
        peak = np.where(ok, cells[np.minimum(idx, len(cells) - 1)], -2)
        sel = cell == peak[:, None, None]
        cnt = np.maximum(sel.sum(axis=(1, 2)), 1)
        theta = np.arctan2((s * sel).sum(axis=(1, 2)), (c * sel).sum(axis=(1, 2)))
        dx = (tx * sel).sum(axis=(1, 2)) / cnt
        dy = (ty * sel).sum(axis=(1, 2)) / cnt
        k = _pairs(a, va, b, vb, theta, dx, dy)
        best = np.maximum(best, np.where(ok, k, 0))
    return best


def _pairs(
    a: F32,
    va: npt.NDArray[np.bool_],
    b: F32,
    vb: npt.NDArray[np.bool_],
    theta: npt.NDArray[np.float64],
    dx: npt.NDArray[np.float64],
    dy: npt.NDArray[np.float64],
) -> npt.NDArray[np.int64]:
    """Mutual nearest neighbours within the tolerances after moving `a` onto `b`."""
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    px = c * a[..., 0] - s * a[..., 1] + dx[:, None]
    py = s * a[..., 0] + c * a[..., 1] + dy[:, None]
    pt = (a[..., 2] + np.degrees(theta)[:, None]) % 360.0
    d2 = (px[:, :, None] - b[..., 0][:, None, :]) ** 2 + (
        py[:, :, None] - b[..., 1][:, None, :]
    ) ** 2
    dt = np.abs((pt[:, :, None] - b[..., 2][:, None, :] + 180.0) % 360.0 - 180.0)
    usable = (dt <= PAIR_ANGLE_DEG) & va[:, :, None] & vb[:, None, :]
    d2 = np.where(usable, d2, np.inf)
    nearest_b = np.argmin(d2, axis=2)  # (P, n)
    nearest_a = np.argmin(d2, axis=1)  # (P, m)
    back = np.take_along_axis(nearest_a, nearest_b, axis=1)
    mutual = back == np.arange(a.shape[1])[None, :]
    close = np.take_along_axis(d2, nearest_b[:, :, None], axis=2)[..., 0] <= PAIR_DIST_PX**2
    counts: npt.NDArray[np.int64] = np.count_nonzero(mutual & close & va, axis=1)
    return counts
