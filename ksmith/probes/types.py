"""The public records of the dataset generator: interventions, probes and retain items.

Plain frozen dataclasses with JSON-native fields, so a `Dataset` hashes and round-trips through
JSONL exactly. `probes` knows nothing of torch or of models.
"""

from __future__ import annotations

from dataclasses import dataclass

TASKS: tuple[str, ...] = ("edit", "unlearn")
PROBE_TYPES: tuple[str, ...] = (
    "direct",
    "reverse",
    "multi_hop",
    "comparison",
    "conflict",
    "contextual",
)
FAMILIES: tuple[str, ...] = ("Q+", "Q-")


@dataclass(frozen=True)
class Intervention:
    """One fact to change: edit (old -> new object of the same type) or unlearn (old -> nothing).

    prompts: held-in cloze prompts of the fact (rendered from the relation's templates, the held-out
             paraphrase excluded), each ending right before the object: what a method trains or
             edits on. The subject string occurs verbatim in every prompt (locate-then-edit methods
             find the subject's last token there).
    """

    id: str
    task: str
    subject: str
    relation: str
    old_object: str
    new_object: str | None
    domain: str
    level: str
    prompts: tuple[str, ...]


@dataclass(frozen=True)
class RetainItem:
    """A preserved fact (part of the constraint `c`): a prompt and the answer it must keep.

    Retain items are drawn from facts no intervention touches and are disjoint from the facts the
    contextual probes test, so training on them never inflates the contextual score.
    """

    prompt: str
    answer: str


@dataclass(frozen=True)
class Probe:
    """A 4-option multiple-choice item; one JSONL line of a dataset (see README for the keys).

    The fields after `held_out` are optional: a probe writes only those it sets. Imported datasets
    (`ksmith.probes.formats`) set the source's fields; the generator sets `asks`.

    aliases:      per option, other names that count as that option for `gen_match` (a source's
                  answer aliases); None when the options have no aliases.
    source_case:  the source record the probe comes from (its `case_id`, or its index in the file).
    test:         the source's own name for the test the probe belongs to (`neighborhood`,
                  `Logical_Generalization`, `portability.Reasoning`, ...): authors' metrics group by it.
    test_group:   id shared by the queries of one source test whose verdict combines them
                  (a RippleEdits test case, an MQuAKE case's three questions).
    group_rule:   how a test group's queries combine: "any" (one right is enough) or "all".
    requires:     ids of condition probes the unedited model must all answer right for this probe
                  to count (RippleEdits' condition queries); replaces the default precondition
                  rule. An empty tuple: nothing to check, the probe always counts.
    condition:    this probe is a condition query: scored before the update, never counted itself.
    asks:         the fact the question asks, "subject|relation" ("S|r1/r2" for a composition through
                  the object of r1; for a comparison the options are subjects sharing S's object), so
                  a reader or a test can check the options against the world.
    """

    id: str
    task: str
    domain: str
    level: str
    scale: int
    intervention_id: str
    probe_type: str
    family: str
    question: str
    prompt: str
    choices: tuple[str, str, str, str]
    answer_before: int
    answer_after: int | None
    avoid: int | None
    hop: int
    paraphrase_id: int
    held_out: bool
    aliases: tuple[tuple[str, ...], ...] | None = None
    source_case: str | None = None
    test: str | None = None
    test_group: str | None = None
    group_rule: str | None = None
    requires: tuple[str, ...] | None = None
    condition: bool = False
    asks: str | None = None


#: The keys every probe line has; the optional ones (`Probe` fields after these) appear only when set.
CORE_PROBE_KEYS: tuple[str, ...] = (
    "id", "task", "domain", "level", "scale", "intervention_id", "probe_type", "family", "question",
    "prompt", "choices", "answer_before", "answer_after", "avoid", "hop", "paraphrase_id", "held_out",
)
#: Optional probe keys and their defaults (left out of a probe's JSON line when at the default).
OPTIONAL_PROBE_DEFAULTS: dict[str, object] = {
    "aliases": None, "source_case": None, "test": None, "test_group": None, "group_rule": None,
    "requires": None, "condition": False, "asks": None,
}
GROUP_RULES: tuple[str, ...] = ("any", "all")


@dataclass(frozen=True)
class UpdateRequest:
    """What to change (`interventions`, the edit set e) and what to keep (`retain`, constraint c).

    Data the dataset hands to a method (`Dataset.request()`); it lives here, with the records it is
    made of, so that `probes` never imports `methods` (data flows one way).

    task: "edit" (pull Q+ toward each intervention's new object) or "unlearn" (pull Q+ toward no
    preference for the old object). An empty `interventions` tuple is a valid request that must
    change nothing.
    """

    task: str
    interventions: tuple[Intervention, ...]
    retain: tuple[RetainItem, ...] = ()
    scale: int = 0
    seed: int = 0
