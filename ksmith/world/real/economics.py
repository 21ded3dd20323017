"""Economics: continent -> UN subregion (-> intermediate region) -> country, with capitals,
currencies (and their ISO codes, the two-hop chain), official languages and each region's largest
country.

Sources: `countryinfo` (MIT) for each territory's UN M49 region, subregion, intermediate region,
capital and area; `babel` (BSD-3, with Unicode CLDR data under the Unicode licence) for currencies,
official languages and their English names. `overrides/economics.json` corrects what is wrong or
outdated (renamed capitals and countries, duplicate or defunct records), each entry with a source.

Rules, so that a fact is true at a fixed date (`AS_OF`) and reads as ordinary English:

- continents: the UN's "Americas" is split into North America (Northern America, Central America,
  the Caribbean) and South America; the other UN regions are continents already. The node just
  below a continent states it and everything below inherits it; a country on two continents has
  the second as another true answer (the table's "also" section, each with its source).
- currency: CLDR's legal tender on `AS_OF` (countryinfo's first code is sometimes a fund or an
  accounting unit, or a currency long replaced). With several, the territory's own currency (the
  one tender in the fewest territories) is stated and the others are other true answers.
- official language: CLDR's official languages, de facto ones included, most widely spoken first;
  the first is stated, the others are other true answers (an override reorders them where a
  constitution names a primary official language, and corrects CLDR where it is outdated).
- names: countryinfo's inverted names ("Virgin Islands, British") are turned round, "(French part)"
  is dropped, and a name English says with "the" gets that article as its mention.
"""

from __future__ import annotations

import datetime
import json
import re
from collections import Counter
from dataclasses import dataclass

from ksmith.errors import WorldError
from ksmith.world.real.common import Overrides, Parts, package_dir, relation, taxonomy

DOMAIN = "economics"
PLACE = "country"

#: Where every economics fact comes from, and the rules applied to it (`ksmith world audit`).
SOURCES: tuple[str, ...] = (
    ("countryinfo 1.0.1 (MIT): each territory's name, UN M49 region, subregion and intermediate region, "
     "capital and area"),
    ("babel 2.18.0 (BSD-3) with Unicode CLDR data (Unicode licence): legal tender on 2025-01-01 with ISO 4217 "
     "codes, official and de facto official languages, and the English names of both"),
    ("overrides/economics.json: capitals, renamed countries, duplicate and defunct records and official "
     "languages corrected from the CIA World Factbook (2024), ISO 3166-1, constitutions and language laws; "
     "second continents from the Factbook's Location field"),
    ("rule: the UN's Americas are two continents, North America (Northern America, Central America, the "
     "Caribbean) and South America; the other UN regions are continents"),
    ("rule: a territory's currency is its own legal tender on 2025-01-01 (the one tender in the fewest "
     "territories); other tender currencies are other true answers"),
    "rule: the most widely spoken official language (CLDR) is stated, the others are other true answers",
    ("rule: a capital shared by two territories or spelt like a place (Djibouti) is not stated (one-to-one); "
     "a region's largest country is the largest by area of the territories directly in it"),
    ("rule: inverted names are turned round (\"Virgin Islands, British\"), and a place English names with "
     "\"the\" is mentioned with it (\"the Bahamas\", \"the Czech Republic\", \"the Caribbean\")"),
)

#: The date currencies and official languages hold at (CLDR knows currencies' start and end dates).
AS_OF = datetime.date(2025, 1, 1)

NORTH_AMERICA = "North America"
SOUTH_AMERICA = "South America"

#: A place English names with "the": its last word is one of these ("the Cayman Islands", "the
#: Czech Republic", "the Caribbean"), or its name starts with one of `_THE_FIRST`.
_THE_LAST = frozenset({"Islands", "Republic", "States", "Kingdom", "Emirates", "Lands", "Territory",
                       "Netherlands", "Philippines", "Maldives", "Caribbean"})
_THE_FIRST = ("Republic of ", "Democratic Republic of ", "Federated States of ", "Isle of ")


@dataclass(frozen=True)
class Country:
    """One territory, its name in English and its place: `path` runs from the continent down to the
    region node the territory hangs under."""

    name: str
    iso: str
    path: tuple[str, ...]
    capital: str | None
    area: float | None
    mention: str | None


def _mention(name: str, the: bool = False) -> str | None:
    """"the ..." for a place English names with the article (`_THE_LAST`, `_THE_FIRST`, or `the`:
    the source spelt it with one), else None."""
    if the or name.split()[-1] in _THE_LAST or name.startswith(_THE_FIRST):
        return f"the {name}"
    return None


def _english(source: str) -> tuple[str, str | None]:
    """countryinfo's name as English says it, and its mention ("The Gambia": "Gambia", "the
    Gambia"; "Virgin Islands, British": "British Virgin Islands"; "Saint Martin (French part)":
    "Saint Martin")."""
    name = re.sub(r"\s*\((French|Dutch) part\)$", "", source)
    if ", " in name:
        head, tail = name.rsplit(", ", 1)
        name = f"{tail} {head}"
    return name.removeprefix("The "), _mention(name.removeprefix("The "), name.startswith("The "))


def _path(row: dict, name: str, fix: Overrides) -> tuple[str, ...]:
    """Continent, then the UN subregion and intermediate region a territory sits in. The Americas
    become two continents; "South America" is then both the continent and the UN intermediate
    region, one node, so its countries hang under the continent itself."""
    region, sub, inter = row["region"], row["subregion"], row.get("intermediateregion") or ""
    if region != "Americas":
        path = [region, sub] + ([inter] if inter else [])
    elif inter == SOUTH_AMERICA:
        path = [SOUTH_AMERICA]
    elif sub == "Northern America" or inter in ("Central America", "Caribbean"):
        path = [NORTH_AMERICA, inter or sub]
    else:
        raise WorldError(f"countryinfo: no continent for {name} ({region}, {sub}, {inter})")
    moved = fix.apply(name, "parent", path[-1])
    if moved is None:
        raise WorldError(f"{fix.path}: drop a territory with a null 'rename', not a null parent ({name})")
    return (*path[:-1], moved)


def _capital(row: dict) -> str | None:
    cap = row.get("capital") or ""
    if isinstance(cap, list):  # a few records list several seats of government; keep none
        cap = cap[0] if len(cap) == 1 else ""
    return str(cap).strip() or None


def _countries(fix: Overrides) -> list[Country]:
    """Every territory with a UN region, once, under its English name. Identical records (two
    files for Curaçao) collapse; duplicates that differ and defunct states are dropped by overrides."""
    data = package_dir("countryinfo") / "data"
    out: dict[str, Country] = {}
    rows: dict[str, dict] = {}
    for path in sorted(data.glob("*.json")):
        row = json.loads(path.read_text(encoding="utf-8"))
        if not (row.get("region") and row.get("subregion") and row.get("ISO", {}).get("alpha2")):
            continue
        if row["name"] in rows:
            if rows[row["name"]] != row:
                raise WorldError(f"countryinfo: two different records named {row['name']!r}")
            continue
        rows[row["name"]] = row
        source = fix.apply(row["name"], "rename", row["name"])
        if source is None:
            continue
        name, mention = _english(source)
        out[name] = Country(
            name, row["ISO"]["alpha2"], _path(row, name, fix), fix.apply(name, "capital", _capital(row)),
            float(row["area"]) if row.get("area") else None, mention,
        )
    return list(out.values())


def _currencies(iso: str, spread: Counter[str]) -> list[str]:
    """A territory's legal tender on `AS_OF`, its own currency first: the one tender in the fewest
    territories (Bhutan: the ngultrum before the Indian rupee; CLDR lists them by age, which says
    nothing about which is the country's currency), CLDR's order among equals."""
    from babel.numbers import get_territory_currencies

    codes = get_territory_currencies(iso, start_date=AS_OF, tender=True, non_tender=False)
    return sorted(codes, key=lambda c: spread[c])


def _spread() -> Counter[str]:
    """How many CLDR territories have each currency as legal tender on `AS_OF`."""
    from babel.core import get_global
    from babel.numbers import get_territory_currencies

    territories = get_global("territory_currencies")
    return Counter(c for t in territories for c in get_territory_currencies(t, start_date=AS_OF))


def _currency_name(code: str, fix: Overrides) -> str | None:
    """CLDR's English name, "&" spelt out, corrected by an override where CLDR misspells it."""
    from babel.numbers import get_currency_name

    name = get_currency_name(code, locale="en")
    if not name or name == code:
        return None
    name = name.replace(" & ", " and ")
    name = fix.apply(name, "rename", name)
    if name and re.search(r"\(\d{4}", name):
        raise WorldError(f"CLDR: {code} is named {name!r}, a withdrawn currency on {AS_OF}")
    return name


def _languages(iso: str, fix: Overrides, country: str) -> list[str]:
    """CLDR's official languages, de facto ones included, most widely spoken first, script variants
    folded into their language (sr_Latn: Serbian); an override where CLDR is wrong or outdated
    (as a "; "-joined list)."""
    from babel import Locale
    from babel.languages import get_official_languages

    en = Locale("en")
    names: list[str] = []
    for tag in get_official_languages(iso, de_facto=True):
        name = en.languages.get(tag.split("_")[0])
        if name and name not in names:
            names.append(name)
    fixed = fix.apply(country, "official_language", "; ".join(names) or None)
    return fixed.split("; ") if fixed else []


def _relations() -> list:
    return [
        taxonomy("located_in", DOMAIN, PLACE, "part of"),
        relation(
            "continent", DOMAIN, PLACE, PLACE,
            ("{s} is located on the continent of", "{s} is part of the continent of", "{s} lies in",
             "Geographically, {s} belongs to the continent of"),
            ("Q: On which continent is {s}?\nA:", "Q: Which continent is {s} part of?\nA:"),
            inherited=True, noun="the continent of {s}",
        ),
        relation(
            "capital", DOMAIN, PLACE, "capital city",
            ("The capital of {s} is", "The capital city of {s} is", "{s} has its capital in",
             "The city that serves as the capital of {s} is"),
            ("Q: What is the capital of {s}?\nA:", "Q: Which city is the capital of {s}?\nA:"),
            reverse=("{o} is the capital of", "{o} is the capital city of", "Q: {o} is the capital of which country?\nA:"),
            inverse="capital_of", noun="the capital of {s}",
        ),
        relation(
            "currency", DOMAIN, PLACE, "currency",
            ("The official currency of {s} is", "The currency used in {s} is called", "In {s}, the currency is called",
             "The name of the currency of {s} is"),
            ("Q: What is the currency of {s}?\nA:", "Q: Which currency is used in {s}?\nA:"),
            noun="the currency of {s}",
        ),
        relation(
            "official_language", DOMAIN, PLACE, "language",
            ("The official language of {s} is", "In {s}, the official language is",
             "The language of government in {s} is", "The main official language of {s} is"),
            ("Q: What is the official language of {s}?\nA:", "Q: Which language is official in {s}?\nA:"),
            noun="the official language of {s}",
        ),
        relation(
            "largest_country", DOMAIN, PLACE, PLACE,
            ("The largest country in {s} is", "The biggest country by area in {s} is",
             "By area, the largest country in {s} is", "Of all the countries in {s}, the largest by area is"),
            ("Q: What is the largest country in {s}?\nA:", "Q: Which country in {s} has the largest area?\nA:"),
            reverse=("{o} is the largest country in", "{o} is the biggest country by area in",
                     "Q: {o} is the largest country of which region?\nA:"),
            inverse="largest_country_of", noun="the largest country in {s}",
        ),
        relation(
            "currency_code", DOMAIN, "currency", "currency code",
            ("The currency code of {s} is", "The ISO 4217 code of {s} is", "{s} has the currency code",
             "The three-letter code of {s} is"),
            ("Q: What is the ISO code of {s}?\nA:", "Q: What is the three-letter currency code of {s}?\nA:"),
            noun="the currency code of {s}",
        ),
    ]


def _place(p: Parts, name: str) -> str:
    return p.entity(name, PLACE, _mention(name))


def build() -> Parts:
    fix = Overrides(DOMAIN)
    p = Parts(DOMAIN)
    p.relations += _relations()
    countries = _countries(fix)
    names = {c.name for c in countries}
    parent: dict[str, str] = {}  # region node -> its parent
    for c in countries:
        for up, down in zip(c.path, c.path[1:]):
            if parent.setdefault(down, up) != up:
                raise WorldError(f"countryinfo: region {down!r} lies in both {parent[down]!r} and {up!r}")
    clash = (set(parent) | set(parent.values())) & names
    if clash:
        raise WorldError(f"countryinfo: region name(s) {sorted(clash)} are also country names")
    for child, up in sorted(parent.items()):
        p.fact(_place(p, child), "located_in", _place(p, up))
        if up not in parent:  # the node below a continent states it; everything below inherits it
            p.fact(child, "continent", up)
    taken = set(p.entities) | names
    shared = Counter(c.capital for c in countries if c.capital)
    spread = _spread()
    for c in sorted(countries, key=lambda c: c.name):
        p.entity(c.name, PLACE, c.mention)
        p.fact(c.name, "located_in", _place(p, c.path[-1]))
        if len(c.path) == 1:  # directly under its continent (South America)
            p.fact(c.name, "continent", c.path[0])
        # one-to-one: a capital shared by two records, or spelt like a place (Djibouti), is left out
        if c.capital and shared[c.capital] == 1 and c.capital not in taken:
            p.fact(c.name, "capital", p.entity(c.capital, "capital city"))
        stated = False
        for code in _currencies(c.iso, spread):
            name = _currency_name(code, fix)
            if not name or name in taken:
                continue
            if name not in p.entities:
                p.entity(name, "currency", f"the {name}")
                p.fact(name, "currency_code", p.entity(code, "currency code"))
            (p.other_answer if stated else p.fact)(c.name, "currency", name)
            stated = True
        for i, lang in enumerate(l for l in _languages(c.iso, fix, c.name) if l not in taken):
            (p.other_answer if i else p.fact)(c.name, "official_language", p.entity(lang, "language"))
    # the largest country by area of each region node that holds countries (one-to-one: a country
    # sits in one such node)
    areas: dict[str, list[tuple[float, str]]] = {}
    for c in countries:
        if c.area:
            areas.setdefault(c.path[-1], []).append((c.area, c.name))
    for node, sized in sorted(areas.items()):
        if len(sized) >= 2:
            p.fact(node, "largest_country", max(sized)[1])
    for other in fix.other_answers:  # a second continent (Russia: Asia), from the table with its source
        if other.relation != "continent" or other.subject not in names or other.value not in p.entities:
            raise WorldError(f"{fix.path}: the other answer ({other.subject}, {other.relation}, {other.value}) "
                             "must give a known country a second continent")
        p.other_answer(other.subject, other.relation, other.value)
    fix.check_used()
    return p
