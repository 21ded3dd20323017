"""The next-token request: distributions (and last hidden states) after each prompt, for drift."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ksmith.scoring.engine import Scorer
from ksmith.scoring.values import (
    ScoringError,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class NextTokenResult:
    """What `next_token` captures for a list of prompts, on the CPU in float64.

    logprobs: (n_prompts, vocab) log-probabilities of the next token after each prompt's last token.
    hidden:   per layer (embedding output first, as Hugging Face orders `hidden_states`), the
              (n_prompts, width) hidden state at each prompt's last token; empty when not asked for.
    """

    logprobs: Any
    hidden: tuple[Any, ...]


#: Rows per forward pass of `next_token` when the scorer's batch size is `auto`.
NEXT_TOKEN_ROWS = 64


def next_token(scorer: Scorer, prompts: Sequence[str], *, hidden: bool = True) -> NextTokenResult:
    """The `next_token` request kind: next-token log-probabilities (and hidden states) after each prompt.

    Prompts are encoded by `ksmith.tokens.encode_texts` as a context is (the tokenizer's own BOS,
    the empty-context token for an empty prompt; cut on the left to the model's length) and run in right-padded batches of
    `scorer.max_rows` (`NEXT_TOKEN_ROWS` under `auto`), so a prompt's result does not depend on its
    batch-mates beyond float rounding.
    """
    import torch

    from ksmith.models.logits import logits_at, position_mask
    from ksmith.tokens import empty_context_ids, encode_texts

    if not prompts:
        raise ScoringError("next_token needs at least one prompt")
    tokenizer = scorer.model.tokenizer
    encoded = encode_texts(tokenizer, prompts)
    rows_all = [encoded[p] or empty_context_ids(tokenizer) for p in prompts]
    config = scorer.model.lm.config
    max_len = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", None)
    if max_len is not None:
        rows_all = [row[-max_len:] for row in rows_all]
    lm = scorer.model.lm
    device = next(lm.parameters()).device
    logprobs: list[Any] = []
    layers: list[list[Any]] = []
    was_training = lm.training
    lm.eval()
    try:
        with torch.inference_mode():
            step = scorer.max_rows or NEXT_TOKEN_ROWS  # `auto`: drift prompts are short, one fixed row count
            for start in range(0, len(rows_all), step):
                rows = rows_all[start : start + step]
                width = max(len(row) for row in rows)
                # padded on the host as lists, one transfer each (right padding: real tokens keep their positions)
                ids = torch.tensor([row + [0] * (width - len(row)) for row in rows], dtype=torch.long, device=device)
                mask = torch.tensor(
                    [[1] * len(row) + [0] * (width - len(row)) for row in rows], dtype=torch.long, device=device
                )
                lengths = torch.tensor([len(row) for row in rows], dtype=torch.long, device=device)
                # the LM head at each row's last token only: [B, V], not [B, T, V]
                logits, out = logits_at(
                    lm, position_mask(lengths - 1, width), input_ids=ids, attention_mask=mask,
                    output_hidden_states=hidden, use_cache=False,
                )
                logprobs.append(torch.log_softmax(logits.double(), dim=-1).cpu())
                if hidden:
                    index = torch.arange(len(rows), device=device)
                    states = [h[index, lengths - 1].double().cpu() for h in out.hidden_states]
                    if not layers:
                        layers = [[] for _ in states]
                    for layer, state in zip(layers, states):
                        layer.append(state)
    finally:
        lm.train(was_training)
    return NextTokenResult(torch.cat(logprobs), tuple(torch.cat(layer) for layer in layers))
