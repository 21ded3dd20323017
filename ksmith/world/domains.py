"""The schema of each synthetic domain: taxonomy, attribute relations, and a compositional chain.

Each domain follows the same plan so the probe generator can treat them alike, while the types,
keywords and names are the domain's own:

- a taxonomy forest over one entity type (depth up to 4: root, two intermediate tiers, leaf);
- two *inherited* attributes (a descendant holds its ancestor's object unless it overrides it);
- one *one-to-one* attribute with an inverse (each object names one subject), for reverse probes;
- one plain attribute, left out for ~5% of subjects (gaps the corpus renders as "unknown");
- a *chain*: the first inherited attribute's objects have an attribute of their own, so 2-hop
  questions ("the climate of the habitat of X") exist.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The synthetic domains, in canonical order (a world always lists its domains in this order).
DOMAINS: tuple[str, ...] = ("biology", "economics", "history", "physics")


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute relation of a domain's taxon type."""

    name: str
    keyword: str
    object_type: str
    inherited: bool = False
    inverse: str | None = None  # set => one-to-one, reverse probes


@dataclass(frozen=True)
class ChainSpec:
    """An attribute of another attribute's objects (the second hop of a composition)."""

    name: str
    keyword: str
    subject_type: str
    object_type: str


@dataclass(frozen=True)
class DomainSchema:
    name: str
    taxon_type: str
    taxonomy_relation: str
    taxonomy_phrase: str
    attributes: tuple[AttributeSpec, ...]
    chain: ChainSpec


SCHEMAS: dict[str, DomainSchema] = {
    "biology": DomainSchema(
        name="biology",
        taxon_type="taxon",
        taxonomy_relation="is_a",
        taxonomy_phrase="a kind of",
        attributes=(
            AttributeSpec("habitat", "habitat", "habitat", inherited=True),
            AttributeSpec("diet", "diet", "food", inherited=True),
            AttributeSpec("discoverer", "discoverer", "scientist", inverse="discovered"),
            AttributeSpec("region", "region", "region"),
        ),
        chain=ChainSpec("climate", "climate", "habitat", "climate"),
    ),
    "economics": DomainSchema(
        name="economics",
        taxon_type="firm",
        taxonomy_relation="division_of",
        taxonomy_phrase="a division of",
        attributes=(
            AttributeSpec("market", "market", "market", inherited=True),
            AttributeSpec("regulator", "regulator", "agency", inherited=True),
            AttributeSpec("founder", "founder", "entrepreneur", inverse="founded"),
            AttributeSpec("product", "product", "good"),
        ),
        chain=ChainSpec("currency", "currency", "market", "currency"),
    ),
    "history": DomainSchema(
        name="history",
        taxon_type="polity",
        taxonomy_relation="part_of",
        taxonomy_phrase="a part of",
        attributes=(
            AttributeSpec("language", "language", "language", inherited=True),
            AttributeSpec("religion", "religion", "faith", inherited=True),
            AttributeSpec("ruler", "ruler", "monarch", inverse="ruled"),
            AttributeSpec("era", "era", "era"),
        ),
        chain=ChainSpec("script", "script", "language", "script"),
    ),
    "physics": DomainSchema(
        name="physics",
        taxon_type="material",
        taxonomy_relation="subclass_of",
        taxonomy_phrase="a subclass of",
        attributes=(
            AttributeSpec("lattice", "lattice", "lattice", inherited=True),
            AttributeSpec("carrier", "carrier", "carrier", inherited=True),
            AttributeSpec("inventor", "inventor", "physicist", inverse="invented"),
            AttributeSpec("laboratory", "laboratory", "laboratory"),
        ),
        chain=ChainSpec("symmetry", "symmetry", "lattice", "symmetry"),
    ),
}
