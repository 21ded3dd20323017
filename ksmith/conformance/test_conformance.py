"""The contract of a method, checked on GPT-2-layout and Llama-layout toy models (see the package doc)."""

from __future__ import annotations

import pytest

from ksmith.conformance.checks import CHECKS


@pytest.mark.parametrize("check", list(CHECKS))
def test_method_conformance(conformance_case: tuple[str, str, str], check: str) -> None:
    method, task, layout = conformance_case
    CHECKS[check](method, task, layout)
