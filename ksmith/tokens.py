"""How a (context, continuation) pair becomes token ids: the one split that scoring and methods share.

A method that optimises log p(continuation | context) must optimise exactly the tokens the scorer
scores, or its edit can look better or worse than it is. Both therefore call `encode_pair` /
`encode_pairs`, which reproduce lm-evaluation-harness's `multiple_choice` split (`TemplateLM._encode_pair`
and `HFLM.tok_encode`), so ksmith's log-likelihoods are the ones researchers get from lm-eval:

1. The context's trailing whitespace moves to the front of the continuation ("Paris is in " + "France"
   is scored as "Paris is in" + " France"): BPE tokenizers attach a space to the word after it, so a
   space left at the end of the context would become a token the model never saw before a word.
2. The tokenizer's own BOS: when encoding text with special tokens puts a BOS first (Llama, Gemma,
   tiny-kg), the context starts with it; when it does not (GPT-2, SmolLM2), nothing is added. No other
   special token is added (no EOS after the continuation).
3. Whole-string encoding cut at the context's length: the continuation's ids are
   `encode(context + continuation)[len(encode(context)):]`, so the continuation is tokenized as it
   would be in running text. Like lm-eval this does not check that the whole string's first ids
   equal the context's (they differ only where a token straddles the boundary).
4. An empty context becomes a single token, the BOS (or EOS when there is none), as lm-eval's
   `prefix_token_id`, so the first continuation token is still conditioned on something.

No torch here: a tokenizer is all it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from ksmith.errors import KsmithError

__all__ = ["TokenizationError", "encode_pair", "encode_pairs", "encode_texts", "prefix_ids", "empty_context_ids"]


class TokenizationError(KsmithError):
    """A pair that cannot be split into a context and a non-empty continuation."""


def prefix_ids(tokenizer: Any) -> list[int]:
    """The special tokens the tokenizer itself puts before any text: `[bos]` or nothing.

    Measured, not assumed: a tokenizer that declares a BOS but does not add it (GPT-2, SmolLM2)
    gets none, as lm-eval's default `add_special_tokens` gives.
    """
    bos = tokenizer.bos_token_id
    if bos is None:
        return []
    probe = list(tokenizer("x", add_special_tokens=True)["input_ids"])
    return [bos] if probe[:1] == [bos] else []


def empty_context_ids(tokenizer: Any) -> list[int]:
    """What stands for an empty context: BOS, else EOS, else token 0 (lm-eval's `prefix_token_id`)."""
    for token in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token is not None:
            return [int(token)]
    return [0]


def encode_texts(tokenizer: Any, texts: Iterable[str], prefix: Sequence[int] | None = None) -> dict[str, list[int]]:
    """Token ids (with the tokenizer's own BOS, see `prefix_ids`) of each distinct text.

    One batched call through the Rust tokenizer where there is one: encoding texts one by one cost
    half of the scoring engine's time on tiny-kg.
    """
    unique = list(dict.fromkeys(texts))
    if not unique:
        return {}
    lead = list(prefix_ids(tokenizer) if prefix is None else prefix)
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        rows = [encoding.ids for encoding in backend.encode_batch(unique, add_special_tokens=False)]
    else:
        rows = tokenizer(unique, add_special_tokens=False)["input_ids"]
    return {text: lead + list(row) for text, row in zip(unique, rows)}


def _move_trailing_whitespace(context: str, continuation: str) -> tuple[str, str]:
    stripped = context.rstrip()
    return stripped, context[len(stripped) :] + continuation


def encode_pairs(
    tokenizer: Any,
    pairs: Sequence[tuple[str, str]],
    *,
    prefix: Sequence[int] | None = None,
    empty: Sequence[int] | None = None,
) -> list[tuple[list[int], list[int]]]:
    """`encode_pair` for many pairs, in one batched tokenizer call; results in input order.

    prefix / empty: `prefix_ids(tokenizer)` / `empty_context_ids(tokenizer)` when a caller that
    encodes many small batches has them already (each costs a tokenizer call).
    Raises `TokenizationError` naming the first pair whose continuation encodes to no tokens
    (an empty continuation, or one swallowed by a token that straddles the boundary).
    """
    lead = list(prefix_ids(tokenizer) if prefix is None else prefix)
    empty = list(empty_context_ids(tokenizer) if empty is None else empty)
    moved = [_move_trailing_whitespace(c, x) if c else (c, x) for c, x in pairs]
    texts: list[str] = []
    for context, continuation in moved:
        texts.append(context + continuation)
        if context:
            texts.append(context)
    encoded = encode_texts(tokenizer, texts, prefix=lead)
    out: list[tuple[list[int], list[int]]] = []
    for (context, continuation), (raw_ctx, raw_cont) in zip(moved, pairs):
        if not context:  # lm-eval: a lone prefix token as the context, the continuation on its own
            ctx, cont = list(empty), encoded[continuation][len(lead) :]
        else:
            ctx = encoded[context]
            cont = encoded[context + continuation][len(ctx) :]
            if not ctx:  # a context that encodes to nothing (and no BOS): as lm-eval's empty context
                ctx = list(empty)
        if not cont:
            raise TokenizationError(
                f"continuation {raw_cont!r} after context {raw_ctx[-40:]!r} encodes to no tokens; "
                "nothing to score (give a non-empty continuation that is not absorbed by the context's last token)"
            )
        out.append((ctx, list(cont)))
    return out


def encode_pair(tokenizer: Any, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """(context ids, continuation ids) of one pair, split the way lm-eval's `multiple_choice` does.

    The model's input is `context_ids + continuation_ids[:-1]`, and the score is the sum of
    log p(continuation_ids[i] | everything before it). See the module docstring for the rules.
    """
    return encode_pairs(tokenizer, [(context, continuation)])[0]
