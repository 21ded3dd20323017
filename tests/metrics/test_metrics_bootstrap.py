"""Bootstrap intervals: deterministic, correct in distribution, honest about tiny samples."""

from __future__ import annotations

import numpy as np
import pytest

from ksmith.metrics.bootstrap import (
    bootstrap_ci,
    bootstrap_means,
    half_width,
    metric_seed,
)


def test_same_seed_same_interval_and_seed_depends_on_the_metric() -> None:
    x = np.r_[np.ones(30), np.zeros(70)]
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert metric_seed("ccr", "mcq") == metric_seed("ccr", "mcq")
    assert metric_seed("ccr", "mcq") != metric_seed("ccr", "mcq_norm")


def test_binary_shortcut_matches_index_resampling() -> None:
    x = np.r_[np.ones(30), np.zeros(70)]
    fast = bootstrap_means(x, seed=0, n_resamples=20000)
    rng = np.random.default_rng(1)
    slow = x[rng.integers(0, x.size, size=(20000, x.size))].mean(axis=1)
    assert fast.mean() == pytest.approx(slow.mean(), abs=0.003)
    assert fast.std() == pytest.approx(slow.std(), rel=0.03)
    assert fast.std() == pytest.approx(np.sqrt(0.3 * 0.7 / 100), rel=0.03)


def test_continuous_values_use_index_resampling() -> None:
    x = np.linspace(0.0, 1.0, 101)
    lo, hi = bootstrap_ci(x, seed=0, n_resamples=4000)
    se = x.std() / np.sqrt(x.size)
    assert lo < 0.5 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_degenerate_samples() -> None:
    assert bootstrap_ci([1.0], seed=0) is None
    assert bootstrap_ci([], seed=0) is None
    lo, hi = bootstrap_ci(
        [1.0] * 30, seed=0
    )  # all correct: not a point, the Wilson interval
    assert hi == 1.0 and 0.85 < lo < 0.9
    assert bootstrap_ci([0.0] * 30, seed=0) == pytest.approx((0.0, 1.0 - lo))
    assert bootstrap_ci([0.5, 0.5], seed=0) == (
        0.5,
        0.5,
    )  # non-binary constants: no variability
    assert half_width((0.2, 0.6)) == pytest.approx(0.2)
    assert half_width(None) is None
