"""Quality and cost of every registered update method on tiny-kg (prints two tables).

Quality: each method, for each task it supports, at each level, at the scales the methods issue
targets (edits at k=1, MEMIT/AlphaEdit edits also at k=100, unlearning at k=10), scored with the
`mcq` protocol and RippleEdits precondition filtering (`ksmith.metrics.compute`). Scales below
`--min-interventions` are repeated over several dataset seeds and pooled (weighted by probe
count), so k=1 figures rest on more than one fact.

    direct        held-in direct probes answered with the updated world's object (↑)
    paraphrase    direct probes in the held-out paraphrase (↑)
    ctx_drop      1 - contextual accuracy: unrelated facts the update broke (↓). With precondition
                  filtering the unedited model scores 1 on the probes counted, so this is the drop.
    rr            residual retention: Q+ probes still answering the old object (unlearning, ↓)

Cost: wall time of one update at k = 1, 10, 100, 1000 (leaf level; `--timing-task unlearn` reaches
k=1000 on the default world, whose leaf level gives at most a few hundred edits), without the one-off key
statistics, which are shown apart (`cov_s`: computed once per model and layer, then cached). The
timing section runs with a fresh temporary cache so the key statistics are really computed.

    .venv/bin/python bench/perf/bench_methods.py                      # everything
    .venv/bin/python bench/perf/bench_methods.py --methods rome,memit --levels leaf --no-timing
    .venv/bin/python bench/perf/bench_methods.py --set rome.layer=2 --set rome.key_position=prompt_last
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile
import time
from collections import defaultdict
from typing import Any

import torch
from tabulate import tabulate

from ksmith.methods.overrides import HparamError, parse_assignment

QUALITY_SCALES = {"edit": (1,), "unlearn": (10,)}
EXTRA_EDIT_SCALES = {"memit": (100,), "alphaedit": (100,)}
COLUMNS = ("direct_acc", "paraphrase_acc", "contextual_acc", "rr")


def parse_sets(items: list[str]) -> dict[str, dict[str, Any]]:
    """`method.field=value` -> {method: {field: value}}, read as `--ksmith-hparam` reads them."""
    out: dict[str, dict[str, Any]] = defaultdict(dict)
    for item in items:
        try:
            method, field, value = parse_assignment(item)
        except HparamError:
            raise SystemExit(f"--set {item!r}: expected METHOD.PARAM=VALUE") from None
        out[method][field] = value
    return out


def pooled(metrics: list[dict[str, Any]], name: str) -> tuple[float | None, int]:
    """Probe-weighted mean of one metric over several cases, and the total probe count."""
    pairs = [(m[name].value, m[name].n) for m in metrics if name in m and m[name].n]
    n = sum(count for _, count in pairs)
    return (sum(v * c for v, c in pairs) / n if n else None), n


def run_case(loaded: Any, world: Any, name: str, overrides: dict, task: str, level: str, k: int, seed: int) -> tuple[dict, Any]:
    from ksmith.methods import get_method
    from ksmith.metrics import compute
    from ksmith.models.snapshot import Snapshot
    from ksmith.probes import build_dataset
    from ksmith.scoring import Scorer, pre_scores

    dataset = build_dataset(world, task, level, k, seed)
    pre = pre_scores(loaded, dataset, ("mcq",))
    snapshot = Snapshot.take(loaded.lm)
    try:
        method = get_method(name, **overrides)
        result = method.apply(loaded.lm, loaded.tokenizer, dataset.request())
        post = Scorer(loaded).score(dataset.probes, ("mcq",), prefixes=result.prompt_prefix)
    finally:
        snapshot.restore(loaded.lm)
        snapshot.verify(loaded.lm)
    metrics = compute(dataset, pre, post, held_out=loaded.held_out, n_resamples=0)
    return metrics, result


def quality(loaded: Any, world: Any, methods: dict, levels: list[str], min_interventions: int, sets: dict) -> None:
    from ksmith.errors import DatasetError

    rows = []
    for name, info in methods.items():
        for task in sorted(info.families):
            scales = QUALITY_SCALES[task] + (EXTRA_EDIT_SCALES.get(name, ()) if task == "edit" else ())
            for level in levels:
                for k in scales:
                    seeds = max(1, math.ceil(min_interventions / k))
                    cases, walls = [], []
                    try:
                        for seed in range(seeds):
                            metrics, result = run_case(loaded, world, name, sets.get(name, {}), task, level, k, seed)
                            cases.append(metrics)
                            walls.append(result.wall_s - float(result.extra.get("covariance_s", 0.0)))
                    except DatasetError as exc:
                        rows.append([name, task, level, k, "-", "n/a (level too small)", "", "", "", ""])
                        print(f"{name} {task} {level} k={k}: {exc}", file=sys.stderr, flush=True)
                        continue
                    direct, n_direct = pooled(cases, "direct_acc")
                    para, n_para = pooled(cases, "paraphrase_acc")
                    ctx, n_ctx = pooled(cases, "contextual_acc")
                    rr, n_rr = pooled(cases, "rr")
                    rows.append([
                        name, task, level, k, seeds,
                        _fmt(direct, n_direct), _fmt(para, n_para),
                        _fmt(None if ctx is None else 1 - ctx, n_ctx),
                        _fmt(rr, n_rr) if task == "unlearn" else "",
                        f"{sum(walls) / len(walls):.2f}",
                    ])
                    print(" | ".join(str(c) for c in rows[-1]), file=sys.stderr, flush=True)
    print("\n## Quality (tiny-kg, mcq, precondition-filtered; value (n probes))\n")
    print(tabulate(rows, headers=["method", "task", "level", "k", "seeds", "direct ↑", "paraphrase ↑",
                                  "ctx_drop ↓", "rr ↓", "update_s"]))


def _fmt(value: float | None, n: int) -> str:
    return "-" if value is None else f"{value:.3f} ({n})"


def timing(loaded: Any, world: Any, methods: dict, scales: list[int], sets: dict, task_choice: str = "auto") -> None:
    from ksmith.errors import DatasetError
    from ksmith.methods import get_method
    from ksmith.models.snapshot import Snapshot
    from ksmith.probes import build_dataset

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        previous = os.environ.get("KSMITH_CACHE")
        os.environ["KSMITH_CACHE"] = tmp  # key statistics computed for real, once per method
        try:
            for name, info in methods.items():
                if task_choice == "auto":
                    task = "edit" if "edit" in info.families else "unlearn"
                elif task_choice in info.families:
                    task = task_choice
                else:
                    continue
                row: list[Any] = [name, task]
                cov = 0.0
                for k in scales:
                    try:
                        dataset = build_dataset(world, task, "leaf", k, 0)
                    except DatasetError:
                        row.append("n/a")
                        continue
                    snapshot = Snapshot.take(loaded.lm)
                    try:
                        start = time.perf_counter()
                        result = get_method(name, **sets.get(name, {})).apply(
                            loaded.lm, loaded.tokenizer, dataset.request()
                        )
                        wall = time.perf_counter() - start
                    finally:
                        snapshot.restore(loaded.lm)
                    cov_k = float(result.extra.get("covariance_s", 0.0))
                    cov += cov_k
                    row.append(f"{wall - cov_k:.3f}")
                    print(name, task, k, f"{wall - cov_k:.3f}s (+ cov {cov_k:.2f}s)", file=sys.stderr, flush=True)
                row.append(f"{cov:.2f}" if cov else "-")
                rows.append(row)
        finally:
            if previous is None:
                os.environ.pop("KSMITH_CACHE", None)
            else:
                os.environ["KSMITH_CACHE"] = previous
    print("\n## Wall time per update in seconds (leaf level; key statistics apart)\n")
    print(tabulate(rows, headers=["method", "task", *[f"k={k}" for k in scales], "cov_s (once)"]))


def load(spec: str, world: Any, tiny_fields: dict[str, Any]) -> Any:
    """tiny-kg / tiny-kg-small on `world` (with optional TinyConfig fields), else `load_model(spec)`."""
    from ksmith.models import load_model
    from ksmith.models.tiny import TinyConfig, pretrain

    if spec in ("tiny-kg", "tiny-kg-small"):
        base = TinyConfig.small() if spec == "tiny-kg-small" else TinyConfig()
        return pretrain(world, dataclasses.replace(base, **tiny_fields))
    return load_model(spec, world=world)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="all", help="comma-separated method names, or all")
    parser.add_argument("--levels", default="root,intermediate,leaf")
    parser.add_argument("--world-size", default="default")
    parser.add_argument("--model", default="tiny-kg",
                        help="tiny-kg, tiny-kg-small (TinyConfig.small()), or hf:<path> (timing only)")
    parser.add_argument("--tiny-config", default="{}", metavar="JSON",
                        help='TinyConfig fields for tiny-kg / tiny-kg-small, e.g. \'{"n_layer": 4}\'')
    parser.add_argument("--min-interventions", type=int, default=10,
                        help="repeat small scales over seeds until this many facts are updated")
    parser.add_argument("--timing-scales", default="1,10,100,1000")
    parser.add_argument("--timing-task", default="auto", choices=["auto", "edit", "unlearn"],
                        help="task timed (auto: edit when the method edits); the default world's leaf "
                        "level gives k=1000 for unlearning but not for edits")
    parser.add_argument("--no-quality", action="store_true")
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--set", action="append", default=[], metavar="METHOD.PARAM=VALUE",
                        help="override a method's hyper-parameter (repeatable)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    from ksmith.methods import available_methods, method_info
    from ksmith.world import build_world

    names = list(available_methods()) if args.methods == "all" else args.methods.split(",")
    methods = {name: method_info(name) for name in names}
    sets = parse_sets(args.set)
    world = build_world(size=args.world_size)
    start = time.perf_counter()
    loaded = load(args.model, world, json.loads(args.tiny_config))
    print(f"model {args.model}: {sum(p.numel() for p in loaded.lm.parameters())} parameters, "
          f"{loaded.arch.num_layers} blocks, loaded in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    if not args.no_quality:
        quality(loaded, world, methods, args.levels.split(","), args.min_interventions, sets)
    if not args.no_timing:
        timing(loaded, world, methods, [int(k) for k in args.timing_scales.split(",")], sets, args.timing_task)
    return 0


if __name__ == "__main__":
    sys.exit(main())
