"""AlphaEdit: MEMIT's update projected onto the null space of the preserved keys (Fang et al., 2025).

MEMIT trades the edit against ordinary text through a weighted least-squares term; AlphaEdit makes
preservation exact instead: every update is multiplied by `P`, the projector onto the directions
the preserved keys `K₀` (almost) never take, so `ΔW k₀ ≈ 0` for them and the edit-only objective
needs no trade-off weight:

    ΔWᵀ = (P Kᵀ K + L2 · I)⁻¹ P Kᵀ R

`P` spans the eigenvectors of `C`, the corpus key second moment E[k kᵀ] shared with ROME/MEMIT,
whose eigenvalues are below `null_threshold`, an absolute threshold. This is the reference
(EasyEdit's `AlphaEdit_main.py`: `get_project` takes the SVD of `layer_stats`' `mom2.moment()`,
also the mean E[k kᵀ], and keeps `S < nullspace_threshold`; the solve adds `L2 · I`), so the
published thresholds and `L2` mean the same thing here. Layers, values and the layer-by-layer
spreading are MEMIT's. ksmith's departures, each off by default: `null_relative`, `l2_scaled`,
`protect_retain` (see `AlphaEditHparams`).

Editing as unlearning: with `task="unlearn"` the target is the neutral object (`"unknown"`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ksmith.methods.base import UpdateRequest
from ksmith.methods.covariance import accumulate
from ksmith.methods.locate import prompt_batch
from ksmith.methods.memit import MEMIT, MEMITHparams, published_fields, tiny_fields
from ksmith.methods.registry import register_method
from ksmith.models.arch import Architecture, published_family


@dataclass(frozen=True)
class AlphaEditHparams(MEMITHparams):
    """null_threshold: eigenvalues of the preserved keys' second moment below it span the null space.

    null_relative: False: the threshold is absolute (the reference's); True: a fraction of λ_max.
    l2: the ridge `L2 · I` added to the projected normal equations (the reference's `L2`).
    l2_scaled: False: `l2` is absolute (the reference's); True: in units of tr(C), width-free.
    protect_retain: False: P from the corpus statistic alone (the reference's); True: + the request's retain keys.
    """

    null_threshold: float = 2e-2
    null_relative: bool = False
    l2: float = 10.0
    l2_scaled: bool = False
    protect_retain: bool = False


def null_space_projector(moment: torch.Tensor, threshold: float, relative: bool = False) -> torch.Tensor:
    """Projector onto the eigenvectors of the symmetric PSD `moment` with eigenvalue < threshold
    (relative: < threshold · the largest eigenvalue). Float64, like every solve here.

    The reference takes them from an SVD of the moment; for a symmetric PSD matrix the singular
    values are the eigenvalues and the subspaces the same.
    """
    values, vectors = torch.linalg.eigh(moment.double())
    limit = threshold * float(values.max().clamp(min=1e-30)) if relative else threshold
    basis = vectors[:, values < limit]
    return basis @ basis.t()


def retain_moment(model: Any, tokenizer: Any, module: str, request: UpdateRequest) -> torch.Tensor | None:
    """E[k kᵀ] over every token of the retain items (prompt and answer), or None without any."""
    if not request.retain:
        return None
    device = next(model.parameters()).device
    rows = [(0, f"{r.prompt} {r.answer}", "", None) for r in request.retain]
    batch = prompt_batch(tokenizer, rows, "prompt_last", device)
    total, count = accumulate(model, module, [(batch.input_ids, batch.attention_mask)])
    return total / count  # float64


#: AlphaEdit's published settings, MEMIT's row shape plus the null-space threshold and L2. Sources
#: (EasyEdit, commit 14cea82): hparams/AlphaEdit/gpt2-xl.yaml (layers 13-17 of 48, 20 steps, lr 0.5,
#: decay 0.5, clamp 0.75, KL 0.0625, λ 20000, threshold 2e-2, L2 10), hparams/AlphaEdit/gpt-j-6B.yaml
#: (3-8 of 28, 25, 0.5, 0.5, 0.75, 0.0625, 15000, 2e-2, 10) and hparams/AlphaEdit/llama3-8b.yaml
#: (4-8 of 32, 25, lr 0.1, decay 0.5, clamp 0.75, 0.0625, 15000, 2e-2, L2 1; Llama-3-8B's d_ff
#: 14336; llama3.1-8b.yaml says L2 10, qwen2.5-7b.yaml L2 1 with clamp 4 and decay 1e-3).
PUBLISHED: dict[str, tuple] = {
    "gpt2-xl": (13, 17, 48, 20, 0.5, 0.5, 0.75, 0.0625, 20000, 6400, 2e-2, 10.0),
    "gpt-j": (3, 8, 28, 25, 0.5, 0.5, 0.75, 0.0625, 15000, 16384, 2e-2, 10.0),
    "llama": (4, 8, 32, 25, 0.1, 0.5, 0.75, 0.0625, 15000, 14336, 2e-2, 1.0),
}


@register_method("alphaedit", family=("edit", "unlearn"))
class AlphaEdit(MEMIT):
    Hparams = AlphaEditHparams

    def default_hparams(self, arch: Architecture) -> AlphaEditHparams:
        if arch.profile == "tiny-kg":
            # Measured on tiny-kg with ksmith's earlier forms: a relative threshold of 1e-2, l2 in
            # units of tr(C) (one edit whose key keeps a fraction f of its energy in the null space
            # is written to the fraction f / (f + l2)) and the retain keys protected.
            return AlphaEditHparams(**tiny_fields(arch), null_threshold=1e-2, null_relative=True,
                                    l2=0.01, l2_scaled=True, protect_retain=True)
        threshold, l2 = PUBLISHED[published_family(arch)][10:12]
        return AlphaEditHparams(**published_fields(arch, PUBLISHED), null_threshold=threshold, l2=l2)

    def layer_state(self, model: Any, tokenizer: Any, arch: Architecture, hp: Any,
                    request: UpdateRequest, layer: int, moment: torch.Tensor) -> torch.Tensor:
        preserved = moment
        extra = retain_moment(model, tokenizer, arch.mlp_out_module(layer), request) if hp.protect_retain else None
        if extra is not None:
            preserved = preserved + extra.to(moment.dtype)
        return null_space_projector(preserved, hp.null_threshold, hp.null_relative)

    def solve(self, hp: Any, moment: torch.Tensor, keys: torch.Tensor, resid: torch.Tensor,
              state: torch.Tensor) -> torch.Tensor:
        projector = state
        keys, resid = keys.double(), resid.double()
        eye = torch.eye(projector.shape[0], dtype=projector.dtype, device=projector.device)
        ridge = hp.l2 * float(moment.trace()) if hp.l2_scaled else hp.l2
        a = projector @ (keys.t() @ keys) + ridge * eye
        return torch.linalg.solve(a, projector @ keys.t() @ resid)
