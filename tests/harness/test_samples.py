"""`--ksmith-log-samples` end to end, `ksmith show`, and the progress lines, on one real smoke run.

The run: tiny-kg-small (the smoke grid's model), ROME, k = 1, edit and unlearn (two cells), on two
xdist workers, so the samples are written by workers and read by the controller, as in a real grid.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ksmith.cli import main
from ksmith.report.records import read_results
from ksmith.report.samples import read_samples, samples_path

REPO = Path(__file__).resolve().parents[2]

#: Every field a samples line carries (README, "What a run writes").
FIELDS = {
    "id", "task", "type", "family", "level", "hop", "domain", "intervention_id", "held_out", "prompt", "prefix",
    "options", "answer_before", "answer_after", "avoid", "executed", "loglik_before", "loglik_after",
    "value_before", "value_after", "choice_before", "choice_after", "changed", "correct_after", "flip",
}
CASES = ("tiny-kg-small-rome-edit-leaf-k1-s0", "tiny-kg-small-rome-unlearn-leaf-k1-s0")


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """(run directory, the pytest process) of one smoke run with samples and progress lines."""
    root = tmp_path_factory.mktemp("smoke")
    (root / "conftest.py").write_text('pytest_plugins = ("ksmith.fixtures.harness",)\n')
    (root / "test_update.py").write_text((REPO / "bench" / "test_update.py").read_text())
    (root / "pytest.ini").write_text(
        "[pytest]\nksmith_grid = smoke\nksmith_methods = rome\nksmith_tasks = edit,unlearn\n"
        "ksmith_protocols = mcq,mcq_norm,prob_compare,token_acc,gen_match\nksmith_log_samples = true\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    process = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--ksmith-progress", "0.5",
         "--ksmith-report-dir", "reports"],
        cwd=root, env=env, capture_output=True, text=True, timeout=900,
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-2000:]
    return (root / "reports" / "latest").resolve(), process


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=lambda i: (values[i], -i))


def test_samples_hold_every_field_and_give_back_the_recorded_direct_acc(smoke: tuple[Path, Any]) -> None:
    run, _ = smoke
    results = {r.case_id: r for r in read_results(run)}
    assert set(results) == set(CASES)
    for case in CASES:
        lines = read_samples(samples_path(run, case))
        assert len(lines) == results[case].n_probes > 0
        for line in lines:
            assert FIELDS <= set(line), FIELDS - set(line)
            assert len(line["options"]) == 4 and line["prompt"]
            for side in ("before", "after"):
                for protocol in ("mcq", "mcq_norm"):  # the logged choice is the logged scores' argmax
                    assert line[f"choice_{side}"][protocol] == _argmax(line[f"loglik_{side}"][protocol])
                assert set(line[f"choice_{side}"]) == {"mcq", "mcq_norm", "prob_compare", "token_acc", "gen_match"}
                assert isinstance(line[f"generated_{side}"], str)
                assert set(line[f"value_{side}"]) >= {"prob_compare", "token_acc", "gen_match"}
        # direct_acc, recomputed by hand: held-in direct probes kept by the precondition; an edit is
        # right when it picks the new object, an unlearning when it no longer picks the old one
        direct = [line for line in lines if line["type"] == "direct" and not line["held_out"] and line["executed"]]
        if lines[0]["task"] == "edit":
            right = [line["choice_after"]["mcq"] == line["answer_after"] for line in direct]
        else:
            right = [line["choice_after"]["mcq"] != line["avoid"] for line in direct]
        recorded = results[case].metrics["direct_acc"]
        assert recorded.n == len(direct)
        assert recorded.value == pytest.approx(sum(right) / len(right), abs=1e-12)
        assert "samples_s" in results[case].timings


def test_samples_record_the_attacked_answers_and_give_back_rr_under_each_attack(smoke: tuple[Path, Any]) -> None:
    run, _ = smoke
    results = {r.case_id: r for r in read_results(run)}
    edit, unlearn = CASES
    assert not any("attacked" in line for line in read_samples(samples_path(run, edit)))  # editing is not attacked
    lines = [line for line in read_samples(samples_path(run, unlearn)) if "attacked" in line]
    assert lines and all(line["family"] == "Q+" for line in lines)
    result = results[unlearn]
    for attack in ("int8", "int4", "relearn10", "relearn50"):
        for line in lines:
            assert line["attacked"][attack]["choice"] == _argmax(line["attacked"][attack]["loglik"])
        kept = [line["attacked"][attack]["choice"] == line["avoid"] for line in lines if line["executed"]]
        recorded = result.metrics[f"rr@{attack}"]
        assert recorded.n == len(kept) and recorded.value == pytest.approx(sum(kept) / len(kept), abs=1e-12)
        assert f"rr_control@{attack}" in result.metrics
    assert {"attack_int8_s", "attack_int4_s", "attack_relearn50_s", "attack_control_s"} <= set(result.timings)
    relearned = result.provenance["attack_data"]["relearn"]
    assert relearned["pairs"] > 0 and relearned["steps"] == [10, 50] and len(relearned["pairs_sha256"]) == 16


def test_the_page_drills_down_into_the_samples(smoke: tuple[Path, Any]) -> None:
    run, _ = smoke
    page = (run / "index.html").read_text()
    for case in CASES:
        assert f'id="case-{case}"' in page
    assert "No samples for this case" not in page
    assert "flipped right" in page


def test_ksmith_show_lists_cases_and_probes_flipped_first(smoke: tuple[Path, Any], capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = smoke
    assert main(["show", str(run)]) == 0
    out = capsys.readouterr().out
    assert all(case in out for case in CASES) and "flipped right" in out

    case = CASES[0]
    lines = read_samples(samples_path(run, case))
    assert main(["show", str(run), case]) == 0
    table = capsys.readouterr().out.splitlines()
    rows = [row for row in table if "/direct/" in row or "/reverse/" in row or "/contextual/" in row
            or "/multi_hop/" in row or "/comparison/" in row or "/conflict/" in row]
    assert len(rows) == len(lines)
    flipped = sum(1 for line in lines if line["flip"])
    assert flipped > 0  # ROME moves the edited fact's answers on tiny-kg-small
    assert all(row.split()[0] in ("right", "wrong") for row in rows[:flipped])  # flipped first
    assert not any(row.split()[0] in ("right", "wrong") for row in rows[flipped:])

    assert main(["show", str(run), case, "--type", "direct"]) == 0
    rows = [row for row in capsys.readouterr().out.splitlines() if "edit-leaf-s0-" in row]
    assert len(rows) == sum(1 for line in lines if line["type"] == "direct")
    assert all(" direct " in row for row in rows)
    assert main(["show", str(run), case, "--changed"]) == 0
    rows = [row for row in capsys.readouterr().out.splitlines() if "edit-leaf-s0-" in row]
    assert len(rows) == sum(1 for line in lines if line["changed"])
    assert main(["show", str(run), case, "--wrong"]) == 0
    rows = [row for row in capsys.readouterr().out.splitlines() if "edit-leaf-s0-" in row]
    assert len(rows) == sum(1 for line in lines if line["correct_after"] is False)
    assert all(row.split()[-1] == "no" for row in rows)


def test_ksmith_show_errors_exit_2(smoke: tuple[Path, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run, _ = smoke
    assert main(["show", str(tmp_path / "nope")]) == 2
    assert "no such run" in capsys.readouterr().err
    assert main(["show", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    assert main(["show", str(run), "tiny-kg-small-rome-edit-root-k1-s0"]) == 2
    err = capsys.readouterr().err
    assert "no case 'tiny-kg-small-rome-edit-root-k1-s0'" in err and "did you mean" in err
    assert main(["show", str(run), CASES[0], "--type", "sideways"]) == 2
    assert "--type 'sideways'" in capsys.readouterr().err
    assert main(["show", str(run), "--changed"]) == 2
    assert "name a CASE" in capsys.readouterr().err


def test_progress_lines_under_xdist(smoke: tuple[Path, Any]) -> None:
    run, process = smoke
    lines = [line for line in process.stdout.splitlines() if line.startswith("ksmith progress:")]
    assert lines, process.stdout[-2000:]
    assert any(case in line for line in lines for case in CASES)
    assert any(f" {phase} " in line for line in lines for phase in ("model", "pre-scores", "update", "scoring", "key statistics"))
    assert "2 passed" in process.stdout  # pytest's own summary is intact
    assert not (run / ".progress").exists()  # status files are cleaned up


def test_progress_file_lines_are_json(tmp_path: Path) -> None:
    """A status file is one JSON object (what the controller reads)."""
    from ksmith.progress import CaseProgress, StatusFile, read_statuses

    sink = StatusFile(tmp_path, "gw0")
    times = iter([100.0, 101.0, 103.5, 110.0])
    progress = CaseProgress("case-a", sink, clock=lambda: next(times))
    with progress.phase("update"):
        (status,) = read_statuses(tmp_path)
        assert status["worker"] == "gw0" and status["phase"] == "update" and status["case"] == "case-a"
    assert json.loads(sink.path.read_text())["done"] == [["update", 2.5]]
    sink.clear()
    assert read_statuses(tmp_path) == []
