"""Knowledge graphs with levels: the `World`, its synthetic builders per domain, and loaders.

`build_world(domains, size, seed)` gives a seeded synthetic world; `load_world(path)` reads one
from JSON (or triples TSV plus a relation schema); `World.apply(interventions)` is the oracle the
probe generator takes every expected answer from.
"""

from ksmith.world.builders import SIZES, build_world
from ksmith.world.domains import DOMAINS
from ksmith.world.io import load_tsv, load_world, save_world
from ksmith.world.schema import LEVELS, Entity, Fact, Relation, RelationTemplates
from ksmith.world.templates import NEUTRAL_OBJECT, VAGUE_ANSWERS
from ksmith.world.world import World

__all__ = [
    "DOMAINS",
    "LEVELS",
    "NEUTRAL_OBJECT",
    "SIZES",
    "VAGUE_ANSWERS",
    "Entity",
    "Fact",
    "Relation",
    "RelationTemplates",
    "World",
    "build_world",
    "load_tsv",
    "load_world",
    "save_world",
]
