"""Property tests of `World` on random valid worlds (random forests, random relation schemas)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksmith.probes.types import Intervention
from ksmith.world import LEVELS, World
from ksmith.world.strategies import worlds

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def brute_force_object(world: World, node: str, relation: str) -> tuple[str, ...]:
    """Walk up from the node: its own stated object, else (inherited relations only) the nearest
    ancestor's, stopping at a removed fact."""
    rel = world.relations[relation]
    data = world.to_dict()
    stated: dict[tuple[str, str], list[str]] = {}
    for s, r, o in data["facts"]:
        stated.setdefault((s, r), []).append(o)
    removed = {tuple(p) for p in data["removed"]}
    parent = {c: p for c, _r, p in data["taxonomy"]}
    cur: str | None = node
    while cur is not None:
        if (cur, relation) in stated:
            return tuple(sorted(stated[(cur, relation)]))
        if (cur, relation) in removed or not rel.inherited:
            return ()
        cur = parent.get(cur)
    return ()


@SETTINGS
@given(worlds())
def test_levels_partition_the_nodes(world: World) -> None:
    for name in world.entities:
        level = world.level(name)
        assert level in LEVELS
        has_parent = world.parent(name) is not None
        has_children = bool(world.children(name))
        assert (level == "root") == (not has_parent)
        assert (level == "leaf") == (has_parent and not has_children)
        assert (level == "intermediate") == (has_parent and has_children)


@SETTINGS
@given(worlds())
def test_inherited_facts_equal_a_brute_force_recomputation(world: World) -> None:
    for name, ent in world.entities.items():
        got = {(f.relation, f.object) for f in world.facts(name) if not world.relations[f.relation].taxonomy}
        want = {
            (rel.name, o)
            for rel in world.relations_of(ent.type)
            for o in brute_force_object(world, name, rel.name)
        }
        assert got == want
        for f in world.facts(name):
            if f.inherited_from is not None:
                assert f.inherited_from in world.ancestors(name)
                assert world.is_stated(f.inherited_from, f.relation)


@SETTINGS
@given(worlds())
def test_all_facts_is_the_union_of_facts(world: World) -> None:
    assert list(world.all_facts()) == [f for n in sorted(world.entities) for f in world.facts(n)]
    assert set(world.stated_facts()) <= set(world.all_facts())


@SETTINGS
@given(worlds())
def test_json_round_trip_keeps_the_world(world: World) -> None:
    again = World.from_dict(world.to_dict())
    assert again == world
    assert again.hash == world.hash
    assert again.all_facts() == world.all_facts()
    rebuilt = World(world.entities.values(), world.relations.values(), world.stated_facts(), world.removed)
    assert rebuilt == world


@SETTINGS
@given(worlds(), st.data())
def test_unlearning_removes_the_fact_from_the_subtree(world: World, data: st.DataObject) -> None:
    pairs = [
        (n, r.name)
        for n, e in world.entities.items()
        for r in world.relations_of(e.type)
        if r.functional and world.object_of(n, r.name) is not None
    ]
    if not pairs:
        return
    s, r = data.draw(st.sampled_from(pairs))
    old = world.object_of(s, r)
    after = world.apply([Intervention("x", "unlearn", s, r, old, None, "", "", ())])
    assert after.object_of(s, r) is None
    for d in world.descendants(s):
        between = [d, *world.ancestors(d)][: world.depth(d) - world.depth(s)]
        if world.relations[r].inherited and not any(world.is_stated(x, r) for x in between):
            assert after.object_of(d, r) is None  # it inherited the fact through s
        else:
            assert after.object_of(d, r) == world.object_of(d, r)
    inside = {s, *world.descendants(s)}
    for n in world.entities:
        if n not in inside:
            assert after.facts(n) == world.facts(n)


@SETTINGS
@given(worlds(), st.data())
def test_edit_overrides_and_propagates_to_inheritors(world: World, data: st.DataObject) -> None:
    pairs = [
        (n, r)
        for n, e in world.entities.items()
        for r in world.relations_of(e.type)
        if r.functional and r.inverse is None and world.object_of(n, r.name) is not None
    ]
    if not pairs:
        return
    s, rel = data.draw(st.sampled_from(pairs))
    old = world.object_of(s, rel.name)
    new = data.draw(st.sampled_from([o for o in world.entities_of_type(rel.object_type) if o != old]))
    after = world.apply([Intervention("x", "edit", s, rel.name, old, new, "", "", ())])
    assert after.object_of(s, rel.name) == new
    assert after.is_stated(s, rel.name)
    for d in world.descendants(s):
        if rel.inherited and world.object_of(d, rel.name) == old and not any(
            world.is_stated(x, rel.name) for x in [d, *world.ancestors(d)][: world.depth(d) - world.depth(s)]
        ):
            assert after.object_of(d, rel.name) == new
    assert world.object_of(s, rel.name) == old  # the original is untouched


@SETTINGS
@given(worlds(max_domains=1), st.data())
def test_one_to_one_edit_takes_the_object_from_its_holder(world: World, data: st.DataObject) -> None:
    cands = [
        (n, r)
        for n, e in world.entities.items()
        for r in world.relations_of(e.type)
        if r.inverse is not None and world.object_of(n, r.name) is not None
    ]
    if not cands:
        return
    s, rel = data.draw(st.sampled_from(cands))
    old = world.object_of(s, rel.name)
    new = data.draw(st.sampled_from([o for o in world.entities_of_type(rel.object_type) if o != old]))
    holders = world.subjects_with(rel.name, new)
    after = world.apply([Intervention("x", "edit", s, rel.name, old, new, "", "", ())])
    assert after.subjects_with(rel.name, new) == (s,)
    assert after.subjects_with(rel.name, old) == ()
    for h in holders:
        assert after.object_of(h, rel.name) is None
