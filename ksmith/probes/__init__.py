"""The dataset generator: interventions per level and scale, six probe types, retain items.

`build_dataset(world, task, level, scale, seed)` gives an immutable, hashable `Dataset` that
round-trips through JSONL; every expected answer comes from the oracle `World.apply`.
`probes` knows nothing of torch or of models.
"""

from ksmith.probes.dataset import Dataset
from ksmith.probes.generate import RETAIN_CAP, build_dataset, retain_size
from ksmith.probes.interventions import select_interventions
from ksmith.probes.types import (
    FAMILIES,
    PROBE_TYPES,
    TASKS,
    Intervention,
    Probe,
    RetainItem,
    UpdateRequest,
)
from ksmith.world.templates import NEUTRAL_OBJECT, VAGUE_ANSWERS

__all__ = [
    "FAMILIES",
    "NEUTRAL_OBJECT",
    "PROBE_TYPES",
    "RETAIN_CAP",
    "TASKS",
    "VAGUE_ANSWERS",
    "Dataset",
    "Intervention",
    "Probe",
    "UpdateRequest",
    "RetainItem",
    "build_dataset",
    "retain_size",
    "select_interventions",
]
