"""ROME: a rank-one update of one MLP output projection per fact (Meng et al., 2022).

For each fact: read the key `k*` (the projection's input at the key token, averaged over the
intervention's prompts), find the value `v* = W k* + delta` that makes the model emit the target
(`locate.optimise_values`), and write it with the rank-one update that changes `W k` least for the
keys of ordinary text, whose second moment is `C`:

    W' = W + (v* - W k*) (C⁻¹ k*)ᵀ / ((C⁻¹ k*)ᵀ k*)

k facts go into the same matrix, one rank-one term each. With `value_at="write"` (the default)
the values of a chunk of facts are optimised through their rank-one terms themselves (the model's
output at every position gains `(x · C⁻¹k*_i / k*_iᵀC⁻¹k*_i) delta_i`), so the optimised loss is
the edited model's loss, interference between the chunk's facts included; each chunk is written
before the next is optimised. With `value_at="key"` (the original ROME) delta is optimised at the
key token on the unedited model and the facts are written one after another, each residual
`v* - W k*` taken against the current `W`. Edits at one layer never change that layer's keys (they
are upstream), so both cost one batched optimisation per chunk: linear in k.

Editing as unlearning: with `task="unlearn"` the target is the neutral object (`"unknown"`).

Defaults on tiny-kg (chosen on the tuning split, `ksmith.grid.TUNING_SEEDS`; the measurements are in
docs/decisions.md): key at the prompt's last token for shallow models, block 0 for that key, 60
value steps, the value optimised through the rank-one update itself (`value_at="write"`: with
several facts in one matrix, the loss then sees their interference), and ksmith's earlier value
forms (`locate.TINY_VALUE_FORMS`), which they were measured with.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.errors import MethodError
from ksmith.methods.base import Method, UpdateRequest, UpdateResult
from ksmith.methods.locate import (
    TINY_VALUE_FORMS,
    LocateHparams,
    add_to_weight,
    check_layers,
    default_key_position,
    edit_targets,
    key_stats,
    optimise_values,
    read_keys_and_outputs,
)
from ksmith.methods.registry import register_method
from ksmith.models.arch import Architecture, describe, published_family, scaled_layer


@dataclass(frozen=True)
class ROMEHparams(LocateHparams):
    """layer: the block whose MLP output projection is edited (None: the architecture default).

    cov_ridge: added to C as `cov_ridge * mean(diag C) * I`, so a key direction the corpus never
    visits cannot make C⁻¹ k* explode. 0 is the reference's (EasyEdit inverts C as it is; ksmith's
    C is full rank, sampled from `FULL_RANK_FACTOR` × the key width tokens); tiny-kg keeps the 1e-3
    its defaults were tuned with.
    value_at: "key" optimises `delta` added at the key token of each prompt (the original ROME),
    then writes it; "write" optimises `delta` through the rank-one update itself (see
    `locate.optimise_values(write_dirs=...)`), so what is optimised is what is written.
    """

    layer: int | None = None
    cov_ridge: float = 0.0
    value_at: str = "write"


def default_layer(arch: Architecture, key_position: str | None = None) -> int:
    """The block ROME edits by default.

    Key at the subject: an early-middle block, as in ROME (layer 17 of 48 in GPT-2 XL, about a third
    of the way up). Key at the prompt's last token (shallow models): block 0, the only one whose MLP
    output is large enough to carry a new answer on tiny-kg (docs/decisions.md).
    """
    position = key_position or default_key_position(arch)
    if position == "prompt_last":
        return 0
    return max(0, (arch.num_layers - 1) // 3)


def regularised(moment: torch.Tensor, ridge: float) -> torch.Tensor:
    """C + ridge * mean(diag C) * I (scale-free ridge)."""
    scale = float(moment.diagonal().mean().clamp(min=1e-12))
    return moment + ridge * scale * torch.eye(moment.shape[0], dtype=moment.dtype, device=moment.device)


#: ROME's published settings per configuration family: (layer, of blocks, value steps, value lr,
#: weight decay, clamp factor, KL factor). Sources (EasyEdit, commit 14cea82): hparams/ROME/
#: gpt2-xl.yaml (layer 17 of 48, 20 steps, lr 0.5, decay 0.5, clamp 4, KL 0.0625; the ROME paper's
#: GPT-2 XL run), hparams/ROME/gpt-j-6B.yaml (layer 5 of 28, 20, 0.5, 0.5, 4, 0.0625) and
#: hparams/ROME/llama-7b.yaml (layer 5 of 32, 25, 0.5, 1e-3, 4, 0.0625; llama3-8b.yaml and
#: qwen2.5-7b.yaml say the same). All read the key at the subject's last token and write the value
#: found at the key token (`value_at="key"`, the original ROME). Their second moment comes from
#: 100,000 Wikipedia texts; ksmith has no Wikipedia at run time and samples text from the model
#: itself, at least 4 × the key width tokens (see `ksmith.methods.covariance`). The value's forms
#: are the reference's (`compute_v`: clamp and decay against the MLP output at the key token, decay
#: ‖δ‖/‖v‖², KL(new ‖ original) after "{} is a" at the subject, stop once the loss < 5e-2).
PUBLISHED: dict[str, tuple[int, int, int, float, float, float, float]] = {
    "gpt2-xl": (17, 48, 20, 0.5, 0.5, 4.0, 0.0625),
    "gpt-j": (5, 28, 20, 0.5, 0.5, 4.0, 0.0625),
    "llama": (5, 32, 25, 0.5, 1e-3, 4.0, 0.0625),
}


def published_hparams(arch: Architecture) -> ROMEHparams:
    """ROME's published configuration for the layout's family, its layer at the same relative depth."""
    layer, depth, steps, lr, decay, clamp, kl = PUBLISHED[published_family(arch)]
    return ROMEHparams(
        key_position="subject_last", layer=scaled_layer(layer, depth, arch.num_layers), v_steps=steps,
        v_lr=lr, weight_decay=decay, clamp_norm=clamp, kl_weight=kl, value_at="key",
    )


@register_method("rome", family=("edit", "unlearn"))
class ROME(Method):
    Hparams = ROMEHparams

    def default_hparams(self, arch: Architecture) -> ROMEHparams:
        if arch.profile == "tiny-kg":
            return self.tiny_hparams(arch)
        return published_hparams(arch)

    def tiny_hparams(self, arch: Architecture) -> ROMEHparams:
        """The defaults tuned on tiny-kg (see the module docstring); used for tiny-kg only."""
        return ROMEHparams(
            key_position=default_key_position(arch), layer=default_layer(arch), cov_ridge=1e-3, **TINY_VALUE_FORMS
        )

    def prepare(self, model: Any, tokenizer: Any) -> dict[str, float]:
        arch = describe(model)
        hp = self.hparams_for(arch).resolved(arch)
        layer = default_layer(arch, hp.key_position) if hp.layer is None else hp.layer
        check_layers(arch, [layer])
        return {"stats_s": key_stats(model, tokenizer, arch, layer, hp).seconds}

    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp = self.hparams_for(arch).resolved(arch)
        layer = default_layer(arch, hp.key_position) if hp.layer is None else hp.layer
        check_layers(arch, [layer])
        module, weight = arch.mlp_out_module(layer), arch.mlp_out_weight(layer)
        targets = edit_targets(request)
        if not targets:
            return UpdateResult(touched=(weight,), wall_s=time.perf_counter() - start)

        if hp.value_at not in ("key", "write"):
            raise MethodError(f"rome: value_at must be 'key' or 'write', got {hp.value_at!r}")
        stats = key_stats(model, tokenizer, arch, layer, hp)
        keys, outs = read_keys_and_outputs(
            model, tokenizer, targets, module, module, hp.key_position, hp.chunk
        )
        # Solved in float64 (C's condition number on a real model is far past float32's reach);
        # the directions are used in float32 and the update cast to the weight's dtype once.
        keys64 = keys.double()
        c_inv_keys = torch.linalg.solve(regularised(stats.moment, hp.cov_ridge), keys64.t()).t()  # [n, d_in]
        dirs = (c_inv_keys / (c_inv_keys * keys64).sum(1, keepdim=True)).float()  # dirs_i · k_i = 1

        if hp.value_at == "write":
            def write(part: range, deltas: torch.Tensor) -> None:
                add_to_weight(model, weight, deltas.t() @ dirs[part.start : part.stop], arch.conv1d)

            values = optimise_values(
                model, tokenizer, targets, module, hp.key_position, hp.value_settings(),
                write_dirs=dirs, after_chunk=write,
            )
        else:
            values = optimise_values(model, tokenizer, targets, module, hp.key_position, hp.value_settings())
            # The update is accumulated on its own (not as W' - W, which would cancel digits).
            update = torch.zeros(outs.shape[1], keys.shape[1], dtype=torch.float32, device=keys.device)
            for i in range(len(targets)):
                current = outs[i] + update @ keys[i]
                update += torch.outer(outs[i] + values.deltas[i] - current, dirs[i])
            add_to_weight(model, weight, update, arch.conv1d)
        return UpdateResult(
            touched=(weight,),
            steps=values.steps,
            loss_curve=values.loss_curve,
            wall_s=time.perf_counter() - start,
            extra={
                "layer": layer,
                "covariance_s": stats.seconds,
                "covariance_cached": stats.cached,
                "covariance_keys": stats.count,
            },
        )
