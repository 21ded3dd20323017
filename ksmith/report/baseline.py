"""A committed baseline: the numbers a method's CI gates on, and what they were measured against.

A method's repository keeps one small file (`ksmith-baseline.json`, written by
`ksmith ci --update-baseline`). It holds, per grid cell, only the metrics its tolerances name, plus
the *fingerprint* that makes those numbers comparable: ksmith's code version, the world and dataset
hashes, the model (its spec and its weights' hash), protocols, mode, dtype, device type and threads. The method's own hyper-parameters are not part of the fingerprint: a change to the
method is exactly what the gate is for. The header keeps the tolerances and the provenance (ksmith's
version and code version, the grid options, the model hashes and worlds).

When a cell's fingerprint differs from the new run's, the baseline no longer applies to it: the cell
is reported as *stale*, with what changed, and is not compared. A new model or a new ksmith changes
every number a little, and calling that a regression of the method would be wrong. The embedded
tiny models are shipped weights (`ksmith.models.embedded`), the same bits on every machine, so their
hash is in the fingerprint like any checkpoint's: a run on other weights is stale, never a regression.
How the gate decides on the cells that remain: `ksmith.report.compare`.

The file is JSON, indented, with sorted keys and rounded values, so `git diff` shows what moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.report.compare import Comparison, Tolerance, compare_runs, parse_fail_on, render_comparison
from ksmith.report.records import KEY_FIELDS, CaseResult, MetricValue, ReportError, sort_key

#: Bumped when the file's layout changes; a reader refuses other formats with a clear message.
FORMAT = 1
#: Marker key that tells a baseline file from any other JSON file.
MARKER = "ksmith_baseline"
#: Provenance fields that must match for a cell's baseline numbers to apply (compared when both
#: sides record them, so a field a newer ksmith adds does not make every older baseline stale).
FINGERPRINT: tuple[str, ...] = (
    "code_version",
    "world_hash",
    "dataset_hash",
    "model_spec",
    "model_hash",
    "protocols",
    "mode",
    "sequential_batch",
    "dtype",
    "device_type",
    "threads",
)
#: The default gate: the paper's headline quantities, each failing only past 0.1 and past its
#: intervals (`ksmith.report.compare`).
DEFAULT_FAIL_ON = "direct_acc:0.1,reverse_acc:0.1,contextual_acc:0.1,ccr:0.1,rr:0.1"
DIGITS = 6


class BaselineError(ReportError):
    """A baseline file that cannot be read or written."""


def fingerprint(result: CaseResult) -> dict[str, Any]:
    """The provenance fields of `result` that decide whether its numbers can be compared."""
    prov = dict(result.provenance)
    device = prov.get("device")
    if device is not None:
        prov["device_type"] = str(device).split(":")[0]  # cuda:0 and cuda:1 give the same numbers
    return {name: prov[name] for name in FINGERPRINT if prov.get(name) is not None}


@dataclass(frozen=True)
class Baseline:
    """The cells of a baseline (as `CaseResult`s, fingerprint in their provenance), its tolerances
    and where it came from."""

    results: tuple[CaseResult, ...]
    fail_on: str
    provenance: Mapping[str, Any] = field(default_factory=dict)

    @property
    def tolerances(self) -> tuple[Tolerance, ...]:
        return parse_fail_on(self.fail_on)

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(sorted({str(r.key["method"]) for r in self.results}))


def make_baseline(results: Sequence[CaseResult], fail_on: str, provenance: Mapping[str, Any]) -> Baseline:
    """A baseline from a run's results: only passed cells, only the metrics `fail_on` names."""
    tolerances = parse_fail_on(fail_on)
    failed = [r.case_id for r in results if r.status != "passed"]
    if failed:
        raise BaselineError(f"cannot record a baseline from a run with failed cells: {', '.join(failed)}")
    if not results:
        raise BaselineError("cannot record a baseline from a run without cells")
    names = {t.metric for t in tolerances}
    cells = tuple(
        CaseResult(
            key=dict(r.key),
            status=r.status,
            metrics={name: value for name, value in r.metrics.items() if name in names},
            n_probes=r.n_probes,
            provenance=fingerprint(r),
        )
        for r in sorted(results, key=sort_key)
    )
    header = dict(provenance)
    header["models"] = _distinct(results, "model", "model_hash")
    header["worlds"] = sorted({str(r.provenance["world_hash"]) for r in results if r.provenance.get("world_hash")})
    return Baseline(cells, fail_on, header)


def _distinct(results: Sequence[CaseResult], key: str, field_name: str) -> dict[str, str]:
    return {
        str(r.key[key]): str(r.provenance[field_name])
        for r in sorted(results, key=sort_key)
        if r.provenance.get(field_name) is not None
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def dumps_baseline(baseline: Baseline) -> str:
    """The file's text: one cell per block, keys sorted, values rounded (stable under re-runs)."""
    cells = []
    for r in baseline.results:
        metrics = {}
        for name, m in sorted(r.metrics.items()):
            metrics[name] = {
                "value": _rounded(m.value),
                "protocol": m.protocol,
                "n": m.n,
                "ci": None if m.ci is None else [_rounded(m.ci[0]), _rounded(m.ci[1])],
                "higher_is_better": m.higher_is_better,
            }
        cells.append(
            {
                "key": {name: r.key[name] for name in KEY_FIELDS},
                "n_probes": r.n_probes,
                "fingerprint": dict(r.provenance),
                "metrics": metrics,
            }
        )
    data = {
        MARKER: FORMAT,
        "fail_on": baseline.fail_on,
        "provenance": dict(baseline.provenance),
        "cells": cells,
    }
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_baseline(path: Path) -> Baseline:
    """Read a baseline file; anything malformed raises `BaselineError` naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BaselineError(
            f"{path}: no baseline file; record one with `ksmith ci --update-baseline --baseline {path}` and commit it"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise BaselineError(f"{path}: not valid JSON ({exc}); re-record it with `ksmith ci --update-baseline`") from None
    if not isinstance(data, dict) or MARKER not in data:
        raise BaselineError(f"{path}: not a ksmith baseline (no {MARKER!r} key); record one with `ksmith ci --update-baseline`")
    if data[MARKER] != FORMAT:
        raise BaselineError(
            f"{path}: baseline format {data[MARKER]!r}, this ksmith reads format {FORMAT}; "
            "re-record it with `ksmith ci --update-baseline`"
        )
    try:
        results = tuple(
            CaseResult(
                key={name: cell["key"][name] for name in KEY_FIELDS},
                status="passed",
                metrics={name: MetricValue.from_dict(value) for name, value in cell["metrics"].items()},
                n_probes=int(cell.get("n_probes") or 0),
                provenance=dict(cell.get("fingerprint") or {}),
            )
            for cell in data["cells"]
        )
        fail_on = str(data["fail_on"])
        parse_fail_on(fail_on)
    except ReportError as exc:
        raise BaselineError(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BaselineError(f"{path}: malformed baseline ({type(exc).__name__}: {exc}); re-record it with `ksmith ci --update-baseline`") from None
    return Baseline(results, fail_on, dict(data.get("provenance") or {}))


def write_baseline(path: Path, baseline: Baseline) -> Path:
    from ksmith.cache import atomic_write_text

    atomic_write_text(Path(path), dumps_baseline(baseline))
    return Path(path)


@dataclass
class GateResult:
    """The regression gate's verdict: the comparison of the cells the baseline still applies to, and
    the stale cells with what changed."""

    comparison: Comparison
    stale: dict[str, list[str]] = field(default_factory=dict)
    failed_cells: list[str] = field(default_factory=list)
    unrecorded_metrics: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return self.comparison.failed

    @property
    def nothing_compared(self) -> bool:
        return self.comparison.compared == 0


def stale_reasons(base: CaseResult, new: CaseResult) -> list[str]:
    """What changed between a baseline cell's fingerprint and the new run's ('' list: still applies)."""
    old, now = dict(base.provenance), fingerprint(new)
    return [
        f"{name} {old[name]} -> {now[name]}"
        for name in FINGERPRINT
        if name in old and name in now and old[name] != now[name]
    ]


def gate(baseline: Baseline, results: Sequence[CaseResult], tolerances: Sequence[Tolerance] | None = None) -> GateResult:
    """Compare `results` with `baseline` under `tolerances` (default: the baseline's own), leaving out
    the cells whose fingerprint changed (stale) rather than calling their differences regressions."""
    tolerances = tuple(tolerances) if tolerances is not None else baseline.tolerances
    new_by_cell = {r.cell: r for r in results}
    stale: dict[str, list[str]] = {}
    applicable = []
    for base in baseline.results:
        new = new_by_cell.get(base.cell)
        reasons = stale_reasons(base, new) if new is not None and new.status == "passed" else []
        if reasons:
            stale[base.case_id] = reasons
        else:
            applicable.append(base)
    stale_cells = {r.cell for r in baseline.results if r.case_id in stale}
    comparison = compare_runs(applicable, [r for r in results if r.cell not in stale_cells], tolerances)
    recorded = {name for r in baseline.results for name in r.metrics}
    return GateResult(
        comparison=comparison,
        stale=stale,
        failed_cells=[r.case_id for r in results if r.status != "passed"],
        unrecorded_metrics=sorted({t.metric for t in tolerances} - recorded),
    )


def render_gate(result: GateResult) -> str:
    """The gate's lines for a CI log: regressions, stale cells with what changed, notes."""
    lines = render_comparison(result.comparison).splitlines()
    for case_id, reasons in sorted(result.stale.items()):
        lines.append(f"  STALE {case_id}: baseline does not apply ({'; '.join(reasons)})")
    if result.unrecorded_metrics:
        lines.append(
            f"  note: {', '.join(result.unrecorded_metrics)} not in the baseline (not compared); "
            "re-record it with `ksmith ci --update-baseline`"
        )
    return "\n".join(lines)
