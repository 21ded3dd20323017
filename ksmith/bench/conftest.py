"""The bench grid's conftest: its fixtures (`ksmith.fixtures.harness`), and the findings grid
(`test_findings.py`, marked `findings`) run only when `-m` names it.

The grid ships inside the package (`ksmith/bench/`; the repository's `bench/` links to it), so
`pip install ksmith` is enough for `ksmith ci`. The findings cells are deselected rather than skipped
case by case, so a plain `pytest bench` lists only the cells it runs.
"""

import pytest

from ksmith.fixtures.harness import (  # noqa: F401  (fixtures: pytest finds them by name here)
    dataset,
    ksmith_harness,
    ksmith_progress,
    ksmith_workbench,
    method,
    model,
    pre_scores,
    record_case,
    world,
)


def pytest_configure(config: pytest.Config) -> None:
    # declared here too, so the grid runs cleanly from an installed package, outside ksmith's checkout
    config.addinivalue_line("markers", "findings: runs the grid behind the findings report")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "findings" in (config.option.markexpr or ""):
        return
    keep = [item for item in items if item.get_closest_marker("findings") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
