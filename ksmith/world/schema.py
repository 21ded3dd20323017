"""The vocabulary of a knowledge graph: entities, relations (with their templates) and facts.

These are the public names every other package uses. They are plain frozen dataclasses so that
worlds, datasets and caches can hash them and round-trip them through JSON exactly.

Templates live on the relation because the relation is what a sentence expresses: a world carries
everything needed to render itself as text (`World.corpus()`), and probes reuse the same templates.
Placeholders: `{s}` subject, `{o}` object. In a cloze template the object is always last and is
left out (the prompt stops just before it), because the scoring engine scores an answer as the
continuation of the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

#: Levels of a node in the taxonomy forest.
LEVELS: tuple[str, ...] = ("root", "intermediate", "leaf")


@dataclass(frozen=True, order=True)
class Entity:
    """A node of the world: a name, a type (e.g. 'species', 'habitat') and a domain.

    mention: how a sentence names the entity where it differs from `name` ("the United States",
    "the dog", "the alkali metals"): templates are filled with it, so real probes read as English.
    None (every synthetic entity): the name itself.
    """

    name: str
    type: str
    domain: str
    mention: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RelationTemplates:
    """Surface forms of one relation.

    cloze:     prompts that end right before the object, e.g. "The habitat of {s} is".
               Index = paraphrase id. The subject stands at the start, middle and end across them.
    questions: question-answer prompts ending before the object, e.g. "Q: Where does {s} live? A:".
    reverse:   cloze prompts asking from the object's side, ending before the *subject*,
               e.g. "{o} is the habitat of" (used when the relation has an inverse).
    held_out:  index into `cloze` of the paraphrase never shown in the training corpus.
    noun:      the relation as a noun phrase, e.g. "the capital of {s}": the derived forms
               (composition, comparison, conflict) are built from it in plain English
               (`ksmith.world.templates.NATURAL_FORMS`). Empty (the synthetic world): the derived
               forms use the generic keyword patterns its word-level tokenizer was trained on.
    """

    cloze: tuple[str, ...]
    questions: tuple[str, ...]
    reverse: tuple[str, ...] = ()
    held_out: int = 0
    noun: str = ""


@dataclass(frozen=True)
class Relation:
    """An attribute or taxonomy relation and how it behaves.

    taxonomy:   is-a / part-of edges; they form a forest and define levels and inheritance.
    inherited:  a fact on a node holds for its descendants unless a descendant overrides it.
    functional: at most one object per subject.
    inverse:    name of the inverse relation (used by reverse probes), or None.
    distractors: where wrong options come from. "type" (synthetic worlds): any entity of the
                object type (subjects: of the subject type). "range" (real worlds, where a type
                such as a taxonomy node spans continents and countries): only objects this
                relation has somewhere in the world, of the same shape as the answer (numbers with
                as many digits, names with as many words, where the pool allows), and subjects
                that hold the relation at the subject's level. A synthetic world's JSON never
                names it, so its hash is unchanged.
    """

    name: str
    domain: str
    subject_type: str
    object_type: str
    templates: RelationTemplates
    taxonomy: bool = False
    inherited: bool = False
    functional: bool = True
    inverse: str | None = None
    distractors: str = "type"


#: Values of `Relation.distractors`.
DISTRACTOR_POOLS: tuple[str, ...] = ("type", "range")


@dataclass(frozen=True, order=True)
class Fact:
    """A triple `(subject, relation, object)`; `inherited_from` is set on derived facts only."""

    subject: str
    relation: str
    object: str
    inherited_from: str | None = field(default=None, compare=False)


class Change(Protocol):
    """What `World.apply` reads of an intervention (`ksmith.probes.Intervention` is one): the world
    sits below the probes, so it names the fields it needs instead of importing their type."""

    @property
    def id(self) -> str: ...
    @property
    def task(self) -> str: ...
    @property
    def subject(self) -> str: ...
    @property
    def relation(self) -> str: ...
    @property
    def old_object(self) -> str: ...
    @property
    def new_object(self) -> str | None: ...
