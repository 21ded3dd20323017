"""Every tensor methods, scoring and metrics create names its device (docs/architecture.md).

A tensor factory without `device=` lands on the CPU whatever the model's device, which on CUDA is a
device mismatch at the next operation (or, worse, a silent host round trip). `*_like` factories
inherit the device of their argument and are fine. The walk is over the source (AST), so a new
module is covered the moment it is added.
"""

from __future__ import annotations

import ast
from pathlib import Path

import ksmith

#: torch functions that create a tensor from nothing (or from Python data).
FACTORIES = frozenset({
    "eye", "zeros", "ones", "empty", "full", "rand", "randn", "randint", "randperm", "tensor",
    "as_tensor", "arange", "linspace", "logspace", "range", "scalar_tensor", "empty_strided",
    "normal", "bernoulli", "tril_indices", "triu_indices",
})

ROOT = Path(ksmith.__file__).resolve().parent
SCANNED = [*(ROOT / "methods").rglob("*.py"), *(ROOT / "scoring").rglob("*.py"), *(ROOT / "metrics").rglob("*.py")]


def factory_calls_without_device(source: str) -> list[tuple[int, str]]:
    """(line, name) of every `torch.<factory>(...)` call in `source` that passes no `device=`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        func = node.func
        if not (isinstance(func.value, ast.Name) and func.value.id == "torch"):
            continue
        if func.attr not in FACTORIES or func.attr.endswith("_like"):
            continue
        if not any(keyword.arg == "device" for keyword in node.keywords):
            found.append((node.lineno, f"torch.{func.attr}"))
    return found


def test_the_walk_finds_the_modules():
    names = {path.name for path in SCANNED}
    assert {"engine.py", "rome.py", "alphaedit.py", "locate.py"} <= names


def test_the_check_catches_a_factory_without_device():
    source = "import torch\nx = torch.eye(3, dtype=torch.float64)\ny = torch.zeros_like(x)\nz = torch.ones(2, device=x.device)\n"
    assert factory_calls_without_device(source) == [(2, "torch.eye")]


def test_every_tensor_factory_names_its_device():
    offenders = [
        f"{path.relative_to(ROOT.parent)}:{line}: {name}"
        for path in SCANNED
        for line, name in factory_calls_without_device(path.read_text(encoding="utf-8"))
    ]
    assert not offenders, "tensor factories without device= (pass the model's device):\n" + "\n".join(offenders)
