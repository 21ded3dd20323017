"""One batched log-likelihood engine that every metric uses.

Two request kinds, as in lm-evaluation-harness: `loglikelihood(context, continuation)` and
`greedy(context, max_tokens)`. Every protocol (`mcq`, `mcq_norm`, `prob_compare`, `token_acc`,
`gen_match`) is built on them, and every `Score` carries its protocol's name, so a metric never mixes
numbers measured in different ways.

Requests are tokenized as lm-evaluation-harness's `multiple_choice` tokenizes them
(`ksmith.tokens.encode_pairs`), so ksmith's log-likelihoods are lm-eval's (tested on SmolLM2 to 1e-4).

Why batched, packed, sorted and right-padded: editing toolkits usually score one prompt at a time,
which on a small model is dominated by per-call overhead. Requests that share a context share one
row, their continuations packed after it (a 4-option MCQ costs one context plus its options' tokens,
not four full rows). Rows run longest first (an out-of-memory shows at once) in batches bounded by a
token budget, which keeps padding low. Padding on the right and explicit position ids keep every real
token at its own position, so a request's log-likelihood does not depend on what it was batched or
packed with -- up to float rounding, which the tests bound at 1e-4. Only the scored positions go
through the LM head and the log-softmax.

`torch` is imported inside the functions that need it, so metrics can import `Score` cheaply.
"""

from ksmith.scoring.cache import pre_scores
from ksmith.scoring.engine import Scorer
from ksmith.scoring.next_token import NextTokenResult, next_token
from ksmith.scoring.values import (
    PROTOCOLS,
    LoglikelihoodResult,
    Score,
    Scores,
    ScoringError,
    expected_answer,
    normalise_answer,
)

__all__ = [
    "PROTOCOLS",
    "LoglikelihoodResult",
    "NextTokenResult",
    "Score",
    "Scorer",
    "Scores",
    "ScoringError",
    "expected_answer",
    "next_token",
    "normalise_answer",
    "pre_scores",
]
