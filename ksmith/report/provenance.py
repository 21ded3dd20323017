"""Provenance of a result: what code, packages, hardware and inputs produced it.

`git_commit` and `package_versions` are read once per process by the caller (a session fixture)
and passed in, so recording a case costs nothing.
"""

from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

PACKAGES: tuple[str, ...] = ("ksmith", "torch", "transformers", "peft", "tokenizers", "numpy", "networkx")


def git_commit(root: Path) -> str | None:
    """The commit checked out at `root` (with `+dirty` when files differ), or None outside git."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root, capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if dirty else commit


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a result depends on, plus Python's."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
