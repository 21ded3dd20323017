"""The shipped tiny-kg and tiny-kg-small: what they were trained from, that they are what `pretrain`
hands out for that recipe, and that a damaged file is refused."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from ksmith.errors import ModelError
from ksmith.models import embedded
from ksmith.models.embedded import EMBEDDED, WEIGHTS_FILE, find_embedded, load_embedded, recipe, shipped
from ksmith.models.tiny import META_FILE, pretrain, read_meta


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_each_shipped_model_matches_the_recipe_this_code_builds(name: str) -> None:
    """Fails when a change to the world, its templates, the corpus or the trainer moved the recipe:
    the shipped weights were trained on something else, and `make embedded-models` re-ships them."""
    spec = EMBEDDED[name]
    meta = read_meta(shipped(name))
    world, config = spec.world(), spec.config()
    assert meta["world_hash"] == world.hash, f"{name}: world moved; run `make embedded-models`"
    assert meta["recipe"] == recipe(world, config), f"{name}: recipe moved; run `make embedded-models`"
    assert meta["held_in_accuracy"] >= config.target_accuracy


@pytest.mark.parametrize("name", sorted(EMBEDDED))
def test_pretrain_hands_out_the_shipped_weights_without_training(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    spec = EMBEDDED[name]
    model = pretrain(spec.world(), spec.config(), device="cpu", dtype="float32", out=tmp_path / "copy")
    assert model.weights_hash == read_meta(shipped(name))["weights_hash"]  # the bits trained once, loaded here
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob(META_FILE))  # nothing trained
    assert (tmp_path / "copy" / WEIGHTS_FILE).read_bytes() == (shipped(name) / WEIGHTS_FILE).read_bytes()


def test_another_config_is_not_served_by_a_shipped_model() -> None:
    spec = EMBEDDED["tiny-kg-small"]
    world = spec.world()
    assert find_embedded(world, spec.config()) == shipped("tiny-kg-small")
    assert find_embedded(world, replace(spec.config(), seed=1)) is None
    assert find_embedded(EMBEDDED["tiny-kg"].world(), spec.config()) is None


def test_a_damaged_weights_file_is_refused_with_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = Path(shutil.copytree(shipped("tiny-kg-small"), tmp_path / "embedded" / "tiny-kg-small"))
    data = bytearray((copy / WEIGHTS_FILE).read_bytes())
    data[-1] ^= 0xFF
    (copy / WEIGHTS_FILE).write_bytes(bytes(data))
    with pytest.raises(ModelError, match="make embedded-models"):
        load_embedded(copy, device="cpu")
    monkeypatch.setattr(embedded, "EMBEDDED_DIR", tmp_path / "embedded")
    spec = EMBEDDED["tiny-kg-small"]
    with pytest.raises(ModelError, match="changed or damaged"):
        pretrain(spec.world(), spec.config(), device="cpu")


def test_a_missing_model_names_how_to_restore_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedded, "EMBEDDED_DIR", tmp_path)
    with pytest.raises(ModelError, match="make embedded-models"):
        shipped("tiny-kg")
    with pytest.raises(ModelError, match="no embedded model 'tiny-kg-large'"):
        shipped("tiny-kg-large")
