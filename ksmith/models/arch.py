"""Where things are inside a causal LM, per architecture, so method code never tests model names.

One small table keyed by `config.model_type`. Names are templates over the block index `{i}`.
GPT-2 stores its projections as `Conv1D` (weight shape `[in, out]`); Llama-style models use
`nn.Linear` (weight shape `[out, in]`): `conv1d` says which, so rank-one updates are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ksmith.errors import ModelError


@dataclass(frozen=True)
class Architecture:
    """Module paths of one architecture (dotted names as in `model.named_modules()`)."""

    model_type: str
    blocks: str  # the ModuleList of transformer blocks, e.g. "transformer.h"
    mlp_in: str  # per block, relative: the MLP input projection(s), first one is the key space
    mlp_out: str  # per block, relative: the MLP output projection (ROME/MEMIT edit this)
    attn: str  # per block, relative: the attention module
    final_norm: str  # absolute: the final norm before the LM head
    embed: str  # absolute: token embedding
    lm_head: str  # absolute: output projection
    conv1d: bool  # True: weights are [in, out] (GPT-2 Conv1D); False: nn.Linear [out, in]
    num_layers: int

    def block(self, i: int) -> str:
        return f"{self.blocks}.{i}"

    def mlp_out_module(self, i: int) -> str:
        return f"{self.blocks}.{i}.{self.mlp_out}"

    def mlp_in_module(self, i: int) -> str:
        return f"{self.blocks}.{i}.{self.mlp_in}"

    def attn_module(self, i: int) -> str:
        return f"{self.blocks}.{i}.{self.attn}"

    def mlp_out_weight(self, i: int) -> str:
        """Parameter name of the MLP output projection's weight in block `i`."""
        return f"{self.mlp_out_module(i)}.weight"


_LLAMA_LIKE = dict(
    blocks="model.layers",
    mlp_in="mlp.up_proj",
    mlp_out="mlp.down_proj",
    attn="self_attn",
    final_norm="model.norm",
    embed="model.embed_tokens",
    lm_head="lm_head",
    conv1d=False,
)

#: model_type -> fields of `Architecture` (all but model_type and num_layers).
ARCHITECTURES: dict[str, dict[str, Any]] = {
    "gpt2": dict(
        blocks="transformer.h",
        mlp_in="mlp.c_fc",
        mlp_out="mlp.c_proj",
        attn="attn",
        final_norm="transformer.ln_f",
        embed="transformer.wte",
        lm_head="lm_head",
        conv1d=True,
    ),
    "llama": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _LLAMA_LIKE,
}


def describe(model: Any) -> Architecture:
    """The `Architecture` of a transformers causal LM, from its `config.model_type`."""
    config = model.config
    fields = ARCHITECTURES.get(config.model_type)
    if fields is None:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelError(
            f"no architecture description for model_type {config.model_type!r} (known: {known}); "
            "add an entry to ksmith.models.arch.ARCHITECTURES"
        )
    return Architecture(model_type=config.model_type, num_layers=config.num_hidden_layers, **fields)
