"""`ksmith world`: build a synthetic world (or check a world file) and write it as JSON."""

from __future__ import annotations

import argparse
from collections import Counter

from ksmith.cache import atomic_write_text
from ksmith.world.builders import build_world
from ksmith.world.domains import DOMAINS
from ksmith.world.io import load_world
from ksmith.world.world import World


def summary(world: World) -> str:
    """One line: domains, entities, facts (closure), nodes per level, hash."""
    levels = Counter(world.level(n) for t in world.taxon_types for n in world.entities_of_type(t))
    return (
        f"world {world.hash}: domains {','.join(world.domains)}; {len(world.entities)} entities; "
        f"{len(world.all_facts())} facts ({len(world.stated_facts())} stated); "
        f"taxonomy nodes root {levels['root']}, intermediate {levels['intermediate']}, leaf {levels['leaf']}"
    )


def _run(args: argparse.Namespace) -> int:
    if args.source:
        world = load_world(args.source, args.schema)
    else:
        world = build_world(args.domains.split(","), args.size, args.seed)
    if args.out:
        world.save(args.out)
    if args.corpus:
        atomic_write_text(args.corpus, "\n".join(world.corpus()) + "\n")
    print(summary(world) + (f" -> {args.out}" if args.out else ""))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "world",
        help="build a synthetic world (or check a world file) and write it as JSON",
        description="Build a seeded synthetic knowledge graph, or load and validate one from JSON or "
        "triples TSV plus a relation schema; print a one-line summary.",
    )
    p.add_argument("--domains", default=",".join(DOMAINS), help=f"comma-separated, from {','.join(DOMAINS)}")
    p.add_argument("--size", default="default", help="small, default, large, or taxonomy nodes per domain")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", help="write the world here (JSON)")
    p.add_argument("--from", dest="source", metavar="PATH", help="load this world file instead of building one")
    p.add_argument("--schema", metavar="PATH", help="relation-schema JSON for a TSV world (with --from)")
    p.add_argument("--corpus", metavar="PATH", help="also write the world's pretraining corpus (one line each)")
    p.set_defaults(func=_run)
