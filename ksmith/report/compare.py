"""The regression gate: compare a new run with a baseline, cell by cell, metric by metric.

Modelled on pytest-benchmark's `--benchmark-compare-fail=mean:5%`. A tolerance is
`METRIC:DELTA` — an absolute change (`direct_acc:0.02`) or a relative one (`direct_acc:5%`, of the
baseline value). A cell regresses on a metric when the metric moved in its bad direction (down for ↑
metrics, up for ↓ metrics, either way for metrics without a direction) by more than the tolerance,
or when the cell passed in the baseline and failed in the new run, or lost the metric.
Cells are matched by grid key (model, method, task, level, scale, seed); a metric is compared only
under the same protocol. Cells in only one of the runs are listed, not failed (shards of a grid
compare against a baseline of the whole grid).

Confidence intervals: each regression says whether it is *significant* (the two 95% intervals do
not overlap), *within noise* (they overlap) or unknown (a side has no interval). A drop past the
tolerance that sits inside the noise of a 40-probe cell is a different thing from a real one, and a
reader of the gate's output should see which. With `significant_only=True` only significant
regressions (and lost cells) fail the gate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ksmith.report.records import CaseResult, ReportError


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


def intervals_separate(base: tuple[float, float] | None, new: tuple[float, float] | None) -> bool | None:
    """True when two intervals do not overlap, False when they do, None when either is missing."""
    if base is None or new is None:
        return None
    return base[1] < new[0] or new[1] < base[0]


@dataclass(frozen=True)
class Regression:
    case_id: str
    metric: str
    protocol: str | None
    base: float | None
    new: float | None
    tolerance: Tolerance
    reason: str
    significant: bool | None = None  # intervals separate; None: no interval (or the cell was lost)

    def describe(self) -> str:
        noise = {True: " [significant: 95% intervals do not overlap]", False: " [within noise: 95% intervals overlap]"}
        where = f" [{self.protocol}]" if self.protocol else ""
        return f"{self.case_id}: {self.metric}{where} {self.reason}{noise.get(self.significant, '')}"


@dataclass
class Comparison:
    regressions: list[Regression] = field(default_factory=list)
    compared: int = 0
    only_base: list[str] = field(default_factory=list)
    only_new: list[str] = field(default_factory=list)
    significant_only: bool = False

    @property
    def failing(self) -> list[Regression]:
        """The regressions that fail the gate (all, or with `significant_only` the significant ones
        and those without a value to compare)."""
        if not self.significant_only:
            return list(self.regressions)
        return [r for r in self.regressions if r.significant is not False]

    @property
    def failed(self) -> bool:
        return bool(self.failing)


def compare_runs(
    base: Sequence[CaseResult],
    new: Sequence[CaseResult],
    tolerances: Sequence[Tolerance],
    *,
    significant_only: bool = False,
) -> Comparison:
    """Every regression of `new` against `base` beyond the tolerances, each with its significance."""
    base_by_cell = {r.cell: r for r in base}
    new_by_cell = {r.cell: r for r in new}
    result = Comparison(significant_only=significant_only)
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
                result.regressions.append(
                    Regression(now.case_id, tol.metric, before.protocol, before.value, after.value, tol,
                               f"{arrow} {before.value:.4f} -> {after.value:.4f} ({change:+.4f}; tolerance {tol})",
                               intervals_separate(before.ci, after.ci))
                )
    return result


def render_comparison(comparison: Comparison) -> str:
    failing = comparison.failing
    lines = [f"compared {comparison.compared} cells: {len(comparison.regressions)} regression(s)"]
    if comparison.significant_only:
        lines[0] += f", {len(failing)} significant or lost (--significant-only)"
    lines += [f"  {'REGRESSION' if r in failing else 'within noise'} {r.describe()}" for r in comparison.regressions]
    if comparison.only_base:
        lines.append(f"  {len(comparison.only_base)} cell(s) only in the baseline (not compared)")
    if comparison.only_new:
        lines.append(f"  {len(comparison.only_new)} cell(s) only in the new run (not compared)")
    return "\n".join(lines)
