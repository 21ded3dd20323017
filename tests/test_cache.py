"""The cache cannot go stale: its code version follows the bytes of ksmith's source."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ksmith import cache
from ksmith.cli import main


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    root = tmp_path / "ksmith"
    shutil.copytree(cache.PACKAGE_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def test_changing_one_byte_of_any_source_file_changes_the_code_version(package_copy: Path) -> None:
    files = sorted(p for p in package_copy.rglob("*") if p.is_file())
    assert len(files) > 50  # the whole package, not a handful of modules
    base = cache.code_version(root=package_copy)
    seen = {base}
    for path in files:
        data = path.read_bytes()
        path.write_bytes(data[:-1] + bytes([(data[-1] + 1) % 256]) if data else b"x")
        cache._code_version.cache_clear()
        changed = cache.code_version(root=package_copy)
        path.write_bytes(data)
        assert changed != base, f"editing {path.relative_to(package_copy)} left the code version unchanged"
        seen.add(changed)
    cache._code_version.cache_clear()
    assert cache.code_version(root=package_copy) == base  # restored bytes, restored version


def test_a_kind_ignores_changes_to_parts_it_does_not_depend_on(package_copy: Path) -> None:
    models = cache.code_version(*cache.CACHE_PARTS["models"], root=package_copy)
    whole = cache.code_version(root=package_copy)
    report = package_copy / "world" / "builders.py"  # the world's content is in the key via its hash
    report.write_text(report.read_text() + "\n# unrelated\n")
    cache._code_version.cache_clear()
    assert cache.code_version(*cache.CACHE_PARTS["models"], root=package_copy) == models
    assert cache.code_version(root=package_copy) != whole
    tiny = package_copy / "models" / "tiny.py"
    tiny.write_text(tiny.read_text() + "\n# trainer change\n")
    cache._code_version.cache_clear()
    assert cache.code_version(*cache.CACHE_PARTS["models"], root=package_copy) != models


def test_a_known_set_survives_a_snapshot_change_but_not_a_loader_change(package_copy: Path) -> None:
    """Measuring SmolLM2's known set costs minutes: the harness's snapshot is not part of it (the
    weights are in its key by hash), the code that loads the model is."""
    known = cache.code_version(*cache.CACHE_PARTS["known"], root=package_copy)
    for name, moves in (("snapshot.py", False), ("hub.py", True)):
        path = package_copy / "models" / name
        path.write_text(path.read_text() + f"\n# {name} change\n")
        cache._code_version.cache_clear()
        assert (cache.code_version(*cache.CACHE_PARTS["known"], root=package_copy) != known) is moves, name
    cache._code_version.cache_clear()


def test_datasets_move_with_every_world_module_that_shapes_a_probe(package_copy: Path) -> None:
    """The distractor shapes and the world document left world.py for modules of their own; the
    datasets they shape must still be re-keyed when they change."""
    for name in ("shapes.py", "document.py", "world.py"):
        datasets = cache.code_version(*cache.CACHE_PARTS["datasets"], root=package_copy)
        path = package_copy / "world" / name
        path.write_text(path.read_text() + f"\n# {name} change\n")
        cache._code_version.cache_clear()
        assert cache.code_version(*cache.CACHE_PARTS["datasets"], root=package_copy) != datasets, name
    cache._code_version.cache_clear()


def test_code_version_holds_the_torch_and_transformers_versions(package_copy: Path, monkeypatch) -> None:
    base = cache.code_version(root=package_copy)
    monkeypatch.setattr(cache, "_package_versions", lambda: {"torch": "0.0", "transformers": "0.0"})
    cache._code_version.cache_clear()
    assert cache.code_version(root=package_copy) != base
    cache._code_version.cache_clear()


def test_every_part_named_in_the_table_exists() -> None:
    for kind in cache.CACHE_PARTS:
        assert len(cache.kind_version(kind)) == 16


def test_cache_info_and_clear(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    cache.atomic_write_text(cache.entry("scores", "a.json"), "x" * 100)
    cache.atomic_write_text(cache.entry("datasets", "b.jsonl"), "y")
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "scores" in out and "datasets" in out and cache.code_version() in out
    assert main(["cache", "clear", "nosuchkind"]) == 2
    assert "present: datasets, scores" in capsys.readouterr().err
    assert (tmp_path / "scores" / "a.json").is_file()  # a typo deletes nothing
    assert main(["cache", "clear", "scores"]) == 0
    assert not (tmp_path / "scores").exists() and (tmp_path / "datasets" / "b.jsonl").is_file()
    assert main(["cache", "clear"]) == 0
    assert cache.usage(tmp_path) == []
