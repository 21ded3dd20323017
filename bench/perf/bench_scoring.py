"""Benchmark: MCQ probes scored per second by the batched engine vs one request at a time.

Prints (no assertions; speed goals live here, not in unit tests):
- probes/s of `Scorer.score(probes, ["mcq"])` at the engine's batch size, on 10,000 probes of the
  default world (k=500 datasets: edit and unlearn, leaf and intermediate) with tiny-kg;
- probes/s scoring the same probes one (prompt, option) request per forward pass, the pattern of the
  usual editing toolkits (timed on a subset and reported as a rate);
- the speed-up (goal: >= 20x);
- achieved FLOP/s of the batched run (forward FLOPs of the rows it ran, padding not counted) next to a
  measured fp32 matmul peak on this machine at the same thread count.

    .venv/bin/python bench/perf/bench_scoring.py [--threads 1] [--probes 10000] [--single 400]

tiny-kg: the cached model when it was pretrained; otherwise the same architecture with fresh
weights (speed does not depend on the weights; the script says which it used).
"""

from __future__ import annotations

import argparse
import time


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
    """Forward FLOPs of the real tokens: 2 x matmul parameters per token plus causal attention."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--probes", type=int, default=10_000)
    parser.add_argument("--single", type=int, default=400, help="probes timed one request at a time")
    parser.add_argument("--batch-size", type=int, nargs="+", default=[64, 256])
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from ksmith.probes.generate import build_dataset
    from ksmith.scoring import Scorer
    from ksmith.world import build_world

    world = build_world(seed=0)
    from ksmith.errors import DatasetError

    probes = []
    for task, level, seed in [(t, lv, sd) for sd in range(5) for t in ("edit", "unlearn") for lv in ("leaf", "intermediate")]:
        if len(probes) < args.probes:
            try:
                probes.extend(build_dataset(world, task=task, level=level, scale=500, seed=seed).probes)
            except DatasetError:
                continue
    probes = probes[: args.probes]
    model, which = tiny_model(world)
    n_params = sum(p.numel() for p in model.lm.parameters())
    print(f"tiny-kg: {model.lm.config.n_layer} layers x {model.lm.config.n_embd}, {n_params:,} parameters, {which}")
    print(f"{len(probes):,} MCQ probes (4 options each), torch threads: {args.threads}")

    timings = {}
    for size in args.batch_size:
        batched = Scorer(model, batch_size=size)
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
    inputs = {tuple(batched._truncate(ctx, cont)) for ctx, cont in pairs}  # identical inputs share a row
    tokens = [len(row) for row in inputs]
    flops = forward_flops(model, tokens)
    peak = matmul_peak()
    print(f"one request at a time: {single_rate:10.1f} probes/s  (timed on {len(subset)} probes)")
    for size, seconds in timings.items():
        rate = len(probes) / seconds
        print(f"batched, batch {size:4d}:  {rate:10.1f} probes/s  ({seconds:.2f} s for {len(probes):,}); "
              f"speed-up {rate / single_rate:5.1f}x (goal >= 20x); {flops / seconds / 1e9:.2f} GFLOP/s achieved "
              f"= {100 * flops / seconds / peak:.0f}% of peak")
    print(f"fp32 matmul peak:      {peak / 1e9:10.2f} GFLOP/s  (512x512 GEMM, {args.threads} thread(s)); "
          f"forward FLOPs counted: {flops / 1e9:.1f} G over {sum(tokens):,} real tokens")


if __name__ == "__main__":
    main()
