"""Drift and geometry on hand-computed cases: KL(p, p) = 0, CKA(X, X) = 1, zero angles for equal matrices."""

from __future__ import annotations

import math

import pytest
import torch

from ksmith.errors import KsmithError
from ksmith.metrics.drift import capture, drift, kl_divergence, linear_cka
from ksmith.metrics.efficiency import efficiency, parameters_touched
from ksmith.metrics.geometry import (
    anisotropy,
    geometry,
    matrix_geometry,
    principal_angles,
    singular_value_ratios,
)


def test_kl_of_a_distribution_with_itself_is_zero_and_known_otherwise() -> None:
    logp = torch.log_softmax(
        torch.randn(5, 11, generator=torch.Generator().manual_seed(0)), dim=-1
    )
    assert torch.allclose(kl_divergence(logp, logp), torch.zeros(5), atol=1e-12)
    p = torch.tensor([[0.5, 0.5]]).log()
    q = torch.tensor([[0.9, 0.1]]).log()
    expected = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert float(kl_divergence(p, q)) == pytest.approx(expected)


def test_cka_is_one_for_identical_and_invariant_to_rotation_and_scale() -> None:
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    assert linear_cka(x, x) == pytest.approx(1.0)
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=gen, dtype=torch.float64))
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0)
    noise = torch.randn(40, 6, generator=gen, dtype=torch.float64)
    assert linear_cka(x, noise) < 0.5
    with pytest.raises(KsmithError):
        linear_cka(x[:1], x[:1])


class _WordTokenizer:
    pad_token_id = 0

    def __init__(self, vocab: list[str]) -> None:
        self.ids = {w: i + 1 for i, w in enumerate(vocab)}

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        return {"input_ids": [self.ids[w] for w in text.split()]}


@pytest.fixture
def tiny_lm():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=12, n_positions=16, n_embd=16, n_layer=2, n_head=2)
    return GPT2LMHeadModel(config).eval()


PROMPTS = ["a b c", "b c", "c a b d", "d", "a a"]


def test_capture_then_drift_is_zero_without_an_update(tiny_lm) -> None:
    tok = _WordTokenizer(list("abcd"))
    before = capture(tiny_lm, tok, PROMPTS, batch_size=2)
    assert before.logprobs.shape == (5, 12) and len(before.hidden) == 3
    same = drift(before, capture(tiny_lm, tok, PROMPTS, batch_size=5), scale=10)
    assert same["drift_kl"].value == pytest.approx(0.0, abs=1e-9)
    assert same["drift_cka"].value == pytest.approx(0.0, abs=1e-9)
    with torch.no_grad():
        w = tiny_lm.transformer.h[0].mlp.c_proj.weight
        w.add_(torch.randn(w.shape, generator=torch.Generator().manual_seed(9)))
    moved = drift(before, capture(tiny_lm, tok, PROMPTS), scale=10)
    assert moved["drift_kl"].value > 1e-4 and moved["drift_cka"].value > 0
    assert moved["drift_kl_per_fact"].value == pytest.approx(
        moved["drift_kl"].value / 10
    )


def test_padding_does_not_change_what_is_captured(tiny_lm) -> None:
    tok = _WordTokenizer(list("abcd"))
    batched = capture(tiny_lm, tok, PROMPTS, batch_size=5)
    alone = capture(tiny_lm, tok, PROMPTS, batch_size=1)
    assert torch.allclose(batched.logprobs, alone.logprobs, atol=1e-5)


def test_principal_angles_zero_for_identical_and_right_angle_for_orthogonal() -> None:
    a = torch.randn(10, 3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(
        principal_angles(a, a), torch.zeros(3, dtype=torch.float64), atol=1e-6
    )
    e = torch.eye(4)
    right = torch.full((2,), math.pi / 2, dtype=torch.float64)
    assert torch.allclose(principal_angles(e[:, :2], e[:, 2:]), right)


def test_uniform_rescale_has_no_rotation_and_no_anisotropy() -> None:
    w = torch.randn(
        20, 12, generator=torch.Generator().manual_seed(3), dtype=torch.float64
    )
    ratios = singular_value_ratios(w, 2.0 * w)
    assert torch.allclose(ratios, torch.full_like(ratios, 2.0))
    assert anisotropy(ratios) == pytest.approx(0.0, abs=1e-12)
    g = matrix_geometry("w", w, 2.0 * w)
    assert g.rotation == pytest.approx(0.0, abs=1e-4) and g.anisotropy == pytest.approx(
        0.0, abs=1e-9
    )
    assert g.relative_norm == pytest.approx(1.0)
    assert (
        g.rotation_random > 0 and g.anisotropy_random > 0
    )  # a random update of the same size moves


def test_anisotropic_scaling_and_rotation_are_told_apart() -> None:
    gen = torch.Generator().manual_seed(4)
    u, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    v, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    i = torch.arange(16, dtype=torch.float64)
    s = 10.0 * 0.5**i
    w = u @ torch.diag(s) @ v.T
    scaled = (
        u @ torch.diag(s * 0.5 ** (i / 3)) @ v.T
    )  # shrinks each direction more: order kept
    g_scale = matrix_geometry("w", w, scaled, top=4)
    assert (
        g_scale.anisotropy == pytest.approx(math.log(2) / 3 * math.sqrt(1.25))
        and g_scale.rotation < 1e-3
    )
    r, _ = torch.linalg.qr(torch.randn(16, 16, generator=gen, dtype=torch.float64))
    rotated = r @ w
    g_rot = matrix_geometry("w", w, rotated, top=4)
    assert g_rot.anisotropy == pytest.approx(0.0, abs=1e-9) and g_rot.rotation > 10


def test_geometry_metrics_skip_unchanged_and_are_seeded() -> None:
    w = torch.randn(8, 8, generator=torch.Generator().manual_seed(5))
    after = {"a": w + 0.1 * torch.ones(8, 8), "b": w.clone()}
    m = geometry({"a": w, "b": w}, after)
    assert m["geom_rotation"].n == 1  # "b" did not change
    assert m == geometry({"a": w, "b": w}, after)
    assert geometry({"a": w}, {"a": w.clone()}) == {}


def test_efficiency_counts_touched_parameters() -> None:
    lm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))

    class Result:
        wall_s = 0.25
        touched = ("0.weight",)

    assert parameters_touched(lm, ("0.weight",)) == (12, 12 + 3 + 6 + 2)
    m = efficiency(Result(), score_s=1.0, lm=lm, peak_mb=12.0)
    assert m["params_touched"].value == 12 and m[
        "params_touched_frac"
    ].value == pytest.approx(12 / 23)
    assert m["update_s"].value == 0.25 and m["update_s"].higher_is_better is False


def test_fixed_prompts_depend_on_the_world_only() -> None:
    from ksmith.metrics.drift import fixed_prompts
    from ksmith.world import build_world

    world = build_world(size="small")
    prompts = fixed_prompts(world, n=32)
    assert len(prompts) == 32
    assert prompts == fixed_prompts(build_world(size="small"), n=32)
    assert prompts != fixed_prompts(world, n=32, seed=1)
    assert all("{" not in p for p in prompts)
