"""`ksmith show RUN [CASE]`: a run's cases, or one case's probes (from its samples), as tables.

The case list comes from `results.jsonl`; a case's probes from `samples/<case-id>.jsonl` (written
with `--ksmith-log-samples`), flipped probes first, because a surprising number is explained by
the probes whose answer moved.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tabulate import tabulate

from ksmith.report.leaderboard import COMPACT
from ksmith.report.records import CaseResult, ReportError, read_results
from ksmith.report.samples import flipped_first, read_samples, run_samples, samples_name

PROMPT_WIDTH = 60


@dataclass(frozen=True)
class ProbeFilter:
    """Which probes `show` lists: a probe type, only those whose answer moved, only wrong ones."""

    probe_type: str | None = None
    changed: bool = False
    wrong: bool = False

    def keep(self, line: Mapping[str, Any]) -> bool:
        if self.probe_type is not None and line.get("type") != self.probe_type:
            return False
        if self.changed and not line.get("changed"):
            return False
        if self.wrong and line.get("correct_after") is not False:
            return False
        return True


def run_dir_of(path: Path) -> Path:
    """The run directory of `path` (a run directory, `reports/latest`, or a results.jsonl)."""
    path = Path(path)
    if not path.exists():
        raise ReportError(f"{path}: no such run; pass a run directory (reports/<run-id>, reports/latest)")
    run = (path.parent if path.is_file() else path).resolve()  # reports/latest -> the run id it names
    if not (run / "results.jsonl").is_file():
        raise ReportError(f"{run}: not a run directory (it has no results.jsonl); pass reports/<run-id> or reports/latest")
    return run


def find_case(results: Sequence[CaseResult], wanted: str) -> CaseResult:
    """The result whose case id is `wanted` (or, failing that, the one case id containing it)."""
    by_id = {result.case_id: result for result in results}
    if wanted in by_id:
        return by_id[wanted]
    partial = [case for case in by_id if wanted in case]
    if len(partial) == 1:
        return by_id[partial[0]]
    if partial:
        raise ReportError(f"case {wanted!r} is ambiguous: it matches {', '.join(sorted(partial)[:8])}")
    close = difflib.get_close_matches(wanted, list(by_id), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else "; `ksmith show RUN` lists the cases"
    raise ReportError(f"no case {wanted!r} in this run{hint}")


def _fmt(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def render_cases(run: Path) -> str:
    """One line per case: status, probes, flipped right / wrong (from samples), compact metrics."""
    results = read_results(run / "results.jsonl")
    samples = run_samples(run)
    metrics = [m for m in COMPACT if any(m in r.metrics for r in results)]
    rows = []
    for result in results:
        path = samples.get(samples_name(result.case_id).removesuffix(".jsonl"))
        flips = ("", "")
        if path is not None:
            lines = read_samples(path)
            flips = tuple(str(sum(1 for line in lines if line.get("flip") == f and line.get("executed"))) for f in ("right", "wrong"))  # type: ignore[assignment]
        row = [result.case_id, result.status, result.n_probes, "yes" if path else "no", *flips]
        row += [_fmt(result.metrics[m].value) if m in result.metrics else "" for m in metrics]
        row.append((result.message or "")[:80])
        rows.append(row)
    headers = ["case", "status", "probes", "samples", "flipped right", "flipped wrong", *metrics, "message"]
    text = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    if not samples:
        text += "\n\n(no samples in this run: run pytest with --ksmith-log-samples to see probes)"
    return f"run {run.name}: {len(results)} case(s)\n\n{text}"


def _option(line: Mapping[str, Any], index: int | None) -> str:
    if index is None:
        return "(none)"
    options = line.get("options") or []
    return f"{index}:{options[index]}" if 0 <= index < len(options) else str(index)


def expected_text(line: Mapping[str, Any]) -> str:
    """What counts as right after the update, in words."""
    if line.get("family") == "Q-":
        return _option(line, line.get("answer_before"))
    if line.get("answer_after") is None and line.get("avoid") is not None:
        return "not " + _option(line, line.get("avoid"))
    return _option(line, line.get("answer_after"))


def render_probes(run: Path, case: str, probe_filter: ProbeFilter = ProbeFilter(), limit: int | None = None) -> str:
    """One case's probes, flipped first (`ksmith.report.samples.flipped_first`)."""
    result = find_case(read_results(run / "results.jsonl"), case)
    path = run_samples(run).get(samples_name(result.case_id).removesuffix(".jsonl"))
    if path is None:
        raise ReportError(
            f"case {result.case_id} has no samples in {run}; run it with --ksmith-log-samples "
            "(samples/<case-id>.jsonl in the run directory)"
        )
    lines = read_samples(path)
    types = sorted({str(line.get("type")) for line in lines})
    if probe_filter.probe_type is not None and probe_filter.probe_type not in types:
        raise ReportError(f"--type {probe_filter.probe_type!r}: this case has probe types {', '.join(types)}")
    kept = [line for line in flipped_first(lines) if probe_filter.keep(line)]
    shown = kept if limit is None else kept[:limit]
    rows = []
    for line in shown:
        prompt = (line.get("prefix") or "") + str(line.get("prompt", ""))
        if len(prompt) > PROMPT_WIDTH:
            prompt = "…" + prompt[-(PROMPT_WIDTH - 1) :]
        choice_before = (line.get("choice_before") or {}).get("mcq")
        choice_after = (line.get("choice_after") or {}).get("mcq")
        rows.append([
            line.get("flip") or "",
            line.get("id"),
            line.get("type"),
            line.get("family"),
            "yes" if line.get("executed") else "no",
            prompt,
            _option(line, choice_before),
            _option(line, choice_after),
            expected_text(line),
            {True: "yes", False: "no"}.get(line.get("correct_after"), ""),
        ])
    headers = ["flip", "probe", "type", "family", "counted", "prompt", "before", "after", "right answer", "right"]
    table = tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True)
    flipped = {f: sum(1 for line in lines if line.get("flip") == f and line.get("executed")) for f in ("right", "wrong")}
    head = (
        f"{result.case_id} ({result.status}): {len(lines)} probes; of those that count, {flipped['right']} "
        f"flipped right and {flipped['wrong']} flipped wrong (mcq); showing {len(shown)} of {len(kept)} matching"
    )
    if result.message:
        head += f"\nmessage: {result.message}"
    return f"{head}\n\n{table}"
