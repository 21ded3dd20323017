"""Trends across scales k: consistency collapse and the shape of a drift curve, each by a written rule.

These read a metric's values at several k (one method, other grid dimensions pooled) and say what
the curve does. The rules are deliberately simple and fixed in advance, so a verdict is never a
judgement made while looking at the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ksmith.metrics.inputs import MetricsError

#: A value with an optional confidence interval (what one point of a curve is).
Point = tuple[float, tuple[float, float] | None]

#: Consistency collapse: direct accuracy must fall by at least this much (absolute) ...
COLLAPSE_DROP = 0.2
#: ... while reverse accuracy falls by at most this much from its value at the smallest k.
COLLAPSE_HOLD = 0.1

#: Drift shapes. "none": the largest drift below this many nats (or CKA units).
NO_DRIFT = 1e-3
#: "abrupt": one step past the smallest k carries at least this share of the largest drift ...
ABRUPT_SHARE = 0.5
#: ... and before that step the curve was still below this share of the largest drift.
ABRUPT_BEFORE = 0.25
#: "plateau": the last step adds at most this share of the largest drift (and the curve is not abrupt).
PLATEAU_LAST = 0.2


def _lo(point: Point) -> float:
    return point[1][0] if point[1] is not None else point[0]


def _hi(point: Point) -> float:
    return point[1][1] if point[1] is not None else point[0]


@dataclass(frozen=True)
class Collapse:
    """Consistency collapse of one method across k.

    collapsed:   direct accuracy fell significantly while reverse held.
    k_critical:  the smallest k where that is seen (None when not collapsed).
    direct_drop: largest significant drop of direct accuracy below its best at a smaller k (0 if none).
    reverse_drop: reverse accuracy's fall at that k from its value at the smallest k.
    """

    collapsed: bool
    k_critical: int | None
    direct_drop: float
    reverse_drop: float | None


def consistency_collapse(
    direct: Mapping[int, Point],
    reverse: Mapping[int, Point],
    *,
    drop: float = COLLAPSE_DROP,
    hold: float = COLLAPSE_HOLD,
) -> Collapse:
    """Rule: at some k, direct accuracy is at least `drop` below its best at a smaller k, with
    non-overlapping confidence intervals (the fall is not probe noise), while reverse accuracy
    "stays high": at that k it is no more than `hold` below its value at the smallest k *and* at
    least the direct accuracy (the two directions now disagree the way the paper describes; a
    reverse accuracy that was near zero all along is not "high"). The smallest such k is critical.
    """
    ks = sorted(direct)
    base_k = min(reverse) if reverse else None
    best_drop, best_rev = 0.0, None
    for i, k in enumerate(ks):
        earlier = [direct[j] for j in ks[:i]]
        if not earlier:
            continue
        best = max(earlier, key=lambda p: p[0])
        fall = best[0] - direct[k][0]
        significant = fall >= drop and _hi(direct[k]) < _lo(best)
        if not significant:
            continue
        rev_drop = None
        if base_k is not None and k in reverse:
            rev_drop = reverse[base_k][0] - reverse[k][0]
        if fall > best_drop:
            best_drop, best_rev = fall, rev_drop
        if rev_drop is not None and rev_drop <= hold and reverse[k][0] >= direct[k][0]:
            return Collapse(True, k, fall, rev_drop)
    return Collapse(False, None, best_drop, best_rev)


@dataclass(frozen=True)
class CurveShape:
    """The shape of a drift-against-k curve: "none", "abrupt", "plateau" or "gradual"."""

    shape: str
    k_critical: int | None
    normalised: tuple[float, ...]


def curve_shape(curve: Mapping[int, float], *, floor: float = NO_DRIFT) -> CurveShape:
    """Classify a non-negative curve over k (needs at least 3 values of k, else "gradual" is not told).

    Normalise by the largest value (c_i = v_i / max v), take steps d_0 = c_0 and
    d_i = c_i - c_(i-1). Rules, in this order:
      none:    max v < `floor`.
      abrupt:  some step d_j with j >= 1 has d_j >= ABRUPT_SHARE and c_(j-1) <= ABRUPT_BEFORE
               (flat, then a jump past a critical k = k_j).
      plateau: the last step d_last <= PLATEAU_LAST (most drift already there before the largest k).
      gradual: otherwise.
    """
    ks = sorted(curve)
    if len(ks) < 3:
        raise MetricsError(f"a curve shape needs at least 3 scales, got {len(ks)}")
    top = max(curve[k] for k in ks)
    if top < floor:
        return CurveShape("none", None, tuple(0.0 for _ in ks))
    c = [curve[k] / top for k in ks]
    steps = [c[0]] + [c[i] - c[i - 1] for i in range(1, len(c))]
    for j in range(1, len(ks)):
        if steps[j] >= ABRUPT_SHARE and c[j - 1] <= ABRUPT_BEFORE:
            return CurveShape("abrupt", ks[j], tuple(c))
    if steps[-1] <= PLATEAU_LAST:
        return CurveShape("plateau", None, tuple(c))
    return CurveShape("gradual", None, tuple(c))
