"""ROME: a rank-one update of one MLP output projection per fact (Meng et al., 2022).

For each fact: read the key `k*` (the projection's input at the key token, averaged over the
intervention's prompts), find the value `v* = W k* + delta` that makes the model emit the target
(`locate.optimise_values`), and write it with the rank-one update that changes `W k` least for the
keys of ordinary text, whose second moment is `C`:

    W' = W + (v* - W k*) (C⁻¹ k*)ᵀ / ((C⁻¹ k*)ᵀ k*)

k facts are written one after another into the same matrix; each write sees the previous ones
(the residual `v* - W k*` uses the current `W`), so later writes correct the interference of
earlier ones on their own keys. All values are optimised once on the unedited model, batched:
edits at one layer never change that layer's keys (they are upstream), so this costs one batched
optimisation plus k small solves, linear in k.

Editing as unlearning: with `task="unlearn"` the target is the neutral object (`"unknown"`).

Defaults (see `default_hparams`) and why: DEFAULTS_NOTE below is kept in sync with measurements.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.methods.base import Method, UpdateRequest, UpdateResult
from ksmith.methods.locate import (
    LocateHparams,
    add_to_weight,
    check_layers,
    edit_targets,
    key_stats,
    optimise_values,
    read_keys_and_outputs,
    weight_as_out_in,
)
from ksmith.methods.registry import register_method
from ksmith.models.arch import Architecture, describe


@dataclass(frozen=True)
class ROMEHparams(LocateHparams):
    """layer: the block whose MLP output projection is edited (None: the architecture default).

    cov_ridge: added to C as `cov_ridge * mean(diag C) * I`, so a key direction the corpus never
    visits cannot make C⁻¹ k* explode.
    """

    layer: int | None = None
    cov_ridge: float = 1e-3


def default_layer(arch: Architecture) -> int:
    """An early-middle block, as in ROME (layer 17 of 48 in GPT-2 XL: about a third of the way up)."""
    return max(0, (arch.num_layers - 1) // 3)


def regularised(moment: torch.Tensor, ridge: float) -> torch.Tensor:
    """C + ridge * mean(diag C) * I (scale-free ridge)."""
    scale = float(moment.diagonal().mean().clamp(min=1e-12))
    return moment + ridge * scale * torch.eye(moment.shape[0], dtype=moment.dtype)


@register_method("rome", family=("edit", "unlearn"))
class ROME(Method):
    Hparams = ROMEHparams

    def default_hparams(self, arch: Architecture) -> ROMEHparams:
        return ROMEHparams(layer=default_layer(arch))

    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp = self.hparams_for(arch)
        layer = default_layer(arch) if hp.layer is None else hp.layer
        check_layers(arch, [layer])
        module, weight = arch.mlp_out_module(layer), arch.mlp_out_weight(layer)
        targets = edit_targets(request)
        if not targets:
            return UpdateResult(touched=(weight,), wall_s=time.perf_counter() - start)

        stats = key_stats(model, tokenizer, arch, layer, hp)
        values = optimise_values(model, tokenizer, targets, module, hp.key_position, hp.value_settings())
        keys, outs = read_keys_and_outputs(
            model, tokenizer, targets, module, module, hp.key_position, hp.chunk
        )
        c_inv_keys = torch.linalg.solve(regularised(stats.moment, hp.cov_ridge), keys.t()).t()  # [n, d_in]
        w0 = weight_as_out_in(model, weight, arch.conv1d)
        w = w0.clone()
        for i in range(len(targets)):
            k, c = keys[i], c_inv_keys[i]
            current = outs[i] + (w - w0) @ k
            residual = outs[i] + values.deltas[i] - current
            w += torch.outer(residual / (c @ k), c)
        add_to_weight(model, weight, w - w0, arch.conv1d)
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
