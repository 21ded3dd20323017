"""Metrics of an unlearning case under attack (`ksmith.attacks`): what the attacked model still
knows, how much came back, and what the same attack does to the unedited model.

Per attack A (`int8`, `int4`, `relearn10`, `relearn50`), on the executed Q+ probes, headline
protocol, intervals resampling interventions like every metric:

* `rr@A`, `old_logprob_shift@A`: rr and the old answer's log-probability shift (from the unedited
  model) of the unlearned model after the attack;
* `rr_recovery@A`, `old_logprob_recovery@A`: the same per probe minus its value without the attack
  (paired, so the interval is the recovery's own): > 0, the attack brought the old answer back;
* `rr_control@A`, `old_logprob_shift_control@A`: the unedited model under the attack. Quantisation
  alone must not teach the model anything: its control shift says what the attack costs a model that
  still knows; the relearning attack's says whether its data teaches the answers (it must not).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ksmith.metrics import diagnostics as diag
from ksmith.metrics.answers import Answer, pair_answers, preconditions
from ksmith.metrics.bootstrap import N_RESAMPLES
from ksmith.metrics.case import tally_metric
from ksmith.metrics.diagnostics import Tally
from ksmith.metrics.inputs import MetricsError, all_probes_of, interventions_of, probes_of, scores_of
from ksmith.metrics.record import Metric

__all__ = ["PROTOCOL", "attack_metrics", "paired_difference"]

#: The protocol attacked models are scored under (the headline one).
PROTOCOL = "mcq"


def paired_difference(attacked: Tally, plain: Tally) -> Tally:
    """Per item, the attacked value minus the plain one (both tallies over the same probes)."""
    if attacked.units != plain.units:
        raise MetricsError("an attacked and a plain tally must cover the same probes in the same order")
    return Tally(attacked.values - plain.values, attacked.units, attacked.candidates, attacked.filtered)


def attack_metrics(
    dataset: Any,
    pre: Any,
    post: Any,
    attacked: Mapping[str, Any],
    control: Mapping[str, Any],
    *,
    held_out: Mapping[str, int] | None = None,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> dict[str, Metric]:
    """The attack metrics (module docstring) of one case.

    pre, post: the case's scores before and after the update; attacked / control: attack name ->
    the Q+ probes' scores after that attack on the updated / the unedited model.
    """
    interventions = interventions_of(dataset)
    probes = [p for p in probes_of(dataset) if p.family == "Q+"]
    pre_p = scores_of(pre, PROTOCOL)
    if not pre_p:
        raise MetricsError("attack metrics need the unedited model's mcq scores")
    executed = preconditions(all_probes_of(dataset), {pid: s.choice for pid, s in pre_p.items()}, interventions,
                             held_out)

    def answers(after: Any) -> list[Answer]:
        scored = scores_of(after, PROTOCOL)
        return pair_answers([p for p in probes if p.id in scored], pre_p, scored, executed, interventions, held_out)

    out: dict[str, Metric] = {}

    def add(name: str, tally: Tally) -> None:
        metric = tally_metric(name, PROTOCOL, tally, seed=seed, n_resamples=n_resamples)
        if metric is not None:
            out[metric.name] = metric

    plain_scores = scores_of(post, PROTOCOL)
    for name, scores in attacked.items():
        hit = answers(scores)
        ids = {a.probe.id for a in hit}
        plain = answers({pid: s for pid, s in plain_scores.items() if pid in ids})
        for base, recovery, fn in (("rr", "rr_recovery", diag.residual_retention),
                                   ("old_logprob_shift", "old_logprob_recovery", diag.old_logprob_shift)):
            tally = fn(hit)
            add(f"{base}@{name}", tally)
            add(f"{recovery}@{name}", paired_difference(tally, fn(plain)))
    for name, scores in control.items():
        ctl = answers(scores)
        add(f"rr_control@{name}", diag.residual_retention(ctl))
        add(f"old_logprob_shift_control@{name}", diag.old_logprob_shift(ctl))
    return out
