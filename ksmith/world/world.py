"""`World`: a knowledge graph with a taxonomy forest, levels and inherited facts.

A world is immutable. It keeps its *stated* facts (what a builder or a file says) and derives the
*inherited closure* once, on first use: a fact of an inherited relation on a node holds for every
descendant unless the descendant states its own object (an override) or the fact was removed there
(a tombstone left by unlearning, which blocks inheritance below that node, so unlearning a fact
from a node removes it from the subtree instead of exposing the parent's object).

`apply(interventions)` is the oracle every expected answer comes from: it returns a copy with the
interventions applied and the closure re-derived.

One-to-one relations (those with an `inverse`): each object names exactly one subject, so an edit
that gives subject S the object O takes O from its previous holder X, whose fact is removed. That
is what makes a reverse probe ("O is the founder of ...") have exactly one right answer in the world
before the edit (X) and after it (S).

Levels: `root` (no parent; an entity outside every taxonomy also counts as a root), `leaf` (a
parent and no children) and `intermediate` (both).

`World.graph` is the world as a `networkx.MultiDiGraph` (entities as nodes, stated facts as keyed
edges) for graph algorithms; it is built on first use, while the closure and the per-fact queries
the probe generator makes millions of times run on plain dict indexes.
"""

from __future__ import annotations

import difflib
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ksmith.cache import stable_hash
from ksmith.errors import WorldError
from ksmith.world.document import FORMAT, FORMAT_VERSION, relation_to_dict
from ksmith.world.schema import (
    DISTRACTOR_POOLS,
    Change,
    Entity,
    Fact,
    Relation,
)
from ksmith.world.shapes import same_shape

if TYPE_CHECKING:
    import networkx as nx

#: JSON format name and version written by `World.to_dict`.

_Effective = dict[str, tuple[tuple[str, ...], "str | None"]]


def _suggest(name: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


class World:
    """A knowledge graph: entities, relations (with templates), stated facts, tombstones.

    Build one with `ksmith.world.build_world`, `load_world`, or `World.from_dict`; the constructor
    validates everything and raises `WorldError` naming the first problem.
    """

    def __init__(
        self,
        entities: Iterable[Entity],
        relations: Iterable[Relation],
        facts: Iterable[tuple[str, str, str] | Fact],
        removed: Iterable[tuple[str, str]] = (),
        domains: Sequence[str] | None = None,
        also: Iterable[tuple[str, str, str]] = (),
    ) -> None:
        ents: dict[str, Entity] = {}
        for ent in entities:
            if not isinstance(ent.name, str) or not ent.name.strip():
                raise WorldError(f"entity {ent!r} has an empty name; give every entity a name")
            if ent.name in ents:
                raise WorldError(f"entity '{ent.name}' is declared twice; entity names must be unique")
            if ent.mention is not None and ent.name not in ent.mention:
                raise WorldError(
                    f"entity '{ent.name}': its mention {ent.mention!r} must contain the name verbatim "
                    "(locate-then-edit methods find the subject in a prompt by its name), e.g. 'the dog' for 'dog'"
                )
            ents[ent.name] = ent
        rels: dict[str, Relation] = {}
        for rel in relations:
            if rel.name in rels:
                raise WorldError(f"relation '{rel.name}' is declared twice; relation names must be unique")
            if rel.inverse is not None and (rel.inherited or not rel.functional or rel.taxonomy):
                raise WorldError(
                    f"relation '{rel.name}' has an inverse ('{rel.inverse}'), so it must be one-to-one: "
                    "make it functional, not inherited and not a taxonomy relation, or drop the inverse"
                )
            if rel.distractors not in DISTRACTOR_POOLS:
                raise WorldError(
                    f"relation '{rel.name}': distractors={rel.distractors!r}; use one of {', '.join(DISTRACTOR_POOLS)}"
                )
            if rel.taxonomy and rel.inherited:
                raise WorldError(f"taxonomy relation '{rel.name}' cannot itself be inherited")
            if rel.taxonomy and rel.subject_type != rel.object_type:
                raise WorldError(
                    f"taxonomy relation '{rel.name}' links a '{rel.subject_type}' to a '{rel.object_type}'; "
                    "taxonomy edges must join entities of one type"
                )
            tpl = rel.templates
            if tpl.cloze and not 0 <= tpl.held_out < len(tpl.cloze):
                raise WorldError(f"relation '{rel.name}': held_out={tpl.held_out} is not a cloze template index")
            rels[rel.name] = rel
        stated: dict[tuple[str, str], tuple[str, ...]] = {}
        for triple in facts:
            if isinstance(triple, Fact):
                triple = (triple.subject, triple.relation, triple.object)
            if len(triple) != 3:
                raise WorldError(f"fact {list(triple)!r} is not a (subject, relation, object) triple")
            s, r, o = triple
            rel = rels.get(r)
            if rel is None:
                raise WorldError(
                    f"fact ({s}, {r}, {o}): unknown relation '{r}'{_suggest(r, rels)}; "
                    "declare it in the relation schema"
                )
            for role, name, want in (("subject", s, rel.subject_type), ("object", o, rel.object_type)):
                ent = ents.get(name)
                if ent is None:
                    raise WorldError(
                        f"fact ({s}, {r}, {o}): unknown entity '{name}'{_suggest(name, ents)}; "
                        "declare it in 'entities'"
                    )
                if ent.type != want:
                    raise WorldError(
                        f"fact ({s}, {r}, {o}): {role} '{name}' is a '{ent.type}' but relation '{r}' "
                        f"takes a '{want}' {role}"
                    )
            prev = stated.get((s, r), ())
            if o in prev:
                continue
            if prev and (rel.functional or rel.taxonomy):
                kind = "taxonomy" if rel.taxonomy else "functional"
                raise WorldError(
                    f"'{s}' has a second object for {kind} relation '{r}': '{prev[0]}' and '{o}'; "
                    "keep one of them"
                    + (" (a taxonomy node has one parent)" if rel.taxonomy else "")
                )
            stated[(s, r)] = tuple(sorted(prev + (o,)))
        tombs: set[tuple[str, str]] = set()
        for pair in removed:
            s, r = pair
            if s not in ents or r not in rels:
                raise WorldError(f"removed fact ({s}, {r}): unknown entity or relation")
            if (s, r) in stated:
                raise WorldError(f"fact ({s}, {r}) is both stated and removed; keep one")
            tombs.add((s, r))
        if domains is None:
            seen = dict.fromkeys(e.domain for e in ents.values())
            domains = tuple(seen)
        self._init(ents, rels, stated, frozenset(tombs), tuple(domains), validate=True)
        self._also = self._check_also(also)

    # -- construction --------------------------------------------------------------------------

    def _init(
        self,
        ents: dict[str, Entity],
        rels: dict[str, Relation],
        stated: dict[tuple[str, str], tuple[str, ...]],
        removed: frozenset[tuple[str, str]],
        domains: tuple[str, ...],
        *,
        validate: bool,
    ) -> None:
        self._entities = ents
        self._relations = rels
        self._stated = stated
        self._removed = removed
        self._domains = domains
        parent: dict[str, str] = {}
        parent_rel: dict[str, str] = {}
        children: dict[str, list[str]] = defaultdict(list)
        by_subject: dict[str, dict[str, tuple[str, ...]]] = defaultdict(dict)
        for (s, r), objs in stated.items():
            rel = rels[r]
            if rel.taxonomy:
                if validate and s in parent:
                    raise WorldError(
                        f"'{s}' has two parents: '{parent[s]}' (via {parent_rel[s]}) and '{objs[0]}' "
                        f"(via {r}); the taxonomy must be a forest"
                    )
                parent[s] = objs[0]
                parent_rel[s] = r
                children[objs[0]].append(s)
            else:
                by_subject[s][r] = objs
        for kids in children.values():
            kids.sort()
        self._parent = parent
        self._parent_rel = parent_rel
        self._children = dict(children)
        self._by_subject = dict(by_subject)
        if validate:
            self._check_forest()
            self._check_one_to_one()

    def _check_also(self, also: Iterable[tuple[str, str, str]]) -> dict[tuple[str, str], tuple[str, ...]]:
        """Other true answers of (subject, relation): each names a stated fact's subject and
        relation, an entity of the object type, and is not the stated object itself."""
        out: dict[tuple[str, str], tuple[str, ...]] = {}
        for s, r, o in also:
            rel = self._relations.get(r)
            if rel is None or rel.taxonomy or rel.inverse is not None:
                raise WorldError(
                    f"other true answer ({s}, {r}, {o}): '{r}' must be an attribute relation without an inverse"
                )
            ent = self._entities.get(o)
            if s not in self._entities or ent is None or ent.type != rel.object_type:
                raise WorldError(f"other true answer ({s}, {r}, {o}): unknown subject, or '{o}' is not a '{rel.object_type}'")
            if o in self._stated.get((s, r), ()):
                raise WorldError(f"other true answer ({s}, {r}, {o}) is the stated fact itself; keep one")
            out[(s, r)] = tuple(sorted({*out.get((s, r), ()), o}))
        return out

    @classmethod
    def _derived(
        cls,
        base: World,
        stated: dict[tuple[str, str], tuple[str, ...]],
        removed: frozenset[tuple[str, str]],
    ) -> World:
        """A world sharing `base`'s entities and relations (already validated) with new facts."""
        world = cls.__new__(cls)
        world._init(base._entities, base._relations, stated, removed, base._domains, validate=False)
        world._also = base._also
        return world

    def _check_forest(self) -> None:
        state: dict[str, int] = {}  # 1 = on the current path, 2 = done
        for start in self._parent:
            path: list[str] = []
            node: str | None = start
            while node is not None and state.get(node) is None:
                state[node] = 1
                path.append(node)
                node = self._parent.get(node)
            if node is not None and state[node] == 1:
                cycle = path[path.index(node):] + [node]
                raise WorldError(
                    "the taxonomy has a cycle: " + " -> ".join(cycle) + "; remove one of these edges"
                )
            for visited in path:
                state[visited] = 2

    def _check_one_to_one(self) -> None:
        holders: dict[tuple[str, str], str] = {}
        for (s, r), objs in self._stated.items():
            if self._relations[r].inverse is None:
                continue
            for o in objs:
                other = holders.setdefault((r, o), s)
                if other != s:
                    raise WorldError(
                        f"'{other}' and '{s}' both have '{o}' for relation '{r}', which has an inverse "
                        f"('{self._relations[r].inverse}') and so is one-to-one; give each object one subject"
                    )

    # -- the schema ----------------------------------------------------------------------------

    @property
    def entities(self) -> Mapping[str, Entity]:
        return MappingProxyType(self._entities)

    @property
    def relations(self) -> Mapping[str, Relation]:
        return MappingProxyType(self._relations)

    @property
    def domains(self) -> tuple[str, ...]:
        return self._domains

    @property
    def removed(self) -> frozenset[tuple[str, str]]:
        """(subject, relation) pairs removed by unlearning; they block inheritance below them."""
        return self._removed

    def relations_of(self, entity_type: str) -> tuple[Relation, ...]:
        """Non-taxonomy relations whose subject is of `entity_type`, in schema order."""
        return self._relations_by_type.get(entity_type, ())

    @cached_property
    def _relations_by_type(self) -> dict[str, tuple[Relation, ...]]:
        out: dict[str, list[Relation]] = defaultdict(list)
        for rel in self._relations.values():
            if not rel.taxonomy:
                out[rel.subject_type].append(rel)
        return {k: tuple(v) for k, v in out.items()}

    @cached_property
    def _types(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = defaultdict(list)
        for name in sorted(self._entities):
            out[self._entities[name].type].append(name)
        return {k: tuple(v) for k, v in out.items()}

    def entities_of_type(self, entity_type: str) -> tuple[str, ...]:
        """Names of all entities of a type, sorted."""
        return self._types.get(entity_type, ())

    @cached_property
    def taxon_types(self) -> frozenset[str]:
        """Entity types that a taxonomy relation organises (the types interventions apply to)."""
        return frozenset(r.subject_type for r in self._relations.values() if r.taxonomy)

    # -- the taxonomy --------------------------------------------------------------------------

    def _require(self, node: str) -> None:
        if node not in self._entities:
            raise WorldError(f"unknown entity '{node}'{_suggest(node, self._entities)}")

    def parent(self, node: str) -> str | None:
        self._require(node)
        return self._parent.get(node)

    def children(self, node: str) -> tuple[str, ...]:
        self._require(node)
        return tuple(self._children.get(node, ()))

    def ancestors(self, node: str) -> tuple[str, ...]:
        """Ancestors, nearest first."""
        self._require(node)
        out = []
        cur = self._parent.get(node)
        while cur is not None:
            out.append(cur)
            cur = self._parent.get(cur)
        return tuple(out)

    def descendants(self, node: str) -> tuple[str, ...]:
        """Descendants in breadth-first order (children first, then grandchildren, ...)."""
        self._require(node)
        out: list[str] = []
        queue = deque(self._children.get(node, ()))
        while queue:
            cur = queue.popleft()
            out.append(cur)
            queue.extend(self._children.get(cur, ()))
        return tuple(out)

    def level(self, node: str) -> str:
        """`root` (no parent), `leaf` (a parent, no children) or `intermediate`."""
        self._require(node)
        if node not in self._parent:
            return "root"
        return "intermediate" if node in self._children else "leaf"

    def depth(self, node: str) -> int:
        """Distance to the node's root (0 for a root)."""
        return len(self.ancestors(node))

    # -- facts ---------------------------------------------------------------------------------

    @cached_property
    def _closure(self) -> dict[str, _Effective]:
        """node -> relation -> (objects, inherited_from); computed once per world."""
        rels = self._relations
        eff: dict[str, _Effective] = {}
        for s, by_rel in self._by_subject.items():
            eff[s] = {r: (objs, None) for r, objs in by_rel.items()}
        inherited_by_type: dict[str, list[str]] = defaultdict(list)
        for rel in rels.values():
            if rel.inherited:
                inherited_by_type[rel.subject_type].append(rel.name)
        roots = [n for n in self._children if n not in self._parent]
        queue = deque(sorted(roots))
        removed = self._removed
        while queue:
            node = queue.popleft()
            kids = self._children.get(node, ())
            queue.extend(kids)
            up = eff.get(node)
            if not up:
                continue
            for kid in kids:
                names = inherited_by_type.get(self._entities[kid].type, ())
                mine = eff.get(kid)
                for r in names:
                    got = up.get(r)
                    if got is None or (mine is not None and r in mine) or (kid, r) in removed:
                        continue
                    if mine is None:
                        mine = eff[kid] = {}
                    mine[r] = (got[0], got[1] if got[1] is not None else node)
        return eff

    def _fact_list(self, node: str) -> list[Fact]:
        out: list[Fact] = []
        par = self._parent.get(node)
        if par is not None:
            out.append(Fact(node, self._parent_rel[node], par))
        eff = self._closure.get(node)
        if eff:
            for rel in self.relations_of(self._entities[node].type):
                got = eff.get(rel.name)
                if got is not None:
                    out.extend(Fact(node, rel.name, o, got[1]) for o in got[0])
        return out

    def facts(self, node: str) -> tuple[Fact, ...]:
        """Stated and inherited facts of a node (taxonomy edge first); inherited ones carry
        `inherited_from`."""
        self._require(node)
        return tuple(self._fact_list(node))

    def stated_facts(self) -> tuple[Fact, ...]:
        """Every stated fact (taxonomy edges included), sorted."""
        return tuple(sorted(Fact(s, r, o) for (s, r), objs in self._stated.items() for o in objs))

    def all_facts(self) -> tuple[Fact, ...]:
        """The closure: every stated and inherited fact of every node, in entity order."""
        out: list[Fact] = []
        for name in sorted(self._entities):
            out.extend(self._fact_list(name))
        return tuple(out)

    def objects(self, subject: str, relation: str) -> tuple[str, ...]:
        """All objects of (subject, relation), stated or inherited (empty when none)."""
        rel = self._relations.get(relation)
        if rel is not None and rel.taxonomy:
            return self._stated.get((subject, relation), ())
        got = self._closure.get(subject, {}).get(relation)
        return got[0] if got else ()

    def object_of(self, subject: str, relation: str) -> str | None:
        """The object of (subject, relation), stated or inherited; None when there is none (the
        first object, sorted, for a non-functional relation)."""
        objs = self.objects(subject, relation)
        return objs[0] if objs else None

    def source_of(self, subject: str, relation: str) -> str | None:
        """The node a fact is inherited from, or None when it is stated (or absent)."""
        got = self._closure.get(subject, {}).get(relation)
        return got[1] if got else None

    def true_objects(self, subject: str, relation: str) -> tuple[str, ...]:
        """Every answer a reader would accept for (subject, relation): its objects and the other
        true answers stated on the subject, or on the node it inherits the fact from (a country on
        two continents, a second official language). No probe offers one of them as a wrong option
        and no edit targets one."""
        out = dict.fromkeys(self.objects(subject, relation))
        out.update(dict.fromkeys(self._also.get((subject, relation), ())))
        src = self.source_of(subject, relation)
        if src is not None:
            out.update(dict.fromkeys(self._also.get((src, relation), ())))
        return tuple(out)

    def other_answers(self) -> tuple[tuple[str, str, str], ...]:
        """Every other true answer stated in the world, as (subject, relation, object), sorted."""
        return tuple((s, r, o) for (s, r), objs in sorted(self._also.items()) for o in objs)

    def mention(self, name: str) -> str:
        """How a sentence names entity `name` (`Entity.mention`, else the name)."""
        ent = self._entities.get(name)
        return ent.mention if ent is not None and ent.mention is not None else name

    def is_stated(self, subject: str, relation: str) -> bool:
        return (subject, relation) in self._stated

    @cached_property
    def _holders(self) -> dict[tuple[str, str], tuple[str, ...]]:
        out: dict[tuple[str, str], list[str]] = defaultdict(list)
        for s in sorted(self._closure):
            for r, (objs, _src) in self._closure[s].items():
                for o in objs:
                    out[(r, o)].append(s)
        return {k: tuple(v) for k, v in out.items()}

    def subjects_with(self, relation: str, obj: str) -> tuple[str, ...]:
        """Subjects (sorted) whose `relation` has object `obj`, stated or inherited."""
        return self._holders.get((relation, obj), ())

    # -- distractor pools ----------------------------------------------------------------------

    @cached_property
    def _ranges(self) -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
        """relation -> (objects it has anywhere, subjects that hold it), each sorted."""
        objs: dict[str, set[str]] = defaultdict(set)
        subs: dict[str, set[str]] = defaultdict(set)
        for (r, o), holders in self._holders.items():
            objs[r].add(o)
            subs[r].update(holders)
        return {r: (tuple(sorted(objs[r])), tuple(sorted(subs[r]))) for r in objs}

    def object_pool(self, relation: str, like: str | None = None) -> tuple[str, ...]:
        """Candidate options for the object of `relation` (see `Relation.distractors`): every
        entity of the object type, or (range) the relation's objects shaped like `like`."""
        rel = self._relations[relation]
        if rel.distractors == "type":
            return self.entities_of_type(rel.object_type)
        pool = self._ranges.get(relation, ((), ()))[0]
        return same_shape(pool, like) if like is not None else pool

    def subject_pool(self, relation: str, like: str) -> tuple[str, ...]:
        """Candidate options for a subject of `relation` (reverse and comparison probes): every
        entity of `like`'s type, or (range) the relation's holders at `like`'s level."""
        rel = self._relations[relation]
        if rel.distractors == "type":
            return self.entities_of_type(self._entities[like].type)
        level = self.level(like)
        return tuple(x for x in self._ranges.get(relation, ((), ()))[1] if self.level(x) == level)

    # -- identity and serialisation ------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON document (see `ksmith.world.io` for the schema). Sorted, so equal worlds give
        equal documents whatever order they were built in."""
        taxonomy: list[list[str]] = []
        facts: list[list[str]] = []
        for (s, r), objs in sorted(self._stated.items()):
            target = taxonomy if self._relations[r].taxonomy else facts
            target.extend([s, r, o] for o in objs)
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "domains": list(self._domains),
            "entities": [
                {"name": e.name, "type": e.type, "domain": e.domain, **({"mention": e.mention} if e.mention else {})}
                for e in sorted(self._entities.values(), key=lambda e: (e.domain, e.type, e.name))
            ],
            "relations": [relation_to_dict(r) for r in self._relations.values()],
            "taxonomy": taxonomy,
            "facts": facts,
            "removed": [list(p) for p in sorted(self._removed)],
            **({"also": [list(t) for t in self.other_answers()]} if self._also else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> World:
        """Build (and validate) a world from its JSON document (`ksmith.world.document`)."""
        from ksmith.world.document import parse_document

        return cls(*parse_document(data))

    def save(self, path: Any) -> None:
        """Write the world as JSON (atomically)."""
        from ksmith.world.io import save_world

        save_world(self, path)

    @cached_property
    def hash(self) -> str:
        """Content hash of the world (equal for equal worlds, whatever their build order)."""
        return stable_hash(self.to_dict())

    @cached_property
    def graph(self) -> nx.MultiDiGraph:
        """The world as a `networkx.MultiDiGraph`: one node per entity (attributes `type`,
        `domain`, `level`), one edge per stated fact keyed by relation. Built on first use."""
        import networkx as nx

        g = nx.MultiDiGraph(domains=self._domains)
        for name, ent in self._entities.items():
            g.add_node(name, type=ent.type, domain=ent.domain, level=self.level(name))
        for (s, r), objs in self._stated.items():
            for o in objs:
                g.add_edge(s, o, key=r, relation=r, taxonomy=self._relations[r].taxonomy)
        return g

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, World):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return (
            f"World(domains={list(self._domains)}, entities={len(self._entities)}, "
            f"stated_facts={sum(len(v) for v in self._stated.values())}, hash={self.hash})"
        )

    # -- text and updates ----------------------------------------------------------------------

    def corpus(self) -> list[str]:
        """Pretraining text: every fact in every non-held-out template (see `ksmith.world.corpus`)."""
        from ksmith.world.corpus import render_corpus

        return render_corpus(self)

    def apply(self, interventions: Iterable[Change]) -> World:
        """The oracle: a copy with the interventions applied and inheritance re-derived.

        edit:    (S, R) gets the new object as a stated fact (an override below an ancestor's);
                 for a one-to-one relation the new object's previous holder loses it.
        unlearn: (S, R) is removed and tombstoned, so S and the descendants that inherited the
                 fact from S no longer hold it.
        Raises `WorldError` if an intervention does not match this world (unknown names, an old
        object that is not the current one, a new object of the wrong type, or two interventions
        on the same (subject, relation)).
        """
        stated = dict(self._stated)
        removed = set(self._removed)
        seen: set[tuple[str, str]] = set()
        for iv in interventions:
            key = (iv.subject, iv.relation)
            if key in seen:
                raise WorldError(f"intervention {iv.id}: two interventions change ({iv.subject}, {iv.relation})")
            seen.add(key)
            rel = self._relations.get(iv.relation)
            if rel is None or rel.taxonomy or not rel.functional:
                raise WorldError(
                    f"intervention {iv.id}: '{iv.relation}' is not a functional attribute relation of this world"
                )
            self._require(iv.subject)
            current = self.object_of(iv.subject, iv.relation)
            if current != iv.old_object:
                raise WorldError(
                    f"intervention {iv.id}: expects ({iv.subject}, {iv.relation}) = '{iv.old_object}' "
                    f"but the world says '{current}'; was the dataset built from another world?"
                )
            if iv.task == "edit":
                new = iv.new_object
                ent = self._entities.get(new) if new is not None else None
                if ent is None or ent.type != rel.object_type:
                    raise WorldError(
                        f"intervention {iv.id}: new object '{new}' is not a known '{rel.object_type}'"
                    )
                if rel.inverse is not None:
                    for holder in self.subjects_with(iv.relation, new):
                        if holder != iv.subject:
                            stated.pop((holder, iv.relation), None)
                stated[key] = (new,)
                removed.discard(key)
            elif iv.task == "unlearn":
                stated.pop(key, None)
                removed.add(key)
            else:
                raise WorldError(f"intervention {iv.id}: unknown task '{iv.task}' (expected edit or unlearn)")
        return World._derived(self, stated, frozenset(removed))
