"""Adapters from what the harness hands to metrics (a dataset, score containers) to plain lookups.

Metrics are pure functions of probes and scores. They accept the real containers (`Dataset`,
`Scores`) and the plain shapes those containers are built from, so a test can pass a list of probes
and a dict of scores, and so metrics do not break while the containers evolve.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ksmith.errors import KsmithError
from ksmith.probes.types import Intervention, Probe
from ksmith.scoring import PROTOCOLS, Score


class MetricsError(KsmithError):
    """Inputs that metrics cannot use (scores of the wrong shape, unknown protocol, ...)."""


@dataclass(frozen=True)
class ProbeSet:
    """A subset of a dataset (some probes and the interventions they belong to), for `compute`."""

    probes: tuple[Probe, ...]
    interventions: tuple[Intervention, ...] = ()


def subset(dataset: Any, intervention_ids: Iterable[str]) -> ProbeSet:
    """The probes and interventions of `dataset` that belong to the given interventions."""
    keep = set(intervention_ids)
    return ProbeSet(
        tuple(p for p in all_probes_of(dataset) if p.intervention_id in keep),
        tuple(iv for iid, iv in interventions_of(dataset).items() if iid in keep),
    )


def probes_of(dataset: Any) -> tuple[Probe, ...]:
    """The probes that metrics count: those of `all_probes_of` minus condition queries (imported
    RippleEdits tests' preconditions, scored before the update and never counted themselves)."""
    return tuple(p for p in all_probes_of(dataset) if not p.condition)


def all_probes_of(dataset: Any) -> tuple[Probe, ...]:
    """The probes of a `Dataset` (its `.probes`) or of a plain sequence of `Probe`."""
    probes = getattr(dataset, "probes", dataset)
    if callable(probes):
        probes = probes()
    try:
        out = tuple(probes)
    except TypeError as exc:
        raise MetricsError(
            f"cannot read probes from {type(dataset).__name__}: pass a Dataset or a sequence of Probe"
        ) from exc
    for probe in out:
        if not isinstance(probe, Probe):
            raise MetricsError(f"expected Probe records, got {type(probe).__name__}")
    return out


def interventions_of(dataset: Any) -> dict[str, Intervention]:
    """Intervention id -> Intervention, from a `Dataset`'s `.interventions` (empty when absent)."""
    items = getattr(dataset, "interventions", ())
    if callable(items):
        items = items()
    if isinstance(items, Mapping):
        items = items.values()
    return {item.id: item for item in items if isinstance(item, Intervention)}


def scores_of(scores: Any, protocol: str) -> Mapping[str, Score]:
    """probe_id -> Score under one protocol, from any of the shapes scores travel in.

    Accepted: a `Scores` container (`.of(protocol)`); a mapping protocol -> {probe_id: Score}; a
    mapping probe_id -> Score or an iterable of Score (filtered by each score's protocol tag).
    A protocol that was not scored gives an empty mapping.
    """
    if protocol not in PROTOCOLS:
        raise MetricsError(
            f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}"
        )
    if scores is None:
        return {}
    of = getattr(scores, "of", None)
    if callable(of):
        try:
            got = of(protocol)
        except (KeyError, KsmithError):
            return {}
        return got or {}
    if isinstance(scores, Mapping):
        if protocol in scores and isinstance(scores[protocol], Mapping):
            return scores[protocol]
        if any(isinstance(value, Mapping) for value in scores.values()):
            return {}  # keyed by protocol, and this protocol is absent
        values: Iterable[Any] = scores.values()
    else:
        values = scores
    out: dict[str, Score] = {}
    for score in values:
        if not isinstance(score, Score):
            raise MetricsError(f"expected Score records, got {type(score).__name__}")
        if score.protocol == protocol:
            out[score.probe_id] = score
    return out


def protocols_in(scores: Any) -> tuple[str, ...]:
    """The protocols for which `scores` holds at least one score, in `PROTOCOLS` order."""
    return tuple(p for p in PROTOCOLS if scores_of(scores, p))


def relation_of(probe: Probe, interventions: Mapping[str, Intervention]) -> str | None:
    """The relation of the intervention a probe belongs to (None when the dataset did not say)."""
    item = interventions.get(probe.intervention_id)
    return item.relation if item is not None else None


def target_domain(probe: Probe, interventions: Mapping[str, Intervention]) -> str:
    """The domain of the probe's intervention target (the probe's own domain when unknown)."""
    item = interventions.get(probe.intervention_id)
    return item.domain if item is not None else probe.domain


def is_held_out(
    probe: Probe,
    interventions: Mapping[str, Intervention],
    held_out: Mapping[str, int] | None,
) -> bool:
    """Whether a probe uses a paraphrase the model never saw in training.

    For a direct probe (its relation is the intervention's) with `held_out` (relation ->
    paraphrase id, recorded on the model), the model's own record decides; otherwise the probe's
    `held_out` flag, set by the dataset generator from the same world templates, does. Other probe
    types may ask another relation (contextual, 2-hop), so only their own flag can say.
    """
    if held_out and probe.probe_type == "direct":
        relation = relation_of(probe, interventions)
        if relation is not None and relation in held_out:
            return held_out[relation] == probe.paraphrase_id
    return probe.held_out


def group_by(items: Sequence[Any], key: Any) -> dict[Any, list[Any]]:
    """Group items by `key(item)`, keeping first-seen order of the keys."""
    groups: dict[Any, list[Any]] = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
