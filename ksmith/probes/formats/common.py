"""What every dataset format shares: reading a file, checking records field by field, and turning
the source's (question, right answer) pairs into ksmith's 4-option probes.

Why two passes: a probe's distractors are drawn from the answers of the *same relation in the same
file* (so an option is always a plausible answer of the question's kind), and those are known only
after every record has been read. An importer therefore first reads records into `ProbeSpec`s and
answer pools (`Builder.spec`, `Builder.answer`), and `Builder.build` makes the options at the end.

Rules every importer follows:
- a missing field, a wrong type or an empty answer is a `FormatError` naming the file, the record
  (index and `case_id` where the format has one) and the field's path; nothing is written before
  the whole file has been read;
- an answer keeps every alias (for `gen_match`); a distractor is never the text or an alias of an
  answer that is right before or after the update (compared after `normalise`);
- options and distractors are chosen by a generator seeded with the probe's id, so importing the
  same file twice gives the same dataset.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.errors import DatasetError
from ksmith.probes.dataset import Dataset
from ksmith.probes.types import Intervention, Probe, RetainItem

#: The level every imported probe and intervention carries (imported facts sit in no taxonomy).
IMPORTED_LEVEL = "imported"


class FormatError(DatasetError):
    """A dataset file that does not follow its format (the message names record and field)."""


def normalise(text: str) -> str:
    """Lower-case words separated by single spaces: how answers and aliases are compared."""
    return " ".join(re.findall(r"\w+", text.lower()))


@dataclass(frozen=True)
class Answer:
    """A right answer: the text used as the MCQ option, and every other name that counts."""

    text: str
    aliases: tuple[str, ...] = ()

    def names(self) -> set[str]:
        return {normalise(n) for n in (self.text, *self.aliases) if normalise(n)}


@dataclass(frozen=True)
class Source:
    """A dataset file read into memory: its records and what identifies it."""

    path: Path
    format: str
    records: list[Any]
    sha256: str


def read_json(path: str | Path, fmt: str) -> Source:
    """Read a JSON list (or JSONL, one record a line) of records; the sha256 is of the file's bytes."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise FormatError(f"{path}: no such file") from None
    digest = hashlib.sha256(raw).hexdigest()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        try:  # JSONL
            data = [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            raise FormatError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}); "
                              f"a {fmt} file is a JSON list of records") from None
        if len(lines) < 2:
            raise FormatError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno})") from None
    if isinstance(data, dict):  # some releases wrap the list: {"data": [...]}
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) == 1:
            data = lists[0]
    if not isinstance(data, list):
        raise FormatError(f"{path}: expected a JSON list of {fmt} records, got a JSON {type(data).__name__}")
    if not data:
        raise FormatError(f"{path}: the file holds no records")
    return Source(path, fmt, data, digest)


_TYPE_NAMES = {str: "a string", list: "a list", dict: "an object", int: "an integer", bool: "true/false"}


class Record:
    """One record (or a part of one) with the location its errors name: file, record, field path."""

    def __init__(self, data: Any, file: str, index: int, case_id: Any = None, path: str = "") -> None:
        self.data = data
        self.file = file
        self.index = index
        self.case_id = case_id
        self.path = path

    @classmethod
    def top(cls, source: Source, index: int, id_key: str | None = "case_id") -> Record:
        data = source.records[index]
        case_id = data.get(id_key) if isinstance(data, dict) and id_key else None
        rec = cls(data, source.path.name, index, case_id)
        if not isinstance(data, dict):
            raise rec.error("", f"is {type(data).__name__}, expected an object")
        return rec

    @property
    def label(self) -> str:
        """How errors and ids name this record: its case_id when it has one, else its index."""
        return str(self.case_id) if self.case_id is not None else str(self.index)

    def where(self, key: str) -> str:
        rec = f"record {self.index}" + (f" (case_id {self.case_id})" if self.case_id is not None else "")
        full = f"{self.path}.{key}" if self.path and key else (self.path or key)
        return f"{self.file}: {rec}, field '{full}'" if full else f"{self.file}: {rec}"

    def error(self, key: str, problem: str) -> FormatError:
        return FormatError(f"{self.where(key)} {problem}")

    def has(self, key: str) -> bool:
        return isinstance(self.data, dict) and self.data.get(key) is not None

    def get(self, key: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
        if not isinstance(self.data, dict) or key not in self.data or self.data[key] is None:
            if optional:
                return None
            raise self.error(key, "is missing")
        value = self.data[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            names = " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)
            raise self.error(key, f"is {type(value).__name__}, expected {names}")
        return value

    def text(self, key: str, *, optional: bool = False, empty_ok: bool = False) -> str | None:
        value = self.get(key, str, optional=optional)
        if value is not None and not value.strip() and not empty_ok:
            raise self.error(key, "is empty")
        return value

    def texts(self, key: str, *, optional: bool = False) -> list[str]:
        """A list of non-empty strings (an empty list is allowed)."""
        items = self.get(key, list, optional=optional)
        if items is None:
            return []
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.error(f"{key}[{i}]", f"is {type(item).__name__}, expected a string")
            if not item.strip():
                raise self.error(f"{key}[{i}]", "is empty")
        return list(items)

    def sub(self, key: str, *, optional: bool = False) -> Record | None:
        value = self.get(key, dict, optional=optional)
        if value is None:
            return None
        return Record(value, self.file, self.index, self.case_id, f"{self.path}.{key}" if self.path else key)

    def items(self, key: str, *, optional: bool = False) -> list[Record]:
        """A list of objects, each as a `Record` located at `key[i]`."""
        values = self.get(key, list, optional=optional) or []
        out = []
        for i, value in enumerate(values):
            child = Record(value, self.file, self.index, self.case_id, f"{self.path}.{key}[{i}]" if self.path else f"{key}[{i}]")
            if not isinstance(value, dict):
                raise child.error("", f"is {type(value).__name__}, expected an object")
            out.append(child)
        return out


def answer_of(rec: Record, key: str, *, optional: bool = False) -> Answer | None:
    """An answer given as a string, a list of aliases, or a list of alias lists (EasyEdit / KnowEdit):
    the first name is the option, every other name (of any list) an alias."""
    value = rec.get(key, (str, list), optional=optional)
    if value is None:
        return None
    names: list[str] = []
    items = [value] if isinstance(value, str) else value
    for i, item in enumerate(items):
        group = [item] if isinstance(item, str) else item
        if not isinstance(group, list) or not all(isinstance(n, str) for n in group):
            raise rec.error(f"{key}[{i}]", "is neither a string nor a list of strings")
        names.extend(n for n in group if n.strip())
    if not names:
        raise rec.error(key, "is empty")
    return Answer(names[0], tuple(dict.fromkeys(n for n in names[1:] if n != names[0])))


def cloze(rec: Record, key: str, subject: str) -> str:
    """A ROME-style prompt template (`"{} plays"`) filled with the subject."""
    template = rec.text(key)
    assert template is not None
    if "{}" not in template:
        raise rec.error(key, 'has no "{}" where the subject goes')
    return template.replace("{}", subject)


@dataclass
class ProbeSpec:
    """A probe before its options exist: the question and its right answers.

    old:  the answer before the update (None where the source does not say).
    new:  the answer after an edit (None for a Q- probe, whose answer is `old`).
    pool: the answer pool its distractors come from (the relation's name).
    extra: options that must be present besides the right ones (CounterFact's neighbourhood
           prompts must offer the new object, so a spreading edit can be seen).
    requires: keys of condition specs (resolved to probe ids at build time).
    """

    key: str
    intervention: str
    probe_type: str
    family: str
    prompt: str
    question: str
    pool: str
    old: Answer | None
    new: Answer | None = None
    extra: tuple[Answer, ...] = ()
    hop: int = 0
    held_out: bool = False
    paraphrase_id: int = 0
    source_case: str | None = None
    test: str | None = None
    test_group: str | None = None
    group_rule: str | None = None
    requires: tuple[str, ...] | None = None
    condition: bool = False


@dataclass
class Builder:
    """Collects interventions, probe specs and answer pools for one import, then builds the dataset."""

    fmt: str
    task: str
    source: Source
    info: dict[str, str] = field(default_factory=dict)
    interventions: list[Intervention] = field(default_factory=list)
    specs: list[ProbeSpec] = field(default_factory=list)
    retain: list[RetainItem] = field(default_factory=list)
    pools: dict[str, dict[str, Answer]] = field(default_factory=dict)

    def answer(self, pool: str, answer: Answer) -> None:
        """Make `answer` a candidate distractor for questions of `pool`."""
        self.pools.setdefault(pool, {}).setdefault(normalise(answer.text), answer)

    def intervention(
        self, ident: str, subject: str, relation: str, old: str, new: str | None, prompts: Sequence[str]
    ) -> Intervention:
        iv = Intervention(
            id=ident, task=self.task, subject=subject, relation=relation, old_object=old,
            new_object=new if self.task == "edit" else None, domain=self.fmt, level=IMPORTED_LEVEL,
            prompts=tuple(prompts),
        )
        self.interventions.append(iv)
        return iv

    def spec(self, spec: ProbeSpec) -> None:
        """Add a probe, registering its right answers in its pool. Under `--task unlearn` a Q+
        probe with no old answer (it tests only the new one) has nothing to forget and is dropped."""
        for ans in (spec.old, spec.new, *spec.extra):
            if ans is not None:
                self.answer(spec.pool, ans)
        if self.task == "unlearn" and spec.family == "Q+" and spec.old is None:
            return
        if spec.family == "Q+" and spec.old is None and spec.requires is None:
            # The source stores no answer before the edit, so "the unedited model knew it" cannot be
            # checked: the probe always counts (as in the source's own evaluation).
            spec.requires = ()
        if spec.family == "Q-" and spec.old is None:
            raise FormatError(f"internal: Q- probe {spec.key} has no answer")  # pragma: no cover
        if self.task == "edit" and spec.family == "Q+" and spec.new is None:
            raise FormatError(f"internal: Q+ probe {spec.key} has no new answer")  # pragma: no cover
        self.specs.append(spec)

    def edit_case(
        self,
        iv: Intervention,
        case: str,
        *,
        old: Answer,
        new: Answer,
        rewrite: tuple[str, str],
        rephrase: tuple[str, str | None],
        locality: tuple[str, str | None, Answer | None],
        locality_pool: str,
        locality_extra: tuple[Answer, ...] = (),
    ) -> None:
        """The probes of one EasyEdit-style case (zsRE, CounterFact's EasyEdit layout): the rewrite
        prompt (direct, Q+), an optional held-out rephrasing (direct, Q+) and an optional locality
        prompt (contextual, Q-; its answer is of another relation, so it draws from `locality_pool`).

        rewrite / rephrase: (the source's name for the test, its text, None where absent);
        locality: (name, text, answer). Each probe is keyed `<case>/<name>`, and `test` is that name.
        """
        common = dict(intervention=iv.id, pool=iv.relation, source_case=case)
        for (test, text), held_out in ((rewrite, False), (rephrase, True)):
            if text is not None:
                self.spec(ProbeSpec(key=f"{case}/{test}", probe_type="direct", family="Q+", prompt=text,
                                    question=text, old=old, new=new, held_out=held_out,
                                    paraphrase_id=int(held_out), test=test, **common))
        test, text, answer = locality
        if text is not None:
            if answer is None:
                raise FormatError(f"internal: locality probe {case}/{test} has no answer")  # pragma: no cover
            self.spec(ProbeSpec(key=f"{case}/{test}", probe_type="contextual", family="Q-", prompt=text,
                                question=text, old=answer, extra=locality_extra, test=test,
                                **{**common, "pool": locality_pool}))

    # -- building ----------------------------------------------------------------------------------

    def _options(self, spec: ProbeSpec, rng: random.Random) -> tuple[list[str], list[tuple[str, ...]]]:
        rights = [a for a in (spec.old, spec.new if self.task == "edit" else None) if a is not None]
        wanted: list[Answer] = []
        for a in (*rights, *spec.extra):
            same = [i for i, w in enumerate(wanted) if normalise(w.text) == normalise(a.text)]
            if not same:
                wanted.append(a)
            else:  # the same answer twice (zsRE's pred == answers[0]): keep every alias of both
                w = wanted[same[0]]
                wanted[same[0]] = Answer(w.text, tuple(dict.fromkeys((*w.aliases, *a.aliases))))
        forbidden = set().union(*(a.names() for a in rights))
        taken = {normalise(a.text) for a in wanted}
        for pool in (self.pools.get(spec.pool, {}), *[p for name, p in sorted(self.pools.items()) if name != spec.pool]):
            candidates = [a for k, a in sorted(pool.items()) if k not in taken and not (a.names() & forbidden)]
            rng.shuffle(candidates)
            for cand in candidates:
                if len(wanted) == 4:
                    break
                if normalise(cand.text) not in taken and not (cand.names() & forbidden):
                    wanted.append(Answer(cand.text))  # a distractor's aliases would only blur gen_match
                    taken.add(normalise(cand.text))
            if len(wanted) == 4:
                break
        if len(wanted) < 4:
            raise FormatError(
                f"{self.source.path.name}: probe {spec.key} needs 3 distractors but the file has only "
                f"{len(wanted) - 1} other distinct answer(s) that are not aliases of its right answer; "
                "a 4-option question needs at least 4 distinct answers in the file"
            )
        wanted = wanted[:4]
        rng.shuffle(wanted)
        return [a.text for a in wanted], [a.aliases for a in wanted]

    def build(self, *, world_hash: str | None = None) -> Dataset:
        if not self.interventions:
            raise FormatError(f"{self.source.path.name}: no edit could be read from the file")
        ids: dict[str, str] = {}
        probes: list[Probe] = []
        counters: dict[tuple[str, str], int] = {}
        for spec in self.specs:
            n = counters.get((spec.intervention, spec.probe_type), 0)
            counters[(spec.intervention, spec.probe_type)] = n + 1
            ids[spec.key] = f"{spec.intervention}/{spec.probe_type}/{n}"
        for spec in self.specs:
            pid = ids[spec.key]
            rng = random.Random(f"ksmith-import:{self.fmt}:{pid}")
            options, aliases = self._options(spec, rng)
            keys = [normalise(o) for o in options]
            assert spec.old is not None or spec.new is not None
            before = keys.index(normalise((spec.old or spec.new).text))  # type: ignore[union-attr]
            after: int | None
            avoid: int | None = None
            if spec.family == "Q-":
                after = before
            elif self.task == "edit":
                after = keys.index(normalise(spec.new.text))  # type: ignore[union-attr]
            else:
                after, avoid = None, before
            requires = None if spec.requires is None else tuple(ids[k] for k in spec.requires if k in ids)
            probes.append(Probe(
                id=pid, task=self.task, domain=self.fmt, level=IMPORTED_LEVEL, scale=len(self.interventions),
                intervention_id=spec.intervention, probe_type=spec.probe_type, family=spec.family,
                question=spec.question, prompt=spec.prompt, choices=tuple(options),  # type: ignore[arg-type]
                answer_before=before, answer_after=after, avoid=avoid, hop=spec.hop,
                paraphrase_id=spec.paraphrase_id, held_out=spec.held_out,
                aliases=tuple(aliases) if any(aliases) else None, source_case=spec.source_case,
                test=spec.test, test_group=spec.test_group, group_rule=spec.group_rule,
                requires=requires, condition=spec.condition,
            ))
        info = {"format": self.fmt, "file": self.source.path.name, "sha256": self.source.sha256, **self.info}
        return Dataset(
            task=self.task, level=IMPORTED_LEVEL, scale=len(self.interventions), seed=0,
            world_hash=world_hash or self.source.sha256[:16], interventions=tuple(self.interventions),
            probes=tuple(probes), retain=tuple(self.retain), source=tuple(sorted(info.items())),
        )
