"""The paper's accuracies and diagnostics as pure functions of answered probes.

Each function takes `Answer` records (see `ksmith.metrics.answers`) and returns a `Tally`: the
per-item values whose mean is the metric (so a bootstrap can resample them), how many items were
candidates, and whether precondition filtering applied. Formulas (ours, DESIGN.md §1):

* accuracy: mean over executed probes of 1[correct after the update].
* CCR, collateral change ratio: mean over `Q-` probes of 1[argmax after != argmax before]. Not
  precondition-filtered: an answer that must not move should not move whether or not it was right.
* RR, residual retention: mean over executed `Q+` probes of 1[the old object is still chosen].
* conflict rate: over (direct, reverse) pairs of executed probes of one intervention, the fraction
  whose answers contradict: one agrees only with the updated world, the other only with the old one.
* consistency: over the same pairs, the fraction whose answers agree with the same world (both
  updated or both old). conflict rate + consistency <= 1; the rest are pairs where a probe chose an
  option neither world gives.
* propagation: per intervention, the fraction of its executed multi-hop `Q+` probes (descendants'
  inherited facts, 2-hop compositions) whose answer changed; averaged over interventions. What a
  human expects is 1: every consequence of a changed fact changes.
* over-spread: per intervention, the fraction of its contextual `Q-` probes (siblings, other
  subjects, other domains: non-descendants) whose answer changed; averaged over interventions
  (unfiltered, like CCR).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ksmith.metrics.answers import Answer, answer_states
from ksmith.metrics.inputs import group_by


@dataclass(frozen=True)
class Tally:
    """The items behind one metric value.

    values:     one number per counted item (0/1 for rates); the metric is their mean.
    candidates: items before precondition filtering.
    filtered:   whether precondition filtering applied (then `executed` is reported).
    unit:       what an item is ("probe", "pair", "intervention"); the bootstrap resamples these.
    """

    values: np.ndarray
    candidates: int
    filtered: bool = True
    unit: str = "probe"

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def value(self) -> float:
        return float(self.values.mean()) if self.values.size else float("nan")

    @property
    def executed(self) -> float | None:
        if not self.filtered or self.candidates == 0:
            return None
        return self.n / self.candidates


def _rate(flags: Iterable[bool]) -> np.ndarray:
    return np.fromiter((1.0 if f else 0.0 for f in flags), dtype=np.float64)


def accuracy(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed probes answered correctly after the update."""
    return Tally(_rate(a.correct for a in answers if a.executed), len(answers))


def collateral_change_ratio(answers: Sequence[Answer]) -> Tally:
    """CCR: fraction of `Q-` probes whose chosen option changed (0 for an unchanged model)."""
    q_minus = [a for a in answers if a.probe.family == "Q-"]
    return Tally(_rate(a.changed for a in q_minus), len(q_minus), filtered=False)


def residual_retention(answers: Sequence[Answer]) -> Tally:
    """RR: fraction of executed `Q+` probes that still choose the old object."""
    q_plus = [a for a in answers if a.probe.family == "Q+"]
    return Tally(_rate(a.old_retained for a in q_plus if a.executed), len(q_plus))


def direct_reverse_pairs(
    answers: Sequence[Answer],
) -> tuple[list[tuple[Answer, Answer]], int]:
    """All (direct, reverse) pairs of one intervention: (pairs of executed probes, all pairs)."""
    by_intervention = group_by(
        [a for a in answers if a.probe.probe_type in ("direct", "reverse")],
        lambda a: a.probe.intervention_id,
    )
    executed: list[tuple[Answer, Answer]] = []
    total = 0
    for group in by_intervention.values():
        direct = [a for a in group if a.probe.probe_type == "direct"]
        reverse = [a for a in group if a.probe.probe_type == "reverse"]
        total += len(direct) * len(reverse)
        executed.extend(
            (d, r) for d in direct if d.executed for r in reverse if r.executed
        )
    return executed, total


def _pair_tally(
    answers: Sequence[Answer], verdict: Callable[[frozenset, frozenset], bool]
) -> Tally:
    pairs, total = direct_reverse_pairs(answers)
    flags = (
        verdict(answer_states(d.probe, d.after), answer_states(r.probe, r.after))
        for d, r in pairs
    )
    return Tally(_rate(flags), total, unit="pair")


def _contradict(a: frozenset, b: frozenset) -> bool:
    return bool(a) and bool(b) and not (a & b)


def conflict_rate(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed (direct, reverse) pairs whose answers contradict each other."""
    return _pair_tally(answers, _contradict)


def consistency(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed (direct, reverse) pairs whose answers agree with the same world."""
    return _pair_tally(answers, lambda a, b: bool(a & b))


def _per_intervention_change(
    answers: Sequence[Answer], candidates: int, filtered: bool
) -> Tally:
    groups = group_by(answers, lambda a: a.probe.intervention_id)
    values = np.array(
        [np.mean([a.changed for a in g]) for g in groups.values()], dtype=np.float64
    )
    return Tally(values, candidates, filtered=filtered, unit="intervention")


def propagation(answers: Sequence[Answer]) -> Tally:
    """Mean over interventions of the fraction of executed multi-hop `Q+` probes that changed."""
    hops = [
        a
        for a in answers
        if a.probe.probe_type == "multi_hop" and a.probe.family == "Q+"
    ]
    return _per_intervention_change([a for a in hops if a.executed], len(hops), True)


def over_spread(answers: Sequence[Answer]) -> Tally:
    """Mean over interventions of the fraction of contextual `Q-` probes that changed."""
    ctx = [
        a
        for a in answers
        if a.probe.probe_type == "contextual" and a.probe.family == "Q-"
    ]
    return _per_intervention_change(ctx, len(ctx), False)


def _forgetting(answer: Answer) -> bool:
    """An unlearning `Q+` probe: there the protocol's expected option is the old object to avoid."""
    return answer.probe.task == "unlearn" and answer.probe.family == "Q+"


def mean_value(answers: Sequence[Answer]) -> Tally:
    """`token_acc`: mean over executed probes of the teacher-forced token accuracy of the expected
    answer, or of 1 - the old answer's token accuracy for unlearning `Q+` probes (what is forgotten).
    """
    kept = [a for a in answers if a.value_after is not None]
    values = [
        1.0 - a.value_after if _forgetting(a) else a.value_after
        for a in kept
        if a.executed
    ]
    return Tally(np.array(values, dtype=np.float64), len(kept))


def prob_compare_success(answers: Sequence[Answer]) -> Tally:
    """`prob_compare`: fraction of executed probes where the expected option wins by log-probability.

    The engine's value is log p(new) - log p(old) for edit probes whose answer moves (ROME's
    efficacy test), else log p(expected) - the best other option: success is value > 0. For
    unlearning `Q+` probes the engine's "expected" is the old object, so success is value <= 0
    (the old object no longer wins).
    """
    kept = [a for a in answers if a.value_after is not None]
    flags = (
        (a.value_after <= 0.0) if _forgetting(a) else (a.value_after > 0.0)
        for a in kept
        if a.executed
    )
    return Tally(_rate(flags), len(kept))
