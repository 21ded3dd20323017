"""Fixtures of the scoring tests: the real small world, a small tiny-kg trained on it once per
session, and hand-made probes over its facts (so these tests do not wait on the probe generator)."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import pytest

from ksmith.cache import stable_hash
from ksmith.models.loaded import LoadedModel
from ksmith.probes.types import Probe


@pytest.fixture(scope="session")
def small_world():
    from ksmith.world import build_world

    return build_world(size="small", seed=0)


@pytest.fixture(scope="session")
def small_model(small_world, tmp_path_factory) -> LoadedModel:
    from ksmith.models.tiny import TinyConfig, pretrain

    with pytest.MonkeyPatch.context() as mp:
        # One cache directory for the whole session, so the model tests' fixture reuses this model;
        # KSMITH_TEST_CACHE names a directory that outlives the session (a developer's re-runs).
        cache = os.environ.get("KSMITH_TEST_CACHE") or str(tmp_path_factory.getbasetemp() / "tiny-kg-cache")
        mp.setenv("KSMITH_CACHE", cache)
        return pretrain(small_world, TinyConfig.small(), device="cpu")


def make_probes(world, n: int = 40, seed: int = 0, task: str = "edit") -> list[Probe]:
    """Direct probes on `n` facts: the true object plus three distractors of the same type."""
    rng = random.Random(seed)
    facts = [f for f in world.all_facts() if len(world.entities_of_type(world.relations[f.relation].object_type)) >= 4]
    probes = []
    for i, fact in enumerate(rng.sample(facts, n)):
        relation = world.relations[fact.relation]
        pool = [e for e in world.entities_of_type(relation.object_type) if e != fact.object]
        choices = [fact.object, *rng.sample(pool, 3)]
        rng.shuffle(choices)
        before = choices.index(fact.object)
        after = (before + 1) % 4 if task == "edit" else None
        template = relation.templates.cloze[i % len(relation.templates.cloze)]
        probes.append(
            Probe(
                id=f"p{i}" if task == "edit" else f"u{i}", task=task, domain=relation.domain, level="leaf", scale=1,
                intervention_id=f"i{i % 5}", probe_type="direct", family="Q+",
                question=template.replace("{s}", fact.subject), prompt=template.replace("{s}", fact.subject),
                choices=tuple(choices), answer_before=before, answer_after=after,
                avoid=before if task == "unlearn" else None, hop=0,
                paraphrase_id=i % len(relation.templates.cloze),
                held_out=(i % len(relation.templates.cloze)) == relation.templates.held_out,
            )
        )
    return probes


@dataclass(frozen=True)
class ProbeSet:
    """The two things `pre_scores` needs from a Dataset."""

    probes: tuple[Probe, ...]

    @property
    def hash(self) -> str:
        return stable_hash([p.id + p.prompt + "|".join(p.choices) for p in self.probes])
