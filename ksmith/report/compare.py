"""The regression gate: compare a new run with a baseline, cell by cell, metric by metric.

Modelled on pytest-benchmark's `--benchmark-compare-fail=mean:5%`, with one difference: a cell's
metric is an estimate with a 95% interval (a cluster bootstrap over interventions), and the gate
decides with it. A cell regresses on a metric when both hold:

1. it moved in its bad direction (down for ↑ metrics, up for ↓ metrics, either way for metrics
   without a direction) by more than the tolerance `METRIC:DELTA`, an absolute change
   (`direct_acc:0.02`) or a relative one (`direct_acc:5%`, of the baseline value): the smallest
   change worth failing a build for;
2. the change is larger than the two intervals allow: |new - base| > sqrt(a² + b²), with a and b the
   half-widths of the baseline's and the new run's intervals on the sides that face each other.
   That is the 95% interval of a difference of two independent estimates excluding zero; the two
   runs score the same probes, so their errors are positively correlated and the test errs toward
   calling a change noise.

A metric without an interval on either side (a cell of one intervention) is decided by the tolerance
alone, and the line says so: such a cell cannot tell a flipped probe from a regression, and a gate
should run cells with several interventions. A cell that passed in the baseline and failed in the
new run, or lost the metric, regresses too. Changes past the tolerance that the intervals call noise
are listed as such and do not fail.

Cells are matched by grid key (model, method, task, level, scale, seed); a metric is compared only
under the same protocol. Cells in only one of the runs are listed, not failed (shards of a grid
compare against a baseline of the whole grid).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from ksmith.report.records import CaseResult, MetricValue, ReportError


@dataclass(frozen=True)
class Tolerance:
    metric: str
    delta: float
    relative: bool = False

    def allowed(self, base: float) -> float:
        return self.delta * abs(base) if self.relative else self.delta

    def __str__(self) -> str:
        return f"{self.metric}:{self.delta * 100:g}%" if self.relative else f"{self.metric}:{self.delta:g}"


def parse_fail_on(text: str) -> tuple[Tolerance, ...]:
    """'direct_acc:0.02,ccr:5%' -> tolerances; malformed text raises `ReportError`."""
    tolerances = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        metric, sep, raw = item.rpartition(":")
        relative = raw.strip().endswith("%")
        try:
            delta = float(raw.strip().rstrip("%"))
        except ValueError:
            delta = float("nan")
        if not sep or not metric.strip() or not delta >= 0:
            raise ReportError(
                f"--fail-on: {item!r} is not METRIC:DELTA; use e.g. direct_acc:0.02 (absolute) or direct_acc:5% (relative)"
            )
        tolerances.append(Tolerance(metric.strip(), delta / 100 if relative else delta, relative))
    if not tolerances:
        raise ReportError("--fail-on: give at least one METRIC:DELTA, e.g. direct_acc:0.02")
    return tuple(tolerances)


def beyond_intervals(base: MetricValue, new: MetricValue) -> bool | None:
    """True when the change from `base` to `new` is larger than their 95% intervals allow (rule 2 of
    the module docstring), False when it is within them, None when either side has no interval."""
    if base.ci is None or new.ci is None:
        return None
    change = new.value - base.value
    if change >= 0:
        facing = (base.ci[1] - base.value, new.value - new.ci[0])
    else:
        facing = (base.value - base.ci[0], new.ci[1] - new.value)
    a, b = (max(0.0, side) for side in facing)
    return abs(change) > math.hypot(a, b) + 1e-12


@dataclass(frozen=True)
class Regression:
    case_id: str
    metric: str
    protocol: str | None
    base: float | None
    new: float | None
    tolerance: Tolerance
    reason: str
    significant: bool | None = None  # beyond the intervals; None: no interval (or the cell was lost)

    def describe(self) -> str:
        noise = {
            True: " [beyond the 95% intervals]",
            False: " [within noise: inside the 95% intervals]",
            None: " [no interval: tolerance alone]" if self.new is not None else "",
        }
        where = f" [{self.protocol}]" if self.protocol else ""
        return f"{self.case_id}: {self.metric}{where} {self.reason}{noise[self.significant]}"


@dataclass
class Comparison:
    regressions: list[Regression] = field(default_factory=list)
    within_noise: list[Regression] = field(default_factory=list)
    compared: int = 0
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return bool(self.regressions)


def compare_runs(base: Sequence[CaseResult], new: Sequence[CaseResult], tolerances: Sequence[Tolerance]) -> Comparison:
    """Every regression of `new` against `base` (the module docstring's rules), and the changes past
    the tolerance that the intervals call noise."""
    base_by_cell = {r.cell: r for r in base}
    new_by_cell = {r.cell: r for r in new}
    result = Comparison()
    result.only_base = sorted(base_by_cell[c].case_id for c in set(base_by_cell) - set(new_by_cell))
    result.only_new = sorted(new_by_cell[c].case_id for c in set(new_by_cell) - set(base_by_cell))
    for cell in sorted(set(base_by_cell) & set(new_by_cell), key=str):
        old, now = base_by_cell[cell], new_by_cell[cell]
        result.compared += 1
        if old.status != "passed":
            continue  # nothing to regress from
        for tol in tolerances:
            before = old.metrics.get(tol.metric)
            if before is None:
                continue
            after = now.metrics.get(tol.metric)
            if now.status != "passed":
                result.regressions.append(
                    Regression(now.case_id, tol.metric, before.protocol, before.value, None, tol,
                               f"not measured: the case {now.status} ({now.message or 'no message'})")
                )
                continue
            if after is None or after.protocol != before.protocol:
                result.regressions.append(
                    Regression(now.case_id, tol.metric, before.protocol, before.value, None, tol,
                               f"missing under protocol {before.protocol} in the new run")
                )
                continue
            change = after.value - before.value
            if before.higher_is_better is True:
                worse = -change
            elif before.higher_is_better is False:
                worse = change
            else:
                worse = abs(change)
            if worse > tol.allowed(before.value) + 1e-12:
                arrow = {True: "↑", False: "↓", None: ""}[before.higher_is_better]
                significant = beyond_intervals(before, after)
                found = Regression(
                    now.case_id, tol.metric, before.protocol, before.value, after.value, tol,
                    f"{arrow} {before.value:.4f} -> {after.value:.4f} ({change:+.4f}; tolerance {tol})", significant,
                )
                (result.within_noise if significant is False else result.regressions).append(found)
    return result


def render_comparison(comparison: Comparison) -> str:
    lines = [f"compared {comparison.compared} cells: {len(comparison.regressions)} regression(s)"]
    if comparison.within_noise:
        lines[0] += f", {len(comparison.within_noise)} change(s) past the tolerance within noise"
    lines += [f"  REGRESSION {r.describe()}" for r in comparison.regressions]
    lines += [f"  within noise {r.describe()}" for r in comparison.within_noise]
    if comparison.only_base:
        lines.append(f"  {len(comparison.only_base)} cell(s) only in the baseline (not compared)")
    if comparison.only_new:
        lines.append(f"  {len(comparison.only_new)} cell(s) only in the new run (not compared)")
    return "\n".join(lines)
