"""The ksmith pytest plugin (registered through the `pytest11` entry point).

What it does, in the order a session sees it:

0. Nothing, until the session asks for ksmith (`asked`: a `--ksmith-*` option or ini key, a path
   in a bench directory, `-m ksmith`, or a test that takes `ksmith_case` or carries the `ksmith`
   marker): a plain pytest session in an environment where ksmith is installed keeps its
   environment variables and thread count.
1. Set-up every ksmith session needs (`activate`): no hub access at run time, and the torch thread count of
   every case (`--ksmith-threads`, default 1), the same under `-n 0` and `-n N`: float summation
   order depends on the thread count and optimisation steps amplify it into other argmaxes, so the
   thread count is part of a case's configuration and is recorded in its provenance
   (docs/decisions.md). `auto` gives each xdist worker its share of the cores instead (faster on big
   machines; numbers then depend on -n).
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

The fixtures that run a case live in `ksmith.fixtures` (the bench grid's conftest imports them).
"""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ksmith.plugin.collect import PROGRESS_PLUGIN, ProgressReporter, ResultCollector
from ksmith.plugin.options import (
    ACTIVE_KEY,
    CASE_ARG,
    FLAG_OPTIONS,
    GRID_FIELDS,
    HARNESS_KEY,
    OPTIONS,
    RECORDER_KEY,
    RESULT_PROPERTY,
    RUN_DIR_INPUT,
    Harness,
    build_harness,
    option_dest,
    set_threads,
    threads_per_worker,
    worker_count,
)

log = logging.getLogger(__name__)

__all__ = [
    "CASE_ARG",
    "GRID_FIELDS",
    "OPTIONS",
    "RECORDER_KEY",
    "Harness",
    "activate",
    "asked",
    "harness_of",
    "threads_per_worker",
    "worker_count",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ksmith", "ksmith benchmark grid and reports")
    for name, (help_text, _default) in OPTIONS.items():
        # argparse expands `%` in option help (a "95%" would break `pytest --help`); ini help is plain
        group.addoption(f"--ksmith-{name}", dest=option_dest(name), default=None, help=help_text.replace("%", "%%"))
        parser.addini(option_dest(name), help_text, default=None)
    group.addoption("--ksmith-resume", dest="ksmith_resume", action="store_true", default=None,
                    help=FLAG_OPTIONS["resume"])
    parser.addini("ksmith_resume", "resume by default (true/false)", type="bool", default=False)
    group.addoption("--ksmith-hparam", dest="ksmith_hparam", action="append", default=[],
                    metavar="METHOD.FIELD=VALUE", help=FLAG_OPTIONS["hparam"])
    group.addoption("--ksmith-dataset", dest="ksmith_dataset", action="append", default=None,
                    help=FLAG_OPTIONS["dataset"])
    parser.addini("ksmith_dataset", "NAME=PATH dataset files, one per line", type="linelist", default=[])
    group.addoption("--ksmith-log-samples", dest="ksmith_log_samples", action="store_true", default=None,
                    help=FLAG_OPTIONS["log-samples"])
    parser.addini("ksmith_log_samples", "log per-probe samples by default (true/false)", type="bool", default=False)


#: Key in an xdist worker's `workerinput`: the controller was asked for ksmith, so is the worker.
ACTIVE_INPUT = "ksmith_active"
#: Path parts that name the bench grid on the command line (`pytest bench`, `pytest bench/test_update.py`).
BENCH_DIRS = frozenset({"bench"})


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """pytest-xdist (controller side): an active session makes its workers active, with its run directory."""
    harness = node.config.stash.get(HARNESS_KEY, None)
    if harness is not None and node.config.stash.get(ACTIVE_KEY, False):
        node.workerinput[ACTIVE_INPUT] = True
        if harness.run_dir is not None:
            node.workerinput[RUN_DIR_INPUT] = str(harness.run_dir)


def asked(config: pytest.Config) -> bool:
    """Whether this session asked for ksmith: a `--ksmith-*` option or `ksmith_*` ini key, a path
    argument in a bench directory, `-m` naming the `ksmith` marker, or (on an xdist worker) a
    controller that was asked. Until then the plugin changes nothing in the session."""
    if getattr(config, "workerinput", {}).get(ACTIVE_INPUT):
        return True
    for name in (*OPTIONS, *FLAG_OPTIONS):
        if config.getoption(option_dest(name), default=None) not in (None, [], False):
            return True
        try:
            ini = config.getini(option_dest(name))
        except ValueError:
            continue
        if ini not in (None, "", [], False):
            return True
    if "ksmith" in (config.option.markexpr or ""):
        return True
    for arg in config.args:
        given = Path(str(arg).split("::")[0])
        path = (config.invocation_params.dir / given).resolve()
        inside = path.relative_to(config.rootpath).parts if path.is_relative_to(config.rootpath) else given.parts
        if BENCH_DIRS & set(inside):
            return True
    return False


def activate(config: pytest.Config) -> Harness:
    """Everything the plugin does to a session, once: no hub access at run time, the `Harness`, the
    torch thread count of every case, and on the controller the method check and the progress lines."""
    harness = config.stash.get(HARNESS_KEY, None)
    if harness is not None and config.stash.get(ACTIVE_KEY, False):
        return harness
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    harness = harness or build_harness(config)
    config.stash[HARNESS_KEY] = harness
    config.stash[ACTIVE_KEY] = True
    set_threads(config, harness.threads)
    if not hasattr(config, "workerinput"):  # the controller (or a run without xdist)
        if harness.spec.methods is not None:  # names given: check them once, before collection
            from ksmith.grid import GridError

            try:
                harness.spec.cases(_registered_tasks())
            except GridError as exc:
                raise pytest.UsageError(f"ksmith: {exc}") from None
        if harness.progress_interval is not None:
            config.pluginmanager.register(ProgressReporter(config), PROGRESS_PLUGIN)
    return harness


def harness_of(config: pytest.Config) -> Harness:
    """The session's `Harness` (the session is activated first: whoever asks for it asked for
    ksmith), with the resume index loaded on first use."""
    harness = activate(config)
    if harness.resume and harness.finished is None:
        from ksmith.report.resume import finished_results

        harness = replace(harness, finished=finished_results(harness.report_dir))
        config.stash[HARNESS_KEY] = harness
    return harness


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "ksmith: the test asks for ksmith (the plugin sets the session up for it)")
    config.addinivalue_line("markers", "ksmith_case: a benchmark cell parametrised over the ksmith grid")
    if not hasattr(config, "workerinput"):
        config.pluginmanager.register(ResultCollector(config), "ksmith-results")  # idle until a case reports
    if asked(config):
        activate(config)


def _registered_tasks() -> dict[str, tuple[str, ...]]:
    from ksmith.methods.registry import available_methods

    try:
        methods = available_methods()
    except ImportError as exc:
        raise pytest.UsageError(f"ksmith: a built-in method module cannot be imported ({exc})") from exc
    return {name: tuple(sorted(info.families)) for name, info in methods.items()}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("ksmith") is not None:
        activate(metafunc.config)
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
    harness = config.stash.get(HARNESS_KEY, None)
    if harness is None or harness.spec.shard is None:
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


