"""Surface forms shared by the world's corpus and the probe generator.

Why generic patterns: each relation is rendered through the same few sentence patterns with its own
keyword ("The habitat of {s} is", "{s} has the habitat", ...). One pattern per relation is held out of
the training corpus, and a *different* pattern is held out for each relation, so every pattern is seen
in training with other relations: a small model trained from scratch can generalise to the held-out
(pattern, relation) pair, whereas a wholly novel surface form would be unlearnable for it.

Why the subject moves: the patterns put the subject at the start, in the middle and near the end of
the prompt. Locate-then-edit methods read the subject's last token; a model trained on a single
pattern learns to look facts up at the last prompt token instead, which such methods cannot edit.

Word-level tokenisation: every placeholder is a single made-up word and punctuation is separated by
spaces, so a whitespace/punctuation tokenizer splits the text cleanly and every option is one token.
Every cloze prompt ends right before the object; a continuation is scored as `prompt + " " + option`.
"""

from __future__ import annotations

from ksmith.world.schema import Relation, RelationTemplates

#: The answer a model should give for a fact the world does not know; rendered in the corpus for
#: every gap (a subject without some functional relation), so it is a learned answer.
NEUTRAL_OBJECT = "unknown"

#: Other single-word non-answers, also rendered in the corpus (question form of the gaps), for
#: unlearning methods that train towards a vague answer.
VAGUE_ANSWERS: tuple[str, ...] = ("unknown", "unclear", "uncertain", "unrecorded")

#: Cloze patterns, subject near the end / at the start / second word / in the middle.
CLOZE_PATTERNS: tuple[str, ...] = (
    "The {kw} of {s} is",
    "{s} has the {kw}",
    "For {s} , the {kw} is",
    "We know that {s} has the {kw}",
)

#: Question-answer patterns (the answer follows "A :").
QUESTION_PATTERNS: tuple[str, ...] = (
    "Q : What is the {kw} of {s} ? A :",
    "Q : Which {kw} does {s} have ? A :",
    "Q : {s} has which {kw} ? A :",
)

#: Reverse patterns, asked from the object's side; they end right before the *subject*.
REVERSE_PATTERNS: tuple[str, ...] = (
    "{o} is the {kw} of",
    "The one whose {kw} is {o} is",
    "Q : {o} is the {kw} of what ? A :",
)

#: Two-hop composition: the attribute `kw2` of the object of relation `kw1` of the subject.
COMPOSITION_PATTERN = "The {kw2} of the {kw1} of {s} is"
COMPOSITION_QUESTION = "Q : What is the {kw2} of the {kw1} of {s} ? A :"

#: Comparison: which other entity shares the subject's object for this relation.
COMPARISON_PATTERN = "{s} has the same {kw} as"
COMPARISON_QUESTION = "Q : Which has the same {kw} as {s} ? A :"

#: Conflict: a contradicting claim in the context, then the cloze prompt.
CONFLICT_PREFIX = "Some say the {kw} of {s} is {d} ."


def relation_templates(keyword: str, held_out: int, *, reverse: bool) -> RelationTemplates:
    """Templates of an attribute relation named by `keyword` (a word or short phrase).

    held_out: index of the cloze pattern kept out of the corpus; callers rotate it across relations
    so every pattern is trained with some relation.
    """
    cloze = tuple(p.replace("{kw}", keyword) for p in CLOZE_PATTERNS)
    questions = tuple(p.replace("{kw}", keyword) for p in QUESTION_PATTERNS)
    rev = tuple(p.replace("{kw}", keyword) for p in REVERSE_PATTERNS) if reverse else ()
    return RelationTemplates(cloze=cloze, questions=questions, reverse=rev, held_out=held_out % len(cloze))


def taxonomy_templates(phrase: str, held_out: int) -> RelationTemplates:
    """Templates of a taxonomy relation, e.g. phrase "a kind of" or "a part of"."""
    cloze = (
        f"{{s}} is {phrase}",
        f"We know that {{s}} is {phrase}",
        "For {s} , the group is",
        "The group of {s} is",
    )
    questions = (
        f"Q : What is {{s}} {phrase} ? A :",
        "Q : Which group does {s} belong to ? A :",
        "Q : {s} belongs to which group ? A :",
    )
    return RelationTemplates(cloze=cloze, questions=questions, reverse=(), held_out=held_out % len(cloze))


def keyword_of(templates: RelationTemplates) -> str | None:
    """Recover the keyword of a relation rendered by `relation_templates` (None for other forms).

    Used for the derived forms (composition, comparison, conflict) that need the keyword alone.
    """
    first = templates.cloze[0] if templates.cloze else ""
    head, sep, tail = first.partition(" of {s} is")
    if sep and head.startswith("The ") and not tail:
        return head[len("The "):]
    return None


def fill(template: str, s: str | None = None, o: str | None = None) -> str:
    """Render a template (plain replacement, so entity names never need escaping); the first letter
    is upper-cased, since a mention such as "the dog" may open the sentence (every synthetic
    template already starts with a capital)."""
    if s is not None:
        template = template.replace("{s}", s)
    if o is not None:
        template = template.replace("{o}", o)
    return template[:1].upper() + template[1:]


def keyword(relation: Relation) -> str:
    """The word(s) naming a relation in derived forms (composition, comparison, conflict)."""
    return keyword_of(relation.templates) or relation.name.replace("_", " ")
