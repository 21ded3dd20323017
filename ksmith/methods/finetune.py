"""Fine-tuning editors: FT-L and FT-M, the constrained fine-tuning baselines of the editing literature.

Both fine-tune the weights of one MLP projection (by default the output projection of the block three quarters up)
toward the new object on the interventions' held-in prompts; they differ in the objective and the
constraint:

- FT-L (Zhu et al. 2020, as used by ROME's comparison): the loss is read at the prompt's last
  position (the first target token) and every step is projected back into an L-inf ball of radius
  `norm_bound` around the original weights, so the change stays small and local.
- FT-M (EasyEdit's masked variant): the loss covers all target tokens (the prompt is context only)
  and there is no norm bound, which is what makes it a strong baseline.

Layer and module names come from `ksmith.models.arch.describe(model)`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ksmith.errors import MethodError
from ksmith.methods import losses
from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.registry import register_method
from ksmith.methods.training import (
    ParamSet,
    SeqLogProbs,
    TokenBatch,
    edit_pairs,
    first_target_logprobs,
    minibatches,
    per_epoch,
    retain_pairs,
    sequence_logprobs,
    steps_for,
    tokenize_pairs,
    train,
)
from ksmith.models.arch import Architecture, describe

MODULES = ("mlp_out", "mlp_in")


def parameter_names(arch: Architecture, layers: tuple[int, ...], modules: tuple[str, ...]) -> list[str]:
    """Weight names of the chosen MLP projections (`mlp_out`, `mlp_in`) in the chosen blocks."""
    bad = [m for m in modules if m not in MODULES]
    if bad:
        raise MethodError(f"unknown module(s) {bad}; choose from {MODULES}")
    out_of_range = [i for i in layers if not -arch.num_layers <= i < arch.num_layers]
    if out_of_range:
        raise MethodError(f"layer(s) {out_of_range} out of range for a {arch.num_layers}-layer model")
    names = []
    for i in layers:
        i = i % arch.num_layers
        for m in modules:
            names.append(arch.mlp_out_weight(i) if m == "mlp_out" else f"{arch.mlp_in_module(i)}.weight")
    return names


def middle_layer(arch: Architecture) -> int:
    """The lower middle block of the stack (the fallback when `layers` is empty, as in FT-L's
    ROME-paper setup)."""
    return max(0, (arch.num_layers - 1) // 2)


def upper_layer(arch: Architecture) -> int:
    """The block three quarters up the stack (FT-M's, FT-L's and LoRA's default).

    On tiny-kg-small (2 blocks) tuning the upper block instead of the lower one cut the contextual
    accuracy drop at k=1 from 0.15 to 0.08 at the same direct accuracy (1.0); EasyEdit's FT-M
    settings for 32-block Llamas sit at a similar depth (block 21).
    """
    return min(arch.num_layers - 1, (3 * arch.num_layers) // 4)


def select(batch: TokenBatch, idx: list[int]) -> TokenBatch:
    """Rows `idx` of a batch, trimmed to the longest row so padding costs nothing."""
    ids = batch.input_ids[idx]
    attn = batch.attention_mask[idx]
    width = int(attn.sum(-1).max())
    return TokenBatch(ids[:, :width], attn[:, :width], batch.target_mask[idx][:, :width])


@dataclass(frozen=True)
class FTHparams(Hparams):
    """Hyper-parameters shared by FT-L and FT-M.

    layers:        blocks whose MLP projection is tuned (default: the block three quarters up,
                   `upper_layer`, for both; () = the lower-middle block).
    modules:       which projections in those blocks ("mlp_out", "mlp_in").
    steps/epochs:  at least `steps` Adam steps and at least `epochs` passes over the pairs.
    stop_loss:     stop once a whole epoch's step losses are below this (0 = never): edits that
                   already hold stop early, which limits collateral change and keeps large-k runs
                   affordable.
    norm_bound:    L-inf radius around the original weights (FT-L); None = unbounded (FT-M).
    retain_weight: weight of an NLL term on the request's retain items (0 = none, as published).
    """

    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("mlp_out",)
    lr: float = 5e-3
    steps: int = 30
    epochs: float = 3.0
    batch_size: int = 64
    stop_loss: float = 0.5
    norm_bound: float | None = None
    weight_decay: float = 0.0
    retain_weight: float = 0.0
    objective: str = "target_tokens"  # or "prompt_last" (first target token only)


def published_ft(arch: Architecture, objective: str) -> FTHparams:
    """EasyEdit's FT settings (commit 14cea82) for real models: hparams/FT/gpt2-xl.yaml (block 0,
    25 steps, lr 5e-4, L-inf bound 5e-4, the ROME paper's FT-L) for the GPT families and
    hparams/FT/llama-7b.yaml (block 21 of 32, 25 steps, lr 5e-4, no bound) for Llama-style
    layouts; FT-L reads the first target token (their `prompt_last`) under the bound, FT-M every
    target token (their `target_new`) with none (what makes it FT-M). Fixed step count (no early
    stop), as there."""
    from ksmith.models.arch import published_family, scaled_layer

    if published_family(arch) == "llama":
        layer, bound = scaled_layer(21, 32, arch.num_layers), None
    else:
        layer, bound = 0, 5e-4
    return FTHparams(
        layers=(layer,), modules=("mlp_out",), lr=5e-4, steps=25, epochs=1.0, stop_loss=0.0,
        norm_bound=bound if objective == "prompt_last" else None, objective=objective,
    )


class FineTuneEditor(Method):
    """Fine-tune chosen MLP weights toward the new objects; subclasses set defaults only."""

    Hparams = FTHparams

    def default_hparams(self, arch: Architecture) -> FTHparams:
        return FTHparams(layers=(middle_layer(arch),))

    def apply(self, model, tokenizer, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp: FTHparams = self.hparams_for(arch)  # type: ignore[assignment]
        if hp.objective not in ("target_tokens", "prompt_last"):
            raise MethodError(f"unknown objective {hp.objective!r}; use 'target_tokens' or 'prompt_last'")
        names = parameter_names(arch, hp.layers or (middle_layer(arch),), hp.modules)
        pairs = edit_pairs(request)
        if not pairs:  # the empty request: nothing to change, and nothing is changed
            return UpdateResult(touched=tuple(names), wall_s=time.perf_counter() - start)
        device = next(model.parameters()).device
        params = ParamSet(model, names)
        edits = tokenize_pairs(tokenizer, pairs, device)
        keep = retain_pairs(request)
        retain = tokenize_pairs(tokenizer, keep, device) if keep and hp.retain_weight > 0 else None
        scorer: Callable[..., SeqLogProbs] = (
            first_target_logprobs if hp.objective == "prompt_last" else sequence_logprobs
        )
        generator = torch.Generator().manual_seed(request.seed)
        steps = steps_for(len(pairs), hp.batch_size, hp.steps, hp.epochs)
        batches = list(minibatches(len(pairs), hp.batch_size, steps, generator))
        retain_batches = (
            list(minibatches(len(retain), hp.batch_size, steps, generator)) if retain is not None else []
        )

        def step_loss(step: int) -> torch.Tensor:
            loss = losses.nll(scorer(model, select(edits, batches[step])))
            if retain is not None:
                loss = loss + hp.retain_weight * losses.nll(sequence_logprobs(model, select(retain, retain_batches[step])))
            return loss

        bound = hp.norm_bound
        curve = train(
            model,
            params,
            step_loss,
            steps=steps,
            lr=hp.lr,
            weight_decay=hp.weight_decay,
            after_step=(lambda: params.project_linf(bound)) if bound is not None else None,
            stop_loss=hp.stop_loss,
            stop_window=per_epoch(len(pairs), hp.batch_size),
        )
        return UpdateResult(
            touched=params.names,
            steps=len(curve),
            loss_curve=curve,
            wall_s=time.perf_counter() - start,
            extra={"layers": list(hp.layers or (middle_layer(arch),)), "pairs": len(pairs)},
        )


@register_method("ft-l", family="edit")
class FTL(FineTuneEditor):
    """FT-L: first-target-token loss, one MLP output projection, L-inf bounded around the original."""

    def default_hparams(self, arch: Architecture) -> FTHparams:
        # The published bound (5e-4 on GPT-2 XL) lets a small model's edit barely move. 0.05 on the
        # middle block reached the new object on tiny-kg-small but not on the default tiny-kg
        # (6 blocks; k=1, 10 seeds x 3 levels: direct 0.12, held-out paraphrase 0.13). There a
        # bound of 0.5 on FT-M's upper block gave 0.97 / 0.67 at no contextual drop (0.2: 0.56 /
        # 0.33 on the middle block); on tiny-kg-small it trades direct 0.98 -> 0.91 for a
        # contextual drop of 0.05 instead of 0.12.
        if arch.profile != "tiny-kg":
            return published_ft(arch, objective="prompt_last")
        return FTHparams(
            layers=(upper_layer(arch),), objective="prompt_last", norm_bound=0.5, lr=1e-2, steps=50
        )


@register_method("ft-m", family="edit")
class FTM(FineTuneEditor):
    """FT-M: loss on all target tokens only, one MLP output projection, no norm bound."""

    def default_hparams(self, arch: Architecture) -> FTHparams:
        # stop_loss 0.05 / steps 50: on the default tiny-kg (6 blocks) the shared 0.5 / 30 stopped
        # while the new object only just won on the held-in prompts (k=1, 10 seeds x 3 levels:
        # direct 0.89, held-out paraphrase 0.70); training on to 0.05 gave 0.99 / 0.90 at the same
        # contextual drop (0.025), and on tiny-kg-small 0.93 / 0.93 (was 0.87 / 0.73) for a drop of
        # 0.067 (was 0.05). Block 0 (the locate-then-edit editors' best block) moved the edit
        # further (1.0 / 0.97) but cost 0.16 contextual accuracy, 0.10 even at lr 2e-3.
        if arch.profile != "tiny-kg":
            return published_ft(arch, objective="target_tokens")
        return FTHparams(layers=(upper_layer(arch),), lr=1e-2, steps=50, stop_loss=0.05)
