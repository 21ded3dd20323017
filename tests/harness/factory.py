"""Hand-made `CaseResult`s for report tests (no model needed)."""

from __future__ import annotations

from ksmith.report.records import CaseResult, MetricValue


def make_result(
    method: str = "rome",
    task: str = "edit",
    level: str = "leaf",
    scale: int = 10,
    seed: int = 0,
    status: str = "passed",
    model: str = "tiny-kg",
    **values: float,
) -> CaseResult:
    """A result whose metrics are `values` (name -> value); `ccr` and `rr` point down, others up."""
    metrics = {
        name: MetricValue(value, "mcq", 40, (value - 0.05, value + 0.05), None, name not in ("ccr", "rr"))
        for name, value in values.items()
    }
    key = {"model": model, "method": method, "task": task, "level": level, "scale": scale, "seed": seed}
    return CaseResult(
        key=key,
        status=status,
        metrics=metrics if status == "passed" else {},
        n_probes=40,
        timings={"update_s": 0.5, "score_s": 0.1},
        provenance={"world_hash": "w"},
        message=None if status == "passed" else "RuntimeError: boom",
    )


def sample_run() -> list[CaseResult]:
    """Two tasks, two levels, two scales, three methods, one failure."""
    results = []
    for level in ("root", "leaf"):
        for scale in (1, 10):
            results.append(make_result("rome", "edit", level, scale, direct_acc=0.9, contextual_acc=0.95, ccr=0.02, multi_hop_acc=0.4))
            results.append(make_result("ft-m", "edit", level, scale, direct_acc=0.8, contextual_acc=0.9, ccr=0.1, multi_hop_acc=0.3))
            results.append(make_result("npo", "unlearn", level, scale, direct_acc=0.7, contextual_acc=0.8, rr=0.05))
    results.append(make_result("crashy", "edit", "leaf", 10, status="failed"))
    return results


def sample_line(
    probe_id: str,
    probe_type: str = "direct",
    *,
    before: int = 1,
    after: int = 2,
    answer_before: int = 1,
    answer_after: int | None = 2,
    family: str = "Q+",
    executed: bool = True,
) -> dict:
    """One hand-made line of a samples file (the fields `ksmith.report.samples` writes)."""
    options = ["Zoukra", "Pibraipun", "Graro", "Nisipem"]
    expected = answer_before if family == "Q-" else answer_after
    changed = before != after
    correct = after == expected
    return {
        "id": probe_id, "task": "edit", "type": probe_type, "family": family, "level": "leaf", "hop": 0,
        "domain": "history", "intervention_id": probe_id.split("/")[0], "held_out": False,
        "prompt": f"The era of {probe_id.split('/')[0]} is", "prefix": None, "options": options,
        "answer_before": answer_before, "answer_after": answer_after, "avoid": None, "executed": executed,
        "loglik_before": {"mcq": [-3.0 + (i == before) for i in range(4)]},
        "loglik_after": {"mcq": [-3.0 + (i == after) for i in range(4)]},
        "value_before": {}, "value_after": {},
        "choice_before": {"mcq": before}, "choice_after": {"mcq": after},
        "changed": changed, "correct_after": correct, "flip": ("right" if correct else "wrong") if changed else None,
    }
