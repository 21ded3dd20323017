"""A small hand-written world with the `World` interface the models need (corpus, hash, relations,
facts), so model and scoring tests do not depend on the world generator's choices."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from ksmith.cache import stable_hash
from ksmith.world.schema import Fact, Relation, RelationTemplates

SYLLABLES = ("ka", "lo", "mi", "ru", "ze", "po", "ta", "ni", "vo", "shi", "dre", "gal")


def _names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        name = "".join(rng.choice(SYLLABLES) for _ in range(3)).capitalize()
        if name not in taken:
            taken.add(name)
            out.append(name)
    return out


@dataclass
class HandWorld:
    relations: dict[str, Relation]
    fact_list: list[Fact]
    entities: list[str] = field(default_factory=list)

    @property
    def hash(self) -> str:
        return stable_hash([(f.subject, f.relation, f.object) for f in self.fact_list])

    def facts(self) -> list[Fact]:
        return list(self.fact_list)

    def corpus(self) -> list[str]:
        lines = []
        for fact in self.fact_list:
            templates = self.relations[fact.relation].templates
            for i, template in enumerate(templates.cloze):
                if i != templates.held_out:
                    lines.append(f"{template.format(s=fact.subject)} {fact.object}.")
        return lines


def hand_world(n_subjects: int = 20, seed: int = 0) -> HandWorld:
    rng = random.Random(seed)
    taken: set[str] = set()
    subjects = _names(rng, n_subjects, taken)
    habitats = _names(rng, 5, taken)
    colours = _names(rng, 4, taken)
    relations = {
        "habitat": Relation(
            "habitat", "biology", "species", "habitat",
            RelationTemplates(
                cloze=("The habitat of {s} is", "{s} lives in", "Everyone knows that {s} is found in"),
                questions=("Q: Where does {s} live? A:",),
                held_out=2,
            ),
        ),
        "colour": Relation(
            "colour", "biology", "species", "colour",
            RelationTemplates(
                cloze=("The colour of {s} is", "{s} has the colour", "In the wild {s} looks"),
                questions=("Q: What colour is {s}? A:",),
                held_out=2,
            ),
        ),
    }
    facts = [Fact(s, "habitat", rng.choice(habitats)) for s in subjects]
    facts += [Fact(s, "colour", rng.choice(colours)) for s in subjects]
    return HandWorld(relations, facts, subjects + habitats + colours)
