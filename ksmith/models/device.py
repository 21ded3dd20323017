"""Where a model runs: CUDA when there is one, else the CPU; one GPU per pytest-xdist worker.

Under pytest-xdist every worker is a separate process named `gw0`, `gw1`, ...; giving worker K the GPU
K mod n spreads a grid over all GPUs without any coordination between workers.
"""

from __future__ import annotations

import os
import re

from ksmith.errors import ModelError

_DEVICE = re.compile(r"^(cpu|mps|cuda)(:\d+)?$")


def _worker_index() -> int | None:
    """The xdist worker number (gw3 -> 3), or None outside pytest-xdist."""
    match = re.fullmatch(r"gw(\d+)", os.environ.get("PYTEST_XDIST_WORKER", ""))
    return int(match.group(1)) if match else None


def select_device(requested: str | None = None) -> str:
    """The torch device string to use.

    `requested` wins when given (and is checked: asking for CUDA on a machine without it is an
    error, not a silent fall-back to a 100x slower run). Without it: `cuda:K mod n` under xdist
    worker `gwK` when CUDA is available, `cuda:0` outside xdist, else `cpu`.
    """
    import torch

    if requested is not None:
        requested = requested.strip().lower()
        if not _DEVICE.match(requested):
            raise ModelError(f"unknown device {requested!r}; use cpu, cuda, cuda:N or mps")
        if requested.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ModelError(f"device {requested!r} asked for but CUDA is not available; use --device cpu")
            if ":" in requested and int(requested.split(":")[1]) >= torch.cuda.device_count():
                raise ModelError(
                    f"device {requested!r} does not exist: this machine has "
                    f"{torch.cuda.device_count()} CUDA device(s)"
                )
        return requested
    if torch.cuda.is_available() and torch.cuda.device_count() > 0:
        worker = _worker_index()
        return f"cuda:{(worker or 0) % torch.cuda.device_count()}"
    return "cpu"


def default_dtype(device: str) -> str:
    """bfloat16 on CUDA (half the memory and the tensor cores' native type; an 8B model fits one
    GPU), float32 elsewhere (CPUs gain little from bf16, and the CPU tests compare scores at 1e-4)."""
    return "bfloat16" if str(device).startswith("cuda") else "float32"


def resolve_dtype(name: str | None, device: str) -> str:
    """Canonical dtype name: the given one, else `default_dtype(device)`."""
    if name is None:
        return default_dtype(device)
    aliases = {"fp32": "float32", "float": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16"}
    canonical = aliases.get(name.strip().lower(), name.strip().lower())
    if canonical not in ("float32", "float16", "bfloat16"):
        raise ModelError(f"unknown dtype {name!r}; use float32, float16 or bfloat16")
    if canonical == "float16" and device == "cpu":
        raise ModelError("float16 is not supported for CPU inference here; use float32 or bfloat16")
    return canonical
