"""The LM head at the positions a score or loss reads vs at every position (prints one table).

`ksmith.models.logits` passes `logits_to_keep` so the head projects only the positions that are
read; a model whose forward lacks it gets the full pass and then those positions. This benchmark
times both routes, in one process on one model, for the three places that read logits:

    drift capture   `ksmith.scoring.next_token` on the world's 128 drift prompts (last token)
    value opt.      the locate methods' value optimisation (`optimise_values`, MEMIT's settings),
                    `--facts` edits x `--steps` steps, early stopping off
    train step      one `sequence_logprobs` forward + backward on 32 (prompt, answer) pairs

and checks that the two routes give the same numbers (max absolute difference). The gain grows with
the vocabulary: the head is d_model x vocab per position (SmolLM2: 576 x 49k; Gemma 3: 640 x 262k).

    .venv/bin/python bench/perf/bench_lm_head.py                        # SmolLM2-135M
    .venv/bin/python bench/perf/bench_lm_head.py --model gemma3-270m    # needs `make gemma3`
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable
from typing import Any

import torch
from tabulate import tabulate

import ksmith.models.logits as head
from ksmith.methods.locate import EditTarget, optimise_values
from ksmith.methods.memit import MEMIT
from ksmith.methods.training import TrainPair, sequence_logprobs, tokenize_pairs
from ksmith.metrics.drift import drift_prompts
from ksmith.models.arch import describe
from ksmith.models.zoo import load_model
from ksmith.scoring import Scorer, next_token
from ksmith.world.real import load_real_world

COUNTRIES = [
    ("France", "Paris"), ("Germany", "Berlin"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"),
    ("Egypt", "Cairo"), ("Peru", "Lima"), ("Norway", "Oslo"), ("Kenya", "Nairobi"), ("Chile", "Santiago"),
]


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--facts", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2, help="each route runs this many times, interleaved; the minimum is shown")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    model = load_model(args.model)
    lm, tok = model.lm, model.tokenizer
    arch = describe(lm)
    hp = MEMIT().hparams_for(arch).resolved(arch)
    settings = dataclasses.replace(hp.value_settings(), steps=args.steps, stop_loss=float("-inf"))
    module = arch.mlp_residual_module(MEMIT().layers_for(arch, hp)[-1])
    prompts = drift_prompts(load_real_world())
    targets = [
        EditTarget(f"t{i}", country, (f"The capital of {country} is", f"The capital city of {country} is"),
                   " " + COUNTRIES[(i + 1) % len(COUNTRIES)][1])
        for i, (country, _) in enumerate((COUNTRIES * (args.facts // len(COUNTRIES) + 1))[: args.facts])
    ]
    batch = tokenize_pairs(tok, [TrainPair(f"The capital of {c} is", " " + city) for c, city in (COUNTRIES * 4)[:32]])
    trained = [p for p in lm.parameters() if p.requires_grad][-4:]

    def train_step() -> torch.Tensor:
        logp = sequence_logprobs(lm, batch).logp
        return torch.autograd.grad(logp.sum(), trained)[0]

    work = {
        "drift capture": lambda: next_token(Scorer(model), prompts).logprobs,
        "value opt.": lambda: optimise_values(lm, tok, targets, module, hp.key_position, settings).deltas,
        "train step": train_step,
    }
    supported = head.keeps_logits
    times: dict[tuple[str, str], float] = {}
    outs: dict[tuple[str, str], torch.Tensor] = {}
    try:
        for _ in range(args.repeats):
            for route in ("read positions", "every position"):
                head.keeps_logits = supported if route == "read positions" else (lambda _model: False)
                for name, fn in work.items():
                    seconds, out = _timed(fn)
                    times[name, route] = min(seconds, times.get((name, route), float("inf")))
                    outs[name, route] = out
    finally:
        head.keeps_logits = supported
    rows = [
        [name, f"{times[name, 'every position']:.2f}", f"{times[name, 'read positions']:.2f}",
         f"{times[name, 'every position'] / times[name, 'read positions']:.2f}x",
         f"{(outs[name, 'every position'] - outs[name, 'read positions']).abs().max().item():.1e}"]
        for name in work
    ]
    print(f"{args.model} (vocabulary {lm.config.get_text_config().vocab_size}), {args.threads} thread(s), "
          f"{args.facts} facts x {args.steps} value steps, best of {args.repeats}")
    print(tabulate(rows, headers=["work", "head everywhere s", "head at read positions s", "speed-up", "max |diff|"]))


if __name__ == "__main__":
    main()
