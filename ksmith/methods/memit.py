"""MEMIT: many facts at once, spread over several MLP output projections (Meng et al., 2023).

1. For each fact, optimise `delta` at the *last* edited layer's MLP output (a shift of the residual
   stream at the key token) so the model emits the target; the wanted residual is `z = h + delta`.
2. For each edited layer `l`, bottom to top: read the current keys `K` (one row per fact) and
   residuals `h`; the remaining shift `R = (z - h) / (layers left)` is written with the batched
   least-squares update that keeps the keys of ordinary text (second moment `C_l`, weighted by
   `mom2_weight` = how many "ordinary keys" the prior counts for):

       ΔW = Rᵀ K (λ C_l + Kᵀ K)⁻¹,   λ = mom2_weight · d_in

   then applied, so the next layer sees it.

Cost: one batched value optimisation, one forward pass over the prompts per layer and one
`d_ff × d_ff` solve per layer: linear in the number of facts k.

`AlphaEdit` reuses everything here and changes only the solve (`MEMIT.solve`).
Editing as unlearning: with `task="unlearn"` the target is the neutral object (`"unknown"`).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.methods.base import Method, UpdateRequest, UpdateResult
from ksmith.methods.locate import (
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
class MEMITHparams(LocateHparams):
    """layers: blocks whose MLP output projections are edited (None: the architecture default).

    mom2_weight: weight of the corpus key statistics against the edit keys, per key dimension:
    λ = mom2_weight · d_in in ΔW = Rᵀ K (λ C + Kᵀ K)⁻¹. MEMIT's `mom2_update_weight` is λ itself
    (15000 for GPT-J, d_in = 16384; 20000 for GPT-2 XL, d_in = 6400); dividing by d_in makes one
    default fit every width, because a typical key has kᵀ C⁻¹ k ≈ d_in, so a single edit is written
    to the fraction s / (1 + s) with s ≈ 1 / mom2_weight. Larger keeps ordinary text safer and
    writes the edits more weakly. 0.1: on a 4-block tiny-kg at k=1, 1.0 wrote only part of the
    value (direct 0.42 on a 2-block model) and 0.1 all of it (1.00).
    """

    layers: tuple[int, ...] | None = None
    mom2_weight: float = 0.1


def default_layers(arch: Architecture, key_position: str | None = None) -> tuple[int, ...]:
    """The blocks MEMIT edits by default.

    Key at the subject: the early-middle blocks, as MEMIT (3-8 of 28 in GPT-J; 13-17 of 48 in GPT-2
    XL). Key at the prompt's last token (shallow models): block 0 alone. Measured on a 4-block
    tiny-kg at k=100: blocks (0,) direct 0.91 / paraphrase 0.79, blocks (0, 1) 0.84 / 0.67 (with a
    smaller contextual drop, 0.21 vs 0.38); at k=1, (0,) 1.00 / 0.88 and (0, 1) 0.88 / 0.62. On
    a 6-block model values written above block 0 stall (see `rome.default_layer`).
    """
    n = arch.num_layers
    if (key_position or default_key_position(arch)) == "prompt_last":
        return (0,)
    top = max(0, (n - 1) // 3)
    width = max(1, n // 8)
    return tuple(range(max(0, top - width + 1), top + 1))


#: MEMIT's published settings per family: (first layer, last layer, of blocks, value steps, value
#: lr, weight decay, clamp factor, KL factor, λ = mom2_update_weight, the source model's key width).
#: Sources (EasyEdit, commit 14cea82): hparams/MEMIT/gpt2-xl.yaml (layers 13-17 of 48, 20 steps,
#: lr 0.5, decay 0.5, clamp 0.75, KL 0.0625, λ 20000; GPT-2 XL's d_ff 6400), hparams/MEMIT/
#: gpt-j-6B.yaml (3-8 of 28, 25, 0.5, 0.5, 0.75, 0.0625, λ 15000; d_ff 16384; the MEMIT paper's
#: GPT-J run) and hparams/MEMIT/llama-7b.yaml (4-8 of 32, 25, 0.5, 1e-3, 4, 0.0625, λ 15000;
#: Llama-2-7B's d_ff 11008; qwen2.5-7b.yaml says the same). ksmith's `mom2_weight` is λ / d_in of
#: the source model, so the prior weighs the same per key dimension on any width. The second
#: moment: as ROME (`ksmith.methods.rome.PUBLISHED`).
PUBLISHED: dict[str, tuple] = {
    "gpt2-xl": (13, 17, 48, 20, 0.5, 0.5, 0.75, 0.0625, 20000, 6400),
    "gpt-j": (3, 8, 28, 25, 0.5, 0.5, 0.75, 0.0625, 15000, 16384),
    "llama": (4, 8, 32, 25, 0.5, 1e-3, 4.0, 0.0625, 15000, 11008),
}


def published_fields(arch: Architecture, table: dict[str, tuple]) -> dict[str, Any]:
    """MEMITHparams fields of a published row (`PUBLISHED`'s shape), layers at the same relative depth."""
    first, last, depth, steps, lr, decay, clamp, kl, lam, width = table[published_family(arch)][:10]
    layers = sorted({scaled_layer(i, depth, arch.num_layers) for i in range(first, last + 1)})
    return dict(
        key_position="subject_last", layers=tuple(layers), v_steps=steps, v_lr=lr, weight_decay=decay,
        clamp_norm=clamp, kl_weight=kl, mom2_weight=lam / width,
    )


@register_method("memit", family=("edit", "unlearn"))
class MEMIT(Method):
    Hparams = MEMITHparams

    def default_hparams(self, arch: Architecture) -> MEMITHparams:
        if arch.profile == "tiny-kg":
            return MEMITHparams(key_position=default_key_position(arch), layers=default_layers(arch))
        return MEMITHparams(**published_fields(arch, PUBLISHED))

    def prepare(self, model: Any, tokenizer: Any) -> dict[str, float]:
        arch = describe(model)
        hp = self.hparams_for(arch).resolved(arch)
        stats = [key_stats(model, tokenizer, arch, layer, hp) for layer in self.layers_for(arch, hp)]
        return {"stats_s": sum(s.seconds for s in stats)}

    def layers_for(self, arch: Architecture, hp: MEMITHparams) -> tuple[int, ...]:
        chosen = default_layers(arch, hp.key_position) if hp.layers is None else hp.layers
        layers = tuple(sorted(set(chosen)))
        check_layers(arch, layers)
        return layers

    def layer_state(self, model: Any, tokenizer: Any, arch: Architecture, hp: Any,
                    request: UpdateRequest, layer: int, moment: torch.Tensor) -> Any:
        """Per-layer state the solve needs besides C (AlphaEdit: the null-space projector)."""
        return None

    def solve(self, hp: Any, moment: torch.Tensor, keys: torch.Tensor, resid: torch.Tensor,
              state: Any) -> torch.Tensor:
        """ΔWᵀ ([d_in, d_out]) for keys [n, d_in] and wanted output shifts resid [n, d_out]."""
        keys, resid = keys.double(), resid.double()
        a = hp.mom2_weight * moment.shape[0] * moment + keys.t() @ keys
        return torch.linalg.solve(a, keys.t() @ resid)

    @torch.no_grad()
    def value_shift(self, model: Any, tokenizer: Any, arch: Architecture, layer: int,
                    targets: list, hp: Any, resid: torch.Tensor) -> torch.Tensor:
        """The change of block `layer`'s MLP output projection output that shifts the residual
        stream by `resid` [n, d] at the key tokens.

        Without a post-MLP norm the two are the same. With one (Gemma 2/3), the projection output
        `y` reaches the residual as `norm(y) = w ⊙ y / rms(y)`: invariant to the scale of `y`, so
        the MLP's contribution always has `rms(norm(y) / w) = 1` and a shift can be realised only up
        to that one constraint. `y' ∝ (norm(y) + resid) / w` gives `norm(y') = (norm(y) + resid) / s`
        with `s = rms((norm(y) + resid) / w)`, which is 1 to first order in the shift: the wanted
        direction, its size up to that factor. `y'` is scaled back to `y`'s RMS so the MLP's output
        keeps its size (`w` read as `norm(1)`, which covers both RMSNorm conventions, `w` and `1 + w`).
        Writing `resid` into `y` as it is would instead be multiplied by `w / rms(y)`.
        """
        if arch.mlp_post_norm is None:
            return resid
        module = arch.mlp_out_module(layer)
        _, y = read_keys_and_outputs(model, tokenizer, targets, module, module, hp.key_position, hp.chunk)
        norm = model.get_submodule(arch.mlp_residual_module(layer))
        dtype = next(norm.parameters()).dtype
        gain = norm(torch.ones(1, y.shape[1], dtype=dtype, device=y.device)).float()[0]
        gain = torch.where(gain.abs() < 1e-3, torch.full_like(gain, 1e-3).copysign(gain), gain)
        wanted = norm(y.to(dtype)).float() + resid
        raw = wanted / gain
        rms = lambda v: v.pow(2).mean(dim=1, keepdim=True).sqrt().clamp(min=1e-12)  # noqa: E731
        return raw * (rms(y) / rms(raw)) - y

    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp = self.hparams_for(arch).resolved(arch)
        layers = self.layers_for(arch, hp)
        weights = tuple(arch.mlp_out_weight(layer) for layer in layers)
        targets = edit_targets(request)
        if not targets:
            return UpdateResult(touched=weights, wall_s=time.perf_counter() - start)

        # Every layer's statistics are those of the unedited model, so all are read before the first
        # write; they wait on the host and go to the device one layer at a time (d_ff² float64 each:
        # 1.6 GB on Llama-3-8B).
        stats = {}
        for layer in layers:
            found = key_stats(model, tokenizer, arch, layer, hp)
            stats[layer] = dataclasses.replace(found, moment=found.moment.cpu())
        last = layers[-1]
        # The value is a shift of the residual stream: optimise it where the MLP's contribution
        # enters it (after Gemma 2/3's post-MLP norm; the projection's output elsewhere).
        values = optimise_values(
            model, tokenizer, targets, arch.mlp_residual_module(last), hp.key_position, hp.value_settings()
        )
        _, h0 = read_keys_and_outputs(
            model, tokenizer, targets, arch.mlp_out_module(last), arch.block(last), hp.key_position, hp.chunk
        )
        z = h0 + values.deltas
        for idx, layer in enumerate(layers):
            keys, h = read_keys_and_outputs(
                model, tokenizer, targets, arch.mlp_out_module(layer), arch.block(last),
                hp.key_position, hp.chunk,
            )
            resid = self.value_shift(model, tokenizer, arch, layer, targets, hp, (z - h) / (len(layers) - idx))
            moment = stats[layer].moment.to(keys.device)  # float64: every solve runs in float64
            state = self.layer_state(model, tokenizer, arch, hp, request, layer, moment)
            update_t = self.solve(hp, moment, keys, resid, state)
            add_to_weight(model, arch.mlp_out_weight(layer), update_t.t(), arch.conv1d)  # cast once
        return UpdateResult(
            touched=weights,
            steps=values.steps,
            loss_curve=values.loss_curve,
            wall_s=time.perf_counter() - start,
            extra={
                "layers": list(layers),
                "covariance_s": sum(s.seconds for s in stats.values()),
                "covariance_cached": all(s.cached for s in stats.values()),
            },
        )
