"""Dataset formats of the field, in and out: one module per format.

Importers (`import_dataset`) turn a dataset file into a ksmith `Dataset` of interventions and typed
probes: `counterfact`, `zsre`, `mquake`, `ripple`, `knowedit`. Exporters (`export_dataset`) write
a ksmith dataset in another tool's format: `easyedit` (KnowEdit-style JSON) and `lm-eval` (an
lm-evaluation-harness task). Each module's docstring holds its mapping table.

Like the rest of `ksmith.probes`, nothing here imports torch or a model.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import FormatError, read_json

#: Import format name -> module (each defines `load(source, task, **options) -> Dataset`).
IMPORT_FORMATS: dict[str, str] = {
    "counterfact": "ksmith.probes.formats.counterfact",
    "zsre": "ksmith.probes.formats.zsre",
    "mquake": "ksmith.probes.formats.mquake",
    "ripple": "ksmith.probes.formats.ripple",
    "knowedit": "ksmith.probes.formats.knowedit",
}
#: Export format name -> module (each defines `write(dataset, out) -> list[Path]`).
EXPORT_FORMATS: dict[str, str] = {
    "easyedit": "ksmith.probes.formats.easyedit",
    "lm-eval": "ksmith.probes.formats.lm_eval",
}

__all__ = ["EXPORT_FORMATS", "IMPORT_FORMATS", "FormatError", "export_dataset", "import_dataset"]


def import_dataset(fmt: str, path: str | Path, task: str = "edit", **options: Any) -> Dataset:
    """Read `path` in format `fmt` into a `Dataset` (`FormatError` names file, record and field)."""
    if fmt not in IMPORT_FORMATS:
        raise FormatError(f"unknown import format {fmt!r}; choose one of {', '.join(IMPORT_FORMATS)}")
    if task not in ("edit", "unlearn"):
        raise FormatError(f"unknown task {task!r}; choose edit or unlearn")
    module = importlib.import_module(IMPORT_FORMATS[fmt])
    return module.load(read_json(path, fmt), task, **options)


def export_dataset(fmt: str, dataset: Dataset, out: str | Path) -> list[Path]:
    """Write `dataset` in format `fmt` at `out`; returns the files written (all or none)."""
    if fmt not in EXPORT_FORMATS:
        raise FormatError(f"unknown export format {fmt!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    module = importlib.import_module(EXPORT_FORMATS[fmt])
    return module.write(dataset, Path(out))
