"""`ksmith ci`'s decisions (exit codes, what is recorded, what is passed to pytest), with the two
pytest runs replaced by a stand-in that writes a run of hand-made results (no model)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import ksmith.ci
from ksmith.cli import main
from ksmith.report.records import CaseResult
from ksmith.report.run import new_run_id, write_run
from tests.harness.factory import make_result

PROVENANCE = {"code_version": "1", "world_hash": "w", "dataset_hash": "d", "model_spec": "tiny-kg-small", "model_hash": "m"}


def cell(direct: float = 1.0, status: str = "passed", **provenance: Any) -> CaseResult:
    result = make_result("rome", "edit", "leaf", 1, status=status, model="tiny-kg-small", direct_acc=direct, ccr=0.0)
    return replace(result, provenance={**PROVENANCE, **provenance})


class FakePytest:
    """Records each pytest command; the grid run writes `results` as a run under --ksmith-report-dir."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, results: list[CaseResult], conformance: int = 0) -> None:
        self.results, self.conformance, self.calls = results, conformance, []
        monkeypatch.setattr(ksmith.ci, "_pytest", self)

    def __call__(self, args: list[str], root: Path, env: dict[str, str]) -> int:
        self.calls.append(list(args))
        if "--pyargs" in args:
            return self.conformance
        report_dir = Path(args[args.index("--ksmith-report-dir") + 1])
        write_run(report_dir / new_run_id(), self.results, {})
        return 0 if all(r.status == "passed" for r in self.results) else 1

    def grid_options(self) -> dict[str, str]:
        args = self.calls[-1]
        return {a[len("--ksmith-"):]: args[i + 1] for i, a in enumerate(args) if a.startswith("--ksmith-")}


def ci(tmp_path: Path, *args: str) -> int:
    return main(["ci", "--methods", "rome", "--baseline", str(tmp_path / "b.json"), "--report-dir", str(tmp_path / "r"), *args])


def test_update_records_the_grid_then_the_gate_reuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePytest(monkeypatch, [cell()])
    assert ci(tmp_path, "--update-baseline", "--levels", "leaf", "--fail-on", "direct_acc:0.2") == 0
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["provenance"]["grid"] == {"grid": "smoke", "levels": "leaf"}
    assert data["fail_on"] == "direct_acc:0.2"
    assert fake.grid_options()["levels"] == "leaf"
    assert ci(tmp_path) == 0  # no grid option given: the baseline's are used
    assert fake.grid_options() == {"methods": "rome", "report-dir": str((tmp_path / "r").resolve()), "grid": "smoke", "levels": "leaf"}
    assert "ksmith ci: PASSED (exit 0)" in capsys.readouterr().out
    fake.results = [cell(direct=0.7)]
    assert ci(tmp_path) == 1
    assert "REGRESSION tiny-kg-small-rome-edit-leaf-k1-s0: direct_acc" in capsys.readouterr().out


def test_stale_fails_unless_allowed_and_says_what_changed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakePytest(monkeypatch, [cell()])
    assert ci(tmp_path, "--update-baseline") == 0
    fake.results = [cell(direct=0.0, world_hash="w2")]
    assert ci(tmp_path) == 1
    out = capsys.readouterr().out
    assert "STALE tiny-kg-small-rome-edit-leaf-k1-s0: baseline does not apply (world_hash w -> w2)" in out
    assert "REGRESSION" not in out and "ksmith ci: STALE BASELINE (exit 1)" in out
    assert ci(tmp_path, "--allow-stale") == 0
    assert "STALE BASELINE (ALLOWED) (exit 0)" in capsys.readouterr().out


def test_a_failing_run_writes_no_baseline_and_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    FakePytest(monkeypatch, [cell(status="failed")])
    assert ci(tmp_path, "--update-baseline") == 1
    assert not (tmp_path / "b.json").exists()
    out = capsys.readouterr().out
    assert "FAILED tiny-kg-small-rome-edit-leaf-k1-s0" in out and "not written" in out


def test_a_conformance_failure_fails_even_when_the_gate_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePytest(monkeypatch, [cell()])
    assert ci(tmp_path, "--update-baseline") == 0
    fake.conformance = 1
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert ci(tmp_path) == 1
    out = capsys.readouterr().out
    assert "conformance  FAIL" in out and "gate         PASS" in out
    assert "::error title=ksmith ci conformance::" in out  # on the workflow run's summary page
