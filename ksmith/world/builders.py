"""Synthetic worlds: one builder per domain schema, seeded, byte-for-byte reproducible.

`size` is the number of taxonomy nodes per domain ("small" 18, "default" 110, "large" 1500). With
four domains these give about 360, 2,200 and 30,000 facts (inherited closure included): a tiny
model pretrains on "small" in seconds and on "default" in a couple of minutes on 2 CPU cores, and
"large" has room for k = 10,000 leaf-level interventions.

Shape of a domain's taxonomy: roots (one per ~14 nodes, so the default world gives k = 100
root-level interventions and the large one k = 1,000), a first tier of intermediate nodes (each with at least one
child), a second tier attached to the first, and a third tier attached to ~a third of the second
tier. Levels are therefore root / intermediate (tiers 1 and 2 with children) / leaf, and a root is
3 hops above its deepest descendants, so inherited facts reach 1 to 3 hops down.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ksmith.errors import WorldError
from ksmith.world.domains import DOMAINS, SCHEMAS, DomainSchema
from ksmith.world.names import NameGenerator
from ksmith.world.schema import Entity, Relation
from ksmith.world.templates import (
    CLOZE_PATTERNS,
    COMPARISON_PATTERN,
    COMPOSITION_PATTERN,
    CONFLICT_PREFIX,
    QUESTION_PATTERNS,
    REVERSE_PATTERNS,
    VAGUE_ANSWERS,
    relation_templates,
    taxonomy_templates,
)
from ksmith.world.world import World

#: Named sizes: taxonomy nodes per domain.
SIZES: dict[str, int] = {"small": 18, "default": 110, "large": 1500}

#: Probability that a node overrides its parent's object of an inherited relation, per tier.
_OVERRIDE = (1.0, 0.4, 0.25, 0.15)


def _size_of(size: str | int) -> int:
    if isinstance(size, bool):
        raise WorldError(f"world size {size!r}: use one of {sorted(SIZES)} or a number of nodes per domain")
    if isinstance(size, int):
        n = size
    elif isinstance(size, str) and size in SIZES:
        n = SIZES[size]
    elif isinstance(size, str) and size.isdigit():
        n = int(size)
    else:
        raise WorldError(f"world size {size!r}: use one of {sorted(SIZES)} or a number of nodes per domain")
    if n < 8:
        raise WorldError(f"world size {n}: a domain needs at least 8 taxonomy nodes to have every level")
    return n


def _reserved_words() -> set[str]:
    words: set[str] = set(VAGUE_ANSWERS)
    forms = (*CLOZE_PATTERNS, *QUESTION_PATTERNS, *REVERSE_PATTERNS, COMPOSITION_PATTERN,
             COMPARISON_PATTERN, CONFLICT_PREFIX)
    for schema in SCHEMAS.values():
        forms += tuple(taxonomy_templates(schema.taxonomy_phrase, 0).cloze)
        forms += tuple(taxonomy_templates(schema.taxonomy_phrase, 0).questions)
        for spec in schema.attributes:
            words.update(spec.keyword.split())
        words.update(schema.chain.keyword.split())
    for form in forms:
        words.update(w for w in form.split() if "{" not in w)
    return words


def _tree(n: int, rng: random.Random) -> list[tuple[int, int | None]]:
    """(tier, parent index) per node, nodes in creation order; tier 0 = roots."""
    n_roots = max(2, round(n / 14))
    n_tier1 = max(n_roots, round(n * 0.15))
    n_tier3 = max(2, round(n * 0.2))
    n_tier2 = n - n_roots - n_tier1 - n_tier3
    if n_tier2 < 2:
        raise WorldError(f"world size {n} is too small to have every level")
    nodes: list[tuple[int, int | None]] = [(0, None)] * n_roots
    tier1 = list(range(n_roots, n_roots + n_tier1))
    for i, _ in enumerate(tier1):  # each root gets at least one child
        nodes.append((1, i if i < n_roots else rng.randrange(n_roots)))
    tier2_start = len(nodes)
    for i in range(n_tier2):  # each tier-1 node gets at least one child
        nodes.append((2, tier1[i] if i < n_tier1 else rng.choice(tier1)))
    tier2 = list(range(tier2_start, len(nodes)))
    hosts = rng.sample(tier2, max(1, min(len(tier2) - 1, len(tier2) // 3)))
    for i in range(n_tier3):
        nodes.append((3, hosts[i] if i < len(hosts) else rng.choice(hosts)))
    return nodes


def _build_domain(
    schema: DomainSchema, n: int, rng: random.Random, names: NameGenerator
) -> tuple[list[Entity], list[Relation], list[tuple[str, str, str]]]:
    dom = schema.name
    relations = [
        Relation(
            name=schema.taxonomy_relation,
            domain=dom,
            subject_type=schema.taxon_type,
            object_type=schema.taxon_type,
            templates=taxonomy_templates(schema.taxonomy_phrase, 0),
            taxonomy=True,
        )
    ]
    for i, spec in enumerate(schema.attributes):
        relations.append(
            Relation(
                name=spec.name,
                domain=dom,
                subject_type=schema.taxon_type,
                object_type=spec.object_type,
                templates=relation_templates(spec.keyword, i, reverse=spec.inverse is not None),
                inherited=spec.inherited,
                functional=True,
                inverse=spec.inverse,
            )
        )
    chain = schema.chain
    relations.append(
        Relation(
            name=chain.name,
            domain=dom,
            subject_type=chain.subject_type,
            object_type=chain.object_type,
            templates=relation_templates(chain.keyword, len(schema.attributes), reverse=False),
        )
    )

    shape = _tree(n, rng)
    taxa = [names() for _ in shape]
    entities = [Entity(t, schema.taxon_type, dom) for t in taxa]
    facts: list[tuple[str, str, str]] = []
    for i, (_tier, par) in enumerate(shape):
        if par is not None:
            facts.append((taxa[i], schema.taxonomy_relation, taxa[par]))

    pools: dict[str, list[str]] = {}

    def pool(entity_type: str, count: int) -> list[str]:
        made = [names() for _ in range(count)]
        entities.extend(Entity(x, entity_type, dom) for x in made)
        pools[entity_type] = made
        return made

    for spec in schema.attributes:
        if spec.inherited:
            objs = pool(spec.object_type, max(6, n // 8))
            value: dict[int, str] = {}
            for i, (tier, par) in enumerate(shape):
                inherited = value.get(par) if par is not None else None
                if inherited is None or rng.random() < _OVERRIDE[tier]:
                    choice = rng.choice([o for o in objs if o != inherited])
                    value[i] = choice
                    facts.append((taxa[i], spec.name, choice))
                else:
                    value[i] = inherited
        elif spec.inverse is not None:
            objs = pool(spec.object_type, n + max(4, n // 10))
            holders = rng.sample(objs, n)
            gaps = set(rng.sample(range(n), round(0.03 * n)))
            facts.extend((taxa[i], spec.name, holders[i]) for i in range(n) if i not in gaps)
        else:
            objs = pool(spec.object_type, max(6, n // 5))
            gaps = set(rng.sample(range(n), max(2, round(0.05 * n))))
            facts.extend((taxa[i], spec.name, rng.choice(objs)) for i in range(n) if i not in gaps)
    targets = pool(chain.object_type, max(6, round(n ** 0.5)))
    for subject in pools[chain.subject_type]:
        facts.append((subject, chain.name, rng.choice(targets)))
    return entities, relations, facts


def build_world(domains: Sequence[str] = DOMAINS, size: str | int = "default", seed: int = 0) -> World:
    """A synthetic world over `domains`; the same (domains, size, seed) gives the same world.

    size: "small", "default", "large", or a number of taxonomy nodes per domain.
    """
    if isinstance(domains, str):
        domains = [d for d in domains.split(",") if d]
    unknown = [d for d in domains if d not in SCHEMAS]
    if unknown or not domains:
        raise WorldError(f"unknown domain(s) {unknown or domains!r}; choose from {', '.join(DOMAINS)}")
    chosen = tuple(d for d in DOMAINS if d in set(domains))
    n = _size_of(size)
    names = NameGenerator(random.Random(f"ksmith-names:{seed}:{','.join(chosen)}"), _reserved_words())
    entities: list[Entity] = []
    relations: list[Relation] = []
    facts: list[tuple[str, str, str]] = []
    for dom in chosen:
        rng = random.Random(f"ksmith-world:{seed}:{dom}:{n}")
        e, r, f = _build_domain(SCHEMAS[dom], n, rng, names)
        entities += e
        relations += r
        facts += f
    return World(entities, relations, facts, (), chosen)
