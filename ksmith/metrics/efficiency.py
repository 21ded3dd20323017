"""Efficiency of an update: wall time of the update and of scoring, peak memory, parameters touched."""

from __future__ import annotations

import resource
import sys
from pathlib import Path
from typing import Any

from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric

_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def reset_peak_memory() -> bool:
    """Start a new peak-memory window (before an update), so `peak_memory_mb` is this case's peak.

    CUDA: `torch.cuda.reset_peak_memory_stats`. CPU on Linux: writing "5" to /proc/self/clear_refs
    resets the process's resident high-water mark (VmHWM). Returns False where no reset is possible
    (then `peak_memory_mb` stays the process-wide high-water mark, and the result says so).
    """
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()
        return True
    try:
        _CLEAR_REFS.write_text("5")
        return True
    except OSError:
        return False


def peak_memory_mb() -> float:
    """Peak memory since the last `reset_peak_memory`, in MiB (CUDA: peak allocated on the current
    device; CPU: peak resident set, VmHWM, which includes the model and everything already loaded)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 2**10  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes on macOS, KiB on Linux


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
            "update_s", float(result.wall_s), "cost", 1, higher_is_better=higher_is_better("update_s")
        )
    }
    if score_s is not None:
        out["score_s"] = Metric(
            "score_s", float(score_s), "cost", 1, higher_is_better=higher_is_better("score_s")
        )
    if lm is not None:
        touched, total = parameters_touched(lm, tuple(result.touched))
        out["params_touched"] = Metric(
            "params_touched", float(touched), "cost", 1, higher_is_better=higher_is_better("params_touched")
        )
        out["params_touched_frac"] = Metric(
            "params_touched_frac",
            touched / total if total else 0.0,
            "cost",
            1,
            higher_is_better=higher_is_better("params_touched_frac"),
        )
    if peak_mb is not None:
        out["peak_mem_mb"] = Metric(
            "peak_mem_mb", float(peak_mb), "cost", 1, higher_is_better=higher_is_better("peak_mem_mb")
        )
    return out
