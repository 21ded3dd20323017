"""Exports: EasyEdit's KnowEdit-style JSON and the lm-eval task (its agreement with ksmith's `mcq`
on a real model is the slow test in `test_lm_eval_export.py`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ksmith.cli import main
from ksmith.probes import build_dataset
from ksmith.probes.formats import export_dataset, import_dataset
from ksmith.world import build_world
from tests.formats import samples as S


@pytest.fixture(scope="module")
def world_dataset():
    return build_dataset(build_world(size="small"), "edit", "intermediate", 3, 0)


def test_easyedit_records_follow_knowedit(tmp_path: Path, world_dataset) -> None:
    path = tmp_path / "d.jsonl"
    world_dataset.to_jsonl(path)
    out = tmp_path / "easyedit.json"
    assert main(["data", "export", "--format", "easyedit", str(path), "--out", str(out)]) == 0
    records = json.loads(out.read_text())
    assert len(records) == len(world_dataset.interventions)
    for rec, iv in zip(records, world_dataset.interventions):
        assert set(rec) >= {"subject", "prompt", "target_new", "ground_truth", "portability", "locality"}
        assert (rec["subject"], rec["target_new"], rec["ground_truth"]) == (iv.subject, iv.new_object, iv.old_object)
        assert iv.subject in rec["prompt"]
        probes = [p for p in world_dataset.probes if p.intervention_id == iv.id]
        n_local = sum(p.probe_type == "contextual" for p in probes)
        assert len(rec["locality"].get("Relation_Specificity", [])) == n_local
        n_reason = sum(p.probe_type in ("multi_hop", "comparison") and p.family == "Q+" for p in probes)
        assert len(rec["portability"].get("Reasoning", [])) == n_reason
        for entry in rec["portability"].get("Reasoning", []):
            probe = next(p for p in probes if p.prompt == entry["prompt"])
            assert entry["ground_truth"] == [[probe.choices[probe.answer_after]]]


def test_easyedit_keeps_aliases_and_refuses_unlearning(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ds = import_dataset("ripple", S.write(tmp_path / "r.json", S.RIPPLE))
    records = json.loads(Path(export_dataset("easyedit", ds, tmp_path / "e.json")[0]).read_text())
    assert records[0]["portability"]["Logical_Generalization"] == [
        {"prompt": "The name of the spouse of Sigrun Hale is", "ground_truth": [["Arvid Lenk", "A. Lenk"]]}
    ]
    assert len(records[0]["locality"]["Relation_Specificity"]) == 1  # the test query, not its condition
    forget = import_dataset("counterfact", S.write(tmp_path / "c.json", S.COUNTERFACT), "unlearn")
    forget.to_jsonl(tmp_path / "f.jsonl")
    assert main(["data", "export", "--format", "easyedit", str(tmp_path / "f.jsonl"), "--out", str(tmp_path / "x.json")]) == 2
    assert "unlearn dataset" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_lm_eval_task_is_multiple_choice_over_the_probe_prompts(tmp_path: Path, world_dataset) -> None:
    ds = import_dataset("ripple", S.write(tmp_path / "r.json", S.RIPPLE))
    for dataset in (world_dataset, ds):
        yaml_path, data_path = export_dataset("lm-eval", dataset, tmp_path / f"task-{dataset.hash}")
        config = yaml.safe_load(yaml_path.read_text())
        assert config["output_type"] == "multiple_choice" and config["target_delimiter"] == " "
        assert (config["doc_to_text"], config["doc_to_choice"], config["doc_to_target"]) == ("prompt", "choices", "gold")
        assert config["task"] == yaml_path.stem and Path(config["dataset_kwargs"]["data_files"]["test"]) == data_path
        docs = [json.loads(line) for line in data_path.read_text().splitlines()]
        counted = [p for p in dataset.probes if not p.condition]
        assert [d["id"] for d in docs] == [p.id for p in counted]
        for doc, p in zip(docs, counted):
            assert doc["prompt"] == p.prompt and doc["choices"] == list(p.choices)
            assert doc["gold"] == (p.answer_after if p.answer_after is not None else p.answer_before)


def test_lm_eval_export_into_a_file_path_is_a_clean_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           world_dataset) -> None:
    world_dataset.to_jsonl(tmp_path / "d.jsonl")
    (tmp_path / "taken").write_text("x")
    assert main(["data", "export", "--format", "lm-eval", str(tmp_path / "d.jsonl"), "--out", str(tmp_path / "taken")]) == 2
    assert "not a directory" in capsys.readouterr().err
