"""Logits at chosen positions only: the LM head run where a loss or a score reads it, not everywhere.

Every loss and score in ksmith reads the next-token distribution at a few positions of each row
(the target tokens, a prompt's last token), yet a causal LM's forward pass projects *every*
position onto the vocabulary: a [rows, tokens, vocab] tensor, and for a 262k vocabulary (Gemma 3)
the head is more of the pass than the blocks. Transformers' causal LMs take `logits_to_keep`, a
boolean [rows, tokens] mask, and run the head on the kept positions only ([kept, vocab], row-major);
the values are those of the full pass at those positions (the same per-position product). Models
whose forward lacks the argument get the full pass, then the same positions.

Used by the scoring engine, the drift capture and the methods' losses: one way to ask for logits.
"""

from __future__ import annotations

import inspect
from typing import Any

import torch


def keeps_logits(model: Any) -> bool:
    """Whether `model`'s forward takes `logits_to_keep` (a PEFT wrapper passes it to its base model)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return "logits_to_keep" in inspect.signature(base.forward).parameters


def logits_at(model: Any, keep: torch.Tensor, **inputs: Any) -> tuple[torch.Tensor, Any]:
    """(logits [kept, V] at the True positions of `keep` [B, T], row-major; the model's output).

    `inputs` go to the forward pass as they are (input_ids, attention_mask, ...). The output is
    returned for what else the caller asked of it (hidden states); its `logits` may be the kept
    ones or the full tensor, so read the first element.
    """
    if keep.dtype != torch.bool or keep.dim() != 2:
        raise ValueError(f"keep must be a 2-D boolean mask [rows, tokens], got {keep.dtype} of shape {tuple(keep.shape)}")
    if keeps_logits(model):
        out = model(**inputs, logits_to_keep=keep)
        return out.logits, out
    out = model(**inputs)
    return out.logits[keep], out


def position_mask(positions: torch.Tensor, width: int) -> torch.Tensor:
    """The [B, width] mask that keeps one position per row, `positions` [B] (e.g. each row's last
    prompt token)."""
    return torch.arange(width, device=positions.device)[None, :] == positions[:, None]
