"""The one on-disk cache: everything expensive is keyed by the hash of everything it depends on.

Keys are content hashes, never names: two different models or datasets can never share an entry.
The root is `$KSMITH_CACHE` when set, else `~/.cache/ksmith`. Writes are atomic (temp file + rename)
so an interrupted run never leaves a half-written entry that a later run would trust.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

#: Bump when a change to ksmith's code would change what a cache entry holds.
CODE_VERSION = "1"


def cache_root() -> Path:
    """The cache directory (created on first use, not at import)."""
    root = Path(os.environ.get("KSMITH_CACHE") or Path.home() / ".cache" / "ksmith")
    root.mkdir(parents=True, exist_ok=True)
    return root


def stable_hash(*parts: Any) -> str:
    """A short sha256 over JSON-serialisable parts (dict keys sorted), stable across processes."""
    payload = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def entry(kind: str, key: str) -> Path:
    """Path of the cache entry `kind/key` (not created); `kind` groups entries, e.g. 'models'."""
    path = cache_root() / kind / key
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """Text variant of `atomic_write_bytes` (UTF-8)."""
    atomic_write_bytes(path, text.encode("utf-8"))


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` while computing it.

    Under pytest-xdist several workers may ask for the same entry at once (e.g. the same tiny-kg
    model); the first computes it, the others wait and then load it instead of repeating the work.
    """
    lock_path = Path(f"{path}.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
