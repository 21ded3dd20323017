"""The six unlearners on tiny random GPT-2- and Llama-layout models: each lowers the old object,
touches only its declared tensors, is deterministic, changes nothing for an empty request, and
gets exactly the inputs its loss names."""

from __future__ import annotations

import copy
import math

import ftkit
import pytest
import torch

from ksmith.errors import MethodError
from ksmith.methods import losses
from ksmith.methods.nethook import Trace, main_output
from ksmith.methods.unlearn import (
    NPO,
    RMU,
    FineTuneUnlearner,
    GradAscent,
    GradDiff,
    ReLearn,
    SimNPO,
    vague_answers,
)
from ksmith.models.arch import describe

ARCHS = sorted(ftkit.MODELS)
UNLEARNERS = {
    "grad-ascent": lambda: GradAscent(lr=2e-2, steps=10),
    "grad-diff": lambda: GradDiff(lr=2e-2, steps=10),
    "npo": lambda: NPO(lr=2e-2, steps=10),
    "simnpo": lambda: SimNPO(lr=2e-2, steps=10),
    "relearn": lambda: ReLearn(lr=2e-2, steps=10),
    "rmu": lambda: RMU(lr=2e-2, steps=10),
}
PROMPT = "the capital of France is"


@pytest.fixture(scope="module")
def tok():
    return ftkit.tokenizer()


@pytest.fixture(scope="module")
def taught():
    """Per layout, a tiny model that knows the facts to forget (copied per test)."""
    return {arch: ftkit.taught(arch) for arch in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(UNLEARNERS))
def test_unlearner_changes_the_old_answer_and_only_declared_tensors(arch, name, tok, taught) -> None:
    model = copy.deepcopy(taught[arch])
    before = ftkit.state(model)
    old = ftkit.logprob(model, tok, PROMPT, "Paris")
    result = UNLEARNERS[name]().apply(model, tok, ftkit.request("unlearn"))
    changed = ftkit.changed(before, model)
    assert changed and changed <= set(result.touched)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert result.steps == len(result.loss_curve) == 10
    if name == "relearn":
        # ReLearn's published augmentation keeps each fact's original question with its true
        # answer (here the first held-in prompt, PROMPT), so the old answer falls on the variants
        prompt = ftkit.intervention("unlearn").prompts[1]
        before_variant = ftkit.logprob(taught[arch], tok, prompt, "Paris")
        assert ftkit.logprob(model, tok, prompt, "Paris") < before_variant - 0.5
    elif name != "rmu":  # RMU acts on activations; its effect on the answer is tested below
        assert ftkit.logprob(model, tok, PROMPT, "Paris") < old - 0.5


@pytest.mark.parametrize("name", sorted(UNLEARNERS))
def test_unlearner_is_deterministic_and_ignores_an_empty_request(name, tok) -> None:
    a, b = ftkit.llama(), ftkit.llama()
    UNLEARNERS[name]().apply(a, tok, ftkit.request("unlearn", seed=5, k=2))
    UNLEARNERS[name]().apply(b, tok, ftkit.request("unlearn", seed=5, k=2))
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), n
    model = ftkit.gpt2()
    before = ftkit.state(model)
    assert UNLEARNERS[name]().apply(model, tok, ftkit.empty_request("unlearn")).steps == 0
    assert not ftkit.changed(before, model)


@pytest.mark.parametrize("name", sorted(UNLEARNERS))
def test_unlearner_runs_without_retain_items(name, tok) -> None:
    model = ftkit.gpt2()
    result = UNLEARNERS[name]().apply(model, tok, ftkit.request("unlearn", retain=False))
    assert result.steps == 10 and all(math.isfinite(v) for v in result.loss_curve)


def test_npo_reference_is_the_model_before_the_update(tok) -> None:
    """At step 0 the model is its own reference, so NPO's loss is exactly (2/β)·log 2 (without the
    retain term NPO's published configuration adds)."""
    result = NPO(steps=3, retain_weight=0.0).apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))
    assert result.loss_curve[0] == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)


def test_each_loss_gets_exactly_the_inputs_it_names(tok) -> None:
    seen: list[set[str]] = []

    def probe_loss(forget, retain_kl, neutral, beta):
        seen.append({"forget", "retain_kl", "neutral", "beta"})
        assert isinstance(beta, float) and beta == 0.3
        assert forget.logp.shape == neutral.logp.shape
        return losses.nll(neutral) + retain_kl - 0.0 * forget.logp.sum()

    class Probe(FineTuneUnlearner):
        loss = staticmethod(probe_loss)

    # one loss call per micro-batch: 2 steps of the published 4 accumulated micro-batches
    Probe(steps=2, epochs=0, beta=0.3).apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))
    assert len(seen) == 2 * 4


def test_retain_weight_adds_a_retain_term_to_any_loss(tok) -> None:
    plain = GradAscent(steps=1).apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))
    kept = GradAscent(steps=1, retain_weight=1.0).apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))
    kl = GradAscent(steps=1, retain_weight=1.0, retain_term="kl").apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))
    assert kept.loss_curve[0] > plain.loss_curve[0] + 1.0  # + NLL of the retain answers (~3.5)
    assert kl.loss_curve[0] == pytest.approx(plain.loss_curve[0], abs=1e-5)  # KL is 0 at step 0
    with pytest.raises(MethodError, match="retain_term"):
        GradAscent(retain_term="l2").apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))


def test_relearn_learns_vague_answers(tok, taught) -> None:
    model = copy.deepcopy(taught["gpt2"])
    prompt = ftkit.intervention("unlearn").prompts[1]  # a question variant (the first keeps its answer)

    def vague_mass() -> float:
        return sum(math.exp(ftkit.logprob(model, tok, prompt, word)) for word in vague_answers())

    before = vague_mass()
    ReLearn(lr=2e-2, steps=10).apply(model, tok, ftkit.request("unlearn"))
    assert vague_mass() > max(0.1, 100 * before)


@pytest.mark.parametrize("arch", ARCHS)
def test_rmu_steers_its_layer_on_forget_text(arch, tok) -> None:
    """The published setting trains every parameter; an absolute coefficient of 4 pulls the
    steered block's output on the answer token (norm about 0.15 on these toy models) toward a
    vector of norm 4."""
    model = ftkit.MODELS[arch]()
    block = describe(model).block(1)
    ids = torch.tensor([tok(PROMPT + " Paris")["input_ids"]])

    def answer_norm() -> float:
        with torch.no_grad(), Trace(model, block) as tr:
            model(input_ids=ids)
        return float(main_output(tr.output)[0, -1].norm())

    before = answer_norm()
    result = RMU(lr=2e-2, steps=10, steering_coeff=4.0).apply(model, tok, ftkit.request("unlearn"))
    assert result.loss_curve[-1] < result.loss_curve[0]
    after = answer_norm()
    assert after > 2.0 and abs(after - 4.0) < abs(before - 4.0)
    assert set(result.touched) == {n for n, _ in model.named_parameters()}


def test_rmu_restricted_to_the_mlp_trains_the_wmdp_projections(tok) -> None:
    model = ftkit.gpt2()
    result = RMU(lr=2e-2, steps=3, trainable="mlp").apply(model, tok, ftkit.request("unlearn"))
    arch_ = describe(model)
    assert set(result.touched) == {arch_.mlp_out_weight(0), arch_.mlp_out_weight(1)}


def test_rmu_refuses_to_train_layers_above_its_steering_layer(tok) -> None:
    with pytest.raises(MethodError, match="at or below"):
        RMU(layer=0, layers=(0, 2), trainable="mlp").apply(ftkit.gpt2(), tok, ftkit.request("unlearn"))


def test_registered_names_and_families() -> None:
    expected = {GradAscent: "grad-ascent", GradDiff: "grad-diff", NPO: "npo", SimNPO: "simnpo",
                ReLearn: "relearn", RMU: "rmu"}
    for cls, name in expected.items():
        assert cls.name == name and cls.families == frozenset({"unlearn"})


def test_stop_forget_nll_ends_training_once_forgotten(tok, taught) -> None:
    full = GradAscent(lr=2e-2, steps=30).apply(copy.deepcopy(taught["gpt2"]), tok, ftkit.request("unlearn"))
    model = copy.deepcopy(taught["gpt2"])
    early = GradAscent(lr=2e-2, steps=30, stop_forget_nll=3.0).apply(model, tok, ftkit.request("unlearn"))
    assert 0 < early.steps < full.steps
    assert -early.loss_curve[-1] <= 3.0 < -full.loss_curve[-1]  # stopped at the first step past it
    assert -ftkit.logprob(model, tok, PROMPT, "Paris") > 3.0 - 1.0
