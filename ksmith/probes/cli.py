"""`ksmith data`: generate the probes for one (world, task, level, scale, seed) as JSONL."""

from __future__ import annotations

import argparse

from ksmith.probes.dataset import Dataset
from ksmith.probes.generate import build_dataset
from ksmith.probes.types import PROBE_TYPES, TASKS
from ksmith.world.builders import build_world
from ksmith.world.domains import DOMAINS
from ksmith.world.io import load_world
from ksmith.world.schema import LEVELS


def summary(ds: Dataset) -> str:
    """One line: interventions, retain items, and probes per type and family."""
    counts = ds.summary()
    parts = []
    for ptype in PROBE_TYPES:
        fams = counts[ptype]
        parts.append(f"{ptype} " + "/".join(f"{fam} {n}" for fam, n in sorted(fams.items())) if fams else f"{ptype} 0")
    return (
        f"dataset {ds.hash}: {ds.task} {ds.level} k={ds.scale} seed={ds.seed}: {len(ds.interventions)} "
        f"interventions, {len(ds.retain)} retain, {len(ds.probes)} probes ({'; '.join(parts)})"
    )


def _run(args: argparse.Namespace) -> int:
    if args.world:
        world = load_world(args.world, args.schema)
    else:
        world = build_world(DOMAINS, args.size, args.seed)
    domains = args.domains.split(",") if args.domains else None
    ds = build_dataset(world, args.task, args.level, args.scale, args.seed, domains)
    if args.out:
        ds.to_jsonl(args.out)
    print(summary(ds) + (f" -> {args.out}" if args.out else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "data",
        help="generate interventions, probes and retain items as JSONL",
        description="Pick k non-interfering interventions at one level, generate the six probe types "
        "from the updated-world oracle, write JSONL, and print probes per type and family.",
    )
    p.add_argument("--world", help="world file (JSON, or TSV with --schema); default: the default world of --seed")
    p.add_argument("--schema", help="relation-schema JSON for a TSV world")
    p.add_argument("--size", default="default", help="size of the world built when --world is omitted")
    p.add_argument("--task", choices=TASKS, required=True)
    p.add_argument("--level", choices=LEVELS, required=True)
    p.add_argument("--scale", type=int, required=True, help="k, the number of interventions")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domains", help="restrict interventions to these comma-separated domains")
    p.add_argument("--out", help="write the dataset here (JSONL)")
    p.set_defaults(func=_run)
