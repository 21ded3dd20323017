"""The relearning attack: fine-tune the unlearned model for a few steps on facts the knowledge graph
relates to the forgotten ones, never on the forgotten facts or anything a Q+ probe asks.

Related (Hu et al.'s "related public information", from the graph instead of the web): every fact of
the forgotten fact's subject, of its parent and of its siblings, and the facts that share its object
under the same relation (other fish, when "a perch is a fish" was forgotten). Left out: the forgotten
(subject, relation) pairs, every pair an intervention writes (descendants inheriting the fact) and
every pair a Q+ probe of the dataset asks (`Probe.asks`; a composition asks both of its hops). What
was trained on is recorded with the case (`relearn_pairs` is deterministic in the world and dataset).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.attacks.specs import AttackError
from ksmith.methods.training import TrainPair
from ksmith.probes.interventions import held_in_prompts, inheritors


@dataclass(frozen=True)
class RelearnSettings:
    """The attacker's fine-tuning: every parameter, AdamW without weight decay, a constant learning
    rate, batches of `batch_size` pairs drawn in seeded epochs, gradients clipped to norm 1.

    Real models: lr 1e-5, a common full fine-tuning rate for models of this size (Deeb and Roger
    fine-tune at 1e-6 to 1e-5); tiny-kg, trained from scratch at 3e-4 to 5e-3: 1e-3. Chosen before
    any attack was measured, never tuned on a reported cell."""

    lr: float
    batch_size: int = 8


def settings_for(arch: Any) -> RelearnSettings:
    return RelearnSettings(lr=1e-3) if arch.profile == "tiny-kg" else RelearnSettings(lr=1e-5)


def asked_pairs(world: Any, probe: Any) -> set[tuple[str, str]]:
    """The (subject, relation) pairs a probe asks: "S|r" one, "S|r1/r2" both hops of the composition."""
    if not probe.asks:
        return set()
    subject, _, relations = probe.asks.partition("|")
    hops = relations.split("/")
    out = {(subject, hops[0])}
    if len(hops) > 1:
        middle = world.object_of(subject, hops[0])
        if middle is not None:
            out.add((middle, hops[1]))
    return out


def relearn_pairs(world: Any, dataset: Any) -> list[TrainPair]:
    """The attack's training pairs (prompt, " " + object): every held-in prompt of every related fact
    (module docstring), in a fixed order."""
    interventions = tuple(dataset.interventions)
    banned: set[tuple[str, str]] = set()
    for iv in interventions:
        banned.add((iv.subject, iv.relation))
        banned.update((d, iv.relation) for d, _ in inheritors(world, iv.subject, iv.relation))
    for probe in dataset.probes:
        if probe.family == "Q+":
            banned.update(asked_pairs(world, probe))
    facts: dict[tuple[str, str, str], None] = {}
    for iv in interventions:
        parent = world.parent(iv.subject)
        nodes = [iv.subject] + ([parent, *world.children(parent)] if parent is not None else [])
        for node in nodes:
            for fact in world.facts(node):
                facts[(fact.subject, fact.relation, fact.object)] = None
        for other in world.subjects_with(iv.relation, iv.old_object):
            facts[(other, iv.relation, iv.old_object)] = None
    pairs = []
    for subject, relation, obj in sorted(facts):
        if (subject, relation) in banned or relation not in world.relations:
            continue
        for prompt in held_in_prompts(world.relations[relation], world.mention(subject)):
            pairs.append(TrainPair(prompt, " " + obj))
    return pairs


def relearn(
    lm: Any, tokenizer: Any, pairs: Sequence[TrainPair], steps: Sequence[int], settings: RelearnSettings,
    seed: int, at_step: Callable[[int], None],
) -> list[float]:
    """Fine-tune every parameter of `lm` on `pairs` for max(steps) steps; after each step in `steps`,
    call `at_step(step)` (the harness scores there). Returns the loss curve."""
    from ksmith.methods.losses import nll
    from ksmith.methods.training import ParamSet, minibatches, sequence_logprobs, tokenize_pairs, train

    if not pairs:
        raise AttackError("the relearning attack has no related fact to train on (the dataset asks every one)")
    device = next(lm.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    total = max(steps)
    batches = list(minibatches(len(pairs), settings.batch_size, total, generator))
    params = ParamSet(lm, [name for name, _ in lm.named_parameters()])
    done = [0]

    def step_loss(i: int) -> torch.Tensor:
        batch = tokenize_pairs(tokenizer, [pairs[j] for j in batches[i]], device)
        return nll(sequence_logprobs(lm, batch))

    def after_step() -> None:
        done[0] += 1
        if done[0] in steps:
            at_step(done[0])

    return train(lm, params, step_loss, total, settings.lr, weight_decay=0.0, grad_clip=1.0,
                 after_step=after_step, optimizer="adamw")
