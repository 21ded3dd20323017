"""Hyper-parameters: published defaults for pretrained models, tiny-kg's kept apart, overrides
from a file and the command line (unknown method or field: exit 2 with the valid fields), and
float32 master copies when training a low-precision model."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ksmith.methods import get_method
from ksmith.methods.overrides import HparamError, HparamOverrides, parse_assignment
from ksmith.models.arch import ARCHITECTURES, Architecture

REPO = Path(__file__).resolve().parents[2]


def arch(model_type: str = "llama", layers: int = 30, profile: str = "pretrained") -> Architecture:
    return Architecture(model_type=model_type, num_layers=layers, profile=profile, **ARCHITECTURES[model_type])


def test_published_locate_defaults_follow_the_source_depth():
    # Llama's ROME layer 5 of 32 and MEMIT's 4-8 of 32, at the same relative depth of 30 blocks.
    rome = get_method("rome").hparams_for(arch())
    assert (rome.layer, rome.key_position, rome.v_steps, rome.value_at) == (5, "subject_last", 25, "key")
    assert get_method("memit").hparams_for(arch()).layers == (4, 5, 6, 7, 8)
    assert get_method("rome").hparams_for(arch("gpt2", 48)).layer == 17


def test_tiny_kg_keeps_its_own_defaults():
    tiny, real = arch("gpt2", 6, "tiny-kg"), arch("gpt2", 6)
    assert get_method("rome").hparams_for(tiny).key_position == "prompt_last"
    # A shallow *pretrained* model (distilgpt2 has 6 blocks) reads the key at the subject.
    assert get_method("rome").hparams_for(real).key_position == "subject_last"
    assert get_method("npo").hparams_for(real).lr == 1e-5
    assert get_method("npo").hparams_for(tiny).lr != 1e-5


def test_assignments_parse_as_yaml():
    assert parse_assignment("memit.layers=[4, 5]") == ("memit", "layers", [4, 5])
    assert parse_assignment("npo.lr=1e-5") == ("npo", "lr", 1e-5)
    with pytest.raises(HparamError, match="METHOD.FIELD=VALUE"):
        parse_assignment("rome-layer-5")


def test_file_and_assignments_resolve_most_specific_last(tmp_path):
    file = tmp_path / "hp.yaml"
    file.write_text("rome:\n  '*': {v_steps: 7, v_lr: 0.1}\n  llama: {v_steps: 8}\n  smollm2-135m: {layer: 6}\n"
                    "memit:\n  llama: {layers: [3, 4]}\n")
    overrides = HparamOverrides.build(file, ["rome.v_lr=0.3"])
    chosen = overrides.for_method("rome", ("llama", "smollm2-135m"))
    assert chosen == {"v_steps": 8, "v_lr": 0.3, "layer": 6}
    assert overrides.for_method("rome", ("gpt2",)) == {"v_steps": 7, "v_lr": 0.3}
    assert overrides.for_method("memit", ("llama",)) == {"layers": (3, 4)}  # a tuple, as the field
    method = get_method("rome", **chosen)
    assert method.hparams_for(arch()).layer == 6


def test_unknown_method_or_field_lists_what_is_valid(tmp_path):
    with pytest.raises(HparamError, match="Known methods:.*rome"):
        HparamOverrides.build(assignments=["romee.layer=1"])
    with pytest.raises(HparamError, match=r"Its fields:.*v_steps"):
        HparamOverrides.build(assignments=["rome.layers=1"])
    file = tmp_path / "hp.json"
    file.write_text('{"npo": {"*": {"learning_rate": 1}}}')
    with pytest.raises(HparamError, match="learning_rate.*Its fields:.*lr"):
        HparamOverrides.build(file)


def test_the_plugin_exits_2_on_an_unknown_field():
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "bench", "--collect-only", "-q",
         "--ksmith-grid", "smoke", "--ksmith-hparam", "rome.nope=1"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 2, run.stdout[-2000:] + run.stderr[-2000:]
    output = run.stdout + run.stderr
    assert "'nope'" in output and "Its fields:" in output and "Traceback" not in output


def test_low_precision_weights_train_through_float32_masters():
    """A bf16 weight of 1.0 cannot move by 1e-3 in place (its rounding step is 2^-7); through a
    float32 master copy ten such steps add up to a visible change."""
    from ksmith.methods.training import ParamSet, train

    model = torch.nn.Linear(4, 4, bias=False).to(torch.bfloat16)
    with torch.no_grad():
        model.weight.fill_(1.0)
    params = ParamSet(model, ["weight"])
    train(model, params, lambda step: model.weight.float().sum(), steps=10, lr=1e-3, grad_clip=None)
    assert model.weight.dtype == torch.bfloat16
    assert float(model.weight.detach().float().max()) < 1.0
