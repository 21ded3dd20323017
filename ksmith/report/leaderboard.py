"""Leaderboards: one table per task, methods as rows, metric columns with their direction.

A column is one metric *under one protocol*: values measured under different protocols are never
averaged or put in the same column. Rows are grouped by model, level and scale (in that order) and
list the methods. Where several seeds ran, a cell is the mean over the seeds that passed and its
± is the half-width of a 95% t-interval over those seeds; with one seed the ± is the metric's own
confidence interval (bootstrap over interventions) when it has one. A cell a method failed shows `FAILED`.
Beside the metrics every row shows how much data stands behind it (`DATA_METRIC`): `units`, the
interventions with at least one executed probe, and `executed`, the fraction of probes that passed
precondition filtering (mean over seeds).

The markdown and terminal tables show the headline metrics; the CSV and JSON hold every metric.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tabulate import tabulate

from ksmith.report.records import CaseResult, MetricValue, sort_key

#: Metrics shown in the markdown leaderboard (when present), in this order.
HEADLINE: tuple[str, ...] = (
    "direct_acc",
    "paraphrase_acc",
    "reverse_acc",
    "multi_hop_acc",
    "comparison_acc",
    "conflict_acc",
    "contextual_acc",
    "ccr",
    "rr",
    "old_logprob_shift",
    "conflict_rate",
    "consistency",
)
#: The attack metrics shown in the "attacks" table of unlearning (`ksmith.metrics.attacks`), each for
#: every attack present, in `ksmith.attacks.ATTACKS` order, after the plain value it is compared with.
ATTACK_BASES: tuple[str, ...] = ("rr", "rr_recovery", "old_logprob_shift")

#: The shorter set printed at the end of a pytest run.
COMPACT: tuple[str, ...] = ("direct_acc", "paraphrase_acc", "multi_hop_acc", "contextual_acc", "ccr", "rr")

#: The metric whose `n_units` and `executed` a row shows: all Q+ probes under the headline protocol.
DATA_METRIC = "q_plus_acc"

#: The protocol shown without a tag in column headers.
MAIN_PROTOCOL = "mcq"


@dataclass(frozen=True, order=True)
class Column:
    """A leaderboard column: one metric name under one protocol."""

    metric: str
    protocol: str
    higher_is_better: bool | None = field(default=True, compare=False)

    @property
    def header(self) -> str:
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        tagged = self.protocol == MAIN_PROTOCOL or self.protocol in self.metric  # metrics' own "name@protocol"
        tag = "" if tagged else f" [{self.protocol}]"
        return f"{self.metric}{tag}{arrow}"

    @property
    def slug(self) -> str:
        tagged = self.protocol == MAIN_PROTOCOL or self.protocol in self.metric
        return self.metric if tagged else f"{self.metric}[{self.protocol}]"


@dataclass(frozen=True)
class Cell:
    value: float
    half_width: float | None
    n_seeds: int

    def text(self, digits: int = 3) -> str:
        if self.half_width is None or math.isnan(self.half_width):
            return f"{self.value:.{digits}f}"
        return f"{self.value:.{digits}f} ± {self.half_width:.{digits}f}"


@dataclass(frozen=True)
class Row:
    model: str
    task: str
    level: str
    scale: int
    method: str
    seeds: tuple[int, ...]
    failed: int
    cells: Mapping[Column, Cell]
    update_s: float | None
    n_units: float | None = None
    executed: float | None = None

    def data_text(self) -> tuple[str, str]:
        """(units, executed) as shown in tables ("" when unknown)."""
        units = "" if self.n_units is None else f"{self.n_units:g}"
        executed = "" if self.executed is None else f"{self.executed:.2f}"
        return units, executed

    @property
    def status(self) -> str:
        if not self.failed:
            return "passed"
        return "FAILED" if self.failed == len(self.seeds) else f"FAILED {self.failed}/{len(self.seeds)}"


def _t_half_width(values: Sequence[float]) -> float:
    from scipy import stats

    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n))


def build_rows(results: Iterable[CaseResult]) -> list[Row]:
    """Aggregate results over seeds into rows, in grid order."""
    groups: dict[tuple[Any, ...], list[CaseResult]] = {}
    for result in sorted(results, key=sort_key):
        k = result.key
        groups.setdefault((k["model"], k["task"], k["level"], k["scale"], k["method"]), []).append(result)
    rows = []
    for (model, task, level, scale, method), members in groups.items():
        passed = [r for r in members if r.status == "passed"]
        by_column: dict[Column, list[MetricValue]] = {}
        for result in passed:
            for name, metric in result.metrics.items():
                by_column.setdefault(Column(name, metric.protocol, metric.higher_is_better), []).append(metric)
        cells = {}
        for column, metrics in by_column.items():
            values = [m.value for m in metrics]
            mean = sum(values) / len(values)
            if len(values) >= 2:
                half = _t_half_width(values)
            else:
                half = metrics[0].half_width
            cells[column] = Cell(mean, half, len(values))
        times = [r.timings["update_s"] for r in passed if "update_s" in r.timings]
        data = [r.metrics[DATA_METRIC] for r in passed if DATA_METRIC in r.metrics]
        units = [m.n_units for m in data if m.n_units is not None]
        executed = [m.executed for m in data if m.executed is not None]
        rows.append(
            Row(
                model,
                task,
                level,
                scale,
                method,
                tuple(r.key["seed"] for r in members),
                len(members) - len(passed),
                cells,
                sum(times) / len(times) if times else None,
                sum(units) / len(units) if units else None,
                sum(executed) / len(executed) if executed else None,
            )
        )
    return rows


def columns_of(rows: Sequence[Row], names: Sequence[str] | None = None) -> list[Column]:
    """Columns present in `rows`: the `names` (in that order) or, when None, every metric (sorted)."""
    present = {column for row in rows for column in row.cells}
    if names is None:
        return sorted(present)
    rank = {name: i for i, name in enumerate(names)}
    chosen = [c for c in present if c.metric in rank]
    return sorted(chosen, key=lambda c: (rank[c.metric], c.protocol != MAIN_PROTOCOL, c.protocol))


def attack_columns(rows: Sequence[Row]) -> list[Column]:
    """The "attacks" group of columns: per `ATTACK_BASES` entry, the plain value (rr and
    old_logprob_shift) then its value under each attack present; empty when no row was attacked."""
    from ksmith.attacks import ATTACKS

    present = {column for row in rows for column in row.cells}
    attacked = [c for c in present if "@" in c.metric and c.metric.split("@", 1)[1] in ATTACKS]
    if not attacked:
        return []
    order = {name: i for i, name in enumerate(ATTACKS)}
    out: list[Column] = []
    for base in ATTACK_BASES:
        out += [c for c in present if c.metric == base and c.protocol == MAIN_PROTOCOL]
        out += sorted((c for c in attacked if c.metric.split("@", 1)[0] == base),
                      key=lambda c: order[c.metric.split("@", 1)[1]])
    return out


def tasks_of(rows: Sequence[Row]) -> list[str]:
    return sorted({row.task for row in rows}, key=lambda t: (t != "edit", t))


def _table(rows: Sequence[Row], columns: Sequence[Column], digits: int, with_model: bool, fmt: str) -> str:
    headers = (["model"] if with_model else []) + ["level", "k", "method"]
    headers += [c.header for c in columns] + ["units", "executed", "update s", "status"]
    body = []
    previous: tuple[Any, ...] | None = None
    for row in rows:
        group = (row.model, row.level, row.scale)
        shown = [row.model, row.level, row.scale] if group != previous else ["", "", ""]
        previous = group
        line: list[Any] = (shown if with_model else shown[1:]) + [row.method]
        for column in columns:
            cell = row.cells.get(column)
            line.append(cell.text(digits) if cell else "")
        line.extend(row.data_text())
        line.append("" if row.update_s is None else f"{row.update_s:.2f}")
        line.append(row.status)
        body.append(line)
    return tabulate(body, headers=headers, tablefmt=fmt, disable_numparse=True)


#: What the attacks table shows (leaderboard.md and the HTML page).
ATTACKS_NOTE = (
    "The Q+ probes after an attack on the unlearned weights (`ksmith.attacks`): `@int8` / `@int4` weights "
    "quantised round-to-nearest, `@relearn10` / `@relearn50` that many fine-tuning steps on related facts, never "
    "the forgotten ones. `rr_recovery` is the attacked rr minus the plain one, per probe (> 0: the answer came "
    "back). The same attacks on the unedited model (`rr_control@*`, `old_logprob_shift_control@*`) are in the CSV "
    "and JSON files."
)


def render_markdown(results: Sequence[CaseResult], title: str = "ksmith leaderboard") -> str:
    """`leaderboard.md`: a heading and a table per task (headline metrics)."""
    rows = build_rows(results)
    with_model = len({row.model for row in rows}) > 1
    parts = [f"# {title}", ""]
    parts.append(
        "Columns are single metrics under one protocol (untagged: `mcq`); ↑ higher is better, ↓ lower is "
        "better; `± h` is a 95% interval half-width (over seeds when several ran, else the metric's own "
        "bootstrap interval over interventions); `units` is the number of interventions behind a row and "
        "`executed` the fraction of probes that passed precondition filtering (both for Q+ probes). The CSV "
        "and JSON files hold every metric."
    )
    for task in tasks_of(rows):
        task_rows = [row for row in rows if row.task == task]
        parts += ["", f"## {task}", "", _table(task_rows, columns_of(task_rows, HEADLINE), 3, with_model, "github")]
        attacks = attack_columns(task_rows)
        if attacks:
            parts += ["", f"### {task}: attacks", "", ATTACKS_NOTE, "",
                      _table(task_rows, attacks, 3, with_model, "github")]
    if not rows:
        parts += ["", "(no results)"]
    return "\n".join(parts) + "\n"


def render_terminal(results: Sequence[CaseResult]) -> str:
    """The compact leaderboard printed at the end of a pytest run."""
    rows = build_rows(results)
    with_model = len({row.model for row in rows}) > 1
    parts = []
    for task in tasks_of(rows):
        task_rows = [row for row in rows if row.task == task]
        parts += [f"[{task}]", _table(task_rows, columns_of(task_rows, COMPACT), 2, with_model, "simple")]
    return "\n".join(parts)


def render_csv(results: Sequence[CaseResult]) -> str:
    """`leaderboard.csv`: one line per row, every metric as `value` and `value_hw` columns."""
    rows = build_rows(results)
    columns = columns_of(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["model", "task", "level", "scale", "method", "seeds", "status", "update_s", "n_units", "executed"]
    for column in columns:
        header += [column.slug, f"{column.slug}_hw"]
    writer.writerow(header)
    for row in rows:
        line: list[Any] = [row.model, row.task, row.level, row.scale, row.method]
        line += [" ".join(map(str, row.seeds)), row.status, "" if row.update_s is None else f"{row.update_s:.4f}"]
        line += ["" if row.n_units is None else repr(row.n_units), "" if row.executed is None else repr(row.executed)]
        for column in columns:
            cell = row.cells.get(column)
            line += ["", ""] if cell is None else [repr(cell.value), "" if cell.half_width is None else repr(cell.half_width)]
        writer.writerow(line)
    return out.getvalue()


def leaderboard_data(results: Sequence[CaseResult], run: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`leaderboard.json`: per task, the columns (metric, protocol, direction) and the rows."""
    rows = build_rows(results)
    data: dict[str, Any] = {"run": dict(run or {}), "tasks": {}}
    for task in tasks_of(rows):
        task_rows = [row for row in rows if row.task == task]
        columns = columns_of(task_rows)
        data["tasks"][task] = {
            "columns": [
                {"slug": c.slug, "metric": c.metric, "protocol": c.protocol, "higher_is_better": c.higher_is_better}
                for c in columns
            ],
            "rows": [
                {
                    "model": row.model,
                    "level": row.level,
                    "scale": row.scale,
                    "method": row.method,
                    "seeds": list(row.seeds),
                    "status": row.status,
                    "update_s": row.update_s,
                    "n_units": row.n_units,
                    "executed": row.executed,
                    "values": {
                        c.slug: {"value": row.cells[c].value, "half_width": row.cells[c].half_width, "n_seeds": row.cells[c].n_seeds}
                        for c in columns
                        if c in row.cells
                    },
                }
                for row in task_rows
            ],
        }
    return data


def render_json(results: Sequence[CaseResult], run: Mapping[str, Any] | None = None) -> str:
    return json.dumps(leaderboard_data(results, run), indent=1, sort_keys=True, allow_nan=True) + "\n"
