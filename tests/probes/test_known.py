"""Known sets as data: the rule (right in every held-in paraphrase), the file format, and
interventions drawn from them."""

from __future__ import annotations

import json
import random

import pytest

from ksmith.cli import main
from ksmith.errors import DatasetError
from ksmith.probes import Dataset, build_dataset
from ksmith.probes.known import FactResult, KnownSet, askable_facts, questions, tally
from ksmith.world.real import load_real_world



@pytest.fixture(scope="module")
def real():
    return load_real_world()


def half_known(world, seed: int = 0) -> KnownSet:
    """A known set in which a seeded half of the askable facts are known (no model needed)."""
    rng = random.Random(seed)
    facts = []
    for s, r, o in askable_facts(world):
        right = 3 if rng.random() < 0.5 else 1
        facts.append(FactResult(s, r, o, world.entities[s].domain, world.level(s), right, 3, 0))
    return KnownSet("fake", "0" * 16, world.hash, tuple(facts))


def test_known_means_right_in_every_held_in_paraphrase():
    def result(correct: int, chance: int = 0) -> FactResult:
        return FactResult("s", "r", "o", "d", "leaf", correct, 3, chance)

    assert [result(c).known for c in range(4)] == [False, False, False, True]
    assert result(0, chance=3).known_by_chance and not result(0, chance=2).known_by_chance


def test_questions_ask_held_in_paraphrases_with_a_generic_control(real):
    qs = {(q.subject, q.relation): q for q in questions(real)}
    q = qs[("France", "capital")]
    held_out = real.relations["capital"].templates.held_out
    assert len(q.probes) == 3 and all(p.paraphrase_id != held_out for p in q.probes)
    assert q.probes[0].prompt == "The capital of France is"
    assert all("France" not in p.prompt and "this country" in p.prompt.lower() for p in q.controls)
    assert all(p.choices == q.probes[0].choices for p in (*q.probes, *q.controls))
    assert q.probes[0].choices[q.probes[0].answer_before] == "Paris"
    animal = qs[("dog", "family")]
    assert animal.controls[0].prompt == "The family of this animal is"  # not "the this animal"


def test_tally_counts_right_answers_per_fact(real):
    qs = questions(real)[:5]
    picks = {p.id: p.answer_before for q in qs for p in q.probes}  # right in all 3 paraphrases
    picks.update({q.controls[0].id: q.controls[0].answer_before for q in qs})  # 1 lucky control
    picks.update({q.controls[i].id: (q.controls[i].answer_before + 1) % 4 for q in qs for i in (1, 2)})
    results = tally(qs, picks)
    assert all(r.correct == 3 and r.asked == 3 and r.chance == 1 and r.known and not r.known_by_chance
               for r in results)
    wrong_once = {**picks, qs[0].probes[1].id: (qs[0].probes[1].answer_before + 1) % 4}
    assert not tally(qs, wrong_once)[0].known  # one wrong paraphrase: not known


def test_known_set_round_trips_and_detects_edits(tmp_path, real):
    known = half_known(real)
    path = tmp_path / "k.json"
    known.save(path)
    assert KnownSet.load(path) == known and KnownSet.load(path).hash == known.hash
    doc = json.loads(path.read_text())
    doc["facts"][0][5] = 3 - doc["facts"][0][5]
    path.write_text(json.dumps(doc))
    with pytest.raises(DatasetError, match="content hash"):
        KnownSet.load(path)


def test_table_counts_per_domain_relation_level(real):
    known = half_known(real)
    table = known.table()
    assert sum(row["facts"] for row in table) == len(known.facts)
    assert sum(row["known"] for row in table) == len(known.known_pairs())
    assert {"leaf", "intermediate"} <= {row["level"] for row in table}


def test_interventions_come_from_known_facts_only(real):
    known = half_known(real)
    pairs = known.known_pairs()
    ds = build_dataset(real, "edit", "leaf", 100, 0, known=known)
    assert len(ds.interventions) == 100
    assert all((iv.subject, iv.relation) in pairs for iv in ds.interventions)
    assert ds.known_hash == known.hash
    plain = build_dataset(real, "edit", "leaf", 100, 0)
    assert plain.known_hash is None and plain.hash != ds.hash


def test_dataset_records_the_known_set_in_its_header(tmp_path, real):
    known = half_known(real)
    ds = build_dataset(real, "unlearn", "intermediate", 5, 0, known=known)
    path = tmp_path / "d.jsonl"
    ds.to_jsonl(path)
    header = json.loads(path.read_text().splitlines()[0])
    assert header["known_hash"] == known.hash
    assert Dataset.from_jsonl(path) == ds


def test_too_large_k_names_the_models_maximum(real):
    known = half_known(real)
    with pytest.raises(DatasetError, match=r"more than this model knows at level 'intermediate'.*at most \d+"):
        build_dataset(real, "edit", "intermediate", 10_000, 0, known=known)


def test_known_set_of_another_world_is_refused(real):
    known = KnownSet("fake", "0" * 16, "f" * 16, ())
    with pytest.raises(DatasetError, match="measured on world"):
        build_dataset(real, "edit", "leaf", 1, 0, known=known)


def test_cli_data_with_known(tmp_path, capsys, real):
    known = half_known(real)
    kpath, out = tmp_path / "k.json", tmp_path / "d.jsonl"
    known.save(kpath)
    assert main(["data", "--world", "real", "--known", str(kpath), "--task", "edit", "--level", "leaf",
                 "--scale", "10", "--out", str(out)]) == 0
    assert Dataset.from_jsonl(out).known_hash == known.hash
    capsys.readouterr()
    kpath.write_text("{not json")
    assert main(["data", "--world", "real", "--known", str(kpath), "--task", "edit", "--level", "leaf",
                 "--scale", "10"]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert main(["data", "--world", "real", "--known", str(tmp_path / "missing.json"), "--task", "edit",
                 "--level", "leaf", "--scale", "10"]) == 2
    assert main(["known", "--model", "nonsense-model", "--world", "real"]) == 2


@pytest.mark.parametrize("seed", [0, 1])
def test_k100_at_leaf_and_every_probe_type_at_k10_from_a_known_half(real, seed):
    """With a known set holding a seeded half of the facts (about what SmolLM2-135M knew in the
    issue's measurements): leaf k=100 is 100 known interventions, and k=10 has every probe type at
    leaf and at intermediate level, for both tasks (the relations are dealt round-robin)."""
    known = half_known(real, seed)
    pairs = known.known_pairs()
    ds = build_dataset(real, "edit", "leaf", 100, 0, known=known)
    assert len(ds.interventions) == 100 and all((iv.subject, iv.relation) in pairs for iv in ds.interventions)
    for level in ("leaf", "intermediate"):
        for task in ("edit", "unlearn"):
            small = build_dataset(real, task, level, 10, 0, known=known)
            counts = {t: sum(fams.values()) for t, fams in small.summary().items()}
            assert all(n >= 1 for n in counts.values()), (task, level, counts)


def test_the_committed_known_set_applies_only_to_its_weights_world_and_full_measurement(tmp_path, monkeypatch, real):
    import ksmith.known.measure as known_module
    from ksmith.known.measure import committed_known

    half = half_known(real)
    monkeypatch.setattr(known_module, "COMMITTED_DIR", tmp_path)
    half.save(tmp_path / "fake.json")
    found = committed_known("fake", half.model_hash, real)
    assert found is not None and found.hash == half.hash
    assert committed_known("fake", "1" * 16, real) is None  # other weights: measure them
    assert committed_known("fake", half.model_hash, real, sample=5) is None  # a sampled run asked for less
    assert committed_known("other", half.model_hash, real) is None


def test_the_committed_known_sets_were_measured_on_the_committed_real_world(real):
    from ksmith.known.measure import COMMITTED_DIR

    files = sorted(COMMITTED_DIR.glob("*.json"))
    assert [f.stem for f in files] == ["gemma3-270m", "smollm2-135m"]
    for path in files:
        KnownSet.load(path).check_world(real)  # else: re-measure with `ksmith known` and commit it


@pytest.mark.parametrize("task", ["edit", "unlearn"])
def test_the_direct_probe_of_a_known_fact_is_the_question_the_known_set_asked(real, task):
    """Same prompts, same four options, same right answer: the answers the known set recorded are
    the direct probe's answers before the update; an edit's target is one of the wrong options."""
    asked = {(q.subject, q.relation): q for q in questions(real)}
    known = half_known(real)
    ds = build_dataset(real, task, "leaf", 30, 0, known=known)
    by_iv = {iv.id: iv for iv in ds.interventions}
    for iv in ds.interventions:
        q = asked[(iv.subject, iv.relation)]
        direct = [p for p in ds.probes_of("direct") if p.intervention_id == iv.id and not p.held_out]
        assert sorted(p.prompt for p in direct) == sorted(p.prompt for p in q.probes)
        for p in direct:
            assert p.choices == q.probes[0].choices
            assert p.choices[p.answer_before] == by_iv[p.intervention_id].old_object
        if task == "edit":
            assert iv.new_object in q.probes[0].choices and iv.new_object != iv.old_object
