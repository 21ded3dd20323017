"""Fixtures shared by the test packages."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(cache, checkpoint): a tiny-kg briefly trained on the small world, in a session cache.

    30 steps: a model that knows little, which is all a test of the harness needs (the harness
    never looks at what a model knows), in seconds instead of the minutes a fully trained one takes.
    """
    from dataclasses import replace

    from ksmith.models.tiny import TinyConfig, pretrain
    from ksmith.world import build_world

    root = tmp_path_factory.mktemp("ksmith-cache")
    checkpoint = root / "toy"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KSMITH_CACHE", str(root))
        pretrain(build_world(size="small"), replace(TinyConfig.small(), max_steps=30), out=checkpoint)
    return root, checkpoint
