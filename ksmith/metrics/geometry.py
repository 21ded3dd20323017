"""Weight-space geometry of an update: rotation versus anisotropic scaling (the paper's SVD view).

For each updated matrix W -> W' (docs/metrics.md):

* scaling: the ratios r_i = σ'_i / σ_i of the top-k singular values. A uniform rescale gives equal
  ratios; *anisotropy* = the standard deviation of log r_i (0 for no change or a uniform rescale).
* rotation: the principal angles between the top-k left singular subspaces of W and W', and between
  the right ones; *rotation* = their mean, in degrees (0 for identical subspaces, 90 orthogonal).

Each is also computed for a random update with the *same rank and the same singular values* as the
measured one, ΔW_rand = U_r diag(σ(ΔW)) V_rᵀ with random orthonormal U_r, V_r (seeded): the
baseline that says whether a method rotates or rescales *more than an update of its shape would by
chance*. A full-rank Gaussian of equal norm is the wrong null: it spreads its energy over every
direction, so any low-rank update (ROME is rank one) rotates the top subspaces more than it, and
"rotation > chance" would be built in. `*_excess` = measured / rank-matched random (> 1: more than
chance). Functions take tensors; nothing here loads a model.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch

from ksmith.cache import stable_hash
from ksmith.metrics.inputs import MetricsError
from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric

#: Top singular directions compared by default.
TOP_K = 8


@dataclass(frozen=True)
class TopSpectrum:
    """The top singular triplets of one matrix: values (descending), left and right bases as columns."""

    values: torch.Tensor
    left: torch.Tensor
    right: torch.Tensor


#: Below this fraction of the largest singular value, a Gram eigenvalue is too close to rounding to
#: give its singular vector: `top_spectrum` then takes the full SVD instead.
GRAM_FLOOR = 1e-6


def top_spectrum(w: torch.Tensor, top: int = TOP_K) -> TopSpectrum:
    """The top-`top` singular triplets of `w`, in float64, from the eigendecomposition of its smaller Gram matrix.

    Why not a full SVD: geometry needs only the top few triplets, but of every matrix a method
    touches, and fine-tuning or unlearning touches all of them (60 on SmolLM2-135M, three
    spectra each). On a 576 x 1536 matrix, one thread, `eigh(W Wᵀ)` takes about a quarter of the time
    of `torch.linalg.svd` (0.09 s against 0.38 s). Squaring costs precision only far down the spectrum;
    where a wanted singular value is below `GRAM_FLOOR` x the largest, the full SVD is used.
    """
    m = w.detach().double()
    rows, cols = m.shape
    k = min(top, rows, cols)
    wide = rows <= cols
    gram = m @ m.T if wide else m.T @ m
    eigenvalues, vectors = torch.linalg.eigh(gram)  # ascending
    values = eigenvalues.flip(0)[:k].clamp_min(0.0).sqrt()
    if k == 0 or float(values[-1]) <= GRAM_FLOOR * float(values[0]):
        u, s, vh = torch.linalg.svd(m, full_matrices=False)
        return TopSpectrum(s[:k], u[:, :k], vh[:k].T)
    near = vectors.flip(1)[:, :k]
    far = (m.T @ near if wide else m @ near) / values
    return TopSpectrum(values, near, far) if wide else TopSpectrum(values, far, near)


def spectrum_ratios(before: TopSpectrum, after: TopSpectrum) -> torch.Tensor:
    """σ'_i / σ_i over the top singular values (σ_i = 0 directions are left out)."""
    keep = before.values > 0
    return after.values[keep] / before.values[keep]


def singular_value_ratios(
    before: torch.Tensor, after: torch.Tensor, top: int = TOP_K
) -> torch.Tensor:
    """σ'_i / σ_i for the top `top` singular values (σ_i = 0 directions are left out)."""
    return spectrum_ratios(top_spectrum(before, top), top_spectrum(after, top))


def anisotropy(ratios: torch.Tensor) -> float:
    """Spread of singular-value ratios: std of log(σ'_i / σ_i); 0 for a uniform rescale."""
    ratios = ratios[ratios > 0]
    if ratios.numel() < 2:
        return 0.0
    return float(torch.log(ratios).std(unbiased=False))


def principal_angles(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Principal angles (radians, ascending) between the column spaces of `a` and `b`.

    Bases are orthonormalised first; the cosines are the singular values of Qa^T Qb.
    """
    qa, _ = torch.linalg.qr(a.double())
    qb, _ = torch.linalg.qr(b.double())
    cosines = torch.linalg.svdvals(qa.T @ qb).clamp(-1.0, 1.0)
    return torch.flip(torch.arccos(cosines), dims=(0,))


def spectrum_rotation(before: TopSpectrum, after: TopSpectrum) -> float:
    """Mean principal angle (degrees) over the left and right top singular subspaces."""
    angles = torch.cat([principal_angles(before.left, after.left), principal_angles(before.right, after.right)])
    return math.degrees(float(angles.mean()))


@dataclass(frozen=True)
class MatrixGeometry:
    """Geometry of one updated matrix, with the rank-matched random baseline."""

    name: str
    relative_norm: float
    rotation: float
    anisotropy: float
    rotation_random: float
    anisotropy_random: float


#: Singular values below this fraction of the largest count as zero when taking an update's rank.
RANK_TOL = 1e-10


def update_rank(delta: torch.Tensor, tol: float = RANK_TOL) -> int:
    """Numerical rank of an update: singular values above `tol` x the largest."""
    return _rank(torch.linalg.svdvals(delta.double()), tol)


def _rank(singular_values: torch.Tensor, tol: float = RANK_TOL) -> int:
    if singular_values.numel() == 0 or float(singular_values[0]) == 0.0:
        return 0
    return int((singular_values > tol * singular_values[0]).sum())


def _random_orthonormal(rows: int, cols: int, gen: torch.Generator) -> torch.Tensor:
    """`cols` orthonormal columns of length `rows`, uniformly distributed (QR of a Gaussian, signs fixed)."""
    # on the CPU on purpose: a CPU generator gives the same directions whatever the model's device
    q, r = torch.linalg.qr(torch.randn((rows, cols), generator=gen, dtype=torch.float64, device="cpu"))
    return q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)


def random_update(delta: torch.Tensor, seed: int) -> torch.Tensor:
    """A random update with the rank and singular values of `delta`: U_r diag(σ) V_rᵀ, random U_r, V_r."""
    d = delta.detach().double().cpu()
    s = torch.linalg.svdvals(d)
    rank = _rank(s)
    gen = torch.Generator().manual_seed(seed)
    if rank == 0:
        return torch.zeros_like(d)
    u_r = _random_orthonormal(d.shape[0], rank, gen)
    v_r = _random_orthonormal(d.shape[1], rank, gen)
    return (u_r * s[:rank]) @ v_r.T


def matrix_geometry(
    name: str,
    before: torch.Tensor,
    after: torch.Tensor,
    *,
    top: int = TOP_K,
    seed: int = 0,
) -> MatrixGeometry:
    """Rotation and anisotropy of `before -> after` and of a rank- and spectrum-matched random update."""
    if before.shape != after.shape or before.dim() != 2:
        raise MetricsError(
            f"{name}: geometry needs two matrices of one shape, got {tuple(before.shape)} and {tuple(after.shape)}"
        )
    w0 = before.detach().double().cpu()
    w1 = after.detach().double().cpu()
    delta = float(torch.linalg.matrix_norm(w1 - w0))
    w_rand = w0 + random_update(w1 - w0, int(stable_hash("geometry", name, seed), 16) % (2**63))
    base = float(torch.linalg.matrix_norm(w0))
    s0, s1, s_rand = top_spectrum(w0, top), top_spectrum(w1, top), top_spectrum(w_rand, top)
    return MatrixGeometry(
        name=name,
        relative_norm=delta / base if base else math.inf,
        rotation=spectrum_rotation(s0, s1),
        anisotropy=anisotropy(spectrum_ratios(s0, s1)),
        rotation_random=spectrum_rotation(s0, s_rand),
        anisotropy_random=anisotropy(spectrum_ratios(s0, s_rand)),
    )


def geometry_of(
    before: Mapping[str, torch.Tensor],
    after: Mapping[str, torch.Tensor],
    *,
    top: int = TOP_K,
    seed: int = 0,
) -> list[MatrixGeometry]:
    """Per updated 2-D tensor (present in both mappings and changed) its geometry; others skipped."""
    out = []
    for name, w0 in before.items():
        w1 = after.get(name)
        if w1 is None or w0.dim() != 2 or torch.equal(w0, w1):
            continue
        out.append(matrix_geometry(name, w0, w1, top=top, seed=seed))
    return out


def geometry(
    before: Mapping[str, torch.Tensor],
    after: Mapping[str, torch.Tensor],
    *,
    top: int = TOP_K,
    seed: int = 0,
) -> dict[str, Metric]:
    """Geometry metrics averaged over the updated matrices (protocol "weights"; n = matrices).

    geom_rotation / geom_rotation_random (degrees), geom_anisotropy / geom_anisotropy_random,
    geom_rotation_excess and geom_anisotropy_excess (measured / random: > 1 means more than a
    random update of the same rank and singular values), geom_relative_norm (||ΔW||_F / ||W||_F). No directions: these
    describe *how* a method changes weights, not how well.
    """
    mats = geometry_of(before, after, top=top, seed=seed)
    if not mats:
        return {}
    n = len(mats)

    def mean(values: list[float]) -> float:
        return float(np.mean(values))

    fields = {
        "geom_rotation": mean([m.rotation for m in mats]),
        "geom_rotation_random": mean([m.rotation_random for m in mats]),
        "geom_anisotropy": mean([m.anisotropy for m in mats]),
        "geom_anisotropy_random": mean([m.anisotropy_random for m in mats]),
        "geom_relative_norm": mean([m.relative_norm for m in mats]),
    }
    fields["geom_rotation_excess"] = _ratio(
        fields["geom_rotation"], fields["geom_rotation_random"]
    )
    fields["geom_anisotropy_excess"] = _ratio(
        fields["geom_anisotropy"], fields["geom_anisotropy_random"]
    )
    return {
        name: Metric(name, value, "weights", n, higher_is_better=higher_is_better(name))
        for name, value in fields.items()
    }


def _ratio(a: float, b: float) -> float:
    if b > 0:
        return a / b
    return 1.0 if a == 0 else math.inf
