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
    """Module paths of one architecture (dotted names as in `model.named_modules()`).

    mlp_post_norm: per block, relative: a norm applied to the MLP's output *before* it is added to
    the residual stream (Gemma 2 and Gemma 3 have one, `post_feedforward_layernorm`; None for every
    other layout here). Methods that write a residual-stream shift into the MLP output projection
    (MEMIT, AlphaEdit) must realise it through that norm; see `ksmith.methods.memit.MEMIT.value_shift`.
    """

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
    mlp_post_norm: str | None = None
    #: "tiny-kg" for the model pretrained here (methods use the defaults tuned on it), else
    #: "pretrained" (methods use their published configurations). Read from the config attribute
    #: `ksmith_profile`, which `ksmith.models.tiny.load` sets.
    profile: str = "pretrained"

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

    def mlp_residual_module(self, i: int) -> str:
        """The module whose output block `i` adds to the residual stream for its MLP: the post-MLP
        norm where there is one, else the MLP output projection itself."""
        if self.mlp_post_norm is None:
            return self.mlp_out_module(i)
        return f"{self.blocks}.{i}.{self.mlp_post_norm}"

    def module_names(self) -> list[str]:
        """Every module path this description names (for checking it against a model)."""
        names = [self.blocks, self.final_norm, self.embed, self.lm_head]
        for i in range(self.num_layers):
            names += [self.block(i), self.mlp_in_module(i), self.mlp_out_module(i), self.attn_module(i)]
            names.append(self.mlp_residual_module(i))
        return list(dict.fromkeys(names))


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

#: Gemma 2 and Gemma 3: Llama's names plus norms before and after the MLP
#: (`pre_feedforward_layernorm`, `post_feedforward_layernorm`); the post-norm sits between the
#: MLP output projection and the residual stream.
_GEMMA2_LIKE = dict(_LLAMA_LIKE, mlp_post_norm="post_feedforward_layernorm")

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
    # GPT-J: parallel attention and MLP, nn.Linear projections (ROME/MEMIT's GPT-J-6B runs).
    "gptj": dict(
        blocks="transformer.h",
        mlp_in="mlp.fc_in",
        mlp_out="mlp.fc_out",
        attn="attn",
        final_norm="transformer.ln_f",
        embed="transformer.wte",
        lm_head="lm_head",
        conv1d=False,
    ),
    # GPT-NeoX / Pythia: parallel residual by default; the MLP output still adds to the residual.
    "gpt_neox": dict(
        blocks="gpt_neox.layers",
        mlp_in="mlp.dense_h_to_4h",
        mlp_out="mlp.dense_4h_to_h",
        attn="attention",
        final_norm="gpt_neox.final_layer_norm",
        embed="gpt_neox.embed_in",
        lm_head="lm_head",  # transformers 5 renamed Pythia's embed_out
        conv1d=False,
    ),
    "llama": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "gemma": _LLAMA_LIKE,
    "gemma2": _GEMMA2_LIKE,
    "gemma3_text": _GEMMA2_LIKE,
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
    profile = getattr(config, "ksmith_profile", None) or "pretrained"
    return Architecture(
        model_type=config.model_type, num_layers=config.num_hidden_layers, profile=profile, **fields
    )


#: Which published configuration family a layout takes its method defaults from: the models the
#: editing papers and EasyEdit publish settings for (GPT-2 XL, GPT-J, Llama); every Llama-style
#: layout (Mistral, Qwen, Gemma) takes Llama's.
PUBLISHED_FAMILY: dict[str, str] = {"gpt2": "gpt2-xl", "gptj": "gpt-j", "gpt_neox": "gpt-j"}


def published_family(arch: Architecture) -> str:
    return PUBLISHED_FAMILY.get(arch.model_type, "llama")


def scaled_layer(layer: int, depth: int, num_layers: int) -> int:
    """Block `layer` of a `depth`-block model mapped to the same relative depth of this one."""
    return min(num_layers - 1, max(0, int(layer * num_layers / depth + 0.5)))
