"""Confidence intervals over the independent units behind a metric, never over correlated items.

Why clusters. The probes of one intervention are not independent draws: they all ask about one
edited fact (at k=1 every probe of a case does), so a bootstrap that resamples probes reports an
interval as if the case held k x probes independent facts. Here every per-probe metric is a *ratio
of sums over interventions* (the mean over items = sum of item values / number of items), and the
bootstrap resamples interventions with their items (a cluster bootstrap): `cluster_ci`. When every
intervention contributes one item this is the ordinary bootstrap of a mean.

How. `scipy.stats.bootstrap` does the resampling, with the BCa interval (bias-corrected and
accelerated; better coverage than the percentile interval for skewed ratios) where it applies:
at least `MIN_BCA_UNITS` units and at most `MAX_BCA_UNITS` (its jackknife costs O(units²)). Where
the resamples cannot vary (every unit's items all 0 or all 1 and the same across units: "0 of 30
facts") the bootstrap collapses to a point, so the binomial Wilson interval over the *units*
(`scipy.stats.binomtest(...).proportion_ci`) is used instead: as wide as `n_units` Bernoulli draws.
With fewer than 2 units there is no between-unit variability to estimate and no interval is given.

Seeds come from the metric's name and protocol, so the interval of a metric does not depend on which
other metrics were computed or in which order, and two runs give identical intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ksmith.cache import stable_hash

#: Default number of bootstrap resamples and confidence level.
N_RESAMPLES = 1000
CONFIDENCE = 0.95
#: BCa needs a jackknife over units; below this many units it is unstable, above the other bound slow.
MIN_BCA_UNITS = 5
MAX_BCA_UNITS = 2000


def metric_seed(name: str, protocol: str, base: int = 0) -> int:
    """A 63-bit seed from the metric's identity, stable across processes and Python versions."""
    return int(stable_hash("bootstrap", name, protocol, base), 16) & ((1 << 63) - 1)


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval of a proportion (scipy's `binomtest`): honest at 0 and n successes."""
    from scipy.stats import binomtest

    ci = binomtest(int(successes), int(n)).proportion_ci(confidence_level=confidence, method="wilson")
    return (0.0 if successes == 0 else float(ci.low), 1.0 if successes == n else float(ci.high))


def _clusters(values: np.ndarray, units: Sequence[Any] | None) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (first-seen order): the sum of its item values and its number of items."""
    if units is None:
        return values.copy(), np.ones_like(values)
    if len(units) != values.size:
        raise ValueError(f"{values.size} values but {len(units)} unit labels; give one label per item")
    index: dict[Any, int] = {}
    labels = np.fromiter((index.setdefault(u, len(index)) for u in units), dtype=np.int64, count=values.size)
    sums = np.bincount(labels, weights=values, minlength=len(index))
    counts = np.bincount(labels, minlength=len(index)).astype(np.float64)
    return sums, counts


def _ratio(sums: np.ndarray, counts: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.sum(sums, axis=axis) / np.sum(counts, axis=axis)


def cluster_ci(
    values: Sequence[float] | np.ndarray,
    units: Sequence[Any] | None = None,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Interval of the mean of `values`, resampling the units they belong to (module docstring).

    values: one number per item (0/1 for rates). units: one label per item (e.g. the intervention id);
    None: every item is its own unit. Returns None with fewer than 2 units.
    """
    from scipy.stats import bootstrap

    x = np.asarray(values, dtype=np.float64)
    sums, counts = _clusters(x, units)
    n_units = sums.size
    if n_units < 2:
        return None
    means = sums / counts
    if np.all((x == 0.0) | (x == 1.0)) and np.all((means == 0.0) | (means == 1.0)) and np.ptp(means) == 0:
        return wilson_interval(int(means.sum()), n_units, confidence)
    if np.ptp(means) == 0 and np.ptp(counts) == 0:  # every resample gives the same ratio
        value = float(means[0])
        return (value, value)
    rng = np.random.default_rng(seed)
    method = "BCa" if MIN_BCA_UNITS <= n_units <= MAX_BCA_UNITS else "percentile"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a degenerate BCa warns and gives NaN; handled below
        res = bootstrap(
            (sums, counts), _ratio, paired=True, vectorized=True, n_resamples=n_resamples,
            confidence_level=confidence, method=method, random_state=rng,
        )
        low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
        if not (np.isfinite(low) and np.isfinite(high)):
            res = bootstrap(
                (sums, counts), _ratio, paired=True, vectorized=True, n_resamples=n_resamples,
                confidence_level=confidence, method="percentile", random_state=np.random.default_rng(seed),
            )
            low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (low, high)


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Interval of the mean of independent `values` (each its own unit): `cluster_ci` without labels."""
    return cluster_ci(values, None, seed=seed, n_resamples=n_resamples, confidence=confidence)


def half_width(ci: tuple[float, float] | None) -> float | None:
    """Half the width of an interval, as leaderboards show it (`value ± half-width`)."""
    if ci is None:
        return None
    return (ci[1] - ci[0]) / 2.0
