"""The synthetic domains: schema requirements, sizes, reproducibility, names and corpus."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import pytest

from ksmith.cli import main
from ksmith.world import (
    DOMAINS,
    LEVELS,
    NEUTRAL_OBJECT,
    VAGUE_ANSWERS,
    World,
    build_world,
    load_world,
)
from ksmith.world.templates import fill


@lru_cache(maxsize=4)
def world(size: str = "default", seed: int = 0) -> World:
    return build_world(DOMAINS, size, seed)


@pytest.mark.parametrize("domain", DOMAINS)
def test_each_domain_meets_the_schema_requirements(domain: str) -> None:
    w = build_world([domain], "default", 0)
    taxonomy = [r for r in w.relations.values() if r.taxonomy]
    assert len(taxonomy) == 1
    ttype = taxonomy[0].subject_type
    attrs = [r for r in w.relations.values() if not r.taxonomy]
    assert len(attrs) >= 4
    assert sum(r.inherited for r in attrs) >= 2
    assert sum(r.inverse is not None for r in attrs) >= 1
    # a compositional chain: an attribute of the taxon whose objects have attributes of their own
    assert any(w.relations_of(r.object_type) for r in w.relations_of(ttype))
    taxa = w.entities_of_type(ttype)
    assert max(w.depth(n) for n in taxa) + 1 >= 3  # taxonomy depth of at least 3
    assert set(Counter(w.level(n) for n in taxa)) == set(LEVELS)


@pytest.mark.parametrize("size", ["small", "default"])
@pytest.mark.parametrize("domain", DOMAINS)
def test_every_level_exists_at_small_and_default_size(size: str, domain: str) -> None:
    w = build_world([domain], size, 1)
    ttype = next(r.subject_type for r in w.relations.values() if r.taxonomy)
    assert {w.level(n) for n in w.entities_of_type(ttype)} == set(LEVELS)


def test_sizes_give_the_promised_fact_counts() -> None:
    assert 300 <= len(world("small").all_facts()) <= 600
    assert 2000 <= len(world("default").all_facts()) <= 3000


def test_large_world_is_well_past_20000_facts() -> None:
    assert len(build_world(DOMAINS, "large", 0).all_facts()) > 20000


def test_an_int_size_scales_the_world() -> None:
    small, bigger = build_world(DOMAINS, 20, 0), build_world(DOMAINS, 60, 0)
    assert len(bigger.all_facts()) > 2.5 * len(small.all_facts())


def test_same_arguments_give_the_same_world_byte_for_byte(tmp_path: Path) -> None:
    build_world(DOMAINS, "small", 7).save(tmp_path / "a.json")
    build_world(DOMAINS, "small", 7).save(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    assert build_world(DOMAINS, "small", 8).hash != build_world(DOMAINS, "small", 7).hash
    assert load_world(tmp_path / "a.json") == build_world(DOMAINS, "small", 7)


def test_names_are_single_pronounceable_unique_words() -> None:
    w = world()
    names = list(w.entities)
    assert len(names) == len({n.lower() for n in names})
    for n in names:
        assert re.fullmatch(r"[A-Z][a-z]{3,}", n), n
        assert re.search(r"[aeiou]", n[1:])
    words = {t for line in w.corpus()[:2000] for t in line.split() if not t[0].isupper()}
    assert not {n.lower() for n in names} & words


def test_corpus_renders_every_fact_in_every_held_in_template_and_never_the_held_out_one() -> None:
    w = world("small")
    lines = set(w.corpus())
    for fact in w.all_facts():
        rel = w.relations[fact.relation]
        for i, form in enumerate(rel.templates.cloze):
            line = f"{fill(form, fact.subject)} {fact.object}"
            assert (line in lines) == (i != rel.templates.held_out), line
        for form in rel.templates.questions:
            assert f"{fill(form, fact.subject)} {fact.object}" in lines
        for form in rel.templates.reverse:
            assert f"{fill(form, o=fact.object)} {fact.subject}" in lines


def test_corpus_has_the_neutral_and_vague_answers_and_is_deterministic() -> None:
    w = world("small")
    corpus = w.corpus()
    tokens = {t for line in corpus for t in line.split()}
    assert NEUTRAL_OBJECT in tokens
    assert set(VAGUE_ANSWERS) <= tokens
    assert corpus == build_world(DOMAINS, "small", 0).corpus()
    assert sum(line.endswith(f" {NEUTRAL_OBJECT}") for line in corpus) > 0


def test_gaps_leave_about_five_percent_of_subjects_without_a_relation() -> None:
    w = world()
    for rel in w.relations.values():
        if rel.taxonomy or rel.inherited or rel.subject_type not in w.taxon_types:
            continue
        subjects = w.entities_of_type(rel.subject_type)
        missing = sum(w.object_of(s, rel.name) is None for s in subjects)
        assert 0 < missing / len(subjects) <= 0.1, rel.name


def test_templates_move_the_subject_and_the_held_out_pattern_rotates() -> None:
    w = world("small")
    attrs = [r for r in w.relations.values() if not r.taxonomy]
    for rel in attrs:
        positions = {form.split().index("{s}") / len(form.split()) for form in rel.templates.cloze}
        assert min(positions) == 0 and max(positions) >= 0.5
        # the held-out pattern is held in for another relation of the domain, so it can be learned
        same_domain = [r for r in attrs if r.domain == rel.domain and r is not rel]
        assert any(r.templates.held_out != rel.templates.held_out for r in same_domain)
    assert {r.templates.held_out for r in attrs} == set(range(len(attrs[0].templates.cloze)))


def test_inherited_facts_reach_three_hops_down() -> None:
    w = world()
    hops = {w.depth(f.subject) - w.depth(f.inherited_from) for f in w.all_facts() if f.inherited_from}
    assert {1, 2, 3} <= hops


def test_world_cli_writes_a_loadable_world_and_corpus(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, corpus = tmp_path / "w.json", tmp_path / "c.txt"
    rc = main(["world", "--domains", "biology,physics", "--size", "small", "--seed", "3", "--out", str(out),
               "--corpus", str(corpus)])
    assert rc == 0
    line = capsys.readouterr().out
    assert "biology,physics" in line and "facts" in line
    w = load_world(out)
    assert w == build_world(["biology", "physics"], "small", 3)
    assert corpus.read_text().splitlines() == w.corpus()


def test_graph_view_has_every_entity_and_stated_fact() -> None:
    w = world("small")
    g = w.graph
    assert set(g.nodes) == set(w.entities)
    assert g.number_of_edges() == len(w.stated_facts())
    some = w.stated_facts()[0]
    assert g.has_edge(some.subject, some.object, key=some.relation)
    assert {g.nodes[n]["level"] for n in g.nodes} == set(LEVELS)
