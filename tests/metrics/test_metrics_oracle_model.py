"""The oracle built for real: tiny-kg pretrained on the updated small world (about a minute)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_oracle_model_learns_the_updated_world_and_matches_itself(
    tmp_path, monkeypatch
) -> None:
    import torch

    from ksmith.metrics.oracle import forget_quality, oracle_distance
    from ksmith.models.oracle import oracle_model
    from ksmith.models.tiny import TinyConfig
    from ksmith.probes import build_dataset
    from ksmith.scoring import Scorer
    from ksmith.world import build_world

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    world = build_world(size="small")
    dataset = build_dataset(world, "unlearn", "leaf", 10, 0)
    oracle = oracle_model(world, dataset.interventions, TinyConfig.small())
    assert oracle.world_hash == world.apply(dataset.interventions).hash
    scores = Scorer(oracle).score(dataset.probes, ("mcq", "mcq_norm"))
    assert forget_quality(dataset, scores, scores).value == 1.0
    distance = oracle_distance(dataset, scores, scores)
    assert (
        distance["oracle_agree"].value == 1.0
        and distance["oracle_kl_q_plus"].value == 0.0
    )
    # cached like any tiny-kg: the second request is a load, not a training run
    again = oracle_model(world, dataset.interventions, TinyConfig.small())
    assert again.weights_hash == oracle.weights_hash
