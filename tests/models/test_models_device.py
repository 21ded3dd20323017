import pytest
import torch

from ksmith.errors import ModelError
from ksmith.models.device import resolve_dtype, select_device


def test_cpu_when_no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert select_device(None) == "cpu"
    assert select_device("cpu") == "cpu"


def test_cuda_requested_without_cuda_is_an_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ModelError, match="CUDA is not available"):
        select_device("cuda")


def test_xdist_worker_k_gets_gpu_k_mod_n(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    assert select_device(None) == "cuda:1"
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw4")
    assert select_device(None) == "cuda:0"
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert select_device(None) == "cuda:0"


def test_bad_device_and_dtype_names():
    with pytest.raises(ModelError, match="unknown device"):
        select_device("tpu")
    with pytest.raises(ModelError, match="unknown dtype"):
        resolve_dtype("float8", "cpu")
    assert resolve_dtype("bf16", "cpu") == "bfloat16"
    assert resolve_dtype(None, "cpu") == "float32"
    assert resolve_dtype(None, "cuda:0") == "bfloat16"  # the default on a GPU (no CUDA needed to resolve it)
