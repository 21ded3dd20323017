"""One grid cell: apply the method to the request, score every probe under every protocol, compute
the metrics, record the `CaseResult`, then hold the method to its contract.

Parametrised over the grid by the ksmith plugin (`ksmith_case`); select with `-k`, e.g.
`pytest bench -k "rome and leaf"`. Under `--ksmith-mode sequential` the k interventions arrive in
batches applied one after another to the same model (metrics after the last batch, plus how much of
the earliest batch survived).
"""

from ksmith.metrics import compute
from ksmith.metrics.efficiency import efficiency
from ksmith.metrics.sequential import sequential_updates
from ksmith.scoring import Scorer

from fixtures.contract import assert_contract


def test_update(record_case, ksmith_case, ksmith_harness, model, method, dataset, pre_scores):
    request = dataset.request()
    scorer = Scorer(model.loaded, batch_size=ksmith_harness.batch_size)

    def score(probes, prefixes):
        return scorer.score(probes, ksmith_harness.protocols, prefixes=prefixes)

    # Key statistics (ROME/MEMIT/AlphaEdit) are computed once per model and cached: timed apart,
    # so update_s is the update itself in every cell, the first included.
    record_case.timings.update(method.prepare(model.lm, model.tokenizer))
    reset_peak_accelerator(model.loaded.device)
    if ksmith_harness.spec.mode == "batch":
        with record_case.timer("update_s"):
            results = [method.apply(model.lm, model.tokenizer, request)]
        with record_case.timer("score_s"):
            post = score(dataset.probes, results[0].prompt_prefix)
        metrics = compute(dataset, pre_scores, post, held_out=model.held_out)
    else:
        results = []

        def apply(batch):
            results.append(method.apply(model.lm, model.tokenizer, batch))
            return results[-1]

        run = sequential_updates(
            dataset, pre_scores, request, batch_size=ksmith_harness.sequential_batch_for(ksmith_case.scale),
            apply=apply, score=score, held_out=model.held_out,
        )
        record_case.timings.update(
            update_s=sum(step.update_s for step in run.steps), score_s=sum(step.score_s for step in run.steps)
        )
        metrics = run.metrics()
    peak = peak_accelerator_mb(model.loaded.device)
    if peak is not None:
        metrics.update(efficiency(results[-1], peak_mb=peak))  # update_s is already a timing
        metrics.pop("update_s", None)
    record_case.record(metrics, n_probes=len(dataset.probes))
    assert_contract(model.lm, model.snapshot, results, len(request.interventions))


def reset_peak_accelerator(device: str) -> None:
    """Start the case's accelerator high-water mark (the update and the scoring, not the load)."""
    import torch

    if str(device).startswith("cuda"):
        torch.cuda.reset_peak_memory_stats(device)


def peak_accelerator_mb(device: str) -> float | None:
    """Peak accelerator memory allocated since `reset_peak_accelerator`, MiB (None on the CPU)."""
    import torch

    if not str(device).startswith("cuda"):
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20
