"""Oracle models: tiny-kg pretrained from scratch on the *updated* world, the model an update should give.

Training lives here, with the other model builders; `ksmith.metrics.oracle` only compares an updated
model's scores with an oracle's (metrics never train).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ksmith.probes.types import Intervention


def oracle_world(world: Any, interventions: Iterable[Intervention]) -> Any:
    """The world the update should produce (`World.apply`: inheritance re-derived)."""
    return world.apply(tuple(interventions))


def oracle_model(world: Any, interventions: Iterable[Intervention], config: Any = None, **kwargs: Any) -> Any:
    """tiny-kg pretrained on the updated world (cached by world hash and config, like any tiny-kg).

    The oracle must share the updated model's vocabulary; tiny-kg's tokenizer comes from the
    world's entities, which an update never adds or removes, so the two always agree.
    """
    from ksmith.models.tiny import pretrain

    return pretrain(oracle_world(world, interventions), config, **kwargs)
