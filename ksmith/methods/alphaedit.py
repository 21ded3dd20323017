"""AlphaEdit: MEMIT's update projected onto the null space of the preserved keys (Fang et al., 2025).

MEMIT trades the edit against ordinary text through a weighted least-squares term; AlphaEdit makes
preservation exact instead: every update is multiplied by `P`, the projector onto the directions
the preserved keys `K₀` (almost) never take, so `ΔW k₀ ≈ 0` for them and the edit-only objective
needs no trade-off weight:

    ΔWᵀ = (P Kᵀ K + l2 · tr(C) · I)⁻¹ P Kᵀ R

`P` comes from the eigenvectors of `M = C + C_retain` whose eigenvalues are below
`null_threshold · λ_max(M)`: `C` is the corpus key second moment shared with ROME/MEMIT, and
`C_retain` the second moment of the keys of the request's retain items (the constraint `c`), so the
facts the request says to keep are protected explicitly. Layers, values and the layer-by-layer
spreading are MEMIT's.

Editing as unlearning: with `task="unlearn"` the target is the neutral object (`"unknown"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ksmith.methods.base import UpdateRequest
from ksmith.methods.covariance import accumulate
from ksmith.methods.locate import prompt_batch
from ksmith.methods.memit import MEMIT, MEMITHparams
from ksmith.methods.registry import register_method
from ksmith.models.arch import Architecture


@dataclass(frozen=True)
class AlphaEditHparams(MEMITHparams):
    """null_threshold: eigenvalues of M below this fraction of the largest span the null space.

    l2: ridge on the projected normal equations (AlphaEdit's `L2`), in units of the mean squared
    key norm tr(C): one edit whose key keeps a fraction f of its energy in the null space is
    written to the fraction f / (f + l2), whatever the model's width.
    """

    null_threshold: float = 1e-2
    l2: float = 0.01


def null_space_projector(moment: torch.Tensor, threshold: float) -> torch.Tensor:
    """Projector onto the eigenvectors of the symmetric `moment` with eigenvalue < threshold·max."""
    values, vectors = torch.linalg.eigh(moment.double())
    small = values < threshold * values.max().clamp(min=1e-30)
    basis = vectors[:, small]
    return (basis @ basis.t()).to(moment.dtype)


def retain_moment(model: Any, tokenizer: Any, module: str, request: UpdateRequest) -> torch.Tensor | None:
    """E[k kᵀ] over every token of the retain items (prompt and answer), or None without any."""
    if not request.retain:
        return None
    device = next(model.parameters()).device
    rows = [(0, f"{r.prompt} {r.answer}", "", None) for r in request.retain]
    batch = prompt_batch(tokenizer, rows, "prompt_last", device)
    total, count = accumulate(model, module, [(batch.input_ids, batch.attention_mask)])
    return (total / count).float()


@register_method("alphaedit", family=("edit", "unlearn"))
class AlphaEdit(MEMIT):
    Hparams = AlphaEditHparams

    def default_hparams(self, arch: Architecture) -> AlphaEditHparams:
        base = super().default_hparams(arch)
        return AlphaEditHparams(key_position=base.key_position, layers=base.layers)

    def prepare(self, model: Any, tokenizer: Any, arch: Architecture, hp: Any,
                request: UpdateRequest, layer: int, moment: torch.Tensor) -> torch.Tensor:
        preserved = moment
        extra = retain_moment(model, tokenizer, arch.mlp_out_module(layer), request)
        if extra is not None:
            preserved = preserved + extra.to(moment.dtype)
        return null_space_projector(preserved, hp.null_threshold)

    def solve(self, hp: Any, moment: torch.Tensor, keys: torch.Tensor, resid: torch.Tensor,
              state: torch.Tensor) -> torch.Tensor:
        projector = state
        eye = torch.eye(projector.shape[0], dtype=projector.dtype, device=projector.device)
        a = projector @ (keys.t() @ keys) + hp.l2 * float(moment.trace()) * eye
        return torch.linalg.solve(a, projector @ keys.t() @ resid)
