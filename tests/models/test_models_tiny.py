import json

import pytest
from transformers import AutoModelForCausalLM

from ksmith.models import tiny
from ksmith.models.tiny import TinyConfig, build_tokenizer, fact_pairs, pretrain, read_meta
from ksmith.scoring import Scorer


def test_small_model_learns_the_world(small_model, small_world):
    pairs = fact_pairs(small_world, held_out=False)
    results = Scorer(small_model, batch_size=64).loglikelihood(pairs)
    accuracy = sum(r.greedy for r in results) / len(results)
    assert accuracy >= TinyConfig.small().target_accuracy
    assert small_model.held_out == {"habitat": 2, "colour": 2}
    assert small_model.world_hash == small_world.hash
    assert small_model.arch.model_type == "gpt2"


def test_every_entity_name_is_one_token(small_world):
    tokenizer = build_tokenizer(small_world)
    for name in small_world.entities:
        ids = tokenizer(" " + name, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] != tokenizer.unk_token_id, name
    # held-out templates were never in the corpus, but their words are known
    held = small_world.relations["habitat"].templates.cloze[2].format(s=small_world.entities[0])
    assert tokenizer.unk_token_id not in tokenizer(held)["input_ids"]
    assert tokenizer("x")["input_ids"][0] == tokenizer.bos_token_id


def test_second_request_comes_from_the_cache(small_world, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    config = TinyConfig.small().__class__(**{**TinyConfig.small().as_dict(), "max_steps": 20, "eval_every": 10})
    first = pretrain(small_world, config, device="cpu")

    def no_training(*args, **kwargs):
        raise AssertionError("trained again instead of loading the cached model")

    monkeypatch.setattr(tiny, "_train", no_training)
    second = pretrain(small_world, config, device="cpu")
    assert second.weights_hash == first.weights_hash
    other_seed = TinyConfig(**{**config.as_dict(), "seed": 1})
    with pytest.raises(AssertionError, match="trained again"):
        pretrain(small_world, other_seed, device="cpu")  # a different key is a different model


def test_checkpoint_is_an_ordinary_hf_checkpoint(small_world, tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path / "cache"))
    config = TinyConfig(**{**TinyConfig.small().as_dict(), "max_steps": 10, "eval_every": 10})
    pretrain(small_world, config, device="cpu", out=tmp_path / "out")
    lm = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert lm.config.model_type == "gpt2"
    meta = read_meta(tmp_path / "out")
    assert meta["world_hash"] == small_world.hash and meta["steps"] == 10
    assert json.loads(json.dumps(meta)) == meta
