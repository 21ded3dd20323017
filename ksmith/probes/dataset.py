"""`Dataset`: the immutable, hashable product of the generator, and its JSONL form.

JSONL layout (one JSON object per line, UTF-8):

line 1, the header record::

    {"record": "header", "format": "ksmith.dataset", "version": 1,
     "task": "edit", "level": "leaf", "scale": 10, "seed": 0,
     "world_hash": "<16 hex>", "hash": "<16 hex, the dataset's content hash>",
     "known_hash": "<16 hex>"  (only when drawn from a model's known set),
     "interventions": [{"id", "task", "subject", "relation", "old_object", "new_object",
                        "domain", "level", "prompts": [...]}, ...],
     "retain": [{"prompt": "...", "answer": "..."}, ...]}

then one probe per line with exactly the keys of `ksmith.probes.types.Probe`::

    {"id", "task", "domain", "level", "scale", "intervention_id", "probe_type", "family",
     "question", "prompt", "choices": [4 strings], "answer_before", "answer_after", "avoid",
     "hop", "paraphrase_id", "held_out"}

plus, on probes of imported datasets only, the optional keys of `Probe` that are set (`aliases`,
`source_case`, `test`, `test_group`, `group_rule`, `requires`, `condition`). An imported dataset's
header also has `"source": {"format", "file", "sha256", ...}` (what it was imported from).

`Dataset.from_jsonl(Dataset.to_jsonl(d))` equals `d`, and the header's `hash` is checked on read,
so a truncated or edited file is reported instead of being scored.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields, replace
from functools import cached_property
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text
from ksmith.errors import DatasetError
from ksmith.probes.types import (
    CORE_PROBE_KEYS,
    FAMILIES,
    GROUP_RULES,
    OPTIONAL_PROBE_DEFAULTS,
    PROBE_TYPES,
    TASKS,
    Intervention,
    Probe,
    RetainItem,
    UpdateRequest,
)

FORMAT = "ksmith.dataset"
FORMAT_VERSION = 1
_PROBE_KEYS = CORE_PROBE_KEYS
assert set(_PROBE_KEYS) | set(OPTIONAL_PROBE_DEFAULTS) == {f.name for f in fields(Probe)}
_INTERVENTION_KEYS = tuple(f.name for f in fields(Intervention))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Dataset:
    """Interventions (the edit set e), retain items (constraint c) and probes for one
    (world, task, level, scale, seed)."""

    task: str
    level: str
    scale: int
    seed: int
    world_hash: str
    interventions: tuple[Intervention, ...]
    probes: tuple[Probe, ...]
    retain: tuple[RetainItem, ...]
    #: What an imported dataset was read from ((key, value) pairs: format, file, sha256, ...);
    #: empty for generated datasets (and then absent from the header and the hash).
    source: tuple[tuple[str, str], ...] = ()
    #: Hash of the model's known set the interventions were drawn from (real worlds), else None.
    known_hash: str | None = None

    @property
    def source_info(self) -> dict[str, str]:
        """The `source` pairs as a dict (empty for a generated dataset)."""
        return dict(self.source)

    def _header_fields(self) -> dict[str, Any]:
        out = {
            "task": self.task,
            "level": self.level,
            "scale": self.scale,
            "seed": self.seed,
            "world_hash": self.world_hash,
            "interventions": [asdict(iv) for iv in self.interventions],
            "retain": [asdict(r) for r in self.retain],
        }
        if self.source:
            out["source"] = dict(self.source)
        if self.known_hash is not None:
            out["known_hash"] = self.known_hash
        return out

    def _probe_lines(self) -> Iterable[str]:
        # A flat dict per probe (not dataclasses.asdict, which deep-copies and is ~5x slower).
        keys = _PROBE_KEYS
        for p in self.probes:
            rec = {k: getattr(p, k) for k in keys}
            for k, default in OPTIONAL_PROBE_DEFAULTS.items():
                value = getattr(p, k)
                if value != default:
                    rec[k] = value
            yield _dumps(rec)

    def take(self, k: int) -> Dataset:
        """The first k interventions (rounded up to whole source cases, so that a case's
        simultaneous edits stay together) with their probes: the bench's scale on an imported
        dataset. Retain items are kept whole."""
        if k >= len(self.interventions):
            return self
        if k < 1:
            raise DatasetError(f"scale k={k} must be at least 1")
        case_of = {p.intervention_id: p.source_case for p in self.probes if p.source_case is not None}
        keep: list[Intervention] = []
        for iv in self.interventions:
            if len(keep) >= k and (case_of.get(iv.id) is None or case_of.get(iv.id) != case_of.get(keep[-1].id)):
                break
            keep.append(iv)
        ids = {iv.id for iv in keep}
        return Dataset(
            task=self.task, level=self.level, scale=len(keep), seed=self.seed, world_hash=self.world_hash,
            interventions=tuple(keep),
            probes=tuple(replace(p, scale=len(keep)) for p in self.probes if p.intervention_id in ids),
            retain=self.retain, source=self.source,
        )

    @cached_property
    def hash(self) -> str:
        """Content hash (16 hex digits) over the header fields and every probe."""
        h = hashlib.sha256()
        h.update(json.dumps(self._header_fields(), sort_keys=True, ensure_ascii=False).encode())
        for line in self._probe_lines():
            h.update(b"\n")
            h.update(line.encode())
        return h.hexdigest()[:16]

    def probes_of(self, probe_type: str) -> tuple[Probe, ...]:
        """The probes of one type (one of `PROBE_TYPES`)."""
        if probe_type not in PROBE_TYPES:
            raise DatasetError(f"unknown probe type '{probe_type}'; choose one of {', '.join(PROBE_TYPES)}")
        return tuple(p for p in self.probes if p.probe_type == probe_type)

    def summary(self) -> dict[str, dict[str, int]]:
        """Probe counts per type and family: {probe_type: {family: n}}."""
        out: dict[str, dict[str, int]] = {t: {} for t in PROBE_TYPES}
        for p in self.probes:
            fam = out[p.probe_type]
            fam[p.family] = fam.get(p.family, 0) + 1
        return out

    def request(self) -> UpdateRequest:
        """The update request a method receives: e = interventions, c = retain items."""
        return UpdateRequest(
            task=self.task, interventions=self.interventions, retain=self.retain, scale=self.scale, seed=self.seed
        )

    # -- JSONL ---------------------------------------------------------------------------------

    def to_jsonl(self, path: str | Path) -> None:
        """Write the dataset as JSONL (header record, then one probe per line), atomically."""
        header = {"record": "header", "format": FORMAT, "version": FORMAT_VERSION, **self._header_fields(),
                  "hash": self.hash}
        lines = [_dumps(header), *self._probe_lines()]
        atomic_write_text(Path(path), "\n".join(lines) + "\n")

    @classmethod
    def from_jsonl(cls, path: str | Path) -> Dataset:
        """Read a dataset written by `to_jsonl`; `DatasetError` names the line of any problem."""
        path = Path(path)
        try:
            handle = path.open(encoding="utf-8")
        except FileNotFoundError:
            raise DatasetError(f"{path}: no such file") from None
        except OSError as exc:
            raise DatasetError(f"{path}: cannot read it ({exc})") from None
        probes: list[Probe] = []
        header: dict[str, Any] | None = None
        with handle:
            for lineno, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise DatasetError(f"{path}:{lineno}: not valid JSON ({exc.msg}, column {exc.colno})") from None
                if header is None:
                    if not isinstance(rec, dict) or rec.get("record") != "header":
                        raise DatasetError(f"{path}:{lineno}: the first record must be the header "
                                           '({"record": "header", ...}); is this a ksmith dataset?')
                    header = rec
                    continue
                probes.append(_probe_from(rec, path, lineno))
        if header is None:
            raise DatasetError(f"{path}: empty file; expected a header record and probes")
        try:
            interventions = tuple(
                Intervention(**{**{k: iv[k] for k in _INTERVENTION_KEYS}, "prompts": tuple(iv["prompts"])})
                for iv in header["interventions"]
            )
            retain = tuple(RetainItem(prompt=r["prompt"], answer=r["answer"]) for r in header["retain"])
            ds = cls(
                task=header["task"],
                level=header["level"],
                scale=header["scale"],
                seed=header["seed"],
                world_hash=header["world_hash"],
                interventions=interventions,
                probes=tuple(probes),
                retain=retain,
                source=tuple((str(k), str(v)) for k, v in (header.get("source") or {}).items()),
                known_hash=header.get("known_hash"),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise DatasetError(f"{path}:1: the header lacks or mangles {exc}") from None
        stored = header.get("hash")
        if stored is not None and stored != ds.hash:
            raise DatasetError(
                f"{path}: content hash {ds.hash} differs from the header's {stored}; the file was changed "
                "or truncated, regenerate it with `ksmith data`"
            )
        return ds


def _probe_from(rec: Any, path: Path, lineno: int) -> Probe:
    if not isinstance(rec, dict):
        raise DatasetError(f"{path}:{lineno}: a probe line must be a JSON object")
    keys = set(rec)
    missing = sorted(set(_PROBE_KEYS) - keys)
    extra = sorted(keys - set(_PROBE_KEYS) - set(OPTIONAL_PROBE_DEFAULTS))
    if missing or extra:
        raise DatasetError(f"{path}:{lineno}: probe keys differ from the format (missing {missing}, unexpected {extra})")
    choices = rec["choices"]
    if not isinstance(choices, list) or len(choices) != 4:
        raise DatasetError(f"{path}:{lineno}: 'choices' must be a list of 4 strings")
    if rec["task"] not in TASKS or rec["probe_type"] not in PROBE_TYPES or rec["family"] not in FAMILIES:
        raise DatasetError(f"{path}:{lineno}: unknown task, probe_type or family")
    out = {**rec, "choices": tuple(choices)}
    try:
        if rec.get("aliases") is not None:
            out["aliases"] = tuple(tuple(str(a) for a in names) for names in rec["aliases"])
            if len(out["aliases"]) != 4:
                raise TypeError
        if rec.get("requires") is not None:
            out["requires"] = tuple(str(r) for r in rec["requires"])
    except TypeError:
        raise DatasetError(f"{path}:{lineno}: 'aliases' must be 4 lists of strings, 'requires' a list of ids") from None
    if rec.get("group_rule") not in (None, *GROUP_RULES):
        raise DatasetError(f"{path}:{lineno}: 'group_rule' must be one of {', '.join(GROUP_RULES)}")
    return Probe(**out)
