"""`Metric`: one named value with the protocol it was measured under (never mixed across protocols)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    """A metric value.

    n:        number of items behind the value (probes, pairs, prompts, matrices).
    n_units:  number of independent units among them (interventions; what the interval resamples);
              None where the items are not grouped by intervention (drift prompts, weight matrices).
    ci:       (low, high) 95% confidence interval over the units, when computed.
    executed: fraction of probes that passed precondition filtering, when filtering applies.
    higher_is_better: direction, shown as ↑/↓ in leaderboards (None: no direction).
    """

    name: str
    value: float
    protocol: str
    n: int
    ci: tuple[float, float] | None = None
    n_units: int | None = None
    executed: float | None = None
    higher_is_better: bool | None = True
