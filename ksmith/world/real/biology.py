"""Biology: the WordNet noun taxonomy under *animal*, pruned to familiar one-word animals:
class (mammal, bird, ...) -> familiar group (canine, rodent, raptor, ...) -> animal, with the class
inherited through the group, and the Latin order (inherited where the group is one order) and
family of each animal.

Source: WordNet 3.0 (Princeton's WordNet licence, permissive), read from Debian's `wordnet-base`.
The list of familiar animals is ours (WordNet has thousands of obscure ones and many ambiguous
words, e.g. "tom", "emperor"); every fact about them (which sense, its hypernyms, its order and
family) comes from WordNet. An animal whose first animal sense is not under one of the classes
is left out (WordNet's first "dolphin" sense is a fish), and so is one WordNet gives no family.

WordNet 3.0's taxonomy is decades old (herons in Ciconiiformes, tuna in Perciformes, Pongidae,
Marsupialia as an order), so `overrides/biology.json` corrects it against current checklists: the
IOC World Bird List for birds, the Mammal Diversity Database and Mammal Species of the World for
mammals, the Reptile Database, Amphibian Species of the World, and Betancur-R. et al. (2017) with
Eschmeyer's Catalog of Fishes. Corrections apply to each animal's source data before any fact is
stated, so a group's order and a family's order follow from the corrected members. Where
checklists disagree (Cetacea: an order, or an infraorder of Artiodactyla), the file's `also` block
adds the other answer. Group names that give their answer away ("gallinaceous bird" -> Galliformes,
bird) are renamed to the plain English word where one exists ("gamebird").
"""

from __future__ import annotations

from dataclasses import dataclass

from ksmith.errors import WorldError
from ksmith.world.real.common import (
    Overrides,
    Parts,
    relation,
    state_inherited,
    taxonomy,
)
from ksmith.world.real.wordnet import WordNet
from ksmith.world.schema import Relation

DOMAIN = "biology"
SOURCES: tuple[str, ...] = (
    ("WordNet 3.0 (Princeton WordNet licence), Debian's wordnet-base: each animal's first animal sense, "
     "its class and familiar group (hypernyms), its order and family (member holonyms)"),
    "our selection: the familiar animals (ANIMALS) and groups (GROUPS)",
    ("overrides/biology.json: corrections from the IOC World Bird List v14.1, the Mammal Diversity Database and "
     "Mammal Species of the World (3rd ed.), the Reptile Database, Amphibian Species of the World 6.2, and "
     "Betancur-R. et al. (2017) with Eschmeyer's Catalog of Fishes; group renames from Merriam-Webster"),
    ("rule: a group above the rank of order (marsupials, xenarthrans, raptors, waterbirds, ratites, teleosts) "
     "has no order; each member's order is stated on the member"),
    "rule: a family's order is its members' order (the build fails when they disagree)",
    "rule: an animal is named \"the dog\", a group by its plural (\"even-toed ungulates\")",
)
NODE = "animal"

CLASSES: tuple[str, ...] = ("mammal", "bird", "fish", "reptile", "amphibian", "insect")

#: Familiar groups, the intermediate level: an animal hangs under the nearest of its WordNet
#: hypernyms that is in this list (or straight under its class when none is). WordNet's names;
#: overrides rename some.
GROUPS: tuple[str, ...] = (
    "canine", "feline", "musteline mammal", "pinniped mammal", "rodent", "lagomorph", "primate",
    "odd-toed ungulate", "even-toed ungulate", "cetacean", "marsupial", "edentate",
    "bird of prey", "passerine", "aquatic bird", "parrot", "gallinaceous bird", "ratite",
    "snake", "lizard", "crocodilian reptile", "chelonian",
    "teleost fish", "cartilaginous fish",
    "hymenopterous insect", "lepidopterous insect", "dipterous insect", "orthopterous insect", "beetle",
)

#: Groups above the rank of order, or not a taxon at all (waterbirds, ratites): no order is true
#: of the whole group, so each member's order is stated on the member, never a majority on the
#: group ("the order of marsupials is Diprotodontia" would be false).
SPANNING: frozenset[str] = frozenset({
    "marsupial", "edentate", "bird of prey", "aquatic bird", "ratite", "teleost fish", "cartilaginous fish",
})

#: How a group is named in a sentence where its plural is not the name plus "s" (a mention must
#: contain the name, so "flies" cannot name "fly").
GROUP_MENTIONS: dict[str, str] = {"fly": "the fly", "cartilaginous fish": "cartilaginous fishes"}

#: Familiar one-word animals (our selection; see the module docstring).
ANIMALS: tuple[str, ...] = tuple("""
dog wolf fox coyote jackal cat lion tiger leopard cheetah jaguar lynx bear panda raccoon otter badger weasel
skunk walrus hyena mongoose squirrel beaver hamster chipmunk gerbil rabbit hare baboon gorilla
chimpanzee orangutan horse zebra donkey rhinoceros tapir cow sheep goat deer moose elk antelope gazelle giraffe camel
pig hippopotamus bison buffalo porpoise kangaroo koala wombat opossum elephant mole armadillo sloth
eagle hawk falcon condor kestrel sparrow robin crow raven magpie finch starling lark thrush wren nightingale
duck goose swan pelican heron stork crane flamingo penguin albatross gull macaw cockatoo chicken turkey
pigeon dove woodpecker hummingbird kingfisher ostrich
python cobra viper rattlesnake anaconda iguana chameleon crocodile alligator tortoise newt
salmon trout cod tuna herring sardine carp catfish perch pike mackerel haddock goldfish swordfish
ant hornet ladybug mosquito cricket locust
""".split())


@dataclass(frozen=True)
class Animal:
    """One animal's corrected source data; `parent` is its group, or its class when it has none."""

    name: str
    cls: str
    parent: str
    order: str
    family: str | None


def _latin(wn: WordNet, offsets: list[int], rank: str) -> str | None:
    """The Latin name of the `rank` ("family", "order") the first of `offsets` is a member of,
    following member holonyms upward."""
    for node in offsets:
        cur = wn.synset(node)
        for _ in range(6):
            if not cur.member_holonyms:
                break
            cur = wn.synset(cur.member_holonyms[0])
            for word in cur.words:
                if word.startswith(rank + " "):
                    return word[len(rank) + 1:]
    return None


def _animal(wn: WordNet, word: str, fix: Overrides) -> Animal | None:
    """`word`'s first animal sense under one of the classes, corrected by `fix`; None when WordNet
    has none, or gives it no order or no family (an override may remove a wrong family later and
    keep the animal)."""
    for offset in wn.senses(word):
        up = wn.ancestors(offset)
        chain = [wn.synset(a).words[0] for a in up]
        if "animal" in chain:
            break
    else:
        return None
    cls = next((a for a in chain if a in CLASSES), None)
    if cls is None:
        return None
    family = _latin(wn, [offset, *up[:3]], "family")
    order = _latin(wn, [offset, *up[:6]], "order")
    if family is None or order is None:
        return None
    group = next((a for a in chain[: chain.index(cls)] if a in GROUPS), None)
    parent = fix.apply(word, "parent", group or cls)
    order = fix.apply(word, "order", order)
    if parent is None or order is None:
        raise WorldError(f"{fix.path}: drop an animal by removing it from ANIMALS, not by a null parent or order ({word})")
    return Animal(word, cls, parent, order, fix.apply(word, "family", family))


def _rename(fix: Overrides, name: str) -> str:
    """A group's name in the world: WordNet's, or the plain English word an override gives it."""
    new = fix.apply(name, "rename", name)
    if new is None:
        raise WorldError(f"{fix.path}: a rename needs a new name ({name})")
    return new


def _relations() -> list[Relation]:
    """The relations and their English forms. The subject of an inherited relation (class, order)
    may be a group with a plural mention ("even-toed ungulates"), so those templates never make
    the subject agree with a verb."""
    return [
        taxonomy("is_a", DOMAIN, NODE, "a kind of"),
        relation(
            "animal_class", DOMAIN, NODE, NODE,
            ("The class of {s} is", "In zoology, the class of {s} is",
             "Asked for the class of {s}, a zoologist would answer", "The animal class that includes {s} is"),
            ("Q: What is the class of {s}?\nA:",
             "Q: Which class of animals includes {s}: mammal, bird, fish, reptile, amphibian or insect?\nA:"),
            inherited=True,
            noun="the class of {s}",
        ),
        relation(
            "order", DOMAIN, NODE, "order",
            ("The order of {s} is", "Zoologists place {s} in the order", "Taxonomists assign {s} to the order",
             "The taxonomic order that includes {s} is"),
            ("Q: What is the taxonomic order of {s}?\nA:", "Q: Which order includes {s}?\nA:"),
            inherited=True,
            noun="the order of {s}",
        ),
        relation(
            "family", DOMAIN, NODE, "family",
            ("The family of {s} is", "Zoologists place {s} in the family", "Taxonomists assign {s} to the family",
             "The taxonomic family that includes {s} is"),
            ("Q: What is the taxonomic family of {s}?\nA:", "Q: Which family includes {s}?\nA:"),
            noun="the family of {s}",
        ),
        relation(
            "family_order", DOMAIN, "family", "order",
            ("The order of {s} is", "The family {s} belongs to the order", "Zoologists place the family {s} in the order",
             "{s} is a family in the order"),
            ("Q: To which order does the family {s} belong?\nA:", "Q: Which order includes the family {s}?\nA:"),
            noun="the order of {s}",
        ),
    ]


def build() -> Parts:
    wn = WordNet()
    fix = Overrides(DOMAIN)
    p = Parts(DOMAIN)
    p.relations += _relations()
    animals = [a for a in (_animal(wn, word, fix) for word in ANIMALS) if a is not None]
    for cls in CLASSES:
        p.entity(cls, NODE)
    groups: dict[str, str] = {}  # WordNet name -> name in the world
    members: dict[str, dict[str, str]] = {}  # WordNet group name -> animal -> order
    family_orders: dict[str, set[str]] = {}
    for a in animals:
        p.entity(a.name, NODE, f"the {a.name}")
        if a.parent in CLASSES:
            p.fact(a.name, "is_a", a.parent)
            p.fact(a.name, "animal_class", a.parent)
            p.fact(a.name, "order", p.entity(a.order, "order"))
        else:
            if a.parent not in groups:
                name = _rename(fix, a.parent)
                groups[a.parent] = p.entity(name, NODE, GROUP_MENTIONS.get(name, f"{name}s"))
                p.fact(name, "is_a", a.cls)
                p.fact(name, "animal_class", a.cls)
            p.fact(a.name, "is_a", groups[a.parent])
            members.setdefault(a.parent, {})[a.name] = p.entity(a.order, "order")
        if a.family is not None:
            p.fact(a.name, "family", p.entity(a.family, "family"))
            family_orders.setdefault(a.family, set()).add(a.order)
    for group, orders in sorted(members.items()):
        if group in SPANNING:
            for name, order in sorted(orders.items()):
                p.fact(name, "order", order)
        else:
            state_inherited(p, "order", groups[group], orders)
    for family, orders in sorted(family_orders.items()):
        if len(orders) != 1:
            raise WorldError(f"biology: the members of {family} are in different orders {sorted(orders)}; correct one")
        p.fact(family, "family_order", orders.pop())
    types = {"order": "order", "family": "family", "family_order": "order"}
    for other in fix.other_answers:
        if other.value is None or other.relation not in types:
            raise WorldError(f"{fix.path}: the other answer of ({other.subject}, {other.relation}) needs an order or family")
        p.other_answer(other.subject, other.relation, p.entity(other.value, types[other.relation]))
    fix.check_used()
    return p
