"""`reports/<run-id>/findings.md` and its plots, from the run's `results.jsonl`.

Every number comes from `ksmith.metrics.findings`; this module only lays them out. Plots are PNG
files next to the markdown (`findings_<key>.png`), written atomically like every run file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_bytes, atomic_write_text
from ksmith.metrics.findings import (
    NON_PARAMETRIC,
    Finding,
    domain_profile,
    evaluate,
    passed,
    pooled,
    select,
    values_of,
)

VERDICT_MARK = {"reproduced": "✅", "not reproduced": "❌", "inconclusive": "❔"}


def _figure() -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 3.6), dpi=100)
    return fig, ax


def _save(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())


def _bars(ax: Any, groups: Sequence[str], series: Mapping[str, Sequence[Any]]) -> None:
    width = 0.8 / max(1, len(series))
    for i, (label, ests) in enumerate(series.items()):
        xs = [g + i * width for g in range(len(groups))]
        vals = [e.value if e is not None else math.nan for e in ests]
        errs = [
            (e.hi - e.lo) / 2 if e is not None and e.ci is not None else 0.0
            for e in ests
        ]
        ax.bar(xs, vals, width, yerr=errs, label=label, capsize=3)
    ax.set_xticks(
        [g + width * (len(series) - 1) / 2 for g in range(len(groups))], groups
    )
    ax.legend(fontsize=8)


def plot_finding(finding: Finding, results: Sequence[Any], path: Path) -> bool:
    """Draw the plot of one finding; False when the run has nothing to draw for it."""
    fig, ax = _figure()
    drew = False
    if finding.key == "spread":
        tasks = values_of(results, "task")
        series = {
            m: [pooled(select(results, task=t), m) for t in tasks]
            for m in ("over_spread", "propagation", "ccr")
        }
        _bars(ax, tasks, series)
        ax.set_ylabel("fraction of answers changed")
        drew = any(e is not None for s in series.values() for e in s)
    elif finding.key == "levels":
        levels = [
            lv for lv in ("root", "intermediate", "leaf") if select(results, level=lv)
        ]
        series = {
            t: [
                pooled(select(results, task=t, level=lv), "direct_acc") for lv in levels
            ]
            for t in values_of(results, "task")
        }
        _bars(ax, levels, series)
        ax.set_ylabel("direct_acc")
        drew = bool(levels)
    elif finding.key in ("drift", "collapse"):
        import matplotlib.pyplot as plt

        ax.set_prop_cycle(color=plt.get_cmap("tab20").colors)
        metrics = (
            ("drift_kl",) if finding.key == "drift" else ("direct_acc", "reverse_acc")
        )
        tasks = ("edit", "unlearn") if finding.key == "drift" else ("edit",)
        for task in tasks:
            for method in values_of(select(results, task=task), "method"):
                if finding.key == "drift" and method in NON_PARAMETRIC:
                    continue
                cells = select(results, task=task, method=method)
                for metric in metrics:
                    pts = [
                        (int(k), pooled(select(cells, scale=k), metric))
                        for k in values_of(cells, "scale")
                    ]
                    pts = [(k, e) for k, e in pts if e is not None]
                    if not pts:
                        continue
                    if finding.key == "drift":
                        style = "-" if task == "edit" else "--"
                    else:
                        style = "-" if metric != "reverse_acc" else ":"
                    ax.plot(
                        [k for k, _ in pts],
                        [e.value for _, e in pts],
                        style,
                        marker="o",
                        label=f"{task}/{method} {metric}",
                    )
                    drew = True
        ax.set_xscale("log")
        ax.set_xlabel("k (facts updated at once)")
        ax.set_ylabel("drift_kl (nats)" if finding.key == "drift" else "accuracy")
        if drew:
            ax.legend(fontsize=6, ncol=2)
    elif finding.key == "geometry":
        seen: list[float] = []
        for task, colour in (("edit", "tab:blue"), ("unlearn", "tab:red")):
            pts = [
                (
                    r.metrics["geom_anisotropy_excess"].value,
                    r.metrics["geom_rotation_excess"].value,
                )
                for r in select(results, task=task)
                if "geom_rotation_excess" in r.metrics
                and "geom_anisotropy_excess" in r.metrics
            ]
            if pts:
                ax.scatter(
                    [a for a, _ in pts], [b for _, b in pts], c=colour, label=task, s=18
                )
                seen += [v for pt in pts for v in pt]
                drew = True
        ax.set_xlabel("anisotropy / random update")
        ax.set_ylabel("rotation / random update")
        if drew:
            top = max(seen + [1.0]) * 1.1
            ax.plot(
                [0, top], [0, top], color="grey", lw=0.8, label="rotation = anisotropy"
            )
            ax.legend(fontsize=8)
    elif finding.key == "domains":
        doms = sorted(
            {
                n[len("q_plus_acc_") :]
                for r in results
                for n in r.metrics
                if n.startswith("q_plus_acc_")
            }
            & {"biology", "economics", "history", "physics"}
        )
        series = {
            t: [pooled(select(results, task=t), f"q_plus_acc_{d}") for d in doms]
            for t in values_of(results, "task")
        }
        _bars(ax, doms, series)
        ax.set_ylabel("q_plus_acc")
        drew = bool(doms)
    if drew:
        ax.set_title(finding.title, fontsize=9)
        _save(fig, path)
    else:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return drew


def tuning_split_text(seeds: Sequence[int]) -> str:
    """One paragraph: which seeds the method defaults were tuned on, and whether this run avoids them."""
    from ksmith.grid import TUNING_SEEDS

    tuning = f"{min(TUNING_SEEDS)}-{max(TUNING_SEEDS)}"
    used = ", ".join(map(str, sorted(set(seeds)))) or "none recorded"
    overlap = sorted(set(seeds) & set(TUNING_SEEDS))
    verdict = (
        f"**This run uses tuning seed(s) {', '.join(map(str, overlap))}: its findings are not out of sample.**"
        if overlap
        else "None of this run's cells was used to tune a default."
    )
    return (
        f"**Tuning split.** The methods' default hyper-parameters were tuned on world seed 0 with "
        f"intervention seeds {tuning} (`ksmith.grid.TUNING_SEEDS`); this run's intervention seeds: {used}. "
        + verdict
    )


def render_markdown(
    findings: Sequence[Finding],
    run_id: str,
    cases: int,
    total: int,
    command: str | None = None,
    seeds: Sequence[int] = (),
) -> str:
    lines = [
        f"# Findings — run {run_id}",
        "",
        (
            f"Tested on {cases} passed case(s) of {total} in `results.jsonl`; generated by "
            f"`{command or f'ksmith findings reports/{run_id}'}`. Each verdict follows the rule printed "
            "with it (`ksmith/metrics/findings.py`); values are pooled means over grid cells with 95% "
            "intervals (per cell: bootstrap over interventions; pooled: hull of a bootstrap over cells and the "
            "cells' own intervals, comparisons over matched cells; see the module docstring of "
            "`ksmith/metrics/findings.py`)."
        ),
        "",
        tuning_split_text(seeds),
        "",
        "| finding | verdict |",
        "|---|---|",
    ]
    for f in findings:
        lines.append(
            f"| [{f.title}](#{f.key}) | {VERDICT_MARK.get(f.verdict, '')} {f.verdict} |"
        )
    for f in findings:
        lines += [
            "",
            f'<a id="{f.key}"></a>',
            f"## {f.title}",
            "",
            f"**Claim.** {f.claim}",
            "",
            f"**Rule.** {f.rule}",
            "",
        ]
        if f.rows:
            lines += (
                ["| quantity | value |", "|---|---|"]
                + [f"| {a} | {b} |" for a, b in f.rows]
                + [""]
            )
        else:
            lines += ["_The run has no cells this finding needs._", ""]
        lines.append(f"**Verdict: {f.verdict}.**")
        for note in f.notes:
            lines += ["", note]
        if f.plot:
            lines += ["", f"![{f.title}]({f.plot})"]
    return "\n".join(lines) + "\n"


def write_findings(
    run_dir: Path, *, world: Any = None, command: str | None = None
) -> Path:
    """Evaluate every finding on `run_dir/results.jsonl`; write `findings.md` and plots there."""
    from ksmith.report.records import read_results

    run_dir = Path(run_dir)
    if run_dir.is_file():
        run_dir = run_dir.parent
    results = read_results(run_dir / "results.jsonl")
    profile = domain_profile(world) if world is not None else None
    findings = evaluate(results, profile)
    ok = passed(results)
    for f in findings:
        name = f"findings_{f.key}.png"
        if plot_finding(f, ok, run_dir / name):
            f.plot = name
    path = run_dir / "findings.md"
    # reports/latest is a link: name the run it points at
    atomic_write_text(
        path,
        render_markdown(
            findings, run_dir.resolve().name, len(ok), len(results), command,
            seeds=[int(r.key["seed"]) for r in results],
        ),
    )
    return path
