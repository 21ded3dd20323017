"""LoRA editing through `peft`: train low-rank adapters on the MLP projections, then merge them.

The adapters are trained with FT-M's objective (loss on the new object's tokens only) and merged
back with `merge_and_unload`, so the result is the caller's own model object with plain weights:
the same parameter objects, the same names, no adapter modules or peft attributes left behind.
`UpdateResult.touched` names the base weights the merge changed.

peft initialises `lora_A` from torch's global generator; the initialisation runs inside
`torch.random.fork_rng()` seeded with the request's seed, so the same seed gives the same weights
and the caller's global RNG state is left as it was.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ksmith.methods import losses
from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.finetune import select
from ksmith.methods.registry import register_method
from ksmith.methods.training import (
    ParamSet,
    edit_pairs,
    minibatches,
    per_epoch,
    sequence_logprobs,
    steps_for,
    tokenize_pairs,
    train,
)
from ksmith.models.arch import Architecture, describe


@dataclass(frozen=True)
class LoRAHparams(Hparams):
    """layers: blocks whose MLP projections get adapters (default: FT-M's block, three quarters
    up the stack; an explicit () = every block); modules: "mlp_out" and/or "mlp_in";
    rank / alpha: the adapter's rank and scaling; stop_loss: stop once a whole epoch's step losses
    are below it. One block three quarters up keeps the most contextual accuracy at the same direct
    accuracy on tiny-kg (tuning split; docs/decisions.md)."""

    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("mlp_out",)
    rank: int = 8
    alpha: float = 16.0
    lr: float = 1e-2
    steps: int = 40
    epochs: float = 3.0
    batch_size: int = 64
    stop_loss: float = 0.1
    weight_decay: float = 0.0


def _module_names(arch: Architecture, layers: tuple[int, ...], modules: tuple[str, ...]) -> list[str]:
    from ksmith.methods.finetune import parameter_names

    return [name.removesuffix(".weight") for name in parameter_names(arch, layers, modules)]


@contextlib.contextmanager
def lora_adapters(
    model, arch: Architecture, modules: Sequence[str], rank: int, alpha: float, dropout: float, seed: int
) -> Iterator[tuple[Any, ParamSet, list[torch.nn.Module]]]:
    """(the wrapped model, its adapter parameters, its dropout modules) for the block's body.

    Adapters on `modules` (module names, no ".weight"), initialised from `seed` inside a forked RNG;
    on success they are merged back (`merge_and_unload`: the caller's own model object, plain
    weights), on failure removed and nothing merged; either way every parameter's `requires_grad`
    is left as it was. Shared by the LoRA editor and ReLearn's LoRA training.
    """
    from peft import LoraConfig, get_peft_model

    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    config = LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(modules), fan_in_fan_out=arch.conv1d,
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        wrapped = get_peft_model(model, config)
    try:
        adapters = [n for n, _ in wrapped.named_parameters() if ".lora_" in n]
        drops = [m for n, m in wrapped.named_modules() if "lora_dropout" in n and isinstance(m, torch.nn.Dropout)]
        yield wrapped, ParamSet(wrapped, adapters), drops
    except BaseException:
        wrapped.unload()  # leave no adapter modules behind, and merge nothing half-trained
        raise
    finally:
        for name, p in model.named_parameters():
            p.requires_grad_(flags.get(name, p.requires_grad))
    merged = wrapped.merge_and_unload()
    for name, p in merged.named_parameters():
        p.requires_grad_(flags.get(name, p.requires_grad))


@register_method("lora", family="edit")
class LoRA(Method):
    """Low-rank adapters on MLP projections, trained on the new objects' tokens, merged back."""

    Hparams = LoRAHparams

    def default_hparams(self, arch: Architecture) -> LoRAHparams:
        from ksmith.methods.finetune import published_ft, upper_layer

        if arch.profile != "tiny-kg":
            # EasyEdit's hparams/LoRA/llama-7b.yaml (commit 14cea82): rank 8, alpha 32, lr 5e-3, 70
            # steps. Its adapters sit on attention (q_proj, v_proj); ksmith adapts MLP projections,
            # so they go on the FT block (`published_ft`).
            return LoRAHparams(
                layers=published_ft(arch, "target_tokens").layers, rank=8, alpha=32.0, lr=5e-3, steps=70,
                epochs=1.0, stop_loss=0.0,
            )
        return LoRAHparams(layers=(upper_layer(arch),))

    def apply(self, model, tokenizer, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        arch = describe(model)
        hp: LoRAHparams = self.hparams_for(arch)  # type: ignore[assignment]
        modules = _module_names(arch, hp.layers or tuple(range(arch.num_layers)), hp.modules)
        touched = tuple(f"{m}.weight" for m in modules)
        pairs = edit_pairs(request)
        if not pairs:
            return UpdateResult(touched=touched, wall_s=time.perf_counter() - start)
        device = next(model.parameters()).device
        batch = tokenize_pairs(tokenizer, pairs, device)
        generator = torch.Generator().manual_seed(request.seed)
        steps = steps_for(len(pairs), hp.batch_size, hp.steps, hp.epochs)
        batches = list(minibatches(len(pairs), hp.batch_size, steps, generator))
        with lora_adapters(model, arch, modules, hp.rank, hp.alpha, 0.0, request.seed) as (peft_model, params, _):
            curve = train(
                peft_model,
                params,
                lambda step: losses.nll(sequence_logprobs(peft_model, select(batch, batches[step]))),
                steps=steps,
                lr=hp.lr,
                weight_decay=hp.weight_decay,
                stop_loss=hp.stop_loss,
                stop_window=per_epoch(len(pairs), hp.batch_size),
            )
        return UpdateResult(
            touched=touched,
            steps=len(curve),
            loss_curve=curve,
            wall_s=time.perf_counter() - start,
            extra={"modules": modules, "pairs": len(pairs)},
        )
