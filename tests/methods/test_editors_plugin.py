"""Third-party methods: the example package under examples/ is found through its entry point.

Nothing is installed: the test writes the `.dist-info` metadata that `pip install` would write
(name, version and the entry points declared in the example's own pyproject.toml) into a temp dir
on `sys.path`, so `importlib.metadata` discovers it exactly as it would an installed package.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest

from ksmith.cli import main
from ksmith.conformance import checks
from ksmith.methods import registry

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ksmith-example-method"


@pytest.fixture
def example_installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """Make the example discoverable; give the registry a private copy that forgets it afterwards."""
    registry.available_methods()  # built-ins registered in the real table, before the plug-in is visible
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())["project"]
    info = tmp_path / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir()
    info.joinpath("METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n"
    )
    lines = []
    for group, entries in project["entry-points"].items():
        lines.append(f"[{group}]")
        lines += [f"{name} = {target}" for name, target in entries.items()]
    info.joinpath("entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_DISCOVERED", False)
    monkeypatch.delitem(sys.modules, "ksmith_example_method", raising=False)
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    (name,) = project["entry-points"]["ksmith.methods"]
    return name


def test_example_method_is_found_through_its_entry_point(example_installed: str) -> None:
    info = registry.method_info(example_installed)
    assert info.cls.__module__ == "ksmith_example_method"
    assert info.families == frozenset({"edit"})
    assert info.origin == f"entry point ksmith-example-method:{example_installed}"
    assert "rome" in registry.available_methods()  # built-ins are still there


def test_ksmith_methods_lists_the_plugin_with_its_origin(
    example_installed: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith(example_installed))
    assert "edit" in line and "entry point ksmith-example-method" in line
    assert any(line.startswith("rome ") for line in out.splitlines())


@pytest.mark.parametrize("check", ["only_declared_change", "changes_something", "order_independent", "empty_request"])
def test_example_method_passes_the_conformance_checks(example_installed: str, check: str) -> None:
    checks.CHECKS[check](example_installed, "edit", "gpt2")


def test_a_broken_entry_point_does_not_hide_the_others(
    example_installed: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    info = next(tmp_path.glob("*.dist-info"))
    text = info.joinpath("entry_points.txt").read_text()
    info.joinpath("entry_points.txt").write_text(text + "broken = no_such_module_xyz:Nothing\n")
    methods = registry.available_methods()
    assert example_installed in methods and "broken" not in methods
    assert "broken" in caplog.text


def test_ksmith_methods_names_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    import json

    assert main(["methods", "rome", "ike", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["method"], r["family"], r["origin"]) for r in rows] == [
        ("rome", "edit,unlearn", "ksmith"),
        ("ike", "edit", "ksmith"),
    ]


def test_ksmith_methods_unknown_name_exits_2_with_a_suggestion(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["methods", "memitt"]) == 2
    assert "Did you mean 'memit'?" in capsys.readouterr().err
