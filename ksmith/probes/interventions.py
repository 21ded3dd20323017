"""Choosing the facts to change: k interventions at one level, none interfering with another.

Candidates are the facts (stated or inherited) of functional attribute relations on taxonomy nodes
at the requested level. They are visited in a seeded round-robin over nodes (every node's first
fact, then every node's second fact, ...), so a batch spreads over as many nodes as it can and
takes several facts per node only when the level has fewer than k nodes. With a model's known set
(only known facts are candidates), each pass is also dealt round-robin over relations (see
`_rotate_relations`). Because the order depends on the seed alone, the first 10 interventions for k = 100 are the interventions for k = 10.

Interference: each intervention *writes* the (subject, relation) pairs whose object it changes
(its own, those of descendants that inherit the fact, and for a one-to-one relation that of the
new object's previous holder) and *reads* the pairs its probes depend on (its writes plus the
second hop of a composition through the old or new object). A candidate is taken only if its
writes miss every read of the batch so far and its reads miss every write, so no intervention
changes a fact another one in the batch depends on, and the expected answers of each stay what
the oracle says.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from ksmith.errors import DatasetError
from ksmith.probes.options import fact_options, subject_gives_away
from ksmith.probes.types import TASKS, Intervention
from ksmith.world.schema import LEVELS, Relation
from ksmith.world.templates import fill
from ksmith.world.world import World

Pair = tuple[str, str]


@dataclass(frozen=True)
class Footprint:
    """What an intervention changes (`writes`) and what its probes depend on (`reads`)."""

    writes: frozenset[Pair]
    reads: frozenset[Pair]


def held_in_prompts(relation: Relation, mention: str) -> tuple[str, ...]:
    """The cloze prompts of a fact that the training corpus shows (held-out paraphrase excluded),
    the subject named by its `mention`."""
    tpl = relation.templates
    return tuple(fill(c, mention) for i, c in enumerate(tpl.cloze) if i != tpl.held_out or len(tpl.cloze) == 1)


def inheritors(world: World, subject: str, relation: str) -> list[tuple[str, int]]:
    """Descendants whose object of `relation` flows from `subject` (none of the nodes in between
    states or removes it), with their distance, nearest first: what changing the fact reaches."""
    if not world.relations[relation].inherited:
        return []
    out: list[tuple[str, int]] = []
    frontier = [subject]
    hop = 0
    while frontier:
        hop += 1
        frontier = [d for p in frontier for d in world.children(p)
                    if not world.is_stated(d, relation) and (d, relation) not in world.removed]
        out.extend((d, hop) for d in frontier)
    return out


def footprint(world: World, subject: str, relation: str, new_object: str | None) -> Footprint:
    """Writes and reads of changing (subject, relation) to `new_object` (None = unlearn)."""
    rel = world.relations[relation]
    writes = {(subject, relation)}
    writes.update((d, relation) for d, _ in inheritors(world, subject, relation))
    if rel.inverse is not None and new_object is not None:
        writes.update((h, relation) for h in world.subjects_with(relation, new_object) if h != subject)
    reads = set(writes)
    old = world.object_of(subject, relation)
    for rel2 in world.relations_of(rel.object_type):
        for obj in (old, new_object):
            if obj is not None:
                reads.add((obj, rel2.name))
    return Footprint(frozenset(writes), frozenset(reads))


def _new_object(
    world: World, rel: Relation, subject: str, old: str, options: tuple[str, ...], rng: random.Random
) -> str | None:
    """The edit target: one of the wrong options of the fact's question (`fact_options`), so the
    direct probe is the known set's question; preferably one whose own attributes differ from the
    old object's (so 2-hop answers change), never one the subject's name gives away."""
    cands = [c for c in options if c != old and not subject_gives_away(world, subject, c)]
    if not cands:
        return None
    rng.shuffle(cands)
    chain = [r2.name for r2 in world.relations_of(rel.object_type) if r2.functional]
    return next((c for c in cands if all(world.object_of(c, r2) != world.object_of(old, r2) for r2 in chain)), cands[0])


def _check_args(world: World, task: str, level: str, k: int) -> None:
    if task not in TASKS:
        raise DatasetError(f"unknown task '{task}'; choose one of {', '.join(TASKS)}")
    if level not in LEVELS:
        raise DatasetError(f"unknown level '{level}'; choose one of {', '.join(LEVELS)}")
    if isinstance(k, bool) or not isinstance(k, int) or k < 0:
        raise DatasetError(f"scale k={k!r} must be a non-negative integer")


def select_with_footprints(
    world: World,
    task: str,
    level: str,
    k: int,
    seed: int,
    domains: Sequence[str] | None = None,
    known: Collection[Pair] | None = None,
) -> list[tuple[Intervention, Footprint]]:
    """`select_interventions`, also returning each intervention's footprint.

    known: when given, only these (subject, relation) facts are candidates (a model's known set),
    so `k` counts facts the model really knew; the error for too large a `k` then names the
    model's maximum.
    """
    _check_args(world, task, level, k)
    if domains is not None:
        unknown = [d for d in domains if d not in world.domains]
        if unknown:
            raise DatasetError(f"domain(s) {unknown} are not in this world (it has {', '.join(world.domains)})")
    wanted = set(domains) if domains is not None else set(world.domains)
    if k == 0:
        return []
    rng = random.Random(f"ksmith-select:{seed}:{task}:{level}")
    nodes = [
        n for t in sorted(world.taxon_types) for n in world.entities_of_type(t)
        if world.entities[n].domain in wanted and world.level(n) == level
    ]
    rng.shuffle(nodes)
    per_node: list[list[Relation]] = []
    for n in nodes:
        rels = [r for r in world.relations_of(world.entities[n].type)
                if r.functional and world.object_of(n, r.name) is not None
                and not subject_gives_away(world, n, world.object_of(n, r.name))
                and (known is None or (n, r.name) in known)]
        rng.shuffle(rels)
        per_node.append(rels)
    chosen: list[tuple[Intervention, Footprint]] = []
    all_writes: set[Pair] = set()
    all_reads: set[Pair] = set()
    depth = max((len(r) for r in per_node), default=0)
    prefix = f"{task}-{level}-s{seed}"
    for p in range(depth):
        order = [(n, rels[p]) for n, rels in zip(nodes, per_node) if p < len(rels)]
        if known is not None:
            order = _rotate_relations(world, order)
        for n, rel in order:
            old = world.object_of(n, rel.name)
            assert old is not None
            options = fact_options(world, n, rel.name, old)
            if options is None:
                continue  # no four-option question: nothing to probe
            new = _new_object(world, rel, n, old, options, rng) if task == "edit" else None
            if task == "edit" and new is None:
                continue
            fp = footprint(world, n, rel.name, new)
            if not fp.writes.isdisjoint(all_reads) or not fp.reads.isdisjoint(all_writes):
                continue
            iv = Intervention(
                id=f"{prefix}-{len(chosen):05d}",
                task=task,
                subject=n,
                relation=rel.name,
                old_object=old,
                new_object=new,
                domain=world.entities[n].domain,
                level=level,
                prompts=held_in_prompts(rel, world.mention(n)),
            )
            chosen.append((iv, fp))
            all_writes |= fp.writes
            all_reads |= fp.reads
            if len(chosen) == k:
                return chosen
    where = f" in domain(s) {', '.join(sorted(wanted))}" if domains is not None else ""
    if known is not None:
        raise DatasetError(
            f"k={k} is more than this model knows at level '{level}'{where} for task '{task}': at most "
            f"{len(chosen)} non-interfering interventions among its known facts (seed {seed}); "
            "use a smaller scale or another level"
        )
    raise DatasetError(
        f"k={k} is more than level '{level}'{where} of this world can give for task '{task}': "
        f"at most {len(chosen)} non-interfering interventions (seed {seed}); "
        "use a smaller scale or a larger world (--size)"
    )


def _rotate_relations(world: World, order: list[tuple[str, Relation]]) -> list[tuple[str, Relation]]:
    """The same candidates, dealt round-robin over their relations: first the relations whose
    probes reach further (one-to-one ones, with reverse probes, and those whose object has facts of
    its own, with 2-hop probes), then the rest, each group in first-seen order.

    Used with a known set: on a real world one relation can hold most of a level's facts (the
    economics domain has four facts per country) and a level has some fifteen relations, so without
    it a small batch would often include no one-to-one or chained relation, and reverse or 2-hop
    probes would be missing. The order still depends on the seed alone, so the first 10 of k = 100
    are still k = 10.
    """
    groups: dict[str, list[tuple[str, Relation]]] = {}
    for item in order:
        groups.setdefault(item[1].name, []).append(item)

    def reaches(rel: Relation) -> bool:
        return rel.inverse is not None or any(r.functional for r in world.relations_of(rel.object_type))

    lanes = sorted(groups.values(), key=lambda lane: not reaches(lane[0][1]))  # stable: first-seen within
    out: list[tuple[str, Relation]] = []
    for i in range(max((len(lane) for lane in lanes), default=0)):
        out.extend(lane[i] for lane in lanes if i < len(lane))
    return out


def select_interventions(
    world: World,
    task: str,
    level: str,
    k: int,
    seed: int,
    domains: Sequence[str] | None = None,
) -> tuple[Intervention, ...]:
    """k non-interfering interventions whose subjects are at `level` (see the module docstring).

    Raises `DatasetError` naming the maximum when the level cannot give k of them.
    """
    return tuple(iv for iv, _ in select_with_footprints(world, task, level, k, seed, domains))
