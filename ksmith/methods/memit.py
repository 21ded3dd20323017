"""MEMIT: many facts at once, spread over several MLP output projections (Meng et al., 2023).

1. For each fact, optimise `delta` added to the residual stream at the *last* edited layer (the
   block's output, at the key token) so the model emits the target, clamped and decayed against
   that residual's norm, as the reference (`compute_z`); the wanted residual is `z = h + delta`.
   With `value_site="mlp_out"` (ksmith's departure, for post-MLP norms) `delta` is added to that
   layer's MLP output projection instead and `z = h + shift`, `shift` the change of the residual
   stream it makes (`residual_shift`).
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
class MEMITHparams(LocateHparams):
    """layers: blocks whose MLP output projections are edited (None: the architecture default).

    mom2_weight: weight of the corpus key statistics against the edit keys, per key dimension:
    λ = mom2_weight · d_in in ΔW = Rᵀ K (λ C + Kᵀ K)⁻¹. MEMIT's `mom2_update_weight` is λ itself
    (15000 for GPT-J, d_in = 16384; 20000 for GPT-2 XL, d_in = 6400); dividing by d_in makes one
    default fit every width, because a typical key has kᵀ C⁻¹ k ≈ d_in, so a single edit is written
    to the fraction s / (1 + s) with s ≈ 1 / mom2_weight. Larger keeps ordinary text safer and
    writes the edits more weakly. 0.1: on a 4-block tiny-kg at k=1, 1.0 wrote only part of the
    value (direct 0.42 on a 2-block model) and 0.1 all of it (1.00).

    value_site: "residual" adds δ to the last edited block's output, clamp and decay against its norm
    (the reference's); "mlp_out" to its MLP output projection's output, against that (see `MEMIT.residual_shift`).
    """

    layers: tuple[int, ...] | None = None
    mom2_weight: float = 0.1
    value_site: str = "residual"


#: Where MEMIT's value is optimised (`MEMITHparams.value_site`).
VALUE_SITES: tuple[str, ...] = ("residual", "mlp_out")


def default_layers(arch: Architecture, key_position: str | None = None) -> tuple[int, ...]:
    """The blocks MEMIT edits by default.

    Key at the subject: the early-middle blocks, as MEMIT (3-8 of 28 in GPT-J; 13-17 of 48 in GPT-2
    XL). Key at the prompt's last token (shallow models): block 0 alone, which edited best on tiny-kg
    (docs/decisions.md).
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
        # The references publish no settings for a layout with a post-MLP norm (Gemma 2/3); there
        # the residual site stalls (AlphaEdit on Gemma 3 270M: target NLL 5.7, no capital of four
        # edited) and the projection output edits all four, so that is ksmith's default for them.
        value_site="residual" if arch.mlp_post_norm is None else "mlp_out",
    )


def tiny_fields(arch: Architecture) -> dict[str, Any]:
    """MEMITHparams fields of the tiny-kg defaults: the value at the MLP output projection and
    ksmith's earlier value forms (`locate.TINY_VALUE_FORMS`), which they were measured with."""
    return {"key_position": default_key_position(arch), "layers": default_layers(arch), "value_site": "mlp_out",
            **TINY_VALUE_FORMS}


def nearest_on_ellipsoid(gain: torch.Tensor, wanted: torch.Tensor, iterations: int = 100) -> torch.Tensor:
    """Per row of `wanted` [n, d], the `u` with rms(u) = 1 minimising ‖gain ⊙ u - wanted‖ (gain [1, d]).

    `u_i = g_i t_i / (g_i² + μ)` with the `μ > -min g_i²` at which rms(u) = 1 (the Lagrange
    condition of the nearest point; the global one is the root above `-min g_i²`, where rms(u)
    falls monotonically as `μ` grows, so bisection finds it). Float64 throughout.
    """
    g2 = gain.pow(2)
    gt = gain * wanted
    d = wanted.shape[1]
    lo = (-g2.min()).expand(wanted.shape[0], 1).clone()
    hi = gt.norm(dim=1, keepdim=True) / d**0.5 + 1e-12  # there ‖u‖² <= ‖gt‖² / μ² <= d
    hi = torch.maximum(hi, lo + 1e-12)
    for _ in range(iterations):
        mid = (lo + hi) / 2
        too_long = (gt / (g2 + mid)).pow(2).sum(dim=1, keepdim=True) > d
        lo = torch.where(too_long, mid, lo)
        hi = torch.where(too_long, hi, mid)
    u = gt / (g2 + hi)
    # The "hard case": a gain of exactly the smallest magnitude whose coordinate the output does not
    # ask for (a zero gain, say) keeps `u` short even at `μ = -min g²`; the missing length then goes
    # to that coordinate, where it changes `gain ⊙ u` least (not at all for a zero gain).
    short = (d - u.pow(2).sum(dim=1)).clamp(min=0)
    j = int(g2.argmin())
    sign = torch.where(wanted[:, j] < 0, -1.0, 1.0).to(u.dtype)
    u[:, j] = sign * (u[:, j].pow(2) + short).sqrt()
    return u / u.pow(2).mean(dim=1, keepdim=True).sqrt()  # exact unit rms despite the bisection's last step


def post_norm_at_keys(model: Any, tokenizer: Any, arch: Architecture, layer: int, targets: list,
                      hp: Any) -> tuple[torch.Tensor, torch.nn.Module, torch.dtype]:
    """Block `layer`'s MLP output projection output at the key tokens [n, d], the post-MLP norm it
    passes (Gemma 2/3) and that norm's dtype: what `residual_shift` and `value_shift` both start from."""
    module = arch.mlp_out_module(layer)
    _, y = read_keys_and_outputs(model, tokenizer, targets, module, module, hp.key_position, hp.chunk)
    norm = model.get_submodule(arch.mlp_residual_module(layer))
    return y, norm, next(norm.parameters()).dtype


@register_method("memit", family=("edit", "unlearn"))
class MEMIT(Method):
    Hparams = MEMITHparams

    def default_hparams(self, arch: Architecture) -> MEMITHparams:
        if arch.profile == "tiny-kg":
            return MEMITHparams(**tiny_fields(arch))
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
    def residual_shift(self, model: Any, tokenizer: Any, arch: Architecture, layer: int,
                       targets: list, hp: Any, delta: torch.Tensor) -> torch.Tensor:
        """The shift of the residual stream at the key tokens [n, d] made by adding `delta` [n, d]
        to block `layer`'s MLP output projection output.

        Used with `value_site="mlp_out"`. Without a post-MLP norm the two are the same. With one
        (Gemma 2/3) the block adds `norm(y)`, so the shift is `norm(y + delta) - norm(y)`. The value
        is then optimised before the norm, not on the residual stream after it (the reference's
        site): the norm's output has large coordinates (its gains), so Adam's per-coordinate steps
        at the published learning rates move it slowly. On Gemma 3 270M (4 counterfactual capitals,
        25 steps, layer 5) the target NLL went from 9.57 to 2.39 after the norm and to 0.46 before
        it with MEMIT's settings, to 7.03 and 0.93 with AlphaEdit's; after the norm, MEMIT and
        AlphaEdit did not edit Gemma 3 at all (README).
        """
        if arch.mlp_post_norm is None:
            return delta
        y, norm, dtype = post_norm_at_keys(model, tokenizer, arch, layer, targets, hp)
        return norm((y + delta).to(dtype)).float() - norm(y.to(dtype)).float()

    @torch.no_grad()
    def value_shift(self, model: Any, tokenizer: Any, arch: Architecture, layer: int,
                    targets: list, hp: Any, resid: torch.Tensor) -> torch.Tensor:
        """The change of block `layer`'s MLP output projection output that shifts the residual
        stream by `resid` [n, d] at the key tokens, or as near to it as the block can.

        Without a post-MLP norm the two are the same. With one (Gemma 2/3), the projection output
        `y` reaches the residual as `norm(y) = w ⊙ u` with `u = y / rms(y)`: whatever `y`, the
        block adds a point of the ellipsoid `{w ⊙ u : rms(u) = 1}` (`w` read as `norm(1)`, which
        covers both RMSNorm conventions, `w` and `1 + w`). A shift is realisable only onto it:
        `residual_shift` gives one that is, but MEMIT spreads it over several layers, each with its
        own gains, and near-zero gains leave directions that no `y` reaches. So the new `u` is the
        point of the ellipsoid nearest the wanted output `t = norm(y) + resid`:

            u_i = w_i t_i / (w_i² + μ),   μ > -min w_i²  such that rms(u) = 1

        (the Lagrange condition of min ‖w ⊙ u - t‖² on the sphere; `μ` by bisection, the norm of `u`
        falls as `μ` grows). A shift that is realisable is realised exactly, and what a layer cannot
        realise stays in the residual gap that the next layers are given. `y' = u · rms(y)`, so the
        MLP's output keeps its size. Dividing by the gains instead (`u ∝ t / w`) is right to first
        order in the shift but on Gemma 3 270M sent the realised shifts of layers 2-4 against the
        wanted ones (cosines -0.57 to 0.09 for 4 capital edits): near-zero gains blow the division up.
        """
        if arch.mlp_post_norm is None:
            return resid
        y, norm, dtype = post_norm_at_keys(model, tokenizer, arch, layer, targets, hp)
        gain = norm(torch.ones(1, y.shape[1], dtype=dtype, device=y.device)).double()
        current = norm(y.to(dtype)).double()
        rms_y = y.double().pow(2).mean(dim=1, keepdim=True).sqrt().clamp(min=1e-30)
        # The norm's epsilon makes the ellipsoid at y's own RMS a little smaller than unit (only
        # for tiny outputs): its radius is how `norm(y)` compares with `w ⊙ y / rms(y)`.
        exact = gain * y.double() / rms_y
        radius = (current * exact).sum(dim=1, keepdim=True) / exact.pow(2).sum(dim=1, keepdim=True).clamp(min=1e-30)
        u = nearest_on_ellipsoid(gain, (current + resid.double()) / radius)
        return (u * rms_y).to(y.dtype) - y

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
        if hp.value_site not in VALUE_SITES:
            raise MethodError(f"{self.name}: value_site must be one of {VALUE_SITES}, got {hp.value_site!r}")
        # The value is optimised on the residual stream at the last edited layer (the reference), or
        # where the edited weight writes, its MLP output projection (`residual_shift` then turns it
        # into the shift of the residual stream).
        site = arch.block(last) if hp.value_site == "residual" else arch.mlp_out_module(last)
        values = optimise_values(model, tokenizer, targets, site, hp.key_position, hp.value_settings())
        _, h0 = read_keys_and_outputs(
            model, tokenizer, targets, arch.mlp_out_module(last), arch.block(last), hp.key_position, hp.chunk
        )
        if hp.value_site == "residual":
            z = h0 + values.deltas
        else:
            z = h0 + self.residual_shift(model, tokenizer, arch, last, targets, hp, values.deltas)
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
