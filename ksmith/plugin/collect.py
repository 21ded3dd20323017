"""Controller-side plugins: the `ResultCollector` that gathers every case's `CaseResult` and writes
the run, and the `ProgressReporter` that prints status lines on long grids."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ksmith.errors import KsmithError
from ksmith.plugin.options import (
    HARNESS_KEY,
    RESULT_PROPERTY,
    Harness,
    recorded_harness,
    worker_count,
)

log = logging.getLogger(__name__)


class ResultCollector:
    """Controller-side: gathers `CaseResult`s from test reports and writes the run at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[tuple[Any, ...], Any] = {}
        self.run_dir: Path | None = None
        self.summary: list[str] = []
        self.regressed = False

    def _run_dir(self) -> Path:
        if self.run_dir is None:
            harness = recorded_harness(self.config)
            assert harness.run_dir is not None  # set by build_harness
            self.run_dir = harness.run_dir
            self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from ksmith.report.records import CaseResult
        from ksmith.report.resume import JOURNAL

        for name, value in report.user_properties:
            if name != RESULT_PROPERTY:
                continue
            result = CaseResult.from_json(value)
            self.results[result.cell] = result
            with open(self._run_dir() / JOURNAL, "a", encoding="utf-8") as journal:
                journal.write(value + "\n")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.results:
            return
        from ksmith.report.compare import compare_runs, render_comparison
        from ksmith.report.leaderboard import render_terminal
        from ksmith.report.records import read_results
        from ksmith.report.resume import JOURNAL
        from ksmith.report.run import point_latest, write_run

        harness = recorded_harness(self.config)
        results = list(self.results.values())
        run_dir = write_run(self._run_dir(), results, harness.describe())
        (run_dir / JOURNAL).unlink(missing_ok=True)
        point_latest(harness.report_dir, run_dir)
        self.summary = [render_terminal(results), "", f"ksmith report: {run_dir}"]
        if harness.baseline is not None:
            try:
                comparison = compare_runs(read_results(harness.baseline), results, harness.tolerances)
            except KsmithError as exc:
                self.summary.append(f"ksmith baseline: {exc}")
                self.regressed = True
            else:
                self.summary.append(f"ksmith baseline {harness.baseline}: " + render_comparison(comparison))
                if comparison.compared == 0:
                    self.summary.append("ksmith baseline: no cell in common with this run, nothing was compared")
                self.regressed = comparison.failed or comparison.compared == 0
            if self.regressed and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summary:
            return
        terminalreporter.section("ksmith leaderboard")
        for line in "\n".join(self.summary).splitlines():
            red = line.lstrip().startswith("REGRESSION") or (self.regressed and line.startswith("ksmith baseline"))
            terminalreporter.write_line(line, red=red)


#: Name under which the controller's `ProgressReporter` is registered.
PROGRESS_PLUGIN = "ksmith-progress"
#: Folder of the run directory where processes leave their status (removed at the end).
PROGRESS_DIR = ".progress"


def progress_folder(harness: Harness) -> Path | None:
    return None if harness.run_dir is None else harness.run_dir / PROGRESS_DIR


class ProgressReporter:
    """Controller-side status lines on long grids: cases done, each running case's phase, an ETA.

    Without xdist the running case is in this process: its phase changes come straight here
    (`update`) and are printed with output capturing suspended, as pytest's live logging does.
    Under xdist the workers leave their status in `<run_dir>/.progress/<worker>.json`, and a
    background thread here reads them and prints. Either way a line is printed at most once per
    interval (`--ksmith-progress`, 30 s by default), as a whole line of its own, so a short run
    prints none and pytest's own output (and xdist's) stays as it is.
    """

    def __init__(self, config: pytest.Config) -> None:
        from ksmith.progress import GridProgress

        self.config = config
        harness = config.stash[HARNESS_KEY]
        self.interval = float(harness.progress_interval or 30.0)
        self.folder = progress_folder(harness)
        self.grid = GridProgress(workers=worker_count(config))
        self.started = self._now()
        self.last_line = self.started
        self.durations: dict[str, float] = {}
        self.current: dict[str, Any] | None = None  # the in-process case (no xdist)
        self._stop: Any = None
        self._thread: Any = None
        self.lines: list[str] = []  # what was printed (kept for tests and the summary)

    @staticmethod
    def _now() -> float:
        import time

        return time.time()

    # -- what the grid holds -----------------------------------------------------------------
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.pluginmanager.hasplugin("dsession"):
            self.grid.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.grid.total = max(self.grid.total, len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
        if report.when == "teardown":
            self.grid.finish(self.durations.pop(report.nodeid))

    # -- printing -----------------------------------------------------------------------------
    def _write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        self.lines.append(line)

        def write() -> None:
            # a line of its own: end a row of progress dots first (write_line only does that after a path)
            if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
                reporter.line("")
            reporter.write_line(line)

        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if capture is not None and self._thread is None:
            with capture.global_and_fixture_disabled():
                write()
        else:
            write()

    def update(self, status: Mapping[str, Any]) -> None:
        """A phase change of the case running in this process (no xdist)."""
        self.current = dict(status)
        now = self._now()
        if status.get("phase") and now - self.last_line >= self.interval:  # as a phase starts
            self.last_line = now
            self._write(self.grid.line([self.current], now))

    def tick(self) -> str | None:
        """One status line from the workers' status files (xdist), or None when nothing runs."""
        from ksmith.progress import read_statuses

        if self.folder is None:
            return None
        running = read_statuses(self.folder)
        if not running:
            return None
        return self.grid.line(running, self._now())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            line = self.tick()
            if line is not None:
                self._write(line)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.config.pluginmanager.hasplugin("dsession"):
            import threading

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, name="ksmith-progress", daemon=True)
            self._thread.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
        if self.folder is not None and self.folder.is_dir():
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
