"""The real world: true facts in the paper's four domains, built from data shipped in PyPI and
Debian packages, frozen as a committed JSON file.

`load_real_world()` reads the committed file (it needs none of the source packages);
`build_real_world()` rebuilds it from the packages (`make real-world` installs them and checks
that the rebuild has the committed hash). One module per domain says where its facts come from:

- economics (`countryinfo`, `babel`/CLDR): continent -> UN subregion -> country; capital
  (one-to-one), currency -> currency code (the two-hop chain), official language;
- physics (`mendeleev`'s bundled SQLite file): metals / nonmetals / metalloids -> series ->
  element; symbol (one-to-one), atomic number, period, block and group (inherited);
- history (`us`, US Census Bureau divisions): region -> division -> state; capital (one-to-one),
  statehood year;
- biology (WordNet 3.0, Debian's `wordnet-base`): class -> familiar group -> animal; class and
  order (inherited), family.

Every relation draws its wrong options from its own objects (`distractors="range"`, see
`ksmith.world.real.common`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ksmith.errors import WorldError
from ksmith.world.domains import DOMAINS
from ksmith.world.world import World

#: The committed, frozen real world.
REAL_WORLD_FILE = Path(__file__).with_name("real_world.json")

#: Entities one domain leaves out because another domain names something else the same way
#: (the country Georgia and the US state; entity names are unique across a world).
YIELDS: dict[str, frozenset[str]] = {"economics": frozenset({"Georgia"})}


def domain_modules() -> dict[str, ModuleType]:
    """domain -> its builder module (`build()`, `SOURCES`)."""
    from ksmith.world.real import biology, economics, history, physics

    return {"biology": biology, "economics": economics, "history": history, "physics": physics}


def _builders() -> dict[str, Callable]:
    return {domain: module.build for domain, module in domain_modules().items()}


def build_real_world() -> World:
    """Rebuild the real world from its source packages (they must be installed)."""
    entities: dict = {}
    relations: list = []
    facts: list[tuple[str, str, str]] = []
    also: list[tuple[str, str, str]] = []
    builders = _builders()
    for domain in DOMAINS:
        parts = builders[domain]()
        dropped = YIELDS.get(domain, frozenset())
        for name, ent in parts.entities.items():
            if name in dropped:
                continue
            other = entities.get(name)
            if other is not None:
                raise WorldError(
                    f"real world: '{name}' is a {other.type} in {other.domain} and a {ent.type} in {domain}; "
                    "add it to YIELDS for one of them"
                )
            entities[name] = ent
        relations += parts.relations
        facts += [f for f in parts.facts if f[0] not in dropped and f[2] not in dropped]
        also += [f for f in parts.also if f[0] not in dropped and f[2] not in dropped]
    return World(entities.values(), relations, facts, (), DOMAINS, also)


def load_real_world(path: str | Path | None = None) -> World:
    """The committed real world (or the world file at `path`)."""
    from ksmith.world.io import load_world

    return load_world(path or REAL_WORLD_FILE)
