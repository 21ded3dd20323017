"""A run directory, `reports/<run-id>/`, and the `reports/latest` link to the newest one.

Every file is derived from `results.jsonl` (plus the run's description kept in `leaderboard.json`),
so `ksmith report` can regenerate or merge runs. Each file is written atomically (temp file +
rename), and `latest` is replaced atomically too: a reader never sees half a run.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text
from ksmith.report.html import CaseExamples, render_html
from ksmith.report.leaderboard import render_csv, render_json, render_markdown
from ksmith.report.records import CaseResult, ReportError, dumps_results, merge_results, read_results
from ksmith.report.samples import SAMPLES_DIR, read_samples, run_samples, samples_name

RUN_FILES: tuple[str, ...] = ("results.jsonl", "leaderboard.md", "leaderboard.csv", "leaderboard.json", "index.html")
LATEST = "latest"


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus a few random hex digits."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + secrets.token_hex(2)


def write_run(run_dir: Path, results: Sequence[CaseResult], run: Mapping[str, Any] | None = None) -> Path:
    """Write every file of a run from its results; returns `run_dir`."""
    run_dir = Path(run_dir)
    info = {"run_id": run_dir.name, **dict(run or {})}
    info["cases"] = len(results)
    ordered = merge_results([results])
    atomic_write_text(run_dir / "results.jsonl", dumps_results(ordered))
    atomic_write_text(run_dir / "leaderboard.md", render_markdown(ordered, title=f"ksmith leaderboard — run {run_dir.name}"))
    atomic_write_text(run_dir / "leaderboard.csv", render_csv(ordered))
    atomic_write_text(run_dir / "leaderboard.json", render_json(ordered, info))
    atomic_write_text(run_dir / "index.html", render_html(ordered, info, case_examples(run_dir, ordered)))
    return run_dir


def case_examples(run_dir: Path, results: Sequence[CaseResult]) -> dict[str, CaseExamples]:
    """case id -> the drill-down examples from the run's samples (cases that logged none are absent)."""
    found = run_samples(run_dir)
    out = {}
    for result in results:
        path = found.get(samples_name(result.case_id).removesuffix(".jsonl"))
        if path is not None:
            out[result.case_id] = CaseExamples.from_lines(read_samples(path))
    return out


def point_latest(report_dir: Path, run_dir: Path) -> Path:
    """Make `report_dir/latest` a relative symlink to `run_dir`, replacing any old link atomically."""
    report_dir = Path(report_dir)
    link = report_dir / LATEST
    if link.exists() and not link.is_symlink():
        raise ReportError(f"{link} exists and is not a symlink; move it away so ksmith can point it at the newest run")
    tmp = report_dir / f".{LATEST}.{secrets.token_hex(4)}"
    os.symlink(os.path.relpath(Path(run_dir).resolve(), report_dir.resolve()), tmp)
    os.replace(tmp, link)
    return link


def run_info(run_dir: Path) -> dict[str, Any]:
    """The run description stored in `leaderboard.json` (empty when absent or unreadable)."""
    path = Path(run_dir) / "leaderboard.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")).get("run") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def regenerate(run_dir: Path) -> Path:
    """Rewrite every file of `run_dir` from its `results.jsonl`."""
    run_dir = Path(run_dir).resolve()  # reports/latest -> the run it names (its id titles the page)
    if run_dir.is_file():
        run_dir = run_dir.parent
    results = read_results(run_dir / "results.jsonl")
    info = {k: v for k, v in run_info(run_dir).items() if k not in ("run_id", "cases")}
    return write_run(run_dir, results, info)


def merge_runs(run_dirs: Sequence[Path], out_dir: Path) -> Path:
    """One run made of several (e.g. the shards of a grid); a cell present twice keeps the later run's."""
    runs = [read_results(Path(path)) for path in run_dirs]
    info = {"merged_from": [Path(path).name if Path(path).is_dir() else str(path) for path in run_dirs]}
    out_dir = Path(out_dir)
    for path in run_dirs:  # the shards' samples travel with their results (a later run's win)
        for source in run_samples(Path(path) if Path(path).is_dir() else Path(path).parent).values():
            target = out_dir / SAMPLES_DIR / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}")
            shutil.copyfile(source, tmp)
            os.replace(tmp, target)
    return write_run(out_dir, merge_results(runs), info)
