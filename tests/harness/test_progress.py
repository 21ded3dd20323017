"""`ksmith.progress`: phases (also opened from library code through logging) and the ETA."""

import logging

import pytest

from ksmith.progress import PHASE, PHASE_DONE, CaseProgress, GridProgress


def test_phases_nest_and_library_code_opens_them_through_logging() -> None:
    seen = []
    clock = iter(float(t) for t in range(100))
    progress = CaseProgress("c", seen.append, clock=lambda: next(clock))
    log = logging.getLogger("ksmith.methods.covariance")
    with progress.listening():
        with progress.phase("update"):
            log.info("computing", extra={PHASE: "key statistics"})
            assert seen[-1]["phase"] == "key statistics"
            log.info("done", extra={PHASE_DONE: "key statistics"})
            assert seen[-1]["phase"] == "update"
            log.info("an ordinary record changes nothing")
        # a nested phase left open by an error is closed with its parent
        with pytest.raises(RuntimeError), progress.phase("scoring"):
            log.info("computing", extra={PHASE: "key statistics"})
            raise RuntimeError("boom")
    assert [name for name, _ in progress.done] == ["key statistics", "update", "key statistics", "scoring"]
    assert seen[-1]["phase"] == "" and seen[-1]["phase_started"] == progress.idle_since  # between phases since then
    log.info("after the case", extra={PHASE: "key statistics"})  # no longer listening
    assert seen[-1]["phase"] == ""


def test_eta_from_finished_cases_and_running_ones() -> None:
    grid = GridProgress(total=10, workers=2)
    assert grid.eta([], now=0.0) is None
    assert "ETA after the first case" in grid.line([], now=0.0)
    grid.finish(10.0)
    grid.finish(10.0)
    running = [{"worker": "gw0", "case": "c3", "phase": "update", "case_started": 96.0, "phase_started": 99.0}]
    # 7 cases waiting x 10 s + the running one's 10 - 4 s left, over 2 workers
    assert grid.eta(running, now=100.0) == pytest.approx(38.0)
    line = grid.line(running, now=100.0)
    assert line == "ksmith progress: 2/10 cases done; gw0 c3 update 0:01 (case 0:04); ETA 0:38"
