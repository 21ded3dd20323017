"""Drift: how far the whole model moved, measured on a fixed probe set before and after an update.

Two views (DESIGN.md §1):

* output drift, `drift_kl`: mean over prompts of KL(p_before || p_after) of the next-token
  distribution at the prompt's last token, in nats. 0 when the outputs did not move.
* representation drift, `drift_cka`: 1 - linear CKA (Kornblith et al., 2019) between the hidden states
  (last prompt token, every layer) before and after, averaged over layers. 0 when the representation
  is unchanged up to rotation and isotropic scaling, 1 when it is unrelated.

Comparable across k: the prompt set must be *fixed* (the same prompts for every scale of a world,
never the probes of the k interventions, which grow with k); both values are then per-prompt
averages on one set, and CKA is scale-free in [0, 1]. `drift_kl_per_fact` divides by k, for the
"cost per fact" view of the plateau. The caller passes models and tensors; nothing here loads a model.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.metrics.bootstrap import bootstrap_ci, metric_seed
from ksmith.metrics.inputs import MetricsError
from ksmith.metrics.record import Metric


@dataclass(frozen=True)
class Activations:
    """What drift compares, captured from one model on one prompt set.

    logprobs: (n_prompts, vocab) next-token log-probabilities at each prompt's last token.
    hidden:   per layer (embeddings first), (n_prompts, width) hidden state at the last token.
    """

    logprobs: torch.Tensor
    hidden: tuple[torch.Tensor, ...]


#: Size of the fixed drift prompt set.
N_DRIFT_PROMPTS = 128


def fixed_prompts(
    world: Any, n: int = N_DRIFT_PROMPTS, seed: int = 0
) -> tuple[str, ...]:
    """The fixed drift probe set of a world: `n` of its facts, each as a held-in cloze prompt.

    Chosen from the world alone (seeded), never from a dataset, so every cell of a grid on this
    world (any task, level and k) measures drift on the same prompts.
    """
    facts = sorted(
        (f for f in world.all_facts() if not world.relations[f.relation].taxonomy),
        key=lambda f: (f.subject, f.relation, f.object),
    )
    if not facts:
        raise MetricsError("the world has no attribute facts to measure drift on")
    rng = random.Random(f"ksmith-drift:{seed}")
    chosen = rng.sample(facts, min(n, len(facts)))
    prompts = []
    for f in chosen:
        templates = world.relations[f.relation].templates
        held = [i for i in range(len(templates.cloze)) if i != templates.held_out]
        prompts.append(templates.cloze[held[0] if held else 0].format(s=f.subject))
    return tuple(prompts)


@torch.no_grad()
def capture(
    lm: Any, tokenizer: Any, prompts: Sequence[str], *, batch_size: int = 64
) -> Activations:
    """Run `lm` on `prompts` (right-padded batches) and keep what drift needs, on the CPU in float64."""
    if not prompts:
        raise MetricsError(
            "drift needs at least one prompt; pass the fixed drift probe set"
        )
    was_training = lm.training
    lm.eval()
    device = next(lm.parameters()).device
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    logprobs: list[torch.Tensor] = []
    hidden: list[list[torch.Tensor]] = []
    try:
        for start in range(0, len(prompts), batch_size):
            rows = [
                tokenizer(p, add_special_tokens=False)["input_ids"]
                for p in prompts[start : start + batch_size]
            ]
            if any(not r for r in rows):
                raise MetricsError(
                    "a drift prompt tokenises to nothing; drop empty prompts"
                )
            width = max(len(r) for r in rows)
            ids = torch.tensor(
                [list(r) + [pad_id] * (width - len(r)) for r in rows], dtype=torch.long, device=device
            )
            mask = torch.tensor(
                [[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long, device=device
            )
            out = lm(
                input_ids=ids,
                attention_mask=mask,
                output_hidden_states=True,
            )
            last = torch.tensor([len(r) - 1 for r in rows], device=device)
            index = torch.arange(len(rows), device=device)
            logprobs.append(
                torch.log_softmax(out.logits[index, last].double(), dim=-1).cpu()
            )
            states = [h[index, last].double().cpu() for h in out.hidden_states]
            if not hidden:
                hidden = [[] for _ in states]
            for layer, h in zip(hidden, states):
                layer.append(h)
    finally:
        lm.train(was_training)
    return Activations(torch.cat(logprobs), tuple(torch.cat(h) for h in hidden))


def kl_divergence(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Row-wise KL(p || q) from log-probabilities (last dimension = the distribution); >= 0."""
    p = logp.exp()
    return (p * (logp - logq)).sum(dim=-1).clamp_min(0.0)


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float:
    """Linear CKA between two (n, d) representations of the same n inputs; 1 for identical ones.

    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F) with column-centred Xc, Yc:
    invariant to orthogonal transforms and isotropic scaling, so it measures a change of
    representation, not of units.
    """
    if x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise MetricsError(
            f"CKA needs the same n >= 2 inputs on both sides, got {x.shape[0]} and {y.shape[0]}"
        )
    xc = (x - x.mean(dim=0)).double()
    yc = (y - y.mean(dim=0)).double()
    cross = torch.linalg.matrix_norm(yc.T @ xc) ** 2
    norm = torch.linalg.matrix_norm(xc.T @ xc) * torch.linalg.matrix_norm(yc.T @ yc)
    if norm == 0:
        return 1.0 if torch.equal(xc, yc) else 0.0
    return float(cross / norm)


def drift(
    before: Activations,
    after: Activations,
    *,
    scale: int | None = None,
    seed: int = 0,
) -> dict[str, Metric]:
    """`drift_kl`, `drift_cka` (and `drift_kl_per_fact` when `scale` is given), protocol "drift"."""
    if before.logprobs.shape != after.logprobs.shape or len(before.hidden) != len(
        after.hidden
    ):
        raise MetricsError(
            "drift compares the same prompts on the same architecture; the captures differ in shape"
        )
    kl = kl_divergence(before.logprobs, after.logprobs).numpy()
    n = int(kl.size)
    out = {
        "drift_kl": Metric(
            "drift_kl",
            float(kl.mean()),
            "drift",
            n,
            ci=bootstrap_ci(kl, seed=metric_seed("drift_kl", "drift", seed)),
            higher_is_better=False,
        ),
    }
    if n >= 2:
        cka = [linear_cka(b, a) for b, a in zip(before.hidden, after.hidden)]
        out["drift_cka"] = Metric(
            "drift_cka", 1.0 - sum(cka) / len(cka), "drift", n, higher_is_better=False
        )
    if scale:
        out["drift_kl_per_fact"] = Metric(
            "drift_kl_per_fact",
            float(kl.mean()) / scale,
            "drift",
            n,
            higher_is_better=False,
        )
    return out
