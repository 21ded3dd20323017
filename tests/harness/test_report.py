import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from ksmith.cli import main
from ksmith.report.compare import compare_runs, parse_fail_on, render_comparison
from ksmith.report.leaderboard import build_rows, render_csv, render_markdown, render_terminal
from ksmith.report.records import CaseResult, ReportError, dumps_results, read_results
from ksmith.report.run import RUN_FILES, point_latest, write_run
from tests.harness.factory import make_result, sample_run


def test_result_round_trips_through_jsonl(tmp_path: Path) -> None:
    results = sample_run()
    (tmp_path / "results.jsonl").write_text(dumps_results(results))
    again = read_results(tmp_path)
    assert sorted(r.to_json() for r in again) == sorted(r.to_json() for r in results)
    line = json.loads(dumps_results(results[:1]))
    assert set(line) >= {"key", "status", "metrics", "timings", "provenance"}
    assert set(line["key"]) == {"model", "method", "task", "level", "scale", "seed"}
    assert set(line["metrics"]["direct_acc"]) >= {"value", "protocol", "n", "ci"}


def test_bad_results_file_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    path.write_text(dumps_results(sample_run()[:1]) + "{not json\n")
    with pytest.raises(ReportError, match=r"results.jsonl:2"):
        read_results(path)
    path.write_text('{"key": {"model": "m"}, "status": "passed"}\n')
    with pytest.raises(ReportError, match=r":1: .*lacks"):
        read_results(path)


def test_markdown_has_one_table_per_task_with_directions() -> None:
    text = render_markdown(sample_run())
    assert text.count("\n## ") == 2 and "## edit" in text and "## unlearn" in text
    assert "direct_acc ↑" in text and "ccr ↓" in text and "rr ↓" in text
    assert "0.900 ± 0.050" in text
    assert "FAILED" in text
    edit = text.split("## edit")[1].split("## unlearn")[0]
    assert "rr ↓" not in edit  # a column only where the task has it


def test_attacked_unlearning_gets_an_attacks_table_in_attack_order() -> None:
    attacked = {"rr@relearn50": 0.6, "rr@int4": 0.3, "rr_recovery@int4": 0.25, "old_logprob_shift@int4": -2.0}
    results = sample_run() + [make_result("npo", "unlearn", "leaf", 30, rr=0.05, old_logprob_shift=-4.0, **attacked)]
    text = render_markdown(results)
    table = text.split("### unlearn: attacks")[1]
    header = next(line for line in table.splitlines() if "| method" in line)
    names = [cell.strip().split(" ")[0] for cell in header.strip("|").split("|")]
    names = names[names.index("method") + 1:]
    assert names[:6] == ["rr", "rr@int4", "rr@relearn50", "rr_recovery@int4", "old_logprob_shift",
                         "old_logprob_shift@int4"]
    assert "0.300 ± 0.050" in table
    assert "attacks" not in text.split("## unlearn")[0]  # edit cells were not attacked
    assert "### unlearn: attacks" not in render_markdown(sample_run())  # nothing attacked, no table


def test_columns_never_mix_protocols() -> None:
    from ksmith.report.records import MetricValue

    a = make_result("rome", direct_acc=0.9)
    b = CaseResult(a.key | {"seed": 1}, "passed", {"direct_acc@mcq_norm": MetricValue(0.5, "mcq_norm", 40)})
    rows = build_rows([a, b])
    assert len(rows) == 1
    protocols = {c.protocol for c in rows[0].cells}
    assert protocols == {"mcq", "mcq_norm"}
    assert {cell.n_seeds for cell in rows[0].cells.values()} == {1}


def test_seeds_are_averaged_with_a_t_interval() -> None:
    rows = build_rows([make_result(seed=0, direct_acc=0.8), make_result(seed=1, direct_acc=1.0)])
    (cell,) = rows[0].cells.values()
    assert cell.value == pytest.approx(0.9)
    assert cell.half_width == pytest.approx(12.706 * 0.1414 / 1.4142, rel=1e-3)


def test_terminal_and_csv() -> None:
    text = render_terminal(sample_run())
    assert "[edit]" in text and "[unlearn]" in text and "0.90 ± 0.05" in text
    csv_text = render_csv(sample_run())
    header = csv_text.splitlines()[0].split(",")
    assert header[:5] == ["model", "task", "level", "scale", "method"]
    assert "direct_acc" in header and "direct_acc_hw" in header


def test_run_directory_and_latest_link(tmp_path: Path) -> None:
    first = write_run(tmp_path / "run-a", sample_run())
    point_latest(tmp_path, first)
    second = write_run(tmp_path / "run-b", sample_run()[:3])
    point_latest(tmp_path, second)
    assert sorted(os.listdir(second)) == sorted(RUN_FILES)
    assert (tmp_path / "latest").resolve() == second.resolve()
    assert len(read_results(tmp_path / "latest")) == 3
    html = (second / "index.html").read_text()
    assert html.count("<svg") >= 2 and "<table" in html and "src=\"http" not in html


def test_gate_fails_on_a_planted_regression_and_passes_on_an_identical_run() -> None:
    base = sample_run()
    tolerances = parse_fail_on("direct_acc:0.02,ccr:0.02")
    same = compare_runs(base, base, tolerances)
    assert not same.failed and same.compared == len(base)
    planted = [
        make_result("rome", "edit", "leaf", 10, direct_acc=0.7, contextual_acc=0.95, ccr=0.02, multi_hop_acc=0.4)
        if r.case_id == "tiny-kg-rome-edit-leaf-k10-s0" else r
        for r in base
    ]
    worse = compare_runs(base, planted, tolerances)
    assert worse.failed
    assert [r.case_id for r in worse.regressions] == ["tiny-kg-rome-edit-leaf-k10-s0"]
    # within tolerance, and in the good direction, is not a regression
    nudged = [make_result("rome", "edit", "leaf", 10, direct_acc=0.89, ccr=0.0) if r.case_id.startswith("tiny-kg-rome-edit-leaf-k10") else r for r in base]
    assert not compare_runs(base, nudged, tolerances).failed
    # a down-metric going up is a regression
    collateral = [make_result("rome", "edit", "leaf", 10, direct_acc=0.9, ccr=0.2) if r.case_id.startswith("tiny-kg-rome-edit-leaf-k10") else r for r in base]
    assert [r.metric for r in compare_runs(base, collateral, tolerances).regressions] == ["ccr"]
    # a case that passed before and crashes now fails the gate
    crashed = [make_result("rome", "edit", "leaf", 10, status="failed") if r.case_id.startswith("tiny-kg-rome-edit-leaf-k10") else r for r in base]
    assert compare_runs(base, crashed, tolerances).failed


def test_gate_fails_only_past_the_tolerance_and_the_intervals() -> None:
    """The factory's intervals are value ± 0.05, so a drop counts past sqrt(0.05² + 0.05²) = 0.0707:
    a difference test, not an overlap test (0.90 -> 0.82 overlaps, 0.85-0.95 against 0.77-0.87,
    and still regresses)."""
    base = sample_run()
    tolerances = parse_fail_on("direct_acc:0.02")
    cell = "tiny-kg-rome-edit-leaf-k10"

    def run_with(direct: float) -> list:
        return [make_result("rome", "edit", "leaf", 10, direct_acc=direct) if r.case_id.startswith(cell) else r for r in base]

    noisy = compare_runs(base, run_with(0.84), tolerances)
    assert not noisy.failed and [r.metric for r in noisy.within_noise] == ["direct_acc"]
    assert "within noise" in noisy.within_noise[0].describe()
    assert "within noise" in render_comparison(noisy) and "REGRESSION" not in render_comparison(noisy)
    (beyond,) = compare_runs(base, run_with(0.82), tolerances).regressions
    assert beyond.significant is True and "beyond the 95% intervals" in beyond.describe()
    # past the intervals but inside the tolerance: not a regression either
    assert not compare_runs(base, run_with(0.82), parse_fail_on("direct_acc:0.1")).failed


def test_gate_without_intervals_falls_back_to_the_tolerance_and_says_so() -> None:
    def bare(direct: float) -> list:
        result = make_result("rome", "edit", "leaf", 1, direct_acc=direct)
        return [replace(result, metrics={"direct_acc": replace(result.metrics["direct_acc"], ci=None)})]

    tolerances = parse_fail_on("direct_acc:0.1")
    (found,) = compare_runs(bare(1.0), bare(0.8), tolerances).regressions
    assert found.significant is None and "no interval: tolerance alone" in found.describe()
    assert not compare_runs(bare(1.0), bare(0.95), tolerances).failed


def test_relative_tolerance_and_bad_specs() -> None:
    (tol,) = parse_fail_on("direct_acc:5%")
    assert tol.relative and tol.allowed(0.8) == pytest.approx(0.04)
    for bad in ("direct_acc", "direct_acc:x", ":0.1", "direct_acc:-1", ""):
        with pytest.raises(ReportError, match="METRIC:DELTA"):
            parse_fail_on(bad)


def test_cli_compare_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = write_run(tmp_path / "base", sample_run())
    planted = [make_result("rome", "edit", "root", 1, direct_acc=0.5) if r.case_id == "tiny-kg-rome-edit-root-k1-s0" else r for r in sample_run()]
    new = write_run(tmp_path / "new", planted)
    assert main(["compare", str(base), str(base), "--fail-on", "direct_acc:0.02"]) == 0
    assert main(["compare", str(base), str(new), "--fail-on", "direct_acc:0.02"]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION tiny-kg-rome-edit-root-k1-s0: direct_acc" in out
    assert main(["compare", str(base), str(new), "--fail-on", "direct_acc"]) == 2
    assert main(["compare", str(tmp_path / "nope"), str(new), "--fail-on", "direct_acc:0.1"]) == 2

    # regenerate one run in place
    (base / "leaderboard.md").unlink()
    assert main(["report", str(base)]) == 0
    assert (base / "leaderboard.md").exists()


def test_cli_merges_shards(tmp_path: Path) -> None:
    results = sample_run()
    a = write_run(tmp_path / "reports" / "shard1", results[::2])
    b = write_run(tmp_path / "reports" / "shard2", results[1::2])
    from ksmith.report.samples import read_samples, samples_path, write_samples
    from tests.harness.factory import sample_line

    case = results[0].case_id
    write_samples(samples_path(a, case), [sample_line("x/direct/0")])
    assert main(["report", str(a), str(b)]) == 0
    merged = (tmp_path / "reports" / "latest").resolve()
    assert read_samples(samples_path(merged, case)) == [sample_line("x/direct/0")]  # samples travel with the shard
    assert f'id="case-{case}"' in (merged / "index.html").read_text()
    assert merged.name not in ("shard1", "shard2")
    assert sorted(r.to_json() for r in read_results(merged)) == sorted(r.to_json() for r in results)
    info = json.loads((merged / "leaderboard.json").read_text())["run"]
    assert info["merged_from"] == ["shard1", "shard2"]


def test_leaderboard_shows_units_and_executed() -> None:
    from ksmith.report.records import MetricValue

    base = make_result("rome", direct_acc=0.9)
    metrics = dict(base.metrics) | {"q_plus_acc": MetricValue(0.8, "mcq", 120, (0.7, 0.9), 0.75, True, 10)}
    result = CaseResult(base.key, "passed", metrics)
    text = render_markdown([result])
    header = next(line for line in text.splitlines() if line.startswith("| level"))
    assert "units" in header and "executed" in header
    row = next(line for line in text.splitlines() if "rome" in line)
    assert "| 10 " in row and "| 0.75 " in row
    assert "n_units,executed" in render_csv([result]).splitlines()[0]
    again = CaseResult.from_json(result.to_json())
    assert again.metrics["q_plus_acc"].n_units == 10


def test_summary_names_the_best_method_and_how_sure() -> None:
    from ksmith.report.summary import summarise

    results = []
    for level, scale, rome, ftm in (("root", 1, 0.9, 0.8), ("leaf", 1, 0.92, 0.8), ("leaf", 10, 0.88, 0.81)):
        results.append(make_result("rome", "edit", level, scale, direct_acc=rome, ccr=0.1, contextual_acc=0.9))
        results.append(make_result("ft-m", "edit", level, scale, direct_acc=ftm, ccr=0.05, contextual_acc=0.9))
    best = {b.metric: b for b in summarise(build_rows(results))["edit"]}
    # direct_acc: paired differences 0.10, 0.12, 0.07 over 3 cells; t-interval (t_0.975,2 = 4.303)
    direct = best["direct_acc"]
    assert (direct.method, direct.runner_up, direct.common, direct.wins) == ("rome", "ft-m", 3, 3)
    assert direct.diff == pytest.approx(0.29 / 3)
    sd = (((0.10 - 0.29 / 3) ** 2 + (0.12 - 0.29 / 3) ** 2 + (0.07 - 0.29 / 3) ** 2) / 2) ** 0.5
    assert direct.diff_ci[0] == pytest.approx(0.29 / 3 - 4.303 * sd / 3 ** 0.5, rel=1e-3)
    assert direct.verdict == "clear" and direct.how_sure().startswith("clear")
    # ccr is lower-is-better: ft-m wins
    assert best["ccr"].method == "ft-m" and best["ccr"].diff == pytest.approx(0.05)
    # the same value everywhere is a tie, never "clear", and both methods are named as best
    tie = best["contextual_acc"]
    assert tie.label == "ft-m = rome" and tie.runner_up is None and tie.how_sure().startswith("tie")
    assert not tie.clear
    # one common cell: the two intervals (+-0.05) decide; 0.9 vs 0.8 are apart only just, 0.9 vs 0.85 are not
    one = summarise(build_rows([make_result("rome", direct_acc=0.9), make_result("ft-m", direct_acc=0.85)]))
    assert one["edit"][0].verdict == "within noise"


def test_identical_differences_are_judged_by_the_cells_intervals() -> None:
    from ksmith.report.summary import summarise

    # ahead by exactly 0.04 in both cells: the t-interval has no width; the +-0.05 intervals overlap
    results = [make_result("rome", "edit", "leaf", k, direct_acc=0.9) for k in (1, 10)]
    results += [make_result("ft-m", "edit", "leaf", k, direct_acc=0.86) for k in (1, 10)]
    (direct,) = summarise(build_rows(results))["edit"]
    assert direct.method == "rome" and direct.verdict == "within noise"
