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


def graddiff(forget: SeqLogProbs, retain: SeqLogProbs, retain_weight: float = 1.0) -> torch.Tensor:
    """GradDiff: ascent on the forget targets plus descent on the retain answers."""
    return ga(forget) + retain_weight * nll(retain)


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

    L = -(2/β) · mean log σ(-(β/|y|) · log π(y|x) - γ), γ a reward margin.
    """
    avg = forget.logp / forget.n.clamp_min(1.0)
    return -(2.0 / beta) * F.logsigmoid(-beta * avg - gamma).mean()


def kl_retain(logits: torch.Tensor, ref_logits: torch.Tensor) -> torch.Tensor:
    """KL(π_ref ‖ π) per predicted position, averaged: keeps retain predictions where they were.

    `logits`, `ref_logits`: [N, V] at the same positions (the retain answers' tokens).
    """
    logp = torch.log_softmax(logits.float(), dim=-1)
    ref_logp = torch.log_softmax(ref_logits.detach().float(), dim=-1)
    return F.kl_div(logp, ref_logp, log_target=True, reduction="batchmean")


def relearn(neutral: SeqLogProbs, retain_kl: torch.Tensor | None = None, retain_weight: float = 1.0) -> torch.Tensor:
    """ReLearn-style unlearning: learn vague, neutral answers for the forget prompts (descent on
    them, no ascent anywhere) plus a KL term that holds the retain answers' distributions.

    Learning a replacement rather than pushing a target down keeps the output fluent; the KL term is
    what the original ReLearn pairs it with to protect unrelated knowledge.
    """
    loss = nll(neutral)
    if retain_kl is not None:
        loss = loss + retain_weight * retain_kl
    return loss


def rmu(
    forget_act: torch.Tensor,
    control: torch.Tensor,
    retain_act: torch.Tensor | None = None,
    retain_ref_act: torch.Tensor | None = None,
    retain_weight: float = 1.0,
) -> torch.Tensor:
    """Representation misdirection (Li et al. 2024, WMDP): steer forget activations to `control`.

    forget_act: [N, d] a middle layer's hidden states on forget tokens; control: [d], the random
    unit direction already scaled by the steering coefficient. The retain term keeps that layer's
    hidden states on retain tokens equal to the original model's (`retain_ref_act`).
    """
    loss = F.mse_loss(forget_act.float(), control.float().expand_as(forget_act))
    if retain_act is not None and retain_ref_act is not None:
        loss = loss + retain_weight * F.mse_loss(retain_act.float(), retain_ref_act.detach().float())
    return loss
