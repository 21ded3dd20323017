"""The unlearners train as their references do (open-unlearning d3d7cf9, zjunlp/unlearn 0800fd2):
AdamW with decay and a linear warm-up / decay schedule, every parameter by default, RMU's absolute
control vector on the answer tokens, ReLearn's relearn_klr_gdr, and the named step budgets.
Toy models from `ksmith.conformance.toy` (random weights; nothing here needs a model that knows)."""

from __future__ import annotations

import pytest
import torch

from ksmith.conformance import toy
from ksmith.methods import losses, training
from ksmith.methods.unlearn import (
    FORGET10_FACTS,
    NPO,
    RMU,
    GradAscent,
    GradDiff,
    ReLearn,
    ReLearnHparams,
    SimNPO,
    UnlearnHparams,
    schedule,
)
from ksmith.models.arch import describe


@pytest.fixture(scope="module")
def tok():
    return toy.tokenizer()


@pytest.fixture
def built(monkeypatch):
    """The optimisers and schedules `train` builds during a test."""
    seen: dict[str, list] = {"optimizers": [], "schedules": []}
    build_optimizer, build_schedule = training.build_optimizer, training.build_schedule

    def spy_optimizer(*args, **kwargs):
        seen["optimizers"].append(build_optimizer(*args, **kwargs))
        return seen["optimizers"][-1]

    def spy_schedule(*args, **kwargs):
        seen["schedules"].append(build_schedule(*args, **kwargs))
        return seen["schedules"][-1]

    monkeypatch.setattr(training, "build_optimizer", spy_optimizer)
    monkeypatch.setattr(training, "build_schedule", spy_schedule)
    return seen


@pytest.mark.parametrize("cls", [GradAscent, GradDiff, NPO, SimNPO, RMU])
def test_published_unlearners_use_adamw_with_decay_on_matrices(cls, tok, built) -> None:
    model = toy.tiny_model("gpt2")
    result = cls().apply(model, tok, toy.request("unlearn", n=2))
    (opt,) = built["optimizers"]
    assert isinstance(opt, torch.optim.AdamW)
    decayed, exempt = opt.param_groups
    assert decayed["initial_lr"] == 1e-5 and decayed["lr"] == 0.0  # decayed to 0 by the last step
    assert decayed["weight_decay"] == 0.01 and all(p.ndim >= 2 for p in decayed["params"])
    assert exempt["weight_decay"] == 0.0 and all(p.ndim == 1 for p in exempt["params"])  # biases, norms
    assert isinstance(built["schedules"][0], torch.optim.lr_scheduler.LambdaLR)
    assert result.steps == 10  # 10 epochs of one update (4 prompts < one batch of 8 x 4)


def test_the_schedule_warms_up_linearly_then_decays_to_zero(tok, built) -> None:
    """Hugging Face's linear schedule: the first step's factor is 0, one epoch of warm-up steps
    (int(epochs x items // (batch x accumulation)) = 16 // 4), then linear decay to 0."""
    model = toy.tiny_model("llama")
    result = GradAscent(batch_size=2, accumulation=2).apply(model, tok, toy.request("unlearn", n=8))
    assert result.steps == 40 and result.extra["warmup_steps"] == 4  # 10 epochs x (8 batches // 2)
    (opt,), (sched,) = built["optimizers"], built["schedules"]
    factor = sched.lr_lambdas[0]
    assert [factor(s) for s in (0, 1, 2, 4)] == [0.0, 0.25, 0.5, 1.0]
    assert factor(22) == pytest.approx(0.5) and factor(40) == 0.0
    assert sched.last_epoch == 40 and all(g["lr"] == 0.0 for g in opt.param_groups)


@pytest.mark.parametrize("layout", toy.LAYOUTS)
@pytest.mark.parametrize("cls", [GradAscent, NPO])
def test_every_parameter_trains_by_default(cls, layout, tok, built) -> None:
    model = toy.tiny_model(layout)
    names = {n for n, _ in model.named_parameters()}
    before = toy.state(model)
    result = cls().apply(model, tok, toy.request("unlearn", n=2))
    assert set(result.touched) == names
    (opt,) = built["optimizers"]
    assert sum(len(g["params"]) for g in opt.param_groups) == len(names)
    assert toy.changed(before, model) == names


def test_trainable_mlp_restricts_to_the_chosen_projections(tok) -> None:
    model = toy.tiny_model("llama")
    arch = describe(model)
    before = toy.state(model)
    result = NPO(trainable="mlp", layers=(1,), modules=("mlp_out",)).apply(model, tok, toy.request("unlearn"))
    assert result.touched == (arch.mlp_out_weight(1),)
    assert toy.changed(before, model) == {arch.mlp_out_weight(1)}


def test_forget_weight_scales_a_forget_only_loss(tok) -> None:
    """SimNPO's published 0.125 · forget + 1 · retain, at step 0 (the retain NLL there is the
    same with either forget weight)."""
    plain = SimNPO(forget_weight=1.0, retain_weight=0.0).apply(toy.tiny_model("gpt2"), tok, toy.request("unlearn"))
    weighted = SimNPO(forget_weight=0.125, retain_weight=0.0).apply(toy.tiny_model("gpt2"), tok, toy.request("unlearn"))
    assert weighted.loss_curve[0] == pytest.approx(0.125 * plain.loss_curve[0], rel=1e-6)


@pytest.fixture
def rmu_calls(monkeypatch):
    calls: list[dict] = []
    rmu = losses.rmu

    def spy(forget_act, control, forget_mask, *args, **kwargs):
        calls.append({"act": forget_act.detach(), "control": control.detach(), "mask": forget_mask.clone()})
        return rmu(forget_act, control, forget_mask, *args, **kwargs)

    monkeypatch.setattr(losses, "rmu", spy)
    return calls


def test_rmu_control_vector_has_the_coefficient_as_norm_whatever_the_activations(tok, rmu_calls) -> None:
    """The reference's control vector is a random unit vector times steering_coeff: scaling the
    model's activations by 100 changes it not at all (the old one grew with their mean norm)."""
    plain = toy.tiny_model("llama")
    loud = toy.tiny_model("llama")
    with torch.no_grad():
        loud.get_input_embeddings().weight.mul_(100.0)  # every block's output scales up
    RMU(steering_coeff=3.0, steps=1, epochs=0).apply(plain, tok, toy.request("unlearn"))
    first = rmu_calls[0]
    rmu_calls.clear()
    RMU(steering_coeff=3.0, steps=1, epochs=0).apply(loud, tok, toy.request("unlearn"))
    second = rmu_calls[0]
    assert second["act"].norm(dim=-1).mean() > 10 * first["act"].norm(dim=-1).mean()
    assert float(first["control"].norm()) == pytest.approx(3.0, rel=1e-6)
    assert torch.equal(first["control"], second["control"])
    assert bool((first["control"] >= 0).all())  # uniform [0, 1) direction, as torch.rand draws it


def test_rmu_loss_covers_the_answer_tokens_only(tok, rmu_calls) -> None:
    request = toy.request("unlearn")
    RMU(steps=1, epochs=0, accumulation=1).apply(toy.tiny_model("gpt2"), tok, request)
    mask = rmu_calls[0]["mask"]
    assert mask.dtype == torch.bool and mask.shape[0] == 4  # 2 facts x 2 prompts
    assert mask.sum(-1).tolist() == [1, 1, 1, 1]  # one-word objects: one answer token per pair
    prompt_lengths = [len(tok(p)["input_ids"]) for iv in request.interventions for p in iv.prompts]
    assert sorted(int(row.nonzero()[0]) for row in mask) == sorted(prompt_lengths)  # right after the prompt


def test_relearn_trains_lora_adapters_and_merges_them(tok) -> None:
    model = toy.tiny_model("gpt2")
    arch = describe(model)
    before = toy.state(model)
    result = ReLearn(steps=3).apply(model, tok, toy.request("unlearn"))
    linear = {f"{arch.block(i)}.{m}.weight" for i in range(arch.num_layers) for m in ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")}
    assert set(result.touched) == linear
    assert toy.changed(before, model) <= linear and toy.changed(before, model)
    assert not any("lora" in n for n, _ in model.named_parameters())


def test_relearn_kl_covers_every_real_position_of_the_retain_items(tok, monkeypatch) -> None:
    """Both references take the KL over every position of the retain sequence (view(-1, V))."""
    sizes: list[int] = []
    kl = losses.kl_retain

    def spy(logits, ref_logits):
        sizes.append(logits.shape[0])
        return kl(logits, ref_logits)

    monkeypatch.setattr(losses, "kl_retain", spy)
    request = toy.request("unlearn")
    ReLearn(steps=1, epochs=0, accumulation=1, batch_size=8, trainable="mlp").apply(toy.tiny_model("gpt2"), tok, request)
    lengths = [len(tok(f"{item.prompt} {item.answer}")["input_ids"]) for item in request.retain]
    # each micro-batch: 4 forget pairs -> retain items 0..3 (i mod 4), at all their positions
    assert sizes and set(sizes) == {sum(lengths)}


def test_relearn_keeps_each_facts_first_question_with_its_true_answer() -> None:
    request = toy.request("unlearn")
    pairs = ReLearn().neutral_pairs(request, torch.Generator().manual_seed(0), ReLearnHparams())
    olds = [(p.prompt, p.target) for p in pairs if p.target.strip() in {iv.old_object for iv in request.interventions}]
    assert olds == [(iv.prompts[0], " " + iv.old_object) for iv in request.interventions]
    plain = ReLearn().neutral_pairs(request, torch.Generator().manual_seed(0), ReLearnHparams(original_pairs=False))
    assert not any(p.target.strip() == iv.old_object for p in plain for iv in request.interventions)


def test_budget_presets_give_the_stated_steps() -> None:
    """open-unlearning's TOFU rule: forget10 (400 pairs) 120 steps / 12 warm-up, forget01 (40)
    10 / 1; "forget10" shares 120 / 400 steps per fact out; ReLearn's zjunlp rule: int(2 n) // 8."""
    hp = UnlearnHparams()
    assert schedule(hp, FORGET10_FACTS, FORGET10_FACTS) == (120, 12)
    assert schedule(hp, 40, 40) == (10, 1)
    assert schedule(hp, 30, 10) == (10, 0)  # 10 facts x 3 prompts: one update per epoch
    assert schedule(hp, 300, 100) == (90, 9)
    per_fact = UnlearnHparams(budget="forget10")
    assert [schedule(per_fact, 3 * k, k) for k in (1, 10, 100, 400, 1000)] == [
        (1, 0), (3, 0), (30, 3), (120, 12), (300, 30)
    ]
    relearn = ReLearnHparams()
    assert schedule(relearn, 30, 10) == (7, 3)
    assert schedule(relearn, 3, 1) == (3, 1)  # int(2 x 3) // 8 = 0: the Trainer's 3 default epochs
    assert schedule(relearn, 4, 2) == (1, 0)  # one step: its warm-up would make it a no-op
    assert schedule(ReLearnHparams(budget="forget10"), 30, 10) == (3, 1)  # 100 / 400 per fact
    assert schedule(UnlearnHparams(steps=50), 30, 10) == (50, 0)  # `steps` stays a floor


def test_budget_applies_to_a_run(tok) -> None:
    request = toy.request("unlearn", n=8)
    assert GradAscent(budget="forget10").apply(toy.tiny_model("gpt2"), tok, request).steps == 3  # ceil(8 x 0.3)
    assert GradAscent().apply(toy.tiny_model("gpt2"), tok, request).steps == 10


@pytest.mark.parametrize(
    "field, value", [("budget", "forget01"), ("trainable", "attn"), ("retain_sampling", "any"), ("schedule", "cosine")]
)
def test_unknown_settings_are_refused(field, value, tok) -> None:
    from ksmith.errors import MethodError

    with pytest.raises(MethodError, match=field):
        GradAscent(**{field: value}).apply(toy.tiny_model("gpt2"), tok, toy.request("unlearn"))
