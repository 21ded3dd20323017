"""`ksmith pretrain`: train (or fetch from the cache) tiny-kg on a world and write the checkpoint."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ksmith.errors import KsmithError
from ksmith.models.tiny import read_meta


def _bar(total: int) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc="pretrain tiny-kg", unit="step", file=sys.stderr, dynamic_ncols=True)


def _run(args: argparse.Namespace) -> int:
    import torch

    from ksmith.models.tiny import TinyConfig, pretrain
    from ksmith.world import build_world, load_world

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.embedded:
        return _ship(args.embedded)
    if not args.out:
        raise KsmithError("ksmith pretrain: give --out DIR (where to write the checkpoint), or --embedded NAME")
    world = load_world(args.world) if args.world else build_world(seed=args.seed)
    base = TinyConfig.small() if args.small else TinyConfig()
    overrides = {
        key: value
        for key, value in {
            "n_layer": args.n_layer,
            "n_embd": args.n_embd,
            "n_head": args.n_head,
            "lr": args.lr,
            "batch_size": args.batch_size,
            "target_accuracy": args.target,
            "max_steps": args.max_steps,
            "seed": args.model_seed,
        }.items()
        if value is not None
    }
    config = TinyConfig(**{**base.as_dict(), **overrides})
    bar = _bar(config.max_steps)
    state = {"acc": None}

    def progress(step: int, loss: float, accuracy: float | None) -> None:
        if accuracy is not None:
            state["acc"] = accuracy
        bar.n = step
        acc = "-" if state["acc"] is None else f"{state['acc']:.3f}"
        bar.set_postfix_str(f"loss {loss:.3f} acc {acc}", refresh=False)
        bar.refresh()

    try:
        model = pretrain(world, config, device=args.device, dtype=args.dtype, progress=progress, out=Path(args.out))
    finally:
        bar.close()
    meta = read_meta(Path(args.out))
    summary = {k: meta[k] for k in ("steps", "train_seconds", "held_in_accuracy", "held_out_accuracy", "n_parameters")}
    print(f"tiny-kg {model.weights_hash} -> {args.out}: {json.dumps(summary)}")
    return 0


def _ship(names: str) -> int:
    from ksmith.models.embedded import EMBEDDED, ship

    chosen = list(EMBEDDED) if names == "all" else [n.strip() for n in names.split(",") if n.strip()]
    unknown = [n for n in chosen if n not in EMBEDDED]
    if unknown or not chosen:
        raise KsmithError(f"--embedded: unknown model(s) {unknown or names!r}; use all or one of {', '.join(EMBEDDED)}")
    for name in chosen:
        path = _ship_one(name, ship, EMBEDDED[name].config().max_steps)
        meta = read_meta(path)
        summary = {k: meta[k] for k in ("steps", "train_seconds", "held_in_accuracy", "held_out_accuracy", "recipe")}
        print(f"{name} -> {path}: {json.dumps(summary)}")
    return 0


def _ship_one(name: str, ship: Any, max_steps: int) -> Path:
    bar = _bar(max_steps)

    def progress(step: int, loss: float, accuracy: float | None) -> None:
        bar.n = step
        bar.refresh()

    try:
        return ship(name, progress=progress)
    finally:
        bar.close()


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "pretrain",
        help="pretrain tiny-kg on a world (cached) and write it as a Hugging Face checkpoint",
        description="Train the embedded tiny-kg model on a world's corpus until held-in fact accuracy "
        "reaches the target (or the step cap), or load it from the cache, and copy the checkpoint to "
        "--out. Progress (loss, accuracy) is shown on stderr.",
    )
    p.add_argument("--world", help="world JSON (from `ksmith world --out`); default: the default world")
    p.add_argument("--seed", type=int, default=0, help="seed of the default world (without --world)")
    p.add_argument("--out", help="checkpoint directory to write")
    p.add_argument(
        "--embedded",
        metavar="NAME[,...]|all",
        help="re-train the shipped model(s) (tiny-kg, tiny-kg-small) from their recipe on the CPU, one thread, "
        "and write them into the package (`make embedded-models`); other options are ignored",
    )
    p.add_argument("--small", action="store_true", help="start from the small test config")
    p.add_argument("--n-layer", type=int)
    p.add_argument("--n-embd", type=int)
    p.add_argument("--n-head", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--target", type=float, help="held-in accuracy to stop at (default 0.95)")
    p.add_argument("--max-steps", type=int)
    p.add_argument("--model-seed", type=int, help="initialisation and data-order seed")
    p.add_argument("--device", help="cpu, cuda, cuda:N (default: cuda when available)")
    p.add_argument("--dtype", help="float32, bfloat16, float16 of the loaded copy (default: bfloat16 on CUDA, float32 on CPU)")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.set_defaults(func=_run)
