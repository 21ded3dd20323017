"""Hand-built probes and scores for metric tests (no world, no model: every expected value by hand)."""

from __future__ import annotations

from dataclasses import dataclass

from ksmith.probes.types import Intervention, Probe
from ksmith.scoring import Score

FAMILY = {
    "direct": "Q+",
    "reverse": "Q+",
    "multi_hop": "Q+",
    "comparison": "Q+",
    "conflict": "Q+",
    "contextual": "Q-",
}


def probe(
    pid: str,
    probe_type: str,
    *,
    task: str = "edit",
    iid: str = "i0",
    family: str | None = None,
    before: int = 0,
    after: int | None = 1,
    hop: int = 0,
    held_out: bool = False,
    paraphrase_id: int = 0,
    domain: str = "biology",
    level: str = "leaf",
) -> Probe:
    family = family or FAMILY[probe_type]
    if family == "Q-":
        after = before
    avoid = None
    if task == "unlearn" and family == "Q+":
        after, avoid = None, before
    return Probe(
        id=pid,
        task=task,
        domain=domain,
        level=level,
        scale=1,
        intervention_id=iid,
        probe_type=probe_type,
        family=family,
        question=f"q {pid}?",
        prompt=f"p {pid}",
        choices=("a", "b", "c", "d"),
        answer_before=before,
        answer_after=after,
        avoid=avoid,
        hop=hop,
        paraphrase_id=paraphrase_id,
        held_out=held_out,
    )


def intervention(
    iid: str = "i0",
    relation: str = "habitat",
    domain: str = "biology",
    task: str = "edit",
) -> Intervention:
    return Intervention(
        id=iid,
        task=task,
        subject=f"s{iid}",
        relation=relation,
        old_object="old",
        new_object="new" if task == "edit" else None,
        domain=domain,
        level="leaf",
        prompts=(f"The {relation} of s{iid} is",),
    )


@dataclass(frozen=True)
class FakeDataset:
    probes: tuple[Probe, ...]
    interventions: tuple[Intervention, ...] = ()


def scores(
    choices: dict[str, int | None], protocol: str = "mcq"
) -> dict[str, dict[str, Score]]:
    """protocol -> {probe_id: Score} with the given chosen options."""
    return {
        protocol: {
            pid: Score(
                probe_id=pid,
                protocol=protocol,
                choice=c,
                option_scores=(0.0, 0.0, 0.0, 0.0),
            )
            for pid, c in choices.items()
        }
    }


def merge(*parts: dict[str, dict[str, Score]]) -> dict[str, dict[str, Score]]:
    out: dict[str, dict[str, Score]] = {}
    for part in parts:
        for protocol, table in part.items():
            out.setdefault(protocol, {}).update(table)
    return out


def values(vals: dict[str, float], protocol: str) -> dict[str, dict[str, Score]]:
    return {
        protocol: {
            pid: Score(probe_id=pid, protocol=protocol, choice=None, value=v)
            for pid, v in vals.items()
        }
    }
