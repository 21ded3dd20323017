"""Benchmark: how fast the scoring engine answers MCQ probes, against two baselines.

Prints (no assertions; speed goals live here, not in unit tests):

tiny-kg (`--suite tiny`): probes/s of `Scorer.score(probes, ["mcq"])` on 10,000 probes of the default
world (k=500 datasets: edit and unlearn, leaf and intermediate) with tiny-kg, against scoring the same
probes one (prompt, option) request per forward pass, the pattern of the usual editing toolkits
(timed on a subset and reported as a rate); the speed-up (goal: >= 20x at one thread) and the
achieved FLOP/s next to a measured fp32 matmul peak at the same thread count.

peer (`--suite peer`): SmolLM2-135M (the `smollm2-135m` spec's dequantised safetensors checkpoint)
scores the same `--items` MCQ items (4 options each, " " + option as lm-eval's target delimiter) with
ksmith and, when lm-evaluation-harness is installed (`pip install -e .[peer]`), with lm-eval's HF
backend loaded from the same checkpoint directory, in one process, at the same torch threads. For
each of lm-eval's `--peer-batch-sizes` it prints items/s; then ksmith's items/s, the ratio to
lm-eval's best (goal: >= 1.5x), how many items' predicted option differs (must be 0 in float32) and
the largest log-likelihood difference. The engines take turns on chunks of `--chunk` items, so on a
shared machine they see the same load. `--device cuda --dtype bfloat16` gives the same on a GPU.

    .venv/bin/python bench/perf/bench_scoring.py [--suite tiny|peer|all] [--threads 1] [--peer-threads 2]
        [--items 400] [--device cpu] [--dtype float32] [--peer-batch-sizes 8 16 32 64]

tiny-kg: the cached model when it was pretrained; otherwise the same architecture with fresh
weights (speed does not depend on the weights; the script says which it used). The machine's load
average is printed before and after each suite: on a shared machine the figures move with it.
"""

from __future__ import annotations

import argparse
import os
import time


def load() -> str:
    return "load average %.1f %.1f %.1f on %d cores" % (*os.getloadavg(), os.cpu_count() or 0)


def matmul_peak(n: int = 512, seconds: float = 2.0) -> float:
    """Measured fp32 GEMM FLOP/s (square n x n, best of repeated runs)."""
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    for _ in range(3):
        a @ b
    best = 0.0
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        start = time.perf_counter()
        for _ in range(10):
            a @ b
        best = max(best, 10 * 2 * n**3 / (time.perf_counter() - start))
    return best


def forward_flops(model, token_counts: list[int]) -> float:
    """Forward FLOPs of the real tokens: 2 x matmul parameters per token plus causal attention
    (the LM head counted at every token, an upper bound: the engine only runs it where it scores)."""
    config = model.lm.config
    d, layers = config.n_embd, config.n_layer
    matmul_params = layers * 12 * d * d + d * config.vocab_size  # blocks + LM head
    flops = 0.0
    for t in token_counts:
        flops += 2 * matmul_params * t + layers * 2 * 2 * d * t * (t + 1) / 2  # QK^T and AV, causal
    return flops


def tiny_model(world):
    from ksmith.cache import entry
    from ksmith.models.arch import describe
    from ksmith.models.loaded import LoadedModel
    from ksmith.models.tiny import META_FILE, TinyConfig, build_tokenizer, cache_key, load

    config = TinyConfig()
    path = entry("models", cache_key(world, config))
    if (path / META_FILE).is_file():
        return load(path, device="cpu"), "pretrained (cached)"
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    tokenizer = build_tokenizer(world)
    torch.manual_seed(0)
    lm = GPT2LMHeadModel(
        GPT2Config(vocab_size=len(tokenizer), n_positions=config.n_positions, n_embd=config.n_embd,
                   n_layer=config.n_layer, n_head=config.n_head, tie_word_embeddings=config.tie_embeddings,
                   bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                   pad_token_id=tokenizer.pad_token_id)
    ).eval()
    model = LoadedModel("tiny-kg", lm, tokenizer, describe(lm), weights_hash="", device="cpu")
    return model, "fresh weights (tiny-kg not pretrained in this cache)"


def world_probes(world, n: int) -> list:
    """The first `n` probes of the default world's k=500 datasets (edit and unlearn, two levels)."""
    from ksmith.errors import DatasetError
    from ksmith.probes.generate import build_dataset

    probes: list = []
    for seed in range(5):
        for task in ("edit", "unlearn"):
            for level in ("leaf", "intermediate"):
                if len(probes) < n:
                    try:
                        probes.extend(build_dataset(world, task=task, level=level, scale=500, seed=seed).probes)
                    except DatasetError:
                        continue
    return probes[:n]


def tiny_suite(args, world) -> None:
    import torch

    from ksmith.scoring import Scorer
    from ksmith.scoring.engine import _build_rows

    torch.set_num_threads(args.threads)
    probes = world_probes(world, args.probes)
    model, which = tiny_model(world)
    n_params = sum(p.numel() for p in model.lm.parameters())
    print(f"== tiny-kg: {model.lm.config.n_layer} layers x {model.lm.config.n_embd}, {n_params:,} parameters, {which}")
    print(f"{len(probes):,} MCQ probes (4 options each), torch threads: {args.threads}; {load()}")

    timings = {}
    for size in args.batch_size:
        batched = Scorer(model, batch_size=int(size) if size != "auto" else "auto")
        batched.score(probes[:200], ["mcq"])  # warm-up
        start = time.perf_counter()
        batched.score(probes, ["mcq"])
        timings[size] = time.perf_counter() - start

    single = Scorer(model, batch_size=1)
    subset = probes[: args.single]

    def one_by_one(items):
        for probe in items:
            for choice in probe.choices:  # one forward pass per (prompt, option), as toolkits do
                single.loglikelihood([(probe.prompt, " " + choice)])

    one_by_one(subset[:10])
    start = time.perf_counter()
    one_by_one(subset)
    single_s = time.perf_counter() - start
    single_rate = len(subset) / single_s

    pairs = batched._split_many([(p.prompt, " " + c) for p in probes for c in p.choices])
    tokens = [len(row.tokens) for row in _build_rows(pairs, batched._max_len, None)]
    flops = forward_flops(model, tokens)
    peak = matmul_peak()
    print(f"one request at a time: {single_rate:10.1f} probes/s  (timed on {len(subset)} probes)")
    for size, seconds in timings.items():
        rate = len(probes) / seconds
        print(f"batched, batch {size:>4}:  {rate:10.1f} probes/s  ({seconds:.2f} s for {len(probes):,}); "
              f"speed-up {rate / single_rate:5.1f}x (goal >= 20x); {flops / seconds / 1e9:.2f} GFLOP/s achieved "
              f"= {100 * flops / seconds / peak:.0f}% of peak")
    print(f"fp32 matmul peak:      {peak / 1e9:10.2f} GFLOP/s  (512x512 GEMM, {args.threads} thread(s)); "
          f"forward FLOPs counted: {flops / 1e9:.1f} G over {sum(tokens):,} real tokens; {load()}")


def peer_suite(args, world) -> None:
    import torch

    from ksmith.models import load_model
    from ksmith.scoring import Scorer

    torch.set_num_threads(args.peer_threads)
    probes = world_probes(world, args.items)
    model = load_model("smollm2-135m", device=args.device, dtype=args.dtype)
    path = model.lm.config._name_or_path
    requests = [(p.prompt, " " + c) for p in probes for c in p.choices]
    print(f"== SmolLM2-135M ({path}), {args.dtype} on {args.device}, torch threads {args.peer_threads}")
    print(f"{len(probes)} MCQ items of the default world, {len(requests)} requests; {load()}")

    scorer = Scorer(model, batch_size=args.ksmith_batch_size)
    scorer.score(probes[:20], ["mcq"])  # warm-up
    try:
        from lm_eval.api.instance import Instance
        from lm_eval.models.huggingface import HFLM
    except ImportError:
        start = time.perf_counter()
        scorer.score(probes, ["mcq"])
        seconds = time.perf_counter() - start
        print(f"ksmith (batch {args.ksmith_batch_size}): {len(probes) / seconds:8.1f} items/s ({seconds:.2f} s); {load()}")
        print("lm-eval: not installed (pip install -e .[peer]); no comparison")
        return
    import importlib.metadata

    peer = HFLM(pretrained=path, device=args.device, dtype=args.dtype, batch_size=args.peer_batch_sizes[0])
    instances = [Instance("loglikelihood", {}, request, j) for j, request in enumerate(requests)]
    peer.loglikelihood(instances[:80], disable_tqdm=True)  # warm-up
    # Interleaved in chunks, so that on a shared machine both engines see the same load over time.
    seconds = {"ksmith": 0.0, **{size: 0.0 for size in args.peer_batch_sizes}}
    mine: dict = {}
    theirs: list[float] = []
    for first in range(0, len(probes), args.chunk):
        chunk = probes[first : first + args.chunk]
        start = time.perf_counter()
        mine.update(scorer.score(chunk, ["mcq"]).of("mcq"))
        seconds["ksmith"] += time.perf_counter() - start
        for k, size in enumerate(args.peer_batch_sizes):
            peer.batch_size_per_gpu = size
            start = time.perf_counter()
            out = peer.loglikelihood(instances[4 * first : 4 * (first + len(chunk))], disable_tqdm=True)
            seconds[size] += time.perf_counter() - start
            if k == 0:
                theirs.extend(ll for ll, _ in out)
        print(f"  {first + len(chunk)} items: " + ", ".join(f"{key} {value:.1f} s" for key, value in seconds.items())
              + f"; {load()}", flush=True)
    version = importlib.metadata.version("lm_eval")
    rates = {size: len(probes) / seconds[size] for size in args.peer_batch_sizes}
    for size, rate in rates.items():
        print(f"lm-eval {version} HF backend, batch {size:3d}: {rate:8.2f} items/s ({seconds[size]:.1f} s)")
    ksmith_rate = len(probes) / seconds["ksmith"]
    print(f"ksmith (batch {args.ksmith_batch_size}, token budget {scorer.token_budget}): {ksmith_rate:8.2f} items/s "
          f"({seconds['ksmith']:.1f} s)")
    best_size = max(rates, key=rates.get)
    differ = 0
    worst = 0.0
    for k, probe in enumerate(probes):
        lls = theirs[4 * k : 4 * k + 4]
        choice = max(range(4), key=lambda j: (lls[j], -j))
        differ += choice != mine[probe.id].choice
        worst = max(worst, max(abs(a - b) for a, b in zip(lls, mine[probe.id].option_scores)))
    print(f"ratio ksmith / lm-eval at its best batch ({best_size}): {ksmith_rate / rates[best_size]:.2f}x (goal >= 1.5x)")
    print(f"items whose predicted option differs: {differ} of {len(probes)}; "
          f"largest |log-likelihood difference|: {worst:.2e}; {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", choices=["tiny", "peer", "all"], default=None,
                        help="default: all on CPU; peer alone on another --device (the tiny suite is a CPU figure)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the tiny-kg suite")
    parser.add_argument("--probes", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=400, help="probes timed one request at a time")
    parser.add_argument("--batch-size", nargs="+", default=["auto", "64", "256"], help="tiny-kg engine batch sizes")
    parser.add_argument("--peer-threads", type=int, default=2, help="torch threads of the peer suite (both engines)")
    parser.add_argument("--items", type=int, default=400, help="MCQ items of the peer suite")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--ksmith-batch-size", default="auto")
    parser.add_argument("--peer-batch-sizes", type=int, nargs="+", default=[8, 16, 32, 64])
    parser.add_argument("--chunk", type=int, default=100, help="items per interleaved round of the peer suite")
    args = parser.parse_args()
    if args.ksmith_batch_size != "auto":
        args.ksmith_batch_size = int(args.ksmith_batch_size)

    if args.suite is None:
        args.suite = "all" if args.device == "cpu" else "peer"
    from ksmith.world import build_world

    world = build_world(seed=0)
    if args.suite in ("tiny", "all"):
        tiny_suite(args, world)
    if args.suite in ("peer", "all"):
        peer_suite(args, world)


if __name__ == "__main__":
    main()
