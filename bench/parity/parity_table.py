"""The parity harness's arithmetic and tables: pure functions of tensors and numbers, no model.

Per edited matrix, the update each side made (ΔW = W' - W) is compared by its cosine (are they the
same direction?) and its norm ratio ‖ΔW_ksmith‖ / ‖ΔW_reference‖ (the same size?); per unlearning
loss, the two loss values and the cosine of the two gradients. The verdicts use issue 28's
thresholds (`EDIT_COSINE`, `LOSS_TOLERANCE`, `GRAD_COSINE`).
"""

from __future__ import annotations

import math
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

#: Issue 28's thresholds: editors' update cosine, unlearners' loss difference and gradient cosine.
EDIT_COSINE = 0.95
LOSS_TOLERANCE = 1e-5
GRAD_COSINE = 0.999

#: The reference commits ksmith's methods follow (docs/methods.md).
PINNED: dict[str, str] = {
    "EasyEdit": "14cea8245f06715684592ab55184939b99d70784",
    "open-unlearning": "d3d7cf9e6b3c125d16687d4232680d8d83548f1a",
}


def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    """Cosine of two tensors flattened, in float64 (nan when either is zero)."""
    x, y = a.detach().double().flatten(), b.detach().double().flatten()
    denom = float(x.norm() * y.norm())
    return float(x @ y) / denom if denom > 0 else math.nan


def norm_ratio(a: torch.Tensor, b: torch.Tensor) -> float:
    """‖a‖ / ‖b‖ in float64 (nan when b is zero)."""
    den = float(b.detach().double().norm())
    return float(a.detach().double().norm()) / den if den > 0 else math.nan


def joined(tensors: Sequence[torch.Tensor | None], like: Sequence[torch.Tensor]) -> torch.Tensor:
    """One float64 vector of several tensors (a missing one, e.g. a gradient that never reached a
    parameter, counts as zeros of the shape of its partner in `like`)."""
    parts = [(t if t is not None else torch.zeros_like(ref)).detach().double().flatten()
             for t, ref in zip(tensors, like)]
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


@dataclass(frozen=True)
class UpdateComparison:
    """One edited matrix (or `"all"`, their concatenation) of one edit run."""

    method: str
    run: str  # which facts: "fact 3" for a one-fact run, "batch of N" for a batched one
    matrix: str
    cosine: float
    norm_ratio: float
    ksmith_norm: float
    reference_norm: float


def compare_updates(method: str, run: str, ksmith: Mapping[str, torch.Tensor],
                    reference: Mapping[str, torch.Tensor]) -> list[UpdateComparison]:
    """Per matrix both sides changed (in ksmith's order), then `"all"` over them together when more
    than one. A matrix only one side changed is compared with zeros (cosine nan, a miss)."""
    names = list(dict.fromkeys([*ksmith, *reference]))
    rows = []
    for name in names:
        a = ksmith.get(name)
        b = reference.get(name)
        a = torch.zeros_like(b) if a is None else a
        b = torch.zeros_like(a) if b is None else b
        rows.append(UpdateComparison(method, run, name, cosine(a, b), norm_ratio(a, b),
                                     float(a.double().norm()), float(b.double().norm())))
    if len(names) > 1:
        a = joined([ksmith.get(n) for n in names], [reference.get(n, ksmith.get(n)) for n in names])
        b = joined([reference.get(n) for n in names], [ksmith.get(n, reference.get(n)) for n in names])
        rows.append(UpdateComparison(method, run, "all", cosine(a, b), norm_ratio(a, b),
                                     float(a.norm()), float(b.norm())))
    return rows


@dataclass(frozen=True)
class FactOutcome:
    """Whether the new object became the direct prompt's argmax answer on each side, and the
    target's mean token NLL after the edit (each side's edited model, the edited prompt)."""

    method: str
    fact: str
    ksmith_success: bool
    reference_success: bool
    ksmith_nll: float
    reference_nll: float


def edit_summary(method: str, updates: Sequence[UpdateComparison], facts: Sequence[FactOutcome]) -> dict[str, object]:
    """One row of the editing table: the update cosines of every run's overall update (`"all"`, or
    its single matrix), their norm ratios, successes per side, agreement, and the verdict."""
    overall = _overall(updates)
    cosines = [u.cosine for u in overall]
    ratios = [u.norm_ratio for u in overall]
    same = sum(f.ksmith_success == f.reference_success for f in facts)
    ok = bool(cosines) and min(cosines) >= EDIT_COSINE and same == len(facts)
    return {
        "method": method,
        "runs": len(overall),
        "cosine min": f"{min(cosines):.6f}" if cosines else "nan",
        "cosine median": f"{_median(cosines):.6f}",
        "norm ratio": _span(ratios),
        "success ksmith": f"{sum(f.ksmith_success for f in facts)}/{len(facts)}",
        "success reference": f"{sum(f.reference_success for f in facts)}/{len(facts)}",
        "same facts": f"{same}/{len(facts)}",
        "target NLL ksmith / ref (median)": f"{_median([f.ksmith_nll for f in facts]):.3f} / "
        f"{_median([f.reference_nll for f in facts]):.3f}",
        f"cos ≥ {EDIT_COSINE} and same facts": "yes" if ok else "NO",
    }


def _overall(updates: Sequence[UpdateComparison]) -> list[UpdateComparison]:
    """Per run, its `"all"` row, or its one matrix when it edited one."""
    runs: dict[str, list[UpdateComparison]] = {}
    for u in updates:
        runs.setdefault(u.run, []).append(u)
    return [next((u for u in rows if u.matrix == "all"), rows[0]) for rows in runs.values()]


@dataclass(frozen=True)
class LossComparison:
    """One unlearning loss on one batch, at one point (the original weights, or after an update)."""

    method: str
    point: str
    ksmith_loss: float
    reference_loss: float
    grad_cosine: float
    grad_norm_ratio: float

    @property
    def loss_diff(self) -> float:
        return abs(self.ksmith_loss - self.reference_loss)

    @property
    def ok(self) -> bool:
        return self.loss_diff <= LOSS_TOLERANCE and self.grad_cosine >= GRAD_COSINE


def loss_row(c: LossComparison) -> dict[str, object]:
    return {
        "method": c.method,
        "weights": c.point,
        "loss ksmith": f"{c.ksmith_loss:.8f}",
        "loss reference": f"{c.reference_loss:.8f}",
        "|Δloss|": f"{c.loss_diff:.1e}",
        "grad cosine": f"{c.grad_cosine:.6f}",
        "grad norm ratio": f"{c.grad_norm_ratio:.6f}",
        f"|Δ| ≤ {LOSS_TOLERANCE:g}, cos ≥ {GRAD_COSINE}": "yes" if c.ok else "NO",
    }


def update_row(u: UpdateComparison) -> dict[str, object]:
    return {"method": u.method, "run": u.run, "matrix": u.matrix, "cosine": f"{u.cosine:.6f}",
            "norm ratio": f"{u.norm_ratio:.4f}", "‖ΔW‖ ksmith": f"{u.ksmith_norm:.4g}",
            "‖ΔW‖ ref": f"{u.reference_norm:.4g}"}


def markdown(rows: Sequence[Mapping[str, object]]) -> str:
    """A GitHub table of dict rows (the keys of the first row are the header); floats to 4 places."""
    if not rows:
        return "(nothing measured)"
    head = list(rows[0])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(k, "")) for k in head) + " |")
    return "\n".join(lines)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return "nan" if math.isnan(value) else f"{value:.4f}"
    return str(value)


def _median(values: Sequence[float]) -> float:
    kept = sorted(v for v in values if not math.isnan(v))
    if not kept:
        return math.nan
    mid = len(kept) // 2
    return kept[mid] if len(kept) % 2 else (kept[mid - 1] + kept[mid]) / 2


def _span(values: Sequence[float]) -> str:
    kept = [v for v in values if not math.isnan(v)]
    if not kept:
        return "nan"
    lo, hi = min(kept), max(kept)
    return f"{lo:.4f}" if lo == hi else f"{lo:.4f}-{hi:.4f}"


def checkout_commit(path: str | Path) -> str | None:
    """The commit a git checkout is at, or None when `path` is not one (or git is missing)."""
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True,
                             text=True, check=False)
    except OSError:
        return None
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else None


def commit_note(name: str, found: str | None) -> str:
    """One line saying which commit of reference `name` ran, with a warning when it is not the pinned one."""
    pinned = PINNED[name]
    if found is None:
        return f"WARNING: {name}: not a git checkout, commit unknown (ksmith follows {pinned[:7]})"
    if found != pinned:
        return f"WARNING: {name} checkout is at {found[:7]}, not the pinned {pinned[:7]}: figures may differ"
    return f"{name} at {found[:7]} (pinned)"
