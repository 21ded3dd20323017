"""Logits at chosen positions (`ksmith.models.logits`) are the full forward pass's at those positions,
on both layouts, for a model without `logits_to_keep` and through a PEFT wrapper; and the losses
built on them (`sequence_logprobs`, `first_target_logprobs`, the locate methods' value batch) equal
the same formulas read off the full pass, gradients included."""

from __future__ import annotations

import ftkit
import pytest
import torch

from ksmith.methods.locate import _rewrite_logits, edit_targets, rewrite_batch
from ksmith.methods.training import TrainPair, first_target_logprobs, sequence_logprobs, tokenize_pairs
from ksmith.models.logits import keeps_logits, logits_at, position_mask


class NoKeep(torch.nn.Module):
    """A causal LM whose forward does not take `logits_to_keep`."""

    def __init__(self, lm: torch.nn.Module) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids, attention_mask=None):
        return self.lm(input_ids=input_ids, attention_mask=attention_mask)


def _inputs() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, len(ftkit.WORDS), (3, 7), generator=gen)
    attn = torch.ones_like(ids)
    attn[1, 5:] = 0  # a right-padded row
    keep = torch.zeros(ids.shape, dtype=torch.bool)
    keep[0, [1, 4, 6]] = True  # rows keep different counts; row 2 keeps none
    keep[1, 4] = True
    return ids, attn, keep


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_kept_logits_are_the_full_pass_at_those_positions(arch) -> None:
    model = ftkit.MODELS[arch]()
    ids, attn, keep = _inputs()
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=attn).logits
        got, out = logits_at(model, keep, input_ids=ids, attention_mask=attn, output_hidden_states=True)
        plain, _ = logits_at(NoKeep(model), keep, input_ids=ids, attention_mask=attn)
    assert keeps_logits(model) and not keeps_logits(NoKeep(model))
    assert got.shape == (4, len(ftkit.WORDS))
    torch.testing.assert_close(got, full[keep], rtol=0, atol=1e-5)
    torch.testing.assert_close(plain, full[keep], rtol=0, atol=0)
    assert len(out.hidden_states) == 4  # the rest of the output is still there


def test_a_peft_wrapper_passes_the_mask_to_its_base_model() -> None:
    from peft import LoraConfig, get_peft_model

    model = get_peft_model(ftkit.llama(), LoraConfig(r=2, target_modules=["down_proj"], init_lora_weights=False))
    ids, attn, keep = _inputs()
    with torch.no_grad():
        full = model(input_ids=ids, attention_mask=attn).logits
        got, _ = logits_at(model, keep, input_ids=ids, attention_mask=attn)
    assert keeps_logits(model)
    torch.testing.assert_close(got, full[keep], rtol=0, atol=1e-5)


def test_position_mask_keeps_the_given_position_of_each_row() -> None:
    got = position_mask(torch.tensor([0, 2, 1]), 4)
    expected = torch.tensor(
        [[True, False, False, False], [False, False, True, False], [False, True, False, False]]
    )
    assert torch.equal(got, expected)


def test_a_mask_that_is_not_boolean_is_refused_by_name() -> None:
    ids, attn, keep = _inputs()
    with pytest.raises(ValueError, match="2-D boolean mask"):
        logits_at(ftkit.gpt2(), keep.long(), input_ids=ids, attention_mask=attn)


@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_training_losses_equal_the_full_pass_formulas(arch) -> None:
    model = ftkit.MODELS[arch]()
    batch = tokenize_pairs(
        ftkit.tokenizer(),
        [TrainPair("the capital of France is", " Paris"), TrainPair("the river Nile flows through", " Egypt Cairo")],
    )
    head = model.get_output_embeddings().weight

    full = torch.log_softmax(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits.float(), -1)
    expected, counts, firsts = [], [], []
    for b in range(len(batch)):
        targets = batch.target_mask[b].nonzero().squeeze(-1).tolist()
        expected.append(sum(full[b, t - 1, batch.input_ids[b, t]] for t in targets))
        counts.append(float(len(targets)))
        firsts.append(full[b, targets[0] - 1, batch.input_ids[b, targets[0]]])
    expected_t = torch.stack(expected)
    (want_grad,) = torch.autograd.grad(expected_t.sum(), head)

    got = sequence_logprobs(model, batch)
    torch.testing.assert_close(got.logp, expected_t.detach(), rtol=0, atol=1e-5)
    assert got.n.tolist() == counts == [1.0, 2.0]
    (got_grad,) = torch.autograd.grad(got.logp.sum(), head)
    torch.testing.assert_close(got_grad, want_grad, rtol=0, atol=1e-5)
    torch.testing.assert_close(first_target_logprobs(model, batch).logp, torch.stack(firsts).detach(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("task", ["edit", "unlearn"])
@pytest.mark.parametrize("arch", ["gpt2", "llama"])
def test_the_value_batch_reads_each_target_position_and_last_token(arch, task) -> None:
    model = ftkit.MODELS[arch]()
    targets = edit_targets(ftkit.request(task, k=2))
    rw = rewrite_batch(ftkit.tokenizer(), targets, "subject_last", "cpu")
    with torch.no_grad():
        full = model(input_ids=rw.input_ids, attention_mask=rw.attention_mask).logits.float()
        logits, where = _rewrite_logits(model, rw)
    rows = torch.arange(len(rw))
    kept = where >= 0
    assert bool(kept[rows, rw.last_pos].all()) and bool(kept[rw.target_mask].all())
    assert int(kept.sum()) == logits.shape[0] < kept.numel()
    torch.testing.assert_close(logits[where[kept]], full[kept], rtol=0, atol=1e-5)
