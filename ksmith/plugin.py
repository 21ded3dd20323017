"""The ksmith pytest plugin (registered through the `pytest11` entry point).

What it does, in the order a session sees it:

1. Set-up every ksmith session needs: no hub access at run time, and the torch thread count of
   every case (`--ksmith-threads`, default 1), the same under `-n 0` and `-n N`: float summation
   order depends on the thread count, and tens of optimisation steps amplify it into other argmaxes
   (measured: rome unlearn leaf k=10 on tiny-kg, direct_acc 0.967 with one thread, 0.900 with two),
   so the thread count is part of a case's configuration and is recorded in its provenance. `auto`
   gives each xdist worker its share of the cores instead (faster on big machines; numbers then
   depend on -n). Without a thread cap a trial here took 312 s instead of 31 s per worker.
2. Options (`--ksmith-*`, each also an ini key `ksmith_*`) resolved into a `Harness`: the grid
   (`ksmith.grid.GridSpec`) and how to run and report it. A bad value is a `pytest.UsageError`.
3. `pytest_generate_tests` parametrises every test that takes `ksmith_case` over the grid, with
   ids like `tiny-kg-rome-edit-leaf-k10-s0`; a method is paired only with the tasks it supports.
   `--ksmith-shard i/n` deselects the cells of other shards.
4. Each case's `CaseResult` rides on its test report (`user_properties`), so it reaches the
   controller the same way with or without xdist; a crashed case still produces a `failed` result.
5. The controller journals results as they arrive, and at the end writes `reports/<run-id>/`
   (results.jsonl, leaderboard.md/.csv/.json, index.html), points `reports/latest` at it, prints the
   compact leaderboard and, with `--ksmith-baseline`, fails the session on a regression.

The fixtures that run a case live in `fixtures/` (loaded by the repository's root conftest).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ksmith.errors import KsmithError

log = logging.getLogger(__name__)

#: Option name (after --ksmith-) -> (help, default when neither the option nor the ini key is set;
#: None = the grid preset decides).
OPTIONS: dict[str, tuple[str, str | None]] = {
    "grid": ("grid preset: smoke, default, full, findings, real or findings-real (other options override its fields)", "default"),
    "models": ("comma-separated model specs (tiny-kg, tiny-kg-small, hf:<path>, smollm2-135m); NAME=SPEC names one", None),
    "methods": ("comma-separated method names, or 'all' (every registered method)", None),
    "tasks": ("comma-separated tasks: edit, unlearn", None),
    "levels": ("comma-separated levels: root, intermediate, leaf", None),
    "scales": ("comma-separated k values (facts updated at once)", None),
    "seeds": ("comma-separated seeds (which facts are updated, and the methods' randomness)", None),
    "domains": ("comma-separated world domains: biology, economics, history, physics", None),
    "world-size": ("world size for build_world: small, default, large or an integer", None),
    "world": ("synthetic (built from --ksmith-world-size), real (the committed world of true facts; "
              "interventions from each model's known set), or the path of a world file", None),
    "known-sample": ("measure each model's known set on N seeded facts per domain x relation x level "
                     "instead of every fact (faster; only asked facts can be drawn)", None),
    "mode": ("batch (all k facts at once) or sequential (in batches of --ksmith-sequential-batch, one after another)", None),
    "sequential-batch": ("batch size b of sequential mode (default: k/10, at least 1)", None),
    "shard": ("run only shard i of n (i/n, 1-based): a stable partition of the grid", None),
    "report-dir": ("where runs are written (reports/<run-id>/, reports/latest)", "reports"),
    "baseline": ("results.jsonl or run directory to compare with at the end of the session", None),
    "fail-on": ("tolerances for --ksmith-baseline: METRIC:DELTA[,...], e.g. direct_acc:0.02", None),
    "device": ("torch device (default: cuda when available, one GPU per xdist worker; else cpu)", None),
    "dtype": ("model dtype: float32, bfloat16, float16 (default: bfloat16 on CUDA, float32 on CPU)", None),
    "batch-size": ("scoring batch: auto (token budget; on a GPU the largest that fits) or max rows per pass", "auto"),
    "hparams": ("YAML or JSON file of method hyper-parameters: method -> model type or spec ('*' = every model) -> field -> value", None),
    "cov-corpus": ("text file (one text per line) for ROME/MEMIT/AlphaEdit key statistics (default: text sampled from the model)", None),
    "threads": ("torch CPU threads per case (default 1, the same with or without xdist, so numbers do not "
                "depend on -n); 'auto': each xdist worker's share of the cores", "1"),
    "protocols": ("comma-separated scoring protocols", "mcq,mcq_norm,prob_compare,token_acc"),
    "progress": ("status lines while a grid runs (case, phase, ETA): auto (at most every 30 s), off, or seconds", "auto"),
}
GRID_FIELDS = ("models", "methods", "tasks", "levels", "scales", "seeds", "domains", "world-size", "mode", "shard",
               "world")

#: The parameter name a bench case takes to be parametrised over the grid.
CASE_ARG = "ksmith_case"
#: Name of the user property carrying a case's `CaseResult` JSON from a worker to the controller.
RESULT_PROPERTY = "ksmith_case_result"


@dataclass(frozen=True)
class Harness:
    """Everything a session needs to run and report the grid (resolved, validated options)."""

    spec: Any  # ksmith.grid.GridSpec
    report_dir: Path
    baseline: Path | None
    tolerances: tuple[Any, ...]  # ksmith.report.compare.Tolerance
    resume: bool
    device: str | None
    dtype: str | None
    batch_size: int | str  # "auto" or rows per forward pass (ksmith.scoring.Scorer)
    protocols: tuple[str, ...]
    rootdir: Path
    sequential_batch: int | None = None  # None: k/10 (at least 1)
    hparams: Any = None  # ksmith.methods.overrides.HparamOverrides (file + --ksmith-hparam)
    threads: int | None = 1  # torch CPU threads per case; None: 'auto' (each worker's share of the cores)
    known_sample: int | None = None  # None: known sets ask every fact
    log_samples: bool = False  # --ksmith-log-samples: per-probe samples in <run_dir>/samples/
    progress_interval: float | None = 30.0  # --ksmith-progress: seconds between status lines (None: off)
    run_dir: Path | None = None  # this session's run directory (chosen by the controller, created on first write)
    finished: Mapping[str, Any] | None = None  # resume_key -> CaseResult, loaded on first use

    def sequential_batch_for(self, scale: int) -> int:
        """Sequential mode's batch size b for k = `scale`."""
        return self.sequential_batch or max(1, scale // 10)

    def describe(self) -> dict[str, Any]:
        """The run's settings as stored in leaderboard.json and shown on the HTML page."""
        spec = self.spec
        return {
            "grid": spec.preset,
            "models": ",".join(
                name if spec.model_spec(name) == name else f"{name}={spec.model_spec(name)}" for name in spec.models
            ),
            "tasks": ",".join(spec.tasks),
            "levels": ",".join(spec.levels),
            "scales": ",".join(map(str, spec.scales)),
            "seeds": ",".join(map(str, spec.seeds)),
            "domains": ",".join(spec.domains),
            "world_size": str(spec.world_size),
            "world": spec.world,
            "mode": spec.mode if spec.mode == "batch" else f"{spec.mode} (b={self.sequential_batch or 'k/10'})",
            "shard": "" if spec.shard is None else f"{spec.shard[0]}/{spec.shard[1]}",
            "protocols": ",".join(self.protocols),
            "datasets": ",".join(f"{d.name}={d.path}" for d in spec.datasets),
            "threads": "auto" if self.threads is None else str(self.threads),
        }


HARNESS_KEY = pytest.StashKey[Harness]()
#: Set on a bench item by the `record_case` fixture (see `fixtures/`); read by makereport.
RECORDER_KEY = pytest.StashKey[Any]()


def worker_count(config: pytest.Config) -> int:
    """How many xdist workers share this machine (1 when not under xdist)."""
    raw = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if raw:
        return max(1, int(raw))
    numprocesses = getattr(config.option, "numprocesses", None)
    return max(1, int(numprocesses)) if isinstance(numprocesses, int) and numprocesses > 0 else 1


def threads_per_worker(cores: int, workers: int) -> int:
    """Each worker's share of the cores, at least one thread."""
    return max(1, cores // max(1, workers))


def set_threads(config: pytest.Config, threads: int | None) -> int:
    """Give torch `threads` CPU threads in this process (None: this xdist worker's share of the cores)."""
    if threads is None:
        if not os.environ.get("PYTEST_XDIST_WORKER"):
            return 0  # 'auto' without xdist: leave torch's default
        threads = threads_per_worker(os.cpu_count() or 1, worker_count(config))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads


def _dest(name: str) -> str:
    return "ksmith_" + name.replace("-", "_")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ksmith", "ksmith benchmark grid and reports")
    for name, (help_text, _default) in OPTIONS.items():
        group.addoption(f"--ksmith-{name}", dest=_dest(name), default=None, help=help_text)
        parser.addini(_dest(name), help_text, default=None)
    group.addoption(
        "--ksmith-resume",
        dest="ksmith_resume",
        action="store_true",
        default=None,
        help="skip cases whose result (same grid key, hashes and code version) is already in the report dir",
    )
    parser.addini("ksmith_resume", "resume by default (true/false)", type="bool", default=False)
    group.addoption(
        "--ksmith-hparam",
        dest="ksmith_hparam",
        action="append",
        default=[],
        metavar="METHOD.FIELD=VALUE",
        help="set one method hyper-parameter for every model (repeatable; wins over --ksmith-hparams), e.g. rome.layer=5",
    )
    group.addoption(
        "--ksmith-dataset",
        dest="ksmith_dataset",
        action="append",
        default=None,
        help="NAME=PATH of a dataset file (from `ksmith data import` or `ksmith data`), repeatable: the grid "
        "runs over (model, method, dataset, scale), scale = the file's first k interventions",
    )
    parser.addini("ksmith_dataset", "NAME=PATH dataset files, one per line", type="linelist", default=[])
    group.addoption(
        "--ksmith-log-samples",
        dest="ksmith_log_samples",
        action="store_true",
        default=None,
        help="write samples/<case-id>.jsonl in the run directory: every probe's options, log-likelihoods "
        "and choices before and after the update (see `ksmith show`)",
    )
    parser.addini("ksmith_log_samples", "log per-probe samples by default (true/false)", type="bool", default=False)


def _raw(config: pytest.Config, name: str) -> str | None:
    """The option's value: command line, else ini key, else its default."""
    value = config.getoption(_dest(name))
    if value is None:
        ini = config.getini(_dest(name))
        value = ini if ini not in (None, "", []) else None
    if value is None:
        value = OPTIONS[name][1]
    return None if value is None else str(value)


def build_harness(config: pytest.Config) -> Harness:
    """Resolve and validate the options; any bad value raises `pytest.UsageError`."""
    from ksmith.grid import resolve, split_list
    from ksmith.report.compare import parse_fail_on

    try:
        overrides = {name.replace("-", "_"): _raw(config, name) for name in GRID_FIELDS}
        spec = resolve(_raw(config, "grid") or "default", **overrides)
        rootdir = Path(config.rootpath)
        report_dir = Path(_raw(config, "report-dir") or "reports")
        if not report_dir.is_absolute():
            report_dir = Path(config.invocation_params.dir) / report_dir
        baseline_raw, fail_on_raw = _raw(config, "baseline"), _raw(config, "fail-on")
        baseline = Path(baseline_raw).resolve() if baseline_raw else None  # before `latest` moves
        if baseline is not None and not baseline.exists():
            raise KsmithError(f"--ksmith-baseline: {baseline} does not exist; pass a results.jsonl or a run directory")
        if (baseline is None) != (fail_on_raw is None):
            raise KsmithError("--ksmith-baseline and --ksmith-fail-on go together: give both or neither")
        tolerances = parse_fail_on(fail_on_raw) if fail_on_raw else ()
        batch_raw = _raw(config, "batch-size") or "auto"
        if batch_raw != "auto" and (not batch_raw.isdigit() or int(batch_raw) < 1):
            raise KsmithError(f"--ksmith-batch-size: expected 'auto' or a positive integer, got {batch_raw!r}")
        protocols = split_list(_raw(config, "protocols"))
        from ksmith.scoring import PROTOCOLS

        bad = [p for p in protocols if p not in PROTOCOLS]
        if bad or not protocols:
            raise KsmithError(f"--ksmith-protocols: {bad or 'none given'}; choose from {', '.join(PROTOCOLS)}")
        sequential_raw = _raw(config, "sequential-batch")
        if sequential_raw is not None and (not sequential_raw.isdigit() or int(sequential_raw) < 1):
            raise KsmithError(f"--ksmith-sequential-batch: expected a positive integer, got {sequential_raw!r}")
        from ksmith.grid import read_dataset_entry

        dataset_items = config.getoption("ksmith_dataset") or config.getini("ksmith_dataset") or []
        if dataset_items:
            entries = tuple(read_dataset_entry(item, str(config.invocation_params.dir)) for item in dataset_items)
            names = [entry.name for entry in entries]
            if len(set(names)) != len(names):
                raise KsmithError(f"--ksmith-dataset: a name is given twice in {names}")
            spec = replace(spec, datasets=entries)
        threads_raw = (_raw(config, "threads") or "1").strip()
        if threads_raw != "auto" and (not threads_raw.isdigit() or int(threads_raw) < 1):
            raise KsmithError(f"--ksmith-threads: expected a positive integer or 'auto', got {threads_raw!r}")
        sample_raw = _raw(config, "known-sample")
        if sample_raw is not None and (not sample_raw.isdigit() or int(sample_raw) < 1):
            raise KsmithError(f"--ksmith-known-sample: expected a positive integer, got {sample_raw!r}")
        resume = config.getoption("ksmith_resume")
        if resume is None:
            resume = bool(config.getini("ksmith_resume"))
        from ksmith.methods.overrides import HparamError, HparamOverrides

        try:
            hparams = HparamOverrides.build(
                _raw(config, "hparams"), config.getoption("ksmith_hparam") or (), _raw(config, "cov-corpus")
            )
        except HparamError as exc:  # bad hyper-parameters: exit 2 with the valid fields, no traceback
            pytest.exit(f"ksmith: {exc}", returncode=2)
        progress_interval = parse_progress(_raw(config, "progress") or "auto")
        log_samples = config.getoption("ksmith_log_samples")
        if log_samples is None:
            log_samples = bool(config.getini("ksmith_log_samples"))
    except KsmithError as exc:
        raise pytest.UsageError(f"ksmith: {exc}") from None
    return Harness(
        spec=spec,
        report_dir=report_dir,
        baseline=baseline,
        tolerances=tolerances,
        resume=bool(resume),
        device=_raw(config, "device"),
        dtype=_raw(config, "dtype"),
        batch_size=batch_raw if batch_raw == "auto" else int(batch_raw),
        protocols=protocols,
        rootdir=rootdir,
        sequential_batch=int(sequential_raw) if sequential_raw else None,
        hparams=hparams,
        threads=None if threads_raw == "auto" else int(threads_raw),
        known_sample=int(sample_raw) if sample_raw else None,
        log_samples=bool(log_samples),
        progress_interval=progress_interval,
        run_dir=_session_run_dir(config, report_dir),
    )


def parse_progress(raw: str) -> float | None:
    """`--ksmith-progress`: auto = 30 s, off = None, else a positive number of seconds."""
    text = raw.strip().lower()
    if text == "auto":
        return 30.0
    if text in ("off", "no", "0"):
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise KsmithError(f"--ksmith-progress: expected auto, off or a number of seconds, got {raw!r}")
    return seconds


#: Key of the run directory in an xdist worker's `workerinput` (set by the controller).
RUN_DIR_INPUT = "ksmith_run_dir"


def _session_run_dir(config: pytest.Config, report_dir: Path) -> Path:
    """The run directory: chosen once by the controller (a new run id under the report dir) and
    handed to xdist workers, so every process writes its samples into the same place. Created only
    when something is written there."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None and workerinput.get(RUN_DIR_INPUT):
        return Path(workerinput[RUN_DIR_INPUT])
    from ksmith.report.run import new_run_id

    return report_dir / new_run_id()


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist (controller side): tell each worker the session's run directory."""
    harness = node.config.stash.get(HARNESS_KEY, None)
    if harness is not None and harness.run_dir is not None:
        node.workerinput[RUN_DIR_INPUT] = str(harness.run_dir)


def harness_of(config: pytest.Config) -> Harness:
    """The session's `Harness` (resume index loaded on first use)."""
    harness = config.stash[HARNESS_KEY]
    if harness.resume and harness.finished is None:
        from ksmith.report.resume import finished_results

        harness = replace(harness, finished=finished_results(harness.report_dir))
        config.stash[HARNESS_KEY] = harness
    return harness


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    config.addinivalue_line("markers", "ksmith_case: a benchmark cell parametrised over the ksmith grid")
    config.stash[HARNESS_KEY] = build_harness(config)
    set_threads(config, config.stash[HARNESS_KEY].threads)
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        harness = config.stash[HARNESS_KEY]
        if harness.spec.methods is not None:  # names given: check them once, before collection
            from ksmith.grid import GridError

            try:
                harness.spec.cases(_registered_tasks())
            except GridError as exc:
                raise pytest.UsageError(f"ksmith: {exc}") from None
        config.pluginmanager.register(ResultCollector(config), "ksmith-results")
        if config.stash[HARNESS_KEY].progress_interval is not None:
            config.pluginmanager.register(ProgressReporter(config), PROGRESS_PLUGIN)


def _registered_tasks() -> dict[str, tuple[str, ...]]:
    from ksmith.methods.registry import available_methods

    try:
        methods = available_methods()
    except ImportError as exc:
        raise pytest.UsageError(f"ksmith: a built-in method module cannot be imported ({exc})") from exc
    return {name: tuple(sorted(info.families)) for name, info in methods.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if CASE_ARG not in metafunc.fixturenames:
        return
    from ksmith.grid import GridError

    harness = harness_of(metafunc.config)
    try:
        cases = harness.spec.cases(_registered_tasks())
    except GridError as exc:
        raise pytest.UsageError(f"ksmith: {exc}") from None
    metafunc.parametrize(CASE_ARG, cases, ids=[case.id for case in cases])


def case_of(item: pytest.Item) -> Any | None:
    """The `GridCase` an item was parametrised with, or None for ordinary tests."""
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get(CASE_ARG)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    harness = config.stash[HARNESS_KEY]
    if harness.spec.shard is None:
        return
    from ksmith.grid import shard_cases

    cases = {case for case in map(case_of, items) if case is not None}
    keep = set(shard_cases(sorted(cases), harness.spec.shard))
    selected = [item for item in items if case_of(item) is None or case_of(item) in keep]
    deselected = [item for item in items if case_of(item) is not None and case_of(item) not in keep]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = selected


def _message(call: pytest.CallInfo[Any]) -> str | None:
    if call.excinfo is None:
        return None
    text = call.excinfo.exconly().strip().splitlines()
    return text[0][:500] if text else call.excinfo.typename


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
    """Attach the case's `CaseResult` to the report that decides its status."""
    report = yield
    case = case_of(item)
    if case is None:
        return report
    recorder = item.stash.get(RECORDER_KEY, None)
    result = None
    if report.skipped and recorder is not None and recorder.resumed is not None:
        # a resumed case skips where it first asks for its recorder: at setup (a fixture argument,
        # bench/test_update.py) or in the call (getfixturevalue, bench/test_findings.py)
        result = recorder.resumed
    elif report.when == "setup" and report.failed:
        result = _bare_result(item, recorder, "error", f"setup: {_message(call)}")
    elif report.when == "call" and not report.skipped:
        status = "passed" if report.passed else "failed"
        result = recorder.result(status, _message(call)) if recorder else _bare_result(item, None, status, _message(call))
    elif report.when == "teardown" and report.failed:
        result = _bare_result(item, recorder, "error", f"teardown: {_message(call)}")
    if result is not None:
        report.user_properties.append((RESULT_PROPERTY, result.to_json()))
    return report


def _bare_result(item: pytest.Item, recorder: Any, status: str, message: str | None) -> Any:
    from ksmith.report.records import CaseResult

    if recorder is not None:
        return recorder.result(status, message)
    return CaseResult(key=case_of(item).key(), status=status, message=message)


class ResultCollector:
    """Controller-side: gathers `CaseResult`s from test reports and writes the run at the end."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.results: dict[tuple[Any, ...], Any] = {}
        self.run_dir: Path | None = None
        self.summary: list[str] = []
        self.regressed = False

    def _run_dir(self) -> Path:
        if self.run_dir is None:
            harness = self.config.stash[HARNESS_KEY]
            assert harness.run_dir is not None  # set by build_harness
            self.run_dir = harness.run_dir
            self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.run_dir

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        from ksmith.report.records import CaseResult
        from ksmith.report.resume import JOURNAL

        for name, value in report.user_properties:
            if name != RESULT_PROPERTY:
                continue
            result = CaseResult.from_json(value)
            self.results[result.cell] = result
            with open(self._run_dir() / JOURNAL, "a", encoding="utf-8") as journal:
                journal.write(value + "\n")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if not self.results:
            return
        from ksmith.report.compare import compare_runs, render_comparison
        from ksmith.report.leaderboard import render_terminal
        from ksmith.report.records import read_results
        from ksmith.report.resume import JOURNAL
        from ksmith.report.run import point_latest, write_run

        harness = self.config.stash[HARNESS_KEY]
        results = list(self.results.values())
        run_dir = write_run(self._run_dir(), results, harness.describe())
        (run_dir / JOURNAL).unlink(missing_ok=True)
        point_latest(harness.report_dir, run_dir)
        self.summary = [render_terminal(results), "", f"ksmith report: {run_dir}"]
        if harness.baseline is not None:
            try:
                comparison = compare_runs(read_results(harness.baseline), results, harness.tolerances)
            except KsmithError as exc:
                self.summary.append(f"ksmith baseline: {exc}")
                self.regressed = True
            else:
                self.summary.append(f"ksmith baseline {harness.baseline}: " + render_comparison(comparison))
                if comparison.compared == 0:
                    self.summary.append("ksmith baseline: no cell in common with this run, nothing was compared")
                self.regressed = comparison.failed or comparison.compared == 0
            if self.regressed and session.exitstatus == pytest.ExitCode.OK:
                session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.summary:
            return
        terminalreporter.section("ksmith leaderboard")
        for line in "\n".join(self.summary).splitlines():
            red = line.lstrip().startswith("REGRESSION") or (self.regressed and line.startswith("ksmith baseline"))
            terminalreporter.write_line(line, red=red)


#: Name under which the controller's `ProgressReporter` is registered.
PROGRESS_PLUGIN = "ksmith-progress"
#: Folder of the run directory where processes leave their status (removed at the end).
PROGRESS_DIR = ".progress"


def progress_folder(harness: Harness) -> Path | None:
    return None if harness.run_dir is None else harness.run_dir / PROGRESS_DIR


class ProgressReporter:
    """Controller-side status lines on long grids: cases done, each running case's phase, an ETA.

    Without xdist the running case is in this process: its phase changes come straight here
    (`update`) and are printed with output capturing suspended, as pytest's live logging does.
    Under xdist the workers leave their status in `<run_dir>/.progress/<worker>.json`, and a
    background thread here reads them and prints. Either way a line is printed at most once per
    interval (`--ksmith-progress`, 30 s by default), as a whole line of its own, so a short run
    prints none and pytest's own output (and xdist's) stays as it is.
    """

    def __init__(self, config: pytest.Config) -> None:
        from ksmith.progress import GridProgress

        self.config = config
        harness = config.stash[HARNESS_KEY]
        self.interval = float(harness.progress_interval or 30.0)
        self.folder = progress_folder(harness)
        self.grid = GridProgress(workers=worker_count(config))
        self.started = self._now()
        self.last_line = self.started
        self.durations: dict[str, float] = {}
        self.current: dict[str, Any] | None = None  # the in-process case (no xdist)
        self._stop: Any = None
        self._thread: Any = None
        self.lines: list[str] = []  # what was printed (kept for tests and the summary)

    @staticmethod
    def _now() -> float:
        import time

        return time.time()

    # -- what the grid holds -----------------------------------------------------------------
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if not self.config.pluginmanager.hasplugin("dsession"):
            self.grid.total = len(session.items)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        self.grid.total = max(self.grid.total, len(ids))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + float(report.duration or 0.0)
        if report.when == "teardown":
            self.grid.finish(self.durations.pop(report.nodeid))

    # -- printing -----------------------------------------------------------------------------
    def _write(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        self.lines.append(line)

        def write() -> None:
            # a line of its own: end a row of progress dots first (write_line only does that after a path)
            if getattr(getattr(reporter, "_tw", None), "width_of_current_line", 0):
                reporter.line("")
            reporter.write_line(line)

        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if capture is not None and self._thread is None:
            with capture.global_and_fixture_disabled():
                write()
        else:
            write()

    def update(self, status: Mapping[str, Any]) -> None:
        """A phase change of the case running in this process (no xdist)."""
        self.current = dict(status)
        now = self._now()
        if status.get("phase") and now - self.last_line >= self.interval:  # as a phase starts
            self.last_line = now
            self._write(self.grid.line([self.current], now))

    def tick(self) -> str | None:
        """One status line from the workers' status files (xdist), or None when nothing runs."""
        from ksmith.progress import read_statuses

        if self.folder is None:
            return None
        running = read_statuses(self.folder)
        if not running:
            return None
        return self.grid.line(running, self._now())

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            line = self.tick()
            if line is not None:
                self._write(line)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.config.pluginmanager.hasplugin("dsession"):
            import threading

            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, name="ksmith-progress", daemon=True)
            self._thread.start()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=5)
        if self.folder is not None and self.folder.is_dir():
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
