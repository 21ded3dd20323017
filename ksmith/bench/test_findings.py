"""The grid behind the findings report: every cell measures what `ksmith findings` tests.

Each cell records what `test_update` records (metrics, drift on untouched facts, weight geometry
against the rank-matched null, efficiency) and, for unlearning at small k, the distance to an oracle
model pretrained on the updated world (with TOFU forget quality). Runs only when selected, as the README says (the committed report's grid):

    pytest bench -m findings -n 2 --ksmith-grid findings --ksmith-report-dir reports/findings \
        --ksmith-methods rome,memit,alphaedit,ft-m,lora,grad-ascent,grad-diff,npo,simnpo,rmu,relearn

The `findings` preset (`ksmith/grid.py`) uses intervention seeds the method defaults were not tuned on.
    ksmith findings reports/findings/latest

Without `-m findings` these cells are deselected (`bench/conftest.py`), so `make bench` runs each
cell once, in test_update.
"""

from __future__ import annotations

import os

import pytest

from ksmith.fixtures.contract import assert_contract

pytestmark = pytest.mark.findings

#: Oracle models are pretrained for unlearning cells up to this k (one pretraining per dataset,
#: shared by every method through the model cache; env KSMITH_FINDINGS_ORACLE_MAX_K); 0: none.
ORACLE_MAX_SCALE = int(os.environ.get("KSMITH_FINDINGS_ORACLE_MAX_K", "1"))


def _oracle_config(spec: str):
    """The tiny-kg config of a model spec (the oracle must be trained the same way), else None."""
    from ksmith.models.tiny import TinyConfig

    return {"tiny-kg": TinyConfig(), "tiny-kg-small": TinyConfig.small()}.get(spec)


def test_findings_cell(request: pytest.FixtureRequest, ksmith_case) -> None:
    from ksmith.metrics import compute
    from ksmith.scoring import Scorer

    from ksmith.fixtures.measure import UpdateMeter

    record_case = request.getfixturevalue("record_case")
    harness = request.getfixturevalue("ksmith_harness")
    world = request.getfixturevalue("world")
    dataset = request.getfixturevalue("dataset")
    model = request.getfixturevalue("model")
    method = request.getfixturevalue("method")
    pre = request.getfixturevalue("pre_scores")
    progress = request.getfixturevalue("ksmith_progress")

    meter = UpdateMeter(model, world, dataset, harness.batch_size)
    meter.before()
    request_ = dataset.request()
    with record_case.timer("update_s"), progress.phase("update"):
        result = method.apply(model.lm, model.tokenizer, request_)
    scorer = Scorer(model.loaded, batch_size=harness.batch_size)
    with record_case.timer("score_s"), progress.phase("scoring"):
        post = scorer.score(
            dataset.probes, harness.protocols, prefixes=result.prompt_prefix
        )

    metrics = compute(dataset, pre, post, held_out=model.held_out)
    with progress.phase("drift and geometry"):
        metrics.update(meter.metrics([result], scale=ksmith_case.scale, score_s=record_case.timings.get("score_s")))
    record_case.timings["drift_s"] = meter.drift_s
    record_case.timings["geometry_s"] = meter.geometry_s
    record_case.provenance["peak_mem_scope"] = "case" if meter.peak_reset else "process"

    config = _oracle_config(ksmith_case.model)
    if (
        dataset.task == "unlearn"
        and config is not None
        and ksmith_case.scale <= ORACLE_MAX_SCALE
    ):
        from ksmith.metrics.oracle import oracle_metrics
        from ksmith.models.oracle import oracle_model

        oracle = oracle_model(
            world, dataset.interventions, config, device=str(model.loaded.device)
        )
        oracle_scores = Scorer(oracle, batch_size=harness.batch_size).score(
            dataset.probes, ("mcq", "mcq_norm")
        )
        metrics.update(oracle_metrics(dataset, post, oracle_scores))

    record_case.record(metrics, n_probes=len(dataset.probes))
    with progress.phase("samples"):
        record_case.log_samples(dataset, pre, post, held_out=model.held_out, prefixes=result.prompt_prefix)
    assert_contract(model.lm, model.snapshot, result, len(request_.interventions))
