"""The conformance suite (`ksmith.conformance`) on the locate-then-edit methods and IKE."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksmith.conformance import checks
from ksmith.conformance.toy import LAYOUTS
from ksmith.methods.registry import method_info

METHODS = ("rome", "memit", "alphaedit", "ike")
CASES = [(m, t, lay) for m in METHODS for t in sorted(method_info(m).families) for lay in LAYOUTS]
#: The quick run: each (method, task) on one layout, the layouts alternating, so both are covered.
QUICK = [(m, t, LAYOUTS[i % len(LAYOUTS)]) for i, (m, t) in enumerate(dict.fromkeys((m, t) for m, t, _ in CASES))]


@pytest.fixture(scope="module")
def _module_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("conformance-cache")


@pytest.fixture(autouse=True)
def _cache(_module_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One cache per module, deliberately shared: key statistics of the toy models are computed once."""
    monkeypatch.setenv("KSMITH_CACHE", str(_module_cache))


@pytest.mark.parametrize("check", list(checks.CHECKS))
@pytest.mark.parametrize("case", QUICK, ids=["-".join(c) for c in QUICK])
def test_conformance(case: tuple[str, str, str], check: str) -> None:
    checks.CHECKS[check](*case)


@pytest.mark.slow
@pytest.mark.parametrize("check", list(checks.CHECKS))
@pytest.mark.parametrize("case", [c for c in CASES if c not in QUICK], ids=["-".join(c) for c in CASES if c not in QUICK])
def test_conformance_other_layout(case: tuple[str, str, str], check: str) -> None:
    checks.CHECKS[check](*case)


def test_the_suite_catches_a_method_that_breaks_its_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    """A method that touches an undeclared tensor, or keeps state between calls, fails the checks."""
    import torch

    from ksmith.methods import Method, UpdateResult
    from ksmith.methods import registry

    class Leaky(Method):
        families = frozenset({"edit"})
        calls = [0]  # class-level state: the bug class the order check exists for

        def apply(self, model, tokenizer, request):
            self.calls[0] += 1
            if request.interventions:
                with torch.no_grad():
                    model.get_input_embeddings().weight.add_(0.01 * self.calls[0])
            return UpdateResult(touched=())

    registry.available_methods()
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    registry.register_method("leaky-test", "edit")(Leaky)
    with pytest.raises(AssertionError, match="did not declare"):
        checks.check_only_declared_change("leaky-test", "edit", "gpt2")
    with pytest.raises(AssertionError, match="depending on what ran before"):
        checks.check_order_independent("leaky-test", "edit", "gpt2")
