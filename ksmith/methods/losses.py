"""Unlearning and editing losses, each a small pure function of tensors (open-unlearning style).

The unlearners differ only in which of these they minimise; none of them sees a model. Inputs are
`SeqLogProbs` (per example: summed log-probability of the target tokens `logp` and their count `n`),
activations, or logits, always already computed by the caller. Every function returns a scalar
tensor to *minimise*.

Conventions: "forget" terms are over the interventions' (prompt, old object) pairs; "retain" terms
over the request's retain items. Token-mean reductions weight every target token equally, so a
multi-token object counts as much as its tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ksmith.methods.training import SeqLogProbs


def nll(x: SeqLogProbs) -> torch.Tensor:
    """Token-mean negative log-likelihood of the targets: the fine-tuning (descent) objective."""
    return -x.logp.sum() / x.n.sum().clamp_min(1.0)


def ga(forget: SeqLogProbs) -> torch.Tensor:
    """Gradient ascent: minimise the forget targets' log-likelihood (i.e. maximise their NLL).

    Unbounded below; the number of steps is what stops it, which is why GA tends to wreck the model.
    """
    return -nll(forget)


def graddiff(
    forget: SeqLogProbs, retain: SeqLogProbs, retain_weight: float = 1.0, forget_weight: float = 1.0
) -> torch.Tensor:
    """GradDiff: ascent on the forget targets plus descent on the retain answers
    (open-unlearning's gamma · forget + alpha · retain: `forget_weight`, `retain_weight`)."""
    return forget_weight * ga(forget) + retain_weight * nll(retain)


def npo(forget: SeqLogProbs, reference: SeqLogProbs, beta: float = 0.1) -> torch.Tensor:
    """Negative preference optimisation (Zhang et al. 2024) against a reference model.

    L = -(2/β) · mean log σ(-β · (log π(y|x) - log π_ref(y|x))). The reference is the model before
    the update. The sigmoid saturates once the forget answer is well below the reference, so NPO
    slows down by itself where GA keeps going (its gradient is GA's, reweighted).
    """
    ratio = forget.logp - reference.logp.detach()
    return -(2.0 / beta) * F.logsigmoid(-beta * ratio).mean()


def simnpo(forget: SeqLogProbs, beta: float = 2.5, gamma: float = 0.0) -> torch.Tensor:
    """SimNPO (Fan et al. 2024): NPO without a reference, on length-normalised log-likelihood.

    L = -(2/β) · mean log σ(-(β/|y|) · log π(y|x) - γ), γ a reward margin (the paper's γ;
    open-unlearning writes β · (NLL/|y| - δ), so γ = β · δ; both 0 as published).
    """
    avg = forget.logp / forget.n.clamp_min(1.0)
    return -(2.0 / beta) * F.logsigmoid(-beta * avg - gamma).mean()


def kl_retain(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(π_ref ‖ π) per predicted position, averaged: keeps retain predictions where they were.

    `logits`, `ref_logits`: [N, V] at the same positions: every real position of the retain
    sequences (both references' `view(-1, V)` with `batchmean`) or only the answers' tokens.
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    ref_logp = torch.log_softmax(ref_logits.detach().float(), dim=-1)
    return F.kl_div(logp, ref_logp, log_target=True, reduction="batchmean")


def relearn(
    neutral: SeqLogProbs,
    retain: SeqLogProbs | None = None,
    retain_kl: torch.Tensor | None = None,
    retain_weight: float = 1.0,
    kl_weight: float = 1.0,
) -> torch.Tensor:
    """ReLearn (Xu et al. 2025), zjunlp/unlearn's `relearn_klr_gdr`: descent on the augmented
    forget pairs (vague answers to the question variants) plus a KL term that holds the retain
    sequences' predictions and an NLL term on the retain answers, each weight 1 as published.

    Learning a replacement rather than pushing a target down keeps the output fluent; there is no
    ascent anywhere.
    """
    loss = nll(neutral)
    if retain_kl is not None:
        loss = loss + kl_weight * retain_kl
    if retain is not None:
        loss = loss + retain_weight * nll(retain)
    return loss


#: How `activation_loss` averages over examples (`RMUHparams.activation_reduction`).
ACTIVATION_REDUCTIONS: tuple[str, ...] = ("reference", "per_example")


def activation_loss(act: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, reduction: str = "reference") -> torch.Tensor:
    """RMU's distance, as open-unlearning's `compute_activation_loss`: the squared error averaged over
    the hidden dimension and summed over an example's masked tokens (s_i), divided by the example's
    token count (n_i).

    reduction: "reference", what its code computes: s [B] divided by n [B, 1] broadcasts to [B, B],
    so the loss is mean(s) · mean(1 / n) (the same as "per_example" when every answer in the batch
    has as many tokens); "per_example", what its comments describe: mean(s / n).
    act, target: [B, T, d] (target broadcastable); mask: [B, T] bool, the tokens that count.
    """
    dtype = torch.promote_types(act.dtype, torch.float32)  # at least float32; float64 stays float64
    err = (act.to(dtype) - target.to(dtype)).pow(2).mean(dim=-1)  # [B, T]
    weight = mask.to(err.dtype)
    summed = (err * weight).sum(dim=-1)
    count = weight.sum(dim=-1).clamp_min(1.0)
    if reduction == "reference":
        return summed.mean() * (1.0 / count).mean()
    if reduction == "per_example":
        return (summed / count).mean()
    raise ValueError(f"activation reduction {reduction!r}; use one of {ACTIVATION_REDUCTIONS}")


def rmu(
    forget_act: torch.Tensor,
    control: torch.Tensor,
    forget_mask: torch.Tensor,
    retain_act: torch.Tensor | None = None,
    retain_ref_act: torch.Tensor | None = None,
    retain_mask: torch.Tensor | None = None,
    retain_weight: float = 1.0,
    forget_weight: float = 1.0,
    reduction: str = "reference",
) -> torch.Tensor:
    """Representation misdirection (Li et al. 2024, WMDP), as open-unlearning's RMU trainer:
    steer a block's output on the forget answers to `control`, hold it on the retain answers.

    forget_act: [B, T, d] the block's output on the forget pairs; control: [d], a random unit
    vector times the steering coefficient (absolute, whatever the activations' scale);
    forget_mask: [B, T] the answer tokens (the reference's `labels != -100`). The retain term
    (its EMBED_DIFF) keeps the retain pairs' outputs at the original model's (`retain_ref_act`)
    on their answer tokens. Loss = forget_weight · d(forget, control) + retain_weight ·
    d(retain, original), d being `activation_loss`.
    """
    loss = forget_weight * activation_loss(forget_act, control.reshape(1, 1, -1), forget_mask, reduction)
    if retain_act is not None and retain_ref_act is not None and retain_mask is not None:
        loss = loss + retain_weight * activation_loss(retain_act, retain_ref_act.detach(), retain_mask, reduction)
    return loss
