"""The benchmark grid: which (model, method, task, level, scale, seed) cells a run measures.

A `GridSpec` is the resolved configuration of one run (a preset plus the user's overrides); its
`cases(methods)` are the cells, each a `GridCase` with a readable id such as
`tiny-kg-rome-edit-leaf-k10-s0`, so `pytest -k rome` and `-k "leaf and k10"` select as users expect.

Presets (what `--ksmith-grid` picks before any explicit option overrides a field):

- `smoke`:   `tiny-kg-small` (tiny-kg with `TinyConfig.small()`) on the small world, every method,
             the leaf level, k=1, seed 0. The model is shipped, so nothing is pretrained: it
             proves the pipeline works, not what the methods can do on the real model.
- `default`: the default world (all four domains), every method, all three levels, k = 1, 10, 100.
- `full`:    a larger world, all levels, k = 1 ... 10,000, three seeds.
- `real`:    the real world of true facts (`ksmith.world.real`), the real pretrained models ksmith
             has specs for (`REAL_MODELS`: SmolLM2-135M and Gemma 3 270M), every method, levels
             intermediate and leaf (the real world states no fact on a root), k = 1 and 10; each
             model's interventions are drawn from the facts it knows. Not k=100: SmolLM2 knows
             enough non-interfering leaf facts for it but only 62 intermediate ones, and the grid is
             sized to finish on a 2-core CPU (its time is in the README); ask for k=100 with
             `--ksmith-levels leaf --ksmith-scales 100`.

- `findings`: the grid of the committed findings report (`make findings`): `tiny-kg-small` on the
             small world, all three levels, k = 1, 4, 16, 64, on `FINDINGS_SEEDS`.
- `findings-real`: the paper's findings on real models (`make findings-real`): the `real` preset's
             models and world, levels intermediate and leaf, k = 1, 10, 100, three intervention
             seeds (`FINDINGS_REAL_SEEDS`); cells a model's known set cannot supply (k=100 at
             intermediate) are skipped with the reason. Days of CPU time for every method: the
             Makefile target names the paper's methods, and `--ksmith-shard i/n` splits it.

The world (`world`): `synthetic` builds one from (domains, world_size, world_seed); `real` loads the
committed real world; anything else is the path of a world file. On any world but a synthetic one,
interventions come from each model's known set (`ksmith.probes.known`).

Tuning split. The methods' default hyper-parameters for the tiny models were tuned (and the trials
quoted in their docstrings run) on world seed 0 with intervention seeds `TUNING_SEEDS` (0-9: what
`bench/perf/bench_tune_finetune.py` draws from). A reported finding must not be computed on the cells
its defaults were tuned on, so the findings grid draws its interventions with `FINDINGS_SEEDS`,
disjoint from `TUNING_SEEDS` (a test checks it): same world and model, other facts updated.

The world's own seed is fixed per preset (`world_seed`): the grid's seeds vary which facts are
updated and the methods' randomness, not the world (a new world would mean a new pretrained model).

Sharding (`--ksmith-shard i/n`, 1 <= i <= n) deals the grid's cells round-robin to n shards, taking
them by scale and then in grid order: every machine given the same options computes the same
partition, the shards are disjoint, their union is the grid, and each shard gets about 1/n of the
cells of every scale (k dominates a cell's cost), so shards take similar times.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from ksmith.errors import KsmithError
from ksmith.probes.types import TASKS
from ksmith.world.domains import DOMAINS
from ksmith.world.schema import LEVELS

#: Worlds a grid can run on besides a world file's path.
WORLDS: tuple[str, ...] = ("synthetic", "real")
#: The real pretrained models the `real` preset runs, those `load_model` knows at the time.
REAL_MODELS: tuple[str, ...] = ("smollm2-135m", "gemma3-270m")
MODES: tuple[str, ...] = ("batch", "sequential")


class GridError(KsmithError):
    """A grid option that cannot be used (unknown level, bad scale, malformed shard...)."""


@dataclass(frozen=True, order=True)
class GridCase:
    """One benchmark cell. Field order is the grid order (and the leaderboards' sort order)."""

    model: str
    task: str
    level: str
    scale: int
    method: str
    seed: int

    @property
    def id(self) -> str:
        """The pytest id, e.g. `tiny-kg-rome-edit-leaf-k10-s0`."""
        return f"{self.model}-{self.method}-{self.task}-{self.level}-k{self.scale}-s{self.seed}"

    def key(self) -> dict[str, object]:
        """The grid key as it appears in `results.jsonl`."""
        return {
            "model": self.model,
            "method": self.method,
            "task": self.task,
            "level": self.level,
            "scale": self.scale,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class DatasetEntry:
    """A dataset file the grid runs on instead of the world's levels (`--ksmith-dataset NAME=PATH`).

    name: what the cells and leaderboards call it (it takes the level's place in ids and rows).
    task: the file's task (a dataset is either edits or unlearning); size: its interventions.
    """

    name: str
    path: str
    task: str
    size: int


_DATASET_NAME = re.compile(r"[A-Za-z0-9_.]+")


def read_dataset_entry(item: str, base: str | None = None) -> DatasetEntry:
    """Parse `NAME=PATH` and read the file's header line (task, number of interventions)."""
    name, sep, raw_path = item.partition("=")
    name, raw_path = name.strip(), raw_path.strip()
    if not sep or not raw_path or not _DATASET_NAME.fullmatch(name) or name in LEVELS:
        raise GridError(
            f"--ksmith-dataset: {item!r} is not NAME=PATH (NAME: letters, digits, '_' or '.', not a level name), "
            "e.g. cf=counterfact.jsonl"
        )
    path = Path(raw_path)
    if base is not None and not path.is_absolute():
        path = Path(base) / path
    try:
        with path.open(encoding="utf-8") as handle:
            header = json.loads(handle.readline() or "null")
    except OSError as exc:
        raise GridError(f"--ksmith-dataset {name}: cannot read {path} ({exc.strerror or exc})") from None
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("record") != "header" or header.get("task") not in TASKS:
        raise GridError(
            f"--ksmith-dataset {name}: {path} is not a ksmith dataset (its first line is not a header); "
            "make one with `ksmith data import` or `ksmith data`"
        )
    return DatasetEntry(name, str(path), header["task"], len(header.get("interventions") or ()))


@dataclass(frozen=True)
class GridSpec:
    """A resolved grid: what to run, on which world, and how.

    methods:    None means every registered method (resolved when the cases are listed).
    models:     the names models go by in ids and reports; `model_specs` maps a name to what
                `load_model` is given when they differ (`--ksmith-models toy=hf:/path/to/ckpt`).
    world_size: passed to `build_world(size=...)`: "small", "default" or an int.
    world:      "synthetic", "real", or the path of a world file (see the module docstring).
    """

    preset: str = "default"
    models: tuple[str, ...] = ("tiny-kg",)
    methods: tuple[str, ...] | None = None
    tasks: tuple[str, ...] = TASKS
    levels: tuple[str, ...] = tuple(LEVELS)
    scales: tuple[int, ...] = (1, 10, 100)
    seeds: tuple[int, ...] = (0,)
    domains: tuple[str, ...] = DOMAINS
    world_size: str | int = "default"
    world_seed: int = 0
    model_specs: Mapping[str, str] = field(default_factory=dict)
    mode: str = "batch"
    shard: tuple[int, int] | None = None
    datasets: tuple[DatasetEntry, ...] = ()

    def dataset_entry(self, name: str) -> DatasetEntry | None:
        """The dataset file a cell's `level` names, or None for a world level."""
        return next((d for d in self.datasets if d.name == name), None)

    world: str = "synthetic"

    @property
    def uses_known_sets(self) -> bool:
        """Whether interventions are drawn from each model's known set (any non-synthetic world)."""
        return self.world != "synthetic"

    def model_spec(self, name: str) -> str:
        """What to pass to `load_model` for the model called `name`."""
        return self.model_specs.get(name, name)

    def cases(self, methods: Mapping[str, Iterable[str]]) -> list[GridCase]:
        """Every cell, in grid order. `methods` maps method name -> the tasks it supports.

        A method is paired only with the tasks it supports (it is never a cell at all for the
        others). Names in `self.methods` that `methods` does not know raise `GridError`.
        """
        chosen = self.methods if self.methods is not None else tuple(sorted(methods))
        unknown = [name for name in chosen if name not in methods]
        if unknown:
            close = {name: difflib.get_close_matches(name, methods, n=1) for name in unknown}
            hints = "".join(f" Did you mean {m[0]!r} for {name!r}?" for name, m in close.items() if m)
            raise GridError(
                f"unknown method(s) {unknown} in --ksmith-methods.{hints} "
                f"Registered: {', '.join(sorted(methods))} (`ksmith methods` lists them)"
            )
        if self.datasets:  # (model, method, dataset, scale): the file decides the task
            cells = [
                GridCase(model, entry.task, entry.name, scale, method, seed)
                for model in self.models
                for entry in self.datasets
                for scale in self.scales
                for method in chosen
                if entry.task in set(methods[method])
                for seed in self.seeds
            ]
            return sorted(set(cells), key=grid_order)
        cells = [
            GridCase(model, task, level, scale, method, seed)
            for model in self.models
            for task in self.tasks
            for level in self.levels
            for scale in self.scales
            for method in chosen
            if task in set(methods[method])
            for seed in self.seeds
        ]
        return sorted(set(cells), key=grid_order)


def grid_order(case: GridCase) -> tuple[object, ...]:
    """Sort key: model, task, level (root, intermediate, leaf), scale, method, seed."""
    level_rank = LEVELS.index(case.level) if case.level in LEVELS else len(LEVELS)
    return (case.model, case.task, level_rank, case.level, case.scale, case.method, case.seed)


def shard_cases(cases: Sequence[GridCase], shard: tuple[int, int] | None) -> list[GridCase]:
    """Deal `cases` (by scale, then grid order) round-robin to `n` shards; keep shard `i` (1-based)."""
    if shard is None:
        return sorted(cases, key=grid_order)
    index, count = shard
    dealt = sorted(cases, key=lambda case: (case.scale, grid_order(case)))
    return sorted((case for position, case in enumerate(dealt) if position % count == index - 1), key=grid_order)


#: Intervention seeds the methods' defaults were tuned on (world seed 0); see the module docstring.
TUNING_SEEDS: tuple[int, ...] = tuple(range(10))
#: Intervention seeds of the findings grid: never a tuning seed.
FINDINGS_SEEDS: tuple[int, ...] = (100,)
#: Intervention seeds of the real-model findings grid: three, for intervals over interventions drawn
#: three ways; disjoint from `TUNING_SEEDS` and from the seeds 0-9 the real-model quality figures
#: in the README were measured on (real models use published defaults: nothing was tuned on either).
FINDINGS_REAL_SEEDS: tuple[int, ...] = (100, 101, 102)

PRESETS: dict[str, GridSpec] = {
    "smoke": GridSpec(
        preset="smoke", models=("tiny-kg-small",), levels=("leaf",), scales=(1,), seeds=(0,), world_size="small"
    ),
    "default": GridSpec(preset="default"),
    "full": GridSpec(
        preset="full", scales=(1, 10, 100, 1000, 10000), seeds=(0, 1, 2), world_size="large"
    ),
    "findings": GridSpec(
        preset="findings", models=("tiny-kg-small",), levels=LEVELS,
        scales=(1, 4, 16, 64), seeds=FINDINGS_SEEDS, world_size="small",
    ),
    "real": GridSpec(
        preset="real", models=REAL_MODELS[:1], levels=("intermediate", "leaf"), scales=(1, 10), world="real"
    ),
    "findings-real": GridSpec(
        preset="findings-real", models=REAL_MODELS[:1], levels=("intermediate", "leaf"), scales=(1, 10, 100),
        seeds=FINDINGS_REAL_SEEDS, world="real",
    ),
}


def real_models() -> tuple[str, ...]:
    """The `REAL_MODELS` that `load_model` knows in this checkout."""
    from ksmith.models.zoo import SPECS

    return tuple(name for name in REAL_MODELS if name in SPECS)


def parse_world(raw: str) -> str:
    """'synthetic', 'real' or the path of an existing world file."""
    from pathlib import Path

    text = raw.strip()
    if text in WORLDS:
        return text
    if not Path(text).is_file():
        raise GridError(f"--ksmith-world: {raw!r} is neither {' nor '.join(WORLDS)} nor an existing world file")
    return str(Path(text).resolve())


# --- parsing option values (shared by the pytest plugin and the CLI) -------------------------


def split_list(raw: str | Sequence[str] | None) -> tuple[str, ...]:
    """'a, b,c' -> ('a', 'b', 'c'); a list of such strings is flattened; empty items dropped."""
    if raw is None:
        return ()
    parts = [raw] if isinstance(raw, str) else list(raw)
    return tuple(item.strip() for part in parts for item in str(part).split(",") if item.strip())


def parse_choices(raw: str, allowed: Sequence[str], option: str) -> tuple[str, ...]:
    values = split_list(raw)
    bad = [value for value in values if value not in allowed]
    if bad or not values:
        raise GridError(f"{option}: {', '.join(bad) or 'nothing given'} not valid; choose from {', '.join(allowed)}")
    return values


def parse_ints(raw: str, option: str, minimum: int = 0) -> tuple[int, ...]:
    values = split_list(raw)
    try:
        numbers = tuple(int(value) for value in values)
    except ValueError:
        raise GridError(f"{option}: expected comma-separated integers, got {raw!r}") from None
    if not numbers or any(number < minimum for number in numbers):
        raise GridError(f"{option}: expected integers >= {minimum}, got {raw!r}")
    return numbers


def parse_shard(raw: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); shards are numbered 1..n."""
    try:
        index_text, count_text = raw.split("/")
        index, count = int(index_text), int(count_text)
    except ValueError:
        raise GridError(f"--ksmith-shard: expected i/n such as 1/4, got {raw!r}") from None
    if not (count >= 1 and 1 <= index <= count):
        raise GridError(f"--ksmith-shard: need 1 <= i <= n, got {raw!r}")
    return index, count


def parse_world_size(raw: str) -> str | int:
    text = raw.strip()
    if text.isdigit():
        return int(text)
    if text in ("small", "default", "large"):
        return text
    raise GridError(f"--ksmith-world-size: expected small, default, large or an integer, got {raw!r}")


def _models(raw: str) -> dict[str, object]:
    models = split_list(raw)
    if not models:
        raise GridError("--ksmith-models: give at least one model spec, e.g. tiny-kg")
    names, specs = [], {}
    for item in models:
        name, sep, target = item.partition("=")
        if sep and (not name.strip() or not target.strip() or "/" in name or ":" in name):
            raise GridError(f"--ksmith-models: {item!r} is not NAME=SPEC (a plain NAME, then a model spec)")
        if sep:
            specs[name.strip()] = target.strip()
        names.append(name.strip())
    return {"models": tuple(names), "model_specs": specs}


def _methods(raw: str) -> dict[str, object]:
    methods = split_list(raw)
    return {"methods": None if methods in ((), ("all",)) else methods}


#: The grid's fields that options set (`--ksmith-NAME`, NAME with `-` for `_`), each with the parser
#: of its raw text into the `GridSpec` fields it sets: the one list `resolve`, the plugin's options
#: and `ksmith ci` read.
GRID_OPTIONS: dict[str, Callable[[str], dict[str, object]]] = {
    "models": _models,
    "methods": _methods,
    "tasks": lambda raw: {"tasks": parse_choices(raw, TASKS, "--ksmith-tasks")},
    "levels": lambda raw: {"levels": parse_choices(raw, LEVELS, "--ksmith-levels")},
    "scales": lambda raw: {"scales": parse_ints(raw, "--ksmith-scales", minimum=1)},
    "seeds": lambda raw: {"seeds": parse_ints(raw, "--ksmith-seeds", minimum=0)},
    "domains": lambda raw: {"domains": parse_choices(raw, DOMAINS, "--ksmith-domains")},
    "world_size": lambda raw: {"world_size": parse_world_size(raw)},
    "mode": lambda raw: {"mode": parse_choices(raw, MODES, "--ksmith-mode")[0]},
    "shard": lambda raw: {"shard": parse_shard(raw)},
    "world": lambda raw: {"world": parse_world(raw)},
}


def resolve(preset: str = "default", **overrides: str | None) -> GridSpec:
    """A `GridSpec` from a preset name and raw option strings (None = keep the preset's value); the
    keys are `GRID_OPTIONS`'."""
    if preset not in PRESETS:
        raise GridError(f"--ksmith-grid: unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    spec = PRESETS[preset]
    changes: dict[str, object] = {}
    if spec.world == "real":  # the real presets run the real models load_model knows (not at import)
        changes["models"] = real_models() or spec.models
    given = {key: value for key, value in overrides.items() if value not in (None, "")}
    unknown = set(given) - set(GRID_OPTIONS)
    if unknown:
        raise GridError(f"unknown grid field(s) {sorted(unknown)}")
    for key, raw in given.items():
        changes.update(GRID_OPTIONS[key](str(raw)))
    return replace(spec, **changes)
