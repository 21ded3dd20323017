"""A briefly trained tiny-kg-small for the bench test of imported datasets."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cache, checkpoint): tiny-kg-small (`TinyConfig.small()` on the small world) trained for 30
    steps in a session cache, as the plugin tests do: the bench case only needs a model to run
    on (it knows none of the imported facts either way), in seconds instead of a full pretraining."""
    from dataclasses import replace

    from ksmith.models.tiny import TinyConfig, pretrain
    from ksmith.world import build_world

    root = tmp_path_factory.mktemp("ksmith-cache")
    checkpoint = root / "tiny-kg-small-30"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KSMITH_CACHE", str(root))
        pretrain(build_world(size="small"), replace(TinyConfig.small(), max_steps=30), out=checkpoint)
    return root, checkpoint
