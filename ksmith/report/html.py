"""`index.html`: one self-contained page per run (plots embedded as PNG, no external files).

It shows, per task: accuracy per probe type for each method, level and scale (one figure), the
plasticity curves (headline metrics against k, one panel per level) when several scales ran, and a
table of every row that sorts when a header is clicked (a few lines of inline JavaScript).
Figures are drawn with matplotlib's object API (`Figure`), never `pyplot`, so no global state.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from typing import Any

from ksmith.report.leaderboard import HEADLINE, MAIN_PROTOCOL, Column, Row, build_rows, columns_of, tasks_of
from ksmith.report.records import CaseResult

#: Accuracy metrics per probe type, in the order the bars are drawn.
PROBE_TYPE_METRICS: tuple[str, ...] = (
    "direct_acc",
    "paraphrase_acc",
    "reverse_acc",
    "multi_hop_acc",
    "comparison_acc",
    "conflict_acc",
    "contextual_acc",
)
#: Metrics drawn against k (solid, dashed, dotted...).
CURVE_METRICS: tuple[str, ...] = ("direct_acc", "multi_hop_acc", "contextual_acc", "rr")

_SORT_SCRIPT = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, index) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.from(body.rows);
      var ascending = th.dataset.order !== 'asc';
      table.querySelectorAll('th').forEach(function (other) { delete other.dataset.order; });
      th.dataset.order = ascending ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[index].dataset.sort || a.cells[index].textContent;
        var y = b.cells[index].dataset.sort || b.cells[index].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return ascending ? cmp : -cmp;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 2em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.5em; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; cursor: pointer; }
td.text { text-align: left; }
td.failed { color: #b00; font-weight: bold; }
img { max-width: 100%; display: block; margin: 1em 0; }
"""


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _img(data: str, alt: str) -> str:
    return f'<img class="plot" alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def _value(row: Row, metric: str) -> float | None:
    for column, cell in row.cells.items():
        if column.metric == metric and column.protocol == MAIN_PROTOCOL:
            return cell.value
    return None


def probe_type_figure(rows: Sequence[Row], task: str) -> Any | None:
    """Grouped bars: accuracy per probe type (x) for each method (bars); a panel per scale and level."""
    from matplotlib.figure import Figure

    chosen = [r for r in rows if r.task == task and r.cells]
    metrics = [m for m in PROBE_TYPE_METRICS if any(_value(r, m) is not None for r in chosen)]
    if not chosen or not metrics:
        return None
    levels = list(dict.fromkeys(r.level for r in chosen))
    scales = sorted({r.scale for r in chosen})
    methods = sorted({r.method for r in chosen})
    figure = Figure(figsize=(4.8 * len(levels), 3.2 * len(scales)))
    axes = figure.subplots(len(scales), len(levels), squeeze=False)
    width = 0.8 / max(1, len(methods))
    for row_axes, scale in zip(axes, scales):
        for ax, level in zip(row_axes, levels):
            for i, method in enumerate(methods):
                row = next((r for r in chosen if r.level == level and r.scale == scale and r.method == method), None)
                heights = [(_value(row, m) if row else None) for m in metrics]
                xs = [j + i * width - 0.4 + width / 2 for j in range(len(metrics))]
                ax.bar(xs, [h if h is not None else 0.0 for h in heights], width, label=method, color=f"C{i % 10}")
            ax.set_title(f"{task}, {level}, k={scale}")
            ax.set_xticks(range(len(metrics)))
            ax.set_xticklabels([m.removesuffix("_acc") for m in metrics], rotation=40, ha="right")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("accuracy (mcq)")
    axes[0][-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return figure


def curve_figure(rows: Sequence[Row], task: str) -> Any | None:
    """Plasticity curves: each headline metric against k (log axis) per method, one panel per level."""
    from matplotlib.figure import Figure

    chosen = [r for r in rows if r.task == task and r.cells]
    if len({r.scale for r in chosen}) < 2:
        return None
    levels = list(dict.fromkeys(r.level for r in chosen))
    methods = sorted({r.method for r in chosen})
    metrics = [m for m in CURVE_METRICS if any(_value(r, m) is not None for r in chosen)]
    if not metrics:
        return None
    styles = ["-", "--", ":", "-."]
    figure = Figure(figsize=(4.5 * len(levels), 3.4))
    axes = figure.subplots(1, len(levels), squeeze=False)[0]
    for ax, level in zip(axes, levels):
        for i, method in enumerate(methods):
            color = f"C{i % 10}"
            for style, metric in zip(styles, metrics):
                points = sorted(
                    (r.scale, _value(r, metric))
                    for r in chosen
                    if r.level == level and r.method == method and _value(r, metric) is not None
                )
                if points:
                    ax.plot([p[0] for p in points], [p[1] for p in points], style, color=color, marker="o", ms=3,
                            label=f"{method} {metric}")
        ax.set_xscale("log")
        ax.set_title(f"{task}, {level}")
        ax.set_xlabel("k (facts updated at once)")
        ax.set_ylim(-0.02, 1.05)
    axes[-1].legend(fontsize="xx-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


def _table(rows: Sequence[Row], columns: Sequence[Column]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["model", "level", "k", "method"])
    head += "".join(f"<th>{html.escape(c.header)}</th>" for c in columns) + "<th>update s</th><th>status</th>"
    lines = []
    for row in rows:
        cells = [f'<td class="text">{html.escape(row.model)}</td>', f'<td class="text">{html.escape(row.level)}</td>']
        cells.append(f"<td>{row.scale}</td>")
        cells.append(f'<td class="text">{html.escape(row.method)}</td>')
        for column in columns:
            cell = row.cells.get(column)
            if cell is None:
                cells.append('<td data-sort="-1"></td>')
            else:
                cells.append(f'<td data-sort="{cell.value!r}">{html.escape(cell.text(3))}</td>')
        update = "" if row.update_s is None else f"{row.update_s:.2f}"
        cells.append(f'<td data-sort="{update or -1}">{update}</td>')
        klass = "text" if row.status == "passed" else "text failed"
        cells.append(f'<td class="{klass}">{html.escape(row.status)}</td>')
        lines.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(lines)}</tbody></table>'


def render_html(results: Sequence[CaseResult], run: Mapping[str, Any] | None = None) -> str:
    """The whole page as one string."""
    rows = build_rows(results)
    run = dict(run or {})
    title = f"ksmith run {run.get('run_id', '')}".strip()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    facts = ", ".join(f"{k}: {v}" for k, v in sorted(run.items()) if isinstance(v, (str, int, float)) and v != "")
    parts.append(f"<p>{html.escape(facts)}</p>")
    passed = sum(r.status == "passed" for r in results)
    parts.append(f"<p>{len(results)} cases, {passed} passed, {len(results) - passed} failed or errored.</p>")
    for task in tasks_of(rows):
        task_rows = [row for row in rows if row.task == task]
        parts.append(f'<h2 id="task-{html.escape(task)}">{html.escape(task)}</h2>')
        figure = probe_type_figure(task_rows, task)
        if figure is not None:
            parts.append(_img(_png(figure), f"{task}: accuracy per probe type, level and scale"))
        figure = curve_figure(task_rows, task)
        if figure is not None:
            parts.append(_img(_png(figure), f"{task}: metrics against k"))
        parts.append(_table(task_rows, columns_of(task_rows, HEADLINE)))
    if not rows:
        parts.append("<p>(no results)</p>")
    parts.append(f"<script>{_SORT_SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"

