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
from ksmith.methods.memit import MEMIT, MEMITHparams, published_fields
from ksmith.methods.registry import register_method
from ksmith.models.arch import Architecture, published_family


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
    return basis @ basis.t()  # float64, like every solve here


def retain_moment(model: Any, tokenizer: Any, module: str, request: UpdateRequest) -> torch.Tensor | None:
    """E[k kᵀ] over every token of the retain items (prompt and answer), or None without any."""
    if not request.retain:
        return None
    device = next(model.parameters()).device
    rows = [(0, f"{r.prompt} {r.answer}", "", None) for r in request.retain]
    batch = prompt_batch(tokenizer, rows, "prompt_last", device)
    total, count = accumulate(model, module, [(batch.input_ids, batch.attention_mask)])
    return total / count  # float64


#: AlphaEdit's published settings, MEMIT's row shape plus the null-space threshold. Sources
#: (EasyEdit, commit 14cea82): hparams/AlphaEdit/gpt2-xl.yaml (layers 13-17 of 48, 20 steps, lr 0.5,
#: decay 0.5, clamp 0.75, KL 0.0625, λ 20000, threshold 2e-2), hparams/AlphaEdit/gpt-j-6B.yaml (3-8
#: of 28, 25, 0.5, 0.5, 0.75, 0.0625, 15000, 2e-2) and hparams/AlphaEdit/llama3-8b.yaml (4-8 of 32,
#: 25, lr 0.1, decay 0.5, clamp 0.75, 0.0625, 15000, 2e-2; Llama-3-8B's d_ff 14336). Not taken:
#: their `L2` (10, or 1 for Qwen2.5) is an absolute ridge on unnormalised keys; ksmith's `l2` is in
#: units of tr(C), so it keeps the value measured on tiny-kg (see `AlphaEditHparams`).
PUBLISHED: dict[str, tuple] = {
    "gpt2-xl": (13, 17, 48, 20, 0.5, 0.5, 0.75, 0.0625, 20000, 6400, 2e-2),
    "gpt-j": (3, 8, 28, 25, 0.5, 0.5, 0.75, 0.0625, 15000, 16384, 2e-2),
    "llama": (4, 8, 32, 25, 0.1, 0.5, 0.75, 0.0625, 15000, 14336, 2e-2),
}


@register_method("alphaedit", family=("edit", "unlearn"))
class AlphaEdit(MEMIT):
    Hparams = AlphaEditHparams

    def default_hparams(self, arch: Architecture) -> AlphaEditHparams:
        if arch.profile == "tiny-kg":
            base = super().default_hparams(arch)
            return AlphaEditHparams(key_position=base.key_position, layers=base.layers)
        threshold = PUBLISHED[published_family(arch)][10]
        return AlphaEditHparams(**published_fields(arch, PUBLISHED), null_threshold=threshold)

    def layer_state(self, model: Any, tokenizer: Any, arch: Architecture, hp: Any,
                    request: UpdateRequest, layer: int, moment: torch.Tensor) -> torch.Tensor:
        preserved = moment
        extra = retain_moment(model, tokenizer, arch.mlp_out_module(layer), request)
        if extra is not None:
            preserved = preserved + extra.to(moment.dtype)
        return null_space_projector(preserved, hp.null_threshold)

    def solve(self, hp: Any, moment: torch.Tensor, keys: torch.Tensor, resid: torch.Tensor,
              state: torch.Tensor) -> torch.Tensor:
        projector = state
        keys, resid = keys.double(), resid.double()
        eye = torch.eye(projector.shape[0], dtype=projector.dtype, device=projector.device)
        a = projector @ (keys.t() @ keys) + hp.l2 * float(moment.trace()) * eye
        return torch.linalg.solve(a, projector @ keys.t() @ resid)
