"""The metrics each imported dataset's authors report, computed by ksmith under their rules, so a
leaderboard can show them beside ksmith's own (which filter by precondition and score 4-option MCQs).

- CounterFact (ROME, Meng et al. 2022): per case, efficacy success (the rewrite prompt prefers the
  new object to the true one), generalisation (paraphrase) success and specificity (neighbourhood:
  the true object still preferred) success; each is the mean over cases of the per-case fraction,
  and `cf_score` their harmonic mean. No precondition filter (ROME counts every case). Edits only.
  One departure: ROME compares *per-token mean* log-probabilities; scores carry no token counts, so
  ksmith compares the summed log-probabilities of `mcq` (the same verdict whenever both objects
  have the same number of tokens, e.g. every one-token object).
- MQuAKE (Zhong et al. 2023): multi-hop accuracy per *case*: a case is right when any of its three
  questions gives the new answer (under `gen_match` an alias counts too). Every case counts.
  Edits only.
- RippleEdits (Cohen et al. 2024): accuracy per test family over *executed* tests: a test is
  executed when the unedited model answered all its condition queries; it passes when any (`OR`) /
  all (`AND`) of its test queries are right after the edit.

The MQuAKE and RippleEdits metrics are reported under every choice protocol scored (`mcq`,
`mcq_norm`, `gen_match`); the authors used generation, which `gen_match` follows most closely.
"""

from __future__ import annotations

from collections.abc import Mapping
from statistics import harmonic_mean
from typing import Any

from ksmith.metrics.answers import answered_correctly
from ksmith.metrics.bootstrap import bootstrap_ci, metric_seed
from ksmith.metrics.inputs import interventions_of, probes_of, scores_of
from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric
from ksmith.probes.types import Probe

CHOICE_PROTOCOLS = ("mcq", "mcq_norm", "gen_match")
RIPPLE_FAMILIES = (
    "Relation_Specificity", "Logical_Generalization", "Subject_Aliasing", "Compositionality_I",
    "Compositionality_II", "Forgetfulness",
)


def _name(base: str, protocol: str) -> str:
    return base if protocol == "mcq" else f"{base}@{protocol}"


def _metric(base: str, protocol: str, values: list[float], executed: float | None, seed: int,
            n_resamples: int) -> Metric:
    name = _name(base, protocol)
    ci = bootstrap_ci(values, seed=metric_seed(name, protocol, seed), n_resamples=n_resamples) if n_resamples else None
    return Metric(name=name, value=sum(values) / len(values), protocol=protocol, n=len(values), ci=ci,
                  executed=executed, higher_is_better=higher_is_better(name))


def counterfact(dataset: Any, post: Any, *, seed: int = 0, n_resamples: int = 0) -> dict[str, Metric]:
    """ROME's efficacy / generalisation / specificity success and their harmonic mean."""
    scores = scores_of(post, "mcq")
    if not scores:
        return {}
    interventions = interventions_of(dataset)
    per_case: dict[str, dict[str, list[float]]] = {}
    for p in probes_of(dataset):
        if p.task != "edit" or p.test not in ("rewrite", "paraphrase", "neighborhood") or p.id not in scores:
            continue
        iv = interventions.get(p.intervention_id)
        if iv is None or iv.new_object is None:
            continue
        option = scores[p.id].option_scores
        try:
            new, true = p.choices.index(iv.new_object), p.choices.index(iv.old_object)
        except ValueError:
            continue
        ok = option[true] > option[new] if p.test == "neighborhood" else option[new] > option[true]
        per_case.setdefault(p.intervention_id, {}).setdefault(p.test, []).append(float(ok))
    out: dict[str, Metric] = {}
    means: list[float] = []
    for test, base in (("rewrite", "cf_efficacy"), ("paraphrase", "cf_generalization"), ("neighborhood", "cf_specificity")):
        values = [sum(v[test]) / len(v[test]) for v in per_case.values() if v.get(test)]
        if values:
            metric = _metric(base, "mcq", values, None, seed, n_resamples)
            out[metric.name] = metric
            means.append(metric.value)
    if len(means) == 3:
        name = "cf_score"
        out[name] = Metric(name=name, value=harmonic_mean(means) if min(means) > 0 else 0.0, protocol="mcq",
                           n=len(per_case), higher_is_better=higher_is_better(name))
    return out


def _groups(probes: list[Probe], test: str | None = None) -> dict[str, list[Probe]]:
    groups: dict[str, list[Probe]] = {}
    for p in probes:
        if p.test_group is not None and not p.condition and (test is None or p.test == test):
            groups.setdefault(p.test_group, []).append(p)
    return groups


def _passed(members: list[Probe], choices: Mapping[str, Any]) -> bool | None:
    """A group's verdict (None when a member was not scored)."""
    if any(p.id not in choices for p in members):
        return None
    right = [answered_correctly(p, choices[p.id].choice) for p in members]
    return all(right) if members[0].group_rule == "all" else any(right)


def mquake(dataset: Any, post: Any, *, seed: int = 0, n_resamples: int = 0) -> dict[str, Metric]:
    """MQuAKE's multi-hop accuracy: cases where any of the three questions gives the new answer."""
    probes = [p for p in probes_of(dataset) if p.task == "edit"]
    groups = _groups(probes, "multi_hop")
    out: dict[str, Metric] = {}
    for protocol in CHOICE_PROTOCOLS:
        choices = scores_of(post, protocol)
        verdicts = [_passed(m, choices) for m in groups.values()]
        values = [float(v) for v in verdicts if v is not None]
        if values:
            metric = _metric("mquake_multi_hop_acc", protocol, values, None, seed, n_resamples)
            out[metric.name] = metric
    return out


def ripple(dataset: Any, post: Any, executed: Mapping[str, bool], *, seed: int = 0,
           n_resamples: int = 0) -> dict[str, Metric]:
    """RippleEdits' accuracy per test family over executed tests (`executed`: probe id -> bool)."""
    probes = probes_of(dataset)
    out: dict[str, Metric] = {}
    for family in RIPPLE_FAMILIES:
        groups = _groups(probes, family)
        if not groups:
            continue
        run = {g: m for g, m in groups.items() if all(executed.get(p.id, False) for p in m)}
        share = len(run) / len(groups)
        for protocol in CHOICE_PROTOCOLS:
            choices = scores_of(post, protocol)
            values = [float(v) for v in (_passed(m, choices) for m in run.values()) if v is not None]
            if values:
                metric = _metric(f"ripple_{family}_acc", protocol, values, share, seed, n_resamples)
                out[metric.name] = metric
    return out


def compute_authors(dataset: Any, post: Any, executed: Mapping[str, bool], *, seed: int = 0,
                    n_resamples: int = 0) -> dict[str, Metric]:
    """The authors' metrics of the dataset's source format (none for a generated dataset)."""
    fmt = dict(getattr(dataset, "source", ()) or ()).get("format")
    if fmt == "counterfact":
        return counterfact(dataset, post, seed=seed, n_resamples=n_resamples)
    if fmt == "mquake":
        return mquake(dataset, post, seed=seed, n_resamples=n_resamples)
    if fmt == "ripple":
        return ripple(dataset, post, executed, seed=seed, n_resamples=n_resamples)
    return {}
