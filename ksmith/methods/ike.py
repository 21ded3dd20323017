"""IKE: in-context knowledge editing (Zheng et al., 2023) — no weight changes at all.

The new fact is stated in the prompt at scoring time: for each intervention the method returns a
prefix (`UpdateResult.prompt_prefix`, intervention id -> text) that the scoring engine prepends
verbatim to every probe of that intervention. The propagation literature finds that in-context
editing spreads an edit to related questions better than parametric editors do, so it is the
baseline they are measured against.

The prefix renders the fact with the intervention's own held-in cloze prompts followed by the new
object ("The habitat of Zorblat is desert ."), `statements` of them, each closed by `terminator`
and followed by `separator`. The full IKE recipe also puts demonstrations (copy / update / retain
examples) before the query; those teach a large model the *format* of in-context updating, which a
word-level tiny model has no use for, so they are left out. Unlearning is not supported: there is
no in-context statement that removes a fact without asserting another one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ksmith.errors import MethodError
from ksmith.methods.base import Hparams, Method, UpdateRequest, UpdateResult
from ksmith.methods.registry import register_method


@dataclass(frozen=True)
class IKEHparams(Hparams):
    """statements: how many of the intervention's prompts to state (each with the new object).

    terminator: closes each statement (the tiny-kg corpus ends sentences with " ."); separator:
    between statements and before the probe's own prompt.
    """

    statements: int = 1
    terminator: str = " ."
    separator: str = " "


def fact_statement(prompt: str, obj: str, terminator: str) -> str:
    """A cloze prompt completed by its object: the fact as a sentence."""
    return f"{prompt} {obj}{terminator}"


@register_method("ike", family="edit")
class IKE(Method):
    Hparams = IKEHparams

    def apply(self, model: Any, tokenizer: Any, request: UpdateRequest) -> UpdateResult:
        start = time.perf_counter()
        hp = self.hparams_for(None)
        if request.task != "edit":
            raise MethodError("ike supports the 'edit' task only (an in-context statement cannot unlearn)")
        if hp.statements < 1:
            raise MethodError(f"ike: statements must be >= 1, got {hp.statements}")
        prefixes: dict[str, str] = {}
        for iv in request.interventions:
            if not iv.new_object:
                raise MethodError(f"edit intervention {iv.id!r} has no new object")
            if not iv.prompts:
                raise MethodError(f"intervention {iv.id!r} has no prompts to state the fact with")
            sentences = [fact_statement(p, iv.new_object, hp.terminator) for p in iv.prompts[: hp.statements]]
            prefixes[iv.id] = hp.separator.join(sentences) + hp.separator
        return UpdateResult(
            touched=(), prompt_prefix=prefixes, wall_s=time.perf_counter() - start, parametric=False
        )
