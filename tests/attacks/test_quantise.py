"""Weight quantisation: torchao's round-to-nearest, per output channel, checked on values worked out
by hand, and on a GPT-2 `Conv1D` model whose weights are stored [in, out]."""

from __future__ import annotations

import pytest
import torch

from ksmith.attacks import ATTACKS, AttackError
from ksmith.attacks.quantise import block_weights, fake_quantise, quantise

ROW = [0.1, -0.5, 0.25, 1.0]


def test_int8_symmetric_per_channel_by_hand() -> None:
    # scale = max|w| * 2 / 255 = 2/255; w / scale = 12.75, -63.75, 31.875, 127.5 -> 13, -64, 32, 128
    # (half to even), clamped to 127
    out = fake_quantise(torch.tensor([ROW]), bits=8, group_size=None, symmetric=True)
    assert out[0].tolist() == pytest.approx([13 * 2 / 255, -64 * 2 / 255, 32 * 2 / 255, 127 * 2 / 255], abs=1e-7)


def test_int4_asymmetric_in_groups_by_hand() -> None:
    # group [0.1, -0.5]: range [-0.5, 0.1], scale 0.6/15 = 0.04, zero point 0 - round(-12.5) = 12;
    #   0.1 -> round(2.5) + 12 = 14 -> 0.08, -0.5 -> -12 + 12 = 0 -> -0.48
    # group [0.25, 1.0]: range [0, 1.0], scale 1/15, zero point 0; 0.25 -> round(3.75) = 4 -> 4/15
    out = fake_quantise(torch.tensor([ROW]), bits=4, group_size=2, symmetric=False)
    assert out[0].tolist() == pytest.approx([0.08, -0.48, 4 / 15, 1.0], abs=1e-6)


def test_int4_per_channel_rows_are_independent() -> None:
    weight = torch.tensor([ROW, [10 * x for x in ROW]])
    out = fake_quantise(weight, bits=4, group_size=None, symmetric=True)
    assert torch.allclose(out[1], 10 * out[0], atol=1e-5)  # each row's own scale


def test_bad_shapes_name_the_problem() -> None:
    with pytest.raises(AttackError, match="group"):
        fake_quantise(torch.zeros(2, 6), bits=4, group_size=4, symmetric=False)
    with pytest.raises(AttackError, match=r"\[out, in\]"):
        fake_quantise(torch.zeros(6), bits=4, group_size=None, symmetric=True)


def test_quantise_rounds_every_output_channel_of_a_conv1d_model_and_nothing_else(toy_model, monkeypatch) -> None:
    from ksmith.models import load_model

    cache, checkpoint = toy_model
    monkeypatch.setenv("KSMITH_CACHE", str(cache))
    loaded = load_model(f"hf:{checkpoint}")
    lm, arch = loaded.lm, loaded.arch
    assert arch.conv1d  # GPT-2 stores a projection [in, out]
    before = {name: p.detach().clone() for name, p in lm.named_parameters()}
    written = quantise(lm, arch, ATTACKS["int4"])
    assert set(written) == set(block_weights(lm, arch)) and written
    after = dict(lm.named_parameters())
    for name, old in before.items():
        if name not in written:
            assert torch.equal(after[name], old), name  # embeddings, norms, biases untouched
    weight = after[written[0]].detach()  # [in, out]: an output channel is a column
    group = ATTACKS["int4"].group_size
    for column in weight.t():
        for start in range(0, column.numel(), group):
            assert column[start:start + group].unique().numel() <= 16  # 4 bits per group of inputs
    assert not torch.equal(weight, before[written[0]])
