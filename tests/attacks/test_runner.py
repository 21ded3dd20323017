"""The attack runner in a case: the weights come back after every attack, and the control (the
unedited model under attack) is computed once per model and dataset, then read from the cache."""

from __future__ import annotations

import torch

from ksmith.fixtures.attacks import AttackRunner
from ksmith.fixtures.harness import CaseModel
from ksmith.models import load_model
from ksmith.models.snapshot import HostCopy, weights_hash
from ksmith.probes import build_dataset
from ksmith.scoring import Scorer
from ksmith.world import build_world

NAMES = ("int4", "relearn10")


def test_control_is_shared_and_every_attack_is_undone(toy_model, tmp_path, monkeypatch) -> None:
    _, checkpoint = toy_model
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    torch.set_num_threads(1)
    loaded = load_model(f"hf:{checkpoint}")
    model = CaseModel(loaded, HostCopy(loaded.lm).case().bind(loaded.lm))
    world = build_world(size="small")
    dataset = build_dataset(world, "unlearn", "leaf", 2, 0)
    unedited = weights_hash(loaded.lm)

    def runner(seed: int = 0) -> AttackRunner:
        return AttackRunner(NAMES, model, world, dataset, Scorer(loaded), seed=seed)

    first, second, other_seed = runner(), runner(), runner(seed=1)
    computed = first.control()
    assert not first.control_cached and weights_hash(loaded.lm) == unedited
    cached = second.control()
    assert second.control_cached and set(cached) == set(NAMES)
    assert all(cached[name].to_json() == computed[name].to_json() for name in NAMES)
    other_seed.control()
    assert not other_seed.control_cached  # the relearning batches depend on the seed

    with torch.no_grad():  # "the update"
        next(loaded.lm.parameters()).add_(0.01)
    updated = weights_hash(loaded.lm)
    attacked = first.attacked(None)
    assert set(attacked) == set(NAMES) and weights_hash(loaded.lm) == updated
    assert {"attack_int4_s", "attack_relearn10_s"} <= set(first.timings) and first.data["relearn"]["pairs"] > 0
