"""`--ksmith-dataset NAME=PATH`: the grid over (model, method, dataset, scale), and bad values named."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ksmith.grid import GridError, read_dataset_entry, resolve
from ksmith.probes.formats import import_dataset
from tests.formats import samples as S


def test_dataset_cells_take_the_level_place_and_the_file_decides_the_task(tmp_path: Path) -> None:
    for task in ("edit", "unlearn"):
        import_dataset("counterfact", S.write(tmp_path / "cf.json", S.COUNTERFACT), task).to_jsonl(tmp_path / f"{task}.jsonl")
    edit = read_dataset_entry("cf=edit.jsonl", str(tmp_path))
    forget = read_dataset_entry(f"forget={tmp_path / 'unlearn.jsonl'}")
    assert (edit.task, edit.size, forget.task) == ("edit", 4, "unlearn")
    spec = replace(resolve("smoke", scales="1,4"), datasets=(edit, forget))
    cases = spec.cases({"ft-m": ("edit",), "npo": ("unlearn",), "rome": ("edit", "unlearn")})
    assert sorted(c.id for c in cases) == sorted([
        "tiny-kg-small-ft-m-edit-cf-k1-s0", "tiny-kg-small-ft-m-edit-cf-k4-s0",
        "tiny-kg-small-rome-edit-cf-k1-s0", "tiny-kg-small-rome-edit-cf-k4-s0",
        "tiny-kg-small-npo-unlearn-forget-k1-s0", "tiny-kg-small-npo-unlearn-forget-k4-s0",
        "tiny-kg-small-rome-unlearn-forget-k1-s0", "tiny-kg-small-rome-unlearn-forget-k4-s0",
    ])
    assert spec.dataset_entry("cf") == edit and spec.dataset_entry("leaf") is None


def test_bad_dataset_options_are_named(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text('[{"a": 1}]\n')
    with pytest.raises(GridError, match="not NAME=PATH"):
        read_dataset_entry("justapath.jsonl")
    with pytest.raises(GridError, match="not NAME=PATH"):
        read_dataset_entry("leaf=x.jsonl")  # a level's name
    with pytest.raises(GridError, match="cannot read"):
        read_dataset_entry(f"x={tmp_path / 'missing.jsonl'}")
    with pytest.raises(GridError, match="not a ksmith dataset"):
        read_dataset_entry(f"x={tmp_path / 'other.json'}")
