"""The data flows one way (docs/architecture.md), checked on the source: every import, including the
lazy ones inside functions and the type-only ones under `TYPE_CHECKING`, and every call that runs a
model.

- Each top-level part of `ksmith` (a subpackage or a module) sits on one floor of `LAYERS` and imports
  only from its own floor or below; the parts form no circle.
- No forward pass in `ksmith/metrics`: no call of a model object, no `output_hidden_states`, no
  `.backward()`; drift goes through `ksmith.scoring.next_token`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

import networkx as nx
import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ksmith"

#: The floors, lowest first: world -> probes -> models -> methods -> attacks (which train and
#: quantise as methods do) -> scoring -> metrics -> report, with
#: the foundations under them and, above, what reads whole runs or needs a model and a scorer
#: (grid presets, known sets, findings), then the entry points (the pytest plugin, the conformance
#: suite, the bench grid's fixtures and cases, `ksmith ci`, the CLIs).
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "cache", "tokens", "progress"),
    ("world",),
    ("probes",),
    ("models",),
    ("methods",),
    ("attacks",),
    ("scoring",),
    ("metrics",),
    ("report",),
    ("grid",),
    ("known",),
    ("findings",),
    ("plugin", "conformance"),
    ("fixtures",),
    ("bench",),
    ("ci",),
    ("cli", "cache_cli", "docs", "__init__"),
)
FLOOR: dict[str, int] = {part: floor for floor, parts in enumerate(LAYERS) for part in parts}


def part_of(path: Path, root: Path = PACKAGE) -> str:
    """The top-level part a source file belongs to: `ksmith/metrics/case.py` -> metrics."""
    rel = path.relative_to(root)
    return rel.parts[0] if len(rel.parts) > 1 else rel.stem


def imported_parts(path: Path) -> set[str]:
    """The ksmith parts a file imports, anywhere in it (functions and `TYPE_CHECKING` blocks too)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        names: Iterable[str] = ()
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.add(f"<relative import in {path.name}>")
                continue
            names = [node.module or ""] + [f"{node.module}.{alias.name}" for alias in node.names]
        for name in names:
            pieces = name.split(".")
            if pieces[0] == "ksmith" and len(pieces) > 1:
                out.add(pieces[1])
    return out


def import_graph(root: Path = PACKAGE) -> dict[str, dict[str, list[str]]]:
    """part -> imported part -> the files that import it."""
    graph: dict[str, dict[str, list[str]]] = {}
    for path in sorted(root.rglob("*.py")):
        here = part_of(path, root)
        for there in imported_parts(path):
            if there != here:
                graph.setdefault(here, {}).setdefault(there, []).append(str(path.relative_to(root.parent)))
    return graph


def against_the_flow(graph: Mapping[str, Mapping[str, list[str]]]) -> list[str]:
    bad = []
    for here, targets in sorted(graph.items()):
        for there, files in sorted(targets.items()):
            if here not in FLOOR or there not in FLOOR:
                bad.append(f"{here} -> {there}: a part not on any floor of LAYERS ({', '.join(files)})")
            elif FLOOR[there] > FLOOR[here]:
                bad.append(f"{here} (floor {FLOOR[here]}) imports {there} (floor {FLOOR[there]}): {', '.join(files)}")
    return bad


def circles(graph: Mapping[str, Mapping[str, list[str]]]) -> list[list[str]]:
    return sorted(sorted(cycle) for cycle in nx.simple_cycles(nx.DiGraph([(a, b) for a in graph for b in graph[a]])))


def test_every_import_follows_the_layer_order() -> None:
    assert against_the_flow(import_graph()) == []


def test_the_parts_form_no_circle() -> None:
    assert circles(import_graph()) == []


def test_every_part_of_the_package_is_on_a_floor() -> None:
    parts = {part_of(path) for path in PACKAGE.rglob("*.py")}
    assert parts - set(FLOOR) == set()


def test_the_checks_catch_planted_violations(tmp_path: Path) -> None:
    """The detectors fire on planted code (so the tests above cannot pass vacuously): a lazy import
    against the flow, a type-only one, a relative one and a circle."""
    root = tmp_path / "ksmith"
    (root / "world").mkdir(parents=True)
    (root / "metrics").mkdir()
    (root / "world" / "world.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from ksmith.probes.types import Intervention\n"
        "def apply():\n"
        "    from ksmith.metrics import compute\n"
    )
    (root / "metrics" / "case.py").write_text("import ksmith.world.world\nfrom . import diagnostics\n")
    graph = import_graph(root)
    bad = against_the_flow(graph)
    assert any(line.startswith("world (floor 1) imports metrics") for line in bad), bad
    assert any(line.startswith("world (floor 1) imports probes") for line in bad), bad
    assert any("relative import in case.py" in line for line in bad), bad
    assert ["metrics", "world"] in circles(graph)


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
    found = [f for path in sorted((PACKAGE / "metrics").rglob("*.py")) for f in _forward_passes(path)]
    assert found == []


def test_the_forward_pass_check_catches_what_it_looks_for(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "def f(lm, ids):\n"
        "    out = lm(input_ids=ids, output_hidden_states=True)\n"
        "    out.loss.backward()\n"
    )
    assert len(_forward_passes(planted)) == 3


@pytest.mark.parametrize("part", ["world", "probes", "models", "methods", "metrics", "report", "known", "findings"])
def test_every_floor_is_where_the_tests_look(part: str) -> None:
    assert (PACKAGE / part).is_dir()
