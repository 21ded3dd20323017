import json

import pytest
from transformers import AutoModelForCausalLM

from ksmith.models import tiny
from ksmith.models.tiny import TinyConfig, build_tokenizer, fact_pairs, pretrain, read_meta
from ksmith.scoring import Scorer


def _quick(**changes) -> TinyConfig:
    return TinyConfig(**{**TinyConfig.small().as_dict(), "max_steps": 20, "eval_every": 10, **changes})


def test_small_model_learns_the_world(small_model, small_world):
    pairs = fact_pairs(small_world, held_out=False)
    results = Scorer(small_model, batch_size=64).loglikelihood(pairs)
    accuracy = sum(r.greedy for r in results) / len(results)
    assert accuracy >= TinyConfig.small().target_accuracy
    assert small_model.held_out == {name: rel.templates.held_out for name, rel in small_world.relations.items()}
    assert small_model.world_hash == small_world.hash
    assert small_model.arch.model_type == "gpt2"


def test_every_word_of_the_world_is_one_known_token(small_world):
    tokenizer = build_tokenizer(small_world)
    for name in small_world.entities:
        ids = tokenizer(" " + name, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tokenizer.unk_token_id, name
    subject = next(iter(small_world.entities))
    for relation in small_world.relations.values():
        for template in (*relation.templates.cloze, *relation.templates.questions):  # held-out ones too
            assert tokenizer.unk_token_id not in tokenizer(template.replace("{s}", subject))["input_ids"]
    assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id
    assert tokenizer("Zzzqx")["input_ids"][1] == tokenizer.unk_token_id


def test_second_request_comes_from_the_cache(hand_world, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    first = pretrain(hand_world, _quick(), device="cpu")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cached model")

    monkeypatch.setattr(tiny, "_train", no_training)
    second = pretrain(hand_world, _quick(), device="cpu")
    assert second.weights_hash == first.weights_hash
    with pytest.raises(AssertionError, match="trained again"):
        pretrain(hand_world, _quick(seed=1), device="cpu")  # a different key is a different model


def test_training_is_deterministic(hand_world, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "a"))
    a = pretrain(hand_world, _quick(), device="cpu")
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "b"))
    b = pretrain(hand_world, _quick(), device="cpu")
    assert a.weights_hash == b.weights_hash


def test_the_vocabulary_does_not_depend_on_where_ksmith_is_installed(hand_world, monkeypatch):
    import ksmith.world.templates as forms

    here = build_tokenizer(hand_world).get_vocab()
    monkeypatch.setattr(forms, "__file__", "/elsewhere/checkout/ksmith/world/templates.py")
    assert build_tokenizer(hand_world).get_vocab() == here
    assert "elsewhere" not in here and "templates" not in here


def test_the_model_does_not_depend_on_the_callers_thread_count(small_world, tmp_path, monkeypatch):
    """Whichever process trains first fills the cache, at whatever thread count it was given: the
    model must be the same (tiny-kg-small's width, where two threads split the matrix products)."""
    import torch

    before = torch.get_num_threads()
    hashes = []
    try:
        for threads in (2, 1):
            torch.set_num_threads(threads)
            monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / str(threads)))
            hashes.append(pretrain(small_world, _quick(max_steps=30), device="cpu").weights_hash)
            assert torch.get_num_threads() == threads  # the caller's count is given back
    finally:
        torch.set_num_threads(before)
    assert hashes[0] == hashes[1]


def test_checkpoint_is_an_ordinary_hf_checkpoint(hand_world, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    pretrain(hand_world, _quick(max_steps=10), device="cpu", out=tmp_path / "out")
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert lm.config.model_type == "gpt2"
    meta = read_meta(tmp_path / "out")
    assert meta["world_hash"] == hand_world.hash and meta["steps"] == 10
    assert json.loads(json.dumps(meta)) == meta
