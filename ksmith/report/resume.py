"""`--ksmith-resume`: find results an earlier (possibly interrupted) run already produced.

A result is reused only under its `resume_key` — the grid key plus the world, dataset, model-weight
and hyper-parameter hashes, the protocols, the mode and the code version — so a changed model,
dataset or method never reuses a stale number. Only passed results are reused (a failed case runs
again). Interrupted runs count: the controller journals every result to `results.partial.jsonl`
as it arrives.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ksmith.report.records import CaseResult, ReportError

log = logging.getLogger(__name__)

JOURNAL = "results.partial.jsonl"


def finished_results(report_dir: Path) -> dict[str, CaseResult]:
    """resume_key -> passed result, over every run under `report_dir` (newest run wins)."""
    report_dir = Path(report_dir)
    found: dict[str, CaseResult] = {}
    if not report_dir.is_dir():
        return found
    runs = sorted(p for p in report_dir.iterdir() if p.is_dir() and not p.is_symlink())
    for run in runs:
        for name in ("results.jsonl", JOURNAL):
            path = run / name
            if not path.is_file():
                continue
            for result in _readable(path):
                if result.status == "passed" and result.resume_key:
                    found[result.resume_key] = result
    return found


def _readable(path: Path) -> list[CaseResult]:
    """Every line of `path` that parses (a run killed mid-write may leave a torn last line)."""
    results = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            results.append(CaseResult.from_json(line))
        except (ValueError, ReportError) as exc:
            log.warning("ksmith resume: ignoring %s:%d (%s)", path, number, exc)
    return results
