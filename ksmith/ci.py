"""`ksmith ci`: a method's continuous integration in one command.

For the named methods it runs, in order,

1. the conformance suite (`pytest --pyargs ksmith.conformance`): the method keeps its contract;
2. a small grid (the bench grid shipped in the package, `ksmith/bench/`; the smoke grid unless
   `--grid` / `--models` / ... or the baseline say otherwise);
3. the regression gate against a committed baseline file (`ksmith.report.baseline`),

then prints a short summary a CI log shows well and exits 0 (pass), 1 (a regression, a failed check
or cell, or a stale baseline) or 2 (bad input: an unknown method, a bad option, a missing or
malformed baseline). `--update-baseline` records the baseline from a passing run instead of gating.

Both pytest runs are subprocesses that import this very ksmith first. The grid and its fixtures
ship inside the package, so `pip install ksmith` is enough; the method itself only has to be
installed, so its entry point registers it.

A stale baseline fails the run too (exit 1), but says so and why: a gate that compared nothing must
not pass silently. `--allow-stale` lets it pass, e.g. on the pull request that moves ksmith's pin.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ksmith.errors import KsmithError

log = logging.getLogger(__name__)

#: Bench options `ksmith ci` handles itself rather than passing to pytest.
OWN_OPTIONS: frozenset[str] = frozenset({"methods", "baseline", "fail-on", "report-dir"})
#: The grid preset when neither the command line nor the baseline names one.
DEFAULT_GRID = "smoke"
DEFAULT_BASELINE = "ksmith-baseline.json"


class CIError(KsmithError):
    """Bad input to `ksmith ci` (exit 2)."""


def current_code_version() -> str:
    """ksmith's code version (`ksmith.cache.code_version`), so the baseline records what the cache keys use."""
    from ksmith.cache import code_version

    return code_version()


def ksmith_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ksmith")
    except metadata.PackageNotFoundError:
        return "unknown"


def bench_dir() -> Path:
    """The bench grid shipped in the package, or a `CIError` saying the install is incomplete."""
    import ksmith

    bench = Path(ksmith.__file__).resolve().parent / "bench"
    if not (bench / "test_update.py").is_file():
        raise CIError(
            f"ksmith's bench grid is missing from the installed package ({bench}); reinstall ksmith "
            "(`pip install --force-reinstall ksmith`, or `pip install -e <checkout>`)"
        )
    return bench


def bench_options() -> dict[str, str]:
    """The plugin's `--ksmith-*` options `ksmith ci` passes through (name -> help)."""
    from ksmith.plugin import OPTIONS

    return {name: help_text for name, (help_text, _default) in OPTIONS.items() if name not in OWN_OPTIONS}


@dataclass
class Stage:
    name: str
    status: str  # PASS, FAIL, STALE, SKIP
    detail: str = ""
    lines: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    stages: list[Stage] = field(default_factory=list)
    exit_code: int = 0
    verdict: str = "passed"

    def add(self, stage: Stage) -> Stage:
        self.stages.append(stage)
        return stage


def _pytest(args: Sequence[str], root: Path, env: Mapping[str, str]) -> int:
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    log.info("ksmith ci: %s (in %s)", shlex.join(command), root)
    sys.stdout.flush()
    return subprocess.run(command, cwd=root, env=dict(env), check=False).returncode


def _child_env(root: Path) -> dict[str, str]:
    """The pytest subprocesses import this very ksmith first, whatever the user's PYTHONPATH says."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), *filter(None, [env.get("PYTHONPATH")])])
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def _run_dirs(report_dir: Path) -> set[Path]:
    if not report_dir.is_dir():
        return set()
    return {p for p in report_dir.iterdir() if p.is_dir() and not p.is_symlink() and (p / "results.jsonl").is_file()}


def _grid_options(args: argparse.Namespace, baseline: Any) -> dict[str, str]:
    """The grid's options: those given, else the ones the baseline was recorded with, else the smoke grid."""
    given = {name: getattr(args, "bench_" + name.replace("-", "_")) for name in bench_options()}
    given = {name: str(value) for name, value in given.items() if value is not None}
    if not given and baseline is not None:
        given = {str(k): str(v) for k, v in (baseline.provenance.get("grid") or {}).items()}
    given.setdefault("grid", DEFAULT_GRID)
    return dict(sorted(given.items()))


def _methods(args: argparse.Namespace, baseline: Any) -> tuple[str, ...]:
    from ksmith.grid import split_list
    from ksmith.methods.registry import method_info

    names = split_list(args.methods) if args.methods else (baseline.methods if baseline is not None else ())
    if not names:
        raise CIError("name the methods to check, e.g. `ksmith ci --methods my-method` (`ksmith methods` lists them)")
    for name in names:
        method_info(name)  # unknown: a MethodError with the registered names and a suggestion
    return tuple(names)


def _check_grid(grid: Mapping[str, str], methods: Sequence[str]) -> None:
    """The grid options resolve and give the methods at least one cell (else `GridError`, exit 2)."""
    from ksmith.grid import GridError, resolve
    from ksmith.methods.registry import method_info
    from ksmith.plugin import GRID_FIELDS

    fields = {name.replace("-", "_"): grid.get(name) for name in GRID_FIELDS}
    spec = resolve(grid.get("grid", DEFAULT_GRID), **{**fields, "methods": ",".join(methods)})
    cells = spec.cases({name: tuple(method_info(name).families) for name in methods})
    if not cells:
        raise GridError(
            f"the grid has no cell for {', '.join(methods)} (tasks {', '.join(spec.tasks)}); "
            "choose --tasks the methods support (`ksmith methods` lists them)"
        )


def run_ci(args: argparse.Namespace) -> Outcome:
    """Every stage, in order; bad input raises `KsmithError` before anything runs."""
    from ksmith.report.baseline import DEFAULT_FAIL_ON, gate, make_baseline, read_baseline, render_gate, write_baseline
    from ksmith.report.compare import parse_fail_on
    from ksmith.report.records import read_results

    baseline_path = Path(args.baseline)
    if args.methods:
        _methods(args, None)  # an unknown name is the first thing to report
    baseline = None
    if baseline_path.exists() or not args.update_baseline:
        baseline = read_baseline(baseline_path)  # missing or malformed: bad input, before any work
    methods = _methods(args, baseline)
    fail_on = args.fail_on or (baseline.fail_on if baseline is not None else DEFAULT_FAIL_ON)
    tolerances = parse_fail_on(fail_on)
    grid = _grid_options(args, baseline)
    _check_grid(grid, methods)
    extra = shlex.split(args.pytest_args or "")
    report_dir = Path(args.report_dir).resolve()
    bench = bench_dir()
    root = bench.parent.parent  # the directory that holds the ksmith package
    env = _child_env(root)
    workers = ["-n", str(args.workers)]
    outcome = Outcome()

    if args.skip_conformance:
        outcome.add(Stage("conformance", "SKIP", "--skip-conformance"))
    else:
        code = _pytest(["-q", *workers, "--pyargs", "ksmith.conformance", "--ksmith-methods", ",".join(methods)], root, env)
        if code == 4:
            raise CIError("the conformance suite rejected its options (see pytest's message above)")
        outcome.add(Stage("conformance", "PASS" if code == 0 else "FAIL", f"pytest exit {code}" if code else ""))

    before = _run_dirs(report_dir)
    bench_args = ["-q", *workers, str(bench), "--ksmith-methods", ",".join(methods), "--ksmith-report-dir", str(report_dir)]
    bench_args += [item for name, value in grid.items() for item in (f"--ksmith-{name}", value)]
    code = _pytest([*bench_args, *extra], root, env)
    if code == 4:
        raise CIError("the grid's options were rejected (see pytest's message above)")
    if code == 5:
        raise CIError(f"the grid has no cell for {', '.join(methods)} with {grid}; check the tasks the methods support")
    new_runs = sorted(_run_dirs(report_dir) - before)
    if not new_runs:
        outcome.add(Stage("grid", "FAIL", f"pytest exit {code}, no results written"))
        return _finish(outcome, "failed")
    run_dir = new_runs[-1]
    results = read_results(run_dir)
    failed = [r for r in results if r.status != "passed"]
    grid_stage = outcome.add(
        Stage("grid", "FAIL" if failed or code else "PASS", f"{len(results)} cell(s), {len(failed)} failed; {run_dir}")
    )
    grid_stage.lines = [f"FAILED {r.case_id}: {r.message or r.status}" for r in failed]

    if args.update_baseline:
        if any(stage.status == "FAIL" for stage in outcome.stages):
            outcome.add(Stage("baseline", "FAIL", "not written: a baseline is recorded from a passing run only"))
            return _finish(outcome, "failed")
        provenance = {
            "ksmith_version": ksmith_version(),
            "code_version": current_code_version(),
            "grid": grid,
            "methods": list(methods),
        }
        recorded = make_baseline(results, fail_on, provenance)
        write_baseline(baseline_path, recorded)
        stage = outcome.add(Stage("baseline", "PASS", f"wrote {baseline_path} ({len(recorded.results)} cell(s), gate {fail_on})"))
        measured = {name for r in recorded.results for name in r.metrics}
        unmeasured = sorted({t.metric for t in tolerances} - measured)
        if unmeasured:
            stage.lines.append(f"note: {', '.join(unmeasured)} not measured by this grid (not gated)")
        if baseline is not None:
            previous = gate(baseline, results, tolerances)
            lines = [line for line in render_gate(previous).splitlines() if not line.strip().startswith("note:")]
            stage.lines += ["against the previous baseline:", *lines]
        return _finish(outcome, "baseline updated")

    assert baseline is not None
    verdict = gate(baseline, results, tolerances)
    lines = render_gate(verdict).splitlines()
    if verdict.regressed:
        status = "FAIL"
    elif verdict.stale and verdict.nothing_compared:
        status = "STALE"
    elif verdict.nothing_compared:
        status = "FAIL"
        lines.append("no cell of this run is in the baseline: nothing was compared; re-record it with --update-baseline")
    elif verdict.stale:
        status = "STALE"
    else:
        status = "PASS"
    gate_stage = outcome.add(Stage("gate", status, f"{baseline_path}, {fail_on}, beyond the 95% intervals"))
    gate_stage.lines = lines
    if status == "STALE":
        gate_stage.lines.append(
            "the baseline was recorded under other conditions (not a regression of the method): "
            "re-record it with `ksmith ci --update-baseline` and commit it"
        )
    if any(stage.status == "FAIL" for stage in outcome.stages):
        return _finish(outcome, "regression" if verdict.regressed else "failed")
    if status == "STALE":
        return _finish(outcome, "stale baseline" + (" (allowed)" if args.allow_stale else ""), 0 if args.allow_stale else 1)
    return _finish(outcome, "passed")


def _finish(outcome: Outcome, verdict: str, code: int | None = None) -> Outcome:
    outcome.verdict = verdict
    outcome.exit_code = code if code is not None else (0 if verdict in ("passed", "baseline updated") else 1)
    return outcome


def render_outcome(outcome: Outcome, methods: str) -> str:
    """The summary block: one line per stage, the details indented under it, the verdict last."""
    lines = ["", f"== ksmith ci: {methods} =="]
    for stage in outcome.stages:
        lines.append(f"{stage.name:<12} {stage.status:<6} {stage.detail}".rstrip())
        lines += [f"    {line.strip()}" for line in stage.lines if line.strip()]
    lines.append(f"ksmith ci: {outcome.verdict.upper()} (exit {outcome.exit_code})")
    return "\n".join(lines)


def github_annotations(outcome: Outcome) -> list[str]:
    """Workflow commands that put the failures on a GitHub Actions run's summary page."""
    notes = []
    for stage in outcome.stages:
        kind = {"FAIL": "error", "STALE": "warning"}.get(stage.status)
        if kind is None:
            continue
        body = [line.strip() for line in stage.lines if line.strip().startswith(("REGRESSION", "STALE", "FAILED"))]
        message = "%0A".join(body) or stage.detail
        notes.append(f"::{kind} title=ksmith ci {stage.name}::{message}")
    return notes


def _command(args: argparse.Namespace) -> int:
    outcome = run_ci(args)
    methods = args.methods or "(methods of the baseline)"
    print(render_outcome(outcome, methods))
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for note in github_annotations(outcome):
            print(note)
    return outcome.exit_code


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "ci",
        help="a method's CI: conformance suite, a small grid, and the regression gate against a committed baseline",
        description="For the named methods: run the conformance suite, then a small grid (the smoke grid "
        "unless grid options say otherwise), then gate the run's metrics against the committed baseline. "
        "A baseline recorded under other conditions (ksmith code version, model, world, protocols) is "
        "reported as stale with what changed, not as a regression.",
        epilog="Exit status: 0 pass, 1 regression / failure / stale baseline, 2 bad input.",
    )
    parser.add_argument("--methods", metavar="NAME[,...]", help="the methods to check (default: those in the baseline)")
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help=f"the committed baseline file (default: {DEFAULT_BASELINE})")
    parser.add_argument("--update-baseline", action="store_true", help="record the baseline from this run (which must pass) instead of gating")
    parser.add_argument(
        "--fail-on",
        metavar="METRIC:DELTA[,...]",
        help="tolerances: the smallest change that fails, when it is also past the 95%% intervals "
        "(default: the baseline's own; for a new baseline direct_acc, reverse_acc, contextual_acc, ccr and rr at 0.1)",
    )
    parser.add_argument("--allow-stale", action="store_true", help="exit 0 when the baseline no longer applies (it is still reported)")
    parser.add_argument("--skip-conformance", action="store_true", help="skip the conformance suite")
    parser.add_argument("--report-dir", default="reports", help="where the grid's run is written (default: reports)")
    parser.add_argument("-n", "--workers", default="0", help="pytest-xdist workers for both pytest runs (default: 0, in process)")
    parser.add_argument("--pytest-args", metavar="ARGS", help="more arguments for the grid's pytest run, as one quoted string")
    group = parser.add_argument_group("grid options (passed to pytest as --ksmith-NAME; default: the baseline's, else --grid smoke)")
    for name, help_text in bench_options().items():
        group.add_argument(f"--{name}", dest="bench_" + name.replace("-", "_"), metavar="VALUE", help=help_text)
    parser.set_defaults(func=_command)
