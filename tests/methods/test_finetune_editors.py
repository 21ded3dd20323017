"""FT-L, FT-M and LoRA on tiny random GPT-2- and Llama-layout models: they move the new object up,
touch only what they declare, are deterministic, leave no trace of their machinery (LoRA adapters,
requires_grad flags, global RNG) and change nothing for an empty request."""

from __future__ import annotations

import ftkit
import pytest
import torch

from ksmith.errors import MethodError
from ksmith.methods.finetune import FTL, FTM, parameter_names
from ksmith.methods.lora import LoRA
from ksmith.methods.training import TrainPair, tokenize_pairs
from ksmith.models.arch import describe

ARCHS = sorted(ftkit.MODELS)
#: The machinery under test, on the last block of the 3-block toy models (the defaults depend on
#: whether a model is tiny-kg or pretrained; see test_ft_defaults_tune_one_mlp_output_projection).
EDITORS = {
    "ft-m": lambda: FTM(lr=5e-2, steps=15, layers=(2,)),
    "ft-l": lambda: FTL(lr=5e-2, steps=15, norm_bound=0.2, layers=(2,)),
    "lora": lambda: LoRA(lr=5e-2, steps=15, layers=(2,)),
}


@pytest.fixture(scope="module")
def tok():
    return ftkit.tokenizer()


def test_tokenize_pairs_marks_exactly_the_target_tokens(tok) -> None:
    batch = tokenize_pairs(tok, [TrainPair("the capital of France is", " Paris"),
                                 TrainPair("France capital is", " something unknown")])
    assert batch.input_ids.shape == (2, 6)
    targets = [tok.convert_ids_to_tokens(batch.input_ids[b][batch.target_mask[b]].tolist()) for b in range(2)]
    assert targets == [["Paris"], ["something", "unknown"]]
    assert batch.attention_mask[1].tolist() == [1, 1, 1, 1, 1, 0]


def test_tokenize_pairs_rejects_an_empty_target(tok) -> None:
    with pytest.raises(MethodError, match="adds no token"):
        tokenize_pairs(tok, [TrainPair("the capital of France is", "")])


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(EDITORS))
def test_editor_raises_the_new_object_and_touches_only_what_it_declares(arch, name, tok) -> None:
    model = ftkit.MODELS[arch]()
    before = ftkit.state(model)
    prompt = "the capital of France is"
    old = ftkit.logprob(model, tok, prompt, "Lyon")
    result = EDITORS[name]().apply(model, tok, ftkit.request("edit"))
    assert ftkit.logprob(model, tok, prompt, "Lyon") > old + 0.5
    changed = ftkit.changed(before, model)
    assert changed and changed <= set(result.touched)
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert result.steps == len(result.loss_curve) > 0 and result.wall_s > 0


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("name", sorted(EDITORS))
def test_editor_is_deterministic_for_a_seed(arch, name, tok) -> None:
    a, b = ftkit.MODELS[arch](), ftkit.MODELS[arch]()
    EDITORS[name]().apply(a, tok, ftkit.request("edit", seed=3, k=2))
    EDITORS[name]().apply(b, tok, ftkit.request("edit", seed=3, k=2))
    for (n, pa), pb in zip(a.named_parameters(), b.parameters()):
        assert torch.equal(pa, pb), n


@pytest.mark.parametrize("name", sorted(EDITORS))
def test_empty_request_changes_nothing(name, tok) -> None:
    model = ftkit.gpt2()
    before = ftkit.state(model)
    result = EDITORS[name]().apply(model, tok, ftkit.empty_request("edit"))
    assert not ftkit.changed(before, model)
    assert result.steps == 0


@pytest.mark.parametrize("arch", ARCHS)
def test_ft_l_stays_inside_its_linf_bound(arch, tok) -> None:
    model = ftkit.MODELS[arch]()
    before = ftkit.state(model)
    result = FTL(lr=0.1, steps=10, norm_bound=1e-3).apply(model, tok, ftkit.request("edit"))
    (name,) = result.touched
    delta = (model.get_parameter(name).detach() - before[name]).abs().max()
    assert 0 < float(delta) <= 1e-3 + 1e-7


def test_ft_defaults_tune_one_mlp_output_projection(tok) -> None:
    """On tiny-kg, FT-L and FT-M both tune the block three quarters up (3 blocks: block 2); on a
    pretrained model, EasyEdit's block (GPT-2 XL: block 0; Llama-7B: 21 of 32, here 2 of 3)."""
    for factory, published in ((ftkit.gpt2, 0), (ftkit.llama, 2)):
        model = factory()
        arch = describe(model)
        assert FTL(steps=1).apply(model, tok, ftkit.request("edit")).touched == (arch.mlp_out_weight(published),)
        assert FTM(steps=1).apply(model, tok, ftkit.request("edit")).touched == (arch.mlp_out_weight(published),)
        model.config.ksmith_profile = "tiny-kg"
        assert FTL(steps=1).apply(model, tok, ftkit.request("edit")).touched == (arch.mlp_out_weight(2),)
        assert FTM(steps=1).apply(model, tok, ftkit.request("edit")).touched == (arch.mlp_out_weight(2),)


def test_ft_rejects_unknown_modules_and_layers() -> None:
    arch = describe(ftkit.gpt2())
    with pytest.raises(MethodError, match="unknown module"):
        parameter_names(arch, (0,), ("attn",))
    with pytest.raises(MethodError, match="out of range"):
        parameter_names(arch, (7,), ("mlp_out",))


def test_ft_retain_term_holds_retain_answers_better(tok) -> None:
    """With a retain NLL term the retain answer's log-prob moves less than without it."""
    prompt = "the capital of Italy is"
    drift = {}
    for weight in (0.0, 1.0):
        model = ftkit.gpt2()
        base = ftkit.logprob(model, tok, prompt, "Rome")
        FTM(lr=5e-2, steps=15, retain_weight=weight, layers=(0, 1, 2)).apply(model, tok, ftkit.request("edit"))
        drift[weight] = ftkit.logprob(model, tok, prompt, "Rome") - base
    assert drift[1.0] > drift[0.0]


@pytest.mark.parametrize("arch", ARCHS)
def test_lora_merges_back_into_plain_weights(arch, tok) -> None:
    model = ftkit.MODELS[arch]()
    model.get_parameter(describe(model).embed + ".weight").requires_grad_(False)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    ids = {n: id(p) for n, p in model.named_parameters()}
    module_types = {n: type(m) for n, m in model.named_modules()}
    rng = torch.get_rng_state()
    result = LoRA(lr=5e-2, steps=5).apply(model, tok, ftkit.request("edit"))
    assert {n: id(p) for n, p in model.named_parameters()} == ids
    assert {n: type(m) for n, m in model.named_modules()} == module_types
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags
    assert not any("lora" in n for n, _ in model.named_parameters())
    assert not hasattr(model, "peft_config")
    assert torch.equal(torch.get_rng_state(), rng)
    arch_ = describe(model)
    # A pretrained model's default block: EasyEdit's FT block (GPT-2 XL: 0; Llama-7B: 21 of 32, here 2).
    assert set(result.touched) == {arch_.mlp_out_weight({"gpt2": 0, "llama": 2}[arch_.model_type])}


def test_training_leaves_no_grads_and_keeps_eval_mode(tok) -> None:
    model = ftkit.gpt2()
    model.train()
    FTM(steps=2).apply(model, tok, ftkit.request("edit"))
    assert model.training
    assert all(p.grad is None for p in model.parameters())


def test_minibatches_are_seeded_epochs_that_cover_every_item() -> None:
    from ksmith.methods.training import minibatches, steps_for

    batches = list(minibatches(10, 4, 6, torch.Generator().manual_seed(0)))
    assert [len(b) for b in batches] == [4, 4, 2, 4, 4, 2]
    first, second = [i for b in batches[:3] for i in b], [i for b in batches[3:] for i in b]
    assert sorted(first) == list(range(10)) == sorted(second)
    assert batches == list(minibatches(10, 4, 6, torch.Generator().manual_seed(0)))
    assert steps_for(10, 4, steps=2, epochs=3) == 9 and steps_for(10, 64, steps=30, epochs=3) == 30


def test_train_stops_only_when_a_whole_window_is_below_stop_loss() -> None:
    from ksmith.methods.training import ParamSet, train

    model = ftkit.gpt2()
    params = ParamSet(model, [describe(model).mlp_out_weight(0)])
    scripted = [2.0, 0.1, 0.2, 3.0, 0.1, 0.1, 0.1, 5.0]
    w = params.params[0]

    def loss(step: int) -> torch.Tensor:
        return (w * 0).sum() + scripted[step]

    curve = train(model, params, loss, steps=len(scripted), lr=1e-3, stop_loss=0.5, stop_window=3)
    assert curve == pytest.approx(scripted[:7])
