"""One grid cell: apply the method to the request, score every probe under every protocol, compute
the metrics, record the `CaseResult`, then hold the method to its contract.

Parametrised over the grid by the ksmith plugin (`ksmith_case`); select with `-k`, e.g.
`pytest bench -k "rome and leaf"`.
"""

from ksmith.methods import UpdateRequest
from ksmith.metrics import compute
from ksmith.scoring import Scorer

from fixtures.contract import assert_contract


def test_update(record_case, ksmith_case, ksmith_harness, model, method, dataset, pre_scores):
    request = UpdateRequest(dataset.task, dataset.interventions, dataset.retain, dataset.scale, ksmith_case.seed)
    with record_case.timer("update_s"):
        result = method.apply(model.lm, model.tokenizer, request)
    with record_case.timer("score_s"):
        scorer = Scorer(model.loaded, batch_size=ksmith_harness.batch_size)
        post = scorer.score(dataset.probes, ksmith_harness.protocols, prefixes=result.prompt_prefix)
    record_case.record(compute(dataset, pre_scores, post, held_out=model.held_out), n_probes=len(dataset.probes))
    assert_contract(model.lm, model.snapshot, result, len(request.interventions))
