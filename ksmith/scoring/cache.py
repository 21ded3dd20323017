"""Scores of a dataset before any update, computed once per (weights, device, dataset, protocols,
code version) and shared through the disk cache."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ksmith.cache import atomic_write_text, entry, kind_version, locked, stable_hash
from ksmith.scoring.engine import Scorer
from ksmith.scoring.values import (
    PROTOCOLS,
    Scores,
    check_protocols,
)

if TYPE_CHECKING:
    from ksmith.models.loaded import LoadedModel

log = logging.getLogger(__name__)

def pre_scores(
    model: LoadedModel,
    dataset: Any,
    protocols: Iterable[str] = PROTOCOLS,
    *,
    batch_size: int | str = "auto",
) -> Scores:
    """Scores of `dataset` before any update, computed once and shared through the disk cache.

    The key is (hash of the model's weights *now*, kind of device, dataset hash, protocols, code version):
    never the model's name, so two different models -- or the same model after an edit -- never
    share an entry. The weights are hashed afresh on every call (a few ms on tiny-kg) rather than
    trusting `model.weights_hash`, which goes stale if someone forgot to restore. The entry is
    computed under a file lock: when several xdist workers (one per method's cell) ask at once, one
    scores and the others wait and read its file, instead of each scoring the same dataset.
    """
    from ksmith.models.snapshot import weights_hash

    chosen = check_protocols(protocols)
    key = stable_hash(
        "pre_scores", weights_hash(model.lm), device_kind(model.device), dataset.hash, sorted(chosen), kind_version("scores")
    )
    path = entry("scores", f"{key}.json")
    cached = _read_scores(path)
    if cached is not None:
        return cached
    with locked(path):
        cached = _read_scores(path)  # another worker may have written it while we waited
        if cached is not None:
            return cached
        scores = Scorer(model, batch_size=batch_size).score(dataset.probes, chosen)
        atomic_write_text(path, scores.to_json())
    return scores


def device_kind(device: Any) -> str:
    """The device as far as scores depend on it: its type and, for a GPU, its model -- not its
    index, so xdist workers placed on `cuda:0` and `cuda:1` of one machine share their pre-scores."""
    import torch

    device = torch.device(str(device))
    if device.type == "cuda" and torch.cuda.is_available():
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return device.type


def _read_scores(path: Any) -> Scores | None:
    if not path.exists():
        return None
    try:
        return Scores.from_json(path.read_text())
    except (ValueError, TypeError, KeyError) as exc:
        log.warning("pre-score cache entry %s is corrupt (%s); recomputing", path, exc)
        return None


# -- the third request kind: next-token distributions and hidden states ---------------------------
# Kept apart from `Scorer`'s log-likelihood path on purpose (additive code): drift (ksmith.metrics.drift)
# needs what the model *would* say next and what it represents, on the same tokens and with the same
# BOS convention (`ksmith.tokens`: the tokenizer's own BOS, lm-eval's empty-context token) as every
# other score.


