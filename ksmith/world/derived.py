"""The derived forms of a relation (two-hop composition, comparison, a conflicting claim) as text.

Two styles: a relation with a noun phrase (`RelationTemplates.noun`, the real world) gets plain
English ("The currency code of the currency of Japan is"); one without (the synthetic world) gets the
keyword patterns of `ksmith.world.templates` its word-level tokenizer was trained on. The English
forms live here, apart from `templates`, because tiny-kg's vocabulary is every phrase of that module:
a word added there would change what the shipped tiny models were trained on.
"""

from __future__ import annotations

from ksmith.world.schema import Relation
from ksmith.world.templates import (
    COMPARISON_PATTERN,
    COMPARISON_QUESTION,
    COMPOSITION_PATTERN,
    COMPOSITION_QUESTION,
    CONFLICT_PREFIX,
    fill,
    keyword,
)

#: The English forms: `{np}` is the relation's noun phrase, its subject filled in ("the capital of France").
NATURAL_COMPOSITION = "{np} is"
NATURAL_COMPOSITION_QUESTION = "Q: What is {np}?\nA:"
NATURAL_COMPARISON = "{np} is the same as that of"
NATURAL_COMPARISON_QUESTION = "Q: {np} is the same as that of which of these?\nA:"
NATURAL_CONFLICT = "Some say that {np} is {d}."


def _np(relation: Relation, s: str) -> str:
    return relation.templates.noun.replace("{s}", s)


def composition(first: Relation, second: Relation, s: str) -> tuple[str, str]:
    """(prompt, question) asking `second` of the object of `first` of `s` ("The currency code of
    the currency of Japan is")."""
    if first.templates.noun and second.templates.noun:
        np = _np(second, _np(first, s))
        return fill(NATURAL_COMPOSITION.replace("{np}", np)), fill(NATURAL_COMPOSITION_QUESTION.replace("{np}", np))
    kw1, kw2 = keyword(first), keyword(second)
    form = COMPOSITION_PATTERN.replace("{kw2}", kw2).replace("{kw1}", kw1)
    qform = COMPOSITION_QUESTION.replace("{kw2}", kw2).replace("{kw1}", kw1)
    return fill(form, s), fill(qform, s)


def comparison(relation: Relation, s: str) -> tuple[str, str]:
    """(prompt, question) asking which other subject shares `s`'s object."""
    if relation.templates.noun:
        np = _np(relation, s)
        return fill(NATURAL_COMPARISON.replace("{np}", np)), fill(NATURAL_COMPARISON_QUESTION.replace("{np}", np))
    kw = keyword(relation)
    return fill(COMPARISON_PATTERN.replace("{kw}", kw), s), fill(COMPARISON_QUESTION.replace("{kw}", kw), s)


def conflict_claim(relation: Relation, s: str, decoy: str) -> str:
    """A sentence claiming that `s`'s object is `decoy` (the context of a conflict probe)."""
    if relation.templates.noun:
        return fill(NATURAL_CONFLICT.replace("{np}", _np(relation, s)).replace("{d}", decoy))
    return CONFLICT_PREFIX.replace("{kw}", keyword(relation)).replace("{s}", s).replace("{d}", decoy)
