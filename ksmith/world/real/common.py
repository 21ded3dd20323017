"""Shared pieces of the real-world builders: a domain's parts, relation construction, and where
the packaged source data lives.

Why `distractors="range"` on every real relation: a real taxonomy holds continents, regions and
countries under one entity type, so "any entity of the object type" would offer a subregion as the
capital of a country. Wrong options are drawn instead from the relation's own objects, shaped like
the answer (see `World.object_pool`).

Templates are written per relation in plain English with real punctuation, for a model that has
read the web: every relation has four cloze paraphrases, the last one held out (never used to pick
the known set or to train an edit), and `cloze[0]` reads "The <keyword> of {s} is" so the derived
forms (composition, comparison, conflict) can name the relation.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from ksmith.errors import WorldError
from ksmith.world.schema import Entity, Relation, RelationTemplates


@dataclass
class Parts:
    """What one domain builder contributes: entities, relations and stated facts."""

    domain: str
    entities: dict[str, Entity] = field(default_factory=dict)
    relations: list[Relation] = field(default_factory=list)
    facts: list[tuple[str, str, str]] = field(default_factory=list)

    def entity(self, name: str, etype: str) -> str:
        got = self.entities.get(name)
        if got is not None and got.type != etype:
            raise WorldError(f"{self.domain}: '{name}' is both a '{got.type}' and a '{etype}'")
        self.entities[name] = Entity(name, etype, self.domain)
        return name

    def fact(self, s: str, r: str, o: str) -> None:
        self.facts.append((s, r, o))


def relation(
    name: str,
    domain: str,
    subject_type: str,
    object_type: str,
    cloze: tuple[str, ...],
    questions: tuple[str, ...],
    *,
    reverse: tuple[str, ...] = (),
    inherited: bool = False,
    inverse: str | None = None,
    taxonomy: bool = False,
) -> Relation:
    """A real relation; the last cloze paraphrase is the held-out one."""
    if len(cloze) < 4 and not taxonomy:
        raise WorldError(f"relation '{name}' needs 3 held-in paraphrases and 1 held-out one")
    return Relation(
        name=name,
        domain=domain,
        subject_type=subject_type,
        object_type=object_type,
        templates=RelationTemplates(cloze=cloze, questions=questions, reverse=reverse, held_out=len(cloze) - 1),
        taxonomy=taxonomy,
        inherited=inherited,
        inverse=inverse,
        distractors="range",
    )


def taxonomy(name: str, domain: str, node_type: str, phrase: str) -> Relation:
    """The taxonomy relation of a domain (not probed itself; it gives levels and inheritance)."""
    return relation(
        name, domain, node_type, node_type,
        (f"{{s}} is {phrase}", f"{{s}} belongs to", f"{{s}} is part of", f"{{s}} falls under"),
        (f"Q: What is {{s}} {phrase}?\nA:",),
        taxonomy=True,
    )


def package_dir(module: str, extra: str = "real-world") -> Path:
    """The installed directory of a data package, found without importing it (some pull in heavy
    dependencies at import that the data does not need)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise WorldError(
            f"the Python package '{module}' is needed to rebuild the real world; install the "
            f"'{extra}' extra (`make real-world` does) or use the committed world (`ksmith world --source real`)"
        )
    return Path(list(spec.submodule_search_locations)[0])


def majority(values: list[str]) -> str | None:
    """The value more than half of `values` share, else None (ties and empty lists: None)."""
    if not values:
        return None
    best = max(sorted(set(values)), key=values.count)
    return best if values.count(best) * 2 > len(values) else None


def state_inherited(parts: Parts, rel: str, parent: str, children: dict[str, str]) -> None:
    """State an inherited relation the way a taxonomy book would: on the parent when most of its
    children share a value, and on each child whose value differs (an override); on every child
    when no value has a majority."""
    common = majority(list(children.values()))
    if common is not None:
        parts.fact(parent, rel, common)
    for child, value in sorted(children.items()):
        if value != common:
            parts.fact(child, rel, value)
