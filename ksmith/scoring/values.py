"""What scoring returns: protocol names, `Score` (one probe under one protocol), `Scores` (a run's
scores by protocol), and a request's log-likelihood. Plain data, no torch, so metrics import it cheaply."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from ksmith.errors import KsmithError

if TYPE_CHECKING:
    from ksmith.probes.types import Probe

log = logging.getLogger(__name__)

#: Protocol names. A metric value is always tagged with exactly one of these.
PROTOCOLS: tuple[str, ...] = ("mcq", "mcq_norm", "prob_compare", "token_acc", "gen_match")


@dataclass(frozen=True)
class Score:
    """How a model answered one probe under one protocol.

    choice:          the option index the model picked (mcq, mcq_norm: argmax of option scores;
                     gen_match: index of the option the generation matched, or None).
    option_scores:   per option: summed log-likelihood (mcq), or that sum divided by the option's
                     length in characters (mcq_norm, lm-eval's `acc_norm`); empty for protocols that
                     do not score options. Ties go to the first option, as numpy's argmax in lm-eval.
    value:           the protocol's scalar where it has one (prob_compare: log p(new) - log p(old)
                     for edits; token_acc: teacher-forced token accuracy of the expected answer;
                     gen_match: 1.0 or 0.0).
    text:            generated text (gen_match only).
    """

    probe_id: str
    protocol: str
    choice: int | None
    option_scores: tuple[float, ...] = ()
    value: float | None = None
    text: str | None = None


class ScoringError(KsmithError):
    """A request the engine cannot score (empty continuation, unknown protocol, ...)."""


@dataclass(frozen=True)
class LoglikelihoodResult:
    """The answer to one `loglikelihood(context, continuation)` request.

    logprob:   sum of log p(token | preceding tokens) over the continuation's tokens.
    n_tokens:  number of continuation tokens.
    greedy:    True when every continuation token is the model's argmax (greedy decoding would
               produce exactly this continuation).
    n_greedy:  how many continuation tokens are the argmax (teacher-forced token accuracy).
    """

    logprob: float
    n_tokens: int
    greedy: bool
    n_greedy: int

    @property
    def mean(self) -> float:
        """Per-token mean log-likelihood (not what `mcq_norm` uses: that divides by characters)."""
        return self.logprob / max(1, self.n_tokens)


def normalise_answer(text: str) -> str:
    """Lower-case words separated by single spaces: what `gen_match` compares."""
    return " ".join(re.findall(r"\w+", text.lower()))


def expected_answer(probe: Probe) -> int:
    """Index of the option a probe expects after the update (answer_before when none is given)."""
    return probe.answer_after if probe.answer_after is not None else probe.answer_before


@dataclass
class Scores:
    """One `Score` per (probe, protocol); round-trips through JSON so it can be cached."""

    items: dict[tuple[str, str], Score] = field(default_factory=dict)

    def add(self, score: Score) -> None:
        self.items[(score.probe_id, score.protocol)] = score

    def get(self, probe_id: str, protocol: str) -> Score:
        try:
            return self.items[(probe_id, protocol)]
        except KeyError:
            raise ScoringError(
                f"no {protocol!r} score for probe {probe_id!r}; scored protocols: {sorted(self.protocols)}"
            ) from None

    def of(self, protocol: str) -> dict[str, Score]:
        """probe_id -> Score for one protocol."""
        return {pid: score for (pid, proto), score in self.items.items() if proto == protocol}

    @property
    def protocols(self) -> set[str]:
        return {proto for _, proto in self.items}

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[Score]:
        return iter(self.items.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Scores) and self.items == other.items

    def to_json(self) -> str:
        return json.dumps([asdict(score) for score in self.items.values()])

    @classmethod
    def from_json(cls, text: str) -> Scores:
        scores = cls()
        for raw in json.loads(text):
            raw["option_scores"] = tuple(raw.get("option_scores") or ())
            scores.add(Score(**raw))
        return scores


def check_protocols(protocols: Iterable[str]) -> tuple[str, ...]:
    chosen = tuple(dict.fromkeys(protocols))
    unknown = [p for p in chosen if p not in PROTOCOLS]
    if unknown:
        raise ScoringError(f"unknown protocol(s) {unknown}; known: {', '.join(PROTOCOLS)}")
    return chosen


#: Token budget of one forward pass (rows x padded width) on CPU, chosen rather than searched: a few
#: hundred MCQ rows per pass (matmuls large enough for the CPU's GEMM kernels) while the activations
