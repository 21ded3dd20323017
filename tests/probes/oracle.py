"""The probe tests' own answer key: whether `choice` answers a parsed question in `world`.

Shared by the synthetic and the real-world property tests, which parse prompts differently but ask
the same four kinds of question. Written from the world's facts alone, never from ksmith.probes.
"""

from __future__ import annotations

from ksmith.world import World


def right(world: World, asked: tuple, choice: str) -> bool:
    """asked: ("fact", s, r), ("compose", s, r1, r2), ("reverse", o, r) or ("compare", s, r)."""
    kind = asked[0]
    if kind == "fact":
        return world.object_of(asked[1], asked[2]) == choice
    if kind == "compose":
        mid = world.object_of(asked[1], asked[2])
        return mid is not None and world.object_of(mid, asked[3]) == choice
    if kind == "reverse":
        return world.object_of(choice, asked[2]) == asked[1]
    if kind == "compare":
        mine = world.object_of(asked[1], asked[2])
        return mine is not None and choice != asked[1] and world.object_of(choice, asked[2]) == mine
    raise AssertionError(kind)
