"""The model zoo: tiny-kg, local Hugging Face checkpoints, SmolLM2-135M; device placement; snapshots.

Importing this package is cheap (torch and transformers load only when a model does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksmith.models.loaded import LoadedModel

if TYPE_CHECKING:
    from ksmith.world import World

__all__ = ["LoadedModel", "load_model"]


def load_model(
    spec: str, *, world: World | None = None, device: str | None = None, dtype: str | None = None
) -> LoadedModel:
    """Load a model by spec: "tiny-kg", "hf:<local path>" or "smollm2-135m" (see `ksmith.models.zoo`)."""
    from ksmith.models.zoo import load_model as _load_model

    return _load_model(spec, world=world, device=device, dtype=dtype)


