"""What `pip install ksmith` puts on disk holds everything `ksmith ci` and the harness need without a
checkout: the bench grid and its fixtures, the shipped tiny models, the committed known sets, the
real world and the report templates."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
NEEDED = (
    "ksmith/bench/test_update.py",
    "ksmith/bench/test_findings.py",
    "ksmith/bench/conftest.py",
    "ksmith/fixtures/harness.py",
    "ksmith/models/embedded/tiny-kg/model.safetensors",
    "ksmith/models/embedded/tiny-kg-small/ksmith_tiny.json",
    "ksmith/known/sets/smollm2-135m.json",
    "ksmith/world/real/real_world.json",
    "ksmith/report/templates/index.html.j2",
)


def test_a_wheel_install_holds_the_bench_its_fixtures_and_the_data(tmp_path: Path) -> None:
    source = tmp_path / "src"  # built from a copy: a build writes build/ and *.egg-info beside the sources
    shutil.copytree(REPO / "ksmith", source / "ksmith", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    target = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(target), str(source)],
        capture_output=True, text=True, check=False, timeout=600, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    missing = [path for path in NEEDED if not (target / path).is_file()]
    assert missing == []
    assert not (target / "tests").exists() and not (target / "bench" / "perf").exists()
