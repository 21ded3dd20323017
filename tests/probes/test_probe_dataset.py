"""Unit tests of the dataset generator, the Dataset record, its JSONL form and `ksmith data`."""

from __future__ import annotations

import dataclasses
import json
from functools import lru_cache
from pathlib import Path

import pytest

from ksmith.cli import main
from ksmith.errors import DatasetError
from ksmith.probes import (
    NEUTRAL_OBJECT,
    PROBE_TYPES,
    VAGUE_ANSWERS,
    Dataset,
    build_dataset,
    retain_size,
    select_interventions,
)
from ksmith.probes.types import CORE_PROBE_KEYS, Probe
from ksmith.world import DOMAINS, World, build_world

from .test_probe_properties import Oracle


@lru_cache(maxsize=2)
def world(size: str = "default") -> World:
    return build_world(DOMAINS, size, 0)


@lru_cache(maxsize=8)
def dataset(task: str = "edit", level: str = "intermediate", k: int = 20, seed: int = 0) -> Dataset:
    return build_dataset(world(), task, level, k, seed)


def test_interventions_sit_at_the_level_and_their_prompts_hold_the_subject() -> None:
    for level in ("root", "intermediate", "leaf"):
        ivs = select_interventions(world(), "edit", level, 12, seed=1)
        assert len(ivs) == 12
        for iv in ivs:
            assert world().level(iv.subject) == level == iv.level
            assert world().object_of(iv.subject, iv.relation) == iv.old_object
            assert iv.new_object != iv.old_object
            assert world().entities[iv.new_object].type == world().entities[iv.old_object].type
            assert iv.prompts and all(iv.subject in p.split() for p in iv.prompts)
            held = world().relations[iv.relation].templates
            assert held.cloze[held.held_out].replace("{s}", iv.subject) not in iv.prompts


def test_a_small_level_gives_several_facts_per_node() -> None:
    roots = [n for n in world().entities if world().level(n) == "root" and world().children(n)]
    ivs = select_interventions(world(), "unlearn", "root", len(roots) + 5, seed=0)
    assert len({iv.subject for iv in ivs}) == len(roots)
    assert all(iv.new_object is None for iv in ivs)


def test_smaller_scales_are_prefixes_of_larger_ones() -> None:
    big = select_interventions(world(), "edit", "leaf", 50, seed=4)
    assert select_interventions(world(), "edit", "leaf", 10, seed=4) == big[:10]


def test_too_large_a_scale_names_the_maximum() -> None:
    with pytest.raises(DatasetError, match=r"at most (\d+) non-interfering") as err:
        select_interventions(world(), "edit", "root", 10_000, seed=0)
    most = int(str(err.value).split("at most ")[1].split()[0])
    assert len(select_interventions(world(), "edit", "root", most, seed=0)) == most


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("fix", "leaf", 1), "unknown task 'fix'"),
        (("edit", "trunk", 1), "unknown level 'trunk'"),
        (("edit", "leaf", -1), "non-negative integer"),
    ],
)
def test_bad_arguments(args: tuple, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        select_interventions(world(), *args, seed=0)


def test_unknown_domain_is_rejected() -> None:
    with pytest.raises(DatasetError, match="not in this world"):
        build_dataset(world(), "edit", "leaf", 3, 0, domains=["chemistry"])


def test_domains_restrict_the_interventions() -> None:
    ds = build_dataset(world(), "edit", "leaf", 15, 0, domains=["history"])
    assert {iv.domain for iv in ds.interventions} == {"history"}
    assert any(p.domain != "history" for p in ds.probes_of("contextual"))  # other-domain facts


def test_zero_interventions_give_an_empty_dataset() -> None:
    ds = build_dataset(world(), "edit", "leaf", 0, 0)
    assert ds.interventions == () and ds.probes == ()


def test_every_probe_type_and_the_held_out_paraphrase_appear() -> None:
    ds = dataset()
    assert {p.probe_type for p in ds.probes} == set(PROBE_TYPES)
    direct = ds.probes_of("direct")
    per_iv = {}
    for p in direct:
        per_iv.setdefault(p.intervention_id, []).append(p)
    for probes in per_iv.values():
        assert len(probes) >= 3
        assert sum(p.held_out for p in probes) == 1
    assert {p.hop for p in ds.probes_of("multi_hop")} >= {1, 2}
    assert all(p.family == "Q-" for p in ds.probes_of("contextual"))
    assert {p.family for p in ds.probes_of("conflict")} == {"Q+", "Q-"}


def test_edit_choices_hold_old_and_new_objects() -> None:
    ds = dataset()
    ivs = {iv.id: iv for iv in ds.interventions}
    for p in ds.probes_of("direct"):
        iv = ivs[p.intervention_id]
        assert p.choices[p.answer_before] == iv.old_object
        assert p.choices[p.answer_after] == iv.new_object


def test_unlearning_marks_the_old_answer_to_avoid() -> None:
    ds = dataset("unlearn")
    for p in ds.probes:
        if p.family == "Q+":
            assert p.answer_after is None and p.avoid == p.answer_before
        else:
            assert p.answer_after == p.answer_before and p.avoid is None


def test_retain_items_avoid_touched_and_tested_facts() -> None:
    ds = dataset(k=40)
    assert len(ds.retain) == retain_size(40) == 80
    after = world().apply(ds.interventions)
    oracle = Oracle(world())
    tested = {oracle.parse(p)[1:] for p in ds.probes if p.family == "Q-"}
    touched = {(iv.subject, iv.relation) for iv in ds.interventions}
    retained = set()
    for item in ds.retain:
        probe_like = dataclasses.replace(ds.probes_of("direct")[0], prompt=item.prompt)
        _, subject, relation = oracle.parse(probe_like)
        assert world().object_of(subject, relation) == item.answer == after.object_of(subject, relation)
        retained.add((subject, relation))
    assert not retained & tested
    assert not retained & touched
    assert len(retained) == len(ds.retain)
    assert retain_size(1) == 20 and retain_size(10_000) == 2000


def test_probe_ids_are_unique_and_stable() -> None:
    a, b = dataset(seed=5), build_dataset(world(), "edit", "intermediate", 20, 5)
    assert [p.id for p in a.probes] == [p.id for p in b.probes]
    assert len({p.id for p in a.probes}) == len(a.probes)
    assert a.hash == b.hash
    assert dataset(seed=6).hash != a.hash


def test_the_corpus_carries_the_words_unlearning_methods_use() -> None:
    tokens = {t for line in world("small").corpus() for t in line.split()}
    assert NEUTRAL_OBJECT in tokens and set(VAGUE_ANSWERS) <= tokens


def test_dataset_is_immutable_and_hashes_its_content() -> None:
    ds = dataset()
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.task = "unlearn"  # type: ignore[misc]
    changed = dataclasses.replace(ds, probes=ds.probes[:-1])
    assert changed.hash != ds.hash


def test_request_carries_the_edit_set_and_the_constraint() -> None:
    ds = dataset()
    req = ds.request()
    assert req.task == "edit" and req.interventions == ds.interventions and req.retain == ds.retain
    assert req.scale == ds.scale


def test_jsonl_layout_is_a_header_then_one_probe_per_line(tmp_path: Path) -> None:
    ds = dataset("unlearn", "leaf", 5, 2)
    path = tmp_path / "d.jsonl"
    ds.to_jsonl(path)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["record"] == "header" and header["hash"] == ds.hash
    assert len(header["interventions"]) == 5 and len(header["retain"]) == 20
    assert len(lines) == 1 + len(ds.probes)
    keys = [*CORE_PROBE_KEYS, "asks"]  # a generated dataset writes one optional key: the fact it asks
    for line in lines[1:]:
        assert list(json.loads(line)) == keys
    assert Dataset.from_jsonl(path) == ds


def test_reading_a_tampered_or_broken_file_fails_clearly(tmp_path: Path) -> None:
    ds = dataset("edit", "leaf", 3, 0)
    path = tmp_path / "d.jsonl"
    ds.to_jsonl(path)
    lines = path.read_text().splitlines()
    tampered = tmp_path / "t.jsonl"
    tampered.write_text("\n".join(lines[:-1]) + "\n")
    with pytest.raises(DatasetError, match="content hash"):
        Dataset.from_jsonl(tampered)
    broken = tmp_path / "b.jsonl"
    broken.write_text(lines[0] + "\n" + lines[1][:-5] + "\n")
    with pytest.raises(DatasetError, match=r"b\.jsonl:2: not valid JSON"):
        Dataset.from_jsonl(broken)
    no_header = tmp_path / "n.jsonl"
    no_header.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(DatasetError, match="first record must be the header"):
        Dataset.from_jsonl(no_header)
    extra = tmp_path / "e.jsonl"
    rec = json.loads(lines[1])
    rec["surprise"] = 1
    extra.write_text(lines[0] + "\n" + json.dumps(rec) + "\n")
    with pytest.raises(DatasetError, match=r"e\.jsonl:2: probe keys .*unexpected \['surprise'\]"):
        Dataset.from_jsonl(extra)
    with pytest.raises(DatasetError, match="no such file"):
        Dataset.from_jsonl(tmp_path / "missing.jsonl")


def test_data_cli_writes_jsonl_and_prints_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wpath, out = tmp_path / "w.json", tmp_path / "p.jsonl"
    assert main(["world", "--size", "small", "--seed", "1", "--out", str(wpath)]) == 0
    capsys.readouterr()
    rc = main(["data", "--world", str(wpath), "--task", "edit", "--level", "leaf", "--scale", "4", "--seed", "2",
               "--out", str(out)])
    assert rc == 0
    line = capsys.readouterr().out.strip()
    ds = Dataset.from_jsonl(out)
    assert ds == build_dataset(build_world(DOMAINS, "small", 1), "edit", "leaf", 4, 2)
    assert line.count("\n") == 0 and "direct Q+" in line and "contextual Q-" in line and ds.hash in line


def test_data_cli_builds_the_default_world_of_the_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "--task", "unlearn", "--level", "root", "--scale", "2", "--seed", "0"]) == 0
    assert build_dataset(world(), "unlearn", "root", 2, 0).hash in capsys.readouterr().out


def test_data_cli_reports_too_large_a_scale(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["data", "--task", "edit", "--level", "root", "--scale", "100000", "--size", "small"])
    err = capsys.readouterr().err
    assert rc == 2 and "at most" in err and "Traceback" not in err
