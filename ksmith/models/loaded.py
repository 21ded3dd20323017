"""`LoadedModel`: a causal LM, its tokenizer and everything the harness needs to know about it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ksmith.models.arch import Architecture


@dataclass
class LoadedModel:
    """A model ready to score and update.

    spec:         how it was asked for ("tiny-kg", "hf:/path", "smollm2-135m").
    weights_hash: content hash of the weights as loaded; cache keys use it, never the name.
    held_out:     relation name -> paraphrase id kept out of training (tiny-kg), so reports can
                  separate held-in and held-out accuracy; empty for external checkpoints.
    """

    spec: str
    lm: Any  # transformers.PreTrainedModel
    tokenizer: Any  # transformers.PreTrainedTokenizerBase
    arch: Architecture
    weights_hash: str
    device: str = "cpu"
    dtype: str = "float32"
    held_out: dict[str, int] = field(default_factory=dict)
    world_hash: str | None = None
