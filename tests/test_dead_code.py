"""No uncalled function, class or variable in ksmith, checked with vulture over everything that can
call into it (the package with its bench grid and fixtures, the speed benchmarks, the parity
harness, the tests, the example method), with `tests/vulture_whitelist.py` for what frameworks and
templates use by name."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCANNED = ("ksmith", "bench/perf", "bench/parity", "tests", "examples")


def dead_code(*paths: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "vulture", *paths, "--min-confidence", "60"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    if proc.returncode not in (0, 3):  # 3: dead code found
        raise RuntimeError(f"vulture failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout.splitlines()


def test_ksmith_has_no_dead_code() -> None:
    pytest.importorskip("vulture", reason="the dead-code check needs vulture: pip install -e '.[dev]'")
    found = [line for line in dead_code(*SCANNED, "tests/vulture_whitelist.py") if line.startswith("ksmith/")]
    assert found == []


def test_the_check_finds_a_planted_uncalled_function(tmp_path: Path) -> None:
    pytest.importorskip("vulture", reason="the dead-code check needs vulture: pip install -e '.[dev]'")
    planted = tmp_path / "planted.py"
    planted.write_text("def used():\n    return 1\n\n\ndef never_called():\n    return 2\n\n\nprint(used())\n")
    found = dead_code(str(planted))
    assert len(found) == 1 and "never_called" in found[0]
