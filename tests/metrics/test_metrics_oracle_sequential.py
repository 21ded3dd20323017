"""Oracle distance, TOFU forget quality and sequential updates on hand-built scores."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest
from metrics_factories import FakeDataset, intervention, probe, scores

from ksmith.errors import KsmithError
from ksmith.metrics.oracle import (
    forget_quality,
    option_kl,
    oracle_distance,
    oracle_metrics,
    truth_ratio,
)
from ksmith.models.oracle import oracle_world
from ksmith.metrics.sequential import batches, sequential_updates
from ksmith.scoring import Score


def option_scores(
    table: dict[str, tuple[float, ...]], protocol: str
) -> dict[str, dict[str, Score]]:
    return {
        protocol: {
            pid: Score(pid, protocol, int(np.argmax(s)), tuple(s))
            for pid, s in table.items()
        }
    }


def unlearn_set(n: int) -> FakeDataset:
    return FakeDataset(
        probes=tuple(
            probe(f"u{i}", "direct", task="unlearn", iid=f"i{i}") for i in range(n)
        )
        + tuple(
            probe(f"k{i}", "contextual", task="unlearn", iid=f"i{i}") for i in range(n)
        )
    )


def test_truth_ratio_and_option_kl_by_hand() -> None:
    p = probe("u", "direct", task="unlearn", before=0)
    s = Score("u", "mcq_norm", 0, tuple(math.log(x) for x in (0.5, 0.25, 0.125, 0.125)))
    assert truth_ratio(p, s) == pytest.approx((0.5 + 0.25 + 0.25) / 3)
    assert option_kl(s, s) == 0.0
    a = Score("a", "mcq", 0, (math.log(0.5), math.log(0.5)))
    b = Score("b", "mcq", 0, (math.log(0.9), math.log(0.1)))
    assert option_kl(a, b) == pytest.approx(
        0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    )


def test_oracle_against_itself() -> None:
    ds = unlearn_set(30)
    rng = np.random.default_rng(0)
    table = {p.id: tuple(rng.normal(size=4)) for p in ds.probes}
    oracle = {**option_scores(table, "mcq"), **option_scores(table, "mcq_norm")}
    m = oracle_metrics(ds, oracle, oracle)
    assert m["forget_quality"].value == 1.0  # exactly: identical truth-ratio samples
    assert m["oracle_agree"].value == 1.0
    assert m["oracle_kl_q_plus"].value == 0.0 and m["oracle_kl_q_minus"].value == 0.0
    assert m["forget_quality"].n == 30


def test_a_model_that_kept_the_fact_is_far_from_the_oracle() -> None:
    ds = unlearn_set(40)
    rng = np.random.default_rng(1)
    oracle = {
        p.id: tuple(rng.normal(size=4)) for p in ds.probes
    }  # no preference for the old one
    kept = {
        pid: (8.0, *s[1:]) for pid, s in oracle.items()
    }  # old object (option 0) dominates
    fq = forget_quality(
        ds, option_scores(kept, "mcq_norm"), option_scores(oracle, "mcq_norm")
    )
    assert fq is not None and fq.value < 1e-6
    d = oracle_distance(ds, option_scores(kept, "mcq"), option_scores(oracle, "mcq"))
    assert d["oracle_kl_q_plus"].value > 1.0
    assert forget_quality(FakeDataset(probes=(probe("e", "direct"),)), {}, {}) is None


def test_oracle_world_applies_the_interventions() -> None:
    class World:
        def apply(self, interventions):
            return ("applied", tuple(iv.id for iv in interventions))

    assert oracle_world(World(), [intervention("a"), intervention("b")]) == (
        "applied",
        ("a", "b"),
    )


# -- sequential -----------------------------------------------------------------------------


@dataclass
class FakeModel:
    """Knows which interventions were applied; the third batch, if any, wipes the first one out."""

    applied: list[str] = field(default_factory=list)
    wiped: set[str] = field(default_factory=set)
    batches_seen: list[int] = field(default_factory=list)
    forget_first: bool = False

    def apply(self, request):
        ids = [iv.id for iv in request.interventions]
        self.batches_seen.append(request.scale)
        if self.forget_first and len(self.batches_seen) == 3:
            self.wiped.update(self.applied[: self.batches_seen[0]])
        self.applied.extend(ids)
        return SimpleNamespace(prompt_prefix={})

    def score(self, probes, prefixes):
        live = set(self.applied) - self.wiped
        choices = {}
        for p in probes:
            moved = p.family == "Q+" and p.intervention_id in live
            choices[p.id] = p.answer_after if moved else p.answer_before
        return scores(choices)


@dataclass(frozen=True)
class Request:
    interventions: tuple
    scale: int = 0


def sequential_case(n: int = 6):
    ivs = tuple(intervention(f"i{i}") for i in range(n))
    probes = tuple(probe(f"d{i}", "direct", iid=f"i{i}") for i in range(n)) + tuple(
        probe(f"c{i}", "contextual", iid=f"i{i}") for i in range(n)
    )
    ds = FakeDataset(probes=probes, interventions=ivs)
    pre = scores({p.id: p.answer_before for p in probes})
    return ds, pre, Request(ivs, n)


def test_sequential_records_a_curve_and_rereads_the_first_batch() -> None:
    ds, pre, request = sequential_case()
    model = FakeModel()
    result = sequential_updates(
        ds, pre, request, batch_size=2, apply=model.apply, score=model.score
    )
    assert model.batches_seen == [2, 2, 2]
    assert [s.applied for s in result.steps] == [2, 4, 6]
    assert result.curve("direct_acc") == [(2, 1.0), (4, 1.0), (6, 1.0)]
    assert [s.metrics["direct_acc"].n for s in result.steps] == [2, 4, 6]
    m = result.metrics()
    assert m["seq_earliest_retained"].value == 0.0
    assert m["seq_earliest_direct_acc_first"].value == 1.0


def test_sequential_sees_a_later_batch_undo_an_earlier_one() -> None:
    ds, pre, request = sequential_case()
    model = FakeModel(forget_first=True)
    result = sequential_updates(
        ds, pre, request, batch_size=2, apply=model.apply, score=model.score
    )
    assert result.curve("direct_acc")[-1] == (6, pytest.approx(4 / 6))
    assert result.metrics()["seq_earliest_retained"].value == -1.0
    assert result.metrics()["seq_earliest_direct_acc_end"].value == 0.0


def test_sequential_rejects_bad_input() -> None:
    ds, pre, _ = sequential_case()
    with pytest.raises(KsmithError, match="batch size"):
        batches([1, 2], 0)
    stranger = Request((intervention("zz"),), 1)
    model = FakeModel()
    with pytest.raises(KsmithError, match="no probes"):
        sequential_updates(
            ds, pre, stranger, batch_size=1, apply=model.apply, score=model.score
        )
    assert batches([1, 2, 3], 2) == [(1, 2), (3,)]
