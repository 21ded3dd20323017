"""The data flows one way (DESIGN.md §2), checked on the source: every import, including the lazy ones
inside functions, and every call that runs a model.

- `ksmith/probes` (and `ksmith/world`) never import `ksmith/methods`: the update request is data.
- `ksmith/metrics` never imports `ksmith/models` (where models are built and trained) or
  `ksmith/methods`: metrics compare scores, they never train or update.
- No forward pass in `ksmith/metrics` outside `ksmith/scoring.py`: no call of a model object, no
  `output_hidden_states`, no `.backward()`; drift goes through `ksmith.scoring.next_token`.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ksmith"


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
    return out


def _forbidden(folders: tuple[str, ...], banned: tuple[str, ...]) -> list[str]:
    bad = []
    for folder in folders:
        for path in _modules(folder):
            for name in _imports(path):
                if any(name == b or name.startswith(b + ".") for b in banned):
                    bad.append(f"{path.relative_to(PACKAGE.parent)} imports {name}")
    return bad


def test_probes_and_world_never_import_methods() -> None:
    assert _forbidden(("probes", "world"), ("ksmith.methods",)) == []


def test_metrics_never_import_model_building_or_training_code() -> None:
    assert _forbidden(("metrics",), ("ksmith.models", "ksmith.methods")) == []


_MODEL_NAMES = {"lm", "model", "oracle"}


def _forward_passes(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            callee = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if callee in _MODEL_NAMES or callee in {"forward", "backward", "generate"}:
                found.append(f"{path.name}:{node.lineno} calls {callee}(...)")
            if any(k.arg == "output_hidden_states" for k in node.keywords):
                found.append(f"{path.name}:{node.lineno} asks for hidden states")
    return found


def test_no_forward_pass_in_metrics() -> None:
    found = [f for path in _modules("metrics") for f in _forward_passes(path)]
    assert found == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """The detectors themselves fire on planted code (so the tests above cannot pass vacuously)."""
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def f(lm, ids):\n"
        "    from ksmith.models.tiny import pretrain\n"
        "    out = lm(input_ids=ids, output_hidden_states=True)\n"
        "    out.loss.backward()\n"
    )
    assert "ksmith.models.tiny.pretrain" in _imports(planted)
    assert len(_forward_passes(planted)) == 3


@pytest.mark.parametrize("folder", ["probes", "metrics", "world"])
def test_every_module_is_parsed(folder: str) -> None:
    assert _modules(folder)  # the folders exist where the tests look
