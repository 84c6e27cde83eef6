"""Minutiae pairing score: align two minutiae sets, pair them, score the pairs.

The classic alignment-then-pairing matcher (Maltoni, Maio, Jain, Prabhakar, "Handbook of
Fingerprint Recognition", 2nd ed., Springer 2009, §4.3): a generalised Hough transform over
(rotation, translation) votes with every minutia pair (Ratha, Karu, Chen, Jain, "A real-time
matching system for large fingerprint databases", IEEE PAMI 18(8), 1996); the peak cell gives
the alignment, refined by the mean of its voters. The aligned sets are then paired one-to-one
(mutual nearest neighbours within a distance and an angle tolerance), and the score is
k^2 / (n_a n_b) for k pairs out of n_a and n_b minutiae (Handbook §4.3.1), in [0, 1].

The two best cells (most votes, the lowest cell number on a tie) are tried and the better
pairing kept, since a vote peak can fall between cells. Vectorised over all n_a x n_b minutia
pairs, and over many comparisons at once (`pairing_scores`), padded to the largest set: the
votes of all comparisons are sorted together as int32 cell numbers, and each peak's mean
alignment is one matrix product over the votes.
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

_N_ROT = int(360 / ROT_BIN_DEG)
_N_SHIFT = int(2 * MAX_SHIFT_PX / SHIFT_BIN_PX)
_N_CELLS = _N_ROT * _N_SHIFT * _N_SHIFT

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
    out[..., 2] %= np.float32(360.0)
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
    # Rotation of every minutia pair, a -> b, and the translation it implies (angles are in
    # [0, 360), see `_pad`, so one conditional turn replaces a float modulo, which is slow).
    rot = bt - at
    rot += np.where(rot < 0, np.float32(360.0), np.float32(0.0))
    rbin = (rot / np.float32(ROT_BIN_DEG)).astype(np.int32) % _N_ROT
    rad = np.radians(rot)
    c, s = np.cos(rad), np.sin(rad)
    tx = bx - (c * ax - s * ay)
    ty = by - (s * ax + c * ay)
    xbin = np.floor((tx + np.float32(MAX_SHIFT_PX)) / np.float32(SHIFT_BIN_PX)).astype(np.int32)
    ybin = np.floor((ty + np.float32(MAX_SHIFT_PX)) / np.float32(SHIFT_BIN_PX)).astype(np.int32)
    inside = va[:, :, None] & vb[:, None, :]
    inside &= (xbin >= 0) & (xbin < _N_SHIFT) & (ybin >= 0) & (ybin < _N_SHIFT)
    # One int32 cell number per vote, the pair's offset included: cells of all pairs sorted
    # together, each run of equal numbers is one cell and its length the votes.
    cell = (rbin * _N_SHIFT + xbin) * _N_SHIFT + ybin
    cell += (np.arange(n_pairs, dtype=np.int32) * np.int32(_N_CELLS))[:, None, None]
    cell[~inside] = -1
    keys = np.sort(cell[inside])
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys[:0]
    cells = keys[starts]
    votes = np.diff(np.r_[starts, len(keys)])
    owner = cells // _N_CELLS
    # The TRIED_ROTATIONS best cells of each pair of sets: most votes, the lowest cell first.
    peaks = np.full((TRIED_ROTATIONS, n_pairs), -2, dtype=np.int32)
    index = np.arange(len(cells))
    for rank in range(TRIED_ROTATIONS):
        if not len(cells):
            break
        top = np.full(n_pairs, -1, dtype=np.int64)
        np.maximum.at(top, owner, votes)
        at_top = index[votes == top[owner]]
        first = np.full(n_pairs, len(cells), dtype=np.int64)
        np.minimum.at(first, owner[at_top], at_top)
        found = first < len(cells)
        peaks[rank, found] = cells[first[found]]
        votes = votes.copy()
        votes[first[found]] = -1
        if not found.any():
            break
    # Mean alignment of each peak's voters, summed per (rank, pair) group.
    group, vote = np.nonzero(
        (cell[None] == peaks[:, :, None, None]).reshape(TRIED_ROTATIONS * n_pairs, -1)
    )
    at_vote = (group % n_pairs) * cell[0].size + vote
    n_groups = TRIED_ROTATIONS * n_pairs
    sums = [
        np.bincount(group, weights=q.ravel()[at_vote], minlength=n_groups).reshape(
            TRIED_ROTATIONS, n_pairs
        )
        for q in (s, c, tx, ty)
    ]
    cnt = np.maximum(np.bincount(group, minlength=n_groups), 1).reshape(TRIED_ROTATIONS, n_pairs)
    theta = np.arctan2(sums[0], sums[1]).astype(np.float32)
    dx = (sums[2] / cnt).astype(np.float32)
    dy = (sums[3] / cnt).astype(np.float32)
    reps = (TRIED_ROTATIONS, 1, 1)
    k = _pairs(
        np.tile(a, reps),
        np.tile(va, (TRIED_ROTATIONS, 1)),
        np.tile(b, reps),
        np.tile(vb, (TRIED_ROTATIONS, 1)),
        theta.ravel(),
        dx.ravel(),
        dy.ravel(),
    ).reshape(TRIED_ROTATIONS, n_pairs)
    k = np.where(peaks >= 0, k, 0)
    best: npt.NDArray[np.int64] = k.max(axis=0)
    return best


def _pairs(
    a: F32,
    va: npt.NDArray[np.bool_],
    b: F32,
    vb: npt.NDArray[np.bool_],
    theta: npt.NDArray[np.float32],
    dx: npt.NDArray[np.float32],
    dy: npt.NDArray[np.float32],
) -> npt.NDArray[np.int64]:
    """Mutual nearest neighbours within the tolerances after moving `a` onto `b`."""
    c, s = np.cos(theta)[:, None], np.sin(theta)[:, None]
    px = c * a[..., 0] - s * a[..., 1] + dx[:, None]
    py = s * a[..., 0] + c * a[..., 1] + dy[:, None]
    pt = (a[..., 2] + np.degrees(theta)[:, None]) % np.float32(360.0)
    d2 = (px[:, :, None] - b[..., 0][:, None, :]) ** 2
    d2 += (py[:, :, None] - b[..., 1][:, None, :]) ** 2
    dt = np.abs(pt[:, :, None] - b[..., 2][:, None, :])  # both in [0, 360): fold once
    dt = np.minimum(dt, np.float32(360.0) - dt)
    unusable = (dt > PAIR_ANGLE_DEG) | ~va[:, :, None] | ~vb[:, None, :]
    d2[unusable] = np.inf
    nearest_b = np.argmin(d2, axis=2)  # (P, n)
    nearest_a = np.argmin(d2.transpose(0, 2, 1).copy(), axis=2)  # (P, m)
    back = np.take_along_axis(nearest_a, nearest_b, axis=1)
    mutual = back == np.arange(a.shape[1])[None, :]
    close = np.take_along_axis(d2, nearest_b[:, :, None], axis=2)[..., 0] <= PAIR_DIST_PX**2
    counts: npt.NDArray[np.int64] = np.count_nonzero(mutual & close & va, axis=1)
    return counts
