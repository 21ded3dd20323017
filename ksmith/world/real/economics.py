"""Economics: continent -> UN subregion (-> intermediate region) -> country, with capitals,
currencies (and their ISO codes, the two-hop chain) and official languages.

Sources: `countryinfo` (MIT) for each country's UN region, subregion, intermediate region, capital
and currency code; `babel` (BSD-3, with Unicode CLDR data under the Unicode licence) for English
currency and language names and each territory's official languages.
"""

from __future__ import annotations

import json

from ksmith.errors import WorldError
from ksmith.world.real.common import Parts, package_dir, relation, taxonomy

DOMAIN = "economics"
PLACE = "country"


def _countries() -> list[dict]:
    data = package_dir("countryinfo") / "data"
    rows = []
    for path in sorted(data.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        if row.get("region") and row.get("subregion") and row.get("ISO", {}).get("alpha2"):
            rows.append(row)
    return rows


def _capital(row: dict) -> str:
    cap = row.get("capital") or ""
    if isinstance(cap, list):  # a few records list several seats of government; keep none
        cap = cap[0] if len(cap) == 1 else ""
    return str(cap).strip()


def build() -> Parts:
    from babel import Locale
    from babel.languages import get_official_languages
    from babel.numbers import get_currency_name

    en = Locale("en")
    p = Parts(DOMAIN)
    p.relations += [
        taxonomy("located_in", DOMAIN, PLACE, "part of"),
        relation(
            "continent", DOMAIN, PLACE, PLACE,
            ("The continent of {s} is", "{s} is located in", "{s} lies on the continent of",
             "{s} is a part of the world in"),
            ("Q: On which continent is {s}?\nA:", "Q: Which continent is {s} in?\nA:"),
            inherited=True,
        ),
        relation(
            "capital", DOMAIN, PLACE, "capital city",
            ("The capital of {s} is", "The capital city of {s} is", "{s}'s capital is",
             "{s} has its seat of government in"),
            ("Q: What is the capital of {s}?\nA:", "Q: Which city is the capital of {s}?\nA:"),
            reverse=("{o} is the capital of", "{o} is the capital city of", "Q: {o} is the capital of which country?\nA:"),
            inverse="capital_of",
        ),
        relation(
            "currency", DOMAIN, PLACE, "currency",
            ("The currency of {s} is", "The official currency of {s} is", "In {s}, people pay with the",
             "The money used in {s} is the"),
            ("Q: What is the currency of {s}?\nA:", "Q: Which currency is used in {s}?\nA:"),
        ),
        relation(
            "official_language", DOMAIN, PLACE, "language",
            ("The official language of {s} is", "The main official language of {s} is",
             "In {s}, the official language is", "The language of government in {s} is"),
            ("Q: What is the official language of {s}?\nA:",),
        ),
        relation(
            "largest_country", DOMAIN, PLACE, PLACE,
            ("The largest country of {s} is", "The biggest country by area in {s} is",
             "By area, the largest country in {s} is", "Of all the countries in {s}, the largest is"),
            ("Q: What is the largest country in {s}?\nA:",),
            reverse=("{o} is the largest country in", "{o} is the biggest country by area in",
                     "Q: {o} is the largest country of which region?\nA:"),
            inverse="largest_country_of",
        ),
        relation(
            "currency_code", DOMAIN, "currency", "currency code",
            ("The currency code of {s} is", "The ISO 4217 code of the {s} is", "The {s} has the currency code",
             "The three-letter code of the {s} is"),
            ("Q: What is the ISO code of the {s}?\nA:",),
        ),
    ]
    rows = _countries()
    names = {r["name"] for r in rows}
    edges: dict[str, str] = {}  # region node -> its parent
    home: dict[str, str] = {}  # country -> the region node it sits in
    for r in rows:
        region, sub, inter = r["region"], r["subregion"], r.get("intermediateregion") or ""
        clash = {region, sub, inter} & names
        if clash:
            raise WorldError(f"countryinfo: region name(s) {sorted(clash)} are also country names")
        edges[sub] = region
        if inter:
            edges[inter] = sub
        home[r["name"]] = inter or sub
    for child, parent in sorted(edges.items()):
        p.entity(child, PLACE)
        p.entity(parent, PLACE)
        p.fact(child, "located_in", parent)
        if parent not in edges:  # a subregion states its continent; everything below inherits it
            p.fact(child, "continent", parent)
    taken = set(p.entities)
    capitals: dict[str, list[str]] = {}
    for r in rows:
        cap = _capital(r)
        if cap:
            capitals.setdefault(cap, []).append(r["name"])
    for r in rows:
        country = r["name"]
        p.entity(country, PLACE)
        p.fact(country, "located_in", home[country])
        cap = _capital(r)
        # one-to-one: a capital shared by two records, or spelt like a country or region, is left out
        if cap and len(capitals[cap]) == 1 and cap not in taken and cap not in names:
            p.fact(country, "capital", p.entity(cap, "capital city"))
        codes = r.get("currencies") or []
        if codes:
            code = codes[0]
            name = get_currency_name(code, locale="en")
            if name and name != code and name not in names:
                p.fact(country, "currency", p.entity(name, "currency"))
                p.fact(name, "currency_code", p.entity(code, "currency code"))
        langs = get_official_languages(r["ISO"]["alpha2"])
        if langs:
            lang = en.languages.get(langs[0].split("_")[0])
            if lang and lang not in names:
                p.fact(country, "official_language", p.entity(lang, "language"))
    # the largest country by area of each region node that holds countries (one-to-one: a
    # country sits in one such node)
    areas: dict[str, list[tuple[float, str]]] = {}
    for r in rows:
        if r.get("area"):
            areas.setdefault(home[r["name"]], []).append((float(r["area"]), r["name"]))
    for node, sized in sorted(areas.items()):
        if len(sized) >= 2:
            p.fact(node, "largest_country", max(sized)[1])
    return p
