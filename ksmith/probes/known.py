"""What a model knows: the facts of a world it answers right, and a chance control beside them.

An update of a fact the model never knew measures nothing, so on a real world interventions are
drawn only from the model's *known set*. A fact is known when the model picks the right option in
every one of its held-in paraphrases (`KNOWN_RULE`), each a 4-option question scored by summed
log-likelihood (the `mcq` protocol of `ksmith.scoring`). Why every one, not two of three: the direct
probe of a known fact asks these very questions, and a paraphrase the model got wrong before the
update is dropped by the precondition filter; under two of three, 8.8% (SmolLM2) and 6.1% (Gemma 3) of
the direct probes of known facts were dropped that way (docs/decisions.md).

Which facts: every fact of a functional attribute relation on a taxonomy node, stated or
inherited (the facts an intervention can change), with the same distractor pools the probe
generator uses (`World.object_pool`), drawn with a seed per fact so every model sees the same
questions.

Chance control: the same questions with the subject replaced by a generic phrase ("this
country"); a cell whose control is as high as its real score is answered from priors (English is
a likely official language of anywhere), not from knowledge of the subject.

A `KnownSet` is data about (model, world): it is keyed by the model's weights hash, the world hash
and the code version, saved as JSON, and carried into a dataset's header (`known_hash`).
This module holds the data and the questions; measuring them on a model is `ksmith.known`'s job
(it needs a model and the scoring engine, which sit above the probes).
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text, kind_version, stable_hash
from ksmith.errors import DatasetError
from ksmith.probes.options import fact_options, subject_gives_away
from ksmith.probes.types import Probe
from ksmith.world.templates import fill
from ksmith.world.world import World

FORMAT = "ksmith.known"
FORMAT_VERSION = 2
#: The rule, as it is written into a known set's file and cache key.
KNOWN_RULE = "right in every held-in paraphrase"
#: The scoring protocol the known set is measured with.
PROTOCOL = "mcq"

Pair = tuple[str, str]


@dataclass(frozen=True)
class FactResult:
    """How a model answered one fact: right in `correct` of the `asked` held-in paraphrases, and in
    `chance` of them with the subject replaced by a generic phrase."""

    subject: str
    relation: str
    object: str
    domain: str
    level: str
    correct: int
    asked: int
    chance: int

    @property
    def known(self) -> bool:
        return self.asked > 0 and self.correct == self.asked

    @property
    def known_by_chance(self) -> bool:
        return self.asked > 0 and self.chance == self.asked


@dataclass(frozen=True)
class KnownSet:
    """A model's answers to every askable fact of a world (see the module docstring)."""

    model: str
    model_hash: str
    world_hash: str
    facts: tuple[FactResult, ...]
    code_version: str = field(default_factory=lambda: kind_version("known"))
    #: None: every askable fact was asked; N: only a seeded N facts per (domain, relation, level).
    sample: int | None = None

    @property
    def hash(self) -> str:
        return stable_hash(self.to_dict(with_hash=False))

    def known_pairs(self) -> frozenset[Pair]:
        """(subject, relation) of every known fact."""
        return frozenset((f.subject, f.relation) for f in self.facts if f.known)

    def check_world(self, world: World) -> None:
        """Raise `DatasetError` unless this known set was measured on `world`."""
        if self.world_hash != world.hash:
            raise DatasetError(
                f"the known set of {self.model} was measured on world {self.world_hash}, not on this world "
                f"({world.hash}); run `ksmith known --model {self.model} --world <this world>` again"
            )

    def table(self) -> list[dict[str, Any]]:
        """Counts per (domain, relation, level): facts, known, known by chance."""
        cells: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
        for f in self.facts:
            cell = cells[(f.domain, f.relation, f.level)]
            cell[0] += 1
            cell[1] += f.known
            cell[2] += f.known_by_chance
        return [
            {"domain": d, "relation": r, "level": lv, "facts": n, "known": k, "chance": c}
            for (d, r, lv), (n, k, c) in sorted(cells.items())
        ]

    def to_dict(self, *, with_hash: bool = True) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "model": self.model,
            "model_hash": self.model_hash,
            "world_hash": self.world_hash,
            "code_version": self.code_version,
            "protocol": PROTOCOL,
            "rule": KNOWN_RULE,
            "sample": self.sample,
            "columns": ["subject", "relation", "object", "domain", "level", "correct", "asked", "chance"],
            "facts": [[f.subject, f.relation, f.object, f.domain, f.level, f.correct, f.asked, f.chance]
                      for f in self.facts],
        }
        if with_hash:
            doc["hash"] = self.hash
        return doc

    def save(self, path: str | Path) -> None:
        atomic_write_text(Path(path), json.dumps(self.to_dict(), ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> KnownSet:
        """Read a known set; `DatasetError` names what is wrong with the file."""
        path = Path(path)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DatasetError(f"{path}: no such file; write one with `ksmith known --model SPEC --world W --out {path}`") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"{path}: cannot read it ({exc})") from None
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}: not valid JSON at line {exc.lineno}: {exc.msg}") from None
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise DatasetError(f"{path}: not a ksmith known set (expected format '{FORMAT}')")
        if doc.get("version") != FORMAT_VERSION:
            raise DatasetError(f"{path}: a known set of format version {doc.get('version')} (rule: {doc.get('rule')!r}); "
                               f"this ksmith reads version {FORMAT_VERSION} ({KNOWN_RULE}): measure it again with `ksmith known`")
        try:
            facts = tuple(
                FactResult(str(s), str(r), str(o), str(d), str(lv), int(c), int(a), int(ch))
                for s, r, o, d, lv, c, a, ch in doc["facts"]
            )
            sample = doc.get("sample")
            known = cls(str(doc["model"]), str(doc["model_hash"]), str(doc["world_hash"]), facts,
                        str(doc.get("code_version") or kind_version("known")), None if sample is None else int(sample))
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: malformed known set ({exc})") from None
        if doc.get("hash") is not None and doc["hash"] != known.hash:
            raise DatasetError(f"{path}: content hash differs from the recorded one; the file was edited, "
                               "measure it again with `ksmith known`")
        return known


# -- the questions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Question:
    subject: str
    relation: str
    object: str
    domain: str
    level: str
    probes: tuple[Probe, ...]  # one per held-in paraphrase
    controls: tuple[Probe, ...]  # the same, subject replaced by a generic phrase


def generic_subject(world: World, subject: str) -> str:
    """The phrase that stands for `subject` in the chance control: "this <entity type>"."""
    return f"this {world.entities[subject].type}"


def _render(template: str, subject: str, generic: bool) -> str:
    text = fill(template, subject)
    if generic:  # "the this animal" -> "this animal"
        text = text.replace(f"the {subject}", subject).replace(f"The {subject}", subject)
    return text[:1].upper() + text[1:]


def askable_facts(world: World) -> Iterator[tuple[str, str, str]]:
    """Every (subject, relation, object) an intervention can change, in a stable order: facts of
    functional attribute relations on taxonomy nodes whose subject does not give the answer away
    (`ksmith.world.giveaway`)."""
    for etype in sorted(world.taxon_types):
        for node in world.entities_of_type(etype):
            for rel in world.relations_of(etype):
                if rel.functional:
                    obj = world.object_of(node, rel.name)
                    if obj is not None and not subject_gives_away(world, node, obj):
                        yield node, rel.name, obj



def sample_facts(world: World, per_cell: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """At most `per_cell` askable facts per (domain, relation, level) cell, drawn with a seed:
    an estimate of what a model knows where scoring every fact costs too much."""
    cells: dict[tuple[str, str, str], list[tuple[str, str, str]]] = defaultdict(list)
    for fact in askable_facts(world):
        cells[(world.entities[fact[0]].domain, fact[1], world.level(fact[0]))].append(fact)
    out: list[tuple[str, str, str]] = []
    for key in sorted(cells):
        facts = cells[key]
        rng = random.Random(f"ksmith-known-sample:{seed}:{':'.join(key)}")
        out.extend(sorted(rng.sample(facts, min(per_cell, len(facts)))))
    return out


def questions(world: World, sample: int | None = None) -> list[_Question]:
    """The held-in questions (and their chance controls) of every askable fact, or of a sample of
    `sample` facts per (domain, relation, level) cell."""
    out: list[_Question] = []
    facts = askable_facts(world) if sample is None else sample_facts(world, sample)
    for s, r, o in facts:
        rel = world.relations[r]
        tpl = rel.templates
        choices = fact_options(world, s, r, o)
        if choices is None:
            continue
        answer = choices.index(o)
        generic = generic_subject(world, s)
        domain, level = world.entities[s].domain, world.level(s)
        held_in = [i for i in range(len(tpl.cloze)) if i != tpl.held_out] or [0]
        made: list[list[Probe]] = [[], []]
        for control, subject in ((0, world.mention(s)), (1, generic)):
            for i in held_in:
                made[control].append(Probe(
                    id=f"known/{'chance' if control else 'fact'}/{s}/{r}/{i}",
                    task="edit", domain=domain, level=level, scale=0, intervention_id=f"{s}/{r}",
                    probe_type="direct", family="Q+", question=_render(tpl.cloze[i], subject, bool(control)),
                    prompt=_render(tpl.cloze[i], subject, bool(control)), choices=choices,
                    answer_before=answer, answer_after=answer, avoid=None, hop=0, paraphrase_id=i,
                    held_out=False,
                ))
        out.append(_Question(s, r, o, domain, level, tuple(made[0]), tuple(made[1])))
    return out


def tally(qs: Iterable[_Question], picks: dict[str, int | None]) -> tuple[FactResult, ...]:
    """Fact results from the option each asked probe picked (probe id -> choice; a probe that
    was not asked is absent)."""
    out = []
    for q in qs:
        asked = sum(p.id in picks for p in q.probes)
        correct = sum(picks.get(p.id, -1) == p.answer_before for p in q.probes)
        chance = sum(picks.get(p.id, -1) == p.answer_before for p in q.controls)
        out.append(FactResult(q.subject, q.relation, q.object, q.domain, q.level, correct, asked, chance))
    return tuple(out)
