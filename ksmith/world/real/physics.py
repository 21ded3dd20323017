"""Physics: metals / nonmetals / metalloids -> element series -> element, with chemical symbols
(one-to-one, so reverse probes exist), atomic numbers, periods and the inherited block and group.

Source: the SQLite database bundled in `mendeleev` (MIT), read with `sqlite3` (importing mendeleev
itself would pull in pandas and SQLAlchemy, which the data does not need).

Block and group are stated the way a textbook states them: on the series when most of its elements
share the value (the alkali metals are in group 1), and on an element that differs (hydrogen is a
nonmetal in group 1), so the world holds real inheritance with real overrides.
"""

from __future__ import annotations

import sqlite3

from ksmith.world.real.common import Parts, package_dir, relation, state_inherited, taxonomy

DOMAIN = "physics"
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
            ("The chemical symbol of {s} is", "The symbol for {s} is", "{s} has the chemical symbol",
             "On the periodic table, {s} is written as"),
            ("Q: What is the chemical symbol of {s}?\nA:", "Q: Which symbol stands for {s}?\nA:"),
            reverse=("{o} is the chemical symbol of", "The element with the symbol {o} is",
                     "Q: Which element has the symbol {o}?\nA:"),
            inverse="symbol_of",
        ),
        relation(
            "atomic_number", DOMAIN, NODE, "number",
            ("The atomic number of {s} is", "{s} has the atomic number", "The number of protons in an atom of {s} is",
             "On the periodic table, {s} is element number"),
            ("Q: What is the atomic number of {s}?\nA:",),
        ),
        relation(
            "period", DOMAIN, NODE, "number",
            ("The period of {s} is", "{s} is in period", "On the periodic table, {s} sits in period",
             "{s} belongs to row"),
            ("Q: In which period of the periodic table is {s}?\nA:",),
        ),
        relation(
            "block", DOMAIN, NODE, "block",
            ("The block of {s} is the", "{s} belongs to the", "On the periodic table, {s} is in the",
             "{s} is an element of the"),
            ("Q: Which block of the periodic table is {s} in?\nA:",),
            inherited=True,
        ),
        relation(
            "group", DOMAIN, NODE, "number",
            ("The group of {s} is", "{s} is in group", "On the periodic table, {s} sits in group",
             "{s} belongs to column"),
            ("Q: Which group of the periodic table is {s} in?\nA:",),
            inherited=True,
        ),
        relation(
            "lightest_element", DOMAIN, NODE, NODE,
            ("The lightest element of the {s} is", "The first of the {s} in the periodic table is",
             "Of the {s}, the one with the smallest atomic number is", "Among the {s}, the lightest is"),
            ("Q: Which is the lightest of the {s}?\nA:",),
            reverse=("{o} is the lightest element of the", "{o} is the first element of the",
                     "Q: {o} is the lightest of which group of elements?\nA:"),
            inverse="lightest_element_of",
        ),
    ]
    members: dict[str, list[tuple]] = {}
    for number, name, symbol, sid, block, period, group in rows:
        sname = series.get(sid)
        if sname not in _CLASS:
            continue
        parent = _CLASS[sname] if sname == "Metalloids" else _SERIES_NAME.get(sname, sname)
        p.entity(_CLASS[sname], NODE)
        p.entity(parent, NODE)
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
        node = cls if sname == "Metalloids" else _SERIES_NAME.get(sname, sname)
        if node != cls:
            p.fact(node, "subclass_of", cls)
    for parent, elements in sorted(members.items()):
        if elements and parent not in _CLASS.values():  # rows come in atomic-number order
            p.fact(parent, "lightest_element", elements[0][0])
        blocks = {n: f"{b}-block" for n, b, _g in elements if b}
        for value in blocks.values():
            p.entity(value, "block")
        groups = {n: str(g) for n, _b, g in elements if g}
        for value in groups.values():
            p.entity(value, "number")
        if parent in _CLASS.values():  # metalloids: no series node between; state on each element
            for n, v in sorted(blocks.items()):
                p.fact(n, "block", v)
            for n, v in sorted(groups.items()):
                p.fact(n, "group", v)
            continue
        state_inherited(p, "block", parent, blocks)
        state_inherited(p, "group", parent, groups)
    return p
