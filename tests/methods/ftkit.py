"""Tiny randomly initialised GPT-2- and Llama-layout models with a word-level tokenizer, and a
request builder, for the fine-tuning editor and unlearner tests (no download, a few ms per step)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer
from tokenizers.models import WordLevel
from tokenizers.pre_tokenizers import WhitespaceSplit
from transformers import (
    GPT2Config,
    GPT2LMHeadModel,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
)

from ksmith.methods.base import UpdateRequest
from ksmith.probes.types import Intervention, RetainItem

WORDS = ["<pad>", "<unk>", "<bos>", "the", "capital", "of", "country", "is", "a", "city", "river", "flows", "through", "where", "lives", "France", "Paris", "Lyon", "Italy", "Rome", "Milan", "Spain", "Madrid", "Seville", "Nile", "Cairo", "Egypt", "Zorblat", "Quenta", "unknown", "unclear", "uncertain", "unrecorded", "something", "nothing", "known"]


def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token="<pad>", unk_token="<unk>", bos_token="<bos>"
    )


def gpt2(seed: int = 0) -> GPT2LMHeadModel:
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=len(WORDS), n_positions=32, n_embd=32, n_layer=3, n_head=2, bos_token_id=2, eos_token_id=2
    )
    return GPT2LMHeadModel(config).eval()


def llama(seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(WORDS),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=3,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        pad_token_id=0,
        bos_token_id=2,
        eos_token_id=2,
    )
    return LlamaForCausalLM(config).eval()


MODELS = {"gpt2": gpt2, "llama": llama}


def intervention(task: str = "edit", subject: str = "France", old: str = "Paris", new: str | None = "Rome") -> Intervention:
    return Intervention(
        id=f"{subject}-capital",
        task=task,
        subject=subject,
        relation="capital",
        old_object=old,
        new_object=new if task == "edit" else None,
        domain="geo",
        level="leaf",
        prompts=(f"the capital of {subject} is", f"{subject} capital is", f"the country {subject} capital is"),
    )


RETAIN = (
    RetainItem("the capital of Italy is", "Rome"),
    RetainItem("the capital of Spain is", "Madrid"),
    RetainItem("the river Nile flows through", "Egypt"),
)


def request(task: str = "edit", seed: int = 0, k: int = 1, retain: bool = True) -> UpdateRequest:
    pool = [("France", "Paris", "Lyon"), ("Egypt", "Cairo", "Seville"), ("Zorblat", "Quenta", "Milan")]
    ivs = tuple(intervention(task, s, o, n) for s, o, n in pool[:k])
    return UpdateRequest(task=task, interventions=ivs, retain=RETAIN if retain else (), scale=k, seed=seed)


def empty_request(task: str = "edit") -> UpdateRequest:
    return UpdateRequest(task=task, interventions=(), retain=RETAIN, scale=0, seed=0)


def state(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def logprob(model, tok, prompt: str, word: str) -> float:
    """Log-probability of the single-token `word` right after `prompt`."""
    ids = torch.tensor([tok(prompt)["input_ids"]])
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, -1]
    return float(torch.log_softmax(logits, -1)[tok.convert_tokens_to_ids(word)])


def taught(arch: str, steps: int = 40) -> torch.nn.Module:
    """A tiny model that has learned the request's old facts and the retain facts (so unlearning
    has something to remove): all weights fine-tuned on them for a few steps."""
    from ksmith.methods import losses
    from ksmith.methods.training import (
        ParamSet,
        TrainPair,
        sequence_logprobs,
        tokenize_pairs,
        train,
    )

    model = MODELS[arch]()
    tok = tokenizer()
    req = request("unlearn", k=3)
    pairs = [TrainPair(p, " " + iv.old_object) for iv in req.interventions for p in iv.prompts]
    pairs += [TrainPair(r.prompt, " " + r.answer) for r in req.retain]
    batch = tokenize_pairs(tok, pairs)
    params = ParamSet(model, [n for n, _ in model.named_parameters()])
    train(model, params, lambda step: losses.nll(sequence_logprobs(model, batch)), steps=steps, lr=1e-2)
    return model
