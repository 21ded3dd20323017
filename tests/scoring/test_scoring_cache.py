import copy

import pytest
import torch

from ksmith import scoring
from ksmith.scoring import pre_scores

from .conftest import ProbeSet, make_probes


@pytest.fixture
def dataset(small_world):
    return ProbeSet(tuple(make_probes(small_world, 10)))


def test_pre_scores_are_cached(small_model, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    first = pre_scores(small_model, dataset, ["mcq", "prob_compare"])
    monkeypatch.setattr(scoring.Scorer, "score", lambda *a, **k: pytest.fail("recomputed a cached entry"))
    assert pre_scores(small_model, dataset, ["prob_compare", "mcq"]) == first
    assert len(list((tmp_path / "scores").glob("*.json"))) == 1


def test_two_different_models_never_share_cached_scores(small_model, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    other = copy.copy(small_model)
    other.lm = copy.deepcopy(small_model.lm)
    with torch.no_grad():
        other.lm.get_parameter("transformer.h.0.mlp.c_proj.weight").mul_(3.0)
    # Same name, same spec, same (stale) weights_hash field: only the weights differ.
    assert other.spec == small_model.spec and other.weights_hash == small_model.weights_hash
    mine = pre_scores(small_model, dataset, ["mcq"])
    theirs = pre_scores(other, dataset, ["mcq"])
    assert len(list((tmp_path / "scores").glob("*.json"))) == 2
    assert mine.get("p0", "mcq").option_scores != theirs.get("p0", "mcq").option_scores


def test_other_dataset_or_protocols_get_their_own_entry(small_model, small_world, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    pre_scores(small_model, dataset, ["mcq"])
    pre_scores(small_model, dataset, ["mcq", "token_acc"])
    pre_scores(small_model, ProbeSet(tuple(make_probes(small_world, 10, seed=5))), ["mcq"])
    assert len(list((tmp_path / "scores").glob("*.json"))) == 3


def test_corrupt_entry_is_recomputed(small_model, dataset, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    first = pre_scores(small_model, dataset, ["mcq"])
    (entry,) = (tmp_path / "scores").glob("*.json")
    entry.write_text("{not json")
    assert pre_scores(small_model, dataset, ["mcq"]) == first


def test_pre_scores_of_a_generated_dataset(small_model, small_world, tmp_path, monkeypatch):
    from ksmith.probes import build_dataset

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    dataset = build_dataset(small_world, task="edit", level="leaf", scale=2, seed=0)
    scores = pre_scores(small_model, dataset)
    assert len(scores) == len(dataset.probes) * len(scoring.PROTOCOLS)
    direct = [p for p in dataset.probes if p.probe_type == "direct" and not p.held_out]
    right = sum(scores.get(p.id, "mcq").choice == p.answer_before for p in direct)
    assert right / len(direct) >= 0.75  # the model knows the facts it is about to have edited


def test_concurrent_callers_score_once(small_model, dataset, tmp_path, monkeypatch):
    """xdist workers asking for the same pre-scores at once: one scores, the others read its entry."""
    import threading
    import time

    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    calls = []
    real_score = scoring.Scorer.score

    def slow_score(self, *args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # long enough that the other caller arrives while this one holds the lock
        return real_score(self, *args, **kwargs)

    monkeypatch.setattr(scoring.Scorer, "score", slow_score)
    results = [None, None]

    def call(k):
        results[k] = pre_scores(small_model, dataset, ["mcq"])

    threads = [threading.Thread(target=call, args=(k,)) for k in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and results[0] == results[1] and results[0] is not None
