"""Export: EasyEdit's KnowEdit-style JSON, so EasyEdit can run on ksmith's probes.

One record per intervention (edit datasets only; KnowEdit describes edits, not unlearning):

| ksmith | KnowEdit field |
|---|---|
| intervention subject | `subject` |
| first held-in direct probe (its prompt) | `prompt` |
| intervention new object / old object | `target_new` / `ground_truth` |
| first held-out direct probe | `rephrase_prompt` (absent when the dataset has none) |
| multi_hop and comparison probes | `portability.Reasoning` |
| reverse probes | `portability.Logical_Generalization` |
| contextual probes | `locality.Relation_Specificity` |

Each portability / locality entry is `{"prompt", "ground_truth": [[answer, *aliases]]}` with the
answer the probe expects after the edit. Conflict probes (a claim in the context) and
RippleEdits' condition queries have no KnowEdit counterpart and are left out.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text
from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import FormatError
from ksmith.probes.types import Probe

PORTABILITY = {"multi_hop": "Reasoning", "comparison": "Reasoning", "reverse": "Logical_Generalization"}


def _entry(p: Probe) -> dict[str, Any]:
    index = p.answer_after if p.answer_after is not None else p.answer_before
    names = [p.choices[index], *(p.aliases[index] if p.aliases else ())]
    return {"prompt": p.prompt, "ground_truth": [names]}


def records(dataset: Dataset) -> list[dict[str, Any]]:
    """The KnowEdit-style records of an edit dataset."""
    if dataset.task != "edit":
        raise FormatError(
            f"the dataset is a {dataset.task} dataset; EasyEdit's KnowEdit format describes edits "
            "(export an edit dataset, e.g. `ksmith data import` without --task unlearn)"
        )
    by_iv: dict[str, list[Probe]] = {}
    for p in dataset.probes:
        if not p.condition:
            by_iv.setdefault(p.intervention_id, []).append(p)
    out = []
    for iv in dataset.interventions:
        probes = by_iv.get(iv.id, [])
        direct = [p for p in probes if p.probe_type == "direct" and not p.held_out]
        rephrase = [p for p in probes if p.probe_type == "direct" and p.held_out]
        rec: dict[str, Any] = {
            "subject": iv.subject,
            "prompt": direct[0].prompt if direct else iv.prompts[0],
            "target_new": iv.new_object,
            "ground_truth": iv.old_object,
        }
        if rephrase:
            rec["rephrase_prompt"] = rephrase[0].prompt
        portability: dict[str, list[dict[str, Any]]] = {}
        locality: dict[str, list[dict[str, Any]]] = {}
        for p in probes:
            if p.probe_type in PORTABILITY and p.family == "Q+":
                portability.setdefault(PORTABILITY[p.probe_type], []).append(_entry(p))
            elif p.probe_type == "contextual":
                locality.setdefault("Relation_Specificity", []).append(_entry(p))
        rec["portability"] = portability
        rec["locality"] = locality
        out.append(rec)
    return out


def write(dataset: Dataset, out: Path) -> list[Path]:
    """Write the records as one JSON file at `out` (atomically)."""
    atomic_write_text(out, json.dumps(records(dataset), ensure_ascii=False, indent=1) + "\n")
    return [out]
