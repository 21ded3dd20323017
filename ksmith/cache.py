"""The one on-disk cache: everything expensive is keyed by the hash of everything it depends on.

Keys are content hashes, never names: two different models or datasets can never share an entry.
The root is `$KSMITH_CACHE` when set, else `~/.cache/ksmith`. Writes are atomic (temp file + rename)
so an interrupted run never leaves a half-written entry that a later run would trust.

**Code version: caches that cannot go stale.** A key also holds the version of the code that computed
the entry. That version is not a number someone must remember to bump: `code_version(*parts)` is the
sha256 of the *content* of the named ksmith source files (every file, not only `.py`: packaged data
counts) plus the installed versions of torch and transformers. Change one byte of a file a cache kind
depends on and its entries are simply not found any more; they are recomputed.

Each cache kind names only the parts that can change what it holds, so an unrelated change does not
throw away expensive work. The kinds and their parts live in `CACHE_PARTS` (one table, so a reader
sees every dependency in one place):

* `models` (pretrained tiny-kg, ~5 CPU-minutes): the world's `World` class, schema, templates and
  corpus renderer (what the model reads; the world's *content* is in the key through its hash, so
  the builders need not be), and the tiny-kg trainer and tokenizer (`models/tiny.py`, whose own
  greedy check decides when held-in accuracy reached the target). Editing a metric, a method, the
  scorer, the report, or adding a world loader does not retrain it.
* `datasets`: the probes package (the generator) and the world modules it calls (`World.apply`,
  schema, templates).
* `scores` (pre-update scores): the `scoring` package, `tokens.py` and `models/logits.py` (the LM head at the
  scored positions), the probes package (prompts and options) and the modules that load a model
  and its tokenizer (`MODEL_LOADING`; not the snapshot, the CLIs or the oracle: the weights
  themselves are in the key through their hash).
* `known` (a real model's known set, half an hour for SmolLM2 on 2 CPU cores): what `scores` hangs
  on, plus the world modules that phrase its questions (`World`, schema, templates).
* `covariance` (second moment of MLP keys): the methods' covariance and hook code and the architecture table.
* `samples` (text a real model generated for the covariance statistics): its sampler, in
  `methods/covariance.py`.
* `hub` (converted checkpoints): `models/hub.py`.
* everything else (resume keys, provenance): `code_version()`, the whole package (computed on first
  use, never at import: hashing ~100 files costs a few ms).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterator

#: The ksmith package directory whose files make up the code version.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Packages whose versions change what the code computes (float kernels, model classes, tokenizers).
VERSIONED_PACKAGES: tuple[str, ...] = ("torch", "transformers")

#: The modules that turn a model spec into weights on a device and a tokenizer.
MODEL_LOADING: tuple[str, ...] = (
    "models/__init__.py", "models/zoo.py", "models/hub.py", "models/loaded.py", "models/device.py",
    "models/arch.py", "models/tiny.py",
)

#: Cache kind -> the ksmith source parts (files or packages, relative to the package) its entries
#: depend on; see the module docstring for why each part is there.
#: The world modules that decide what a world holds and says (the class, its document, schema,
#: templates, and the shapes its distractor pools are narrowed by).
WORLD_CORE: tuple[str, ...] = (
    "world/world.py", "world/document.py", "world/schema.py", "world/templates.py", "world/shapes.py",
)
CACHE_PARTS: dict[str, tuple[str, ...]] = {
    "models": (*WORLD_CORE, "world/corpus.py", "models/tiny.py"),
    "datasets": (*WORLD_CORE, "probes"),
    "scores": ("scoring", "tokens.py", "models/logits.py", "probes", *MODEL_LOADING),
    "known": (*WORLD_CORE, "scoring", "tokens.py", "models/logits.py", "probes", "known/measure.py", *MODEL_LOADING),
    "covariance": ("methods/covariance.py", "methods/nethook.py", "models/arch.py"),
    "samples": ("methods/covariance.py",),
    "hub": ("models/hub.py",),
}


def _package_versions() -> dict[str, str]:
    out = {}
    for name in VERSIONED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _source_files(root: Path, part: str) -> list[Path]:
    path = root / part
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"code_version: {part!r} is not a file or folder of the ksmith package ({root})")
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and "__pycache__" not in p.parts
        and not p.name.startswith(".")
        and p.suffix not in (".pyc", ".pyo")
    )


@lru_cache(maxsize=None)
def _code_version(parts: tuple[str, ...], root: Path) -> str:
    digest = hashlib.sha256()
    files = sorted({f for part in (parts or (".",)) for f in _source_files(root, part)})
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    digest.update(json.dumps(_package_versions(), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def code_version(*parts: str, root: Path | None = None) -> str:
    """Content hash of the named ksmith source parts (all of ksmith when none) + torch/transformers.

    parts: files or folders relative to the ksmith package, e.g. `"tokens.py"`, `"world"`.
    root:  the package directory to read (default: this ksmith's; tests pass a copy). Computed once
    per process and root (the source of a running process does not change under it).
    """
    return _code_version(tuple(sorted(set(parts))), Path(root).resolve() if root is not None else PACKAGE_DIR)


def kind_version(kind: str) -> str:
    """The code version a cache kind's keys hold (`CACHE_PARTS[kind]`; the whole package if unlisted)."""
    return code_version(*CACHE_PARTS.get(kind, ()))


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


@dataclass(frozen=True)
class KindUsage:
    """What one cache kind holds on disk: `entries` top-level entries taking `bytes` bytes."""

    kind: str
    entries: int
    bytes: int


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def usage(root: Path | None = None) -> list[KindUsage]:
    """Entries and bytes per cache kind under `root` (default: `cache_root()`), sorted by kind.

    Lock files and temp files of interrupted writes are not entries (they are counted in bytes).
    """
    root = Path(root) if root is not None else cache_root()
    out = []
    for kind_dir in sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []:
        entries = [p for p in kind_dir.iterdir() if not p.name.startswith(".") and not p.name.endswith(".lock")]
        out.append(KindUsage(kind_dir.name, len(entries), _size(kind_dir)))
    return out


def clear(kinds: tuple[str, ...] = (), root: Path | None = None) -> list[KindUsage]:
    """Delete the named cache kinds (all when none), returning what was deleted.

    Unknown kinds raise `ValueError` naming the kinds present, so a typo deletes nothing.
    """
    root = Path(root) if root is not None else cache_root()
    present = {u.kind: u for u in usage(root)}
    unknown = [k for k in kinds if k not in present]
    if unknown:
        raise ValueError(
            f"no cache kind {', '.join(map(repr, unknown))} under {root}; present: {', '.join(sorted(present)) or 'none'}"
        )
    chosen = [present[k] for k in (kinds or tuple(present))]
    for item in chosen:
        shutil.rmtree(root / item.kind)
    return chosen
