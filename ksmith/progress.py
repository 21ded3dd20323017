"""Progress of a long grid: which case each process runs, in which phase, and how long is left.

On a real model a grid runs for an hour; a reader wants to know how far it is. Three pieces, none
of which knows pytest (the plugin wires them up):

- `CaseProgress`: what a running case says about itself. The harness's fixtures and the bench case
  wrap their steps in `progress.phase("update")` and so on; library code that runs a long step
  inside another (the key statistics inside an update) says so through logging, with
  `extra={PHASE: "key statistics"}` when it starts and `extra={PHASE_DONE: "key statistics"}` when
  it ends, so methods need no extra argument. Each change goes to a sink: a `StatusFile` under
  pytest-xdist (the controller reads it), a callback without it.
- `StatusFile`: one small JSON file per process, replaced atomically on every change.
- `GridProgress`: the controller's view: cases collected and finished, their durations, and the
  running cases' phases, turned into one status line with an estimate of the time left.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text

#: `LogRecord` attribute that starts a nested phase (`log.info(..., extra={PHASE: "key statistics"})`).
PHASE = "ksmith_phase"
#: `LogRecord` attribute that ends it.
PHASE_DONE = "ksmith_phase_done"

Sink = Callable[[Mapping[str, Any]], None]


class _PhaseHandler(logging.Handler):
    """Turns phase-marked log records into nested phases of the running case."""

    def __init__(self, progress: "CaseProgress") -> None:
        super().__init__(level=logging.DEBUG)
        self.progress = progress

    def emit(self, record: logging.LogRecord) -> None:
        started = getattr(record, PHASE, None)
        done = getattr(record, PHASE_DONE, None)
        if started:
            self.progress.push(str(started))
        elif done:
            self.progress.pop(str(done))


@dataclass
class CaseProgress:
    """One case's progress, reported to `sink` on every phase change.

    The status a sink receives: {case, phase, case_started, phase_started, done: [[phase, s], ...],
    pid}; times are `time.time()` seconds. A case with no phase open reports phase "".
    """

    case: str
    sink: Sink
    clock: Callable[[], float] = time.time
    case_started: float = field(default=0.0)
    stack: list[tuple[str, float]] = field(default_factory=list)
    done: list[tuple[str, float]] = field(default_factory=list)
    idle_since: float | None = None  # when the last phase ended

    def __post_init__(self) -> None:
        self.case_started = self.clock()

    def status(self) -> dict[str, Any]:
        # between phases: "" since the last one ended (the harness's own steps, pytest's set-up)
        phase, since = self.stack[-1] if self.stack else ("", self.idle_since or self.case_started)
        return {
            "case": self.case,
            "phase": phase,
            "case_started": self.case_started,
            "phase_started": since,
            "done": [[name, round(seconds, 3)] for name, seconds in self.done],
            "pid": os.getpid(),
        }

    def push(self, name: str) -> None:
        self.stack.append((name, self.clock()))
        self.sink(self.status())

    def pop(self, name: str | None = None) -> None:
        """Close the innermost phase (`name`, when given, must be open; otherwise nothing happens)."""
        if not self.stack or (name is not None and name not in (n for n, _ in self.stack)):
            return
        now = self.clock()
        while self.stack:
            current, since = self.stack.pop()
            self.done.append((current, now - since))
            if name is None or current == name:
                break
        if not self.stack:
            self.idle_since = now
        self.sink(self.status())

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as phase `name` (ended even when the block raises)."""
        self.push(name)
        try:
            yield
        finally:
            self.pop(name)

    @contextmanager
    def listening(self, logger: str = "ksmith") -> Iterator["CaseProgress"]:
        """While open, phase-marked records logged under `logger` open and close nested phases."""
        target = logging.getLogger(logger)
        handler = _PhaseHandler(self)
        previous = target.level
        target.addHandler(handler)
        if target.getEffectiveLevel() > logging.INFO:
            target.setLevel(logging.INFO)  # phase records are INFO; let them reach the handler
        try:
            yield self
        finally:
            target.removeHandler(handler)
            target.setLevel(previous)


@dataclass(frozen=True)
class StatusFile:
    """This process's status as `<folder>/<name>.json`, replaced atomically (readers never see half)."""

    folder: Path
    name: str

    @property
    def path(self) -> Path:
        return Path(self.folder) / f"{self.name}.json"

    def __call__(self, status: Mapping[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"worker": self.name, **status}))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def read_statuses(folder: Path) -> list[dict[str, Any]]:
    """Every readable status file under `folder` (a file being replaced is skipped this time)."""
    out = []
    folder = Path(folder)
    if not folder.is_dir():
        return out
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return out


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class GridProgress:
    """The controller's view of the grid: how many cases, how long the finished ones took.

    Estimate of the time left: (cases not started x mean duration of the finished ones + for each
    running case, that mean minus its elapsed time, at least 0) / number of workers. Before the
    first case finishes there is no estimate, and the line says so.
    """

    total: int = 0
    workers: int = 1
    durations: list[float] = field(default_factory=list)

    def finish(self, seconds: float) -> None:
        self.durations.append(float(seconds))

    @property
    def finished(self) -> int:
        return len(self.durations)

    def eta(self, running: Sequence[Mapping[str, Any]], now: float) -> float | None:
        if not self.durations:
            return None
        mean = sum(self.durations) / len(self.durations)
        waiting = max(0, self.total - self.finished - len(running))
        left = waiting * mean + sum(max(0.0, mean - (now - float(s.get("case_started", now)))) for s in running)
        return left / max(1, self.workers)

    def line(self, running: Sequence[Mapping[str, Any]], now: float) -> str:
        """`ksmith progress: 12/144 cases done; gw0 <case> update 1:05 (case 1:40); ...; ETA 0:25:00`."""
        parts = [f"ksmith progress: {self.finished}/{self.total} cases done"]
        for status in sorted(running, key=lambda s: str(s.get("worker", ""))):
            phase = status.get("phase") or "between phases"
            worker = f"{status['worker']} " if status.get("worker") else ""
            parts.append(
                f"{worker}{status.get('case')} {phase} {_clock_text(now - float(status.get('phase_started', now)))}"
                f" (case {_clock_text(now - float(status.get('case_started', now)))})"
            )
        eta = self.eta(running, now)
        parts.append("ETA after the first case finishes" if eta is None else f"ETA {_clock_text(eta)}")
        return "; ".join(parts)
