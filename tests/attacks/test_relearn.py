"""The relearning attack's data: facts the graph relates to the forgotten ones, never a forgotten
fact (in any paraphrase, the held-out one included), a fact it reaches by inheritance, or a fact a Q+
probe asks."""

from __future__ import annotations

import pytest

from ksmith.attacks.relearn import relearn_pairs
from ksmith.probes import build_dataset
from ksmith.probes.interventions import inheritors
from ksmith.world import build_world
from ksmith.world.templates import fill


@pytest.fixture(scope="module")
def world():
    return build_world(size="small")


def every_prompt(world, subject: str, relation: str) -> set[str]:
    """Every cloze paraphrase of a fact, the held-out one included."""
    return {fill(c, world.mention(subject)) for c in world.relations[relation].templates.cloze}


@pytest.mark.parametrize("level,k", [("leaf", 10), ("intermediate", 3)])
def test_relearning_never_trains_a_forgotten_inherited_or_asked_fact(world, level: str, k: int) -> None:
    dataset = build_dataset(world, "unlearn", level, k, 0)
    pairs = relearn_pairs(world, dataset)
    prompts = {p.prompt for p in pairs}
    banned: set[str] = set()
    for iv in dataset.interventions:
        banned |= every_prompt(world, iv.subject, iv.relation)
        for descendant, _ in inheritors(world, iv.subject, iv.relation):
            banned |= every_prompt(world, descendant, iv.relation)
    for probe in dataset.probes:
        if probe.family == "Q+" and probe.asks:
            subject, _, relations = probe.asks.partition("|")
            hops = relations.split("/")
            if hops[0] not in world.relations:  # a reverse probe's inverse: it asks the forgotten fact itself
                continue
            banned |= every_prompt(world, subject, hops[0])
            if len(hops) > 1:  # a composition asks its second hop of the middle entity too
                banned |= every_prompt(world, world.object_of(subject, hops[0]), hops[1])
    assert pairs and not prompts & banned
    assert relearn_pairs(world, dataset) == pairs  # recorded by a digest: the same on every call


def test_relearning_trains_the_siblings_and_the_facts_sharing_the_object(world) -> None:
    dataset = build_dataset(world, "unlearn", "leaf", 10, 0)
    pairs = {(p.prompt, p.target) for p in relearn_pairs(world, dataset)}
    prompts = {prompt for prompt, _ in pairs}
    shared = siblings = 0
    for iv in dataset.interventions:
        for other in world.subjects_with(iv.relation, iv.old_object):
            shared += any((p, " " + iv.old_object) in pairs for p in every_prompt(world, other, iv.relation))
        parent = world.parent(iv.subject)
        for sibling in world.children(parent) if parent else ():
            siblings += any(prompts & every_prompt(world, sibling, f.relation) for f in world.facts(sibling))
    assert shared > 0 and siblings > 0
