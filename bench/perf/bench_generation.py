"""Benchmark: probes generated per second and peak memory, for k = 1, 100, 10,000 on a large world.

Prints (no assertions; the goal lives here, not in unit tests): per (task, k), the interventions,
probes, wall time of `build_dataset`, probes/s, peak traced memory, and bytes per probe above the
k=1 run's peak (the updated world's copy is a fixed cost; memory should be linear in the number of
probes, so the marginal bytes/probe should stay flat as k grows), and the
time `Dataset.hash` and `to_jsonl` take. Goal: 100,000 probes in under 10 s on 2 cores.

    .venv/bin/python bench/perf/bench_generation.py [--size large] [--scales 1,100,10000] [--tasks edit,unlearn]

Time and memory are measured in separate runs, because tracing allocations slows Python down.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
import tracemalloc
from pathlib import Path

from ksmith.probes import build_dataset
from ksmith.world import DOMAINS, build_world


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large")
    parser.add_argument("--scales", default="1,100,10000")
    parser.add_argument("--tasks", default="edit,unlearn")
    parser.add_argument("--level", default="leaf")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    start = time.perf_counter()
    world = build_world(DOMAINS, args.size, args.seed)
    n_facts = len(world.all_facts())
    print(f"world {args.size}: {n_facts} facts, {len(world.entities)} entities, "
          f"built in {time.perf_counter() - start:.2f} s")
    header = f"{'task':8} {'k':>6} {'probes':>8} {'time s':>7} {'probes/s':>9} {'peak MB':>8} {'B/probe':>8} {'hash s':>7} {'jsonl s':>7}"
    print(header)
    print("-" * len(header))
    total_probes = total_time = 0.0
    for task in args.tasks.split(","):
        base_peak = base_n = None
        for k in (int(x) for x in args.scales.split(",")):
            gc.collect()
            t0 = time.perf_counter()
            ds = build_dataset(world, task, args.level, k, args.seed)
            wall = time.perf_counter() - t0
            n = len(ds.probes)
            total_probes += n
            total_time += wall
            t0 = time.perf_counter()
            _ = ds.hash
            hash_s = time.perf_counter() - t0
            with tempfile.TemporaryDirectory() as tmp:
                t0 = time.perf_counter()
                ds.to_jsonl(Path(tmp) / "d.jsonl")
                jsonl_s = time.perf_counter() - t0
            del ds
            gc.collect()
            tracemalloc.start()
            ds = build_dataset(world, task, args.level, k, args.seed)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            del ds
            if base_peak is None:
                base_peak, base_n = peak, n
                marginal = "-"
            else:
                marginal = f"{(peak - base_peak) / max(n - base_n, 1):.0f}"
            print(f"{task:8} {k:>6} {n:>8} {wall:>7.2f} {n / wall:>9.0f} {peak / 1e6:>8.1f} "
                  f"{marginal:>8} {hash_s:>7.2f} {jsonl_s:>7.2f}")
    rate = total_probes / total_time
    print(f"overall {rate:.0f} probes/s -> 100,000 probes in {100_000 / rate:.1f} s (goal < 10 s)")


if __name__ == "__main__":
    main()
