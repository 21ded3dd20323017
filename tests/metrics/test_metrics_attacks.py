"""Attack metrics on hand-built scores: rr and the old answer's log-probability after an attack, the
recovery paired per probe, and the control on the unedited model."""

from __future__ import annotations

import pytest
from metrics_factories import FakeDataset, intervention, probe

from ksmith.metrics.attacks import attack_metrics, paired_difference
from ksmith.metrics.diagnostics import Tally
from ksmith.metrics.inputs import MetricsError
from ksmith.scoring import Score

IDS = ("p0", "p1", "p2", "p3")


def mcq(old: list[float]) -> dict[str, dict[str, Score]]:
    """The old answer (option 0) scored `old[i]` on probe i, the others 0: chosen when above 0."""
    return {"mcq": {pid: Score(probe_id=pid, protocol="mcq", choice=0 if s > 0 else 1, option_scores=(s, 0.0, 0.0, 0.0))
                    for pid, s in zip(IDS, old)}}


def test_attacked_recovery_and_control_by_hand() -> None:
    dataset = FakeDataset(tuple(probe(pid, "direct", task="unlearn", iid=f"i{i // 2}") for i, pid in enumerate(IDS)),
                          (intervention("i0", task="unlearn"), intervention("i1", task="unlearn")))
    pre = mcq([2.0, 2.0, 2.0, 2.0])  # the unedited model knows every answer
    post = mcq([-1.0, -1.0, -1.0, 1.0])  # unlearned: rr 1/4, shift -3, -3, -3, -1
    attacked = {"relearn50": mcq([1.0, 1.0, -1.0, 1.0])}  # rr 3/4, shift -1, -1, -3, -1
    control = {"relearn50": mcq([3.0, 3.0, 3.0, 3.0])}  # the unedited model, attacked: +1 each
    out = attack_metrics(dataset, pre, post, attacked, control, n_resamples=200)
    assert out["rr@relearn50"].value == pytest.approx(0.75)
    assert out["rr_recovery@relearn50"].value == pytest.approx(0.5)
    assert out["old_logprob_shift@relearn50"].value == pytest.approx(-1.5)
    assert out["old_logprob_recovery@relearn50"].value == pytest.approx(1.0)  # (2 + 2 + 0 + 0) / 4
    assert out["rr_control@relearn50"].value == pytest.approx(1.0)
    assert out["old_logprob_shift_control@relearn50"].value == pytest.approx(1.0)
    assert out["rr@relearn50"].ci is not None and out["rr@relearn50"].protocol == "mcq"


def test_paired_difference_needs_the_same_probes() -> None:
    import numpy as np

    a = Tally(np.array([1.0, 0.0]), ("i0", "i0"), 2, False)
    b = Tally(np.array([0.0, 0.0, 1.0]), ("i0", "i0", "i1"), 3, False)
    with pytest.raises(MetricsError, match="same probes"):
        paired_difference(a, b)
    assert paired_difference(a, a).values.tolist() == [0.0, 0.0]
