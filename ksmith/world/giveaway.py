"""Subjects that give their answer away: "Eastern Africa" -> Africa, "orthopterous insect" ->
Orthoptera, "Mexico" -> Mexico City, "Actinides" -> Actinium. A probe asking such a fact measures
string matching, not knowledge, so no intervention is drawn from one and no probe asks one.

The rule compares words (letters only, case-folded, at least 3 letters): the subject gives the
answer away when one of its words equals a word of the answer or its plural ("Laos"/"Lao"),
contains one of at least 4 letters ("catfish"/fish, "Thailand"/"Thai", "songbirds"/bird), or shares
a stem with it (a common prefix of at least `STEM` letters: "rodent"/"Rodentia", "Canada"/"Canadian
dollar", "Japan"/"Japanese yen"). Stop words never count.
"""

from __future__ import annotations

import re

#: The shortest common prefix taken as a shared stem.
STEM = 5
_STOP = frozenset({"the", "and", "of", "in", "on", "for", "with"})


def words(text: str) -> tuple[str, ...]:
    """The comparable words of `text`."""
    return tuple(w for w in re.findall(r"[^\W\d_]+", text.casefold()) if len(w) >= 3 and w not in _STOP)


def _stem_shared(s: str, a: str) -> bool:
    """Whether subject word `s` gives away answer word `a`."""
    if s in (a, a + "s", a + "es") or (len(a) >= 4 and a in s):
        return True
    return _prefix(s, a) >= STEM


def _prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def gives_away(subject: str, answer: str) -> bool:
    """True when `subject` (its name or mention) contains `answer`'s word or stem."""
    ours = words(subject)
    return any(_stem_shared(s, a) for s in ours for a in words(answer))
