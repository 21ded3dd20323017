"""Packed rows (one context, several continuations behind a custom mask) against one plain row per
request, on small random GPT-2 (learned positions, Conv1D) and Llama (rotary, GQA) models: cheap, and
independent of any pretrained weights, so it checks the mask and position ids and nothing else."""

from __future__ import annotations

import random

import pytest
import torch

from ksmith.models.loaded import LoadedModel
from ksmith.scoring import Scorer, ScoringError

WORDS = [f"w{i}" for i in range(60)]


def word_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"[BOS]": 0, "[EOS]": 1, "[UNK]": 2, **{w: i + 3 for i, w in enumerate(WORDS)}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(single="[BOS] $A", special_tokens=[("[BOS]", 0)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="[BOS]", eos_token="[EOS]", unk_token="[UNK]")


def random_model(kind: str, n_positions: int = 64) -> LoadedModel:
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    from ksmith.models.arch import describe

    torch.manual_seed(0)
    vocab = len(WORDS) + 3
    if kind == "gpt2":
        lm = GPT2LMHeadModel(GPT2Config(vocab_size=vocab, n_positions=n_positions, n_embd=32, n_layer=2, n_head=2))
    else:
        lm = LlamaForCausalLM(
            LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=n_positions)
        )
    lm.eval()
    return LoadedModel("random", lm, word_tokenizer(), describe(lm), weights_hash="", device="cpu")


def requests(n_contexts: int = 12, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n_contexts):
        context = " ".join(rng.choices(WORDS, k=rng.randint(1, 9)))
        for _ in range(4):  # options of 1 to 4 tokens, sometimes repeated
            out.append((context, " " + " ".join(rng.choices(WORDS[:8], k=rng.randint(1, 4)))))
    out.append(("", " w1 w2"))
    return out


def one_at_a_time(model: LoadedModel, pairs) -> list[float]:
    """Plain rows, one request per forward pass, full-vocabulary log-softmax."""
    from ksmith.tokens import encode_pair

    out = []
    for context, continuation in pairs:
        ctx, cont = encode_pair(model.tokenizer, context, continuation)
        with torch.no_grad():
            logits = model.lm(input_ids=torch.tensor([(ctx + cont)[:-1]])).logits[0].double()
        logp = torch.log_softmax(logits, -1)[-len(cont) :]
        out.append(float(logp.gather(-1, torch.tensor(cont)[:, None]).sum()))
    return out


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_packed_rows_equal_plain_rows(kind):
    model = random_model(kind)
    pairs = requests()
    reference = one_at_a_time(model, pairs)
    for batch_size, budget in (("auto", None), (1, None), (5, None), ("auto", 40)):
        scorer = Scorer(model, batch_size=batch_size, token_budget=budget)
        got = [r.logprob for r in scorer.loglikelihood(pairs)]
        assert got == pytest.approx(reference, abs=1e-4), (batch_size, budget)


def test_long_contexts_are_cut_on_the_left_like_lm_eval():
    model = random_model("gpt2", n_positions=16)
    rng = random.Random(3)
    pairs = [(" ".join(rng.choices(WORDS, k=30)), " w1 w2 w3"), (" ".join(rng.choices(WORDS, k=30)), " w4")]
    got = [r.logprob for r in Scorer(model).loglikelihood(pairs)]
    from ksmith.tokens import encode_pair

    for (context, continuation), value in zip(pairs, got):
        ctx, cont = encode_pair(model.tokenizer, context, continuation)
        inputs = (ctx + cont)[-17:][:-1]  # lm-eval: the last max_len + 1 tokens, minus the last
        with torch.no_grad():
            logp = torch.log_softmax(model.lm(input_ids=torch.tensor([inputs])).logits[0].double(), -1)
        expected = float(logp[-len(cont) :].gather(-1, torch.tensor(cont)[:, None]).sum())
        assert value == pytest.approx(expected, abs=1e-4)
    with pytest.raises(ScoringError, match="exceeds"):
        Scorer(model).loglikelihood([("w1", " " + " ".join(["w2"] * 20))])


def test_greedy_matches_the_argmax_loop():
    model = random_model("llama")
    contexts = [" ".join(random.Random(i).choices(WORDS, k=i % 7 + 1)) for i in range(9)]
    texts = Scorer(model, batch_size="auto", token_budget=24).greedy([(c, 3) for c in contexts])
    for context, text in zip(contexts, texts):
        ids = model.tokenizer(context)["input_ids"]
        produced = []
        for _ in range(3):
            with torch.no_grad():
                token = int(model.lm(input_ids=torch.tensor([ids])).logits[0, -1].argmax())
            if token == model.tokenizer.eos_token_id:
                break
            ids.append(token)
            produced.append(token)
        assert text == model.tokenizer.decode(produced, skip_special_tokens=True)


def test_out_of_memory_halves_the_budget_and_retries(monkeypatch):
    """batch_size='auto' on an accelerator: an OOM at one budget is retried at half (simulated on CPU)."""
    model = random_model("gpt2")
    pairs = requests()
    reference = [r.logprob for r in Scorer(model, batch_size=1).loglikelihood(pairs)]
    scorer = Scorer(model, batch_size="auto", token_budget=4096)
    scorer._accelerator = True  # as on a GPU
    real = Scorer._logits_at
    seen = []

    def fake_logits_at(self, rows, keep):
        seen.append(len(rows))
        if sum(len(r.tokens) for r in rows) > 30:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(self, rows, keep)

    monkeypatch.setattr(Scorer, "_logits_at", fake_logits_at)
    got = [r.logprob for r in scorer.loglikelihood(pairs)]
    assert got == pytest.approx(reference, abs=1e-4)
    assert scorer.token_budget < 4096 and seen[0] > seen[-1]
