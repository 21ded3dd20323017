"""The generator's properties on the real world: every expected answer agrees with the oracle, no
distractor is a true answer, reverse probes agree with direct ones, and edits and unlearning follow
inheritance. Each prompt is read back into the fact it asks (the probe's `asks`, checked against
the relation's own forms) and its options are judged from the world's facts alone."""

from __future__ import annotations

from functools import lru_cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksmith.probes import build_dataset
from ksmith.probes.types import Intervention
from ksmith.world import World
from ksmith.world.real import load_real_world
from probes.oracle import RealOracle

SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@lru_cache(maxsize=1)
def real() -> World:
    return load_real_world()


params = st.tuples(st.sampled_from(("edit", "unlearn")), st.sampled_from(("leaf", "intermediate")),
                   st.integers(1, 12), st.integers(0, 50))


@SETTINGS
@given(params)
def test_answers_follow_the_oracle_and_no_distractor_is_true(p: tuple) -> None:
    task, level, k, seed = p
    world = real()
    ds = build_dataset(world, task, level, k, seed)
    after = world.apply(ds.interventions)
    oracle = RealOracle(world)
    for probe in ds.probes:
        readings = [a for a in oracle.parse(probe)
                    if [i for i, c in enumerate(probe.choices) if oracle.right(world, a, c)] == [probe.answer_before]]
        assert readings, probe  # exactly one option is true before, and it is the expected one
        asked = readings[0]
        after_right = [i for i, c in enumerate(probe.choices) if oracle.right(after, asked, c)]
        if probe.family == "Q-":
            assert after_right == [probe.answer_before], probe
        elif task == "edit":
            assert after_right == [probe.answer_after], probe
        else:
            assert after_right == [], probe


@SETTINGS
@given(params)
def test_reverse_probes_agree_with_direct_probes(p: tuple) -> None:
    task, level, k, seed = p
    world = real()
    ds = build_dataset(world, task, "leaf", k, seed)
    by_iv = {iv.id: iv for iv in ds.interventions}
    direct = {d.intervention_id: d for d in ds.probes_of("direct") if d.paraphrase_id == 0}
    for rev in ds.probes_of("reverse"):
        iv, d = by_iv[rev.intervention_id], direct[rev.intervention_id]
        q = iv.new_object if task == "edit" else iv.old_object
        for ans_rev, ans_dir in ((rev.answer_before, d.answer_before), (rev.answer_after, d.answer_after)):
            says_rev = ans_rev is not None and rev.choices[ans_rev] == world.mention(iv.subject)
            says_dir = ans_dir is not None and d.choices[ans_dir] == q
            assert says_rev == says_dir


def _facts(world: World, inherited: bool | None = None, one_to_one: bool = False) -> list[tuple[str, str]]:
    return [
        (n, r.name)
        for t in sorted(world.taxon_types) for n in world.entities_of_type(t)
        for r in world.relations_of(t)
        if world.object_of(n, r.name) is not None
        and (inherited is None or r.inherited == inherited) and (r.inverse is not None) == one_to_one
    ]


@SETTINGS
@given(st.data())
def test_edits_and_unlearning_follow_inheritance(data: st.DataObject) -> None:
    world = real()
    s, r = data.draw(st.sampled_from(_facts(world, inherited=True)))
    old = world.object_of(s, r)
    new = data.draw(st.sampled_from([o for o in world.object_pool(r, old) if o != old]))
    edited = world.apply([Intervention("x", "edit", s, r, old, new, "", "", ())])
    gone = world.apply([Intervention("x", "unlearn", s, r, old, None, "", "", ())])
    assert edited.object_of(s, r) == new and gone.object_of(s, r) is None
    for d in world.descendants(s):
        path = [d, *world.ancestors(d)][: world.depth(d) - world.depth(s)]
        if not any(world.is_stated(x, r) for x in path):  # it inherits the fact through s
            assert edited.object_of(d, r) == new and gone.object_of(d, r) is None
        else:
            assert edited.object_of(d, r) == world.object_of(d, r) == gone.object_of(d, r)


@SETTINGS
@given(st.data())
def test_one_to_one_edit_takes_the_object_from_its_holder(data: st.DataObject) -> None:
    world = real()
    s, r = data.draw(st.sampled_from(_facts(world, one_to_one=True)))
    old = world.object_of(s, r)
    new = data.draw(st.sampled_from([o for o in world.object_pool(r, old) if o != old]))
    holders = world.subjects_with(r, new)
    after = world.apply([Intervention("x", "edit", s, r, old, new, "", "", ())])
    assert after.subjects_with(r, new) == (s,) and after.subjects_with(r, old) == ()
    for h in holders:
        assert after.object_of(h, r) is None
