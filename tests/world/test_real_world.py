"""The committed real world: its shape, its English, its fairness, and the CLI that writes it."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from ksmith.cli import main
from ksmith.probes import build_dataset
from ksmith.world import LEVELS, load_world
from ksmith.world.real import REAL_WORLD_FILE, load_real_world


@pytest.fixture(scope="module")
def real():
    return load_real_world()


def test_cli_writes_the_committed_world_without_source_packages(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_sources(name, *args, **kwargs):  # running ksmith must need none of the source packages
        if name.split(".")[0] in {"countryinfo", "mendeleev", "us", "babel", "jellyfish"}:
            raise ModuleNotFoundError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sources)
    out = tmp_path / "w.json"
    assert main(["world", "--source", "real", "--out", str(out)]) == 0
    assert load_world(out).hash == load_world(REAL_WORLD_FILE).hash
    assert json.loads(out.read_text()) == json.loads(REAL_WORLD_FILE.read_text())
    assert load_world(out).hash in capsys.readouterr().out


def test_every_domain_has_every_level(real):
    counts = Counter((real.entities[n].domain, real.level(n)) for t in real.taxon_types for n in real.entities_of_type(t))
    for domain in ("biology", "economics", "history", "physics"):
        for level in LEVELS:
            assert counts[(domain, level)] >= 3, (domain, level, counts)


def test_true_facts_are_there(real):
    assert real.object_of("France", "capital") == "Paris"
    assert real.object_of("France", "continent") == "Europe"  # inherited through Western Europe
    assert real.source_of("France", "continent") == "Western Europe"
    assert real.object_of("sodium", "symbol") == "Na"
    assert real.object_of("sodium", "group") == "1"  # inherited from the alkali metals
    assert real.object_of("hydrogen", "group") == "1" and real.is_stated("hydrogen", "block")
    assert real.object_of("Maine", "census_region") == "Northeast"
    assert real.object_of("California", "state_capital") == "Sacramento"
    assert real.object_of("dog", "animal_class") == "mammal"
    assert real.object_of("dog", "family") == "Canidae"
    assert real.object_of("Euro", "currency_code") == "EUR"


def test_corrected_facts_are_the_current_ones(real):
    """What the audit found false or outdated in the sources, as the world now states it."""
    assert real.object_of("Croatia", "currency") == "Euro"  # not the Kuna, replaced in 2023
    assert real.object_of("Kazakhstan", "capital") == "Astana"  # not Nur-Sultan
    assert real.object_of("heron", "order") == "Pelecaniformes"  # not WordNet's Ciconiiformes
    assert real.object_of("tuna", "order") == "Scombriformes"  # not Perciformes
    assert real.object_of("cerium", "group") is None  # the f-block has no group (was 3)
    assert real.object_of("lanthanum", "group") == "3"
    assert "Americas" not in real.entities
    assert real.object_of("Brazil", "continent") == "South America"
    assert real.object_of("Canada", "continent") == "North America"


def test_facts_with_several_true_answers_keep_them_all(real):
    assert set(real.true_objects("Russia", "continent")) == {"Europe", "Asia"}
    assert {"German", "French", "Italian"} <= set(real.true_objects("Switzerland", "official_language"))
    assert set(real.true_objects("lanthanum", "block")) == {"d-block", "f-block"}
    assert real.object_of("Switzerland", "official_language") in real.true_objects("Switzerland", "official_language")


def test_names_read_as_english(real):
    assert "British Virgin Islands" in real.entities and "Virgin Islands, British" not in real.entities
    assert real.mention("United States") == "the United States" and real.mention("France") == "France"
    assert real.mention("dog") == "the dog" and real.mention("alkali metals") == "the alkali metals"
    assert not [n for n in real.entities if ", " in n and real.entities[n].type != "capital city"]


def test_relations_have_three_held_in_and_one_held_out_paraphrase(real):
    for rel in real.relations.values():
        if rel.taxonomy:
            continue
        tpl = rel.templates
        assert len(tpl.cloze) >= 4 and 0 <= tpl.held_out < len(tpl.cloze), rel.name
        assert len(set(tpl.cloze)) == len(tpl.cloze), rel.name
        assert tpl.questions, rel.name
        if rel.inverse is not None:
            assert len(tpl.reverse) >= 3, rel.name
        for form in tpl.cloze + tpl.questions + tpl.reverse:
            assert " a {" not in form and " an {" not in form, form  # no article before a name slot


def test_one_to_one_relations_are_one_to_one(real):
    for rel in real.relations.values():
        if rel.inverse is None:
            continue
        objects = [o for f in real.all_facts() if f.relation == rel.name for o in [f.object]]
        assert objects and len(objects) == len(set(objects)), rel.name


def _probe_subject_relation(ds):
    return {iv.id: (iv.subject, iv.relation) for iv in ds.interventions}


@pytest.mark.parametrize("level", ["leaf", "intermediate"])
def test_direct_distractors_are_fair(real, level):
    ds = build_dataset(real, "edit", level, 40, 0)
    of = _probe_subject_relation(ds)
    for p in ds.probes_of("direct"):
        s, r = of[p.intervention_id]
        truth = set(real.objects(s, r))
        wrong = [c for j, c in enumerate(p.choices) if j not in (p.answer_before, p.answer_after)]
        assert not truth & set(wrong), (p.prompt, p.choices)
        ancestors = set(real.ancestors(s))
        assert not ancestors & set(wrong), (p.prompt, p.choices)  # is-a: never a true ancestor
        answer = p.choices[p.answer_before]
        if answer.isdigit():
            assert all(c.isdigit() and len(c) == len(answer) for c in p.choices), p.choices
        pool = set(real.object_pool(r))
        assert set(p.choices) <= pool, (p.choices, r)  # same-type options: the relation's own objects


def _table(tmp_path, rows, also=()):
    import json as _json

    (tmp_path / "physics.json").write_text(_json.dumps({"domain": "physics", "overrides": rows, "also": list(also)}))
    from ksmith.world.real.common import Overrides

    return Overrides("physics", tmp_path)


def test_an_override_corrects_only_what_its_source_says(tmp_path):
    from ksmith.errors import WorldError

    row = {"subject": "x", "relation": "capital", "was": "Old", "value": "New", "source": "S", "reason": "R"}
    table = _table(tmp_path, [row])
    assert table.apply("y", "capital", "Other") == "Other"  # no entry: the source's value
    assert table.apply("x", "capital", "Old") == "New"
    table.check_used()
    with pytest.raises(WorldError, match="expects the source to say 'Old'"):
        _table(tmp_path, [row]).apply("x", "capital", "Changed")  # the source moved: look again
    with pytest.raises(WorldError, match="never applied"):
        _table(tmp_path, [row]).check_used()
    with pytest.raises(WorldError, match="needs a source and a reason"):
        _table(tmp_path, [{**row, "source": " "}])


def test_the_audit_lists_every_override_and_its_source():
    from ksmith.world.real.audit import audit_markdown
    from ksmith.world.real.common import OVERRIDES_DIR, Overrides

    text = audit_markdown()
    for path in sorted(OVERRIDES_DIR.glob("*.json")):
        for o in [*Overrides(path.stem), *Overrides(path.stem).other_answers]:
            assert o.subject in text and o.source.replace("|", "\\|") in text, o
