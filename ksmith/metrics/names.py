"""Every metric ksmith records, declared once: its name, which way is better, its family, what it
means and how it is aggregated (lm-eval's `register_metric` idea). Computations take a metric's
direction from here (`higher_is_better`), and the metrics page's table is generated from it
(`ksmith.docs`).

Names under the `mcq` protocol are bare; the same metric under another protocol is
`<name>@<protocol>`. Placeholders in angle brackets stand for a family of names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

#: Every per-probe metric also records `n` (items), `n_units` (interventions) and, where precondition
#: filtering applies, `executed`; its interval resamples interventions (`ksmith.metrics.bootstrap`).


@dataclass(frozen=True)
class MetricSpec:
    """One metric (or a family of names, with placeholders in angle brackets).

    better: "↑" higher is better, "↓" lower is better, "0 ideal", "" descriptive, "same" / "same as m":
    the direction of the metric it varies.
    """

    name: str
    better: str
    family: str
    meaning: str
    aggregation: str

    @property
    def pattern(self) -> re.Pattern[str]:
        parts = re.split(r"(<[a-z]+>)", self.name)
        return re.compile("".join(PLACEHOLDERS.get(part, re.escape(part)) for part in parts) + "$")


#: What each placeholder of a declared name stands for.
PLACEHOLDERS: dict[str, str] = {
    "<h>": r"\d+",
    "<i>": r"\d+",
    "<level>": "(?:root|intermediate|leaf)",
    "<domain>": "[a-z]+",
    "<base>": "(?:direct_acc|q_plus_acc|q_minus_acc)",
    "<family>": r"\w+",
    "<type>": "[a-z_]+",
    "<name>": ".+",
    "<m>": ".+",
    "<attack>": r"(?:int\d+|relearn\d+)",
}


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec('direct_acc', '↑', 'accuracy',
               'held-in direct probes answered as the updated world says',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('paraphrase_acc', '↑', 'accuracy',
               'direct probes in the held-out paraphrase (generalisation)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('reverse_acc', '↑', 'accuracy',
               "reverse probes (the fact asked from the object's side)",
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('multi_hop_acc', '↑', 'accuracy',
               "multi-hop probes (descendants' inherited facts, 2-hop compositions)",
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('multi_hop_acc_hop<h>', '↑', 'accuracy',
               'multi-hop accuracy at hop distance h',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('comparison_acc', '↑', 'accuracy',
               'comparison probes (which of two entities has the property now)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('conflict_acc', '↑', 'accuracy',
               'probes with a contradicting statement in the context',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('contextual_acc', '↑', 'accuracy',
               'unrelated facts (siblings, other subjects, other domains) kept',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('contextual_acc_in_domain', '↑', 'accuracy',
               "contextual probes in the target's domain",
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('contextual_acc_out_domain', '↑', 'accuracy',
               'contextual probes in other domains',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('q_plus_acc', '↑', 'accuracy',
               'all Q+ probes (should change)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('q_minus_acc', '↑', 'accuracy',
               'all Q- probes (must not change)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('held_in_acc', '↑', 'accuracy',
               'all probes in paraphrases seen in training',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('held_out_acc', '↑', 'accuracy',
               'all probes in held-out paraphrases',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('q_plus_acc_<level>', '↑', 'accuracy',
               'Q+ accuracy per target level (only when a dataset mixes levels)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('<base>_<domain>', '↑', 'diagnostic',
               'direct_acc / q_plus_acc / q_minus_acc over interventions of one domain',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('ccr', '↓', 'diagnostic',
               'collateral change ratio: Q- probes the unedited model answered right whose answer changed (guesses left out: they flip freely); chance baseline: a model re-guessing every answer scores 0.75',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('rr', '↓', 'diagnostic',
               'residual retention: executed Q+ probes still choosing the old object; chance baseline 1/options = 0.25 (a model that knows nothing); near 0 means the model still knows what to avoid',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('rr_gap', '0 ideal', 'diagnostic',
               'rr - chance (per probe 1[old chosen] - 1/options): 0 = indistinguishable from guessing (ideal for unlearning), > 0 the fact remains, < 0 avoidance (the model still knows the fact)',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('kl_uniform', '↓', 'diagnostic',
               "unlearning Q+ probes: KL(p ‖ uniform) of the model's distribution over the 4 options (softmax of option scores), nats; chance baseline 0 (no preference left), at most log 4 = 1.386",
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('old_logprob_shift', '↓', 'diagnostic',
               "unlearning Q+ probes: the old answer's log-probability after minus before (the option score, summed log-likelihood of its continuation; nats); sees what rr cannot, a fall of every option at once (-4 = about 55 times less likely); 0 = unchanged",
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('no_answer@gen_match', '↓', 'diagnostic',
               'executed probes whose generation named no option: counted apart, never as forgotten or right',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('conflict_rate', '↓', 'diagnostic',
               '(direct, reverse) pairs, one per (intervention, paraphrase), whose answers contradict each other',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('consistency', '↑', 'diagnostic',
               'the same pairs whose answers agree with the same world',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('propagation', '↑', 'diagnostic',
               'per intervention, multi-hop Q+ answers that changed (expected: all)',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('over_spread', '↓', 'diagnostic',
               'per intervention, known contextual (non-descendant) answers that changed',
               'mean over probes (pairs, interventions); 95% cluster bootstrap over interventions'),
    MetricSpec('cf_efficacy', '↑', 'dataset authors',
               "CounterFact (ROME's rule): cases whose rewrite prompt prefers the new object to the true one",
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('cf_generalization', '↑', 'dataset authors',
               'CounterFact: per case, paraphrase prompts preferring the new object, mean over cases',
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('cf_specificity', '↑', 'dataset authors',
               'CounterFact: per case, neighbourhood prompts still preferring the true object',
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('cf_score', '↑', 'dataset authors',
               'CounterFact: harmonic mean of efficacy, generalisation and specificity',
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('mquake_multi_hop_acc', '↑', 'dataset authors',
               "MQuAKE's rule: cases where any of the three questions gives the new answer",
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('ripple_<family>_acc', '↑', 'dataset authors',
               "RippleEdits' rule: executed tests of one family that pass (OR / AND over its queries)",
               "the dataset authors' rule per case, mean over cases"),
    MetricSpec('rr@<attack>', '↓', 'attack',
               'unlearning: rr of the unlearned model after the attack (int8/int4: weights quantised round-to-nearest; relearnN: N fine-tuning steps on related facts, never the forgotten ones)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('old_logprob_shift@<attack>', '↓', 'attack',
               "unlearning: the old answer's log-probability after the update and the attack minus the unedited model's",
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('rr_recovery@<attack>', '↓', 'attack',
               'unlearning: per probe, rr after the attack minus rr without it (> 0: the attack brought the old answer back)',
               'mean over probes (paired); 95% cluster bootstrap over interventions'),
    MetricSpec('old_logprob_recovery@<attack>', '↓', 'attack',
               "unlearning: per probe, the old answer's log-probability after the attack minus without it (nats)",
               'mean over probes (paired); 95% cluster bootstrap over interventions'),
    MetricSpec('rr_control@<attack>', '', 'attack',
               'control: rr of the unedited model under the same attack (what the attack leaves of knowledge no method touched)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('old_logprob_shift_control@<attack>', '', 'attack',
               "control: the old answer's log-probability shift of the unedited model under the attack (> 0: the attack's data teaches the answer, which it must not)",
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('<name>@mcq_norm', 'same', 'protocol variant',
               'the same metric with length-normalised option scores',
               'as the metric it varies'),
    MetricSpec('<name>@gen_match', 'same', 'protocol variant',
               'the same metric from greedy generation matched to an option',
               'as the metric it varies'),
    MetricSpec('<type>_acc@token_acc', '↑', 'accuracy',
               'mean teacher-forced token accuracy of the right answer (unlearning Q+: 1 - that of the old object)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('<type>_acc@prob_compare', '↑', 'accuracy',
               'probes whose right answer wins by log-probability (edits: log p(new) > log p(old); unlearning Q+: the old object no longer wins)',
               'mean over probes; 95% cluster bootstrap over interventions'),
    MetricSpec('drift_kl', '↓', 'drift',
               "mean KL(before ‖ after) of next-token distributions on up to 128 untouched facts (no intervention's fact, descendants, reverse or chain facts), nats; 0 for an unchanged model",
               'mean over untouched prompts (and layers); no interval'),
    MetricSpec('drift_kl_per_fact', '↓', 'drift',
               'drift_kl / k',
               'drift_kl divided by k; no interval'),
    MetricSpec('drift_cka', '↓', 'drift',
               '1 - linear CKA of last-token hidden states before vs after on the same prompts, mean over the layers from the first edited one up; 0 for an unchanged model',
               'mean over untouched prompts (and layers); no interval'),
    MetricSpec('drift_cka_l<i>', '↓', 'drift',
               'the same at hidden layer i (0 = embeddings), for i from the first edited layer up',
               'mean over untouched prompts (and layers); no interval'),
    MetricSpec('geom_rotation', '', 'geometry',
               'mean principal angle (degrees) between top-8 singular subspaces of each updated matrix before/after',
               'mean over updated matrices; no interval'),
    MetricSpec('geom_anisotropy', '', 'geometry',
               "std of log(σ'_i/σ_i) over the top-8 singular values (0 = uniform rescale)",
               'mean over updated matrices; no interval'),
    MetricSpec('geom_rotation_random', '', 'geometry',
               'the same for a random update of the same rank and singular values (random singular vectors): the chance baseline',
               'mean over updated matrices; no interval'),
    MetricSpec('geom_anisotropy_random', '', 'geometry',
               'the same for a random update of the same rank and singular values (random singular vectors): the chance baseline',
               'mean over updated matrices; no interval'),
    MetricSpec('geom_rotation_excess', '', 'geometry',
               'measured / rank-matched random (> 1: more than chance for an update of that shape)',
               'mean over updated matrices; no interval'),
    MetricSpec('geom_anisotropy_excess', '', 'geometry',
               'measured / rank-matched random (> 1: more than chance for an update of that shape)',
               'mean over updated matrices; no interval'),
    MetricSpec('geom_relative_norm', '', 'geometry',
               '‖ΔW‖_F / ‖W‖_F, mean over updated matrices',
               'mean over updated matrices; no interval'),
    MetricSpec('update_s', '↓', 'cost',
               'wall time of the update / of scoring every probe (s)',
               'one value per case'),
    MetricSpec('score_s', '↓', 'cost',
               'wall time of the update / of scoring every probe (s)',
               'one value per case'),
    MetricSpec('params_touched', '↓', 'cost',
               'elements in the tensors the method declared / as a fraction of the model',
               'one value per case'),
    MetricSpec('params_touched_frac', '↓', 'cost',
               'elements in the tensors the method declared / as a fraction of the model',
               'one value per case'),
    MetricSpec('peak_mem_mb', '↓', 'cost',
               'peak memory of the case, reset right before the update (CPU: peak resident set of the process incl. the model; CUDA: peak allocated), MiB',
               'one value per case'),
    MetricSpec('oracle_agree', '↑', 'oracle',
               'probes where the updated model and the oracle (pretrained on the updated world) choose the same option',
               'over the probes scored against the oracle model'),
    MetricSpec('oracle_agree_q_plus', '↑', 'oracle',
               'probes where the updated model and the oracle (pretrained on the updated world) choose the same option',
               'over the probes scored against the oracle model'),
    MetricSpec('oracle_agree_q_minus', '↑', 'oracle',
               'probes where the updated model and the oracle (pretrained on the updated world) choose the same option',
               'over the probes scored against the oracle model'),
    MetricSpec('oracle_kl_q_plus', '↓', 'oracle',
               'mean KL(oracle ‖ model) of the 4-option distributions',
               'over the probes scored against the oracle model'),
    MetricSpec('oracle_kl_q_minus', '↓', 'oracle',
               'mean KL(oracle ‖ model) of the 4-option distributions',
               'over the probes scored against the oracle model'),
    MetricSpec('forget_quality', '↑', 'oracle',
               'TOFU forget quality: KS-test p-value, truth ratios of unlearned model vs oracle (unlearning Q+)',
               'over the probes scored against the oracle model'),
    MetricSpec('seq_earliest_<m>_first', 'same as m', 'sequential',
               "sequential mode: metric m on the first batch's probes right after it / after the last batch",
               'per case, from the first batch and the last'),
    MetricSpec('seq_earliest_<m>_end', 'same as m', 'sequential',
               "sequential mode: metric m on the first batch's probes right after it / after the last batch",
               'per case, from the first batch and the last'),
    MetricSpec('seq_earliest_retained', '↑', 'sequential',
               'sequential mode: direct_acc of the first batch at the end minus right after it',
               'per case, from the first batch and the last'),
)


class UnknownMetric(KeyError):
    """A metric name with no declaration in `METRICS`."""


@lru_cache(maxsize=4096)
def declaration(name: str) -> MetricSpec:
    """The declaration of a metric name (placeholders resolved; the first match wins)."""
    for spec in METRICS:
        if spec.pattern.match(name):
            return spec
    raise UnknownMetric(f"{name!r} is not declared in ksmith.metrics.names.METRICS; declare it there")


def higher_is_better(name: str) -> bool | None:
    """The metric's direction: True (↑), False (↓) or None (no direction), from its declaration; a
    protocol variant (`<name>@<protocol>`) and a sequential copy take their base metric's."""
    spec = declaration(name)
    if spec.better in ("same", "same as m"):
        base = name.split("@")[0] if "@" in name else re.sub(r"^seq_earliest_(.+)_(first|end)$", r"\1", name)
        return higher_is_better(base)
    return {"↑": True, "↓": False}.get(spec.better)
