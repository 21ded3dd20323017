"""One tokenisation: a method optimises exactly the continuation tokens the scorer scores.

On SmolLM2's BPE tokenizer, for prompts and objects where encoding the object alone differs from
encoding it after the prompt, the locate-then-edit target tokens, the fine-tuning target mask and
the scorer's continuation are the same token ids. The scorer's side is read from `Scorer`
itself (its `loglikelihood` token count) and from the shared split, `ksmith.tokens.encode_pair`.
"""

from __future__ import annotations

import pytest

from ksmith.models.hub import SMOLLM2_INSTALL, smollm2_available

pytestmark = pytest.mark.skipif(not smollm2_available(), reason=f"smollm2-135m absent: {SMOLLM2_INSTALL}")

PAIRS = [
    ("The Eiffel Tower is located in the city of", "Paris"),
    ("The chemical symbol of sodium is", "Na"),
    ("Q: Which river flows through Cairo?\nA:", "the Nile"),
    ("The capital of the state of New York is", "Albany"),
    ("The atomic number of carbon is ", "6"),  # a trailing space in the prompt
]


@pytest.fixture(scope="module")
def tokenizer():
    from ksmith.models.hub import load_smollm2

    return load_smollm2(device="cpu").tokenizer


def test_methods_train_the_tokens_the_scorer_scores(tokenizer):
    from ksmith.methods.locate import EditTarget, rewrite_batch
    from ksmith.methods.training import TrainPair, tokenize_pairs
    from ksmith.tokens import encode_pair

    targets = [EditTarget(str(i), prompt.split()[1], (prompt,), obj) for i, (prompt, obj) in enumerate(PAIRS)]
    located = rewrite_batch(tokenizer, targets, "prompt_last", "cpu")
    tuned = tokenize_pairs(tokenizer, [TrainPair(prompt, " " + obj) for prompt, obj in PAIRS])
    differs_alone = 0
    for row, (prompt, obj) in enumerate(PAIRS):
        _, scored = encode_pair(tokenizer, prompt, " " + obj)
        edit_tokens = located.target_next[row][located.target_mask[row]].tolist()
        train_tokens = tuned.input_ids[row][tuned.target_mask[row]].tolist()
        assert edit_tokens == scored, (prompt, obj)
        assert train_tokens == scored, (prompt, obj)
        differs_alone += tokenizer(" " + obj, add_special_tokens=False)["input_ids"] != scored
    # The pairs include a case where encoding the object alone would have given other tokens.
    assert differs_alone >= 1


def test_the_scorer_scores_the_same_number_of_tokens(tokenizer):
    from ksmith.models.hub import load_smollm2
    from ksmith.scoring import Scorer
    from ksmith.tokens import encode_pair

    model = load_smollm2(device="cpu")
    results = Scorer(model).loglikelihood([(prompt, " " + obj) for prompt, obj in PAIRS])
    for (prompt, obj), result in zip(PAIRS, results):
        assert result.n_tokens == len(encode_pair(tokenizer, prompt, " " + obj)[1])
