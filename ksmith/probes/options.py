"""The four options of a fact's question: the one rule the known set and the direct probe share.

Why one rule: a fact drawn as known must keep its direct probe. The known set asks each fact with
these options; the direct probe asks the same question with the same options, and an edit's new
object is one of them, so the model that answered the known set right answers the direct probe
right before the update (RippleEdits' "executed"), whatever the edit.

Wrong options come from the relation's pool (`World.object_pool`), never a true answer of the fact
(`World.true_objects`: a second official language is not a wrong option), and, for a one-to-one
relation, only objects some subject holds (an edit target must have a previous holder for the
reverse probe). They are drawn with a seed per fact, so every model sees the same question.
"""

from __future__ import annotations

import random

from ksmith.world.giveaway import gives_away
from ksmith.world.world import World


def fact_options(world: World, subject: str, relation: str, obj: str) -> tuple[str, str, str, str] | None:
    """`obj` and three wrong options, shuffled; None when the pool cannot give three."""
    true = set(world.true_objects(subject, relation)) | {obj}
    pool = [x for x in world.object_pool(relation, obj) if x not in true]
    if world.relations[relation].inverse is not None:
        pool = [x for x in pool if world.subjects_with(relation, x)]
    if len(pool) < 3:
        return None
    rng = random.Random(f"ksmith-known:{subject}:{relation}")
    picked = [obj, *rng.sample(pool, 3)]
    rng.shuffle(picked)
    return (picked[0], picked[1], picked[2], picked[3])


def subject_gives_away(world: World, subject: str, *answers: str | None) -> bool:
    """Whether `subject`'s name or mention contains one of `answers` (word or stem,
    `ksmith.world.giveaway`): such a question measures string matching, so no intervention is drawn
    from it and no probe asks it."""
    names = {subject, world.mention(subject)}
    return any(a is not None and gives_away(n, a) for n in names for a in answers)
