"""The paper's accuracies and diagnostics as pure functions of answered probes.

Each function takes `Answer` records (see `ksmith.metrics.answers`) and returns a `Tally`: the
per-item values whose mean is the metric, the intervention each item belongs to (the independent
unit the bootstrap resamples, `ksmith.metrics.bootstrap`), how many items were candidates, and
whether precondition filtering applied. Formulas (ours, docs/metrics.md):

* accuracy: mean over executed probes of 1[correct after the update].
* CCR, collateral change ratio: mean over executed `Q-` probes (the unedited model answered them
  right) of 1[argmax after != argmax before]. Probes the unedited model got wrong are left out: a
  guess flips freely and would count as collateral damage that no update caused.
* RR, residual retention: mean over executed `Q+` probes of 1[the old object is still chosen].
  With m options a model that knows nothing picks the old object 1/m of the time (0.25 with 4).
* rr_gap: RR - chance, per probe 1[old chosen] - 1/m, averaged: 0 is "indistinguishable from
  guessing" (the ideal of unlearning), > 0 the fact is still there, < 0 the model still knows which
  answer to avoid (it has not forgotten, it hides).
* kl_uniform: per executed unlearning `Q+` probe, KL(p || uniform) of the model's distribution over
  the m options (softmax of the option scores), in nats; 0 when the model has no preference left.
* old_logprob_shift: per executed unlearning `Q+` probe, the old answer's option score (its
  log-likelihood) after the update minus before; the likelihood beside rr's ranking.
* no_answer: executed probes whose protocol chose no option (a generation naming none); counted
  apart, never as forgotten or as right.
* conflict rate: over (direct, reverse) pairs of executed probes, one pair per (intervention,
  paraphrase): the direct probe in paraphrase i with the reverse probe in paraphrase i (never the
  Cartesian product, where one probe would sit in many "independent" pairs). The fraction whose
  answers contradict: one agrees only with the updated world, the other only with the old one.
* consistency: over the same pairs, the fraction whose answers agree with the same world (both
  updated or both old). conflict rate + consistency <= 1; the rest are pairs where a probe chose an
  option neither world gives.
* propagation: per intervention, the fraction of its executed multi-hop `Q+` probes (descendants'
  inherited facts, 2-hop compositions) whose answer changed; averaged over interventions. What a
  human expects is 1: every consequence of a changed fact changes.
* over-spread: per intervention, the fraction of its executed contextual `Q-` probes (siblings,
  other subjects, other domains: non-descendants) whose answer changed; averaged over
  interventions (filtered like CCR, for the same reason).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ksmith.metrics.answers import Answer, answer_states
from ksmith.metrics.inputs import group_by


@dataclass(frozen=True)
class Tally:
    """The items behind one metric value.

    values:     one number per counted item (0/1 for rates); the metric is their mean.
    units:      per item, the independent unit it belongs to (its intervention's id); the bootstrap
                resamples units with their items.
    candidates: items before precondition filtering.
    filtered:   whether precondition filtering applied (then `executed` is reported).
    unit:       what an item is ("probe", "pair", "intervention").
    """

    values: np.ndarray
    units: tuple[str, ...]
    candidates: int
    filtered: bool = True
    unit: str = "probe"

    def __post_init__(self) -> None:
        if len(self.units) != self.values.size:
            raise ValueError(f"{self.values.size} values but {len(self.units)} unit labels")

    @property
    def n(self) -> int:
        return int(self.values.size)

    @property
    def n_units(self) -> int:
        return len(set(self.units))

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


def _units(answers: Iterable[Answer]) -> tuple[str, ...]:
    return tuple(a.probe.intervention_id for a in answers)


def _probe_tally(
    answers: Sequence[Answer], value: Callable[[Answer], float], candidates: int, filtered: bool = True
) -> Tally:
    return Tally(
        np.array([value(a) for a in answers], dtype=np.float64), _units(answers), candidates, filtered
    )


def accuracy(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed probes answered correctly after the update."""
    return _probe_tally([a for a in answers if a.executed], lambda a: float(a.correct), len(answers))


def collateral_change_ratio(answers: Sequence[Answer]) -> Tally:
    """CCR: fraction of executed `Q-` probes (known before the update) whose chosen option changed."""
    q_minus = [a for a in answers if a.probe.family == "Q-"]
    return _probe_tally([a for a in q_minus if a.executed], lambda a: float(a.changed), len(q_minus))


def _q_plus(answers: Sequence[Answer]) -> list[Answer]:
    return [a for a in answers if a.probe.family == "Q+"]


def residual_retention(answers: Sequence[Answer]) -> Tally:
    """RR: fraction of executed `Q+` probes that still choose the old object."""
    q_plus = _q_plus(answers)
    return _probe_tally([a for a in q_plus if a.executed], lambda a: float(a.old_retained), len(q_plus))


def chance(answer: Answer) -> float:
    """Probability that uniform guessing picks the old object: 1 / number of options."""
    return 1.0 / len(answer.probe.choices)


def residual_retention_gap(answers: Sequence[Answer]) -> Tally:
    """rr_gap: per executed `Q+` probe 1[old object chosen] - 1/m; its mean is RR - chance."""
    q_plus = _q_plus(answers)
    return _probe_tally(
        [a for a in q_plus if a.executed], lambda a: float(a.old_retained) - chance(a), len(q_plus)
    )


def kl_from_uniform(scores: Sequence[float]) -> float:
    """KL(p || uniform) in nats of p = softmax(scores) over the options: log m - H(p); 0 for uniform."""
    x = np.asarray(scores, dtype=np.float64)
    logp = x - (x.max() + math.log(np.exp(x - x.max()).sum()))
    return float(max(0.0, math.log(x.size) + float(np.sum(np.exp(logp) * logp))))


def forgetting_kl_uniform(answers: Sequence[Answer]) -> Tally:
    """kl_uniform: per executed unlearning `Q+` probe with option scores, KL of its options from uniform."""
    q_plus = [a for a in _q_plus(answers) if a.probe.task == "unlearn" and a.scores_after]
    return _probe_tally(
        [a for a in q_plus if a.executed], lambda a: kl_from_uniform(a.scores_after), len(q_plus)
    )


def old_logprob_shift(answers: Sequence[Answer]) -> Tally:
    """old_logprob_shift: per executed unlearning `Q+` probe with option scores before and after, the
    old answer's score after minus before. rr sees only the ranking: after NPO the old answer can
    fall 60-fold while rr stays put, because the other options fell too; this sees the fall."""
    q_plus = [a for a in _q_plus(answers)
              if a.probe.task == "unlearn" and a.probe.avoid is not None and a.scores_after and a.scores_before]
    return _probe_tally(
        [a for a in q_plus if a.executed],
        lambda a: a.scores_after[a.probe.avoid] - a.scores_before[a.probe.avoid],  # type: ignore[index]
        len(q_plus),
    )


def no_answer(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed probes where the protocol chose no option (counted apart, never a success)."""
    return _probe_tally([a for a in answers if a.executed], lambda a: float(a.after is None), len(answers))


def direct_reverse_pairs(answers: Sequence[Answer]) -> tuple[list[tuple[Answer, Answer]], int]:
    """(direct, reverse) pairs, one per (intervention, paraphrase): (pairs of executed probes, all pairs).

    Within an intervention the i-th direct paraphrase meets the i-th reverse paraphrase (ordered by
    paraphrase id); a probe is in at most one pair, so pairs are as independent as the probes.
    """
    by_intervention = group_by(
        [a for a in answers if a.probe.probe_type in ("direct", "reverse")],
        lambda a: a.probe.intervention_id,
    )
    executed: list[tuple[Answer, Answer]] = []
    total = 0
    for group in by_intervention.values():
        direct = sorted((a for a in group if a.probe.probe_type == "direct"), key=lambda a: a.probe.paraphrase_id)
        reverse = sorted((a for a in group if a.probe.probe_type == "reverse"), key=lambda a: a.probe.paraphrase_id)
        pairs = list(zip(direct, reverse))
        total += len(pairs)
        executed.extend((d, r) for d, r in pairs if d.executed and r.executed)
    return executed, total


def _pair_tally(answers: Sequence[Answer], verdict: Callable[[frozenset, frozenset], bool]) -> Tally:
    pairs, total = direct_reverse_pairs(answers)
    flags = _rate(verdict(answer_states(d.probe, d.after), answer_states(r.probe, r.after)) for d, r in pairs)
    return Tally(flags, tuple(d.probe.intervention_id for d, _ in pairs), total, unit="pair")


def _contradict(a: frozenset, b: frozenset) -> bool:
    return bool(a) and bool(b) and not (a & b)


def conflict_rate(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed (direct, reverse) pairs whose answers contradict each other."""
    return _pair_tally(answers, _contradict)


def consistency(answers: Sequence[Answer]) -> Tally:
    """Fraction of executed (direct, reverse) pairs whose answers agree with the same world."""
    return _pair_tally(answers, lambda a, b: bool(a & b))


def _per_intervention_change(answers: Sequence[Answer], candidates: int) -> Tally:
    groups = group_by(answers, lambda a: a.probe.intervention_id)
    values = np.array([np.mean([a.changed for a in g]) for g in groups.values()], dtype=np.float64)
    return Tally(values, tuple(groups), candidates, unit="intervention")


def propagation(answers: Sequence[Answer]) -> Tally:
    """Mean over interventions of the fraction of executed multi-hop `Q+` probes that changed."""
    hops = [a for a in answers if a.probe.probe_type == "multi_hop" and a.probe.family == "Q+"]
    return _per_intervention_change([a for a in hops if a.executed], len(hops))


def over_spread(answers: Sequence[Answer]) -> Tally:
    """Mean over interventions of the fraction of executed contextual `Q-` probes that changed."""
    ctx = [a for a in answers if a.probe.probe_type == "contextual" and a.probe.family == "Q-"]
    return _per_intervention_change([a for a in ctx if a.executed], len(ctx))


def _forgetting(answer: Answer) -> bool:
    """An unlearning `Q+` probe: there the protocol's expected option is the old object to avoid."""
    return answer.probe.task == "unlearn" and answer.probe.family == "Q+"


def mean_value(answers: Sequence[Answer]) -> Tally:
    """`token_acc`: mean over executed probes of the teacher-forced token accuracy of the expected
    answer, or of 1 - the old answer's token accuracy for unlearning `Q+` probes (what is forgotten).
    """
    kept = [a for a in answers if a.value_after is not None]
    return _probe_tally(
        [a for a in kept if a.executed],
        lambda a: 1.0 - a.value_after if _forgetting(a) else a.value_after,
        len(kept),
    )


def prob_compare_success(answers: Sequence[Answer]) -> Tally:
    """`prob_compare`: fraction of executed probes where the expected option wins by log-probability.

    The engine's value is log p(new) - log p(old) for edit probes whose answer moves (ROME's
    efficacy test), else log p(expected) - the best other option: success is value > 0. For
    unlearning `Q+` probes the engine's "expected" is the old object, so success is value <= 0
    (the old object no longer wins).
    """
    kept = [a for a in answers if a.value_after is not None]
    return _probe_tally(
        [a for a in kept if a.executed],
        lambda a: float((a.value_after <= 0.0) if _forgetting(a) else (a.value_after > 0.0)),
        len(kept),
    )
