"""One batched log-likelihood engine that every metric uses.

(The engine itself is built by the models-and-scoring work; this module starts with the record
every protocol returns, so metrics and the harness can code against it.)
"""

from __future__ import annotations

from dataclasses import dataclass

#: Protocol names. A metric value is always tagged with exactly one of these.
PROTOCOLS: tuple[str, ...] = ("mcq", "mcq_norm", "prob_compare", "token_acc", "gen_match")


@dataclass(frozen=True)
class Score:
    """How a model answered one probe under one protocol.

    choice:          the option index the model picked (mcq, mcq_norm: argmax of option scores;
                     gen_match: index of the option the generation matched, or None).
    option_scores:   per option: summed log-likelihood (mcq) or per-token mean (mcq_norm); empty
                     for protocols that do not score options.
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
