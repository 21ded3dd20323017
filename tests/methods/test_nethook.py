"""nethook: captures are what the module saw, edits change what the network computes, and no hook
outlives its `with` block (even when the forward pass raises)."""

from __future__ import annotations

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel

from ksmith.errors import MethodError
from ksmith.methods.nethook import Trace, TraceDict, get_module, main_output


@pytest.fixture(scope="module")
def model() -> GPT2LMHeadModel:
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=40, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).eval()


def _ids() -> torch.Tensor:
    return torch.tensor([[1, 5, 7, 9, 3]])


def _hook_count(module: torch.nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in module.modules())


def test_capture_input_and_output_match_a_manual_forward(model: GPT2LMHeadModel) -> None:
    name = "transformer.h.1.mlp.c_proj"
    with torch.no_grad(), Trace(model, name, retain_input=True, retain_output=True) as tr:
        model(_ids())
    proj = get_module(model, name)
    assert tr.input.shape == (1, 5, 64)
    torch.testing.assert_close(proj(tr.input), tr.output)


def test_edit_output_changes_logits_and_identity_edit_does_not(model: GPT2LMHeadModel) -> None:
    name = "transformer.h.0.mlp.c_proj"
    with torch.no_grad():
        base = model(_ids()).logits
        with Trace(model, name, edit_output=lambda out: out):
            same = model(_ids()).logits
        with Trace(model, name, edit_output=lambda out: out + 1.0):
            moved = model(_ids()).logits
    torch.testing.assert_close(base, same)
    assert not torch.allclose(base, moved)


def test_edit_input_replaces_what_the_module_receives(model: GPT2LMHeadModel) -> None:
    name = "transformer.h.1.mlp.c_proj"
    with torch.no_grad(), Trace(
        model, name, retain_input=True, edit_input=lambda x: torch.zeros_like(x)
    ) as tr:
        model(_ids())
    assert torch.count_nonzero(tr.input) == 0
    assert torch.allclose(tr.output, get_module(model, name).bias.expand_as(tr.output))


def test_block_output_is_reachable_and_stop_ends_the_pass(model: GPT2LMHeadModel) -> None:
    with torch.no_grad(), TraceDict(model, ["transformer.h.0", "transformer.h.1"], stop=True) as td:
        model(_ids())
    assert main_output(td["transformer.h.0"].output).shape == (1, 5, 16)
    assert main_output(td["transformer.h.1"].output).shape == (1, 5, 16)


def test_stop_skips_the_layers_above(model: GPT2LMHeadModel) -> None:
    calls: list[str] = []
    with Trace(model, "transformer.h.1", edit_output=lambda o: calls.append("h1") or o):
        with Trace(model, "transformer.h.0", stop=True):
            model(_ids())
    assert calls == []


def test_named_edit_receives_each_module_name(model: GPT2LMHeadModel) -> None:
    seen: list[str] = []
    names = ["transformer.h.0.mlp.c_proj", "transformer.h.1.mlp.c_proj"]
    with torch.no_grad(), TraceDict(model, names, edit_output=lambda o, n: seen.append(n) or o):
        model(_ids())
    assert seen == names


def test_hooks_are_removed_even_when_the_forward_raises(model: GPT2LMHeadModel) -> None:
    before = _hook_count(model)

    def boom(out: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        with TraceDict(model, ["transformer.h.0.mlp.c_proj"], edit_output=lambda o, n: boom(o)):
            model(_ids())
    assert _hook_count(model) == before


def test_unknown_module_name_is_a_method_error(model: GPT2LMHeadModel) -> None:
    with pytest.raises(MethodError, match="no module"):
        Trace(model, "transformer.h.9.mlp")


def test_gradients_flow_through_an_edit(model: GPT2LMHeadModel) -> None:
    delta = torch.zeros(16, requires_grad=True)
    with Trace(model, "transformer.h.0.mlp.c_proj", edit_output=lambda o: o + delta):
        loss = model(_ids()).logits.sum()
    loss.backward()
    assert delta.grad is not None and torch.isfinite(delta.grad).all()


def test_edit_output_with_input_simulates_a_weight_update(model: GPT2LMHeadModel) -> None:
    """output + input @ ΔW (Conv1D layout) through the hook equals really adding ΔW to the weight."""
    name = "transformer.h.0.mlp.c_proj"
    proj = get_module(model, name)
    update = 0.05 * torch.randn(proj.weight.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        with Trace(model, name, edit_output=lambda out, x: out + x @ update, pass_input=True):
            simulated = model(_ids()).logits
        proj.weight.add_(update)
        real = model(_ids()).logits
        proj.weight.sub_(update)
    torch.testing.assert_close(simulated, real, rtol=1e-4, atol=1e-5)
