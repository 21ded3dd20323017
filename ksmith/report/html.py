"""`index.html`: the page a researcher reads, one self-contained file per run.

It opens with what matters: per task, the best method on each headline metric and how sure that is
(`ksmith.report.summary`). Then, per task, accuracy per probe type and the metrics against k, each
value with its 95% error bar; the headline table (sorts when a header is clicked) and, collapsed,
every metric the records hold (columns come from the records, so metrics added later appear without
touching this module); failed cases with their reason; and per case a collapsed drill-down with
example probes that flipped the right and the wrong way (from `--ksmith-log-samples`).

The page is a jinja2 template (`templates/index.html.j2`, autoescaped). Figures are drawn with
matplotlib's object API (`Figure`, never `pyplot`: no global state) and inlined as SVG, so the page
needs no other file and a browser test can count the bars and error bars: each bar with an
interval is `<g id="ksbar-ci-N">` with its error bar `<g id="kserr-N">`; a bar without one is
`<g id="ksbar-noci-N">`. Error bars are the cell's ± (95%: over seeds when several ran, else the
metric's bootstrap interval), drawn symmetric as the tables print them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ksmith.report.leaderboard import (
    ATTACKS_NOTE,
    HEADLINE,
    MAIN_PROTOCOL,
    Cell,
    Column,
    Row,
    attack_columns,
    build_rows,
    columns_of,
    tasks_of,
)
from ksmith.report.records import CaseResult, sort_key
from ksmith.report.summary import summarise

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
#: Example probes per case and direction in the drill-down.
EXAMPLES = 5


@dataclass
class SvgIds:
    """Numbers the bars and error bars of every figure on one page (ids must be page-unique)."""

    bars: int = 0
    curves: int = 0
    figures: int = 0

    def bar(self) -> int:
        self.bars += 1
        return self.bars

    def curve(self) -> int:
        self.curves += 1
        return self.curves


@dataclass(frozen=True)
class CaseExamples:
    """What the drill-down shows of one case's samples."""

    n_probes: int
    flipped: Mapping[str, int]  # "right"/"wrong" -> executed probes that flipped that way
    right: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    wrong: Sequence[Mapping[str, Any]] = field(default_factory=tuple)

    @classmethod
    def from_lines(cls, lines: Sequence[Mapping[str, Any]], limit: int = EXAMPLES) -> "CaseExamples":
        from ksmith.report.samples import examples

        counts = {f: sum(1 for line in lines if line.get("flip") == f and line.get("executed")) for f in ("right", "wrong")}
        return cls(len(lines), counts, examples(lines, "right", limit), examples(lines, "wrong", limit))


def _cell(row: Row | None, metric: str) -> Cell | None:
    if row is None:
        return None
    for column, cell in row.cells.items():
        if column.metric == metric and column.protocol == MAIN_PROTOCOL:
            return cell
    return None


def _hw(cell: Cell | None) -> float | None:
    if cell is None or cell.half_width is None or cell.half_width != cell.half_width:
        return None
    return cell.half_width


def svg(figure: Any, salt: str) -> str:
    """The figure as inline SVG markup (text kept as text, ids salted so figures never clash)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": salt}):
        figure.savefig(buffer, format="svg", bbox_inches="tight")
    text = buffer.getvalue()
    start = text.find("<svg")
    text = text[start:] if start >= 0 else text
    # matplotlib's internal ids (clip paths, markers) are derived from the salt; make them unique
    # per figure by prefixing them, so two inline SVGs never resolve each other's references.
    prefix = f"f{salt}-"
    text = re.sub(r'id="(?!ks)([^"]+)"', lambda m: f'id="{prefix}{m.group(1)}"', text)
    text = re.sub(r'url\(#(?!ks)([^)]+)\)', lambda m: f"url(#{prefix}{m.group(1)})", text)
    text = re.sub(r'xlink:href="#(?!ks)([^"]+)"', lambda m: f'xlink:href="#{prefix}{m.group(1)}"', text)
    return text


def probe_type_figure(rows: Sequence[Row], task: str, ids: SvgIds) -> Any | None:
    """Grouped bars with 95% error bars: accuracy per probe type (x) for each method; a panel per
    scale and level."""
    from matplotlib.figure import Figure

    chosen = [r for r in rows if r.task == task and r.cells]
    metrics = [m for m in PROBE_TYPE_METRICS if any(_cell(r, m) is not None for r in chosen)]
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
                color = f"C{i % 10}"
                labelled = False
                for j, metric in enumerate(metrics):
                    cell = _cell(row, metric)
                    if cell is None:
                        continue
                    x = j + i * width - 0.4 + width / 2
                    (bar,) = ax.bar([x], [cell.value], width, color=color, label=None if labelled else method)
                    labelled = True
                    n = ids.bar()
                    half = _hw(cell)
                    bar.set_gid(f"ksbar-{'ci' if half is not None else 'noci'}-{n}")
                    if half is not None:
                        err = ax.errorbar([x], [cell.value], yerr=[[half], [half]], fmt="none", ecolor="#222",
                                          elinewidth=0.8, capsize=1.5)
                        err.lines[2][0].set_gid(f"kserr-{n}")
            ax.set_title(f"{task}, {level}, k={scale}")
            ax.set_xticks(range(len(metrics)))
            ax.set_xticklabels([m.removesuffix("_acc") for m in metrics], rotation=40, ha="right")
            ax.set_ylim(0, 1.08)
            ax.set_ylabel("accuracy (mcq), 95% CI")
    axes[0][-1].legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    return figure


def curve_figure(rows: Sequence[Row], task: str, ids: SvgIds) -> Any | None:
    """Plasticity curves with 95% error bars: each curve metric against k (log axis) per method,
    one panel per level."""
    from matplotlib.figure import Figure

    chosen = [r for r in rows if r.task == task and r.cells]
    if len({r.scale for r in chosen}) < 2:
        return None
    levels = list(dict.fromkeys(r.level for r in chosen))
    methods = sorted({r.method for r in chosen})
    metrics = [m for m in CURVE_METRICS if any(_cell(r, m) is not None for r in chosen)]
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
                    (r.scale, cell.value, _hw(cell) or 0.0)
                    for r in chosen
                    if r.level == level and r.method == method and (cell := _cell(r, metric)) is not None
                )
                if not points:
                    continue
                err = ax.errorbar([p[0] for p in points], [p[1] for p in points], yerr=[p[2] for p in points],
                                  fmt=style, color=color, marker="o", ms=3, capsize=2, elinewidth=0.7,
                                  label=f"{method} {metric}")
                err.lines[0].set_gid(f"kscurve-{ids.curve()}")
                if err.lines[2]:
                    err.lines[2][0].set_gid(f"kscurve-err-{ids.curves}")
        ax.set_xscale("log")
        ax.set_title(f"{task}, {level}")
        ax.set_xlabel("k (facts updated at once)")
        ax.set_ylim(-0.02, 1.08)
    axes[-1].legend(fontsize="xx-small", loc="center left", bbox_to_anchor=(1.0, 0.5))
    return figure


@dataclass(frozen=True)
class TableView:
    """A sortable table of rows (the template's input)."""

    columns: Sequence[Column]
    rows: Sequence[Row]

    def cells(self, row: Row) -> Iterator[tuple[str, str]]:
        """(sort key, text) per column."""
        for column in self.columns:
            cell = row.cells.get(column)
            yield ("-1", "") if cell is None else (repr(cell.value), cell.text(3))


def _environment() -> Any:
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("ksmith.report", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _option(line: Mapping[str, Any], index: Any) -> str:
    options = line.get("options") or []
    if isinstance(index, int) and 0 <= index < len(options):
        return str(options[index])
    return "(none)"


def render_html(
    results: Sequence[CaseResult],
    run: Mapping[str, Any] | None = None,
    examples: Mapping[str, CaseExamples] | None = None,
) -> str:
    """The whole page as one string.

    examples: case id -> what its drill-down shows (from the run's samples); a case without an
    entry says how to get them.
    """
    from markupsafe import Markup

    from ksmith.report.show import expected_text

    rows = build_rows(results)
    run = dict(run or {})
    ids = SvgIds()
    tasks = []
    for task in tasks_of(rows):
        task_rows = [row for row in rows if row.task == task]
        figures = []
        for kind, make in (("probe types", probe_type_figure), ("curves", curve_figure)):
            figure = make(task_rows, task, ids)
            if figure is not None:
                ids.figures += 1
                figures.append({"kind": kind, "svg": Markup(svg(figure, str(ids.figures)))})
        headline = columns_of(task_rows, HEADLINE)
        every = columns_of(task_rows)
        attacks = attack_columns(task_rows)
        tasks.append({
            "name": task,
            "figures": figures,
            "headline": TableView(headline, task_rows),
            "attacks": TableView(attacks, task_rows) if attacks else None,
            "every": TableView(every, task_rows),
        })
    ordered = sorted(results, key=sort_key)
    failed = [r for r in ordered if r.status != "passed"]
    settings = {k: v for k, v in sorted(run.items()) if isinstance(v, (str, int, float)) and v != ""}
    template = _environment().get_template("index.html.j2")
    return template.render(
        title=f"ksmith run {run.get('run_id', '')}".strip(),
        run=run,
        settings=settings,
        results=ordered,
        passed=sum(r.status == "passed" for r in results),
        failed=failed,
        summary=summarise(rows),
        tasks=tasks,
        examples=dict(examples or {}),
        option=_option,
        expected=expected_text,
        main_protocol=MAIN_PROTOCOL,
        attacks_note=ATTACKS_NOTE,
    )
