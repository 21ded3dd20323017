"""Oracle models: tiny-kg pretrained from scratch on the *updated* world, the model an update should give.

An update is judged against the dataset's expected answers everywhere else; here it is judged against
a model that never saw the old fact (unlearning: the world without the forgotten facts; editing: the
world with the new ones). Differences that the oracle shares (say, a reversal-curse miss on reverse
probes) are then not counted against the method.

* agreement: fraction of probes on which the updated model and the oracle choose the same option
  (`oracle_agree`, and per family `oracle_agree_q_plus` / `oracle_agree_q_minus`).
* KL: mean over probes of KL(p_oracle || p_model), where p is the softmax of a probe's option
  scores (a distribution over its 4 options): `oracle_kl_q_plus`, `oracle_kl_q_minus`.
* forget quality (TOFU, Maini et al. 2024): over the unlearning `Q+` probes, the p-value of the
  two-sample Kolmogorov-Smirnov test between the per-probe *truth ratios* of the unlearned model
  and of the oracle. Truth ratio of a probe = mean over the other options of p(option) / p(old
  answer), with p the length-normalised likelihood (`mcq_norm`: log-likelihood per character of
  the option, lm-eval's `acc_norm`; TOFU normalises per token, which ksmith no longer records). High p-value = indistinguishable from never having learned the
  fact. The oracle against itself gives exactly 1.

The oracle model itself is trained in `ksmith.models.oracle` (metrics only compare). Agreement and KL
intervals resample interventions (`ksmith.metrics.bootstrap.cluster_ci`), like every per-probe metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from ksmith.metrics.bootstrap import cluster_ci, metric_seed
from ksmith.metrics.inputs import MetricsError, probes_of, scores_of
from ksmith.metrics.names import higher_is_better
from ksmith.metrics.record import Metric
from ksmith.probes.types import Probe
from ksmith.scoring import Score


def option_logprobs(score: Score) -> np.ndarray:
    """Log-softmax of a score's option scores: the model's distribution over the probe's options."""
    if not score.option_scores:
        raise MetricsError(
            f"probe {score.probe_id}: {score.protocol} scores carry no option scores"
        )
    x = np.asarray(score.option_scores, dtype=np.float64)
    return x - np.logaddexp.reduce(x)


def option_kl(reference: Score, other: Score) -> float:
    """KL(p_reference || p_other) over the options of one probe (0 for identical scores)."""
    lp, lq = option_logprobs(reference), option_logprobs(other)
    return max(0.0, float(np.sum(np.exp(lp) * (lp - lq))))


def truth_ratio(probe: Probe, score: Score) -> float:
    """Mean over the non-old options of p(option) / p(old answer), from the score's option scores."""
    old = probe.avoid if probe.avoid is not None else probe.answer_before
    x = np.asarray(score.option_scores, dtype=np.float64)
    if x.size < 2:
        raise MetricsError(
            f"probe {probe.id}: a truth ratio needs option scores for every choice"
        )
    others = np.delete(x, old)
    return float(np.mean(np.exp(others - x[old])))


def oracle_distance(
    dataset: Any,
    model_scores: Any,
    oracle_scores: Any,
    *,
    protocol: str = "mcq",
    seed: int = 0,
) -> dict[str, Metric]:
    """Agreement with the oracle's argmax and KL from its option distribution, overall and per family."""
    probes = probes_of(dataset)
    mine, theirs = scores_of(model_scores, protocol), scores_of(oracle_scores, protocol)
    pairs = [
        (p, mine[p.id], theirs[p.id]) for p in probes if p.id in mine and p.id in theirs
    ]
    out: dict[str, Metric] = {}

    def add(name: str, items: Sequence[tuple[Probe, float]]) -> None:
        if not items:
            return
        full = name if protocol == "mcq" else f"{name}@{protocol}"
        arr = np.asarray([v for _, v in items], dtype=np.float64)
        units = [p.intervention_id for p, _ in items]
        ci = cluster_ci(arr, units, seed=metric_seed(full, protocol, seed))
        out[full] = Metric(
            full,
            float(arr.mean()),
            protocol,
            int(arr.size),
            ci=ci,
            higher_is_better=higher_is_better(full),
            n_units=len(set(units)),
        )

    add("oracle_agree", [(p, float(a.choice == b.choice)) for p, a, b in pairs])
    for family, suffix in (("Q+", "q_plus"), ("Q-", "q_minus")):
        sub = [(p, a, b) for p, a, b in pairs if p.family == family]
        add(f"oracle_agree_{suffix}", [(p, float(a.choice == b.choice)) for p, a, b in sub])
        if protocol in ("mcq", "mcq_norm"):
            add(f"oracle_kl_{suffix}", [(p, option_kl(b, a)) for p, a, b in sub])
    return out


def forget_quality(
    dataset: Any,
    model_scores: Any,
    oracle_scores: Any,
    *,
    protocol: str = "mcq_norm",
) -> Metric | None:
    """TOFU forget quality: KS-test p-value between truth-ratio distributions (model vs oracle).

    Over the unlearning `Q+` probes scored by both; None when there are none (e.g. an edit dataset).
    """
    probes = [p for p in probes_of(dataset) if p.task == "unlearn" and p.family == "Q+"]
    mine, theirs = scores_of(model_scores, protocol), scores_of(oracle_scores, protocol)
    both = [p for p in probes if p.id in mine and p.id in theirs]
    if not both:
        return None
    tr_model = np.array([truth_ratio(p, mine[p.id]) for p in both])
    tr_oracle = np.array([truth_ratio(p, theirs[p.id]) for p in both])
    pvalue = float(stats.ks_2samp(tr_model, tr_oracle).pvalue)
    return Metric("forget_quality", pvalue, protocol, len(both), higher_is_better=higher_is_better("forget_quality"))


def oracle_metrics(
    dataset: Any,
    model_scores: Any,
    oracle_scores: Any,
    *,
    seed: int = 0,
) -> dict[str, Metric]:
    """Everything above in one dict: distance under `mcq`, and forget quality for unlearning."""
    out = oracle_distance(dataset, model_scores, oracle_scores, seed=seed)
    quality = forget_quality(dataset, model_scores, oracle_scores)
    if quality is None and not scores_of(model_scores, "mcq_norm"):
        quality = forget_quality(dataset, model_scores, oracle_scores, protocol="mcq")
    if quality is not None:
        out[quality.name] = quality
    return out
