"""Quality of the fine-tuning editors and unlearners on tiny-kg (mcq protocol), for tuning defaults.

For each method and each (level, seed) it applies the method to a freshly restored tiny-kg, scores
the dataset with the mcq protocol and prints, per row:

  edit:     direct accuracy on the new object (held-in paraphrases), held-out paraphrase accuracy,
            contextual accuracy drop (pre - post);
  unlearn:  residual retention (all Q+ probes still choosing the old object), the accuracy (= not
            the old object) per Q+ probe type, contextual accuracy drop.

Usage (one thread, the machine is shared):

  OMP_NUM_THREADS=1 python bench/perf/bench_tune_finetune.py --methods ft-m --k 1
  OMP_NUM_THREADS=1 python bench/perf/bench_tune_finetune.py --task unlearn \
      --methods grad-ascent,npo,rmu,relearn --k 10 --set npo.lr=1e-3

Seeds come from `ksmith.grid.TUNING_SEEDS` (the tuning split; `--seeds N` takes the first N), never
from a reported grid's seeds (the findings grid uses `FINDINGS_SEEDS`).

`--world small` uses the small world and its small model (seconds, for quick iteration); the
targets in the issue are on the default world. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import ast
import logging
import math
import statistics
import time

import torch
from tabulate import tabulate

from ksmith.grid import TUNING_SEEDS

EDIT_METHODS = ("ft-m", "ft-l", "lora")
UNLEARN_METHODS = ("grad-ascent", "grad-diff", "npo", "simnpo", "rmu", "relearn")


def load(world_size: str, model_config: str | None):
    """The world and its tiny-kg (the default config, or the small one for the small world)."""
    import json

    from ksmith.models.tiny import TinyConfig, pretrain
    from ksmith.world import build_world

    world = build_world(size=world_size, seed=0)
    config = TinyConfig.small() if world_size == "small" else TinyConfig()
    if model_config:
        config = TinyConfig(**{**config.as_dict(), **json.loads(model_config)})
    return world, pretrain(world, config)


def method_class(name: str):
    """The method's class, importing only our modules (so the bench runs whatever else is broken)."""
    import importlib

    from ksmith.methods.registry import _REGISTRY

    for module in ("ksmith.methods.finetune", "ksmith.methods.lora", "ksmith.methods.unlearn"):
        importlib.import_module(module)
    return _REGISTRY[name].cls


def parse_overrides(items: list[str]) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for item in items:
        key, _, value = item.partition("=")
        method, _, field = key.partition(".")
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            parsed = value
        out.setdefault(method, {})[field] = parsed
    return out


def _nanmean(values: list[float]) -> float:
    """Mean over the cases where the metric exists (a case may have no probe of a type)."""
    kept = [v for v in values if not math.isnan(v)]
    return statistics.fmean(kept) if kept else float("nan")


def metric(metrics: dict, name: str) -> float:
    m = metrics.get(name)
    return float("nan") if m is None else float(m.value)


def run(args: argparse.Namespace) -> None:
    from ksmith.metrics.case import compute
    from ksmith.models.snapshot import Snapshot
    from ksmith.probes import build_dataset
    from ksmith.scoring import Scorer

    world, model = load(args.world, args.model_config)
    print(f"world {args.world} {world.hash}  model {model.weights_hash}  task {args.task}  k={args.k}")
    snapshot = Snapshot.take(model.lm)
    scorer = Scorer(model, batch_size=128)
    overrides = parse_overrides(args.set)
    rows = []
    for name in args.methods.split(","):
        cls = method_class(name)
        per_seed = []
        for level in args.levels.split(","):
            for seed in TUNING_SEEDS[: args.seeds]:  # the tuning split: never a reported grid's seeds
                dataset = build_dataset(world, args.task, level, args.k, seed)
                pre = scorer.score(dataset.probes, ("mcq",))
                method = cls(**overrides.get(name, {}))
                t0 = time.perf_counter()
                result = method.apply(model.lm, model.tokenizer, dataset.request())
                wall = time.perf_counter() - t0
                post = scorer.score(dataset.probes, ("mcq",))
                metrics = compute(dataset, pre, post, held_out=model.held_out, n_resamples=0)
                if args.show_metrics:
                    print(sorted(metrics))
                    args.show_metrics = False
                snapshot.restore(model.lm)
                snapshot.verify(model.lm)
                pre_ctx = sum(
                    s.choice == p.answer_before
                    for p in dataset.probes
                    if p.probe_type == "contextual"
                    for s in [pre.get(p.id, "mcq")]
                )
                post_ctx = sum(
                    s.choice == p.answer_before
                    for p in dataset.probes
                    if p.probe_type == "contextual"
                    for s in [post.get(p.id, "mcq")]
                )
                n_ctx = max(1, sum(p.probe_type == "contextual" for p in dataset.probes))
                row = {
                    "level": level,
                    "seed": seed,
                    "steps": result.steps,
                    "loss0": result.loss_curve[0] if result.loss_curve else float("nan"),
                    "lossN": result.loss_curve[-1] if result.loss_curve else float("nan"),
                    "wall_s": wall,
                    "ctx_drop": (pre_ctx - post_ctx) / n_ctx,
                    "ctx_acc_pre": pre_ctx / n_ctx,
                }
                row["ctx_drop_filtered"] = 1.0 - metric(metrics, "contextual_acc")
                if args.task == "edit":
                    row["direct"] = metric(metrics, "direct_acc")
                    row["held_out"] = metric(metrics, "paraphrase_acc")
                    row["q+"] = metric(metrics, "q_plus_acc")
                else:
                    row["rr"] = metric(metrics, "rr")
                    for kind in ("direct", "paraphrase", "reverse", "multi_hop", "comparison", "conflict"):
                        row[f"ok_{kind}"] = metric(metrics, f"{kind}_acc")
                per_seed.append(row)
                if args.verbose:
                    print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()}, flush=True)
        keys = [k for k in per_seed[0] if k not in ("level", "seed")]
        mean = {k: _nanmean([r[k] for r in per_seed]) for k in keys}
        rows.append({"method": name, "k": args.k, "n": len(per_seed), **mean, "set": overrides.get(name, "")})
    print(tabulate(rows, headers="keys", floatfmt=".3f"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=("edit", "unlearn"), default="edit")
    parser.add_argument("--methods", default=None, help="comma-separated method names")
    parser.add_argument("--k", type=int, default=1)
    parser.add_argument("--levels", default="leaf", help="comma-separated levels")
    parser.add_argument("--seeds", type=int, default=3, help=f"how many of the tuning seeds {TUNING_SEEDS}")
    parser.add_argument("--world", choices=("small", "default"), default="default")
    parser.add_argument("--model-config", default=None, help='TinyConfig overrides as JSON')
    parser.add_argument("--set", action="append", default=[], help="method.field=value override")
    parser.add_argument("--show-metrics", action="store_true", help="print the metric names once")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    if args.methods is None:
        args.methods = ",".join(EDIT_METHODS if args.task == "edit" else UNLEARN_METHODS)
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    run(args)


if __name__ == "__main__":
    main()
