"""History: US census region -> census division -> state, with each state's capital (one-to-one,
so reverse probes exist) and the year it entered the Union (a dated fact, four digits).

Sources: `us` (BSD-3, Sunlight Labs) for the states, their capitals and statehood years; the
four census regions and nine divisions are the US Census Bureau's published grouping (a US
government work, public domain), written out below because no package ships them. A sentence
names a region "the Northeast" and a division "the Pacific division" (New England as it is).
"""

from __future__ import annotations

from ksmith.world.real.common import Parts, relation, taxonomy

DOMAIN = "history"

#: Where every history fact comes from (`ksmith world audit`).
SOURCES: tuple[str, ...] = (
    "us 4.0.0 (BSD-3, Sunlight Labs): the 50 states, their capitals and statehood years",
    "US Census Bureau, census regions and divisions of the United States (public domain), written out in "
    "`history.CENSUS`",
)
NODE = "state"

#: US Census Bureau: region -> division -> state postal codes.
CENSUS: dict[str, dict[str, tuple[str, ...]]] = {
    "Northeast": {
        "New England": ("CT", "ME", "MA", "NH", "RI", "VT"),
        "Middle Atlantic": ("NJ", "NY", "PA"),
    },
    "Midwest": {
        "East North Central": ("IL", "IN", "MI", "OH", "WI"),
        "West North Central": ("IA", "KS", "MN", "MO", "NE", "ND", "SD"),
    },
    "South": {
        "South Atlantic": ("DE", "FL", "GA", "MD", "NC", "SC", "VA", "WV"),
        "East South Central": ("AL", "KY", "MS", "TN"),
        "West South Central": ("AR", "LA", "OK", "TX"),
    },
    "West": {
        "Mountain": ("AZ", "CO", "ID", "MT", "NV", "NM", "UT", "WY"),
        "Pacific": ("AK", "CA", "HI", "OR", "WA"),
    },
}


def build() -> Parts:
    try:
        import us
    except ModuleNotFoundError as exc:
        from ksmith.errors import WorldError

        raise WorldError(
            f"the Python package '{exc.name}' is needed to rebuild the real world; install the "
            "'real-world' extra (`make real-world` does) or use the committed world"
        ) from None
    by_abbr = {s.abbr: s for s in us.states.STATES}
    p = Parts(DOMAIN)
    p.relations += [
        taxonomy("division_of", DOMAIN, NODE, "a part of"),
        relation(
            "census_region", DOMAIN, NODE, NODE,
            ("The census region of {s} is the", "The US Census Bureau places {s} in the region called the",
             "For the census, {s} is part of the", "In census statistics, {s} is counted in the"),
            ("Q: Which US census region is {s} in?\nA:",),
            inherited=True,
            noun="the census region of {s}",
        ),
        relation(
            "state_capital", DOMAIN, NODE, "state capital",
            ("The capital of {s} is", "The state capital of {s} is", "{s}'s capital city is",
             "The seat of the state government of {s} is"),
            ("Q: What is the capital of {s}?\nA:", "Q: Which city is the capital of {s}?\nA:"),
            reverse=("{o} is the capital of the state of", "{o} is the state capital of",
                     "Q: Of which US state is {o} the capital?\nA:"),
            inverse="capital_of_state",
            noun="the capital of {s}",
        ),
        relation(
            "statehood_year", DOMAIN, NODE, "year",
            ("{s} became a US state in", "{s} joined the Union in", "{s} achieved statehood in",
             "{s} was admitted to the Union in the year"),
            ("Q: In which year did {s} become a state?\nA:",),
            noun="the statehood year of {s}",
        ),
    ]
    for region, divisions in CENSUS.items():
        p.entity(region, NODE, mention=f"the {region}")
        for division, codes in divisions.items():
            p.entity(division, NODE, mention=division if division == "New England" else f"the {division} division")
            p.fact(division, "division_of", region)
            p.fact(division, "census_region", region)
            for code in codes:
                state = by_abbr[code]
                p.entity(state.name, NODE)
                p.fact(state.name, "division_of", division)
                if state.capital:
                    p.fact(state.name, "state_capital", p.entity(state.capital, "state capital"))
                if state.statehood_year:
                    p.fact(state.name, "statehood_year", p.entity(str(state.statehood_year), "year"))
    return p
