"""Every validation error of a world file: a clear `WorldError`, and exit code 2 from the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ksmith.cli import main
from ksmith.errors import WorldError
from ksmith.world import World, load_world


def doc(**changes: Any) -> dict[str, Any]:
    """A small valid world document: A is-a B is-a C; A and B have habitats."""
    base: dict[str, Any] = {
        "format": "ksmith.world",
        "version": 1,
        "domains": ["bio"],
        "entities": [
            {"name": n, "type": "taxon", "domain": "bio"} for n in ("Aza", "Bex", "Cor")
        ] + [{"name": n, "type": "habitat", "domain": "bio"} for n in ("Hol", "Hum")]
          + [{"name": n, "type": "person", "domain": "bio"} for n in ("Pim", "Pum")],
        "relations": [
            {"name": "is_a", "subject_type": "taxon", "object_type": "taxon", "taxonomy": True, "domain": "bio"},
            {"name": "habitat", "subject_type": "taxon", "object_type": "habitat", "inherited": True, "domain": "bio"},
            {"name": "finder", "subject_type": "taxon", "object_type": "person", "inverse": "found", "domain": "bio"},
        ],
        "taxonomy": [["Aza", "is_a", "Bex"], ["Bex", "is_a", "Cor"]],
        "facts": [["Cor", "habitat", "Hol"], ["Aza", "finder", "Pim"]],
        "removed": [],
    }
    base.update(changes)
    return base


def write(tmp_path: Path, data: Any, name: str = "w.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def cli_error(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    rc = main(["world", "--from", str(path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    return err


def test_the_valid_document_loads(tmp_path: Path) -> None:
    world = load_world(write(tmp_path, doc()))
    assert world.object_of("Aza", "habitat") == "Hol"
    assert world.source_of("Aza", "habitat") == "Cor"
    assert [world.level(n) for n in ("Aza", "Bex", "Cor")] == ["leaf", "intermediate", "root"]


def test_a_cycle_in_the_taxonomy_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = doc(taxonomy=[["Aza", "is_a", "Bex"], ["Bex", "is_a", "Cor"], ["Cor", "is_a", "Aza"]])
    with pytest.raises(WorldError, match=r"cycle: (Aza -> Bex -> Cor -> Aza|Bex -> Cor -> Aza -> Bex|Cor -> Aza -> Bex -> Cor)"):
        World.from_dict(bad)
    assert "cycle" in cli_error(write(tmp_path, bad), capsys)


def test_a_self_loop_is_a_cycle() -> None:
    with pytest.raises(WorldError, match="cycle: Aza -> Aza"):
        World.from_dict(doc(taxonomy=[["Aza", "is_a", "Aza"]]))


def test_two_parents_are_rejected() -> None:
    with pytest.raises(WorldError, match="'Aza' has (two parents|a second object for taxonomy)"):
        World.from_dict(doc(taxonomy=[["Aza", "is_a", "Bex"], ["Aza", "is_a", "Cor"]]))


def test_a_fact_on_an_unknown_entity(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = doc(facts=[["Azza", "habitat", "Hol"]])
    with pytest.raises(WorldError, match="unknown entity 'Azza' \\(did you mean 'Aza'\\?\\)"):
        World.from_dict(bad)
    assert "unknown entity 'Azza'" in cli_error(write(tmp_path, bad), capsys)


def test_an_unknown_relation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = doc(facts=[["Aza", "habitats", "Hol"]])
    with pytest.raises(WorldError, match="unknown relation 'habitats' \\(did you mean 'habitat'\\?\\)"):
        World.from_dict(bad)
    assert "unknown relation 'habitats'" in cli_error(write(tmp_path, bad), capsys)


def test_a_second_object_for_a_functional_relation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = doc(facts=[["Cor", "habitat", "Hol"], ["Cor", "habitat", "Hum"]])
    with pytest.raises(WorldError, match="'Cor' has a second object for functional relation 'habitat': 'Hol' and 'Hum'"):
        World.from_dict(bad)
    assert "second object" in cli_error(write(tmp_path, bad), capsys)


def test_a_non_functional_relation_takes_several_objects() -> None:
    relations = doc()["relations"] + [
        {"name": "visits", "subject_type": "taxon", "object_type": "habitat", "functional": False}
    ]
    world = World.from_dict(doc(relations=relations, facts=[["Cor", "visits", "Hol"], ["Cor", "visits", "Hum"]]))
    assert world.objects("Cor", "visits") == ("Hol", "Hum")


def test_two_subjects_for_a_one_to_one_relation() -> None:
    with pytest.raises(WorldError, match="'Aza' and 'Bex' both have 'Pim' for relation 'finder'"):
        World.from_dict(doc(facts=[["Aza", "finder", "Pim"], ["Bex", "finder", "Pim"]]))


def test_a_subject_of_the_wrong_type() -> None:
    with pytest.raises(WorldError, match="subject 'Hol' is a 'habitat' but relation 'habitat' takes a 'taxon'"):
        World.from_dict(doc(facts=[["Hol", "habitat", "Hum"]]))


def test_an_inverse_on_an_inherited_relation_is_rejected() -> None:
    relations = [dict(r) for r in doc()["relations"]]
    relations[1]["inverse"] = "home_of"
    with pytest.raises(WorldError, match="has an inverse .* must be one-to-one"):
        World.from_dict(doc(relations=relations))


def test_invalid_json_names_the_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '{\n  "entities": [\n    {"name": "A",,}\n  ]\n}\n')
    with pytest.raises(WorldError, match="not valid JSON at line 3"):
        load_world(path)
    assert "line 3" in cli_error(path, capsys)


def test_a_document_that_is_not_an_object() -> None:
    with pytest.raises(WorldError, match="must be a JSON object"):
        World.from_dict([1, 2])  # type: ignore[arg-type]


def test_a_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no such file" in cli_error(tmp_path / "nope.json", capsys)


def _schema(tmp_path: Path) -> Path:
    spec = {"relations": doc()["relations"], "domains": ["bio"]}
    return write(tmp_path, spec, "w.schema.json")


def test_tsv_world_loads_with_its_schema(tmp_path: Path) -> None:
    _schema(tmp_path)
    tsv = write(tmp_path, "# a comment\nAza\tis_a\tBex\nBex\tis_a\tCor\n\nCor\thabitat\tHol\n", "w.tsv")
    world = load_world(tsv)  # finds w.schema.json beside it
    assert world.object_of("Aza", "habitat") == "Hol"
    assert world.entities["Hol"].type == "habitat"
    assert world.level("Bex") == "intermediate"


def test_tsv_with_a_bad_line_names_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = _schema(tmp_path)
    tsv = write(tmp_path, "Aza\tis_a\tBex\nBex is_a Cor\n", "w.tsv")
    with pytest.raises(WorldError, match=r"w\.tsv:2: expected 3 tab-separated fields"):
        load_world(tsv, schema)
    rc = main(["world", "--from", str(tsv), "--schema", str(schema)])
    err = capsys.readouterr().err
    assert rc == 2 and "w.tsv:2" in err and "Traceback" not in err


def test_tsv_with_an_unknown_relation_names_the_line(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    tsv = write(tmp_path, "Aza\tis_a\tBex\nAza\tcolour\tRed\n", "w.tsv")
    with pytest.raises(WorldError, match=r"w\.tsv:2: unknown relation 'colour'"):
        load_world(tsv, schema)


def test_tsv_with_a_cycle(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    tsv = write(tmp_path, "Aza\tis_a\tBex\nBex\tis_a\tAza\n", "w.tsv")
    with pytest.raises(WorldError, match="cycle"):
        load_world(tsv, schema)


def test_tsv_with_a_type_clash(tmp_path: Path) -> None:
    schema = _schema(tmp_path)
    tsv = write(tmp_path, "Aza\thabitat\tHol\nHol\tis_a\tAza\n", "w.tsv")
    with pytest.raises(WorldError, match=r"w\.tsv:2: 'Hol' is used as a 'taxon' here but as a 'habitat'"):
        load_world(tsv, schema)


def test_tsv_without_a_schema(tmp_path: Path) -> None:
    tsv = write(tmp_path, "Aza\tis_a\tBex\n", "lonely.tsv")
    with pytest.raises(WorldError, match="needs a relation-schema file"):
        load_world(tsv)


def test_tsv_with_declared_entities_rejects_an_unknown_one(tmp_path: Path) -> None:
    spec = {"relations": doc()["relations"], "entities": doc()["entities"]}
    schema = write(tmp_path, spec, "s.json")
    tsv = write(tmp_path, "Aza\tis_a\tBex\nAza\thabitat\tHxx\n", "w.tsv")
    with pytest.raises(WorldError, match=r"w\.tsv:2: unknown entity 'Hxx'"):
        load_world(tsv, schema)


def test_unknown_domain_and_size_from_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["world", "--domains", "biology,chemistry"]) == 2
    assert "chemistry" in capsys.readouterr().err
    assert main(["world", "--size", "huge"]) == 2
    assert "huge" in capsys.readouterr().err
