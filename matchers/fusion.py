"""Score fusion: per-finger scores into one score per subject.

The sum rule over fingers (J. Kittler, M. Hatef, R. P. W. Duin, J. Matas, "On combining
classifiers", IEEE PAMI 20(3), 1998; A. Ross, A. Jain, "Information fusion in biometrics",
Pattern Recognition Letters 24(13), 2003), over the fingers present in the query. A subject
absent from one finger's shortlist gets that shortlist's lowest score for it (its true score is
no higher than that), so subjects that appear under many fingers rise to the top.

This serves the exact per-position path of `matchers.fingerprint`; its subject index computes
the same rule, without floors, as one inner product of per-finger vectors placed side by side.
"""

from __future__ import annotations

from collections.abc import Mapping


def sum_rule(
    per_finger: Mapping[int, Mapping[str, float]], floor: Mapping[int, float] | None = None
) -> dict[str, float]:
    """Fused score per subject: the sum over fingers, missing fingers at their floor score."""
    floors = dict(floor or {})
    for pos, scores in per_finger.items():
        floors.setdefault(pos, min(scores.values()) if scores else 0.0)
    subjects = {s for scores in per_finger.values() for s in scores}
    return {
        s: sum(scores.get(s, floors[pos]) for pos, scores in per_finger.items()) for s in subjects
    }


def ranked(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Subjects best first; ties broken by reference for a stable order."""
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
