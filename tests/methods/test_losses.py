"""The unlearning losses are pure functions with the published shapes: values at known points,
gradients that push the right way, and bounds that hold for any input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ksmith.methods import losses
from ksmith.methods.training import SeqLogProbs


def lp(values, n=None) -> SeqLogProbs:
    logp = torch.tensor(values, dtype=torch.float64, requires_grad=True)
    count = torch.tensor(n if n is not None else [1.0] * len(values), dtype=torch.float64)
    return SeqLogProbs(logp=logp, n=count)


def val(t: torch.Tensor) -> float:
    return float(t.detach())


def test_nll_is_the_token_mean_and_ga_is_its_negative() -> None:
    x = lp([-2.0, -4.0], n=[1.0, 3.0])
    assert val(losses.nll(x)) == pytest.approx(6.0 / 4.0)
    assert val(losses.ga(x)) == pytest.approx(-6.0 / 4.0)


def test_graddiff_adds_weighted_retain_nll() -> None:
    forget, retain = lp([-1.0]), lp([-3.0])
    assert val(losses.graddiff(forget, retain, retain_weight=0.5)) == pytest.approx(-1.0 + 1.5)
    assert val(losses.graddiff(forget, retain, retain_weight=0.5, forget_weight=0.25)) == pytest.approx(-0.25 + 1.5)


def test_npo_at_the_reference_is_2_over_beta_log_2() -> None:
    x, ref = lp([-2.0, -5.0]), lp([-2.0, -5.0])
    assert val(losses.npo(x, ref, beta=0.1)) == pytest.approx(2 / 0.1 * math.log(2))


def test_npo_gradient_is_ga_reweighted_and_saturates_below_the_reference() -> None:
    """d npo / d logp_i = 2 σ(β r_i) / B: GA's push at the reference, fading once r_i << 0."""
    beta = 0.1
    x, ref = lp([-1.0, -80.0]), lp([-1.0, -1.0])
    losses.npo(x, ref, beta=beta).backward()
    grad = x.logp.grad
    assert float(grad[0]) == pytest.approx(2 * 0.5 / 2)
    assert float(grad[1]) == pytest.approx(2 * torch.sigmoid(torch.tensor(beta * -79.0)).item() / 2)
    assert 0 < float(grad[1]) < float(grad[0])  # lowering logp still lowers the loss, but less


def test_npo_takes_no_gradient_through_the_reference() -> None:
    x, ref = lp([-1.0]), lp([-2.0])
    losses.npo(x, ref).backward()
    assert ref.logp.grad is None


def test_simnpo_is_length_normalised() -> None:
    short = losses.simnpo(lp([-2.0], n=[1.0]), beta=2.5, gamma=0.5)
    long = losses.simnpo(lp([-6.0], n=[3.0]), beta=2.5, gamma=0.5)
    assert val(short) == pytest.approx(val(long))
    expected = -(2 / 2.5) * math.log(1 / (1 + math.exp(-(2.5 * 2.0 - 0.5))))
    assert val(short) == pytest.approx(expected)


def test_kl_retain_is_zero_at_the_reference_and_positive_away_from_it() -> None:
    ref = torch.randn(4, 7, generator=torch.Generator().manual_seed(0))
    assert val(losses.kl_retain(ref.clone(), ref)) == pytest.approx(0.0, abs=1e-6)
    moved = ref.clone()
    moved[:, 0] += 3.0
    assert val(losses.kl_retain(moved, ref)) > 0.01


def test_relearn_is_nll_on_the_augmented_pairs_plus_weighted_kl_and_retain_nll() -> None:
    """zjunlp/unlearn's relearn_klr_gdr: loss_f + kl_r + loss_r, each weighable."""
    neutral, retain = lp([-2.0]), lp([-3.0, -1.0], n=[1.0, 1.0])
    assert val(losses.relearn(neutral)) == pytest.approx(2.0)
    assert val(losses.relearn(neutral, retain, torch.tensor(0.5))) == pytest.approx(2.0 + 0.5 + 2.0)
    assert val(losses.relearn(neutral, retain, torch.tensor(0.5), retain_weight=0.5, kl_weight=2.0)) == pytest.approx(
        2.0 + 1.0 + 1.0
    )


def test_rmu_reduces_per_example_over_the_masked_tokens_as_the_reference() -> None:
    """open-unlearning's compute_activation_loss: mean over d, sum over an example's masked tokens
    / their count, mean over examples; unmasked tokens count for nothing."""
    control = torch.tensor([3.0, 0.0])
    act = torch.zeros(2, 3, 2)
    act[:, :, 0] = 3.0  # at the control everywhere ...
    act[0, 0] = torch.tensor([100.0, -100.0])  # ... but a huge miss on an unmasked (prompt) token
    act[1, 2] = torch.tensor([1.0, 2.0])  # and a miss of (4 + 4) / 2 = 4 on example 1's 2nd answer token
    mask = torch.tensor([[False, True, True], [False, True, True]])
    assert val(losses.rmu(act, control, mask)) == pytest.approx((0.0 + 4.0 / 2) / 2)
    assert val(losses.rmu(act, control, mask, forget_weight=0.5)) == pytest.approx(0.5)
    retain = torch.ones(1, 2, 2)
    assert val(losses.rmu(act, control, mask, retain, retain.clone(), torch.ones(1, 2, dtype=torch.bool))) == pytest.approx(1.0)
    shifted = retain + torch.tensor([2.0, 0.0])
    kept = torch.tensor([[True, False]])
    assert val(losses.rmu(act, control, mask, shifted, retain, kept, retain_weight=0.5)) == pytest.approx(1.0 + 0.5 * 2.0)


def test_rmu_reduction_over_answers_of_different_lengths_is_the_reference_codes_broadcast() -> None:
    """open-unlearning divides the per-example sums s [B] by the token counts n [B, 1]: the result
    broadcasts to [B, B], so its loss is mean(s) · mean(1/n), not the mean(s/n) its comments
    describe; the two differ when the answers differ in length. Example 0: one answer token off by
    2 in each of 2 dims (s = 4, n = 1); example 1: three tokens at the control (s = 0, n = 3)."""
    control = torch.zeros(2)
    act = torch.zeros(2, 3, 2)
    act[0, 0] = torch.tensor([2.0, 2.0])
    mask = torch.tensor([[True, False, False], [True, True, True]])
    reference = (4.0 + 0.0) / 2 * (1.0 / 1 + 1.0 / 3) / 2
    assert val(losses.rmu(act, control, mask)) == pytest.approx(reference)
    assert val(losses.rmu(act, control, mask, reduction="per_example")) == pytest.approx((4.0 / 1 + 0.0 / 3) / 2)
    with pytest.raises(ValueError, match="per_example"):
        losses.activation_loss(act, control.reshape(1, 1, -1), mask, reduction="sum")


floats = st.floats(min_value=-50.0, max_value=-0.01, allow_nan=False)


@settings(max_examples=50, deadline=None)
@given(st.lists(floats, min_size=1, max_size=5), st.lists(floats, min_size=5, max_size=5),
       st.floats(min_value=0.01, max_value=5.0))
def test_preference_losses_are_non_negative(values, refs, beta) -> None:
    x = lp(values)
    ref = lp(refs[: len(values)])
    assert val(losses.npo(x, ref, beta=beta)) >= 0.0
    assert val(losses.simnpo(x, beta=beta)) >= 0.0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-10, max_value=10), min_size=6, max_size=6),
       st.lists(st.floats(min_value=-10, max_value=10), min_size=6, max_size=6))
def test_kl_retain_is_non_negative(a, b) -> None:
    logits = torch.tensor(a, dtype=torch.float64).view(2, 3)
    ref = torch.tensor(b, dtype=torch.float64).view(2, 3)
    assert val(losses.kl_retain(logits, ref)) >= -1e-6
