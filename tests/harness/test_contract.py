import torch

from ksmith.fixtures.contract import contract_violations
from ksmith.methods import UpdateResult
from ksmith.models.snapshot import Snapshot


def _model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 2))


def test_a_declared_finite_change_keeps_the_contract() -> None:
    model = _model()
    snapshot = Snapshot.take(model)
    with torch.no_grad():
        model[0].weight.add_(0.1)
    assert contract_violations(model, snapshot, UpdateResult(touched=("0.weight",)), 1) == []


def test_each_broken_rule_is_named() -> None:
    model = _model()
    snapshot = Snapshot.take(model)
    assert contract_violations(model, snapshot, UpdateResult(touched=("0.weight",)), 1) == [
        "parametric method changed no weight at all"
    ]
    with torch.no_grad():
        model[1].bias.fill_(float("nan"))
    problems = contract_violations(model, snapshot, UpdateResult(touched=("0.weight",)), 1)
    assert any("non-finite" in p and "1.bias" in p for p in problems)
    assert any("did not declare" in p and "1.bias" in p for p in problems)
    in_context = UpdateResult(touched=(), prompt_prefix={"iv0": "New fact. "}, parametric=False)
    assert any("in-context" in p for p in contract_violations(model, snapshot, in_context, 1))
    assert any("empty request" in p for p in contract_violations(model, snapshot, UpdateResult(touched=("1.bias",)), 0))


def test_a_sequential_run_may_touch_what_any_batch_declared() -> None:
    model = _model()
    snapshot = Snapshot.take(model)
    with torch.no_grad():
        model[0].weight.add_(0.1)
        model[1].weight.add_(0.1)
    results = [UpdateResult(touched=("0.weight",)), UpdateResult(touched=("1.weight",))]
    assert contract_violations(model, snapshot, results, 2) == []
