"""Hypothesis strategies for random valid worlds (random forests, random relation schemas).

Used by ksmith's property tests, and available to anyone testing code that consumes a `World`.
Imports `hypothesis`, so import this module only from tests.

A random world has one or two domains; each has one taxon type organised by a random forest
(every node's parent is an earlier node or none, so there is never a cycle), 1-4 attribute
relations with random flags (inherited or not, one-to-one or not, some subjects left without an
object), sometimes a chain relation on one attribute's object type (2-hop compositions), and
sometimes a removed (unlearned) inherited fact that blocks inheritance below it.
"""

from __future__ import annotations

from hypothesis import strategies as st

from ksmith.world.schema import Entity, Relation
from ksmith.world.templates import relation_templates, taxonomy_templates
from ksmith.world.world import World


@st.composite
def worlds(draw: st.DrawFn, max_nodes: int = 14, max_domains: int = 2) -> World:
    """A random valid world."""
    entities: list[Entity] = []
    relations: list[Relation] = []
    facts: list[tuple[str, str, str]] = []
    removed: list[tuple[str, str]] = []
    n_domains = draw(st.integers(1, max_domains))
    for d in range(n_domains):
        dom = f"dom{d}"
        ttype = f"taxon{d}"
        n = draw(st.integers(3, max_nodes))
        nodes = [f"N{d}x{i}" for i in range(n)]
        entities += [Entity(x, ttype, dom) for x in nodes]
        relations.append(Relation(f"isa{d}", dom, ttype, ttype, taxonomy_templates("a kind of", 0), taxonomy=True))
        for i in range(1, n):
            par = draw(st.one_of(st.none(), st.integers(0, i - 1)))
            if par is not None:
                facts.append((nodes[i], f"isa{d}", nodes[par]))
        n_rels = draw(st.integers(1, 4))
        chain_done = False
        for j in range(n_rels):
            name = f"rel{d}x{j}"
            otype = f"obj{d}x{j}"
            kind = draw(st.sampled_from(("inherited", "plain", "one_to_one")))
            pool_size = n + 2 if kind == "one_to_one" else draw(st.integers(4, 7))
            pool = [f"O{d}x{j}x{i}" for i in range(pool_size)]
            entities += [Entity(x, otype, dom) for x in pool]
            relations.append(
                Relation(
                    name, dom, ttype, otype,
                    relation_templates(f"kw{d}x{j}", j, reverse=kind == "one_to_one"),
                    inherited=kind == "inherited",
                    inverse=f"inv{d}x{j}" if kind == "one_to_one" else None,
                )
            )
            if kind == "one_to_one":
                order = draw(st.permutations(pool))
                for i, node in enumerate(nodes):
                    if draw(st.integers(0, 9)) > 0:
                        facts.append((node, name, order[i]))
            else:
                p_state = 0.5 if kind == "inherited" else 0.9
                for node in nodes:
                    if draw(st.floats(0, 1)) < p_state:
                        facts.append((node, name, draw(st.sampled_from(pool))))
                    elif kind == "inherited" and draw(st.integers(0, 9)) == 0:
                        removed.append((node, name))
            if kind != "one_to_one" and not chain_done and draw(st.booleans()):
                chain_done = True
                ctype = f"chainobj{d}"
                cpool = [f"C{d}x{i}" for i in range(draw(st.integers(4, 6)))]
                entities += [Entity(x, ctype, dom) for x in cpool]
                relations.append(Relation(f"chain{d}", dom, otype, ctype, relation_templates(f"ckw{d}", j + 1, reverse=False)))
                for o in pool:
                    facts.append((o, f"chain{d}", draw(st.sampled_from(cpool))))
    return World(entities, relations, facts, removed)
