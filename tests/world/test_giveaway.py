"""The answer-giving rule on the audit's own examples, and on names that must pass."""

from __future__ import annotations

import pytest

from ksmith.world.giveaway import gives_away


@pytest.mark.parametrize("subject,answer", [
    ("Eastern Africa", "Africa"), ("orthopterous insects", "Orthoptera"), ("Mexico", "Mexico City"),
    ("the actinides", "actinium"), ("Canada", "Canadian Dollar"), ("rodents", "Rodentia"),
    ("gallinaceous birds", "bird"), ("the South Atlantic division", "South"), ("Laos", "Lao"),
    ("the catfish", "fish"), ("Thailand", "Thai"), ("songbirds", "bird"),
])
def test_a_shared_word_or_stem_gives_the_answer_away(subject: str, answer: str) -> None:
    assert gives_away(subject, answer)


@pytest.mark.parametrize("subject,answer", [
    ("France", "Paris"), ("the dog", "Canidae"), ("Japan", "Tokyo"),
    ("iron", "Fe"), ("the United States", "Washington, D.C."), ("Antigua and Barbuda", "Saint Vincent and the Grenadines"),
    ("France", "French"), ("the alkali metals", "lithium"),
])
def test_other_names_do_not(subject: str, answer: str) -> None:
    assert not gives_away(subject, answer)
