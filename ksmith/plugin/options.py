"""The plugin's options and what they resolve into: the `Harness` of a session (the grid, and how to
run and report it). A bad value is a `pytest.UsageError` naming the option."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from ksmith.errors import KsmithError
from ksmith.grid import GRID_OPTIONS

log = logging.getLogger(__name__)

#: Option name (after --ksmith-) -> (help, default when neither the option nor the ini key is set;
#: None = the grid preset decides).
OPTIONS: dict[str, tuple[str, str | None]] = {
    "grid": ("grid preset: smoke, default, full, findings, real or findings-real (other options override its fields)", "default"),
    "models": ("comma-separated model specs (tiny-kg, tiny-kg-small, hf:<path>, smollm2-135m, gemma3-270m: "
               "docs/models.md); NAME=SPEC gives a spec a short name for ids and reports", None),
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
    "fail-on": ("tolerances for --ksmith-baseline: METRIC:DELTA[,...], e.g. direct_acc:0.02; a cell regresses "
                "past its tolerance and past the two runs' 95% intervals (docs/reproducibility.md)", None),
    "device": ("torch device (default: cuda when available, one GPU per xdist worker; else cpu)", None),
    "dtype": ("model dtype: float32, bfloat16, float16 (default: bfloat16 on CUDA, float32 on CPU)", None),
    "batch-size": ("scoring batch: auto (token budget; on a GPU the largest that fits) or max rows per pass", "auto"),
    "hparams": ("YAML or JSON file of method hyper-parameters: method -> model type or spec ('*' = every model) -> field -> value", None),
    "cov-corpus": ("text file (one text per line) for ROME/MEMIT/AlphaEdit key statistics (default: text sampled from the model)", None),
    "threads": ("torch CPU threads per case (default 1, the same with or without xdist, so numbers do not "
                "depend on -n); 'auto': each xdist worker's share of the cores", "1"),
    "protocols": ("comma-separated scoring protocols", "mcq,mcq_norm,prob_compare,token_acc"),
    "attacks": ("attacks re-scored after every unlearning cell and, as a control, on the unedited model: all "
                "(int8, int4, relearn10, relearn50), none, or a comma list (cost per cell: README, Attacks)", "all"),
    "progress": ("status lines while a grid runs (case, phase, ETA): auto (at most every 30 s), off, or seconds", "auto"),
}
#: Flags and repeatable options (name after --ksmith- -> help), besides `OPTIONS`.
FLAG_OPTIONS: dict[str, str] = {
    "resume": "skip cases whose result (same grid key, hashes and code version) is already in the report dir",
    "hparam": "METHOD.FIELD=VALUE: set one method hyper-parameter for every model (repeatable; wins over "
    "--ksmith-hparams), e.g. rome.layer=5",
    "dataset": "NAME=PATH of a dataset file (from `ksmith data import` or `ksmith data`), repeatable: the grid "
    "runs over (model, method, dataset, scale), scale = the file's first k interventions",
    "log-samples": "write samples/<case-id>.jsonl in the run directory: every probe's options, log-likelihoods "
    "and choices before and after the update (see `ksmith show`)",
}
#: The options that set the grid's fields (`ksmith.grid.GRID_OPTIONS`, named as options).
GRID_FIELDS: tuple[str, ...] = tuple(name.replace("_", "-") for name in GRID_OPTIONS)

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
    attacks: tuple[str, ...] = ()  # --ksmith-attacks: names from ksmith.attacks.ATTACKS (unlearning cells)
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
            "attacks": ",".join(self.attacks) or "none",
        }

def option_dest(name: str) -> str:
    return "ksmith_" + name.replace("-", "_")


def _raw(config: pytest.Config, name: str) -> str | None:
    """The option's value: command line, else ini key, else its default."""
    value = config.getoption(option_dest(name))
    if value is None:
        ini = config.getini(option_dest(name))
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
        from ksmith.attacks import parse_attacks

        attacks = parse_attacks(_raw(config, "attacks"))
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
        attacks=attacks,
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


HARNESS_KEY = pytest.StashKey[Harness]()
#: True once `activate` has set the session up (a harness built only to write results is not active).
ACTIVE_KEY = pytest.StashKey[bool]()
#: Set on a bench item by the `record_case` fixture (`ksmith.fixtures.harness`); read by makereport.
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


def recorded_harness(config: pytest.Config) -> Harness:
    """The `Harness` for writing results on the controller, built without activating the session (a
    case can report to a controller that was never asked, when only its xdist workers collected it)."""
    harness = config.stash.get(HARNESS_KEY, None)
    if harness is None:
        harness = config.stash[HARNESS_KEY] = build_harness(config)
    return harness
