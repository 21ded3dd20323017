"""Intervals over the right units: interventions, not the probes that cluster inside them."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binomtest

from ksmith.metrics.bootstrap import bootstrap_ci, cluster_ci, half_width, metric_seed, wilson_interval


def _width(ci: tuple[float, float] | None) -> float:
    assert ci is not None
    return ci[1] - ci[0]


def test_same_seed_same_interval_and_seed_depends_on_the_metric() -> None:
    x = np.r_[np.ones(30), np.zeros(70)]
    assert bootstrap_ci(x, seed=1) == bootstrap_ci(x, seed=1)
    assert metric_seed("ccr", "mcq") == metric_seed("ccr", "mcq")
    assert metric_seed("ccr", "mcq") != metric_seed("ccr", "mcq_norm")


def test_probes_that_agree_within_an_intervention_count_as_one_draw() -> None:
    """k interventions of 10 probes each, every probe of an intervention agreeing: the interval is as
    wide as that of k independent Bernoulli draws, not of 10k."""
    k, per = 20, 10
    outcome = np.r_[np.ones(8), np.zeros(12)]  # 8 of 20 facts changed
    values = np.repeat(outcome, per)
    units = [f"i{i}" for i in range(k) for _ in range(per)]
    clustered = cluster_ci(values, units, seed=3)
    k_draws = bootstrap_ci(outcome, seed=3)
    naive = bootstrap_ci(values, seed=3)
    assert _width(clustered) == pytest.approx(_width(k_draws), abs=0.02)
    # the textbook binomial standard error of 8/20 gives the same width to within resampling noise
    assert _width(clustered) == pytest.approx(2 * 1.96 * np.sqrt(0.4 * 0.6 / k), rel=0.15)
    assert _width(clustered) > 2.5 * _width(naive)  # ~sqrt(10) narrower when probes are taken as independent


def test_all_correct_gives_the_binomial_interval_over_units() -> None:
    values = np.ones(60)
    units = [f"i{i // 5}" for i in range(60)]  # 12 interventions x 5 probes
    expected = binomtest(12, 12).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = cluster_ci(values, units, seed=0)
    assert hi == 1.0 and lo == pytest.approx(expected.low)
    assert wilson_interval(0, 12) == pytest.approx((0.0, 1.0 - expected.low))
    assert cluster_ci(values, ["one"] * 60, seed=0) is None  # one intervention: no interval at all


def test_unequal_clusters_weigh_items_not_units() -> None:
    values = np.r_[np.ones(9), 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    units = ["a"] * 10 + ["b", "c", "d", "e", "f", "g"]
    lo, hi = cluster_ci(values, units, seed=0)
    assert lo <= values.mean() <= hi


def test_continuous_values() -> None:
    x = np.linspace(0.0, 1.0, 101)
    lo, hi = bootstrap_ci(x, seed=0, n_resamples=4000)
    se = x.std() / np.sqrt(x.size)
    assert lo < 0.5 < hi
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.1)


def test_degenerate_samples() -> None:
    assert bootstrap_ci([1.0], seed=0) is None
    assert bootstrap_ci([], seed=0) is None
    assert bootstrap_ci([0.5, 0.5], seed=0) == (0.5, 0.5)  # non-binary constants: no variability
    with pytest.raises(ValueError, match="unit labels"):
        cluster_ci([1.0, 0.0], ["a"], seed=0)
    assert half_width((0.2, 0.6)) == pytest.approx(0.2)
    assert half_width(None) is None
