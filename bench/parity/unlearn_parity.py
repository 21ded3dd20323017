"""GradAscent, GradDiff, NPO, SimNPO and RMU: ksmith's loss against open-unlearning's on one batch.

Both sides see one model, one forget batch (every held-in prompt of the facts, followed by
" " + the old object) and one retain batch (as many of the dataset's retain items), tokenised
once by ksmith (`tokenize_pairs`); open-unlearning gets the same token ids with `labels` = the
ids on the answer tokens and -100 elsewhere, as its collator builds them. Its trainer object is
made without its `__init__` (`object.__new__`) and given the attributes its `compute_loss` reads,
from ksmith's hyper-parameters (`reference_trainer`): no Trainer, no accelerator. ksmith's side is
the method's own loss closure (`FineTuneUnlearner.objective`), the function its training loop
calls per micro-batch, on a one-micro-batch schedule of exactly these items.

Compared at two points: the original weights, and the weights ksmith's own update leaves (its
`apply` on the same facts at the same settings), where NPO's log-ratio and RMU's retain distance
are no longer zero; the reference model (NPO, RMU) is the original in both.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from typing import Any

import torch
from parity_table import LossComparison, cosine, joined, norm_ratio

UNLEARNERS: tuple[str, ...] = ("grad-ascent", "grad-diff", "npo", "simnpo", "rmu")
#: ksmith's `retain_term` as open-unlearning's `retain_loss_type`.
RETAIN_LOSS = {"nll": "NLL", "kl": "KL"}


def reference_inputs(batch: Any) -> dict[str, torch.Tensor]:
    """open-unlearning's batch from ksmith's: the same ids and mask, labels on the answer tokens."""
    labels = torch.where(batch.target_mask, batch.input_ids, torch.full_like(batch.input_ids, -100))
    return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask, "labels": labels}


def reference_trainer(cls: type, name: str, hp: Any, lm: Any, ref_lm: Any, arch: Any,
                      control: torch.Tensor | None) -> tuple[Any, list[str]]:
    """open-unlearning's trainer of `cls`, built without its `__init__`, with the attributes its
    `compute_loss` reads set from ksmith's `hp`; and notes on fields without a counterpart."""
    trainer = object.__new__(cls)
    notes: list[str] = []
    trainer.model = lm
    trainer.ref_model = ref_lm
    trainer.gamma = hp.forget_weight
    trainer.alpha = hp.retain_weight
    trainer.retain_loss_type = RETAIN_LOSS[hp.retain_term]
    if name == "grad-ascent" and hp.retain_weight:
        notes.append(f"ksmith grad-ascent retain_weight={hp.retain_weight}: open-unlearning's GradAscent has no retain term")
    if name == "npo":
        trainer.beta = hp.beta
    if name == "simnpo":
        trainer.beta = hp.beta
        trainer.delta = hp.gamma / hp.beta  # ksmith's gamma is the paper's γ = β·δ
    if name == "rmu":
        layer = hp.layer
        trainer.retain_loss_type = "EMBED_DIFF"
        trainer.module_regex = arch.block(layer).replace(".", r"\.")
        trainer.model_module = lm.get_submodule(arch.block(layer))
        trainer.ref_module = ref_lm.get_submodule(arch.block(layer))
        trainer.steering_coeff = hp.steering_coeff
        trainer.control_vec = control.reshape(1, 1, -1)  # the same vector as ksmith's
        if hp.trainable != "all":
            notes.append(f"ksmith rmu trainable={hp.trainable!r}: the gradient is compared on ksmith's trained tensors")
    return trainer, notes


@dataclasses.dataclass
class LossRun:
    comparisons: list[LossComparison]
    notes: list[str]


def compare_unlearner(ou: Any, name: str, loaded: Any, request: Any, sets: dict[str, Any],
                      points: tuple[str, ...] = ("original", "updated"),
                      update_sets: dict[str, Any] | None = None) -> LossRun:
    """ksmith's loss closure and open-unlearning's `compute_loss` for `name` on one batch of
    `request`'s facts, with the gradients over ksmith's trained parameters, at each point.
    update_sets: hyper-parameters of the update that leads to the "updated" point only (e.g. fewer
    epochs, to save time); the losses are compared with `sets` alone."""
    from ksmith.methods import get_method
    from ksmith.methods.training import (
        ParamSet,
        forget_pairs,
        retain_pairs,
        tokenize_pairs,
    )
    from ksmith.methods.unlearn import _Data, control_vector
    from ksmith.models.snapshot import Snapshot

    lm, tok, arch = loaded.lm, loaded.tokenizer, loaded.arch
    method = get_method(name, **sets)
    hp = method.hparams_for(arch)
    device = next(lm.parameters()).device
    forget = tokenize_pairs(tok, forget_pairs(request), device)
    retain = tokenize_pairs(tok, retain_pairs(request)[: len(forget)], device)
    names = list(dict.fromkeys(method.parameter_names(lm, arch, hp)))
    snapshot = Snapshot.take(lm, names)
    ref_lm = copy.deepcopy(lm).eval()  # open-unlearning's reference model: the original weights
    control = None
    if name == "rmu":
        if hp.layer < 0:
            raise ValueError("rmu: give the steered block (--set rmu.layer=N); the published default names one")
        control = control_vector(lm.config.hidden_size, hp.steering_coeff, request.seed).to(device)
    trainer, notes = reference_trainer(ou.trainers[name], name, hp, lm, ref_lm, arch, control)
    inputs = {"forget": reference_inputs(forget), "retain": reference_inputs(retain)}
    data = _Data(forget=forget, retain=retain, neutral=None, forget_batches=[list(range(len(forget)))],
                 retain_batches=[list(range(len(retain)))], accumulation=1, seed=request.seed)
    comparisons = []
    try:
        params = ParamSet(lm, names)  # the originals, for the KL retain term
        tensors = params.params
        for p in tensors:
            p.requires_grad_(True)
        step_loss = method.objective(lm, params, hp, data)  # NPO's and RMU's references: the originals
        for point in points:
            if point == "updated":
                get_method(name, **{**sets, **(update_sets or {})}).apply(lm, tok, request)
                for p in tensors:
                    p.requires_grad_(True)
            comparisons.append(_compare(name, point, tensors, lambda: step_loss(0),
                                        lambda: trainer.compute_loss(lm, inputs)))
    finally:
        snapshot.restore(lm)
    snapshot.verify(lm)
    return LossRun(comparisons, notes)


def _compare(name: str, point: str, tensors: list[torch.Tensor], ours: Callable[[], torch.Tensor],
             theirs: Callable[[], torch.Tensor]) -> LossComparison:
    with torch.enable_grad():
        loss_k = ours()
        grads_k = torch.autograd.grad(loss_k, tensors, allow_unused=True)
        loss_r = theirs()
        grads_r = torch.autograd.grad(loss_r, tensors, allow_unused=True)
    gk, gr = joined(grads_k, tensors), joined(grads_r, tensors)
    return LossComparison(name, point, float(loss_k.detach()), float(loss_r.detach()), cosine(gk, gr), norm_ratio(gk, gr))
