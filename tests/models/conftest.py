"""Shared fixtures of the model tests: the real small world and a small tiny-kg trained on it once
per session (the scoring tests' fixture shares the same cache directory, so it is trained once)."""

from __future__ import annotations

import pytest

from ksmith.models.loaded import LoadedModel


@pytest.fixture(scope="session")
def small_world():
    from ksmith.world import build_world

    return build_world(size="small", seed=0)


@pytest.fixture(scope="session")
def hand_world():
    from models.handworld import hand_world

    return hand_world(n_subjects=20)


@pytest.fixture(scope="session")
def small_model(small_world, tmp_path_factory) -> LoadedModel:
    from ksmith.models.tiny import TinyConfig, pretrain

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KSMITH_CACHE", str(tmp_path_factory.getbasetemp() / "tiny-kg-cache"))
        return pretrain(small_world, TinyConfig.small(), device="cpu")
