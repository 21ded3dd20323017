"""ROME, MEMIT and AlphaEdit follow their reference (EasyEdit, commit 14cea82) where it is clear.

Each test pins one rule of the reference that ksmith once departed from: the null-space threshold
is absolute (`AlphaEdit_main.get_project`), the ridge is `L2 · I` (`execute_AlphaEdit`), MEMIT's and
AlphaEdit's value is clamped and decayed against the residual stream at the last edited layer
(`compute_z`'s `target_init`), the decay is ‖δ‖/‖v‖², the KL is KL(new ‖ original) after
"{} is a" at the subject's last token, and a target stops with the value last evaluated once its
loss is below 5e-2. ksmith's earlier forms stay reachable as hyper-parameters (tiny-kg uses them).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ksmith.conformance import toy
from ksmith.methods import get_method
from ksmith.methods import memit as memit_module
from ksmith.methods.alphaedit import AlphaEdit, AlphaEditHparams, null_space_projector
from ksmith.methods.locate import (
    TINY_VALUE_FORMS,
    EditTarget,
    ValueSettings,
    decay_terms,
    kl_batch,
    kl_terms,
    optimise_values,
    prompt_batch,
)
from ksmith.methods.nethook import Trace
from ksmith.models.arch import ARCHITECTURES, Architecture


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))


def _corpus_file(tmp_path: Path) -> str:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(toy.corpus()))
    return str(path)


def _targets(n: int = 2) -> list[EditTarget]:
    return [EditTarget(iv.id, iv.subject, tuple(iv.prompts), iv.new_object) for iv in toy.request("edit", n=n).interventions]


# ------------------------------------------------------------------------------- AlphaEdit's solve


def test_null_space_projector_keeps_exactly_the_eigenvectors_below_the_absolute_threshold() -> None:
    """Eigenvalues 100 ... 0 and threshold 2e-2: the projector spans the four eigenvectors below
    2e-2 (the reference's `S < nullspace_threshold`), not the six below 2e-2 · λ_max."""
    basis, _ = torch.linalg.qr(torch.randn(8, 8, generator=torch.Generator().manual_seed(3), dtype=torch.float64))
    values = torch.tensor([100.0, 50.0, 0.5, 0.03, 0.01, 0.001, 0.0, 0.0], dtype=torch.float64)
    moment = basis @ torch.diag(values) @ basis.t()
    small = basis[:, 4:]
    assert torch.allclose(null_space_projector(moment, 2e-2), small @ small.t(), atol=1e-10)
    relative = basis[:, 2:]  # below 2e-2 · 100 = 2: ksmith's earlier form, `null_relative=True`
    assert torch.allclose(null_space_projector(moment, 2e-2, relative=True), relative @ relative.t(), atol=1e-10)


@pytest.mark.parametrize("scaled", [False, True])
def test_alphaedit_solve_adds_the_references_l2_ridge(scaled: bool) -> None:
    """ΔWᵀ solves (P KᵀK + L2 · I) X = P Kᵀ R with L2 absolute (the reference); `l2_scaled` makes it
    L2 · tr(C)."""
    gen = torch.Generator().manual_seed(4)
    keys, resid = torch.randn(3, 10, generator=gen), torch.randn(3, 6, generator=gen)
    a = torch.randn(10, 10, generator=gen, dtype=torch.float64)
    moment = 5.0 * a @ a.t()  # tr(C) far from 1, so the two forms differ
    basis, _ = torch.linalg.qr(torch.randn(10, 10, generator=gen, dtype=torch.float64))
    projector = basis[:, :7] @ basis[:, :7].t()
    hp = AlphaEditHparams(l2=3.0, l2_scaled=scaled)
    update_t = AlphaEdit().solve(hp, moment, keys, resid, projector)
    ridge = 3.0 * float(moment.trace()) if scaled else 3.0
    k, r = keys.double(), resid.double()
    lhs = (projector @ k.t() @ k + ridge * torch.eye(10, dtype=torch.float64)) @ update_t
    assert torch.allclose(lhs, projector @ k.t() @ r, atol=1e-9)


def test_published_alphaedit_defaults_are_the_references() -> None:
    llama = Architecture(model_type="llama", num_layers=32, **ARCHITECTURES["llama"])
    gpt2 = Architecture(model_type="gpt2", num_layers=48, **ARCHITECTURES["gpt2"])
    hp = get_method("alphaedit").hparams_for(llama)
    assert (hp.null_threshold, hp.null_relative, hp.l2, hp.l2_scaled, hp.protect_retain) == (2e-2, False, 1.0, False, False)
    assert (hp.value_site, hp.kl_template, hp.kl_at, hp.kl_direction, hp.decay_squared, hp.stop_on) == (
        "residual", "{s} is a", "key", "new_orig", False, "loss")
    assert get_method("alphaedit").hparams_for(gpt2).l2 == 10.0  # hparams/AlphaEdit/gpt2-xl.yaml
    tiny = Architecture(model_type="gpt2", num_layers=6, profile="tiny-kg", **ARCHITECTURES["gpt2"])
    for name in ("rome", "memit", "alphaedit"):  # tiny-kg keeps the forms its defaults were measured with
        tiny_hp = get_method(name).hparams_for(tiny)
        assert all(getattr(tiny_hp, field) == value for field, value in TINY_VALUE_FORMS.items()), name
    assert get_method("alphaedit").hparams_for(tiny).null_relative is True


# ------------------------------------------------------------------------------- the value


@pytest.mark.parametrize("method", ["memit", "alphaedit"])
@pytest.mark.parametrize("site", ["residual", "mlp_out"])
def test_value_is_clamped_to_a_multiple_of_the_residual_norm(method: str, site: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """MEMIT's and AlphaEdit's value is added to the residual stream at the last edited layer and
    clamped to clamp_norm × the norm of that residual at the key token of the target's first prompt
    (the reference's `target_init`); with `value_site="mlp_out"`, to clamp_norm × the MLP output's."""
    seen = {}

    def spy(model, tokenizer, targets, module, key_position, settings, **kwargs):
        seen["module"] = module
        seen["result"] = optimise_values(model, tokenizer, targets, module, key_position, settings, **kwargs)
        return seen["result"]

    monkeypatch.setattr(memit_module, "optimise_values", spy)
    model, tok, targets = toy.tiny_model("gpt2"), toy.tokenizer(), _targets()
    clamp = 0.05  # small enough that a step at lr 5 always reaches it
    get_method(method, layers=(0, 1), key_position="subject_last", clamp_norm=clamp, v_lr=5.0, v_steps=3,
               value_site=site, covariance_corpus=_corpus_file(tmp_path)).apply(model, tok, toy.request("edit", n=2))
    module = "transformer.h.1" if site == "residual" else "transformer.h.1.mlp.c_proj"
    assert seen["module"] == module
    # Read on the unedited model (the spy saw the value before any layer was written).
    fresh = toy.tiny_model("gpt2")
    rows = [(i, t.prompts[0], t.subject, None) for i, t in enumerate(targets)]
    batch = prompt_batch(tok, rows, "subject_last")
    with torch.no_grad(), Trace(fresh, module, retain_output=True) as tr:
        fresh(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
    out = tr.output if isinstance(tr.output, torch.Tensor) else tr.output[0]
    v = out[torch.arange(len(targets)), batch.key_pos].norm(dim=1)
    assert torch.allclose(seen["result"].deltas.norm(dim=1), clamp * v, rtol=1e-4)


def test_residual_and_mlp_output_norms_differ_on_the_toy() -> None:
    """What makes the test above tell the two radii apart."""
    model, tok, targets = toy.tiny_model("gpt2"), toy.tokenizer(), _targets(1)
    batch = prompt_batch(tok, [(0, targets[0].prompts[0], targets[0].subject, None)], "subject_last")
    norms = []
    for module in ("transformer.h.1", "transformer.h.1.mlp.c_proj"):
        with torch.no_grad(), Trace(model, module, retain_output=True) as tr:
            model(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
        out = tr.output if isinstance(tr.output, torch.Tensor) else tr.output[0]
        norms.append(float(out[0, batch.key_pos[0]].norm()))
    assert norms[0] > 2 * norms[1], norms


def test_decay_and_kl_take_the_references_forms() -> None:
    assert torch.allclose(decay_terms(torch.tensor([3.0]), torch.tensor([2.0]), squared=False), torch.tensor([0.75]))
    assert torch.allclose(decay_terms(torch.tensor([3.0]), torch.tensor([2.0]), squared=True), torch.tensor([2.25]))
    new = torch.log_softmax(torch.tensor([[2.0, 0.0, -1.0]]), -1)
    orig = torch.log_softmax(torch.tensor([[0.0, 1.0, 0.5]]), -1)
    forward = (new.exp() * (new - orig)).sum(-1)  # KL(new ‖ original)
    assert torch.allclose(kl_terms(new, orig, "new_orig"), forward)
    assert torch.allclose(kl_terms(new, orig, "orig_new"), (orig.exp() * (orig - new)).sum(-1))
    assert not torch.allclose(forward, (orig.exp() * (orig - new)).sum(-1))


def test_kl_prompt_is_read_at_the_subjects_last_token() -> None:
    """The reference reads "{} is a" at the subject's last token, where the value is added too."""
    assert ValueSettings().kl_template == "{s} is a" and ValueSettings().kl_at == "key"
    batch = kl_batch(toy.tokenizer(), _targets(1), ValueSettings().kl_template, "cpu", "subject_last")
    assert batch.key_pos.tolist() == [0] and batch.last_pos.tolist() == [2]  # "Zorblat is a": one word each


def test_reference_stop_returns_the_value_last_evaluated() -> None:
    """The reference evaluates `steps` times and steps in between: one step means no update;
    ksmith's earlier rule (`stop_on="nll"`) steps after every evaluation."""
    model, tok, targets = toy.tiny_model("gpt2"), toy.tokenizer(), _targets()
    ref = optimise_values(model, tok, targets, "transformer.h.1", "subject_last", ValueSettings(steps=1))
    assert ref.steps == 1 and bool((ref.deltas == 0).all())
    old = optimise_values(model, tok, targets, "transformer.h.1", "subject_last",
                          ValueSettings(steps=1, **TINY_VALUE_FORMS))
    assert bool((old.deltas != 0).any())


@pytest.fixture(scope="module")
def trained_gpt2() -> dict[str, torch.Tensor]:
    return toy.state(toy.train(toy.tiny_model("gpt2", layers=4)))


def test_a_target_whose_loss_is_below_the_stop_keeps_its_value(trained_gpt2) -> None:
    """Each target stops on its own loss, as each request does in the reference: a target the model
    already answers (loss 0.11 at δ = 0, below a stop of 0.5) keeps δ = 0 while the other is
    optimised. Under the chunk's mean NLL (`stop_on="nll"`) Adam moves both."""
    model = toy.tiny_model("gpt2", layers=4)
    model.load_state_dict(trained_gpt2, strict=False)
    iv = toy.request("edit", n=1).interventions[0]
    known = EditTarget("known", iv.subject, tuple(iv.prompts), iv.old_object)
    new = EditTarget("new", iv.subject, tuple(iv.prompts), iv.new_object)
    for forms, known_moves in (({}, False), (TINY_VALUE_FORMS, True)):
        result = optimise_values(model, toy.tokenizer(), [known, new], "transformer.h.2", "prompt_last",
                                 ValueSettings(steps=5, stop_loss=0.5, **forms))
        assert bool((result.deltas[0] != 0).any()) is known_moves, forms
        assert bool((result.deltas[1] != 0).any())
