"""The findings grid (`test_findings.py`, marked `findings`) runs only when `-m` names it.

Deselected rather than skipped case by case, so a plain `pytest bench` lists only the cells it runs.
"""

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "findings" in (config.option.markexpr or ""):
        return
    keep = [item for item in items if item.get_closest_marker("findings") is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[item for item in items if item not in keep])
        items[:] = keep
