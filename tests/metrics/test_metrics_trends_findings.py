"""Trend rules and the findings report on planted results: each verdict follows its written rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksmith.cli import main
from ksmith.errors import KsmithError
from ksmith.findings.estimates import INCONCLUSIVE, NOT_REPRODUCED, REPRODUCED, Estimate, above, pooled
from ksmith.findings.rules import (
    collapse,
    describe_profile,
    domains,
    drift_shapes,
    evaluate,
    geometry_view,
    levels,
    spread,
)
from ksmith.metrics.trends import consistency_collapse, curve_shape
from ksmith.report.records import CaseResult, MetricValue, dumps_results


def metric(
    value: float, half: float | None = 0.02, protocol: str = "mcq"
) -> MetricValue:
    ci = None if half is None else (value - half, value + half)
    return MetricValue(value, protocol, 100, ci)


def case(
    method: str,
    task: str,
    level: str = "leaf",
    scale: int = 10,
    status: str = "passed",
    model: str = "tiny-kg",
    **metrics: float,
) -> CaseResult:
    key = {
        "model": model,
        "method": method,
        "task": task,
        "level": level,
        "scale": scale,
        "seed": 0,
    }
    return CaseResult(
        key=key, status=status, metrics={n: metric(v) for n, v in metrics.items()}
    )


# -- trends -----------------------------------------------------------------------------------


def test_collapse_needs_a_significant_fall_with_reverse_holding() -> None:
    direct = {1: (0.95, (0.9, 1.0)), 10: (0.9, (0.85, 0.95)), 100: (0.4, (0.3, 0.5))}
    held = {1: (0.8, None), 10: (0.8, None), 100: (0.78, None)}
    res = consistency_collapse(direct, held)
    assert (
        res.collapsed
        and res.k_critical == 100
        and res.direct_drop == pytest.approx(0.55)
    )
    fell_too = {1: (0.8, None), 10: (0.8, None), 100: (0.3, None)}
    res = consistency_collapse(direct, fell_too)
    assert (
        not res.collapsed
        and res.direct_drop > 0
        and res.reverse_drop == pytest.approx(0.5)
    )
    noisy = {
        1: (0.95, (0.4, 1.0)),
        10: (0.6, (0.3, 0.9)),
    }  # a big fall, but within the noise
    assert not consistency_collapse(noisy, held).collapsed
    assert consistency_collapse(noisy, held).direct_drop == 0.0


def test_curve_shapes() -> None:
    assert curve_shape({1: 0.6, 10: 0.9, 100: 1.0}).shape == "plateau"
    abrupt = curve_shape({1: 0.01, 10: 0.02, 100: 1.0, 1000: 1.05})
    assert abrupt.shape == "abrupt" and abrupt.k_critical == 100
    assert curve_shape({1: 0.3, 10: 0.6, 100: 1.0}).shape == "gradual"
    assert curve_shape({1: 0.6, 10: 1.0, 100: 0.9}).shape == "plateau"  # a dip at the end is no rise
    assert curve_shape({1: 0.0, 10: 0.0, 100: 1e-5}).shape == "none"
    with pytest.raises(KsmithError):
        curve_shape({1: 0.1, 10: 0.2})


# -- pooling -----------------------------------------------------------------------------------


def test_pooled_interval_of_identical_cells_is_one_cells_interval() -> None:
    one = pooled([case("a", "edit", ccr=0.2)], "ccr")
    two = pooled([case("a", "edit", ccr=0.2), case("a", "edit", ccr=0.2)], "ccr")
    four = pooled([case(m, "edit", ccr=0.2) for m in "abcd"], "ccr")
    assert one.value == two.value == four.value == pytest.approx(0.2)
    assert one.ci == pytest.approx((0.18, 0.22))
    assert two.ci == pytest.approx(one.ci) and four.ci == pytest.approx(one.ci)  # no narrower
    assert two.cells == 2
    assert pooled([case("a", "edit")], "ccr") is None
    assert above(Estimate(0.5, (0.45, 0.55), 1), Estimate(0.3, (0.25, 0.35), 1))
    assert not above(Estimate(0.5, (0.3, 0.7), 1), Estimate(0.3, (0.25, 0.35), 1))
    assert not above(Estimate(0.9, None, 1), Estimate(0.1, (0.05, 0.15), 1))  # no interval: never significant


def test_pooled_interval_covers_the_spread_between_cells() -> None:
    cells = [case(m, "edit", ccr=v) for m, v in zip("abcdefgh", (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8))]
    est = pooled(cells, "ccr")
    assert est.value == pytest.approx(0.45)
    assert est.lo < 0.35 and est.hi > 0.55  # far wider than any one cell's ±0.02


def test_comparisons_use_only_cells_present_on_every_side() -> None:
    from ksmith.findings.estimates import MATCH_LEVELS, compare

    root = [case("rome", "edit", "root", k, direct_acc=0.5) for k in (1, 4, 16)]  # root cannot supply k=64
    leaf = [case("rome", "edit", "leaf", k, direct_acc=0.5) for k in (1, 4, 16)]
    leaf.append(case("rome", "edit", "leaf", 64, direct_acc=0.0))
    est = compare({"root": root, "leaf": leaf}, "direct_acc", MATCH_LEVELS)
    assert est["root"].cells == est["leaf"].cells == 3
    assert est["leaf"].value == pytest.approx(0.5)  # leaf's k=64 cell is left out of the comparison
    assert levels(root + leaf).verdict == INCONCLUSIVE  # unmatched pooling would call root easier


# -- each finding on planted results --------------------------------------------------------------


def spread_cells(
    e_os: float, u_os: float, e_pr: float, u_pr: float
) -> list[CaseResult]:
    return [
        case("rome", "edit", over_spread=e_os, propagation=e_pr, ccr=e_os),
        case("memit", "edit", over_spread=e_os, propagation=e_pr, ccr=e_os),
        case("npo", "unlearn", over_spread=u_os, propagation=u_pr, ccr=u_os),
    ]


def test_spread_verdicts() -> None:
    assert spread(spread_cells(0.3, 0.05, 0.8, 0.3)).verdict == REPRODUCED
    assert spread(spread_cells(0.05, 0.3, 0.8, 0.3)).verdict == NOT_REPRODUCED
    assert spread(spread_cells(0.3, 0.29, 0.8, 0.3)).verdict == INCONCLUSIVE


def test_level_verdicts() -> None:
    cells = [
        case("rome", "edit", "root", direct_acc=0.5),
        case("rome", "edit", "leaf", direct_acc=0.9),
    ]
    assert levels(cells).verdict == REPRODUCED
    flipped = [
        case("rome", "edit", "root", direct_acc=0.9),
        case("rome", "edit", "leaf", direct_acc=0.5),
    ]
    assert levels(flipped).verdict == NOT_REPRODUCED
    assert (
        levels([case("rome", "edit", "root", direct_acc=0.9)]).verdict == INCONCLUSIVE
    )


def test_without_root_cells_intermediate_stands_in_for_root() -> None:
    """The real world states no fact on a root: the level finding reads intermediate vs leaf."""
    cells = [
        case("rome", "edit", "intermediate", direct_acc=0.5),
        case("rome", "edit", "leaf", direct_acc=0.9),
    ]
    f = levels(cells)
    assert f.verdict == REPRODUCED
    assert any(label == "direct_acc, edit, intermediate ↑ (matched cells)" for label, _ in f.rows)
    assert any("no root cell" in note for note in f.notes)
    with_root = cells + [case("rome", "edit", "root", direct_acc=0.95)]
    assert levels(with_root).verdict == NOT_REPRODUCED  # root is read when the run has it


def test_drift_table_prints_kl_and_cka_beside_the_papers_numbers() -> None:
    cells = [
        case("rome", "edit", scale=k, drift_kl=kl, drift_cka=d)
        for k, kl, d in ((1, 0.02, 0.01), (10, 0.08, 0.05), (100, 0.1, 0.2))
    ]
    rows = dict(drift_shapes(cells).rows)
    assert rows["drift per k, edit, k=10 (pooled over methods)"] == (
        "KL 0.08 = 0.800 of its max, CKA 0.950; paper (normalised): KL 0.522, CKA 0.852"
    )
    assert "k=4" not in " ".join(rows)  # only the run's k


def test_each_model_gets_its_own_verdicts(tmp_path: Path) -> None:
    """Pooling two models would let one hide the other: the report tests each on its own cells, and
    the verdict table says where models (and a compared run) disagree."""
    run = tmp_path / "20260101T000000Z-real"
    run.mkdir()
    agree = spread_cells(0.3, 0.05, 0.8, 0.3)
    disagree = [
        case(c.key["method"], c.key["task"], model="gemma3-270m", **{n: m.value for n, m in c.metrics.items()})
        for c in spread_cells(0.05, 0.3, 0.8, 0.3)
    ]
    smol = [
        case(c.key["method"], c.key["task"], model="smollm2-135m", **{n: m.value for n, m in c.metrics.items()})
        for c in agree
    ]
    (run / "results.jsonl").write_text(dumps_results(smol + disagree))
    tiny = tmp_path / "20250101T000000Z-tiny"
    tiny.mkdir()
    (tiny / "results.jsonl").write_text(dumps_results(agree))
    assert main(["findings", str(run), "--no-world", "--compare", str(tiny)]) == 0
    text = (run / "findings.md").read_text()
    header = "| finding | gemma3-270m | smollm2-135m | tiny-kg (run 20250101T000000Z-tiny) | verdicts |"
    assert header in text
    assert (
        "| [Editing over-spreads, unlearning under-spreads](#gemma3-270m-spread) | ❌ not reproduced | "
        "✅ reproduced | ✅ reproduced | **differ** |"
    ) in text
    assert "## smollm2-135m" in text and "## gemma3-270m" in text
    assert (run / "findings_smollm2-135m_spread.png").is_file()
    assert "published defaults" in text and "tiny-kg" not in text.split("## gemma3-270m")[1]
    assert main(["findings", str(run), "--no-world", "--compare", str(tmp_path / "missing")]) == 2


def test_findings_on_a_real_world_run_profile_the_real_worlds_domains(tmp_path: Path) -> None:
    from dataclasses import replace

    from ksmith.world.real import load_real_world

    run = tmp_path / "20260101T000000Z-rw"
    run.mkdir()
    provenance = {"world": {"source": "real", "domains": ["biology", "history"], "size": "default"},
                  "world_hash": load_real_world().hash}
    cells = [replace(c, provenance=provenance) for c in spread_cells(0.3, 0.05, 0.8, 0.3)]
    (run / "results.jsonl").write_text(dumps_results(cells))
    assert main(["findings", str(run)]) == 0
    domains_section = (run / "findings.md").read_text().split('<a id="domains"></a>')[1]
    assert "What differs between the domains' schemas in this world" in domains_section


def test_drift_verdicts() -> None:
    cells = []
    for k, e, u in ((1, 0.6, 0.01), (10, 0.9, 0.02), (100, 1.0, 1.0)):
        cells += [
            case("rome", "edit", scale=k, drift_kl=e),
            case("ike", "edit", scale=k, drift_kl=0.0),
        ]
        cells += [case("npo", "unlearn", scale=k, drift_kl=u)]
    f = drift_shapes(cells)
    assert f.verdict == REPRODUCED
    assert (
        any("ike" in label for label, _ in f.rows) is False
    )  # in-context editing has no weight drift
    assert (
        drift_shapes([c for c in cells if c.key["scale"] != 100]).verdict
        == INCONCLUSIVE
    )


def test_collapse_verdicts() -> None:
    def cells(rev_end: float) -> list[CaseResult]:
        return [
            case("memit", "edit", scale=k, direct_acc=d, reverse_acc=r)
            for k, d, r in ((1, 0.95, 0.7), (10, 0.9, 0.7), (100, 0.3, rev_end))
        ]

    assert collapse(cells(0.68)).verdict == REPRODUCED
    assert collapse(cells(0.2)).verdict == NOT_REPRODUCED
    steady = [
        case("memit", "edit", scale=k, direct_acc=0.9, reverse_acc=0.7)
        for k in (1, 10, 100)
    ]
    assert collapse(steady).verdict == INCONCLUSIVE
    # direct falls but no reverse probe was measured (a model that knows no reverse fact): a missing
    # reverse_acc is not a low one, so the fall decides nothing
    unmeasured = [case("memit", "edit", scale=k, direct_acc=d) for k, d in ((1, 0.95), (10, 0.9), (100, 0.3))]
    found = collapse(unmeasured)
    assert found.verdict == INCONCLUSIVE
    assert found.rows == [
        ("memit (direct/reverse)", "direct falls, reverse not measured there (k=1: 0.95/—, k=10: 0.90/—, k=100: 0.30/—)")
    ]
    # seed 1 lost its k=1 direct probes to the precondition filter and seed 2 has no k=100 cell: no
    # (model, level, seed) group has direct_acc at every k, and the report says so (not "no cells")
    from dataclasses import replace

    def seeded(c: CaseResult, seed: int) -> CaseResult:
        return replace(c, key={**c.key, "seed": seed})

    one, ten, hundred = cells(0.68)
    gap = [seeded(ten, 1), seeded(hundred, 1), seeded(one, 2), seeded(ten, 2)]
    found = collapse(gap)
    assert found.verdict == INCONCLUSIVE and not found.rows
    assert found.notes == [
        "memit: direct_acc at 0 scale(s) over the (model, level, seed) groups that have it at every k "
        "of the run (4 cell(s)); a fall needs 2."
    ]


def test_geometry_verdicts() -> None:
    def cells(edit_rot: float) -> list[CaseResult]:
        out = []
        for i, k in enumerate((1, 10, 100)):
            out.append(
                case(
                    "rome",
                    "edit",
                    scale=k,
                    geom_rotation_excess=edit_rot + i * 0.1,
                    geom_anisotropy_excess=1.0,
                )
            )
            out.append(
                case(
                    "npo",
                    "unlearn",
                    scale=k,
                    geom_rotation_excess=1.0,
                    geom_anisotropy_excess=3.0 + i * 0.1,
                )
            )
        return out

    assert geometry_view(cells(4.0)).verdict == REPRODUCED
    assert geometry_view(cells(0.05)).verdict == NOT_REPRODUCED


def test_domain_verdicts_and_profile() -> None:
    cells = [
        case(
            "rome",
            "edit",
            q_plus_acc_history=0.4,
            q_plus_acc_biology=0.8,
            q_plus_acc_physics=0.9,
        ),
        case(
            "npo",
            "unlearn",
            q_plus_acc_history=0.5,
            q_plus_acc_biology=0.8,
            q_plus_acc_physics=0.85,
        ),
    ]
    assert domains(cells).verdict == REPRODUCED
    swapped = [case("rome", "edit", q_plus_acc_history=0.9, q_plus_acc_biology=0.4)]
    assert domains(swapped).verdict == NOT_REPRODUCED
    same = {"biology": {"taxa": 18, "facts": 50}, "history": {"taxa": 18, "facts": 50}}
    assert "share one plan" in describe_profile(same)
    text = describe_profile(
        {"biology": {"taxa": 18, "facts": 50}, "history": {"taxa": 30, "facts": 50}}
    )
    assert "taxa: biology 18, history 30" in text and "facts" in text


def test_failed_cases_are_left_out() -> None:
    cells = spread_cells(0.3, 0.05, 0.8, 0.3) + [
        case("npo", "unlearn", status="failed", over_spread=0.9, propagation=0.9)
    ]
    assert {f.key: f for f in evaluate(cells)}["spread"].verdict == REPRODUCED


# -- the command ---------------------------------------------------------------------------------


def test_findings_command_writes_markdown_and_plots(tmp_path: Path, capsys) -> None:
    run = tmp_path / "20260101T000000Z-abcd"
    run.mkdir()
    cells = spread_cells(0.3, 0.05, 0.8, 0.3)
    for k, d in ((1, 0.95), (10, 0.9), (100, 0.3)):
        cells.append(
            case(
                "memit",
                "edit",
                scale=k,
                direct_acc=d,
                reverse_acc=0.7,
                drift_kl=0.1 * k**0.1,
            )
        )
    (run / "results.jsonl").write_text(dumps_results(cells))
    assert main(["findings", str(run), "--no-world"]) == 0
    text = (run / "findings.md").read_text()
    assert "# Findings — run 20260101T000000Z-abcd" in text
    assert (
        "| [Editing over-spreads, unlearning under-spreads](#spread) | ✅ reproduced |"
        in text
    )
    assert "collapse at k=100" in text
    assert (run / "findings_spread.png").read_bytes()[:4] == b"\x89PNG"
    assert "findings_spread.png" in text
    assert main(["findings", str(tmp_path / "missing"), "--no-world"]) == 2


def test_the_report_names_each_models_commits_and_compute_time(tmp_path: Path) -> None:
    """A merged run's cells can come from several commits: the report says which, with their cost."""
    from dataclasses import replace

    run = tmp_path / "20260101T000000Z-prov"
    run.mkdir()
    at = {"device": "cpu", "dtype": "float32", "threads": 1}
    old = {**at, "git_commit": "bb654fbde2afa2b5", "code_version": "c0de01"}
    new = {**at, "git_commit": "40ac5e8aaaaaaaaa", "code_version": "c0de02"}
    timed = {"update_s": 1800.0, "score_s": 900.0}  # 0.75 h a cell
    cells = [
        replace(c, provenance=old if i % 2 else new, timings=timed)
        for i, c in enumerate(spread_cells(0.3, 0.05, 0.8, 0.3))
    ]
    cells.append(replace(case("npo", "unlearn", status="failed"), provenance=old, timings=timed))
    (run / "results.jsonl").write_text(dumps_results(cells))
    assert main(["findings", str(run), "--no-world"]) == 0
    text = (run / "findings.md").read_text()
    # spread_cells gives three passed cells: two at 40ac5e8, one at bb654fb; the failed one is not counted
    assert "| tiny-kg | 40ac5e8 | c0de02 | 2 | cpu, float32, 1 thread(s) | 1.50 h |" in text
    assert "| tiny-kg | bb654fb | c0de01 | 1 | cpu, float32, 1 thread(s) | 0.75 h |" in text
