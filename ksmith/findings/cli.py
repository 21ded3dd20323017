"""`ksmith findings reports/<run-id>`: test the paper's findings on a run and write findings.md."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def _run_world(run: Path, world_path: str | None, sizes: list[str], seed: int) -> Any:
    """The world the run used, for the domain-schema comparison (None when it cannot be told).

    With `--world` that file; otherwise the world the results' provenance describes (domains, size,
    world seed), else synthetic worlds of the given sizes; a built world is used only when its hash
    is the one the run recorded, so a profile never describes another world.
    """
    from ksmith.report.records import read_results
    from ksmith.world import build_world, load_world

    if world_path:
        return load_world(world_path)
    results = read_results(run)
    wanted = {r.provenance.get("world_hash") for r in results} - {None}
    if any((r.provenance.get("world") or {}).get("source") == "real" for r in results):
        from ksmith.world.real import load_real_world

        world = load_real_world()
        if not wanted or world.hash in wanted:
            return world
    specs = []
    for r in results:
        spec = r.provenance.get("world") or {}
        world_seed = (r.provenance.get("seeds") or {}).get("world", seed)
        if spec.get("domains") and spec.get("size") is not None:
            specs.append((tuple(spec["domains"]), spec["size"], world_seed))
    specs += [(None, size, seed) for size in sizes]
    for domains, size, world_seed in dict.fromkeys(specs):
        world = (
            build_world(domains, size=size, seed=world_seed)
            if domains
            else build_world(size=size, seed=world_seed)
        )
        if not wanted or world.hash in wanted:
            return world
    log.warning(
        "no synthetic world matches the run's world hash; skipping the schema profile"
    )
    return None


def _findings(args: argparse.Namespace) -> int:
    from ksmith.findings.report import write_findings

    run = Path(args.run)
    world = (
        None
        if args.no_world
        else _run_world(run, args.world, args.sizes.split(","), args.seed)
    )
    command = (
        f"ksmith findings {args.run}"
        + (f" --world {args.world}" if args.world else "")
        + "".join(f" --compare {other}" for other in args.compare)
    )
    path = write_findings(run, world=world, command=command, compare=[Path(other) for other in args.compare])
    print(f"wrote {path}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "findings",
        help="test the paper's findings on a run; write reports/<run-id>/findings.md and plots",
        description=__doc__,
    )
    p.add_argument(
        "run", help="a run directory (reports/<run-id>) holding results.jsonl"
    )
    p.add_argument(
        "--world", help="world JSON the run used (for the domain-schema comparison)"
    )
    p.add_argument(
        "--sizes",
        default="small,default",
        help="synthetic world sizes to try when --world is not given (the one matching the run is used)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic world")
    p.add_argument(
        "--no-world", action="store_true", help="skip the domain-schema comparison"
    )
    p.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="RUN",
        help="another run directory whose models' verdicts join the finding x model table "
        "(e.g. the tiny-kg findings run beside a real-model one); repeatable",
    )
    p.set_defaults(func=_findings)
