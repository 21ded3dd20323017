"""`ksmith.metrics.compute` on hand-built cases whose every value is worked out by hand."""

from __future__ import annotations

import math

import pytest
from metrics_factories import FakeDataset, intervention, merge, probe, scores, values

from ksmith.errors import KsmithError
from ksmith.metrics import compute
from ksmith.metrics.answers import answered_correctly, preconditions


def edit_case() -> FakeDataset:
    return FakeDataset(
        probes=(
            probe("d0", "direct", iid="i0"),
            probe("d1", "direct", iid="i0", held_out=True, paraphrase_id=3),
            probe("r0", "reverse", iid="i0"),
            probe("m0", "multi_hop", iid="i0", hop=1),
            probe("m1", "multi_hop", iid="i0", hop=2),
            probe("c0", "contextual", iid="i0"),
            probe("c1", "contextual", iid="i0", domain="history"),
            probe("d2", "direct", iid="i1", domain="history"),
            probe("r1", "reverse", iid="i1", domain="history"),
            probe("c2", "contextual", iid="i1", domain="history"),
        ),
        interventions=(
            intervention("i0"),
            intervention("i1", relation="era", domain="history"),
        ),
    )


PRE = {
    "d0": 0,
    "d1": 0,
    "r0": 0,
    "m0": 0,
    "m1": 2,
    "c0": 0,
    "c1": 0,
    "d2": 0,
    "r1": 0,
    "c2": 0,
}
POST = {
    "d0": 1,
    "d1": 0,
    "r0": 1,
    "m0": 1,
    "m1": 1,
    "c0": 0,
    "c1": 3,
    "d2": 1,
    "r1": 0,
    "c2": 0,
}


def values_of(metrics):
    return {name: m.value for name, m in metrics.items()}


def test_hand_computed_edit_case() -> None:
    m = compute(edit_case(), scores(PRE), scores(POST))
    v = values_of(m)
    assert v["direct_acc"] == 1.0  # d0, d2
    assert v["paraphrase_acc"] == 0.0  # d1 stayed on the old object
    assert v["reverse_acc"] == 0.5  # r0 right, r1 not
    assert (
        v["multi_hop_acc"] == 1.0 and m["multi_hop_acc"].executed == 0.5
    )  # m1 was never known
    assert v["multi_hop_acc_hop1"] == 1.0 and "multi_hop_acc_hop2" not in m
    assert v["contextual_acc"] == pytest.approx(2 / 3)
    assert v["ccr"] == pytest.approx(1 / 3)  # c1 moved
    assert v["rr"] == pytest.approx(2 / 6)  # d1 and r1 still on the old object
    # one pair per (intervention, paraphrase): (d0, r0) agree, (d2, r1) contradict; d1 has no
    # reverse partner in its paraphrase and is in no pair
    assert v["conflict_rate"] == pytest.approx(1 / 2)
    assert v["consistency"] == pytest.approx(1 / 2)
    assert v["propagation"] == 1.0 and m["propagation"].executed == 0.5
    assert v["over_spread"] == pytest.approx(0.25)  # i0: 1/2, i1: 0/1
    assert (
        v["contextual_acc_in_domain"] == 1.0
    )  # c0 (biology, i0) and c2 (history, i1) kept
    assert (
        v["contextual_acc_out_domain"] == 0.0
    )  # c1 (history probe of a biology target) moved
    assert v["q_plus_acc_biology"] == pytest.approx(
        3 / 4
    )  # d0, d1, r0, m0 (m1 filtered)
    assert v["direct_acc_history"] == 1.0
    for metric in m.values():
        assert metric.protocol == "mcq"
        assert 0.0 <= metric.value <= 1.0


def test_directions_and_counts() -> None:
    m = compute(edit_case(), scores(PRE), scores(POST))
    assert (
        m["ccr"].higher_is_better is False
        and m["ccr"].executed == 1.0  # every Q- probe was known before the update
        and m["ccr"].n == 3
    )
    assert m["rr"].higher_is_better is False
    assert m["consistency"].higher_is_better is True
    assert m["conflict_rate"].n == 2 and m["conflict_rate"].n_units == 2  # a pair per intervention here
    assert m["propagation"].n == 1  # one intervention with an executed multi-hop probe
    assert m["direct_acc"].n == 2 and m["direct_acc"].executed == 1.0 and m["direct_acc"].n_units == 2
    assert m["multi_hop_acc"].n == 1 and m["multi_hop_acc"].n_units == 1


def test_unchanged_model_has_no_collateral_change() -> None:
    m = compute(edit_case(), scores(PRE), scores(PRE))
    assert m["ccr"].value == 0.0
    assert m["over_spread"].value == 0.0
    assert m["propagation"].value == 0.0
    assert m["direct_acc"].value == 0.0  # nothing was edited
    assert m["rr"].value == 1.0
    assert m["contextual_acc"].value == 1.0
    assert (
        m["conflict_rate"].value == 0.0 and m["consistency"].value == 1.0
    )  # both still old


def test_precondition_excludes_facts_the_model_never_knew() -> None:
    pre = dict(PRE, d0=3, d1=3)  # the unedited model did not know i0's fact
    m = compute(edit_case(), scores(pre), scores(POST))
    # i0's Q+ probes all fail the precondition (the majority of held-in direct probes is wrong)
    assert m["direct_acc"].n == 1 and m["direct_acc"].executed == 0.5
    assert "multi_hop_acc" not in m  # no executed multi-hop probe left: no NaN metric
    assert m["contextual_acc"].n == 3  # Q- probes only need themselves to be known


def test_without_precondition_everything_counts() -> None:
    m = compute(edit_case(), scores(PRE), scores(POST), precondition=False)
    assert m["multi_hop_acc"].n == 2 and m["multi_hop_acc"].executed == 1.0


def test_unlearning_correct_means_not_the_old_object() -> None:
    p = probe("u", "direct", task="unlearn", before=2)
    assert p.avoid == 2 and p.answer_after is None
    assert answered_correctly(p, 0)
    assert not answered_correctly(p, None)  # naming no option is not forgetting
    assert not answered_correctly(p, 2)
    ds = FakeDataset(
        probes=(
            probe("u0", "direct", task="unlearn", before=2),
            probe("u1", "direct", task="unlearn", before=2, paraphrase_id=1),
            probe("u2", "reverse", task="unlearn", before=1),
            probe("k0", "contextual", task="unlearn", before=3),
        )
    )
    pre = {"u0": 2, "u1": 2, "u2": 1, "k0": 3}
    post = {"u0": 0, "u1": 2, "u2": 1, "k0": 3}
    v = values_of(compute(ds, scores(pre), scores(post)))
    assert v["direct_acc"] == 0.5
    assert v["rr"] == pytest.approx(2 / 3)
    assert v["contextual_acc"] == 1.0 and v["ccr"] == 0.0
    # one pair, (u0, u2) (paraphrase 0): forgot vs old -> conflict; u1 has no reverse partner
    assert v["conflict_rate"] == 1.0 and v["consistency"] == 0.0


def test_held_out_map_from_the_model_overrides_probe_flags() -> None:
    ds = edit_case()
    pre, post = scores(PRE), scores(POST)
    m = compute(
        ds, pre, post, held_out={"habitat": 0}
    )  # paraphrase 0 of habitat is held out
    assert m["paraphrase_acc"].n == 1 and m["paraphrase_acc"].value == 1.0  # d0
    assert m["direct_acc"].n == 2  # d1 (paraphrase 3) and d2 (relation era, no entry)


def test_other_protocols_get_their_own_names() -> None:
    pre = merge(scores(PRE), scores(PRE, "mcq_norm"))
    post_norm = dict(POST, d2=0)
    post = merge(
        scores(POST),
        scores(post_norm, "mcq_norm"),
        values({"d0": 0.5, "d2": -1.0, "c0": 0.3}, "prob_compare"),
        values({"d0": 1.0, "d2": 0.5}, "token_acc"),
    )
    m = compute(edit_case(), pre, post)
    assert m["direct_acc"].value == 1.0 and m["direct_acc"].protocol == "mcq"
    assert (
        m["direct_acc@mcq_norm"].value == 0.5
        and m["direct_acc@mcq_norm"].protocol == "mcq_norm"
    )
    assert m["direct_acc@prob_compare"].value == 0.5  # d0 gap > 0, d2 not
    assert (
        m["contextual_acc@prob_compare"].value == 1.0
    )  # c0: the kept answer still wins
    assert m["direct_acc@token_acc"].value == 0.75
    assert all(name == metric.name for name, metric in m.items())


def test_precondition_needs_pre_update_mcq_scores() -> None:
    with pytest.raises(KsmithError, match="mcq"):
        compute(edit_case(), {}, scores(POST))


def test_confidence_intervals_are_deterministic_and_bracket_the_value() -> None:
    ds = FakeDataset(probes=tuple(probe(f"c{i}", "contextual", iid=f"i{i}") for i in range(200)))
    pre = {f"c{i}": 0 for i in range(200)}
    post = {f"c{i}": (1 if i % 4 == 0 else 0) for i in range(200)}
    a = compute(ds, scores(pre), scores(post))
    b = compute(ds, scores(pre), scores(post))
    assert a == b
    lo, hi = a["ccr"].ci
    assert lo < a["ccr"].value == 0.25 < hi
    assert 0.03 < hi - lo < 0.2  # about ±1.96 * sqrt(.25 * .75 / 200) = ±0.06
    assert compute(ds, scores(pre), scores(post), n_resamples=0)["ccr"].ci is None


def test_preconditions_majority_vote() -> None:
    ps = [probe(f"d{i}", "direct", paraphrase_id=i) for i in range(3)] + [
        probe("m", "multi_hop")
    ]
    assert preconditions(ps, {"d0": 0, "d1": 0, "d2": 1, "m": 0}, {})["m"] is True
    assert preconditions(ps, {"d0": 0, "d1": 1, "d2": 1, "m": 0}, {})["m"] is False
    assert (
        preconditions(ps, {"d0": 0, "d1": 0, "d2": 0}, {})["m"] is False
    )  # never scored


def test_no_metric_is_nan() -> None:
    for metric in compute(edit_case(), scores(PRE), scores(POST)).values():
        assert not math.isnan(metric.value)


class _Container:
    """Stands in for `ksmith.scoring.Scores` (`.of(protocol)`)."""

    def __init__(self, table):
        self.table = table

    def of(self, protocol):
        return self.table.get(protocol, {})


def test_every_score_shape_gives_the_same_metrics() -> None:
    ds = edit_case()
    as_dicts = compute(ds, scores(PRE), scores(POST))
    as_container = compute(ds, _Container(scores(PRE)), _Container(scores(POST)))
    as_lists = compute(
        ds, list(scores(PRE)["mcq"].values()), list(scores(POST)["mcq"].values())
    )
    assert as_dicts == as_container == as_lists


def test_value_protocols_for_unlearning_count_forgetting() -> None:
    ds = FakeDataset(
        probes=(
            probe("u0", "direct", task="unlearn"),
            probe("u1", "direct", task="unlearn", paraphrase_id=1),
        )
    )
    pre = scores({"u0": 0, "u1": 0})
    post = merge(
        values({"u0": -0.5, "u1": 2.0}, "prob_compare"),
        values({"u0": 0.25, "u1": 1.0}, "token_acc"),
    )
    m = compute(ds, pre, post)
    assert (
        m["direct_acc@prob_compare"].value == 0.5
    )  # u0: the old object no longer wins
    assert m["direct_acc@token_acc"].value == pytest.approx((0.75 + 0.0) / 2)


def test_every_computed_metric_is_declared_with_its_direction() -> None:
    from ksmith.metrics.names import declaration, higher_is_better

    pre = merge(scores(PRE), scores(PRE, "mcq_norm"))
    post = merge(
        scores(POST), scores(POST, "mcq_norm"), values({"d0": 1.0}, "token_acc")
    )
    for name, metric in compute(edit_case(), pre, post).items():
        declaration(name)  # raises for an undeclared name
        assert metric.higher_is_better is higher_is_better(name), name


def test_the_committed_runs_directions_are_the_declared_ones() -> None:
    """Every metric of every committed run (written before directions were declared in one place)
    has a declaration, and the direction it was recorded with is the declared one."""
    import json
    from pathlib import Path

    from ksmith.metrics.names import higher_is_better

    runs = sorted(Path(__file__).resolve().parents[2].glob("reports/**/results.jsonl"))
    assert runs
    seen = {}
    for path in runs:
        for line in path.read_text().splitlines():
            for name, metric in json.loads(line)["metrics"].items():
                seen[name] = metric.get("higher_is_better")
    wrong = {name: (recorded, higher_is_better(name)) for name, recorded in seen.items() if recorded is not higher_is_better(name)}
    assert wrong == {}


def test_model_held_out_map_applies_to_direct_probes_only() -> None:
    ds = FakeDataset(
        probes=(
            probe("d", "direct", paraphrase_id=2),
            probe(
                "c", "contextual", paraphrase_id=2, held_out=False
            ),  # asks another relation
        ),
        interventions=(intervention("i0", relation="habitat"),),
    )
    m = compute(
        ds, scores({"d": 0, "c": 0}), scores({"d": 1, "c": 0}), held_out={"habitat": 2}
    )
    assert m["paraphrase_acc"].n == 1 and "direct_acc" not in m
    assert m["held_out_acc"].n == 1 and m["held_in_acc"].n == 1


def test_pairs_count_once_per_intervention_and_paraphrase() -> None:
    """Three direct and three reverse paraphrases of one fact make three pairs, not nine."""
    ds = FakeDataset(
        probes=tuple(probe(f"d{i}", "direct", paraphrase_id=i) for i in range(3))
        + tuple(probe(f"r{i}", "reverse", paraphrase_id=i) for i in range(3)),
        interventions=(intervention("i0"),),
    )
    pre = {f"{t}{i}": 0 for t in "dr" for i in range(3)}
    post = {"d0": 1, "d1": 1, "d2": 1, "r0": 1, "r1": 0, "r2": 0}
    m = compute(ds, scores(pre), scores(post))
    assert m["consistency"].n == 3 and m["consistency"].n_units == 1
    assert m["consistency"].value == pytest.approx(1 / 3)  # (d0, r0)
    assert m["conflict_rate"].value == pytest.approx(2 / 3)  # (d1, r1), (d2, r2)
    assert m["consistency"].ci is None  # one fact: no interval, however many probes


def _unlearn_case(n_interventions: int = 4, per: int = 4) -> FakeDataset:
    return FakeDataset(
        probes=tuple(
            probe(f"u{i}_{j}", "direct", task="unlearn", iid=f"i{i}", before=0, paraphrase_id=j)
            for i in range(n_interventions)
            for j in range(per)
        ),
        interventions=tuple(intervention(f"i{i}", task="unlearn") for i in range(n_interventions)),
    )


def test_uniform_guessing_has_rr_gap_zero_and_avoidance_a_negative_gap() -> None:
    ds = _unlearn_case()
    pre = {p.id: 0 for p in ds.probes}
    # a model answering uniformly at random: each option equally often, no preference in its scores
    uniform = {p.id: int(p.id[-1]) for p in ds.probes}  # paraphrase j picks option j: 0, 1, 2, 3
    m = compute(ds, scores(pre), scores(uniform))
    assert m["rr"].value == pytest.approx(0.25) and m["rr_gap"].value == pytest.approx(0.0)
    assert m["kl_uniform"].value == pytest.approx(0.0)  # equal option scores
    assert m["direct_acc"].value == pytest.approx(0.75)  # what "not the old object" alone would claim
    avoid = {p.id: 1 + int(p.id[-1]) % 3 for p in ds.probes}  # never the old object
    m = compute(ds, scores(pre), scores(avoid))
    assert m["rr"].value == 0.0 and m["rr_gap"].value == pytest.approx(-0.25)
    assert m["rr_gap"].higher_is_better is None  # 0 is ideal, not an extreme


def test_kl_from_uniform_of_a_confident_model() -> None:
    from ksmith.scoring import Score

    ds = _unlearn_case(2, 1)
    pre = {p.id: 0 for p in ds.probes}
    sure = [math.log(0.97), math.log(0.01), math.log(0.01), math.log(0.01)]
    post = {"mcq": {p.id: Score(p.id, "mcq", 0, tuple(sure)) for p in ds.probes}}
    m = compute(ds, scores(pre), post)
    expected = math.log(4) + sum(q * math.log(q) for q in (0.97, 0.01, 0.01, 0.01))
    assert m["kl_uniform"].value == pytest.approx(expected)


def test_old_logprob_shift_sees_a_fall_that_leaves_the_ranking_unchanged() -> None:
    """Every option falls by 4 nats: rr stays 1 (the old answer still ranks first), the likelihood
    metric reports the 4-nat fall; on an edit cell it is absent."""
    from ksmith.scoring import Score

    ds = _unlearn_case(2, 2)
    before = [-1.0, -3.0, -3.5, -4.0]
    after = [x - 4.0 for x in before]
    pre = {"mcq": {p.id: Score(p.id, "mcq", 0, tuple(before)) for p in ds.probes}}
    post = {"mcq": {p.id: Score(p.id, "mcq", 0, tuple(after)) for p in ds.probes}}
    m = compute(ds, pre, post)
    assert m["rr"].value == 1.0
    assert m["old_logprob_shift"].value == pytest.approx(-4.0) and m["old_logprob_shift"].n == 4
    assert m["old_logprob_shift"].higher_is_better is False
    edit = FakeDataset(probes=(probe("e0", "direct"),), interventions=(intervention("i0"),))
    m = compute(edit, {"mcq": {"e0": Score("e0", "mcq", 0, tuple(before))}},
                {"mcq": {"e0": Score("e0", "mcq", 1, tuple(after))}})
    assert "old_logprob_shift" not in m


def test_gen_match_no_answer_is_counted_apart_never_as_forgotten() -> None:
    ds = _unlearn_case(2, 2)
    ids = [p.id for p in ds.probes]
    pre = merge(scores({i: 0 for i in ids}), scores({i: 0 for i in ids}, "gen_match"))
    post = merge(scores({i: 0 for i in ids}), scores(dict(zip(ids, [None, None, 2, 0])), "gen_match"))
    m = compute(ds, pre, post)
    assert m["no_answer@gen_match"].value == 0.5
    assert m["direct_acc@gen_match"].value == 0.25  # only the probe that named another option
    assert m["rr@gen_match"].value == 0.25
    assert "no_answer" not in m  # mcq always names an option


def test_ccr_counts_only_probes_the_unedited_model_knew() -> None:
    ds = FakeDataset(probes=tuple(probe(f"c{i}", "contextual", iid=f"i{i}") for i in range(4)))
    pre = {"c0": 0, "c1": 0, "c2": 2, "c3": 3}  # c2 and c3 were guesses (answer_before is 0)
    post = {"c0": 0, "c1": 1, "c2": 1, "c3": 0}
    m = compute(ds, scores(pre), scores(post))
    assert m["ccr"].value == 0.5 and m["ccr"].n == 2 and m["ccr"].executed == 0.5
