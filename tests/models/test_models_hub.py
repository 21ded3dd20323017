import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from ksmith.errors import ModelError
from ksmith.models import load_model
from ksmith.models.hub import SMOLLM2_INSTALL, smollm2_available
from ksmith.scoring import Scorer

TEXT = ["The habitat of Kalomi is Zetapo.", "Rumizi lives in Dretani.", "Q: What colour is Vonishi? A: Galpo"]


def _tokenizer():
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.train_from_iterator(TEXT * 5, trainers.BpeTrainer(vocab_size=120, special_tokens=["<unk>", "<s>", "</s>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def _save(lm, path):
    lm.save_pretrained(path)
    _tokenizer().save_pretrained(path)
    return path


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_hf_checkpoint_loads_and_scores(family, tmp_path):
    torch.manual_seed(0)
    if family == "gpt2":
        lm = GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=2, vocab_size=128, n_positions=64))
    else:
        lm = LlamaForCausalLM(
            LlamaConfig(
                hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, vocab_size=128, max_position_embeddings=64,
            )
        )
    path = _save(lm, tmp_path / family)
    model = load_model(f"hf:{path}", device="cpu")
    assert model.arch.model_type == family and model.arch.num_layers == 2
    assert model.arch.conv1d == (family == "gpt2")
    results = Scorer(model).loglikelihood([("The habitat of Kalomi is", " Zetapo"), ("Rumizi lives in", " Dretani")])
    assert all(r.logprob < 0 and r.n_tokens >= 1 for r in results)
    assert len(Scorer(model).greedy([("Rumizi lives in", 2)])) == 1
    bf16 = load_model(f"hf:{path}", device="cpu", dtype="bfloat16")
    assert next(bf16.lm.parameters()).dtype == torch.bfloat16 and bf16.weights_hash != model.weights_hash


def test_path_that_is_not_a_checkpoint(tmp_path):
    with pytest.raises(ModelError, match="not a model checkpoint"):
        load_model(f"hf:{tmp_path}")
    with pytest.raises(ModelError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nowhere'}")
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelError, match="no weights"):
        load_model(f"hf:{tmp_path}")


def test_unknown_spec():
    with pytest.raises(ModelError, match="unknown model spec"):
        load_model("gpt-7")
    with pytest.raises(ModelError, match="needs a path"):
        load_model("hf:")


@pytest.mark.slow
@pytest.mark.skipif(not smollm2_available(), reason=f"smollm2-135m absent: {SMOLLM2_INSTALL}")
def test_smollm2_loads_and_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("KSMITH_CACHE", str(tmp_path))
    model = load_model("smollm2-135m", device="cpu")
    assert model.arch.model_type == "llama" and not model.arch.conv1d
    assert getattr(model.lm.config, "quantization_config", None) is None
    good, bad = Scorer(model).loglikelihood([("The capital of France is", " Paris"), ("The capital of France is", " banana")])
    assert good.logprob > bad.logprob
    again = load_model("smollm2-135m", device="cpu")  # from the converted safetensors cache
    assert again.weights_hash == model.weights_hash
