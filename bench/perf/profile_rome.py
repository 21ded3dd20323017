"""Profile ROME k=1 cells on SmolLM2-135M: key statistics, update and scoring, first cell vs later.

Prints, per cell, wall seconds and CPU seconds of this process (CPU time is the truer figure on a
machine shared with other jobs) for: the key statistics (`Method.prepare`; computed in the first
cell, loaded from the cache after), the update, and scoring the cell's probes. Run with a fresh
`KSMITH_CACHE` to see the first cell pay for the statistics:

    KSMITH_CACHE=$(mktemp -d) python bench/perf/profile_rome.py --cells 3
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import time


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    value = fn()
    return value, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=3, help="k=1 cells (seeds 0..n-1)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--world", default="small", help="world size of the synthetic world, or 'real'")
    parser.add_argument("--method", default="rome")
    parser.add_argument("--profile", action="store_true", help="cProfile the first cell's update")
    args = parser.parse_args()

    import torch

    from ksmith.methods import get_method
    from ksmith.models import load_model
    from ksmith.models.snapshot import HostCopy
    from ksmith.probes import build_dataset
    from ksmith.scoring import Scorer

    torch.set_num_threads(args.threads)
    model, load_wall, load_cpu = timed(lambda: load_model("smollm2-135m", device="cpu"))
    print(f"load smollm2-135m: {load_wall:.1f} s wall, {load_cpu:.1f} s CPU ({model.dtype}, {args.threads} thread(s))")
    if args.world == "real":
        from ksmith.world import load_world

        world = load_world("real")
    else:
        from ksmith.world import build_world

        world = build_world(size=args.world, seed=0)
    scorer = Scorer(model)
    copy = HostCopy(model.lm)
    for seed in range(args.cells):
        case = copy.case().bind(model.lm)
        dataset = build_dataset(world, "edit", "leaf", 1, seed)
        method = get_method(args.method)
        _, stats_wall, stats_cpu = timed(lambda: method.prepare(model.lm, model.tokenizer))
        profiler = cProfile.Profile() if args.profile and seed == 0 else None
        if profiler:
            profiler.enable()
        result, update_wall, update_cpu = timed(lambda: method.apply(model.lm, model.tokenizer, dataset.request()))
        if profiler:
            profiler.disable()
        _, score_wall, score_cpu = timed(lambda: scorer.score(dataset.probes, ("mcq",)))
        total = stats_wall + update_wall + score_wall
        print(
            f"cell {seed}: stats {stats_wall:.1f} s ({stats_cpu:.1f} CPU), update {update_wall:.1f} s "
            f"({update_cpu:.1f} CPU, {result.steps} value steps), score {score_wall:.1f} s ({score_cpu:.1f} CPU, "
            f"{len(dataset.probes)} probes); cell {total:.1f} s wall"
        )
        if profiler:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(20)
            print(out.getvalue())
        case.restore(model.lm)  # the harness's restore, as between grid cells
        case.verify(model.lm)


if __name__ == "__main__":
    main()
