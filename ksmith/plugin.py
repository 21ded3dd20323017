"""The ksmith pytest plugin (registered through the `pytest11` entry point).

Set-up that every ksmith session needs: no hub access at run time, and one share of the cores per
pytest-xdist worker (a trial here: 31 s with one torch thread per worker, 312 s without).
"""

from __future__ import annotations

import os

import pytest


def worker_count(config: pytest.Config) -> int:
    """How many xdist workers share this machine (1 when not under xdist)."""
    raw = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if raw:
        return max(1, int(raw))
    numprocesses = getattr(config.option, "numprocesses", None)
    return max(1, int(numprocesses)) if isinstance(numprocesses, int) and numprocesses > 0 else 1


def threads_per_worker(cores: int, workers: int) -> int:
    """Each worker's share of the cores, at least one thread."""
    return max(1, cores // max(1, workers))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if os.environ.get("PYTEST_XDIST_WORKER"):
        threads = threads_per_worker(os.cpu_count() or 1, worker_count(config))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        import torch

        torch.set_num_threads(threads)
