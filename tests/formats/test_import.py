"""Importing each format: probe types and families as the mapping tables say, every alias kept,
distractors never an answer's alias, the header naming the source, and bad files named precisely."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import pytest

from ksmith.cli import main
from ksmith.probes import Dataset
from ksmith.probes.formats import import_dataset
from ksmith.probes.formats.common import FormatError, normalise
from tests.formats import samples as S


def kinds(ds: Dataset) -> Counter[tuple[str, str, str | None]]:
    return Counter((p.probe_type, p.family, p.test) for p in ds.probes if not p.condition)


def check_options(ds: Dataset) -> None:
    """Every probe: 4 distinct options, the right ones where the indices say, and no distractor
    that is the text or an alias of a right answer."""
    for p in ds.probes:
        assert len(p.choices) == 4 and len({normalise(c) for c in p.choices}) == 4, p
        rights = {p.answer_before} | ({p.answer_after} if p.answer_after is not None else set())
        right_names = {normalise(n) for j in rights for n in (p.choices[j], *(p.aliases[j] if p.aliases else ()))}
        for j, choice in enumerate(p.choices):
            if j not in rights and (p.task == "edit" or j != p.avoid):
                assert normalise(choice) not in right_names, (p.id, choice)


def imported(tmp_path: Path, fmt: str, records: Any, task: str = "edit", **options: Any) -> Dataset:
    path = S.write(tmp_path / f"{fmt}.json", records)
    ds = import_dataset(fmt, path, task, **options)
    info = ds.source_info
    assert info["format"] == fmt and info["file"] == path.name
    assert info["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    out = tmp_path / f"{fmt}.jsonl"
    ds.to_jsonl(out)
    assert Dataset.from_jsonl(out) == ds  # optional probe keys and the source survive the round trip
    check_options(ds)
    return ds


def test_counterfact_rome_layout(tmp_path: Path) -> None:
    ds = imported(tmp_path, "counterfact", S.COUNTERFACT)
    assert kinds(ds) == Counter({
        ("direct", "Q+", "rewrite"): 4, ("direct", "Q+", "paraphrase"): 5, ("contextual", "Q-", "neighborhood"): 5,
    })
    rewrite = next(p for p in ds.probes if p.id == "counterfact-0/direct/0")
    assert rewrite.prompt == "Mara Quillon was born in" and not rewrite.held_out
    assert rewrite.choices[rewrite.answer_before] == "Oslo" and rewrite.choices[rewrite.answer_after] == "Lisbon"
    # distractors of a P19 question come from P19's answers in the file
    assert set(rewrite.choices) <= {"Oslo", "Lisbon", "New Delhi", "Cairo"}
    neighbour = next(p for p in ds.probes if p.test == "neighborhood")
    assert "Lisbon" in neighbour.choices and neighbour.choices[neighbour.answer_before] == "Oslo"
    assert neighbour.answer_after == neighbour.answer_before
    assert [r.prompt for r in ds.retain] == ["Paul Arneson was born in", "The mother tongue of Rune Sato is"]
    assert all(p.held_out for p in ds.probes if p.test == "paraphrase")
    multi_token = next(p for p in ds.probes if p.intervention_id == "counterfact-2" and p.test == "rewrite")
    assert multi_token.choices[multi_token.answer_after] == "New Delhi"


def test_counterfact_easyedit_layout_and_unlearning(tmp_path: Path) -> None:
    ds = imported(tmp_path, "counterfact", S.COUNTERFACT_EASYEDIT)
    assert ds.source_info["layout"] == "easyedit"
    assert kinds(ds) == Counter({("direct", "Q+", "rewrite"): 2, ("direct", "Q+", "paraphrase"): 2,
                                 ("contextual", "Q-", "neighborhood"): 2})
    forget = imported(tmp_path, "counterfact", S.COUNTERFACT, task="unlearn")
    for p in forget.probes:
        if p.family == "Q+":
            iv = next(i for i in forget.interventions if i.id == p.intervention_id)
            assert p.answer_after is None and p.choices[p.avoid] == iv.old_object  # forgets target_true
    assert all(iv.new_object is None for iv in forget.interventions)


@pytest.mark.parametrize("target, n, new_of_first", [("alt", 2, "Marsh University"), ("answers", 3, "Tern College")])
def test_zsre_both_target_conventions(tmp_path: Path, target: str, n: int, new_of_first: str) -> None:
    ds = imported(tmp_path, "zsre", S.ZSRE, target=target)
    assert ds.source_info["target"] == target
    assert len(ds.interventions) == n  # EasyEdit's convention drops the record with an empty alt
    assert ds.source_info["dropped_empty_alt"] == ("1" if target == "alt" else "0")
    assert ds.interventions[0].new_object == new_of_first
    assert kinds(ds) == Counter({("direct", "Q+", "src"): n, ("direct", "Q+", "rephrase"): n,
                                 ("contextual", "Q-", "loc"): n})
    src = ds.probes[0]
    truth = src.choices.index("Tern College")
    assert src.aliases is not None and src.aliases[truth] == ("Tern Coll.",)  # every answer kept as alias


def test_mquake_cases_are_simultaneous_edits(tmp_path: Path) -> None:
    ds = imported(tmp_path, "mquake", S.MQUAKE)
    assert [iv.id for iv in ds.interventions] == ["mquake-1-0", "mquake-2-0", "mquake-2-1"]
    assert kinds(ds) == Counter({("direct", "Q+", "rewrite"): 3, ("direct", "Q+", "rewrite_question"): 3,
                                 ("multi_hop", "Q+", "multi_hop"): 6, ("contextual", "Q-", "single_hop"): 2})
    hops = [p for p in ds.probes if p.probe_type == "multi_hop"]
    assert {p.hop for p in hops} == {2} and {p.group_rule for p in hops} == {"any"}
    first = hops[0]
    assert first.choices[first.answer_before] == "Tomas Ruud" and first.choices[first.answer_after] == "Ilse Varn"
    assert first.aliases is not None and first.aliases[first.answer_after] == ("President Varn",)
    # single hops no rewrite touches are Q-: case 1's second hop, and case 2's second hop (the edit
    # gives botany a founder; geology's founder is unchanged); first hops are edited
    kept = [p.prompt for p in ds.probes if p.test == "single_hop"]
    assert kept == ["The head of state of Ostland is", "The founder of geology is"]
    assert json.loads(ds.source_info["split"]) == {"2": "2-hop-conflict"}
    # scale keeps a case's rewrites together
    assert [iv.id for iv in ds.take(2).interventions] == ["mquake-1-0", "mquake-2-0", "mquake-2-1"]
    assert [iv.id for iv in ds.take(1).interventions] == ["mquake-1-0"]


def test_ripple_families_conditions_and_recent_edits(tmp_path: Path) -> None:
    ds = imported(tmp_path, "ripple", S.RIPPLE)
    assert kinds(ds) == Counter({
        ("direct", "Q+", "edit"): 2, ("contextual", "Q-", "Relation_Specificity"): 2,
        ("reverse", "Q+", "Logical_Generalization"): 1, ("direct", "Q+", "Subject_Aliasing"): 2,
        ("multi_hop", "Q+", "Compositionality_I"): 1,
    })
    edit = ds.probes[0]
    assert edit.prompt == "The name of the spouse of Arvid Lenk is"
    assert edit.choices[edit.answer_before] == "Maren Voss" and edit.choices[edit.answer_after] == "Sigrun Hale"
    conditions = {p.id: p for p in ds.probes if p.condition}
    assert len(conditions) == 3
    composed = next(p for p in ds.probes if p.test == "Compositionality_I" and not p.condition)
    assert composed.hop == 2 and composed.group_rule == "all" and len(composed.requires) == 1
    assert conditions[composed.requires[0]].prompt == "The name of the mother of Sigrun Hale is"
    aliasing = next(p for p in ds.probes if p.test == "Subject_Aliasing" and p.intervention_id == "ripple-0")
    assert aliasing.held_out and aliasing.requires == ()
    recent = next(iv for iv in ds.interventions if iv.id == "ripple-1")
    assert (recent.new_object, recent.old_object) == ("Bram Tollin", "")  # label from the stored answer
    with pytest.raises(FormatError, match=r"record 1, field 'edit.original_fact' is missing"):
        import_dataset("ripple", S.write(tmp_path / "r.json", S.RIPPLE), "unlearn")


def test_knowedit_keeps_every_alias(tmp_path: Path) -> None:
    ds = imported(tmp_path, "knowedit", S.KNOWEDIT)
    assert kinds(ds) == Counter({
        ("direct", "Q+", "prompt"): 2, ("direct", "Q+", "rephrase"): 2,
        ("direct", "Q+", "portability.Subject_Aliasing"): 1, ("multi_hop", "Q+", "portability.Reasoning"): 1,
        ("multi_hop", "Q+", "portability.Logical_Generalization"): 1,
        ("contextual", "Q-", "locality.Relation_Specificity"): 2, ("contextual", "Q-", "locality.Forgetfulness"): 1,
    })
    reasoning = next(p for p in ds.probes if p.test == "portability.Reasoning")
    assert reasoning.hop == 2 and reasoning.requires == ()  # no stored answer before: always counts
    assert reasoning.aliases[reasoning.answer_after] == ("Nordby City",)
    second = next(p for p in ds.probes if p.intervention_id == "knowedit-1" and p.test == "prompt")
    assert second.choices[second.answer_after] == "architect"
    assert second.aliases[second.answer_after] == ("building designer",)
    forget = imported(tmp_path, "knowedit", S.KNOWEDIT, task="unlearn")
    assert not [p for p in forget.probes if p.test == "portability.Reasoning"]  # nothing old to forget


# -- bad files -----------------------------------------------------------------------------------


def _del(path: list[Any]) -> Callable[[Any], None]:
    def edit(records: Any) -> None:
        node = records
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]
    return edit


def _set(path: list[Any], value: Any) -> Callable[[Any], None]:
    def edit(records: Any) -> None:
        node = records
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value
    return edit


BAD = [
    ("counterfact", S.COUNTERFACT, _del([1, "requested_rewrite", "target_new"]),
     ["counterfact.json", "record 1 (case_id 1)", "'requested_rewrite.target_new'", "missing"]),
    ("counterfact", S.COUNTERFACT, _set([0, "paraphrase_prompts"], "one prompt"),
     ["record 0 (case_id 0)", "'paraphrase_prompts'", "expected a list"]),
    ("counterfact", S.COUNTERFACT, _set([2, "requested_rewrite", "target_true", "str"], " "),
     ["record 2 (case_id 2)", "'requested_rewrite.target_true.str'", "empty"]),
    ("counterfact", S.COUNTERFACT_EASYEDIT, _del([1, "ground_truth"]), ["record 1", "'ground_truth'", "missing"]),
    ("zsre", S.ZSRE, _del([2, "src"]), ["zsre.json", "record 2", "'src'", "missing"]),
    ("zsre", S.ZSRE, _set([0, "answers"], []), ["record 0", "'answers'", "empty"]),
    ("zsre", S.ZSRE, _set([0, "answers"], "Tern College"), ["record 0", "'answers'", "expected a list"]),
    ("mquake", S.MQUAKE, _del([1, "new_answer"]), ["mquake.json", "record 1 (case_id 2)", "'new_answer'", "missing"]),
    ("mquake", S.MQUAKE, _set([0, "requested_rewrite", 0, "prompt"], "is a citizen of"),
     ["record 0 (case_id 1)", "'requested_rewrite[0].prompt'", '"{}"']),
    ("mquake", S.MQUAKE, _set([0, "questions"], [""]), ["record 0 (case_id 1)", "'questions[0]'", "empty"]),
    ("ripple", S.RIPPLE, _del([0, "Logical_Generalization", 0, "test_queries", 0, "answers"]),
     ["ripple.json", "record 0", "'Logical_Generalization[0].test_queries[0].answers'", "missing"]),
    ("ripple", S.RIPPLE, _set([0, "Relation_Specificity", 0, "test_condition"], "XOR"),
     ["record 0", "'Relation_Specificity[0].test_condition'", "OR or AND"]),
    ("ripple", S.RIPPLE, _set([1, "edit", "relation"], 7), ["record 1", "'edit.relation'", "expected a string"]),
    ("knowedit", S.KNOWEDIT, _del([0, "target_new"]), ["knowedit.json", "record 0", "'target_new'", "missing"]),
    ("knowedit", S.KNOWEDIT, _set([1, "locality", "Relation_Specificity", 0, "ground_truth"], [[""]]),
     ["record 1", "'locality.Relation_Specificity[0].ground_truth'", "empty"]),
    ("knowedit", S.KNOWEDIT, _set([0, "portability", "Reasoning", 0, "ground_truth"], [[3]]),
     ["record 0", "'portability.Reasoning[0].ground_truth[0]'", "neither a string nor a list of strings"]),
]


@pytest.mark.parametrize("fmt, records, edit, fragments", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_files_exit_2_naming_record_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str, records: Any, edit: Callable[[Any], None],
    fragments: list[str],
) -> None:
    broken = S.variant(records)
    edit(broken)
    path = S.write(tmp_path / f"{fmt}.json", broken)
    out = tmp_path / "out.jsonl"
    assert main(["data", "import", "--format", fmt, str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not out.exists() and not list(tmp_path.glob(".out*"))  # nothing half-written


def test_files_that_are_not_record_lists(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {"not json": "{oops", "object": json.dumps({"a": 1, "b": 2}), "empty": "[]"}
    for label, text in cases.items():
        path = tmp_path / "x.json"
        path.write_text(text)
        assert main(["data", "import", "--format", "zsre", str(path), "--out", str(tmp_path / "o.jsonl")]) == 2, label
        assert "x.json" in capsys.readouterr().err
    assert main(["data", "import", "--format", "zsre", str(tmp_path / "missing.json"), "--out", "o.jsonl"]) == 2
    assert "no such file" in capsys.readouterr().err


def test_cli_import_writes_the_header(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = S.write(tmp_path / "zsre_mend_eval.json", S.ZSRE)
    out = tmp_path / "z.jsonl"
    assert main(["data", "import", "--format", "zsre", str(path), "--target", "answers", "--out", str(out)]) == 0
    header = json.loads(out.read_text().splitlines()[0])
    assert header["source"]["format"] == "zsre" and header["source"]["file"] == "zsre_mend_eval.json"
    assert header["source"]["target"] == "answers"
    assert header["source"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "3 interventions" in capsys.readouterr().out
    assert main(["data", "import", "--format", "ripple", str(path), "--target", "alt", "--out", str(out)]) == 2
