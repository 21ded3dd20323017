"""The authors' own metrics, on imported sample files with scores chosen by hand (expected values
worked out by hand in the comments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksmith.metrics import compute
from ksmith.metrics.authors import counterfact, mquake
from ksmith.probes import Dataset, Probe
from ksmith.probes.formats import import_dataset
from ksmith.scoring import Score, Scores
from tests.formats import samples as S


def pick(probe: Probe, index: int | None, protocol: str = "mcq", runner_up: int | None = None) -> Score:
    """A score choosing `index` (log-prob -1), `runner_up` second (-2), the rest far below."""
    options = tuple(-1.0 if j == index else -2.0 if j == runner_up else -9.0 for j in range(4))
    return Score(probe.id, protocol, index, options if protocol != "gen_match" else ())


def load(tmp_path: Path, fmt: str, records: object) -> Dataset:
    return import_dataset(fmt, S.write(tmp_path / f"{fmt}.json", records), "edit")


def test_counterfact_success_rates_and_harmonic_mean(tmp_path: Path) -> None:
    ds = load(tmp_path, "counterfact", S.COUNTERFACT)
    ivs = {iv.id: iv for iv in ds.interventions}
    # which object wins, per case and test, in probe order
    wins = {
        "counterfact-0": {"rewrite": ["new"], "paraphrase": ["new", "true"], "neighborhood": ["true", "true"]},
        "counterfact-1": {"rewrite": ["true"], "paraphrase": ["new"], "neighborhood": ["new"]},
        "counterfact-2": {"rewrite": ["new"], "paraphrase": ["true"], "neighborhood": ["true"]},
        "counterfact-3": {"rewrite": ["new"], "paraphrase": ["new"], "neighborhood": ["true"]},
    }
    post = Scores()
    for p in ds.probes:
        iv = ivs[p.intervention_id]
        new, true = p.choices.index(iv.new_object), p.choices.index(iv.old_object)
        winner = wins[p.intervention_id][p.test].pop(0)
        post.add(pick(p, new if winner == "new" else true, runner_up=true if winner == "new" else new))
    m = counterfact(ds, post)
    # ES: 3 of 4 cases; PS: mean of (1/2, 1, 0, 1); NS: mean of (1, 0, 1, 1)
    assert m["cf_efficacy"].value == pytest.approx(0.75) and m["cf_efficacy"].n == 4
    assert m["cf_generalization"].value == pytest.approx(0.625)
    assert m["cf_specificity"].value == pytest.approx(0.75)
    assert m["cf_score"].value == pytest.approx(3 / (1 / 0.75 + 1 / 0.625 + 1 / 0.75))


def test_mquake_counts_a_case_when_any_question_gets_the_new_answer(tmp_path: Path) -> None:
    ds = load(tmp_path, "mquake", S.MQUAKE)
    questions = [p for p in ds.probes if p.probe_type == "multi_hop"]
    case1 = [p for p in questions if p.source_case == "1"]
    case2 = [p for p in questions if p.source_case == "2"]
    post = Scores()
    # case 1: old, new, a distractor -> right; case 2: old three times -> wrong
    for p, index in zip(case1, [case1[0].answer_before, case1[1].answer_after, None]):
        if index is None:
            index = next(j for j in range(4) if j not in (p.answer_before, p.answer_after))
        post.add(pick(p, index))
        post.add(pick(p, index if index == p.answer_after else None, "gen_match"))
    for p in case2:
        post.add(pick(p, p.answer_before))
        post.add(pick(p, None, "gen_match"))
    m = mquake(ds, post)
    assert m["mquake_multi_hop_acc"].value == pytest.approx(0.5) and m["mquake_multi_hop_acc"].n == 2
    assert m["mquake_multi_hop_acc@gen_match"].value == pytest.approx(0.5)


def test_ripple_accuracy_per_family_over_executed_tests(tmp_path: Path) -> None:
    ds = load(tmp_path, "ripple", S.RIPPLE)
    by_test = {}
    for p in ds.probes:
        by_test.setdefault((p.intervention_id, p.test, p.condition), []).append(p)
    pre, post = Scores(), Scores()
    failed_condition = by_test[("ripple-0", "Compositionality_I", True)][0]
    for p in ds.probes:
        # before: every probe answered as the source says, except one condition query
        pre.add(pick(p, p.answer_before if p is not failed_condition else (p.answer_before + 1) % 4))
    wrong = {("ripple-1", "Relation_Specificity"), ("ripple-1", "Subject_Aliasing")}
    for p in ds.probes:
        right = p.answer_after if p.answer_after is not None else p.answer_before
        post.add(pick(p, (right + 1) % 4 if (p.intervention_id, p.test) in wrong else right))
    m = compute(ds, pre, post, n_resamples=0)
    assert m["ripple_Relation_Specificity_acc"].value == pytest.approx(0.5)  # ex 0 kept, ex 1 changed
    assert m["ripple_Logical_Generalization_acc"].value == pytest.approx(1.0)
    assert m["ripple_Subject_Aliasing_acc"].value == pytest.approx(0.5)
    # the only Compositionality_I test's condition failed before the edit: not executed, no value
    assert "ripple_Compositionality_I_acc" not in m
    assert m["ripple_Relation_Specificity_acc"].executed == pytest.approx(1.0)
    # ksmith's own accuracies skip the condition queries and honour `requires`
    assert "multi_hop_acc" not in m  # its only multi-hop probe is that test's query
    assert m["reverse_acc"].value == pytest.approx(1.0) and m["reverse_acc"].executed == pytest.approx(1.0)
    assert m["contextual_acc"].n == 2  # the two Relation_Specificity test queries, not the conditions
