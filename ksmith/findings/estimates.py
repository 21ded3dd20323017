"""What the findings' rules are made of: verdicts, pooled estimates with intervals, matched cells, curves.

Input: the `CaseResult`s of one run (`reports/<run-id>/results.jsonl`). Output: one `Finding` per
claim, with the numbers behind it and a verdict — "reproduced", "not reproduced" or
"inconclusive" — decided by the rule printed next to it, never by hand.

Pooling. A claim is about a set of grid cells (e.g. "editing cells" = every edit method, level and
scale of the run). Its estimate is the mean of the cells' values. Its 95% interval must not treat
cells as independent draws of *probes*: cells share the model, the world and often the probes, so
errors of two cells are correlated, not averaged away. The interval is the hull of two parts:
* between cells: a cell-level bootstrap of the mean (`scipy.stats.bootstrap`, BCa from 5 cells),
  how much the pooled value depends on which cells the grid holds;
* within cells: the mean of the cells' lower bounds and of their upper bounds, the exact interval of
  the mean when the cells' errors are perfectly correlated (quantiles add for comonotone variables)
  -- the conservative reading of cells measured on one model and world.
So pooling two identical cells gives that cell's interval, never a narrower one.

Comparisons use matched cells. "A vs B" pools only the cells whose other grid coordinates exist on
every side (`matched`): comparing root with leaf at k = 1..64 drops leaf's k=64 cells when root
cannot supply k=64, so a difference can never come from one side holding cells the other lacks.
Curves over k keep the (model, level, seed) groups present at every k of the curve.

Significance. "A > B" means A's interval lies wholly above B's (non-overlapping 95% intervals: a
conservative test); a value without an interval is never significantly different from anything.
Every rule below is written in terms of it.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ksmith.metrics.bootstrap import metric_seed
from ksmith.report.records import CaseResult

REPRODUCED = "reproduced"
NOT_REPRODUCED = "not reproduced"
INCONCLUSIVE = "inconclusive"

#: Methods whose weights do not change (no geometry, no drift from weights).
NON_PARAMETRIC = frozenset({"ike"})


@dataclass(frozen=True)
class Estimate:
    """A pooled value with its 95% interval and the number of cells behind it."""

    value: float
    ci: tuple[float, float] | None
    cells: int

    @property
    def lo(self) -> float:
        return self.ci[0] if self.ci is not None else self.value

    @property
    def hi(self) -> float:
        return self.ci[1] if self.ci is not None else self.value

    def text(self, digits: int = 3) -> str:
        if self.ci is None:
            return f"{self.value:.{digits}f} (no interval; cells={self.cells})"
        half = (self.ci[1] - self.ci[0]) / 2
        return f"{self.value:.{digits}f} ± {half:.{digits}f} (cells={self.cells})"


def above(a: Estimate | None, b: Estimate | None) -> bool:
    """A significantly above B: A's interval lies wholly above B's.

    An estimate without an interval (one probe, one cell) can never be significantly different.
    """
    if a is None or b is None or a.ci is None or b.ci is None:
        return False
    return a.lo > b.hi


@dataclass
class Finding:
    """One claim tested: the numbers (rows of label -> text), the rule, and the verdict."""

    key: str
    title: str
    claim: str
    rule: str
    verdict: str = INCONCLUSIVE
    rows: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    plot: str | None = None


# -- selecting and pooling cells -------------------------------------------------------------------


def passed(results: Iterable[CaseResult]) -> list[CaseResult]:
    return [r for r in results if r.status == "passed"]


def select(results: Iterable[CaseResult], **key: Any) -> list[CaseResult]:
    """Results whose grid key matches every given field (a value or a collection of values)."""
    out = []
    for r in results:
        ok = True
        for name, want in key.items():
            have = r.key.get(name)
            if isinstance(want, (set, frozenset, tuple, list)):
                ok = have in want
            else:
                ok = have == want
            if not ok:
                break
        if ok:
            out.append(r)
    return out


def cell_interval(values: Sequence[float], name: str) -> tuple[float, float] | None:
    """Bootstrap interval of the mean over cells (values are rates, not 0/1 draws); None below 2 cells."""
    from scipy.stats import bootstrap

    x = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if x.size < 2:
        return None
    if np.ptp(x) == 0:
        return (float(x[0]), float(x[0]))
    method = "BCa" if x.size >= 5 else "percentile"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap(
            (x,), np.mean, vectorized=True, n_resamples=2000, method=method,
            random_state=np.random.default_rng(metric_seed(name, "cells")),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = float(x.min()), float(x.max())
    return (low, high)


def _hull(*cis: tuple[float, float] | None) -> tuple[float, float] | None:
    present = [ci for ci in cis if ci is not None]
    if not present:
        return None
    return (min(ci[0] for ci in present), max(ci[1] for ci in present))


def pooled(results: Sequence[CaseResult], metric: str) -> Estimate | None:
    """Mean of `metric` over the cells that have it, with the interval of the module docstring."""
    cells = [r.metrics[metric] for r in results if metric in r.metrics and math.isfinite(r.metrics[metric].value)]
    if not cells:
        return None
    value = float(np.mean([c.value for c in cells]))
    between = cell_interval([c.value for c in cells], metric)
    with_ci = [c for c in cells if c.ci is not None]
    within = (
        (float(np.mean([c.ci[0] for c in with_ci])), float(np.mean([c.ci[1] for c in with_ci])))
        if with_ci
        else None
    )
    ci = _hull(between, within)
    if ci is not None:
        ci = (min(ci[0], value), max(ci[1], value))
    return Estimate(value, ci, len(cells))


def pooled_over_cells(values: Sequence[float], name: str) -> Estimate | None:
    """Mean of per-cell values with a bootstrap over cells (for cell-level quantities)."""
    vals = [v for v in values if math.isfinite(v)]
    if not vals:
        return None
    return Estimate(float(np.mean(vals)), cell_interval(vals, name), len(vals))


#: Grid coordinates that identify "the same cell" on two sides of a comparison, per compared field.
MATCH_TASKS: tuple[str, ...] = ("model", "level", "scale", "seed")
MATCH_LEVELS: tuple[str, ...] = ("model", "method", "scale", "seed")


def has_metric(result: CaseResult, metric: str) -> bool:
    m = result.metrics.get(metric)
    return m is not None and math.isfinite(m.value)


def matched(sides: Mapping[str, Sequence[CaseResult]], metric: str, on: Sequence[str]) -> dict[str, list[CaseResult]]:
    """Each side's cells restricted to the coordinates `on` that every side has `metric` for."""
    keys = [{tuple(r.key[f] for f in on) for r in cells if has_metric(r, metric)} for cells in sides.values()]
    common = set.intersection(*keys) if keys else set()
    return {
        label: [r for r in cells if has_metric(r, metric) and tuple(r.key[f] for f in on) in common]
        for label, cells in sides.items()
    }


def compare(sides: Mapping[str, Sequence[CaseResult]], metric: str, on: Sequence[str]) -> dict[str, Estimate | None]:
    """`pooled` per side over the matched cells (see `matched`)."""
    return {label: pooled(cells, metric) for label, cells in matched(sides, metric, on).items()}


def complete_curve_cells(results: Sequence[CaseResult], metric: str) -> list[CaseResult]:
    """The cells of (model, level, seed) groups that have `metric` at every scale of the run's curve."""
    have = [r for r in results if has_metric(r, metric)]
    scales = {r.key["scale"] for r in have}
    groups: dict[tuple[Any, ...], set[Any]] = {}
    for r in have:
        groups.setdefault((r.key["model"], r.key["level"], r.key["seed"]), set()).add(r.key["scale"])
    keep = {g for g, got in groups.items() if got == scales}
    return [r for r in have if (r.key["model"], r.key["level"], r.key["seed"]) in keep]


def table_row(label: str, est: Estimate | None) -> tuple[str, str]:
    return (label, est.text() if est is not None else "— (no cells)")


def tasks_of(results: Sequence[CaseResult]) -> list[str]:
    return sorted({r.key["task"] for r in results})


def values_of(results: Sequence[CaseResult], field_name: str) -> list[Any]:
    return sorted({r.key[field_name] for r in results}, key=lambda v: (str(type(v)), v))


# -- the findings ----------------------------------------------------------------------------------



def pooled_curve(results: Sequence[CaseResult], metric: str) -> dict[int, Estimate]:
    """Pooled `metric` per k over the (model, level, seed) groups present at every k."""
    out = {}
    results = complete_curve_cells(results, metric)
    for k in values_of(results, "scale"):
        est = pooled(select(results, scale=k), metric)
        if est is not None:
            out[int(k)] = est
    return out


