"""`compute`: every per-case metric of one update, each tagged with the protocol it was measured under.

Naming: the `mcq` protocol (the headline one) gives the bare names (`direct_acc`, `ccr`, ...); every
other protocol gives `<name>@<protocol>` (`direct_acc@mcq_norm`), so a column is never an average
across protocols and the dict key always equals `Metric.name`. Every name is declared in
`ksmith.metrics.names.METRICS`, with its direction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ksmith.metrics import diagnostics as diag
from ksmith.metrics.answers import Answer, pair_answers, preconditions
from ksmith.metrics.authors import compute_authors
from ksmith.metrics.bootstrap import N_RESAMPLES, cluster_ci, metric_seed
from ksmith.metrics.diagnostics import Tally
from ksmith.metrics.inputs import (
    MetricsError,
    all_probes_of,
    interventions_of,
    probes_of,
    protocols_in,
    scores_of,
    target_domain,
)
from ksmith.metrics.names import METRICS, higher_is_better
from ksmith.metrics.record import Metric

__all__ = ["METRICS", "compute", "metric_name"]

#: Protocols whose scores carry a chosen option (accuracies and change diagnostics apply).
CHOICE_PROTOCOLS: tuple[str, ...] = ("mcq", "mcq_norm", "gen_match")

Selector = Callable[[Answer], bool]


def _ptype(name: str) -> Selector:
    return lambda a: a.probe.probe_type == name


#: Accuracy name -> which answered probes it averages over.
ACCURACY_GROUPS: dict[str, Selector] = {
    "direct_acc": lambda a: a.probe.probe_type == "direct" and not a.held_out,
    "paraphrase_acc": lambda a: a.probe.probe_type == "direct" and a.held_out,
    "reverse_acc": _ptype("reverse"),
    "multi_hop_acc": _ptype("multi_hop"),
    "comparison_acc": _ptype("comparison"),
    "conflict_acc": _ptype("conflict"),
    "contextual_acc": _ptype("contextual"),
    "q_plus_acc": lambda a: a.probe.family == "Q+",
    "q_minus_acc": lambda a: a.probe.family == "Q-",
    "held_in_acc": lambda a: not a.held_out,
    "held_out_acc": lambda a: a.held_out,
}

#: Diagnostic name -> its function (direction and meaning: `ksmith.metrics.names.METRICS`).
DIAGNOSTICS: dict[str, Callable[[list[Answer]], Tally]] = {
    "ccr": diag.collateral_change_ratio,
    "rr": diag.residual_retention,
    "rr_gap": diag.residual_retention_gap,
    "kl_uniform": diag.forgetting_kl_uniform,
    "old_logprob_shift": diag.old_logprob_shift,
    "conflict_rate": diag.conflict_rate,
    "consistency": diag.consistency,
    "propagation": diag.propagation,
    "over_spread": diag.over_spread,
}


def metric_name(base: str, protocol: str) -> str:
    """The dict key / `Metric.name` of a metric under a protocol (bare for `mcq`)."""
    return base if protocol == "mcq" else f"{base}@{protocol}"


def tally_metric(
    base: str,
    protocol: str,
    tally: Tally,
    *,
    seed: int,
    n_resamples: int,
) -> Metric | None:
    """The `Metric` of a tally (None when it has no item), its interval resampling interventions."""
    if tally.n == 0:
        return None
    name = metric_name(base, protocol)
    ci = (
        cluster_ci(
            tally.values,
            tally.units,
            seed=metric_seed(name, protocol, seed),
            n_resamples=n_resamples,
        )
        if n_resamples > 0
        else None
    )
    return Metric(
        name=name,
        value=tally.value,
        protocol=protocol,
        n=tally.n,
        n_units=tally.n_units,
        ci=ci,
        executed=tally.executed,
        higher_is_better=higher_is_better(name),
    )


def _accuracy_groups(
    answers: list[Answer], interventions: Mapping[str, Any]
) -> dict[str, list[Answer]]:
    """Name -> answered probes, for every accuracy and breakdown that has probes."""
    groups = {
        name: [a for a in answers if select(a)]
        for name, select in ACCURACY_GROUPS.items()
    }
    for a in answers:
        p = a.probe
        if p.probe_type == "multi_hop":
            groups.setdefault(f"multi_hop_acc_hop{p.hop}", []).append(a)
        domain = target_domain(p, interventions)
        if p.probe_type == "contextual":
            side = "in_domain" if p.domain == domain else "out_domain"
            groups.setdefault(f"contextual_acc_{side}", []).append(a)
        if p.probe_type == "direct" and not a.held_out:
            groups.setdefault(f"direct_acc_{domain}", []).append(a)
        family = "q_plus_acc" if p.family == "Q+" else "q_minus_acc"
        groups.setdefault(f"{family}_{domain}", []).append(a)
    levels = {a.probe.level for a in answers}
    if len(levels) > 1:
        for a in answers:
            if a.probe.family == "Q+":
                groups.setdefault(f"q_plus_acc_{a.probe.level}", []).append(a)
    return {name: group for name, group in groups.items() if group}


def compute(
    dataset: Any,
    pre: Any,
    post: Any,
    *,
    held_out: Mapping[str, int] | None = None,
    precondition: bool = True,
    seed: int = 0,
    n_resamples: int = N_RESAMPLES,
) -> dict[str, Metric]:
    """All metrics of one update: accuracies, breakdowns and diagnostics, per protocol, with CIs.

    dataset:      a `Dataset` (or a sequence of `Probe`); its interventions give relations/domains.
    pre, post:    scores before and after the update (`Scores`, or the plain shapes of
                  `ksmith.metrics.inputs.scores_of`). Every protocol present in `post` is reported.
    held_out:     relation -> held-out paraphrase id recorded on the model (`LoadedModel.held_out`);
                  when given it decides which direct probes are held out, else the probes' flags do.
    precondition: filter probes as RippleEdits does (see `ksmith.metrics.answers`); needs `mcq`
                  (or `mcq_norm`) pre-update scores. False counts every probe (`executed` = 1).
    seed, n_resamples: bootstrap settings (95% intervals resampling interventions, see
                  `ksmith.metrics.bootstrap`; 0 resamples: no intervals).

    Metrics with no probe behind them are left out rather than reported as NaN.
    """
    everything = all_probes_of(dataset)  # condition queries too: preconditions read them
    probes = probes_of(dataset)
    interventions = interventions_of(dataset)
    if precondition:
        pre_ref = scores_of(pre, "mcq") or scores_of(pre, "mcq_norm")
        if not pre_ref and probes:
            raise MetricsError(
                "precondition filtering needs the unedited model's mcq scores, but `pre` has none; "
                "score the dataset with the mcq protocol before the update, or pass precondition=False"
            )
        choices = {pid: score.choice for pid, score in pre_ref.items()}
        executed = preconditions(everything, choices, interventions, held_out)
    else:
        executed = {p.id: True for p in probes}

    out: dict[str, Metric] = {}

    def add(base: str, protocol: str, tally: Tally) -> None:
        metric = tally_metric(
            base,
            protocol,
            tally,
            seed=seed,
            n_resamples=n_resamples,
        )
        if metric is not None:
            out[metric.name] = metric

    for protocol in protocols_in(post):
        post_p = scores_of(post, protocol)
        if protocol in CHOICE_PROTOCOLS:
            pre_p = scores_of(pre, protocol)
            answers = pair_answers(
                probes, pre_p, post_p, executed, interventions, held_out
            )
            for base, group in _accuracy_groups(answers, interventions).items():
                add(base, protocol, diag.accuracy(group))
            for base, fn in DIAGNOSTICS.items():
                add(base, protocol, fn(answers))
            if protocol == "gen_match":  # the only choice protocol that can name no option
                add("no_answer", protocol, diag.no_answer(answers))
        else:
            answers = pair_answers(
                probes, {}, post_p, executed, interventions, held_out, require_pre=False
            )
            fn = (
                diag.mean_value
                if protocol == "token_acc"
                else diag.prob_compare_success
            )
            for base in (*ACCURACY_GROUPS,):
                group = [a for a in answers if ACCURACY_GROUPS[base](a)]
                add(base, protocol, fn(group))
    out.update(compute_authors(dataset, post, executed, seed=seed, n_resamples=n_resamples))
    return out
