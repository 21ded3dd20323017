"""The engine against an independent, one-request-at-a-time reference on SmolLM2's real tokenizer and model.

The reference is written from lm-evaluation-harness's documented behaviour with plain transformers
calls only (no ksmith tokenisation, no batching, no packing, full-vocabulary log-softmax): the
context's trailing whitespace moves into the continuation, the continuation is the whole string's
encoding cut at the context's length, the model reads `context + continuation[:-1]`, and the score
is the sum of the continuation tokens' log-probabilities; `acc_norm` divides it by the option's
length in characters; ties go to the first option.
"""

from __future__ import annotations

import pytest

from ksmith.models.hub import SMOLLM2_INSTALL, smollm2_available

pytestmark = pytest.mark.skipif(not smollm2_available(), reason=f"smollm2-135m absent: {SMOLLM2_INSTALL}")

QUESTIONS = [
    ("The capital of France is", ["Paris", "Berlin", "Madrid", "Rome"]),
    ("Water is made of hydrogen and ", ["oxygen", "nitrogen", "carbon dioxide", "helium gas"]),  # trailing space
    ("Q: Which planet is known as the Red Planet?\nA:", ["Mars", "Jupiter", "Venus", "Saturn"]),
    ("The largest ocean on Earth is the", ["Pacific Ocean", "Atlantic Ocean", "Indian Ocean", "Arctic Ocean"]),
    ("Albert Einstein was born in", ["Germany", "the United States of America", "Austria-Hungary", "Ulm"]),
    ("The chemical symbol for gold is", ["Au", "Ag", "Gd", "Go"]),
    ("Two plus two equals", ["four", "five", "4", "twenty-two"]),
    ("In 1492, Columbus sailed across the", ["Atlantic", "Pacific", "Mediterranean Sea", "English Channel"]),
    ("Cats are", ["mammals", "reptiles", "birds that cannot fly", "fish"]),
    ("The author of Hamlet is William", ["Shakespeare", "Wordsworth", "Blake", "Golding"]),
]


def reference_loglikelihood(lm, tokenizer, context: str, continuation: str) -> float:
    import torch

    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    context_ids = tokenizer.encode(context, add_special_tokens=False)
    whole_ids = tokenizer.encode(context + continuation, add_special_tokens=False)
    continuation_ids = whole_ids[len(context_ids) :]
    inputs = torch.tensor([(context_ids + continuation_ids)[:-1]])
    with torch.no_grad():
        logits = lm(input_ids=inputs).logits[0].double()
    logp = torch.log_softmax(logits, dim=-1)[-len(continuation_ids) :]
    return float(logp.gather(-1, torch.tensor(continuation_ids)[:, None]).sum())


@pytest.fixture(scope="module")
def smollm2():
    import torch

    from ksmith.models import load_model

    torch.manual_seed(0)
    return load_model("smollm2-135m", device="cpu", dtype="float32")


def _first_argmax(values):
    best = 0
    for j, value in enumerate(values):
        if value > values[best]:
            best = j
    return best


def test_loglikelihoods_match_a_plain_transformers_reference(smollm2):
    from ksmith.probes.types import Probe
    from ksmith.scoring import Scorer

    tokenizer = smollm2.tokenizer
    assert tokenizer.bos_token_id is not None and tokenizer.encode("x")[0] != tokenizer.bos_token_id  # no BOS added
    requests = [(q, " " + option) for q, options in QUESTIONS for option in options]
    reference = [reference_loglikelihood(smollm2.lm, tokenizer, c, x) for c, x in requests]
    for batch_size in ("auto", 3):
        engine = Scorer(smollm2, batch_size=batch_size).loglikelihood(requests)
        assert [r.logprob for r in engine] == pytest.approx(reference, abs=1e-4)
        assert any(r.n_tokens > 1 for r in engine)  # multi-token options: the packed path ran
    probes = [
        Probe(
            id=f"q{i}", task="edit", domain="d", level="leaf", scale=1, intervention_id=f"i{i}",
            probe_type="direct", family="Q+", question=q, prompt=q, choices=tuple(options),
            answer_before=0, answer_after=1, avoid=None, hop=0, paraphrase_id=0, held_out=False,
        )
        for i, (q, options) in enumerate(QUESTIONS)
    ]
    scores = Scorer(smollm2).score(probes, ["mcq", "mcq_norm"])
    for i, (q, options) in enumerate(QUESTIONS):
        sums = reference[4 * i : 4 * i + 4]
        assert scores.get(f"q{i}", "mcq").choice == _first_argmax(sums)
        norm = [s / len(o) for s, o in zip(sums, options)]
        assert scores.get(f"q{i}", "mcq_norm").choice == _first_argmax(norm)
        assert scores.get(f"q{i}", "mcq_norm").option_scores == pytest.approx(norm, abs=1e-4)


def test_ties_go_to_the_first_option():
    from ksmith.scoring import LoglikelihoodResult
    from ksmith.scoring.engine import option_score
    from ksmith.probes.types import Probe

    probe = Probe(
        id="t", task="edit", domain="d", level="leaf", scale=1, intervention_id="i", probe_type="direct",
        family="Q+", question="q", prompt="q", choices=("ab", "cd", "e", "fg"), answer_before=0, answer_after=1,
        avoid=None, hop=0, paraphrase_id=0, held_out=False,
    )
    options = [LoglikelihoodResult(v, 1, False, 0) for v in (-4.0, -2.0, -1.0, -2.0)]
    assert option_score(probe, "mcq", options).choice == 2
    tied = [LoglikelihoodResult(v, 1, False, 0) for v in (-3.0, -1.0, -1.0, -5.0)]
    assert option_score(probe, "mcq", tied).choice == 1
    # acc_norm: -4/2 = -2, -2/2 = -1, -1/1 = -1, -2/2 = -1: a three-way tie, the first (1) wins
    assert option_score(probe, "mcq_norm", options).choice == 1
