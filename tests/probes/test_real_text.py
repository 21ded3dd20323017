"""Real datasets read as English and ask what a model must know.

Checked on every probe of datasets drawn from the committed real world, both tasks, leaf and
intermediate, from each committed known set (and from every askable fact): no space before
punctuation, no sentence that starts in lower case, no subject whose name gives its answer away,
no true answer among the wrong options. The rules are written here from the text and the world's
facts alone, not with the generator's own helpers.
"""

from __future__ import annotations

import re
from functools import lru_cache

import pytest

from ksmith.errors import DatasetError
from ksmith.known.measure import COMMITTED_DIR
from ksmith.probes import Dataset, build_dataset
from ksmith.probes.known import KnownSet
from ksmith.world import World
from ksmith.world.real import load_real_world
from probes.oracle import RealOracle

SPACE_BEFORE_PUNCTUATION = re.compile(r"\s[.,;:?!]")
#: A letter that opens a sentence: at the start, after a full stop, question or exclamation mark and
#: a space, after a line break, or after the "Q: " / "A: " of a question.
SENTENCE_START = re.compile(r"(?:^|[.?!]\s+|\n|\b[QA]:\s+)(?P<letter>[^\W\d_])")


@lru_cache(maxsize=1)
def real() -> World:
    return load_real_world()


def _known_sets() -> list[str]:
    return sorted(p.stem for p in COMMITTED_DIR.glob("*.json"))


@lru_cache(maxsize=None)
def dataset(known: str | None, task: str, level: str) -> Dataset:
    world = real()
    ks = KnownSet.load(COMMITTED_DIR / f"{known}.json") if known else None
    if ks is not None and ks.world_hash != world.hash:
        pytest.fail(f"the committed known set {known} was measured on another world; measure it again")
    for k in (100, 40, 20, 10):  # the largest batch the level gives
        try:
            return build_dataset(world, task, level, k, 0, known=ks)
        except DatasetError:  # more than the model knows at this level: try a smaller k
            continue
    raise AssertionError(f"no dataset at {level} for {known}")


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[^\W\d_]+", text.casefold()) if len(w) >= 3} - {"the", "and", "for", "with"}


def _shares_word_or_stem(subject: str, answer: str) -> bool:
    for s in _words(subject):
        for a in _words(answer):
            if s == a or s.rstrip("s") == a or (len(a) >= 4 and a in s) or (len(s) >= 5 and len(a) >= 5 and s[:5] == a[:5]):
                return True
    return False


CASES = [(known, task, level) for known in [None, *_known_sets()] for task in ("edit", "unlearn")
         for level in ("leaf", "intermediate")]


@pytest.mark.parametrize("known,task,level", CASES)
def test_probes_are_english_and_fair(known, task, level) -> None:
    world = real()
    ds = dataset(known, task, level)
    after = world.apply(ds.interventions)
    oracle = RealOracle(world)
    assert len(ds.probes) > 100
    for p in ds.probes:
        for text in (p.prompt, p.question):
            assert not SPACE_BEFORE_PUNCTUATION.search(text), text
            lower = [m["letter"] for m in SENTENCE_START.finditer(text) if m["letter"].islower()]
            assert not lower, text
        subject = p.asks.split("|")[0]
        rights = [p.choices[i] for i in (p.answer_before, p.answer_after) if i is not None]
        for name in (subject, world.mention(subject)):
            assert not any(_shares_word_or_stem(name, oracle.option(r)) for r in rights), (name, rights, p.prompt)
        # no true answer among the wrong options: exactly the expected option is right, before and after
        (asked,) = oracle.parse(p)
        assert [i for i, c in enumerate(p.choices) if oracle.right(world, asked, c)] == [p.answer_before], p
        expected = [p.answer_before] if p.family == "Q-" else [p.answer_after] if task == "edit" else []
        assert [i for i, c in enumerate(p.choices) if oracle.right(after, asked, c)] == expected, p


def test_an_answer_giving_subject_is_never_asked() -> None:
    world = real()
    assert world.object_of("Eastern Africa", "continent") == "Africa"  # in the world, never in a probe
    asked = {p.asks for task in ("edit", "unlearn") for level in ("leaf", "intermediate")
             for p in dataset(None, task, level).probes}
    assert "Eastern Africa|continent" not in asked and "Eastern Africa|largest_country" in asked
