"""Drift: how far the whole model moved, measured on a probe set of *untouched* facts before and after.

Two views (docs/metrics.md):

* output drift, `drift_kl`: mean over prompts of KL(p_before || p_after) of the next-token
  distribution at the prompt's last token, in nats. 0 when the outputs did not move.
* representation drift, `drift_cka_l<i>`: 1 - linear CKA (Kornblith et al., 2019) between the hidden
  states (last prompt token) before and after, at layer i (0 = embeddings, i = output of block i-1),
  for every layer *from the first edited one up*: layers below the edit cannot move, and averaging
  them in would dilute the number by the edit's depth. `drift_cka` is the mean over those layers.
  0 when the representation is unchanged up to rotation and isotropic scaling, 1 when unrelated.

The right prompts. Drift asks how much the update moved knowledge it was *not* asked to move, so the
prompt set (`drift_prompts`) leaves out every fact tied to an intervention: the intervention's own
fact, its descendants' inherited copies, every fact about its old and new object (reverse facts and
the second hop of 2-hop chains), and any prompt that is one of the dataset's Q+ probes or an
intervention prompt. Otherwise drift would grow with k by construction (the edited facts are
supposed to move). The candidates are the world's attribute facts in one seeded order, fixed for the
world; each dataset takes the first `n` that survive its exclusions, so two cells of a grid share
almost all their prompts and a value is a per-prompt average (comparable across k).
`drift_kl_per_fact` divides by k, for the "cost per fact" view of the plateau.

Cost: one forward pass over `n` (128) short prompts before and one after the update, through the
scoring engine (`ksmith.scoring.next_token`, the same BOS convention as every score); on tiny-kg a
fraction of a second each. Nothing here loads a model or runs one itself.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ksmith.metrics.bootstrap import bootstrap_ci, metric_seed
from ksmith.metrics.inputs import MetricsError
from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric


@dataclass(frozen=True)
class Activations:
    """What drift compares, captured from one model on one prompt set.

    logprobs: (n_prompts, vocab) next-token log-probabilities at each prompt's last token.
    hidden:   per layer (embeddings first), (n_prompts, width) hidden state at the last token.
    """

    logprobs: torch.Tensor
    hidden: tuple[torch.Tensor, ...]


#: Size of the drift prompt set.
N_DRIFT_PROMPTS = 128


def tied_facts(world: Any, interventions: Iterable[Any]) -> set[tuple[str, str]]:
    """(subject, relation) of every fact tied to an intervention (module docstring)."""
    tied: set[tuple[str, str]] = set()
    entities = world.entities
    for item in interventions:
        tied.add((item.subject, item.relation))
        if item.subject in entities:
            tied.update((d, item.relation) for d in world.descendants(item.subject))
        for obj in (item.old_object, item.new_object):
            if obj is not None and obj in entities:
                tied.update((f.subject, f.relation) for f in world.facts(obj))
    return tied


def _cloze(world: Any, fact: Any) -> str:
    templates = world.relations[fact.relation].templates
    held = [i for i in range(len(templates.cloze)) if i != templates.held_out]
    return templates.cloze[held[0] if held else 0].format(s=fact.subject)


def drift_prompts(
    world: Any,
    interventions: Iterable[Any] = (),
    probes: Iterable[Any] = (),
    *,
    n: int = N_DRIFT_PROMPTS,
    seed: int = 0,
) -> tuple[str, ...]:
    """The drift prompt set of a world for a dataset: `n` untouched attribute facts as held-in cloze prompts.

    interventions / probes: the dataset's (a `Dataset` gives `.interventions` and `.probes`); their
    facts and Q+ prompts are excluded. With neither, the world's fixed order alone decides.
    """
    interventions = tuple(interventions)
    facts = sorted(
        (f for f in world.all_facts() if not world.relations[f.relation].taxonomy),
        key=lambda f: (f.subject, f.relation, f.object),
    )
    if not facts:
        raise MetricsError("the world has no attribute facts to measure drift on")
    random.Random(f"ksmith-drift:{seed}").shuffle(facts)
    tied = tied_facts(world, interventions)
    banned = {p for item in interventions for p in item.prompts}
    banned.update(p.prompt for p in probes if p.family == "Q+")
    prompts: list[str] = []
    seen: set[str] = set()
    for fact in facts:
        if (fact.subject, fact.relation) in tied:
            continue
        prompt = _cloze(world, fact)
        if prompt in banned or prompt in seen:
            continue
        seen.add(prompt)
        prompts.append(prompt)
        if len(prompts) == n:
            break
    if not prompts:
        raise MetricsError("every attribute fact of the world is tied to an intervention: no drift prompt left")
    return tuple(prompts)


def capture(scorer: Any, prompts: Sequence[str]) -> Activations:
    """Next-token log-probabilities and hidden states of `prompts`, via the scoring engine's
    `next_token` request kind (`scorer` is a `ksmith.scoring.Scorer`)."""
    from ksmith.scoring import next_token

    if not prompts:
        raise MetricsError("drift needs at least one prompt; pass the drift prompt set")
    got = next_token(scorer, prompts, hidden=True)
    return Activations(got.logprobs, got.hidden)


_BLOCK_INDEX = re.compile(r"^\.(\d+)(\.|$)")


def first_edited_layer(touched: Iterable[str], arch: Any) -> int:
    """Index into `hidden_states` of the first layer an update can move (0 = embeddings).

    A tensor of block i moves the output of block i, `hidden_states[i + 1]`; the embedding moves
    everything from 0. Tensors outside the blocks (final norm, LM head) move no hidden state but
    the last one (that is where CKA is then read).
    """
    first: int | None = None
    for name in touched:
        if name.startswith(arch.embed):
            return 0
        if name.startswith(arch.blocks):
            m = _BLOCK_INDEX.match(name[len(arch.blocks) :])
            if m:
                layer = int(m.group(1)) + 1
                first = layer if first is None else min(first, layer)
    return first if first is not None else arch.num_layers


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
    from_layer: int = 0,
    seed: int = 0,
) -> dict[str, Metric]:
    """`drift_kl`, `drift_cka` and `drift_cka_l<i>` for i >= `from_layer` (and `drift_kl_per_fact`
    when `scale` is given), protocol "drift"; n = prompts. The KL interval resamples prompts (each an
    independent untouched fact)."""
    if before.logprobs.shape != after.logprobs.shape or len(before.hidden) != len(after.hidden):
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
            higher_is_better=higher_is_better("drift_kl"),
        ),
    }
    layers = range(min(max(0, from_layer), len(before.hidden) - 1), len(before.hidden))
    if n >= 2 and before.hidden:
        per_layer = {i: 1.0 - linear_cka(before.hidden[i], after.hidden[i]) for i in layers}
        for i, value in per_layer.items():
            out[f"drift_cka_l{i}"] = Metric(f"drift_cka_l{i}", value, "drift", n, higher_is_better=higher_is_better(f"drift_cka_l{i}"))
        out["drift_cka"] = Metric(
            "drift_cka", float(np.mean(list(per_layer.values()))), "drift", n, higher_is_better=higher_is_better("drift_cka")
        )
    if scale:
        out["drift_kl_per_fact"] = Metric(
            "drift_kl_per_fact", float(kl.mean()) / scale, "drift", n, higher_is_better=higher_is_better("drift_kl_per_fact")
        )
    return out
