"""`CaseRecorder`: what a running bench case has measured so far, turned into a `CaseResult`.

The harness creates one per case before the method runs (grid key, provenance and resume key are
known then), the case adds timings and metrics as it goes, and the plugin asks it for the result
once pytest knows the outcome, so a case that crashes half-way still reports what it had.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.report.records import CaseResult, MetricValue


@dataclass
class CaseRecorder:
    key: Mapping[str, Any]
    provenance: Mapping[str, Any]
    resume_key: str | None = None
    metrics: dict[str, MetricValue] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)
    n_probes: int = 0
    resumed: CaseResult | None = None  # set when --ksmith-resume found this case already done
    samples_path: Path | None = None  # where --ksmith-log-samples writes this case's probes (None: off)

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Time the block as `timings[name]` (seconds of wall time), even if it raises."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - start

    def record(self, metrics: Mapping[str, Any], *, n_probes: int) -> None:
        """Keep the case's metrics (`ksmith.metrics.Metric` records, by name)."""
        self.metrics = {name: MetricValue.from_metric(metric) for name, metric in metrics.items()}
        self.n_probes = int(n_probes)

    def log_samples(
        self,
        dataset: Any,
        pre: Any,
        post: Any,
        *,
        held_out: Mapping[str, int] | None = None,
        prefixes: Mapping[str, str] | None = None,
        attacked: Mapping[str, Any] | None = None,
    ) -> Path | None:
        """Write the case's per-probe samples (`ksmith.report.samples`) when logging is on.

        Timed as `timings["samples_s"]`, so what the option costs is measured on every case.
        Returns the file written, or None when `--ksmith-log-samples` is off.
        """
        if self.samples_path is None:
            return None
        from ksmith.report.samples import sample_lines, write_samples

        with self.timer("samples_s"):
            lines = sample_lines(dataset, pre, post, held_out=held_out, prefixes=prefixes, attacked=attacked)
            write_samples(self.samples_path, lines)
        return self.samples_path

    def result(self, status: str, message: str | None = None) -> CaseResult:
        return CaseResult(
            key=dict(self.key),
            status=status,
            metrics=dict(self.metrics),
            n_probes=self.n_probes,
            timings=dict(self.timings),
            provenance=dict(self.provenance),
            resume_key=self.resume_key,
            message=message,
        )
