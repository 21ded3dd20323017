"""`ksmith known`: measure which facts of a world a model knows, and write its known set."""

from __future__ import annotations

import argparse
import sys
import time

from ksmith.probes.known import KnownSet


def format_table(known: KnownSet) -> str:
    """Counts per domain x relation x level, with the chance control beside them."""
    from tabulate import tabulate

    rows = []
    for cell in known.table():
        n = cell["facts"]
        rows.append([cell["domain"], cell["relation"], cell["level"], n, cell["known"],
                     f"{cell['known'] / n:.2f}", cell["chance"], f"{cell['chance'] / n:.2f}"])
    total = len(known.facts)
    k = sum(f.known for f in known.facts)
    c = sum(f.known_by_chance for f in known.facts)
    rows.append(["all", "", "", total, k, f"{k / max(1, total):.2f}", c, f"{c / max(1, total):.2f}"])
    return tabulate(rows, headers=["domain", "relation", "level", "facts", "known", "known frac", "chance",
                                   "chance frac"], tablefmt="github", disable_numparse=True)


def _run(args: argparse.Namespace) -> int:
    from ksmith.models import load_model
    from ksmith.known.measure import cached_known, measure_known
    from ksmith.world.io import load_world

    if args.world == "real":
        from ksmith.world.real import load_real_world

        world = load_real_world()
    else:
        world = load_world(args.world)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model(args.model, world=world, device=args.device, dtype=args.dtype)
    start = time.perf_counter()
    if args.no_cache:
        known = measure_known(model, world, batch_size=args.batch_size, name=args.model, sample=args.sample)
    else:
        known = cached_known(model, world, batch_size=args.batch_size, sample=args.sample)
    took = time.perf_counter() - start
    if args.out:
        known.save(args.out)
    print(format_table(known))
    scope = f", a sample of {known.sample} per cell" if known.sample is not None else ""
    print(f"known set {known.hash} of {args.model} on world {world.hash}{scope}: "
          f"{sum(f.known for f in known.facts)} of {len(known.facts)} facts known ({took:.0f} s)"
          + (f" -> {args.out}" if args.out else ""), file=sys.stdout)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "known",
        help="measure which facts of a world a model knows (its known set)",
        description="Score every held-in question of every fact an intervention can change; a fact is "
        "known when the model is right in every one of its held-in paraphrases. Prints counts per domain x "
        "relation x level beside a chance control (the subject replaced by a generic phrase). Cached by "
        "(model weights, world, code version).",
    )
    p.add_argument("--model", required=True, help="model spec (smollm2-135m, hf:<path>, tiny-kg, ...)")
    p.add_argument("--world", required=True, help="world file (JSON), or `real` for the committed real world")
    p.add_argument("--out", metavar="K.json", help="write the known set here (JSON)")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: the best available)")
    p.add_argument("--dtype", default=None, help="float32, bfloat16, ... (default: the model's choice)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--sample", type=int, default=None, metavar="N",
                   help="ask only N seeded facts per domain x relation x level (an estimate, when scoring every "
                   "fact costs too much); the others are left out of the known set")
    p.add_argument("--no-cache", action="store_true", help="measure again instead of reading the cache")
    p.set_defaults(func=_run)
