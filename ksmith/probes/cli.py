"""`ksmith data`: generate the probes for one (world, task, level, scale, seed) as JSONL;
`ksmith data import` reads a dataset of the field (CounterFact, zsRE, MQuAKE, RippleEdits, KnowEdit)
into the same JSONL; `ksmith data export` writes a dataset for EasyEdit or lm-evaluation-harness."""

from __future__ import annotations

import argparse

from ksmith.errors import DatasetError
from ksmith.probes.dataset import Dataset
from ksmith.probes.generate import build_dataset
from ksmith.probes.known import KnownSet
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
    missing = [f"--{name}" for name in ("task", "level", "scale") if getattr(args, name) is None]
    if missing:
        raise DatasetError(f"ksmith data needs {', '.join(missing)} (or use `ksmith data import` / `export`)")
    if args.world == "real":
        from ksmith.world.real import load_real_world

        world = load_real_world()
    elif args.world:
        world = load_world(args.world, args.schema)
    else:
        world = build_world(DOMAINS, args.size, args.seed)
    domains = args.domains.split(",") if args.domains else None
    known = KnownSet.load(args.known) if args.known else None
    ds = build_dataset(world, args.task, args.level, args.scale, args.seed, domains, known)
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
    p.add_argument("--world", help="world file (JSON, or TSV with --schema), or `real` for the committed real "
                   "world; default: the default synthetic world of --seed")
    p.add_argument("--schema", help="relation-schema JSON for a TSV world")
    p.add_argument("--size", default="default", help="size of the world built when --world is omitted")
    p.add_argument("--task", choices=TASKS, help="edit or unlearn (required)")
    p.add_argument("--level", choices=LEVELS, help="taxonomy level of the targets (required)")
    p.add_argument("--scale", type=int, help="k, the number of interventions (required)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--domains", help="restrict interventions to these comma-separated domains")
    p.add_argument("--known", metavar="K.json",
                   help="a model's known set (`ksmith known`): draw interventions only from facts it knows")
    p.add_argument("--out", help="write the dataset here (JSONL)")
    p.set_defaults(func=_run)
    sub = p.add_subparsers(dest="data_command", required=False, metavar="{import,export}")
    _register_import(sub)
    _register_export(sub)


def _import(args: argparse.Namespace) -> int:
    from ksmith.probes.formats import import_dataset

    options = {"target": args.target} if args.format == "zsre" else {}
    if args.target is not None and args.format != "zsre":
        raise DatasetError("--target applies to --format zsre only")
    ds = import_dataset(args.format, args.file, args.import_task, **options)
    ds.to_jsonl(args.import_out)  # only once the whole file has been read and checked
    print(summary(ds) + f" from {args.format} {args.file} -> {args.import_out}")
    return 0


def _register_import(sub: argparse._SubParsersAction) -> None:
    from ksmith.probes.formats import IMPORT_FORMATS

    p = sub.add_parser(
        "import",
        help="read a dataset file of the field into a ksmith dataset (JSONL)",
        description="Turn a CounterFact, zsRE, MQuAKE, RippleEdits or KnowEdit file into ksmith's "
        "interventions and typed 4-option probes; the header records the source format, file name and sha256. "
        "A bad record is an error naming the file, the record and the field, and nothing is written.",
    )
    p.add_argument("--format", required=True, choices=tuple(IMPORT_FORMATS))
    p.add_argument("file", help="the dataset file (JSON list, or JSONL)")
    p.add_argument("--out", dest="import_out", required=True, help="where to write the dataset (JSONL)")
    p.add_argument("--task", dest="import_task", choices=TASKS, default="edit",
                   help="edit (default): apply the file's edits; unlearn: forget the true / original answer")
    p.add_argument("--target", choices=("alt", "answers"), default=None,
                   help="zsre only: edit toward `alt` (EasyEdit, the default; records with an empty alt are "
                   "dropped) or toward `answers[0]` (ROME/MEMIT)")
    p.set_defaults(func=_import)


def _export(args: argparse.Namespace) -> int:
    from ksmith.probes.formats import export_dataset

    ds = Dataset.from_jsonl(args.dataset)
    written = export_dataset(args.format, ds, args.export_out)
    print(f"dataset {ds.hash}: {len(ds.probes)} probes -> {', '.join(str(p) for p in written)}")
    return 0


def _register_export(sub: argparse._SubParsersAction) -> None:
    from ksmith.probes.formats import EXPORT_FORMATS

    p = sub.add_parser(
        "export",
        help="write a ksmith dataset for EasyEdit or lm-evaluation-harness",
        description="easyedit: KnowEdit-style JSON (one record per intervention); lm-eval: a task "
        "directory (YAML + JSONL, output_type multiple_choice) scoring the probes as ksmith's mcq protocol.",
    )
    p.add_argument("--format", required=True, choices=tuple(EXPORT_FORMATS))
    p.add_argument("dataset", help="a dataset file from `ksmith data` or `ksmith data import`")
    p.add_argument("--out", dest="export_out", required=True,
                   help="easyedit: the JSON file to write; lm-eval: the task directory to write")
    p.set_defaults(func=_export)
