"""One grid cell: apply the method to the request, score every probe under every protocol, compute
the metrics, record the `CaseResult`, then hold the method to its contract.

Every parametric cell also records drift on untouched facts (`drift_kl`, `drift_cka`, per layer from
the edited one up), weight geometry against the rank-matched null (`geom_*`) and the update's cost
(`peak_mem_mb` reset before the update, `params_touched`); their own cost is the `drift_s` timing
(two forward passes over at most 128 short prompts) and the `geometry_s` timing.

Parametrised over the grid by the ksmith plugin (`ksmith_case`); select with `-k`, e.g.
`pytest bench -k "rome and leaf"`. Under `--ksmith-mode sequential` the k interventions arrive in
batches applied one after another to the same model (metrics after the last batch, plus how much of
the earliest batch survived).

An unlearning cell is then attacked (`--ksmith-attacks`, `ksmith.fixtures.attacks`): the unedited
model first, as the control, before the update; the updated model after its metrics. Each attack
runs on the weights as they stood and is undone and verified before the next.
"""

from ksmith.metrics import compute
from ksmith.metrics.sequential import sequential_updates
from ksmith.scoring import Scorer

from ksmith.fixtures.attacks import AttackRunner
from ksmith.fixtures.contract import assert_contract
from ksmith.fixtures.measure import UpdateMeter


def test_update(record_case, ksmith_case, ksmith_harness, world, model, method, dataset, pre_scores, ksmith_progress):
    request = dataset.request()
    scorer = Scorer(model.loaded, batch_size=ksmith_harness.batch_size)
    meter = UpdateMeter(model, world, dataset, ksmith_harness.batch_size)

    last = {}  # the latest post-update scores and prefixes (sequential mode: after the last batch)

    def score(probes, prefixes):
        last.update(post=scorer.score(probes, ksmith_harness.protocols, prefixes=prefixes), prefixes=prefixes)
        return last["post"]

    # Key statistics (ROME/MEMIT/AlphaEdit) are computed once per model and cached: timed apart,
    # so update_s is the update itself in every cell, the first included.
    record_case.timings.update(method.prepare(model.lm, model.tokenizer))
    names = ksmith_harness.attacks if ksmith_case.task == "unlearn" else ()
    attacks = AttackRunner(names, model, world, dataset, scorer, seed=ksmith_case.seed)
    if names:
        with ksmith_progress.phase("attacks on the unedited model"):
            control = attacks.control()
    meter.before()  # drift prompts' activations, then the case's peak-memory window opens
    if ksmith_harness.spec.mode == "batch":
        with record_case.timer("update_s"), ksmith_progress.phase("update"):
            results = [method.apply(model.lm, model.tokenizer, request)]
        with record_case.timer("score_s"), ksmith_progress.phase("scoring"):
            post = score(dataset.probes, results[0].prompt_prefix)
        with ksmith_progress.phase("metrics"):
            metrics = compute(dataset, pre_scores, post, held_out=model.held_out)
    else:
        results = []

        def apply(batch):
            results.append(method.apply(model.lm, model.tokenizer, batch))
            return results[-1]

        with ksmith_progress.phase("sequential updates"):
            run = sequential_updates(
                dataset, pre_scores, request, batch_size=ksmith_harness.sequential_batch_for(ksmith_case.scale),
                apply=apply, score=score, held_out=model.held_out,
            )
        record_case.timings.update(
            update_s=sum(step.update_s for step in run.steps), score_s=sum(step.score_s for step in run.steps)
        )
        metrics = run.metrics()
    with ksmith_progress.phase("drift and geometry"):
        metrics.update(meter.metrics(results, scale=ksmith_case.scale))
    metrics.pop("update_s", None)  # update_s and score_s are timings here
    record_case.timings["drift_s"] = meter.drift_s
    record_case.timings["geometry_s"] = meter.geometry_s
    record_case.provenance["peak_mem_scope"] = "case" if meter.peak_reset else "process"
    if names:
        from ksmith.metrics.attacks import attack_metrics

        with ksmith_progress.phase("attacks"):
            attacked = attacks.attacked(last["prefixes"])
            metrics.update(attack_metrics(dataset, pre_scores, last["post"], attacked, control, held_out=model.held_out))
        record_case.timings.update(attacks.timings)
        record_case.provenance["attack_data"] = attacks.data
    record_case.record(metrics, n_probes=len(dataset.probes))
    with ksmith_progress.phase("samples"):
        record_case.log_samples(dataset, pre_scores, last["post"], held_out=model.held_out, prefixes=last["prefixes"],
                                attacked=attacked if names else None)
    assert_contract(model.lm, model.snapshot, results, len(request.interventions))

