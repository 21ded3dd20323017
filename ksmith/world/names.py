"""Made-up, pronounceable, seeded entity names.

Why made up: no pretrained model knows them, so whatever a model knows about an entity it learned
from this world. Why single words: the embedded model uses a word-level tokenizer, so every entity
(and every multiple-choice option) is exactly one token.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

_ONSETS = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "gr", "kr", "tr", "sk")
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ou")
_CODAS = ("", "", "", "n", "r", "s", "l", "x", "m")


class NameGenerator:
    """Draws unique names from a seeded RNG; names never repeat and never equal a reserved word.

    reserved: words of the templates (compared case-insensitively), so an entity name is never
    confused with the text around it.
    """

    def __init__(self, rng: random.Random, reserved: Iterable[str] = ()) -> None:
        self._rng = rng
        self._used: set[str] = {w.lower() for w in reserved}

    def __call__(self) -> str:
        rng = self._rng
        for attempt in range(10_000):
            syllables = 2 + (attempt // 500) + (1 if rng.random() < 0.35 else 0)
            word = "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) for _ in range(syllables))
            word += rng.choice(_CODAS)
            if word not in self._used:
                self._used.add(word)
                return word.capitalize()
        raise RuntimeError("name space exhausted")  # unreachable for any world size ksmith builds
