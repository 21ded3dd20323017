"""What a reader wants first: per task, the best method on each headline metric, and how sure.

A grid cell is (model, level, k); a method's value in a cell is the leaderboard's (mean over seeds).
The best method has the best mean over its cells. How sure that is, against the runner-up on the
cells both ran (the cells are the independent units; probes inside one cell are not):

- two or more common cells: the paired per-cell differences, their mean and a 95% t-interval
  (scipy); "clear" when the interval excludes 0 (when every difference is the same, the interval
  has no width, and the cells' own intervals decide as below);
- one common cell: the two values' own 95% intervals; "clear" when they do not overlap (in every
  common cell);
- the same value in every common cell: a tie, said so;
- otherwise (no interval, or a single method): said so, never called clear.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ksmith.report.leaderboard import HEADLINE, MAIN_PROTOCOL, Row, tasks_of


@dataclass(frozen=True)
class Best:
    """The best method on one metric of one task, and the evidence that it beats the runner-up."""

    task: str
    metric: str
    higher_is_better: bool
    method: str
    value: float  # mean over the method's cells
    half_width: float | None  # its own interval, when it has a single cell
    n_cells: int
    runner_up: str | None = None
    runner_value: float | None = None
    diff: float | None = None  # best - runner-up on common cells, signed so > 0 favours the best
    diff_ci: tuple[float, float] | None = None
    common: int = 0
    wins: int = 0
    verdict: str = "only method"
    tied: tuple[str, ...] = ()  # methods with exactly the best's values on every cell both ran

    @property
    def label(self) -> str:
        """The best method, or every method tied for best ("ft-m = memit")."""
        return " = ".join((self.method, *self.tied))

    @property
    def clear(self) -> bool:
        return self.verdict == "clear"

    def how_sure(self) -> str:
        """One sentence a reader can act on."""
        if self.runner_up is None:
            if self.tied:
                return f"tie: {self.label} have the same value in every cell"
            return "only method with this metric"
        if self.common == 0:
            return f"no cell in common with {self.runner_up}: not comparable"
        cells = f"{self.common} common cell{'s' if self.common != 1 else ''}"
        if self.diff_ci is not None:
            span = f"ahead by {self.diff:.3f} [{self.diff_ci[0]:.3f}, {self.diff_ci[1]:.3f}] over {cells}"
        else:
            span = f"ahead by {self.diff:.3f} on {cells}"
        wins = f", better in {self.wins}/{self.common}"
        if self.verdict == "tie":
            return f"tied with {self.runner_up}: the same value in {'all ' if self.common > 1 else ''}{cells}"
        if self.verdict == "clear":
            return f"clear: {span}{wins}"
        if self.verdict == "no interval":
            return f"unknown (no interval): {span}{wins}"
        return f"within noise: {span}{wins}"


def _value(row: Row, metric: str) -> tuple[float, float | None] | None:
    for column, cell in row.cells.items():
        if column.metric == metric and column.protocol == MAIN_PROTOCOL:
            return cell.value, cell.half_width
    return None


def _direction(rows: Sequence[Row], metric: str) -> bool | None:
    for row in rows:
        for column in row.cells:
            if column.metric == metric and column.protocol == MAIN_PROTOCOL:
                return column.higher_is_better
    return None


def best_on(rows: Sequence[Row], task: str, metric: str) -> Best | None:
    """The best method on `metric` (mcq) among `rows` of `task`; None when no row has it or the
    metric has no direction."""
    chosen = [row for row in rows if row.task == task]
    higher = _direction(chosen, metric)
    if higher is None:
        return None
    by_method: dict[str, dict[tuple[str, str, int], tuple[float, float | None]]] = {}
    for row in chosen:
        got = _value(row, metric)
        if got is not None and not math.isnan(got[0]):
            by_method.setdefault(row.method, {})[(row.model, row.level, row.scale)] = got
    if not by_method:
        return None
    sign = 1.0 if higher else -1.0

    def mean(method: str) -> float:
        values = [v for v, _ in by_method[method].values()]
        return sum(values) / len(values)

    ranked = sorted(by_method, key=lambda m: (-sign * mean(m), m))
    best = ranked[0]
    cells = by_method[best]

    def same(method: str) -> bool:  # tied: the same cells, the same value in each
        other = by_method[method]
        return set(other) == set(cells) and all(other[c][0] == cells[c][0] for c in cells)

    tied = tuple(m for m in ranked[1:] if same(m))
    ranked = [best] + [m for m in ranked[1:] if m not in tied]
    own_hw = next(iter(cells.values()))[1] if len(cells) == 1 else None
    out = Best(task, metric, bool(higher), best, mean(best), own_hw, len(cells), tied=tied)
    if len(ranked) == 1:
        return out
    runner = ranked[1]
    common = sorted(set(cells) & set(by_method[runner]))
    if not common:
        return Best(**{**out.__dict__, "runner_up": runner, "runner_value": mean(runner), "verdict": "not comparable"})
    diffs = [sign * (cells[c][0] - by_method[runner][c][0]) for c in common]
    diff = sum(diffs) / len(diffs)
    wins = sum(d > 0 for d in diffs)
    ci: tuple[float, float] | None = None
    if all(d == 0 for d in diffs):
        verdict = "tie"  # nothing to rank: say so rather than "ahead by 0.000"
    elif len(diffs) >= 2:
        from scipy import stats

        sd = math.sqrt(sum((d - diff) ** 2 for d in diffs) / (len(diffs) - 1))
        half = float(stats.t.ppf(0.975, len(diffs) - 1)) * sd / math.sqrt(len(diffs))
        ci = (diff - half, diff + half)
        verdict = "clear" if ci[0] > 0 else "within noise"
        if verdict == "clear" and sd == 0:  # identical differences: a zero-width interval says little,
            verdict = _apart(cells, by_method[runner], common, sign)  # so each cell's intervals decide
    else:
        verdict = _apart(cells, by_method[runner], common, sign)
    return Best(
        **{
            **out.__dict__,
            "runner_up": runner,
            "runner_value": mean(runner),
            "diff": diff,
            "diff_ci": ci,
            "common": len(common),
            "wins": wins,
            "verdict": verdict,
        }
    )


def _apart(best: dict, runner: dict, common: Sequence[tuple], sign: float) -> str:
    """"clear" when in every common cell the best's 95% interval lies beyond the runner-up's."""
    verdict = "clear"
    for cell in common:
        (a, ha), (b, hb) = best[cell], runner[cell]
        if ha is None or hb is None:
            return "no interval"
        if not sign * (a - b) > ha + hb:
            verdict = "within noise"
    return verdict


def summarise(rows: Sequence[Row], metrics: Sequence[str] = HEADLINE) -> dict[str, list[Best]]:
    """task -> the best method on each headline metric the task has, in `metrics` order."""
    out: dict[str, list[Best]] = {}
    for task in tasks_of(rows):
        found = [best_on(rows, task, metric) for metric in metrics]
        out[task] = [b for b in found if b is not None]
    return out
