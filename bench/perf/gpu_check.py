"""`make gpu-check`: does ksmith run right on a CUDA machine, and what does each method cost there?

1. The conformance suite with the toy models on CUDA (`--ksmith-device cuda`).
2. One bench cell per method (edit and unlearn, leaf, k=1, seed 0) on SmolLM2-135M in bfloat16 on
   CUDA, through the real bench case and fixtures (host copy, fingerprints, restore), then a table:
   method, task, device, dtype, peak accelerator memory, key statistics, update and score seconds.
3. The scoring benchmark on CUDA in bfloat16, if `bench/perf/bench_scoring.py` takes `--device`.

Prints everything; exits non-zero if a step fails. Run it from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"]


def run(step: str, command: list[str], env: dict[str, str]) -> float:
    print(f"\n== {step}\n$ {' '.join(command)}", flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env)
    seconds = time.perf_counter() - start
    print(f"-- {step}: exit {done.returncode} in {seconds:.0f} s", flush=True)
    if done.returncode != 0:
        sys.exit(f"gpu-check: {step} failed (exit {done.returncode})")
    return seconds


def table(results: Path) -> str:
    from tabulate import tabulate

    rows = []
    for line in results.read_text().splitlines():
        record = json.loads(line)
        key, prov, timings = record["key"], record.get("provenance", {}), record.get("timings", {})
        peak = (record.get("metrics", {}).get("peak_mem_mb") or {}).get("value")
        rows.append([
            key["method"], key["task"], prov.get("device"), prov.get("dtype"),
            None if peak is None else round(peak), timings.get("stats_s"), timings.get("update_s"),
            timings.get("score_s"), record.get("status"),
        ])
    headers = ["method", "task", "device", "dtype", "peak MiB", "stats_s", "update_s", "score_s", "status"]
    return tabulate(sorted(rows, key=lambda r: (r[1], r[0])), headers=headers, floatfmt=".2f")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--workers", type=int, default=4, help="xdist workers for the conformance suite")
    args = parser.parse_args()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        sys.exit("gpu-check needs a CUDA device (torch.cuda.is_available() is False); run it on a GPU machine")
    name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    print(f"gpu-check on {name}, torch {torch.__version__}", flush=True)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}
    started = time.perf_counter()
    run("conformance on " + args.device, [*PYTEST, "ksmith/conformance", "-n", str(args.workers),
                                           "--ksmith-device", args.device], env)
    report = ROOT / "reports" / "gpu-check"
    run("one bench cell per method on SmolLM2, bf16", [
        *PYTEST, "bench/test_update.py", "--ksmith-models", "smollm2-135m", "--ksmith-methods", "all",
        "--ksmith-levels", "leaf", "--ksmith-scales", "1", "--ksmith-seeds", "0",
        "--ksmith-world-size", "small", "--ksmith-device", args.device, "--ksmith-dtype", "bfloat16",
        "--ksmith-report-dir", str(report),
    ], env)
    print("\n" + table(report / "latest" / "results.jsonl"), flush=True)
    scoring = ROOT / "bench" / "perf" / "bench_scoring.py"
    if "--device" in scoring.read_text():
        run("scoring benchmark", [sys.executable, str(scoring), "--device", args.device, "--dtype", "bfloat16"], env)
    else:
        print("\n(bench_scoring.py takes no --device yet: scoring benchmark skipped)")
    print(f"\ngpu-check done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
