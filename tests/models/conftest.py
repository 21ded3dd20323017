"""Shared fixtures of the model tests: one small tiny-kg trained once per session."""

from __future__ import annotations

import pytest

from ksmith.models.loaded import LoadedModel


@pytest.fixture(scope="session")
def small_world():
    from models.handworld import hand_world

    return hand_world(n_subjects=20)


@pytest.fixture(scope="session")
def small_model(small_world, tmp_path_factory) -> LoadedModel:
    from ksmith.models.tiny import TinyConfig, pretrain

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KSMITH_CACHE", str(tmp_path_factory.mktemp("tiny-cache")))
        return pretrain(small_world, TinyConfig.small(), device="cpu")
