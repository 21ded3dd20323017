"""Options and parametrisation of the conformance suite.

`--ksmith-methods` is defined by the ksmith pytest plugin (`ksmith.plugin`, group "ksmith"); when
the plugin is not active (e.g. `-p no:ksmith`) this conftest defines it itself, so the suite runs
either way. Without it, every registered method is checked.
"""

from __future__ import annotations

import pytest

from ksmith.conformance.toy import LAYOUTS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ksmith", "ksmith benchmark grid and reports")
    try:
        group.addoption(
            "--ksmith-methods",
            dest="ksmith_methods",
            default=None,
            help="comma-separated method names, or 'all' (every registered method)",
        )
    except ValueError:  # already defined by the ksmith plugin
        pass


def selected_methods(config: pytest.Config) -> list[str]:
    """Names from --ksmith-methods (validated against the registry), or every registered method."""
    from ksmith.methods.registry import available_methods, method_info

    raw = config.getoption("ksmith_methods", default=None)
    if not raw or raw.strip() == "all":
        return list(available_methods())
    names = [n.strip() for n in raw.split(",") if n.strip()]
    for name in names:
        method_info(name)  # unknown names fail with the known ones and a suggestion
    return names


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "conformance_case" not in metafunc.fixturenames:
        return
    from ksmith.errors import KsmithError
    from ksmith.methods.registry import method_info

    try:
        names = selected_methods(metafunc.config)
    except KsmithError as exc:
        raise pytest.UsageError(f"--ksmith-methods: {exc}") from None
    cases, ids = [], []
    for name in names:
        for task in sorted(method_info(name).families):
            for layout in LAYOUTS:
                cases.append((name, task, layout))
                ids.append(f"{name}-{task}-{layout}")
    metafunc.parametrize("conformance_case", cases, ids=ids)


@pytest.fixture(scope="session")
def _conformance_cache(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("ksmith-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(_conformance_cache, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cache entries (e.g. key statistics) go to one session temp dir, never the user's cache."""
    monkeypatch.setenv("KSMITH_CACHE", str(_conformance_cache))


@pytest.fixture(autouse=True)
def _toy_device(pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--ksmith-device cuda` puts the toy models on CUDA, with deterministic kernels (the suite
    checks that the same request gives bit-identical weights; CUDA's atomic adds would not)."""
    device = pytestconfig.getoption("ksmith_device", default=None)
    if device:
        monkeypatch.setenv("KSMITH_CONFORMANCE_DEVICE", device)
        if device.startswith("cuda"):
            import torch

            torch.use_deterministic_algorithms(True, warn_only=True)
