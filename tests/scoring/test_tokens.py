"""The shared context/continuation split, on a hand-made BPE whose every encoding is known by hand."""

from __future__ import annotations

import pytest

from ksmith.tokens import TokenizationError, empty_context_ids, encode_pair, encode_pairs, prefix_ids

# ids of the hand-made vocabulary
BOS, EOS, A, B, C, SPACE, AB, SPACE_B = range(8)


def hand_tokenizer(*, adds_bos: bool, declares_bos: bool = True):
    """Characters a, b, c, space; merges "a"+"b" -> "ab" (first) and " "+"b" -> " b"."""
    from tokenizers import Tokenizer, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {"<s>": BOS, "</s>": EOS, "a": A, "b": B, "c": C, " ": SPACE, "ab": AB, " b": SPACE_B}
    tok = Tokenizer(models.BPE(vocab, [("a", "b"), (" ", "b")]))
    if adds_bos:
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", BOS)])
    special = {"bos_token": "<s>"} if declares_bos else {}
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", **special)


def test_trailing_whitespace_moves_into_the_continuation():
    tok = hand_tokenizer(adds_bos=False)
    # "a " + "b" is scored as "a" + " b": the space travels with the word, one token " b"
    assert encode_pair(tok, "a ", "b") == ([A], [SPACE_B])
    assert encode_pair(tok, "a ", "b") == encode_pair(tok, "a", " b")
    # several trailing spaces all move; leading ones stay
    assert encode_pair(tok, " a  ", "b") == ([SPACE, A], [SPACE, SPACE_B])


def test_continuation_is_the_whole_string_cut_at_the_context_length():
    tok = hand_tokenizer(adds_bos=False)
    # "abc" encodes as [ab, c]; the context "a" is one token, so the continuation is [c] (lm-eval's rule),
    # not the separate encoding of "bc" ([b, c])
    assert encode_pair(tok, "a", "bc") == ([A], [C])
    assert encode_pair(tok, "c", "bc") == ([C], [B, C])


def test_bos_only_where_the_tokenizer_adds_one():
    with_bos = hand_tokenizer(adds_bos=True)
    without = hand_tokenizer(adds_bos=False)
    assert prefix_ids(with_bos) == [BOS] and prefix_ids(without) == []
    assert encode_pair(with_bos, "a ", "b") == ([BOS, A], [SPACE_B])
    assert encode_pair(without, "a ", "b") == ([A], [SPACE_B])


def test_empty_context_is_one_prefix_token():
    assert encode_pair(hand_tokenizer(adds_bos=True), "", "bc") == ([BOS], [B, C])
    assert encode_pair(hand_tokenizer(adds_bos=False), "", "ab") == ([BOS], [AB])  # declared, not added: still BOS
    no_bos = hand_tokenizer(adds_bos=False, declares_bos=False)
    assert empty_context_ids(no_bos) == [EOS]
    assert encode_pair(no_bos, "", "c") == ([EOS], [C])
    # a context of whitespace only: its spaces move, and the empty context stands in
    assert encode_pair(no_bos, " ", "b") == ([EOS], [SPACE_B])


def test_a_swallowed_continuation_is_a_clear_error():
    tok = hand_tokenizer(adds_bos=False)
    with pytest.raises(TokenizationError, match="encodes to no tokens"):
        encode_pair(tok, "a", "")
    with pytest.raises(TokenizationError, match="'b'"):
        encode_pairs(tok, [("a", "c"), ("a ", "b"), (" ", "b"), ("c a", "b")])  # "c ab": b merged into the context


def test_batched_equals_one_by_one():
    tok = hand_tokenizer(adds_bos=True)
    pairs = [("a ", "b"), ("a", "bc"), ("", "c"), ("ca", "bb"), ("a ", "b"), ("b", " b c")]
    assert encode_pairs(tok, pairs) == [encode_pair(tok, c, x) for c, x in pairs]
