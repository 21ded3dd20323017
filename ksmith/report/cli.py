"""`ksmith report RUN...` (regenerate or merge runs), `ksmith compare BASE NEW --fail-on M:D` and
`ksmith show RUN [CASE]` (a run's cases, or one case's probes from its samples)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ksmith.report.compare import compare_runs, parse_fail_on, render_comparison
from ksmith.report.records import ReportError, read_results
from ksmith.report.run import merge_runs, new_run_id, point_latest, regenerate


def _report(args: argparse.Namespace) -> int:
    runs = [Path(path) for path in args.runs]
    for path in runs:
        if not path.exists():
            raise ReportError(f"{path}: no such run directory or results file")
    if len(runs) == 1 and args.out is None:
        run_dir = regenerate(runs[0])
        print(f"regenerated {run_dir}")
        return 0
    if args.out is not None:
        out = Path(args.out)
    else:
        first = runs[0] if runs[0].is_dir() else runs[0].parent
        out = first.resolve().parent / new_run_id()
    run_dir = merge_runs(runs, out)
    if args.out is None:
        point_latest(run_dir.parent, run_dir)
    print(f"merged {len(runs)} run(s) into {run_dir}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    tolerances = parse_fail_on(args.fail_on)
    base, new = read_results(Path(args.base)), read_results(Path(args.new))
    comparison = compare_runs(base, new, tolerances)
    print(render_comparison(comparison))
    if comparison.compared == 0:
        raise ReportError(f"{args.base} and {args.new} share no grid cell: nothing to compare")
    return 1 if comparison.failed else 0


def _show(args: argparse.Namespace) -> int:
    from ksmith.report.show import ProbeFilter, render_cases, render_probes, run_dir_of

    run = run_dir_of(Path(args.run))
    if args.case is None:
        if args.type or args.changed or args.wrong:
            raise ReportError("--type, --changed and --wrong filter one case's probes; name a CASE")
        print(render_cases(run))
        return 0
    probe_filter = ProbeFilter(probe_type=args.type, changed=args.changed, wrong=args.wrong)
    print(render_probes(run, args.case, probe_filter, limit=args.limit))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    report = subparsers.add_parser(
        "report",
        help="regenerate a run's leaderboards from results.jsonl, or merge several runs (e.g. shards)",
        description="With one RUN: rewrite its leaderboards and index.html from its results.jsonl. "
        "With several: merge them into a new run (a cell present twice keeps the later run's result) "
        "written next to the first one, or to --out.",
    )
    report.add_argument("runs", nargs="+", metavar="RUN", help="run directory (reports/<run-id>) or results.jsonl")
    report.add_argument("--out", help="directory for the merged run (default: a new run id beside the first RUN)")
    report.set_defaults(func=_report)

    compare = subparsers.add_parser(
        "compare",
        help="compare two runs and exit 1 when a metric regresses by more than its tolerance",
    )
    compare.add_argument("base", metavar="BASE", help="baseline run directory or results.jsonl")
    compare.add_argument("new", metavar="NEW", help="new run directory or results.jsonl")
    compare.add_argument(
        "--fail-on",
        required=True,
        metavar="METRIC:DELTA[,...]",
        help="tolerances, absolute (direct_acc:0.02) or relative to the baseline (direct_acc:5%%); a cell "
        "regresses past its tolerance and past the two runs' 95%% intervals",
    )
    compare.set_defaults(func=_compare)

    show = subparsers.add_parser(
        "show",
        help="print a run's cases, or one case's probes (flipped first) from its samples",
        description="Without CASE: every case of the run with its status, how many probes flipped the right "
        "and the wrong way, and the compact metrics. With CASE (a case id, or a unique part of one): that "
        "case's probes from samples/<case-id>.jsonl (written with --ksmith-log-samples), flipped first.",
    )
    show.add_argument("run", metavar="RUN", help="run directory (reports/<run-id>, reports/latest) or its results.jsonl")
    show.add_argument("case", metavar="CASE", nargs="?", help="case id, e.g. tiny-kg-rome-edit-leaf-k10-s0")
    show.add_argument("--type", help="only probes of this type (direct, reverse, multi_hop, comparison, conflict, contextual)")
    show.add_argument("--changed", action="store_true", help="only probes whose answer moved (mcq)")
    show.add_argument("--wrong", action="store_true", help="only probes answered wrongly after the update (mcq)")
    show.add_argument("--limit", type=int, default=None, help="show at most this many probes")
    show.set_defaults(func=_show)
