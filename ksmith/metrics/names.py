"""Every metric name ksmith records, what it means and which way is better (the README's table).

Names under the `mcq` protocol are bare; the same metric under another protocol is
`<name>@<protocol>`. Placeholders in angle brackets stand for a family of names.
"""

from __future__ import annotations

#: name -> (meaning, direction: "↑" higher is better, "↓" lower is better, "0 ideal", "" descriptive).
#: Every per-probe metric also records `n` (items), `n_units` (interventions) and, where precondition
#: filtering applies, `executed`; its interval resamples interventions (`ksmith.metrics.bootstrap`).
METRIC_DOCS: dict[str, tuple[str, str]] = {
    "direct_acc": ("held-in direct probes answered as the updated world says", "↑"),
    "paraphrase_acc": (
        "direct probes in the held-out paraphrase (generalisation)",
        "↑",
    ),
    "reverse_acc": ("reverse probes (the fact asked from the object's side)", "↑"),
    "multi_hop_acc": (
        "multi-hop probes (descendants' inherited facts, 2-hop compositions)",
        "↑",
    ),
    "multi_hop_acc_hop<h>": ("multi-hop accuracy at hop distance h", "↑"),
    "comparison_acc": (
        "comparison probes (which of two entities has the property now)",
        "↑",
    ),
    "conflict_acc": ("probes with a contradicting statement in the context", "↑"),
    "contextual_acc": (
        "unrelated facts (siblings, other subjects, other domains) kept",
        "↑",
    ),
    "contextual_acc_in_domain": ("contextual probes in the target's domain", "↑"),
    "contextual_acc_out_domain": ("contextual probes in other domains", "↑"),
    "q_plus_acc": ("all Q+ probes (should change)", "↑"),
    "q_minus_acc": ("all Q- probes (must not change)", "↑"),
    "held_in_acc": ("all probes in paraphrases seen in training", "↑"),
    "held_out_acc": ("all probes in held-out paraphrases", "↑"),
    "<base>_<domain>": (
        "direct_acc / q_plus_acc / q_minus_acc over interventions of one domain",
        "↑",
    ),
    "q_plus_acc_<level>": (
        "Q+ accuracy per target level (only when a dataset mixes levels)",
        "↑",
    ),
    "ccr": (
        "collateral change ratio: Q- probes the unedited model answered right whose answer changed "
        "(guesses left out: they flip freely); chance baseline: a model re-guessing every answer scores 0.75",
        "↓",
    ),
    "rr": (
        "residual retention: executed Q+ probes still choosing the old object; chance baseline 1/options "
        "= 0.25 (a model that knows nothing); near 0 means the model still knows what to avoid",
        "↓",
    ),
    "rr_gap": (
        "rr - chance (per probe 1[old chosen] - 1/options): 0 = indistinguishable from guessing (ideal "
        "for unlearning), > 0 the fact remains, < 0 avoidance (the model still knows the fact)",
        "0 ideal",
    ),
    "kl_uniform": (
        "unlearning Q+ probes: KL(p ‖ uniform) of the model's distribution over the 4 options (softmax of "
        "option scores), nats; chance baseline 0 (no preference left), at most log 4 = 1.386",
        "↓",
    ),
    "no_answer@gen_match": (
        "executed probes whose generation named no option: counted apart, never as forgotten or right",
        "↓",
    ),
    "conflict_rate": (
        "(direct, reverse) pairs, one per (intervention, paraphrase), whose answers contradict each other",
        "↓",
    ),
    "consistency": (
        "the same pairs whose answers agree with the same world",
        "↑",
    ),
    "propagation": (
        "per intervention, multi-hop Q+ answers that changed (expected: all)",
        "↑",
    ),
    "over_spread": (
        "per intervention, known contextual (non-descendant) answers that changed",
        "↓",
    ),
    "cf_efficacy": ("CounterFact (ROME's rule): cases whose rewrite prompt prefers the new object to the true one", "↑"),
    "cf_generalization": ("CounterFact: per case, paraphrase prompts preferring the new object, mean over cases", "↑"),
    "cf_specificity": ("CounterFact: per case, neighbourhood prompts still preferring the true object", "↑"),
    "cf_score": ("CounterFact: harmonic mean of efficacy, generalisation and specificity", "↑"),
    "mquake_multi_hop_acc": ("MQuAKE's rule: cases where any of the three questions gives the new answer", "↑"),
    "ripple_<family>_acc": ("RippleEdits' rule: executed tests of one family that pass (OR / AND over its queries)", "↑"),
    "<name>@mcq_norm": ("the same metric with length-normalised option scores", "same"),
    "<name>@gen_match": (
        "the same metric from greedy generation matched to an option",
        "same",
    ),
    "<type>_acc@token_acc": (
        "mean teacher-forced token accuracy of the right answer (unlearning Q+: 1 - that of the old object)",
        "↑",
    ),
    "<type>_acc@prob_compare": (
        "probes whose right answer wins by log-probability (edits: log p(new) > log p(old); unlearning Q+: the old object no longer wins)",
        "↑",
    ),
    "drift_kl": (
        "mean KL(before ‖ after) of next-token distributions on up to 128 untouched facts (no intervention's "
        "fact, descendants, reverse or chain facts), nats; 0 for an unchanged model",
        "↓",
    ),
    "drift_kl_per_fact": ("drift_kl / k", "↓"),
    "drift_cka": (
        "1 - linear CKA of last-token hidden states before vs after on the same prompts, mean over the "
        "layers from the first edited one up; 0 for an unchanged model",
        "↓",
    ),
    "drift_cka_l<i>": ("the same at hidden layer i (0 = embeddings), for i from the first edited layer up", "↓"),
    "geom_rotation": (
        "mean principal angle (degrees) between top-8 singular subspaces of each updated matrix before/after",
        "",
    ),
    "geom_anisotropy": (
        "std of log(σ'_i/σ_i) over the top-8 singular values (0 = uniform rescale)",
        "",
    ),
    "geom_rotation_random / geom_anisotropy_random": (
        "the same for a random update of the same rank and singular values (random singular vectors): the chance baseline",
        "",
    ),
    "geom_rotation_excess / geom_anisotropy_excess": (
        "measured / rank-matched random (> 1: more than chance for an update of that shape)",
        "",
    ),
    "geom_relative_norm": ("‖ΔW‖_F / ‖W‖_F, mean over updated matrices", ""),
    "update_s / score_s": ("wall time of the update / of scoring every probe (s)", "↓"),
    "params_touched / params_touched_frac": (
        "elements in the tensors the method declared / as a fraction of the model",
        "↓",
    ),
    "peak_mem_mb": (
        "peak memory of the case, reset right before the update (CPU: peak resident set of the process "
        "incl. the model; CUDA: peak allocated), MiB",
        "↓",
    ),
    "oracle_agree / oracle_agree_q_plus / oracle_agree_q_minus": (
        "probes where the updated model and the oracle (pretrained on the updated world) choose the same option",
        "↑",
    ),
    "oracle_kl_q_plus / oracle_kl_q_minus": (
        "mean KL(oracle ‖ model) of the 4-option distributions",
        "↓",
    ),
    "forget_quality": (
        "TOFU forget quality: KS-test p-value, truth ratios of unlearned model vs oracle (unlearning Q+)",
        "↑",
    ),
    "seq_earliest_<m>_first / _end": (
        "sequential mode: metric m on the first batch's probes right after it / after the last batch",
        "same as m",
    ),
    "seq_earliest_retained": (
        "sequential mode: direct_acc of the first batch at the end minus right after it",
        "↑",
    ),
}


def markdown_table() -> str:
    """The table of every metric (for the README)."""
    lines = ["| metric | meaning | better |", "|---|---|---|"]
    for name, (meaning, direction) in METRIC_DOCS.items():
        lines.append(f"| `{name}` | {meaning} | {direction} |")
    return "\n".join(lines) + "\n"
