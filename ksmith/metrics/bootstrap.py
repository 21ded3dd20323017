"""Bootstrap confidence intervals: seeded, deterministic, cheap enough to put on every headline metric.

Percentile bootstrap over the items behind a metric (probes, probe pairs or interventions). The seed
is derived from the metric's name and protocol, so the interval of a metric does not depend on
which other metrics were computed or in which order, and two runs give identical intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ksmith.cache import stable_hash

#: Default number of bootstrap resamples and confidence level.
N_RESAMPLES = 1000
CONFIDENCE = 0.95
#: Resample in chunks of this many values (index matrices stay a few MB even for 100k probes).
_CHUNK_VALUES = 2_000_000


def metric_seed(name: str, protocol: str, base: int = 0) -> int:
    """A 63-bit seed from the metric's identity, stable across processes and Python versions."""
    return int(stable_hash("bootstrap", name, protocol, base), 16) & ((1 << 63) - 1)


def bootstrap_means(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
) -> np.ndarray:
    """Means of `n_resamples` resamples (with replacement, same size) of `values`.

    For 0/1 values the number of ones in a resample is exactly Binomial(n, mean), so the
    resampled means are drawn from that distribution directly: the same bootstrap distribution at
    O(n_resamples) cost instead of O(n * n_resamples).
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    rng = np.random.default_rng(seed)
    if n == 0:
        return np.empty(0)
    if np.all((x == 0.0) | (x == 1.0)):
        return rng.binomial(n, float(x.mean()), size=n_resamples) / n
    rows = max(1, _CHUNK_VALUES // n)
    means = np.empty(n_resamples)
    done = 0
    while done < n_resamples:
        m = min(rows, n_resamples - done)
        idx = rng.integers(0, n, size=(m, n))
        means[done : done + m] = x[idx].mean(axis=1)
        done += m
    return means


def wilson_interval(
    successes: int, n: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval of a proportion (closed form; honest at 0 and n successes)."""
    from scipy.stats import norm

    z = float(norm.ppf(0.5 + confidence / 2.0))
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low, high = max(0.0, centre - half), min(1.0, centre + half)
    # at 0 or n successes the bound is 0 or 1 exactly (float rounding would leave 1 - 1e-16)
    return (
        0.0 if successes == 0 else float(low),
        1.0 if successes == n else float(high),
    )


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    seed: int,
    n_resamples: int = N_RESAMPLES,
    confidence: float = CONFIDENCE,
) -> tuple[float, float] | None:
    """Percentile bootstrap interval of the mean of `values` (None for fewer than 2 values).

    With one value there is no variability to resample; reporting (v, v) would claim certainty
    the data cannot give, so no interval is returned. For the same reason, 0/1 values that are all
    0 or all 1 get the Wilson score interval: there every bootstrap resample equals the sample and
    the percentile interval collapses to a point (0 of 30 probes would read "0.000 ± 0.000"), while
    the Wilson interval (which the bootstrap approximates in the interior) stays honest.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size < 2:
        return None
    if np.all(x == 0.0) or np.all(x == 1.0):
        return wilson_interval(int(x.sum()), int(x.size), confidence)
    means = bootstrap_means(x, seed=seed, n_resamples=n_resamples)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return (float(low), float(high))


def half_width(ci: tuple[float, float] | None) -> float | None:
    """Half the width of an interval, as leaderboards show it (`value ± half-width`)."""
    if ci is None:
        return None
    return (ci[1] - ci[0]) / 2.0
