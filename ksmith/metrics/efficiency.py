"""Efficiency of an update: wall time of the update and of scoring, peak memory, parameters touched."""

from __future__ import annotations

import resource
import sys
from typing import Any

from ksmith.metrics.record import Metric


def peak_memory_mb() -> float:
    """The process's peak resident memory so far, in MiB (CUDA: peak allocated on the current device).

    This is a high-water mark for the whole process, not for one case: under xdist each worker's
    first big case sets it. It still answers "does this method fit", which is what it is for.
    """
    try:
        import torch

        if torch.cuda.is_available() and torch.cuda.is_initialized():
            return torch.cuda.max_memory_allocated() / 2**20
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (
        peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    )  # bytes on macOS, KiB on Linux


def parameters_touched(lm: Any, touched: tuple[str, ...]) -> tuple[int, int]:
    """(elements in the touched tensors, elements in the model)."""
    sizes = {name: p.numel() for name, p in lm.named_parameters()}
    return sum(sizes.get(name, 0) for name in set(touched)), sum(sizes.values())


def efficiency(
    result: Any,
    *,
    score_s: float | None = None,
    lm: Any = None,
    peak_mb: float | None = None,
) -> dict[str, Metric]:
    """`update_s`, `score_s`, `params_touched`, `params_touched_frac`, `peak_mem_mb` (protocol "cost").

    result: the method's `UpdateResult` (its `wall_s` and `touched`). Lower is better for all.
    """
    out = {
        "update_s": Metric(
            "update_s", float(result.wall_s), "cost", 1, higher_is_better=False
        )
    }
    if score_s is not None:
        out["score_s"] = Metric(
            "score_s", float(score_s), "cost", 1, higher_is_better=False
        )
    if lm is not None:
        touched, total = parameters_touched(lm, tuple(result.touched))
        out["params_touched"] = Metric(
            "params_touched", float(touched), "cost", 1, higher_is_better=False
        )
        out["params_touched_frac"] = Metric(
            "params_touched_frac",
            touched / total if total else 0.0,
            "cost",
            1,
            higher_is_better=False,
        )
    if peak_mb is not None:
        out["peak_mem_mb"] = Metric(
            "peak_mem_mb", float(peak_mb), "cost", 1, higher_is_better=False
        )
    return out
