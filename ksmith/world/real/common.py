"""Shared pieces of the real-world builders: a domain's parts, relation construction, and where
the packaged source data lives.

Why `distractors="range"` on every real relation: a real taxonomy holds continents, regions and
countries under one entity type, so "any entity of the object type" would offer a subregion as the
capital of a country. Wrong options are drawn instead from the relation's own objects, shaped like
the answer (see `World.object_pool`).

Templates are written per relation in plain English with real punctuation, for a model that has
read the web: every relation has four cloze paraphrases, the last one held out (never used to pick
the known set or to train an edit), and a noun phrase ("the capital of {s}") from which the derived
forms (composition, comparison, conflict) are built. `{s}` and `{o}` are filled with an entity's
mention ("the United States", "the dog", "hydrogen"), so a template never adds an article itself, and
the first letter of every rendered prompt is upper-case.

Where a source is wrong or outdated, an override corrects it: one JSON file per domain in
`overrides/`, each entry naming the value it replaces, the value it sets, its source and its reason.
A builder applies every entry to its source data before stating facts, and the build fails when an
entry's `was` is not what the source says (the source changed: look again) or when an entry is never
used (`Overrides.check_used`), so the table cannot drift from the data it corrects. `ksmith world
audit` lists every source and override.
"""

from __future__ import annotations

import importlib.util
import json
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
    #: Other true answers of (subject, relation) (`World.true_objects`).
    also: list[tuple[str, str, str]] = field(default_factory=list)

    def entity(self, name: str, etype: str, mention: str | None = None) -> str:
        got = self.entities.get(name)
        if got is not None and got.type != etype:
            raise WorldError(f"{self.domain}: '{name}' is both a '{got.type}' and a '{etype}'")
        if got is not None and mention is None:
            mention = got.mention
        self.entities[name] = Entity(name, etype, self.domain, mention if mention != name else None)
        return name

    def fact(self, s: str, r: str, o: str) -> None:
        self.facts.append((s, r, o))

    def other_answer(self, s: str, r: str, o: str) -> None:
        """`o` is also a true answer of (s, r), beside the stated one."""
        self.also.append((s, r, o))


@dataclass(frozen=True)
class Override:
    """One correction of a source: (subject, relation) was `was` in the source and is `value`.

    relation: a relation of the domain, or a builder's own key for what it corrects before any
    fact exists ("rename": an entity's name; "parent": a taxonomy node's parent).
    value: None removes the source's value: a fact that should not be there, or (for "rename") the
    entity itself (a duplicate record, a state that no longer exists).
    """

    subject: str
    relation: str
    was: str | None
    value: str | None
    source: str
    reason: str


#: Where the override tables live, one JSON file per domain.
OVERRIDES_DIR = Path(__file__).with_name("overrides")


class Overrides:
    """A domain's override table: look up corrections while building, then `check_used`."""

    def __init__(self, domain: str, directory: Path = OVERRIDES_DIR) -> None:
        self.domain = domain
        self.path = directory / f"{domain}.json"
        self._table: dict[tuple[str, str], Override] = {}
        #: Other true answers the source does not give (a disputed block), each with its source.
        self._also: list[Override] = []
        doc = json.loads(self.path.read_text(encoding="utf-8")) if self.path.is_file() else {}
        for row in doc.get("overrides", []):
            o = Override(row["subject"], row["relation"], row.get("was"), row.get("value"), row["source"], row["reason"])
            if not o.source.strip() or not o.reason.strip():
                raise WorldError(f"{self.path}: the override of ({o.subject}, {o.relation}) needs a source and a reason")
            if (o.subject, o.relation) in self._table:
                raise WorldError(f"{self.path}: ({o.subject}, {o.relation}) is overridden twice")
            self._table[(o.subject, o.relation)] = o
        for row in doc.get("also", []):
            o = Override(row["subject"], row["relation"], None, row["value"], row["source"], row["reason"])
            if not o.source.strip() or not o.reason.strip():
                raise WorldError(f"{self.path}: the other answer of ({o.subject}, {o.relation}) needs a source and a reason")
            self._also.append(o)
        self._used: set[tuple[str, str]] = set()

    def __iter__(self):
        return iter(self._table.values())

    @property
    def other_answers(self) -> tuple[Override, ...]:
        return tuple(self._also)

    def apply(self, subject: str, relation: str, source_value: str | None) -> str | None:
        """The corrected value of (subject, relation) given what the source says."""
        o = self._table.get((subject, relation))
        if o is None:
            return source_value
        if o.was != source_value:
            raise WorldError(
                f"{self.path}: the override of ({subject}, {relation}) expects the source to say {o.was!r} "
                f"but it says {source_value!r}; the source changed, check the entry again"
            )
        self._used.add((subject, relation))
        return o.value

    def check_used(self) -> None:
        """Raise unless every entry was applied (an unused one corrects data that is not there)."""
        unused = sorted(set(self._table) - self._used)
        if unused:
            raise WorldError(f"{self.path}: override(s) never applied: {unused}; the source no longer has them, remove them")


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
    noun: str = "",
) -> Relation:
    """A real relation; the last cloze paraphrase is the held-out one."""
    if len(cloze) < 4 and not taxonomy:
        raise WorldError(f"relation '{name}' needs 3 held-in paraphrases and 1 held-out one")
    if not taxonomy and "{s}" not in noun:
        raise WorldError(f"relation '{name}' needs a noun phrase with {{s}}, e.g. 'the capital of {{s}}'")
    return Relation(
        name=name,
        domain=domain,
        subject_type=subject_type,
        object_type=object_type,
        templates=RelationTemplates(cloze=cloze, questions=questions, reverse=reverse, held_out=len(cloze) - 1, noun=noun),
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


def state_inherited(parts: Parts, rel: str, parent: str, children: dict[str, str | None]) -> None:
    """State an inherited relation the way a taxonomy book would: on the parent when most of its
    children share a value, and on each child whose value differs (an override); on every child
    when no value has a majority, or when some child has no value at all (it would inherit the
    parent's: the f-block elements have no group, though the lanthanides' first one has)."""
    values = list(children.values())
    common = majority([v for v in values if v is not None]) if None not in values else None
    if common is not None:
        parts.fact(parent, rel, common)
    for child, value in sorted(children.items()):
        if value is not None and value != common:
            parts.fact(child, rel, value)
