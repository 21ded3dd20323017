"""The one update operator `θ' = T(θ; e, c)` shared by every editing and unlearning method.

A method sees a model, its tokenizer and an `UpdateRequest` (e = interventions, c = retain items)
and returns an `UpdateResult`. It never restores weights (the model fixture does, and verifies it)
and never scores (the scoring engine does).

Defaults. Every method's default hyper-parameters for the tiny models were chosen on the tuning split:
world seed 0 with intervention seeds 0-9 (`ksmith.grid.TUNING_SEEDS`). Reported grids (the findings
grid, `ksmith.grid.FINDINGS_SEEDS`) draw their interventions with other seeds, so no reported finding
is computed on the cells a default was tuned on.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

# The request is data (what the dataset says to change and keep), so it lives with the dataset's
# records; methods import it from here as before.
from ksmith.probes.types import UpdateRequest

__all__ = ["Hparams", "Method", "UpdateRequest", "UpdateResult"]


@dataclass
class UpdateResult:
    """What a method did: which parameters it touched, how long, and how its loss went.

    touched:       names (as in `model.named_parameters()`) of every tensor the method may have
                   changed; the harness checks that no other tensor changed.
    prompt_prefix: for in-context methods (IKE) the text to prepend at scoring time, keyed by
                   intervention id; empty for parametric methods.
    parametric:    the method works by changing weights, so "something changed" is part of its
                   contract. Stated, not inferred from `prompt_prefix`: an in-context method given
                   an empty request has no prefix and is still not parametric.
    """

    touched: tuple[str, ...]
    steps: int = 0
    loss_curve: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    prompt_prefix: dict[str, str] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    parametric: bool = True


@dataclass(frozen=True)
class Hparams:
    """Base of every method's hyper-parameter dataclass; subclasses add typed fields with defaults."""

    def replace(self, **changes: Any) -> "Hparams":
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Method(ABC):
    """An update operator. Subclasses set `name`, `families`, `Hparams` and implement `apply`.

    `hparams_for(arch)` gives the hyper-parameters for a model: the method's defaults for that
    architecture (e.g. which layer ROME edits), or `hparams` when given, with `overrides` on top.
    """

    name: ClassVar[str] = ""
    families: ClassVar[frozenset[str]] = frozenset()
    Hparams: ClassVar[type[Hparams]] = Hparams

    def __init__(self, hparams: Hparams | None = None, **overrides: Any) -> None:
        self.hparams = hparams
        self.overrides = overrides

    def hparams_for(self, arch: Any) -> Hparams:
        """Hyper-parameters to use on a model of architecture `arch` (explicit ones win)."""
        base = self.hparams if self.hparams is not None else self.default_hparams(arch)
        return dataclasses.replace(base, **self.overrides) if self.overrides else base

    def default_hparams(self, arch: Any) -> Hparams:
        return self.Hparams()

    def prepare(self, model: Any, tokenizer: Any) -> dict[str, float]:
        """Work that depends on the model but on no request (ROME/MEMIT/AlphaEdit: the key
        statistics), done ahead so the harness can time it apart from the update; returns timings
        (`stats_s`: seconds spent, 0 when cached). `apply` never relies on it having run."""
        return {}

    @abstractmethod
    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        """Apply `T(θ; e, c)` in place to `model`; return what was touched."""
