"""`ksmith world`: build a synthetic world (or check a world file) and write it as JSON."""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from ksmith.cache import atomic_write_text
from ksmith.errors import WorldError
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
    if args.audit:
        from ksmith.world.real.audit import audit_markdown

        print(audit_markdown())
        return 0
    if args.rebuild and args.source != "real":
        raise WorldError("--rebuild rebuilds the real world from its packages; add --source real")
    if args.from_path:
        world = load_world(args.from_path, args.schema)
    elif args.source == "real":
        from ksmith.world.real import REAL_WORLD_FILE, build_real_world, load_real_world

        if args.rebuild:
            world = build_real_world()
            committed = load_real_world()
            if world.hash != committed.hash:
                if args.check:
                    print(f"rebuilt real world {world.hash} differs from the committed {committed.hash} "
                          f"({REAL_WORLD_FILE}); the source packages changed", file=sys.stderr)
                    return 1
                print(f"rebuilt real world {world.hash} differs from the committed {committed.hash}", file=sys.stderr)
            elif args.check:
                print(f"rebuilt real world has the committed hash {world.hash}")
        else:
            world = load_real_world()
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
    p.add_argument("--source", choices=("synthetic", "real"), default="synthetic",
                   help="synthetic: a seeded made-up world (--domains, --size, --seed); real: the committed "
                   "world of true facts (needs no extra package)")
    p.add_argument("--rebuild", action="store_true",
                   help="with --source real: rebuild it from its source packages (`make real-world`)")
    p.add_argument("--check", action="store_true",
                   help="with --rebuild: exit 1 unless the rebuild has the committed world's hash")
    p.add_argument("--audit", action="store_true",
                   help="print the real world's audit: every source, every override with its source and reason, "
                   "every other true answer (also in docs/real-world-audit.md)")
    p.add_argument("--from", dest="from_path", metavar="PATH", help="load this world file instead of building one")
    p.add_argument("--schema", metavar="PATH", help="relation-schema JSON for a TSV world (with --from)")
    p.add_argument("--corpus", metavar="PATH", help="also write the world's pretraining corpus (one line each)")
    p.set_defaults(func=_run)
