"""Sequential updates: k interventions arriving in batches of b, applied one after another to one model.

The continual-update view the paper's batch setting hides: after each batch the probes of every
intervention applied so far are scored and the metrics recorded (the curve against the number of
facts applied), and at the end the earliest batch is looked at again: `seq_earliest_retained` =
accuracy of the first batch's direct probes at the end minus right after it was applied (negative:
later updates undid earlier ones).

The caller supplies `apply` and `score` (closures over the model, the method and the scoring
engine), so this module never loads a model, never restores weights and never imports torch.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ksmith.metrics.case import compute
from ksmith.metrics.inputs import MetricsError, ProbeSet, probes_of, subset
from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric
from ksmith.probes.types import Probe

#: apply(request) -> UpdateResult: one batch through the method, in place, on the same model.
ApplyFn = Callable[[Any], Any]
#: score(probes, prefixes) -> Scores: the post-update scores of these probes (prefixes: IKE's).
ScoreFn = Callable[[Sequence[Probe], Mapping[str, str]], Any]


@dataclass(frozen=True)
class SequentialStep:
    """Metrics after one batch: `applied` interventions so far, on their probes."""

    batch: int
    applied: int
    metrics: Mapping[str, Metric]
    update_s: float
    score_s: float


@dataclass(frozen=True)
class SequentialResult:
    """Every step of a sequential run, and the earliest batch right after it and at the end."""

    steps: tuple[SequentialStep, ...]
    earliest_first: Mapping[str, Metric]
    earliest_end: Mapping[str, Metric]

    def curve(self, name: str) -> list[tuple[int, float]]:
        """(interventions applied, value) of one metric over the steps where it was measured."""
        return [
            (s.applied, s.metrics[name].value) for s in self.steps if name in s.metrics
        ]

    def metrics(self) -> dict[str, Metric]:
        """The final step's metrics plus the earliest batch's, as one case's metrics.

        seq_earliest_<m>_first / _end: metric m on the first batch's probes right after that batch
        and after the last one; seq_earliest_retained: direct_acc end - first (0 = nothing undone).
        """
        out = dict(self.steps[-1].metrics) if self.steps else {}
        for name in ("direct_acc", "q_plus_acc", "rr"):
            for tag, table in (
                ("first", self.earliest_first),
                ("end", self.earliest_end),
            ):
                if name in table:
                    metric = dataclasses.replace(
                        table[name], name=f"seq_earliest_{name}_{tag}"
                    )
                    out[metric.name] = metric
        first, end = (
            self.earliest_first.get("direct_acc"),
            self.earliest_end.get("direct_acc"),
        )
        if first is not None and end is not None:
            out["seq_earliest_retained"] = Metric(
                "seq_earliest_retained",
                end.value - first.value,
                "mcq",
                end.n,
                higher_is_better=higher_is_better("seq_earliest_retained"),
            )
        return out


def batches(items: Sequence[Any], batch_size: int) -> list[tuple[Any, ...]]:
    """Consecutive batches of `batch_size` (the last may be shorter), in the given order."""
    if batch_size < 1:
        raise MetricsError(f"sequential batch size must be >= 1, got {batch_size}")
    return [tuple(items[i : i + batch_size]) for i in range(0, len(items), batch_size)]


def sequential_updates(
    dataset: Any,
    pre: Any,
    request: Any,
    *,
    batch_size: int,
    apply: ApplyFn,
    score: ScoreFn,
    held_out: Mapping[str, int] | None = None,
    seed: int = 0,
    n_resamples: int = 200,
) -> SequentialResult:
    """Apply `request.interventions` in batches of `batch_size`, scoring after each batch.

    request: the whole `UpdateRequest`; each batch is sent as a copy with that batch's interventions
    (retain items, seed unchanged; scale = the batch's size). pre: the unedited model's scores of
    the whole dataset (as for `compute`). After batch j the probes of batches 0..j are scored and
    `compute` run on them; the earliest batch is re-read from the last step's scores.
    """
    interventions = tuple(request.interventions)
    if not interventions:
        raise MetricsError("a sequential run needs at least one intervention")
    known = {p.intervention_id for p in probes_of(dataset)}
    missing = [iv.id for iv in interventions if iv.id not in known]
    if missing:
        raise MetricsError(
            f"interventions {missing[:3]} have no probes in the dataset; pass the dataset they came from"
        )
    groups = batches(interventions, batch_size)
    prefixes: dict[str, str] = {}
    steps: list[SequentialStep] = []
    applied: list[str] = []
    earliest: ProbeSet = subset(dataset, [iv.id for iv in groups[0]])
    earliest_first: dict[str, Metric] = {}
    post: Any = None
    for j, group in enumerate(groups):
        start = time.perf_counter()
        result = apply(
            dataclasses.replace(request, interventions=group, scale=len(group))
        )
        update_s = time.perf_counter() - start
        prefixes.update(getattr(result, "prompt_prefix", {}) or {})
        applied.extend(iv.id for iv in group)
        so_far = subset(dataset, applied)
        start = time.perf_counter()
        post = score(so_far.probes, dict(prefixes))
        score_s = time.perf_counter() - start
        metrics = compute(
            so_far, pre, post, held_out=held_out, seed=seed, n_resamples=n_resamples
        )
        steps.append(SequentialStep(j, len(applied), metrics, update_s, score_s))
        if j == 0:
            earliest_first = metrics
    earliest_end = compute(
        earliest, pre, post, held_out=held_out, seed=seed, n_resamples=n_resamples
    )
    return SequentialResult(tuple(steps), earliest_first, earliest_end)
