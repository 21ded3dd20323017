"""A known set measured through the scoring engine on a model that was trained on its world."""

from __future__ import annotations

from ksmith.known.measure import cached_known, known_cache_key, measure_known
from ksmith.probes.known import KnownSet, askable_facts


def test_tiny_kg_knows_its_world_and_not_by_chance(small_model, small_world, tmp_path, monkeypatch):
    known = measure_known(small_model, small_world, batch_size=32)
    assert known.world_hash == small_world.hash and known.model_hash == small_model.weights_hash
    askable = list(askable_facts(small_world))
    assert len(known.facts) == len(askable) > 50
    frac = sum(f.known for f in known.facts) / len(known.facts)
    chance = sum(f.known_by_chance for f in known.facts) / len(known.facts)
    # tiny-kg-small answers its training facts (~0.95); without the subject it can only guess
    assert frac > 0.7 and chance < frac - 0.3, (frac, chance)
    assert all(f.asked in (2, 3) and f.correct <= f.asked for f in known.facts)
    assert all(f.asked == 3 for f in known.facts if f.correct == 1 or (f.correct == 2 and f.asked == 3))

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    first = cached_known(small_model, small_world, batch_size=32)
    assert first == known
    entry = tmp_path / "known" / f"{known_cache_key(small_model.weights_hash, small_world)}.json"
    assert entry.is_file() and KnownSet.load(entry) == known
