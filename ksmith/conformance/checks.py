"""The conformance checks as plain functions (the pytest module in this package calls them).

Each check builds fresh toy models (`ksmith.conformance.toy`) and raises `AssertionError` with a
message naming the method, task and layout when the contract is broken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ksmith.conformance import toy
from ksmith.methods.base import UpdateRequest, UpdateResult
from ksmith.methods.registry import get_method


@dataclass
class Applied:
    """A method applied once to a fresh toy model."""

    model: Any
    before: dict[str, torch.Tensor]
    result: UpdateResult

    def after(self) -> dict[str, torch.Tensor]:
        return toy.state(self.model)

    def changed(self) -> set[str]:
        return toy.changed(self.before, self.model)


def apply_fresh(method: str, layout: str, request: UpdateRequest) -> Applied:
    """Apply a new instance of `method` to a fresh toy model of `layout`."""
    model = toy.tiny_model(layout)
    before = toy.state(model)
    result = get_method(method).apply(model, toy.tokenizer(), request)
    if not isinstance(result, UpdateResult):
        raise AssertionError(f"{method}: apply returned {type(result).__name__}, not an UpdateResult")
    return Applied(model, before, result)


def _where(method: str, task: str, layout: str) -> str:
    return f"{method} ({task}, {layout} layout)"


def check_finite(method: str, task: str, layout: str) -> Applied:
    applied = apply_fresh(method, layout, toy.request(task))
    bad = [n for n, p in applied.model.named_parameters() if not torch.isfinite(p).all()]
    assert not bad, f"{_where(method, task, layout)}: non-finite weights in {bad}"
    return applied


def check_only_declared_change(method: str, task: str, layout: str) -> Applied:
    applied = apply_fresh(method, layout, toy.request(task))
    names = {n for n, _ in applied.model.named_parameters()}
    unknown = set(applied.result.touched) - names
    assert not unknown, f"{_where(method, task, layout)}: declares tensors the model does not have: {sorted(unknown)}"
    undeclared = applied.changed() - set(applied.result.touched)
    assert not undeclared, (
        f"{_where(method, task, layout)}: changed tensors it did not declare in UpdateResult.touched: "
        f"{sorted(undeclared)}"
    )
    return applied


def check_changes_something(method: str, task: str, layout: str) -> Applied:
    applied = apply_fresh(method, layout, toy.request(task))
    if applied.result.parametric:
        assert applied.changed(), f"{_where(method, task, layout)}: a parametric update changed no weight"
    else:
        assert not applied.changed(), f"{_where(method, task, layout)}: an in-context update changed weights"
        assert applied.result.prompt_prefix, f"{_where(method, task, layout)}: no prompt prefix returned"
    return applied


def check_prepare(method: str, task: str, layout: str) -> None:
    """The harness calls `prepare(model, tokenizer)` before every case (to time the key statistics
    apart): it must take exactly those arguments, return float timings, and change no weight."""
    model = toy.tiny_model(layout)
    before = toy.state(model)
    timings = get_method(method).prepare(model, toy.tokenizer())
    where = _where(method, task, layout)
    assert isinstance(timings, dict), f"{where}: prepare returned {type(timings).__name__}, not a dict of timings"
    bad = {k: v for k, v in timings.items() if not isinstance(k, str) or not isinstance(v, (int, float))}
    assert not bad, f"{where}: prepare's timings must map names to seconds, got {bad}"
    changed = toy.changed(before, model)
    assert not changed, f"{where}: prepare changed weights {sorted(changed)}"


def _same(a: Applied, b: Applied) -> list[str]:
    after_a, after_b = a.after(), b.after()
    differ = [n for n in after_a if not torch.equal(after_a[n], after_b[n])]
    if a.result.prompt_prefix != b.result.prompt_prefix:
        differ.append("<prompt_prefix>")
    return differ


def check_deterministic(method: str, task: str, layout: str) -> None:
    first = apply_fresh(method, layout, toy.request(task, seed=3))
    second = apply_fresh(method, layout, toy.request(task, seed=3))
    differ = _same(first, second)
    assert not differ, f"{_where(method, task, layout)}: the same request and seed gave different {differ}"


def check_order_independent(method: str, task: str, layout: str) -> None:
    """A then B vs B then A, each on a fresh copy: A's (and B's) result must not depend on the order."""
    request_a = toy.request(task, n=2, seed=1, offset=0)
    request_b = toy.request(task, n=3, seed=2, offset=3)
    a_first = apply_fresh(method, layout, request_a)
    b_second = apply_fresh(method, layout, request_b)
    b_first = apply_fresh(method, layout, request_b)
    a_second = apply_fresh(method, layout, request_a)
    for label, x, y in (("A", a_first, a_second), ("B", b_second, b_first)):
        differ = _same(x, y)
        assert not differ, (
            f"{_where(method, task, layout)}: update {label} gave different {differ} depending on what "
            "ran before it (state kept between calls)"
        )


def check_empty_request(method: str, task: str, layout: str) -> None:
    applied = apply_fresh(method, layout, UpdateRequest(task=task, interventions=(), retain=toy.request(task).retain))
    assert not applied.changed(), f"{_where(method, task, layout)}: an empty request changed {sorted(applied.changed())}"
    assert not applied.result.prompt_prefix, f"{_where(method, task, layout)}: an empty request returned prompt prefixes"


CHECKS = {
    "finite": check_finite,
    "only_declared_change": check_only_declared_change,
    "changes_something": check_changes_something,
    "deterministic": check_deterministic,
    "order_independent": check_order_independent,
    "empty_request": check_empty_request,
    "prepare": check_prepare,
}
