"""`reports/<run-id>/findings.md` and its plots, from the run's `results.jsonl`.

Every number comes from `ksmith.findings.rules`; this module only lays them out. Plots are PNG
files next to the markdown (`findings_<key>.png`), written atomically like every run file.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_bytes, atomic_write_text
from ksmith.findings.estimates import (
    NON_PARAMETRIC,
    Finding,
    passed,
    pooled,
    select,
    values_of,
)
from ksmith.findings.rules import domain_profile
from ksmith.world.schema import LEVELS

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
            lv for lv in LEVELS if select(results, level=lv)
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


def is_tiny(model: str) -> bool:
    """Whether a model spec is one of ksmith's tiny-kg models (defaults tuned here) or a real one."""
    return model.startswith("tiny-kg")


def tuning_split_text(seeds: Sequence[int], models: Sequence[str] | None = None) -> str:
    """One paragraph: which seeds the method defaults were tuned on, and whether this run avoids them.

    tiny-kg models use defaults tuned on `TUNING_SEEDS`; every other model (`models`; None: tiny-kg
    only) uses the published defaults, tuned on no ksmith cell.
    """
    from ksmith.grid import TUNING_SEEDS

    used = ", ".join(map(str, sorted(set(seeds)))) or "none recorded"
    real = [m for m in models or () if not is_tiny(m)]
    parts = []
    if models is None or len(real) < len(models):
        tuning = f"{min(TUNING_SEEDS)}-{max(TUNING_SEEDS)}"
        overlap = sorted(set(seeds) & set(TUNING_SEEDS))
        verdict = (
            f"**This run uses tuning seed(s) {', '.join(map(str, overlap))}: its findings are not out of sample.**"
            if overlap
            else "None of this run's cells was used to tune a default."
        )
        parts.append(
            f"**Tuning split.** On tiny-kg the methods' default hyper-parameters were tuned on world seed 0 "
            f"with intervention seeds {tuning} (`ksmith.grid.TUNING_SEEDS`); this run's intervention seeds: "
            f"{used}. " + verdict
        )
    if real:
        parts.append(
            f"**Tuning split{' (real models)' if parts else ''}.** {', '.join(real)} run with each method's "
            "published defaults (the EasyEdit, AlphaEdit and open-unlearning configurations and papers, as "
            "`default_hparams` gives them for an architecture that is not tiny-kg): none was tuned on a ksmith "
            f"cell. This run's intervention seeds: {used}."
        )
    return " ".join(parts)


def provenance_table(results: Sequence[Any]) -> list[str]:
    """Which code each model's cells ran at, and how much compute they took.

    A findings run is often resumed and its shards merged (`ksmith report`), so its cells can come
    from several commits; a reader must see that, and the in-case compute time (the `timings` each
    case journals: the update, the scoring after it, drift and geometry) says roughly what reproducing
    it costs on the recorded device and threads.
    """
    groups: dict[tuple[str, ...], list[Any]] = {}
    for r in results:
        prov = r.provenance
        commit = str(prov.get("git_commit") or "unrecorded")[:7]
        where = f"{prov.get('device', '?')}, {prov.get('dtype', '?')}, {prov.get('threads', '?')} thread(s)"
        groups.setdefault((r.key["model"], commit, str(prov.get("code_version", "unrecorded")), where), []).append(r)
    if not groups:
        return []
    lines = [
        "**Provenance.** The commit and code version each model's cells ran at, with their summed in-case "
        "compute time (the update, the scoring after it, drift and geometry as each case timed them; the "
        "scoring before the update, model loading and known-set filtering are not included).",
        "",
        "| model | commit | code version | cells | device, dtype, threads | in-case compute |",
        "|---|---|---|---|---|---|",
    ]
    for (model, commit, code, where), cells in sorted(groups.items()):
        seconds = sum(float(v) for r in cells for v in r.timings.values())
        lines.append(f"| {model} | {commit} | {code} | {len(cells)} | {where} | {seconds / 3600:.2f} h |")
    return lines


def _sections(findings: Sequence[Finding], heading: str = "##", anchor: str = "") -> list[str]:
    lines: list[str] = []
    for f in findings:
        lines += [
            "",
            f'<a id="{anchor}{f.key}"></a>',
            f"{heading} {f.title}",
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
        elif not f.notes:  # with notes, they say what is missing
            lines += ["_The run has no cells this finding needs._", ""]
        lines.append(f"**Verdict: {f.verdict}.**")
        for note in f.notes:
            lines += ["", note]
        if f.plot:
            lines += ["", f"![{f.title}]({f.plot})"]
    return lines


def _verdict(f: Finding | None) -> str:
    return "—" if f is None else f"{VERDICT_MARK.get(f.verdict, '')} {f.verdict}"


def verdict_table(columns: Mapping[str, Sequence[Finding]], anchors: Mapping[str, str]) -> list[str]:
    """Finding x model -> verdict, with a last column saying where the verdicts differ."""
    keys = list(dict.fromkeys(f.key for fs in columns.values() for f in fs))
    titles = {f.key: f.title for fs in columns.values() for f in fs}
    lines = [
        "| finding | " + " | ".join(columns) + " | verdicts |",
        "|---|" + "---|" * (len(columns) + 1),
    ]
    for key in keys:
        got = {name: next((f for f in fs if f.key == key), None) for name, fs in columns.items()}
        seen = {f.verdict for f in got.values() if f is not None}
        title = f"[{titles[key]}](#{anchors[key]})" if key in anchors else titles[key]
        lines.append(
            f"| {title} | " + " | ".join(_verdict(f) for f in got.values())
            + f" | {'**differ**' if len(seen) > 1 else 'agree'} |"
        )
    return lines


def render_markdown(
    per_model: Mapping[str, Sequence[Finding]],
    run_id: str,
    cases: int,
    total: int,
    command: str | None = None,
    compare: Mapping[str, Sequence[Finding]] | None = None,
    results: Sequence[Any] = (),
) -> str:
    """The report. One model and nothing to compare: one verdict table and a section per finding.
    Otherwise a finding x model verdict table (the compared runs' models as extra columns), then a
    section per model."""
    models = list(per_model)
    lines = [
        f"# Findings — run {run_id}",
        "",
        (
            f"Tested on {cases} passed case(s) of {total} in `results.jsonl`; generated by "
            f"`{command or f'ksmith findings reports/{run_id}'}`. Each verdict follows the rule printed "
            "with it (`ksmith/findings/rules.py`); values are pooled means over grid cells with 95% "
            "intervals (per cell: bootstrap over interventions; pooled: hull of a bootstrap over cells and the "
            "cells' own intervals, comparisons over matched cells; see the module docstring of "
            "`ksmith/findings/estimates.py`)."
            + (" Each model is tested on its own cells: nothing is pooled across models." if len(models) > 1 else "")
        ),
        "",
        tuning_split_text([int(r.key["seed"]) for r in results], models),
        "",
    ]
    provenance = provenance_table(passed(results))
    lines += [*provenance, ""] if provenance else []
    if len(models) == 1 and not compare:
        findings = per_model[models[0]]
        lines += ["| finding | verdict |", "|---|---|"]
        lines += [f"| [{f.title}](#{f.key}) | {_verdict(f)} |" for f in findings]
        return "\n".join(lines + _sections(findings)) + "\n"
    first = per_model[models[0]] if models else []
    lines += verdict_table({**per_model, **(compare or {})}, {f.key: f"{models[0]}-{f.key}" for f in first})
    if compare:
        lines += ["", "Columns after this run's models come from the runs named with `--compare` (their own "
                  "grids, worlds and seeds; see those reports for their numbers)."]
    for model in models:
        lines += ["", f'<a id="{model}"></a>', f"## {model}"]
        lines += _sections(per_model[model], "###", f"{model}-")
    return "\n".join(lines) + "\n"


def write_findings(
    run_dir: Path, *, world: Any = None, command: str | None = None, compare: Sequence[Path] = ()
) -> Path:
    """Evaluate every finding on `run_dir/results.jsonl`, per model; write `findings.md` and plots there.

    compare: other run directories whose models' verdicts join the verdict table (e.g. the tiny-kg
    report beside a real-model one).
    """
    from ksmith.findings.rules import evaluate, evaluate_per_model
    from ksmith.report.records import read_results

    run_dir = _run_dir(run_dir)
    results = read_results(run_dir / "results.jsonl")
    # the compared runs are read first: a bad one stops the command before any file is written
    others: dict[str, list[Finding]] = {}
    for other in compare:
        other_dir = _run_dir(other)
        for model, findings in evaluate_per_model(read_results(other_dir / "results.jsonl")).items():
            others[f"{model} (run {other_dir.resolve().name})"] = findings
    profile = domain_profile(world) if world is not None else None
    # a run with no passed case still gets its (inconclusive) findings, under no model's name
    per_model = evaluate_per_model(results, profile) or {"no passed case": evaluate([], profile)}
    ok = passed(results)
    single = len(per_model) == 1 and not compare
    for model, findings in per_model.items():
        mine = select(ok, model=model)
        for f in findings:
            name = f"findings_{f.key}.png" if single else f"findings_{model}_{f.key}.png"
            if plot_finding(f, mine, run_dir / name):
                f.plot = name
    path = run_dir / "findings.md"
    # reports/latest is a link: name the run it points at
    atomic_write_text(
        path,
        render_markdown(
            per_model, run_dir.resolve().name, len(ok), len(results), command,
            compare=others, results=results,
        ),
    )
    return path


def _run_dir(path: Path) -> Path:
    path = Path(path)
    return path.parent if path.is_file() else path
