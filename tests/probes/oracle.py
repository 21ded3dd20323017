"""The probe tests' own answer key: whether `choice` answers a parsed question in `world`.

Shared by the synthetic and the real-world tests, which parse prompts differently but ask the same
four kinds of question. Written from the world's facts alone, never from ksmith.probes' generator.
"""

from __future__ import annotations

from ksmith.probes.types import Probe
from ksmith.world import World


def right(world: World, asked: tuple, choice: str) -> bool:
    """asked: ("fact", s, r), ("compose", s, r1, r2), ("reverse", o, r) or ("compare", s, r).

    Right means a reader would accept it: any of the fact's true answers (`World.true_objects`: a
    second official language, a second continent), not only the stated one."""
    kind = asked[0]
    if kind == "fact":
        return choice in world.true_objects(asked[1], asked[2])
    if kind == "compose":
        return any(choice in world.true_objects(mid, asked[3]) for mid in world.true_objects(asked[1], asked[2]))
    if kind == "reverse":
        return world.object_of(choice, asked[2]) == asked[1]
    if kind == "compare":
        mine = set(world.true_objects(asked[1], asked[2]))
        return bool(mine) and choice != asked[1] and bool(mine & set(world.true_objects(choice, asked[2])))
    raise AssertionError(kind)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


class RealOracle:
    """Reads a real probe back into the fact it asks: the probe names it (`asks`), and the prompt
    must be exactly that fact in one of the relation's own forms, the subject by its mention."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.by_inverse = {r.inverse: r for r in world.relations.values() if r.inverse}
        self.named = {world.mention(n): n for n in world.entities}

    def option(self, text: str) -> str:
        """The entity an option names (reverse and comparison options are subjects' mentions)."""
        return self.named.get(text, text)

    def right(self, world: World, asked: tuple, choice: str) -> bool:
        return right(world, asked, self.option(choice) if asked[0] in ("reverse", "compare") else choice)

    def _fact_forms(self, rel: str, subject: str) -> set[str]:
        tpl = self.world.relations[rel].templates
        return {_sentence(t.replace("{s}", self.world.mention(subject))) for t in tpl.cloze}

    def parse(self, p: Probe) -> list[tuple]:
        w = self.world
        subject, rel = p.asks.split("|")
        prompt = p.prompt
        if p.probe_type == "conflict":
            assert prompt.startswith("Some say that "), prompt
            prompt = next((f for f in self._fact_forms(rel, subject) if p.prompt.endswith(". " + f)), "")
        if p.probe_type == "reverse":
            base = self.by_inverse[rel]
            forms = {_sentence(t.replace("{o}", w.mention(subject))) for t in base.templates.reverse}
            return [("reverse", subject, base.name)] if prompt in forms else []
        if p.probe_type == "comparison":
            noun = w.relations[rel].templates.noun.replace("{s}", w.mention(subject))
            return [("compare", subject, rel)] if prompt == _sentence(f"{noun} is the same as that of") else []
        if "/" in rel:
            r1, r2 = rel.split("/")
            inner = w.relations[r1].templates.noun.replace("{s}", w.mention(subject))
            outer = w.relations[r2].templates.noun.replace("{s}", inner)
            return [("compose", subject, r1, r2)] if prompt == _sentence(f"{outer} is") else []
        return [("fact", subject, rel)] if prompt in self._fact_forms(rel, subject) else []
