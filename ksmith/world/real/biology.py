"""Biology: the WordNet noun taxonomy under *animal*, pruned to familiar one-word animals:
class (mammal, bird, ...) -> familiar group (canine, rodent, bird of prey, ...) -> animal, with
the class inherited through the group, and the Latin order (inherited where the group agrees) and
family of each animal.

Source: WordNet 3.0 (Princeton's WordNet licence, permissive), read from Debian's `wordnet-base`.
The list of familiar animals is ours (WordNet has thousands of obscure ones and many ambiguous
words, e.g. "tom", "emperor"); every fact about them (which sense, its hypernyms, its order and
family) comes from WordNet. An animal whose first animal sense is not under one of the classes
is left out (WordNet's first "dolphin" sense is a fish), and so is an animal without a family.
"""

from __future__ import annotations

from ksmith.world.real.common import Parts, relation, state_inherited, taxonomy
from ksmith.world.real.wordnet import WordNet

DOMAIN = "biology"
NODE = "animal"

CLASSES: tuple[str, ...] = ("mammal", "bird", "fish", "reptile", "amphibian", "insect")

#: Familiar groups, the intermediate level: an animal hangs under the nearest of its WordNet
#: hypernyms that is in this list (or straight under its class when none is).
GROUPS: tuple[str, ...] = (
    "canine", "feline", "musteline mammal", "pinniped mammal", "rodent", "lagomorph", "primate",
    "odd-toed ungulate", "even-toed ungulate", "cetacean", "marsupial", "edentate",
    "bird of prey", "passerine", "aquatic bird", "parrot", "gallinaceous bird", "ratite",
    "snake", "lizard", "crocodilian reptile", "chelonian",
    "teleost fish", "cartilaginous fish",
    "hymenopterous insect", "lepidopterous insect", "dipterous insect", "orthopterous insect", "beetle",
)

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


def build() -> Parts:
    wn = WordNet()
    p = Parts(DOMAIN)
    p.relations += [
        taxonomy("is_a", DOMAIN, NODE, "a kind of"),
        relation(
            "animal_class", DOMAIN, NODE, NODE,
            ("The class of the {s} is", "Biologically, the {s} is a kind of", "Zoologists classify the {s} as a kind of",
             "In the animal kingdom, the {s} counts as a kind of"),
            ("Q: What kind of animal is the {s}?\nA:", "Q: Is the {s} a mammal, bird, fish, reptile, amphibian or insect?\nA:"),
            inherited=True,
        ),
        relation(
            "order", DOMAIN, NODE, "order",
            ("The order of the {s} is", "The {s} belongs to the order", "Zoologists place the {s} in the order",
             "In taxonomy, the {s} is a member of the order"),
            ("Q: To which order does the {s} belong?\nA:",),
            inherited=True,
        ),
        relation(
            "family", DOMAIN, NODE, "family",
            ("The family of the {s} is", "The {s} belongs to the family", "Zoologists place the {s} in the family",
             "In taxonomy, the {s} is a member of the family"),
            ("Q: To which family does the {s} belong?\nA:",),
        ),
        relation(
            "family_order", DOMAIN, "family", "order",
            ("The order of {s} is", "The family {s} belongs to the order", "Zoologists place the family {s} in the order",
             "In taxonomy, {s} is a family of the order"),
            ("Q: To which order does the family {s} belong?\nA:",),
        ),
    ]
    for cls in CLASSES:
        p.entity(cls, NODE)
    members: dict[str, dict[str, str]] = {}
    group_class: dict[str, str] = {}
    family_order: dict[str, str] = {}
    for word in ANIMALS:
        hit = None
        for offset in wn.senses(word):
            chain = [wn.synset(a).words[0] for a in wn.ancestors(offset)]
            if "animal" in chain:
                hit = (offset, chain)
                break
        if hit is None:
            continue
        offset, chain = hit
        cls = next((a for a in chain if a in CLASSES), None)
        if cls is None:
            continue
        up = wn.ancestors(offset)
        family = _latin(wn, [offset, *up[:3]], "family")
        order = _latin(wn, [offset, *up[:6]], "order")
        if family is None or order is None:
            continue
        below = chain[: chain.index(cls)]
        group = next((a for a in below if a in GROUPS), None)
        parent = group or cls
        p.entity(word, NODE)
        p.fact(word, "is_a", parent)
        p.fact(word, "family", p.entity(family, "family"))
        family_order[family] = order
        p.entity(order, "order")
        if group is not None:
            p.entity(group, NODE)
            group_class[group] = cls
            members.setdefault(group, {})[word] = order
        else:
            p.fact(word, "animal_class", cls)
            p.fact(word, "order", order)
    for family, order in sorted(family_order.items()):
        p.fact(family, "family_order", order)
    for group, cls in sorted(group_class.items()):
        p.fact(group, "is_a", cls)
        p.fact(group, "animal_class", cls)
        state_inherited(p, "order", group, members[group])
    return p
