"""The embedded tiny models, `tiny-kg` and `tiny-kg-small`: trained once, shipped as safetensors.

Why ship weights rather than train them on the spot: torch is bit-reproducible on one processor, not
across processors (MKL and ATen pick other kernels on an AMD or an Intel CPU, with or without
AVX-512), and a few thousand training steps grow those last-bit differences into another model.
A baseline recorded on one machine would then meet other weights on the next, and a CI gate's
verdict would depend on the runner. Shipped weights are the same bits everywhere, and a fresh clone
no longer spends minutes pretraining. `ksmith pretrain` still trains any other world or config.

A shipped checkpoint is used only for the recipe it was trained from: the world's hash, its corpus,
the tokenizer's vocabulary, the `TinyConfig` and the trainer's version (`recipe`). A change to any
of them (a new template word, another corpus renderer) makes the recipe differ, `pretrain` trains
as before, and `tests/models/test_models_embedded.py` fails until `make embedded-models` re-ships.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ksmith.cache import stable_hash
from ksmith.errors import ModelError
from ksmith.models.loaded import LoadedModel
from ksmith.models.tiny import META_FILE, TRAINER_VERSION, TinyConfig, build_tokenizer

#: Where the shipped checkpoints live (package data: one directory per model).
EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"
WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class EmbeddedSpec:
    """One shipped model: its name (a model spec) and how to rebuild the world and config it was trained on."""

    name: str
    world: Callable[[], Any]
    config: Callable[[], TinyConfig]


def _default_world() -> Any:
    from ksmith.world import build_world

    return build_world(seed=0)


def _small_world() -> Any:
    from ksmith.world import build_world

    return build_world(size="small", seed=0)


EMBEDDED: dict[str, EmbeddedSpec] = {
    "tiny-kg": EmbeddedSpec("tiny-kg", _default_world, TinyConfig),
    "tiny-kg-small": EmbeddedSpec("tiny-kg-small", _small_world, TinyConfig.small),
}


def recipe(world: Any, config: TinyConfig) -> str:
    """What a tiny-kg checkpoint is trained from: the world, the very text and vocabulary the trainer
    sees, the config and the trainer's version. Two equal recipes are the same training run."""
    vocabulary = sorted(build_tokenizer(world).get_vocab())
    corpus = hashlib.sha256("\n".join(world.corpus()).encode()).hexdigest()
    return stable_hash("tiny-kg-recipe", world.hash, corpus, vocabulary, config.as_dict(), TRAINER_VERSION)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def shipped(name: str) -> Path:
    """The directory of a shipped model, or a `ModelError` naming what is missing and how to restore it."""
    if name not in EMBEDDED:
        raise ModelError(f"no embedded model {name!r}; the embedded models are {', '.join(EMBEDDED)}")
    path = EMBEDDED_DIR / name
    if not (path / META_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise ModelError(f"the embedded model {name!r} is missing from {path}; restore it with `make embedded-models`")
    return path


def find_embedded(world: Any, config: TinyConfig) -> Path | None:
    """The shipped checkpoint trained from exactly this world and config, if there is one."""
    metas = {
        EMBEDDED_DIR / name: json.loads((EMBEDDED_DIR / name / META_FILE).read_text())
        for name in EMBEDDED
        if (EMBEDDED_DIR / name / META_FILE).is_file()
    }
    same_world = {path: meta for path, meta in metas.items() if meta.get("world_hash") == world.hash}
    if not same_world:
        return None  # the recipe (which builds the tokenizer over the corpus) is only computed when it can match
    key = recipe(world, config)
    return next((path for path, meta in same_world.items() if meta.get("recipe") == key), None)


def load_embedded(path: Path, *, device: str | None = None, dtype: str | None = None, spec: str = "tiny-kg") -> LoadedModel:
    """Load a shipped checkpoint after checking its weights file is the one its metadata names."""
    from ksmith.models.tiny import load

    meta = json.loads((Path(path) / META_FILE).read_text())
    found = file_sha256(Path(path) / WEIGHTS_FILE)
    if found != meta.get("weights_sha256"):
        raise ModelError(
            f"{path / WEIGHTS_FILE} has sha256 {found[:16]}..., its metadata names "
            f"{str(meta.get('weights_sha256'))[:16]}...; the file was changed or damaged: restore it "
            "from git (`git checkout -- ksmith/models/embedded`) or re-ship with `make embedded-models`"
        )
    return load(path, device=device, dtype=dtype, spec=spec)


def ship(name: str, progress: Any = None) -> Path:
    """Train the embedded model `name` from its recipe (CPU, one thread) and write it into the package."""
    from ksmith.models.snapshot import weights_hash
    from ksmith.models.tiny import save_in_place, train

    spec = EMBEDDED[name]
    world, config = spec.world(), spec.config()
    trained, meta = train(world, config, "cpu", progress)
    meta["recipe"] = recipe(world, config)
    meta["weights_hash"] = weights_hash(trained.lm.float())  # what a float32 load reports

    def finish(tmp: Path) -> None:
        meta["weights_sha256"] = file_sha256(tmp / WEIGHTS_FILE)
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        tmp.chmod(0o755)  # mkdtemp's 0700 would keep other users from reading installed package data
        for item in tmp.iterdir():
            item.chmod(0o644)

    target = EMBEDDED_DIR / name
    save_in_place(trained, meta, target, finish)
    return target
