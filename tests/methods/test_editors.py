"""ROME, MEMIT, AlphaEdit, IKE and their shared machinery on toy models.

The algebra is checked exactly (what each closed-form update guarantees); efficacy is checked on a
toy model trained for a few seconds on the toy corpus, so an edit has something to overwrite.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from ksmith.conformance import toy
from ksmith.errors import MethodError
from ksmith.methods import get_method
from ksmith.methods.alphaedit import null_space_projector
from ksmith.methods.base import UpdateRequest
from ksmith.methods.covariance import key_second_moment, weights_hash
from ksmith.methods.locate import edit_targets, key_batch, neutral_object, prompt_batch
from ksmith.methods.memit import MEMIT, MEMITHparams
from ksmith.probes.types import Intervention


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def trained_state() -> dict[str, dict[str, torch.Tensor]]:
    """Toy models of both layouts trained on the toy corpus until they know most of its facts."""
    return {layout: toy.state(toy.train(toy.tiny_model(layout, layers=4))) for layout in toy.LAYOUTS}


def _trained(layout: str, states: dict[str, dict[str, torch.Tensor]]):
    model = toy.tiny_model(layout, layers=4)
    model.load_state_dict(states[layout], strict=False)
    return model


def _logp(model, tok, prompt: str, word: str) -> float:
    ids = tok(prompt)["input_ids"]
    with torch.no_grad():
        logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
    return float(torch.log_softmax(logits, -1)[tok.convert_tokens_to_ids(word)])


def _corpus_file(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(toy.corpus()))
    return str(path)


# ------------------------------------------------------------------------------------ efficacy


#: The toy model memorises its 72 sentences to a margin of ~15 nats (far more than tiny-kg), so
#: the edit gets a larger norm budget here; what is checked is that the edit moves the margin a lot.
TOY = dict(key_position="prompt_last", clamp_norm=10.0)
#: The toy models are no pretrained models: the value optimisation these tests exercise gets
#: ksmith's own settings (60 steps, lr 0.5, decay 1e-3), not a published configuration's.
TOY.update(v_steps=60, v_lr=0.5, weight_decay=1e-3)
#: MEMIT's prior: the toy's key statistics come from the very 72 sentences being edited, so at the
#: default weight (0.1) the prior counts the edited key as ordinary text and holds it back: the mean
#: margin shift was 3.1-5.9 on one GPT-2 toy, depending on which CPU kernels trained it, against 24
#: at 0.01 (measured on one AMD EPYC, under MKL's default and vendor-neutral paths).
#: AlphaEdit's ridge and null-space threshold: the published `L2` (10 for GPT-2 XL, 1 for Llama) and
#: threshold (2e-2) are absolute, on those models' key scale. The toy's keys are on another (tr(C)
#: 24-90, λ_max 6.5-43): at the published values the mean margin shift was 2.2-3.9, so the toy takes
#: ksmith's scale-free forms (l2 0.01 tr(C), threshold 1e-2 λ_max; 24-26 on the edit).
PRIOR = {
    "memit": {"mom2_weight": 0.01},
    "alphaedit": {"l2": 0.01, "l2_scaled": True, "null_threshold": 1e-2, "null_relative": True},
}


def _margins(model, tok, prompts, new: str, old: str) -> torch.Tensor:
    return torch.tensor([_logp(model, tok, p, new) - _logp(model, tok, p, old) for p in prompts])


@pytest.mark.parametrize("layout", toy.LAYOUTS)
@pytest.mark.parametrize("method", ["rome", "memit", "alphaedit"])
def test_edit_moves_the_model_toward_the_new_object(method: str, layout: str, trained_state, tmp_path: Path) -> None:
    model, tok = _trained(layout, trained_state), toy.tokenizer()
    request = toy.request("edit", n=1)
    iv = request.interventions[0]
    before = _margins(model, tok, iv.prompts, iv.new_object, iv.old_object)
    assert (before < 0).all(), "the trained toy model should prefer the old object"
    get_method(method, covariance_corpus=_corpus_file(tmp_path), **TOY, **PRIOR.get(method, {})).apply(model, tok, request)
    after = _margins(model, tok, iv.prompts, iv.new_object, iv.old_object)
    assert (after - before).mean() > 5.0, f"{method}: margins {before.tolist()} -> {after.tolist()}"


@pytest.mark.parametrize("method", ["rome", "memit", "alphaedit"])
def test_editing_as_unlearning_moves_toward_the_neutral_object(method: str, trained_state, tmp_path: Path) -> None:
    model, tok = _trained("llama", trained_state), toy.tokenizer()
    request = toy.request("unlearn", n=1)
    iv = request.interventions[0]
    neutral = neutral_object()
    assert neutral == "unknown"
    before = _margins(model, tok, iv.prompts, neutral, iv.old_object)
    get_method(method, covariance_corpus=_corpus_file(tmp_path), **TOY, **PRIOR.get(method, {})).apply(model, tok, request)
    after = _margins(model, tok, iv.prompts, neutral, iv.old_object)
    assert (after - before).mean() > 5.0, f"{method}: margins {before.tolist()} -> {after.tolist()}"


# ------------------------------------------------------------------------------------ algebra


def test_rome_is_rank_one_and_writes_the_value_at_the_key(trained_state, tmp_path: Path) -> None:
    model, tok = _trained("gpt2", trained_state), toy.tokenizer()
    method = get_method("rome", layer=1, covariance_corpus=_corpus_file(tmp_path))
    name = "transformer.h.1.mlp.c_proj.weight"
    w0 = model.get_parameter(name).detach().clone()
    result = method.apply(model, tok, toy.request("edit", n=1))
    delta_w = model.get_parameter(name).detach() - w0
    assert result.touched == (name,)
    s = torch.linalg.svdvals(delta_w)
    assert s[0] > 0 and s[1] / s[0] < 1e-5


def test_rome_leaves_keys_orthogonal_to_c_inverse_k_unchanged(trained_state, tmp_path: Path) -> None:
    """W' k = W k for every k with (C⁻¹k*)ᵀ k = 0: the update only moves one direction.

    With the toy's few-sentence corpus C is near-singular: without a ridge C⁻¹k* is huge and the
    float32 rank-one update's rounding (another CPU's kernels give other rounding) swamps the check,
    so the toy uses tiny-kg's ridge; the property does not depend on C."""
    model, tok = _trained("llama", trained_state), toy.tokenizer()
    name = "model.layers.1.mlp.down_proj.weight"
    w0 = model.get_parameter(name).detach().clone()  # Linear: [out, in]
    rome = get_method("rome", layer=1, covariance_corpus=_corpus_file(tmp_path), cov_ridge=1e-3)
    rome.apply(model, tok, toy.request("edit", n=1))
    delta_w = model.get_parameter(name).detach() - w0
    direction = torch.linalg.svd(delta_w).Vh[0]  # the only input direction the update reads
    k = torch.randn(delta_w.shape[1], generator=torch.Generator().manual_seed(0))
    k = k - (k @ direction) * direction
    assert torch.allclose(delta_w @ k, torch.zeros(delta_w.shape[0]), atol=1e-5)


def test_memit_solve_satisfies_its_normal_equations() -> None:
    gen = torch.Generator().manual_seed(0)
    keys, resid = torch.randn(5, 12, generator=gen), torch.randn(5, 7, generator=gen)
    a = torch.randn(12, 12, generator=gen)
    moment = a @ a.t() / 12
    hp = MEMITHparams(mom2_weight=0.5)
    update_t = MEMIT().solve(hp, moment, keys, resid, None)
    assert update_t.dtype == torch.float64  # solved in float64 (cast once, when written)
    lhs = (0.5 * 12 * moment + keys.t() @ keys).double() @ update_t
    assert torch.allclose(lhs, (keys.t() @ resid).double(), atol=1e-4)


def test_null_space_projector_is_a_projection_onto_small_directions() -> None:
    gen = torch.Generator().manual_seed(1)
    basis, _ = torch.linalg.qr(torch.randn(8, 8, generator=gen))
    values = torch.tensor([10.0, 5.0, 2.0, 1.0, 1e-4, 1e-5, 0.0, 0.0])
    moment = basis @ torch.diag(values) @ basis.t()
    p = null_space_projector(moment, 1e-3)
    assert torch.allclose(p @ p, p, atol=1e-5) and torch.allclose(p, p.t(), atol=1e-6)
    assert abs(float(torch.trace(p)) - 4.0) < 1e-4
    assert torch.allclose(p @ basis[:, :4].double(), torch.zeros(8, 4, dtype=torch.float64), atol=1e-5)


def test_alphaedit_update_does_not_move_preserved_keys(trained_state, tmp_path: Path) -> None:
    """ΔW k₀ ≈ 0 for the preserved keys: with no retain items, the corpus keys' directions whose
    eigenvalue is at least the (absolute) threshold."""
    model, tok = _trained("gpt2", trained_state), toy.tokenizer()
    corpus = _corpus_file(tmp_path)
    name = "transformer.h.1.mlp.c_proj.weight"
    w0 = model.get_parameter(name).detach().clone()
    stats = key_second_moment(model, tok, "transformer.h.1.mlp.c_proj", corpus=corpus)
    values, vectors = torch.linalg.eigh(stats.moment.double())
    threshold = 1e-2 * float(values.max())  # on the toy's key scale (see PRIOR)
    request = dataclasses.replace(toy.request("edit", n=2), retain=())
    get_method("alphaedit", layers=(1,), covariance_corpus=corpus, null_threshold=threshold).apply(model, tok, request)
    delta_t = model.get_parameter(name).detach() - w0  # Conv1D: [in, out], so k @ delta_t
    big = vectors[:, values >= threshold].float()
    moved = (big.t() @ delta_t).norm() / delta_t.norm().clamp(min=1e-12)
    assert delta_t.norm() > 0 and moved < 1e-3


# ------------------------------------------------------------------------------------ machinery


def test_key_position_finds_the_subject_and_the_prompt_end() -> None:
    tok = toy.tokenizer()
    rows = [(0, "The habitat of Zorblat is", "Zorblat", None), (1, "Zorblat has the habitat", "Zorblat", None)]
    subj = prompt_batch(tok, rows, "subject_last")
    last = prompt_batch(tok, rows, "prompt_last")
    ids = subj.input_ids
    zorblat = tok.convert_tokens_to_ids("Zorblat")
    assert [int(ids[r, subj.key_pos[r]]) for r in range(2)] == [zorblat, zorblat]
    assert last.key_pos.tolist() == [4, 3]


def test_missing_subject_and_bad_layer_are_method_errors() -> None:
    tok, model = toy.tokenizer(), toy.tiny_model("gpt2")
    iv = Intervention("x", "edit", "Nobody", "habitat", "forest", "desert", "toy", "leaf", ("The habitat of Zorblat is",))
    with pytest.raises(MethodError, match="does not occur"):
        key_batch(tok, edit_targets(UpdateRequest("edit", (iv,))), "subject_last", "cpu")
    with pytest.raises(MethodError, match="out of range"):
        get_method("rome", layer=7).apply(model, tok, toy.request("edit", n=1))
    with pytest.raises(MethodError, match="key_position"):
        get_method("memit", key_position="middle").apply(model, tok, toy.request("edit", n=1))


def test_unlearn_targets_are_the_neutral_object() -> None:
    targets = edit_targets(toy.request("unlearn", n=2))
    assert {t.target for t in targets} == {neutral_object()}


def test_key_statistics_are_cached_and_keyed_by_the_weights(tmp_path: Path) -> None:
    tok = toy.tokenizer()
    a, b = toy.tiny_model("gpt2", seed=0), toy.tiny_model("gpt2", seed=1)
    corpus = _corpus_file(tmp_path)
    first = key_second_moment(a, tok, "transformer.h.1.mlp.c_proj", corpus=corpus)
    again = key_second_moment(a, tok, "transformer.h.1.mlp.c_proj", corpus=corpus)
    other = key_second_moment(b, tok, "transformer.h.1.mlp.c_proj", corpus=corpus)
    assert not first.cached and again.cached and not other.cached
    assert torch.equal(first.moment, again.moment) and not torch.equal(first.moment, other.moment)
    assert torch.allclose(first.moment, first.moment.t()) and torch.linalg.eigvalsh(first.moment.double()).min() > -1e-6
    assert weights_hash(a) != weights_hash(b)


def test_editing_above_the_layer_keeps_the_cached_statistics(tmp_path: Path) -> None:
    tok, model = toy.tokenizer(), toy.tiny_model("gpt2")
    corpus = _corpus_file(tmp_path)
    skip = ("transformer.h.2.",)
    key_second_moment(model, tok, "transformer.h.1.mlp.c_proj", corpus=corpus, skip_prefixes=skip)
    with torch.no_grad():
        model.get_parameter("transformer.h.2.mlp.c_proj.weight").add_(1.0)
    assert key_second_moment(model, tok, "transformer.h.1.mlp.c_proj", corpus=corpus, skip_prefixes=skip).cached


def test_sampled_corpus_is_deterministic_and_leaves_the_rng_alone() -> None:
    tok, model = toy.tokenizer(), toy.tiny_model("llama")
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    first = key_second_moment(model, tok, "model.layers.0.mlp.down_proj", samples=8, sample_length=6)
    assert torch.equal(torch.rand(1), expected)
    from ksmith.methods.covariance import sample_corpus

    assert sample_corpus(model, tok, 4, 6, seed=5) == sample_corpus(model, tok, 4, 6, seed=5)
    assert first.count == 8 * 6


def test_missing_corpus_file_is_a_method_error(tmp_path: Path) -> None:
    with pytest.raises(MethodError, match="not a file"):
        key_second_moment(toy.tiny_model("gpt2"), toy.tokenizer(), "transformer.h.0.mlp.c_proj", corpus=tmp_path / "no.txt")


def test_ike_states_the_new_fact_and_changes_no_weight() -> None:
    model, tok = toy.tiny_model("gpt2"), toy.tokenizer()
    before = toy.state(model)
    request = toy.request("edit", n=2)
    result = get_method("ike", statements=2).apply(model, tok, request)
    iv = request.interventions[0]
    assert result.prompt_prefix[iv.id] == f"{iv.prompts[0]} {iv.new_object} . {iv.prompts[1]} {iv.new_object} . "
    assert result.touched == () and not toy.changed(before, model)
    with pytest.raises(MethodError, match="edit. task only"):
        get_method("ike").apply(model, tok, toy.request("unlearn", n=1))


def test_sampled_corpus_is_shared_by_the_layers(tmp_path: Path, monkeypatch) -> None:
    """Statistics of two layers of one model sample their text once (the second reads the cache)."""
    import ksmith.methods.covariance as covariance

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    tok, model = toy.tokenizer(), toy.tiny_model("llama")
    calls = []
    real = covariance.sample_corpus
    monkeypatch.setattr(covariance, "sample_corpus", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = key_second_moment(model, tok, "model.layers.0.mlp.down_proj", samples=8, sample_length=6)
    second = key_second_moment(model, tok, "model.layers.1.mlp.down_proj", samples=8, sample_length=6)
    assert len(calls) == 1 and not first.cached and not second.cached
    assert first.count == second.count == 8 * 6
