"""`CaseResult`: what one benchmark cell measured, as one line of `results.jsonl`.

Modelled on lm-evaluation-harness's results schema: the grid key, every metric with the protocol
it was measured under, timings, and enough provenance (git commit, package versions, device, dtype,
batch size, seeds, world / dataset / model / hyper-parameter hashes) to say what produced a number.

A line has these keys (README documents them):

    key         {model, method, task, level, scale, seed}
    status      "passed" | "failed" | "error"   (error: the harness, not the method, broke)
    metrics     name -> {value, protocol, n, n_units, ci, executed, higher_is_better}
    n_probes    probes scored after the update
    timings     {update_s, score_s}
    provenance  {git_commit, versions, device, dtype, batch_size, world_hash, dataset_hash,
                 model_hash, hparams, hparams_hash, code_version, ...}
    resume_key  grid key + hashes + code version: `--ksmith-resume` reuses a result only under it
    message     why a case failed (first line of the error), else null
    resumed     true when the result was carried over from an earlier run by --ksmith-resume
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ksmith.errors import KsmithError

STATUSES: tuple[str, ...] = ("passed", "failed", "error")
KEY_FIELDS: tuple[str, ...] = ("model", "method", "task", "level", "scale", "seed")


class ReportError(KsmithError):
    """A results file that cannot be read, or runs that cannot be merged or compared."""


@dataclass(frozen=True)
class MetricValue:
    """A metric as stored in a result line (the JSON form of `ksmith.metrics.record.Metric`)."""

    value: float
    protocol: str
    n: int
    ci: tuple[float, float] | None = None
    executed: float | None = None
    higher_is_better: bool | None = True
    n_units: int | None = None

    @classmethod
    def from_metric(cls, metric: Any) -> "MetricValue":
        ci = tuple(float(x) for x in metric.ci) if metric.ci is not None else None
        n_units = getattr(metric, "n_units", None)
        return cls(
            float(metric.value),
            str(metric.protocol),
            int(metric.n),
            ci,  # type: ignore[arg-type]
            None if metric.executed is None else float(metric.executed),
            metric.higher_is_better,
            None if n_units is None else int(n_units),
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "MetricValue":
        ci = data.get("ci")
        return cls(
            float(data["value"]),
            str(data["protocol"]),
            int(data.get("n", 0)),
            (float(ci[0]), float(ci[1])) if ci is not None else None,
            data.get("executed"),
            data.get("higher_is_better", True),
            data.get("n_units"),
        )

    @property
    def half_width(self) -> float | None:
        return None if self.ci is None else (self.ci[1] - self.ci[0]) / 2


@dataclass(frozen=True)
class CaseResult:
    """One grid cell's outcome. `key` holds exactly `KEY_FIELDS`."""

    key: Mapping[str, Any]
    status: str
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    n_probes: int = 0
    timings: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, Any] = field(default_factory=dict)
    resume_key: str | None = None
    message: str | None = None
    resumed: bool = False

    @property
    def cell(self) -> tuple[Any, ...]:
        """The grid key as a tuple (model, method, task, level, scale, seed)."""
        return tuple(self.key[name] for name in KEY_FIELDS)

    @property
    def case_id(self) -> str:
        k = self.key
        return f"{k['model']}-{k['method']}-{k['task']}-{k['level']}-k{k['scale']}-s{k['seed']}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["key"] = {name: self.key[name] for name in KEY_FIELDS}
        data["metrics"] = {name: asdict(value) for name, value in sorted(self.metrics.items())}
        for value in data["metrics"].values():
            if value["ci"] is not None:
                value["ci"] = list(value["ci"])
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "CaseResult":
        try:
            key = {name: data["key"][name] for name in KEY_FIELDS}
            status = str(data["status"])
        except (KeyError, TypeError) as exc:
            raise ReportError(f"a result line lacks {exc}; each needs key {KEY_FIELDS} and status") from None
        if status not in STATUSES:
            raise ReportError(f"a result line has status {status!r}; expected one of {STATUSES}")
        key["scale"] = int(key["scale"])
        key["seed"] = int(key["seed"])
        return cls(
            key=key,
            status=status,
            metrics={name: MetricValue.from_dict(value) for name, value in (data.get("metrics") or {}).items()},
            n_probes=int(data.get("n_probes") or 0),
            timings=dict(data.get("timings") or {}),
            provenance=dict(data.get("provenance") or {}),
            resume_key=data.get("resume_key"),
            message=data.get("message"),
            resumed=bool(data.get("resumed", False)),
        )

    @classmethod
    def from_json(cls, line: str) -> "CaseResult":
        return cls.from_dict(json.loads(line))


def sort_key(result: CaseResult) -> tuple[Any, ...]:
    """Results in grid order (the same order `ksmith.grid.grid_order` gives the cases)."""
    from ksmith.world.schema import LEVELS

    k = result.key
    level_rank = LEVELS.index(k["level"]) if k["level"] in LEVELS else len(LEVELS)
    return (k["model"], k["task"], level_rank, k["level"], k["scale"], k["method"], k["seed"])


def dumps_results(results: Iterable[CaseResult]) -> str:
    """`results.jsonl` text: one result per line, in grid order."""
    return "".join(result.to_json() + "\n" for result in sorted(results, key=sort_key))


def read_results(path: Path) -> list[CaseResult]:
    """Read a `results.jsonl` (or a run directory holding one); bad lines are named by number."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.jsonl"
    if not path.exists():
        raise ReportError(f"{path}: no such results file; pass a run directory (reports/<run-id>) or its results.jsonl")
    results = []
    for number, data in json_lines(path):
        try:
            results.append(CaseResult.from_dict(data))
        except ReportError as exc:
            raise ReportError(f"{path}:{number}: {exc}") from None
    return results


def json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, value) of every non-blank line of a JSON-lines file; a bad line is named by number."""
    for number, text in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            yield number, json.loads(text)
        except json.JSONDecodeError as exc:
            raise ReportError(f"{path}:{number}: not valid JSON ({exc.msg})") from None


def merge_results(runs: Iterable[Iterable[CaseResult]]) -> list[CaseResult]:
    """Union of several runs (e.g. shards); a cell present twice keeps the later run's result."""
    merged: dict[tuple[Any, ...], CaseResult] = {}
    for run in runs:
        for result in run:
            merged[result.cell] = result
    return sorted(merged.values(), key=sort_key)
