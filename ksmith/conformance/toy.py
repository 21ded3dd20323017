"""Toy models and requests for the conformance suite: tiny, randomly initialised, built offline.

A method's contract (finite weights, only declared tensors change, determinism, no global state,
empty request is a no-op) does not depend on the model knowing anything, so the suite runs on
randomly initialised models of the two weight layouts ksmith supports: GPT-2 (`Conv1D`, weights
`[in, out]`) and Llama (`nn.Linear`, weights `[out, in]`). Both share one word-level tokenizer built
with the `tokenizers` library, so nothing is downloaded. Everything is built from explicit seeds
inside `torch.random.fork_rng`, so building a model never disturbs the caller's RNG.
"""

from __future__ import annotations

from typing import Any

import torch

from ksmith.methods.base import UpdateRequest
from ksmith.probes.types import Intervention, RetainItem

LAYOUTS: tuple[str, ...] = ("gpt2", "llama")

SUBJECTS = ("Zorblat", "Quenmar", "Vistrel", "Pondaro", "Kelvast", "Miruna", "Tobrel", "Sarnek")
RELATIONS = ("habitat", "color", "diet")
OBJECTS = ("forest", "desert", "ocean", "red", "blue", "green", "seeds", "fish", "insects")
TEMPLATES = ("The {r} of {s} is", "{s} has the {r}", "In short , the {r} of {s} is")
EXTRA_WORDS = ("unknown", "a", "and", ".", "?", "Q", ":", "A", "what", "is", "the", "of", "it")
SPECIAL = ("[PAD]", "[UNK]", "[EOS]")


def vocabulary() -> list[str]:
    words: list[str] = list(SPECIAL)
    for template in TEMPLATES:
        words += template.replace("{r}", "").replace("{s}", "").split()
    words += [*SUBJECTS, *RELATIONS, *OBJECTS, *EXTRA_WORDS]
    return list(dict.fromkeys(words))


def tokenizer() -> Any:
    """A word-level `PreTrainedTokenizerFast` over the toy vocabulary (offsets supported)."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {word: i for i, word in enumerate(vocabulary())}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]"
    )


#: Environment variable naming the device the conformance suite's toy models live on (default
#: cpu); the suite's `--ksmith-device` option sets it, `make gpu-check` runs the suite on CUDA.
DEVICE_VARIABLE = "KSMITH_CONFORMANCE_DEVICE"


def device() -> str:
    import os

    return os.environ.get(DEVICE_VARIABLE) or "cpu"


def tiny_model(layout: str, seed: int = 0, layers: int = 3) -> Any:
    """A randomly initialised causal LM of `layout` ("gpt2" or "llama"), in eval mode, on `device()`
    (initialised on the CPU from the seed, then moved: the same weights on every device)."""
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    size = len(vocabulary())
    special = dict(bos_token_id=None, eos_token_id=2, pad_token_id=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if layout == "gpt2":
            config = GPT2Config(
                vocab_size=size, n_positions=64, n_embd=32, n_layer=layers, n_head=2, n_inner=64,
                **special,
            )
            model = GPT2LMHeadModel(config)
        elif layout == "llama":
            config = LlamaConfig(
                vocab_size=size, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                tie_word_embeddings=False, **special,
            )
            model = LlamaForCausalLM(config)
        else:
            raise ValueError(f"unknown toy layout {layout!r}; use one of {LAYOUTS}")
    return model.to(device()).eval()


def request(task: str = "edit", n: int = 2, seed: int = 0, offset: int = 0) -> UpdateRequest:
    """A request over `n` toy facts (subjects `offset..offset+n`), with retain items on the others."""
    interventions = []
    for i in range(offset, offset + n):
        subject = SUBJECTS[i % len(SUBJECTS)]
        relation = RELATIONS[i % len(RELATIONS)]
        old = OBJECTS[i % len(OBJECTS)]
        new = OBJECTS[(i + 4) % len(OBJECTS)] if task == "edit" else None
        prompts = tuple(t.format(r=relation, s=subject) for t in TEMPLATES[:2])
        interventions.append(
            Intervention(
                id=f"toy-{i}", task=task, subject=subject, relation=relation, old_object=old,
                new_object=new, domain="toy", level="leaf", prompts=prompts,
            )
        )
    used = {iv.subject for iv in interventions}
    retain = tuple(
        RetainItem(prompt=TEMPLATES[0].format(r=RELATIONS[j % 3], s=s), answer=OBJECTS[j % 9])
        for j, s in enumerate(SUBJECTS)
        if s not in used
    )[:4]
    return UpdateRequest(task=task, interventions=tuple(interventions), retain=retain, scale=n, seed=seed)


def corpus() -> list[str]:
    """Toy statements (every subject, relation and template) for key statistics."""
    lines = []
    for i, subject in enumerate(SUBJECTS):
        for j, relation in enumerate(RELATIONS):
            for template in TEMPLATES:
                lines.append(f"{template.format(r=relation, s=subject)} {OBJECTS[(i + j) % 9]} .")
    return lines


def state(model: Any) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter, by name."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model: Any) -> set[str]:
    """Names of parameters that differ (bitwise) from `before`."""
    return {name for name, p in model.named_parameters() if not torch.equal(before[name], p.detach())}


def train(model: Any, steps: int = 300, lr: float = 1e-2, seed: int = 0) -> Any:
    """Fit `model` to the toy corpus (full batch, Adam) so it knows most toy facts; returns it in eval mode.

    A few seconds on one core: enough that an edit has an old fact to overwrite.
    """
    tok = tokenizer()
    ids = [tok(line)["input_ids"] for line in corpus()]
    width = max(map(len, ids))
    batch = torch.tensor([row + [0] * (width - len(row)) for row in ids])
    mask = (torch.arange(width)[None] < torch.tensor([len(r) for r in ids])[:, None]).long()
    labels = batch.masked_fill(mask == 0, -100)
    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        for _ in range(steps):
            opt.zero_grad()
            model(input_ids=batch, attention_mask=mask, labels=labels).loss.backward()
            opt.step()
    for p in model.parameters():
        p.grad = None
    return model.eval()
