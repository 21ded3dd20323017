"""The parity harness's pure parts (`bench/parity/`): the update and loss comparisons, their verdicts
and tables, the commit check, and the plumbing that needs no reference checkout (stubbing a missing
import, the stand-in statistics, open-unlearning's labels)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest
import torch

HARNESS = Path(__file__).resolve().parents[1] / "bench" / "parity"


@pytest.fixture(autouse=True)
def _harness_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(HARNESS))


def test_cosine_and_norm_ratio() -> None:
    from parity_table import cosine, norm_ratio

    a = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert cosine(a, 3 * a) == pytest.approx(1.0)
    assert cosine(a, -a) == pytest.approx(-1.0)
    assert norm_ratio(a, 2 * a) == pytest.approx(0.5)
    assert math.isnan(cosine(a, torch.zeros_like(a))) and math.isnan(norm_ratio(a, torch.zeros_like(a)))


def test_updates_are_compared_per_matrix_and_together() -> None:
    from parity_table import compare_updates

    x, y = torch.eye(3), torch.ones(3, 3)
    rows = compare_updates("memit", "batch of 2", {"w1": x, "w2": y}, {"w1": x, "w2": -y})
    assert [r.matrix for r in rows] == ["w1", "w2", "all"]
    assert rows[0].cosine == pytest.approx(1.0) and rows[1].cosine == pytest.approx(-1.0)
    # together: (|x|² - |y|²) / (|x|² + |y|²) = (3 - 9) / 12
    assert rows[2].cosine == pytest.approx(-0.5) and rows[2].norm_ratio == pytest.approx(1.0)
    (only,) = [r for r in compare_updates("rome", "fact 0", {"w": x}, {"v": x}) if r.matrix == "w"]
    assert math.isnan(only.cosine)  # a matrix one side never touched is a miss


def test_the_edit_verdict_needs_the_cosine_and_the_same_facts() -> None:
    from parity_table import EDIT_COSINE, FactOutcome, UpdateComparison, edit_summary

    verdict = f"cos ≥ {EDIT_COSINE} and same facts"
    good = [UpdateComparison("rome", f"fact {i}", "w", 0.99, 1.0, 1.0, 1.0) for i in range(2)]
    facts = [FactOutcome("rome", f"f{i}", True, True, 0.1, 0.1) for i in range(2)]
    assert edit_summary("rome", good, facts)[verdict] == "yes"
    assert edit_summary("rome", good, facts)["cosine min"] == "0.990000"
    low = [*good[:1], UpdateComparison("rome", "fact 1", "w", 0.9, 1.0, 1.0, 1.0)]
    assert edit_summary("rome", low, facts)[verdict] == "NO"
    split = [facts[0], FactOutcome("rome", "f1", True, False, 0.1, 2.0)]
    summary = edit_summary("rome", good, split)
    assert summary[verdict] == "NO" and summary["same facts"] == "1/2"
    # a run with several matrices is judged on its "all" row
    several = [UpdateComparison("memit", "batch", m, c, 1.0, 1.0, 1.0) for m, c in (("w1", 0.5), ("all", 0.97))]
    assert edit_summary("memit", several, facts)[verdict] == "yes"


def test_the_loss_verdict_uses_issue_28s_thresholds() -> None:
    from parity_table import LossComparison, loss_row

    assert LossComparison("npo", "original", 1.0, 1.0 + 9e-6, 0.9995, 1.0).ok
    assert not LossComparison("npo", "original", 1.0, 1.0 + 2e-5, 1.0, 1.0).ok
    assert not LossComparison("npo", "original", 1.0, 1.0, 0.998, 1.0).ok
    assert loss_row(LossComparison("rmu", "updated", 2.0, 2.5, 1.0, 1.0))["|Δloss|"] == "5.0e-01"


def test_missing_gradients_count_as_zeros() -> None:
    from parity_table import joined

    like = [torch.ones(2), torch.ones(3)]
    assert joined([None, torch.ones(3)], like).tolist() == [0.0, 0.0, 1.0, 1.0, 1.0]


def test_markdown_table() -> None:
    from parity_table import markdown

    text = markdown([{"method": "rome", "cos": 0.123456}, {"method": "memit", "cos": float("nan")}])
    assert text.splitlines() == ["| method | cos |", "|---|---|", "| rome | 0.1235 |", "| memit | nan |"]
    assert markdown([]) == "(nothing measured)"


def test_the_commit_note_warns_off_the_pinned_commit() -> None:
    from parity_table import PINNED, commit_note

    assert "(pinned)" in commit_note("EasyEdit", PINNED["EasyEdit"])
    assert commit_note("EasyEdit", "0" * 40).startswith("WARNING") and "14cea82" in commit_note("EasyEdit", "0" * 40)
    assert commit_note("open-unlearning", None).startswith("WARNING")


def test_a_missing_import_is_stubbed_only_while_importing() -> None:
    from references import stubbed

    with stubbed({"ksmith_no_such_module": {"answer": 42}, "torch": {"answer": 0}}) as made:
        import ksmith_no_such_module  # type: ignore[import-not-found]

        assert ksmith_no_such_module.answer == 42
        assert made == ["ksmith_no_such_module"]  # torch is installed: never stubbed
    assert "ksmith_no_such_module" not in sys.modules


def test_the_stand_in_statistics_are_ksmiths_moment_in_the_asked_precision() -> None:
    from edit_parity import fake_layer_stats

    moment = torch.eye(3, dtype=torch.float64) * 2
    stats = fake_layer_stats({"model.layers.1.mlp.down_proj": moment})
    got = stats(None, None, "model.layers.1.mlp.down_proj", "dir", "wikipedia", ["mom2"], precision="float32")
    assert got.mom2.moment().dtype == torch.float32 and torch.equal(got.mom2.moment(), moment.float())
    with pytest.raises(KeyError, match="no statistics"):
        stats(None, None, "model.layers.2.mlp.down_proj", precision="float32")


def test_open_unlearning_labels_are_the_answer_tokens() -> None:
    from unlearn_parity import reference_inputs

    from ksmith.methods.training import TokenBatch

    batch = TokenBatch(torch.tensor([[5, 6, 7, 0]]), torch.tensor([[1, 1, 1, 0]]),
                       torch.tensor([[False, False, True, False]]))
    assert reference_inputs(batch)["labels"].tolist() == [[-100, -100, 7, -100]]
