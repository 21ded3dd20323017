import math
import random

import pytest

from ksmith.errors import KsmithError
from ksmith.models.tiny import fact_pairs
from ksmith.scoring import PROTOCOLS, Scorer, Scores, ScoringError, normalise_answer

from .conftest import make_probes


def _requests(world, n=60):
    rng = random.Random(1)
    pairs = fact_pairs(world, held_out=False)[:n] + fact_pairs(world, held_out=True)[:20]
    objects = sorted({cont for _, cont in pairs})
    wrong = [(ctx, rng.choice(objects)) for ctx, _ in pairs[:30]]
    multi = [(ctx, cont + " and" + cont) for ctx, cont in pairs[:10]]  # multi-token continuations
    return pairs + wrong + multi


def test_scores_do_not_depend_on_batch_size(small_model, small_world):
    requests = _requests(small_world)
    runs = {bs: Scorer(small_model, batch_size=bs).loglikelihood(requests) for bs in (1, 7, 64)}
    for bs in (7, 64):
        for a, b in zip(runs[1], runs[bs]):
            assert abs(a.logprob - b.logprob) <= 1e-4
            assert (a.n_tokens, a.greedy) == (b.n_tokens, b.greedy)
    probes = make_probes(small_world, 40)
    choices = {
        bs: [s.choice for s in Scorer(small_model, batch_size=bs).score(probes, ["mcq", "mcq_norm"]).items.values()]
        for bs in (1, 7, 64)
    }
    assert choices[1] == choices[7] == choices[64]


def test_results_come_back_in_request_order(small_model, small_world):
    requests = _requests(small_world)
    scorer = Scorer(small_model, batch_size=16)
    forward = scorer.loglikelihood(requests)
    backward = scorer.loglikelihood(requests[::-1])
    assert [r.logprob for r in forward] == pytest.approx([r.logprob for r in backward[::-1]], abs=1e-4)
    assert len({r.n_tokens for r in forward}) > 1  # the requests really had different lengths


def test_greedy_agrees_with_the_greedy_flag(small_model, small_world):
    pairs = fact_pairs(small_world, held_out=False)[:40]
    scorer = Scorer(small_model, batch_size=8)
    flags = scorer.loglikelihood(pairs)
    texts = scorer.greedy([(ctx, 1) for ctx, _ in pairs])
    for (ctx, cont), flag, text in zip(pairs, flags, texts):
        assert flag.greedy == (normalise_answer(text) == normalise_answer(cont))
    assert scorer.greedy([(pairs[0][0], 0)]) == [""]


def test_trained_model_answers_mcq(small_model, small_world):
    probes = make_probes(small_world, 40)
    scores = Scorer(small_model).score(probes)
    assert set(scores.protocols) == set(PROTOCOLS) and len(scores) == 40 * len(PROTOCOLS)
    mcq = scores.of("mcq")
    right = sum(mcq[p.id].choice == p.answer_before for p in probes)
    assert right / len(probes) >= 0.8


def test_protocol_definitions(small_model, small_world):
    edit = make_probes(small_world, 12, task="edit")
    unlearn = make_probes(small_world, 12, task="unlearn")
    scores = Scorer(small_model).score(edit + unlearn)
    for p in edit + unlearn:
        mcq = scores.get(p.id, "mcq")
        assert mcq.choice == max(range(4), key=lambda j: mcq.option_scores[j])
        norm = scores.get(p.id, "mcq_norm")
        assert norm.choice == max(range(4), key=lambda j: norm.option_scores[j])
        compare = scores.get(p.id, "prob_compare")
        lp = mcq.option_scores
        if p.answer_after is not None:  # edit: the ROME test, new object vs old object
            assert compare.value == pytest.approx(lp[p.answer_after] - lp[p.answer_before])
        else:  # unlearn: expected (= answer_before) against the best other option
            others = max(lp[j] for j in range(4) if j != p.answer_before)
            assert compare.value == pytest.approx(lp[p.answer_before] - others)
        acc = scores.get(p.id, "token_acc")
        assert acc.value in (0.0, 1.0)  # one-token answers
        gen = scores.get(p.id, "gen_match")
        target = p.answer_after if p.answer_after is not None else p.answer_before
        assert gen.value == (1.0 if gen.choice == target else 0.0)
        if gen.choice is not None:
            assert normalise_answer(gen.text).startswith(normalise_answer(p.choices[gen.choice]))
    # the model has learned the old facts: unlearn probes' token_acc is the fact accuracy
    assert sum(scores.get(p.id, "token_acc").value for p in unlearn) >= 9


def test_prefixes_only_change_their_interventions_probes(small_model, small_world):
    probes = make_probes(small_world, 20)
    scorer = Scorer(small_model)
    plain = scorer.score(probes, ["mcq"])
    target = probes[0].intervention_id
    fact_text = f"{probes[0].prompt} {probes[0].choices[probes[0].answer_after]} . "
    prefixed = scorer.score(probes, ["mcq"], prefixes={target: fact_text})
    for p in probes:
        same = plain.get(p.id, "mcq").option_scores == pytest.approx(prefixed.get(p.id, "mcq").option_scores, abs=1e-4)
        assert same == (p.intervention_id != target)


def test_scores_round_trip_through_json(small_model, small_world):
    scores = Scorer(small_model).score(make_probes(small_world, 8))
    again = Scores.from_json(scores.to_json())
    assert again == scores
    assert all(isinstance(s.option_scores, tuple) for s in again)


def test_bad_requests_are_ksmith_errors(small_model, small_world):
    scorer = Scorer(small_model)
    with pytest.raises(ScoringError, match="unknown protocol"):
        scorer.score(make_probes(small_world, 2), ["accuracy"])
    with pytest.raises(ScoringError, match="no tokens"):
        scorer.loglikelihood([("The", "")])
    with pytest.raises(ScoringError, match="batch_size"):
        Scorer(small_model, batch_size=0)
    with pytest.raises(KsmithError, match="no 'mcq' score"):
        Scores().get("p0", "mcq")


def test_empty_context_is_scored(small_model):
    (result,) = Scorer(small_model).loglikelihood([("", " unknown")])
    assert math.isfinite(result.logprob) and result.n_tokens == 1
