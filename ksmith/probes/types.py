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
    """A 4-option multiple-choice item; one JSONL line of a dataset (see README for the keys)."""

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
