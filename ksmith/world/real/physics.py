"""Physics: metals / nonmetals / metalloids -> element series -> element, with chemical symbols
(one-to-one, so reverse probes exist), atomic numbers, periods and the inherited block and group.

Source: the SQLite database bundled in `mendeleev` (MIT), read with `sqlite3` (importing mendeleev
itself would pull in pandas and SQLAlchemy, which the data does not need).

Block and group are stated the way a textbook states them: on the series when most of its elements
share the value (the alkali metals are in group 1), and on an element that differs (hydrogen is a
nonmetal in group 1), so the world holds real inheritance with real overrides. The f-block has no
group; the disputed blocks (lanthanum, actinium, lutetium, lawrencium, helium) keep their second
answer as another true one (`overrides/physics.json`).
"""

from __future__ import annotations

import sqlite3

from ksmith.world.real.common import Overrides, Parts, package_dir, relation, state_inherited, taxonomy

DOMAIN = "physics"

#: Where every physics fact comes from, and the rules applied to it (`ksmith world audit`).
SOURCES: tuple[str, ...] = (
    "mendeleev 1.3.0 (MIT), its bundled SQLite database: element names, symbols, atomic numbers, periods, "
    "blocks, groups and series",
    "rule: the f-block lies outside the 18 numbered groups (IUPAC), so an f-block element has no group "
    "(mendeleev gives each lanthanide and actinide group 3)",
    "rule: element and series names are written as English prose writes them (\"iron\", \"the alkali metals\")",
)
NODE = "element"

#: mendeleev's series -> the broad class it belongs to. Metalloids are a class of their own
#: (their elements hang straight under it: a root with leaf children).
_CLASS = {
    "Alkali metals": "metals",
    "Alkaline earth metals": "metals",
    "Transition metals": "metals",
    "Poor metals": "metals",
    "Lanthanides": "metals",
    "Actinides": "metals",
    "Nonmetals": "nonmetals",
    "Halogens": "nonmetals",
    "Noble gases": "nonmetals",
    "Metalloids": "metalloids",
}
#: English names of the series as textbooks write them.
_SERIES_NAME = {"Poor metals": "Post-transition metals", "Nonmetals": "Reactive nonmetals"}


def build() -> Parts:
    db = package_dir("mendeleev") / "elements.db"
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        series = dict(con.execute("SELECT id, name FROM series").fetchall())
        rows = con.execute(
            "SELECT atomic_number, name, symbol, series_id, block, period, group_id FROM elements "
            "ORDER BY atomic_number"
        ).fetchall()
    finally:
        con.close()
    p = Parts(DOMAIN)
    p.relations += [
        taxonomy("subclass_of", DOMAIN, NODE, "a kind of"),
        relation(
            "symbol", DOMAIN, NODE, "chemical symbol",
            ("The chemical symbol of {s} is", "The symbol for {s} is", "On the periodic table, {s} is written as",
             "In chemistry, the element {s} is abbreviated as"),
            ("Q: What is the chemical symbol of {s}?\nA:", "Q: Which symbol stands for {s}?\nA:"),
            reverse=("{o} is the chemical symbol of", "The element with the symbol {o} is",
                     "Q: Which element has the symbol {o}?\nA:"),
            inverse="symbol_of",
            noun="the chemical symbol of {s}",
        ),
        relation(
            "atomic_number", DOMAIN, NODE, "number",
            ("The atomic number of {s} is", "The number of protons in an atom of {s} is",
             "On the periodic table, {s} is element number", "In chemistry, the element {s} has the atomic number"),
            ("Q: What is the atomic number of {s}?\nA:",),
            noun="the atomic number of {s}",
        ),
        relation(
            "period", DOMAIN, NODE, "number",
            ("The period of {s} is", "On the periodic table, the element {s} sits in period",
             "Chemists place the element {s} in period", "In the periodic table, the element {s} lies in row"),
            ("Q: In which period of the periodic table is {s}?\nA:",),
            noun="the period of {s}",
        ),
        # block and group are inherited: the subject may be a series ("the alkali metals"), so every
        # form is number-neutral (the subject never governs a verb)
        relation(
            "block", DOMAIN, NODE, "block",
            ("The block of {s} is the", "On the periodic table, chemists place {s} in the",
             "In the periodic table, the block of {s} is the", "Chemists count {s} among the elements of the"),
            ("Q: Which block of the periodic table holds {s}?\nA:",),
            inherited=True,
            noun="the block of {s}",
        ),
        relation(
            "group", DOMAIN, NODE, "number",
            ("The group number of {s} is", "Chemists place {s} in group",
             "In the periodic table, the group of {s} is group", "On the periodic table, you find {s} in group"),
            ("Q: Which group of the periodic table holds {s}?\nA:",),
            inherited=True,
            noun="the group number of {s}",
        ),
        relation(
            "lightest_element", DOMAIN, NODE, NODE,
            ("The lightest element among {s} is", "Of {s}, the one with the smallest atomic number is",
             "Among {s}, the lightest is", "The first of {s} in the periodic table is"),
            ("Q: Which is the lightest of {s}?\nA:",),
            reverse=("{o} is the lightest of", "{o} is the first element of",
                     "Q: Which series of elements has {o} as its lightest member?\nA:"),
            inverse="lightest_element_of",
            noun="the lightest element among {s}",
        ),
    ]
    members: dict[str, list[tuple]] = {}
    for number, name, symbol, sid, block, period, group in rows:
        sname = series.get(sid)
        if sname not in _CLASS:
            continue
        parent = _CLASS[sname] if sname == "Metalloids" else _SERIES_NAME.get(sname, sname)
        name = name.lower()  # element names are common nouns in English: "the symbol of iron"
        p.entity(_CLASS[sname], NODE)
        parent = parent.lower()
        p.entity(parent, NODE, mention=None if parent in _CLASS.values() else f"the {parent}")
        if parent != _CLASS[sname]:
            members.setdefault(parent, [])
        p.entity(name, NODE)
        p.fact(name, "subclass_of", parent)
        p.fact(name, "symbol", p.entity(symbol, "chemical symbol"))
        p.fact(name, "atomic_number", p.entity(str(number), "number"))
        if period:
            p.fact(name, "period", p.entity(str(period), "number"))
        members.setdefault(parent, []).append((name, block, group))
    for sname, cls in _CLASS.items():
        node = cls if sname == "Metalloids" else _SERIES_NAME.get(sname, sname).lower()
        if node != cls:
            p.fact(node, "subclass_of", cls)
    for parent, elements in sorted(members.items()):
        if elements and parent not in _CLASS.values():  # rows come in atomic-number order
            p.fact(parent, "lightest_element", elements[0][0])
        blocks = {n: f"{b}-block" for n, b, _g in elements if b}
        for value in blocks.values():
            p.entity(value, "block")
        # the f-block lies outside the 18 numbered groups (IUPAC): its elements have no group
        groups = {n: str(g) if g and b != "f" else None for n, b, g in elements}
        for value in groups.values():
            if value is not None:
                p.entity(value, "number")
        if parent in _CLASS.values():  # metalloids: no series node between; state on each element
            for n, v in sorted(blocks.items()):
                p.fact(n, "block", v)
            for n, v in sorted(groups.items()):
                if v is not None:
                    p.fact(n, "group", v)
            continue
        state_inherited(p, "block", parent, blocks)
        state_inherited(p, "group", parent, groups)
    overrides = Overrides(DOMAIN)
    for other in overrides.other_answers:
        p.other_answer(other.subject, other.relation, p.entity(other.value, "block"))
    return p
