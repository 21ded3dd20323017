"""The attacks ksmith runs, as values: a name, its kind and its settings."""

from __future__ import annotations

from dataclasses import dataclass

from ksmith.errors import KsmithError


class AttackError(KsmithError):
    """A bad attack selection or an attack that cannot run on this model."""


@dataclass(frozen=True)
class Attack:
    """One attack.

    kind:        "quantise" or "relearn".
    bits:        quantise: the integer width of every block projection's weights.
    group_size:  quantise: input columns that share one scale (None: one scale per output channel).
    symmetric:   quantise: scale only, zero at 0 (True), or scale and zero point (False).
    steps:       relearn: fine-tuning steps on the related facts; attacks of one kind that differ only
                 in `steps` share one run, scored after each (`relearn10` is `relearn50`'s step 10).
    """

    name: str
    kind: str
    bits: int = 0
    group_size: int | None = None
    symmetric: bool = True
    steps: int = 0


#: Every attack, in the order they are reported. int8: symmetric, one scale per output channel
#: (torchao's int8 weight-only scheme); int4: asymmetric in groups of 64 input columns (torchao's
#: int4 weight-only scheme uses groups of 128, which SmolLM2's width 576 does not divide; 64 divides
#: every width ksmith's models have).
ATTACKS: dict[str, Attack] = {
    "int8": Attack("int8", "quantise", bits=8, group_size=None, symmetric=True),
    "int4": Attack("int4", "quantise", bits=4, group_size=64, symmetric=False),
    "relearn10": Attack("relearn10", "relearn", steps=10),
    "relearn50": Attack("relearn50", "relearn", steps=50),
}


def parse_attacks(text: str | None) -> tuple[str, ...]:
    """`--ksmith-attacks`: "all" (default), "none", or names from `ATTACKS` separated by commas."""
    value = (text or "all").strip()
    if value == "all":
        return tuple(ATTACKS)
    if value == "none":
        return ()
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    unknown = [n for n in names if n not in ATTACKS]
    if unknown or not names:
        raise AttackError(
            f"unknown attack(s) {unknown or [value]}; use all, none, or a comma list of {', '.join(ATTACKS)}"
        )
    return tuple(n for n in ATTACKS if n in names)  # reported in the table's order
