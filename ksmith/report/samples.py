"""Per-probe samples: what the model chose on every probe, before and after the update.

A metric such as `direct_acc = 0.62` cannot be traced to examples from `results.jsonl`; with
`--ksmith-log-samples` each case also writes `samples/<case-id>.jsonl` in its run directory (the
feature lm-evaluation-harness users know as `--log_samples`). One line per probe:

    id, task, type, family, level, hop, domain, intervention_id, held_out
    prompt, prefix (the in-context prefix the updated model saw, IKE; else null), options
    answer_before, answer_after, avoid               option indices, as in the dataset
    executed                                          kept by precondition filtering
    loglik_before / loglik_after   protocol -> per-option scores (mcq: summed log-likelihood,
                                   mcq_norm: per-token mean); prob_compare scores the options with
                                   mcq's sums, so they are not repeated
    value_before / value_after     protocol -> scalar (prob_compare margin, token_acc, gen_match)
    choice_before / choice_after   protocol -> chosen option index (null: none)
    generated_before / generated_after   greedy text (only when gen_match was scored)
    changed, correct_after, flip   under mcq (the headline protocol): the choice moved; the
                                   choice after is right (`ksmith.metrics.answers` rules); "right"
                                   when it moved to a right answer, "wrong" when it moved to a
                                   wrong one, null when it did not move
    attacked                       unlearning cells under attack (Q+ probes only): attack name ->
                                   {"choice": mcq choice, "loglik": mcq option scores} after that
                                   attack on the updated model

Floats are rounded to 5 decimals (a few hundred bytes a probe). The file is written atomically, so
a reader never sees half of it. Readers (`ksmith show`, the HTML page) use only these lines, not
the dataset, so a run directory stays self-describing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ksmith.cache import atomic_write_text
from ksmith.report.records import json_lines

SAMPLES_DIR = "samples"
#: Protocols whose option scores are logged (prob_compare reuses mcq's sums).
OPTION_PROTOCOLS: tuple[str, ...] = ("mcq", "mcq_norm")
#: The protocol `changed`, `correct_after` and `flip` are decided under.
MAIN_PROTOCOL = "mcq"
DIGITS = 5

_UNSAFE = re.compile(r"[^A-Za-z0-9._=+-]")


def samples_name(case_id: str) -> str:
    """File name of a case's samples: the case id with anything unsafe in a file name replaced
    (a model named by a path, `hf:/models/x`, must not create directories)."""
    return _UNSAFE.sub("_", case_id) + ".jsonl"


def samples_path(run_dir: Path, case_id: str) -> Path:
    return Path(run_dir) / SAMPLES_DIR / samples_name(case_id)


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), DIGITS)


def _by_protocol(scores: Any) -> dict[str, Mapping[str, Any]]:
    """protocol -> {probe_id: Score}, for a `ksmith.scoring.Scores` (or None)."""
    if scores is None:
        return {}
    return {protocol: scores.of(protocol) for protocol in sorted(scores.protocols)}


def _side(by_protocol: Mapping[str, Mapping[str, Any]], probe_id: str) -> dict[str, Any]:
    loglik, values, choices, generated = {}, {}, {}, None
    for protocol, scores in by_protocol.items():
        score = scores.get(probe_id)
        if score is None:
            continue
        choices[protocol] = score.choice
        if protocol in OPTION_PROTOCOLS and score.option_scores:
            loglik[protocol] = [_round(x) for x in score.option_scores]
        if score.value is not None:
            values[protocol] = _round(score.value)
        if protocol == "gen_match":
            generated = score.text
    return {"loglik": loglik, "value": values, "choice": choices, "generated": generated}


def sample_lines(
    dataset: Any,
    pre: Any,
    post: Any,
    *,
    held_out: Mapping[str, int] | None = None,
    prefixes: Mapping[str, str] | None = None,
    attacked: Mapping[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """One dict per probe of `dataset` that has post-update scores (fields in the module docstring).

    pre / post: `Scores` before and after the update. held_out: the model's relation -> held-out
    paraphrase id (decides `held_out` the way the metrics do). prefixes: intervention_id -> the
    in-context prefix the updated model was scored with. attacked: attack name -> `Scores` of the
    attacked updated model (`ksmith.fixtures.attacks`).
    """
    from ksmith.metrics.answers import answered_correctly, preconditions
    from ksmith.metrics.inputs import interventions_of, is_held_out, probes_of, scores_of

    probes = probes_of(dataset)
    interventions = interventions_of(dataset)
    pre_ref = scores_of(pre, MAIN_PROTOCOL) or scores_of(pre, "mcq_norm")
    executed = preconditions(probes, {pid: s.choice for pid, s in pre_ref.items()}, interventions, held_out)
    before_all, after_all = _by_protocol(pre), _by_protocol(post)
    prefixes = prefixes or {}
    lines = []
    for probe in probes:
        if not any(probe.id in scores for scores in after_all.values()):
            continue
        before, after = _side(before_all, probe.id), _side(after_all, probe.id)
        line: dict[str, Any] = {
            "id": probe.id,
            "task": probe.task,
            "type": probe.probe_type,
            "family": probe.family,
            "level": probe.level,
            "hop": probe.hop,
            "domain": probe.domain,
            "intervention_id": probe.intervention_id,
            "held_out": is_held_out(probe, interventions, held_out),
            "prompt": probe.prompt,
            "prefix": prefixes.get(probe.intervention_id) or None,
            "options": list(probe.choices),
            "answer_before": probe.answer_before,
            "answer_after": probe.answer_after,
            "avoid": probe.avoid,
            "executed": bool(executed.get(probe.id, False)),
        }
        for side, data in (("before", before), ("after", after)):
            line[f"loglik_{side}"] = data["loglik"]
            line[f"value_{side}"] = data["value"]
            line[f"choice_{side}"] = data["choice"]
            if "gen_match" in data["choice"]:
                line[f"generated_{side}"] = data["generated"]
        if MAIN_PROTOCOL in after["choice"] and MAIN_PROTOCOL in before["choice"]:
            choice_before, choice_after = before["choice"][MAIN_PROTOCOL], after["choice"][MAIN_PROTOCOL]
            correct = answered_correctly(probe, choice_after)
            changed = choice_before != choice_after
            line["changed"] = changed
            line["correct_after"] = correct
            line["flip"] = ("right" if correct else "wrong") if changed else None
        under_attack = {}
        for name, scores in (attacked or {}).items():
            score = scores_of(scores, MAIN_PROTOCOL).get(probe.id)
            if score is not None:
                under_attack[name] = {"choice": score.choice, "loglik": [_round(x) for x in score.option_scores]}
        if under_attack:
            line["attacked"] = under_attack
        lines.append(line)
    return lines


def dumps_samples(lines: Iterable[Mapping[str, Any]]) -> str:
    return "".join(json.dumps(line, ensure_ascii=False, allow_nan=True) + "\n" for line in lines)


def write_samples(path: Path, lines: Iterable[Mapping[str, Any]]) -> int:
    """Write the lines atomically (temp file + rename); returns the file's size in bytes."""
    text = dumps_samples(lines)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(path), text)
    return len(text.encode("utf-8"))


def read_samples(path: Path) -> list[dict[str, Any]]:
    """A samples file's lines; a bad line is named by number."""
    return [value for _, value in json_lines(Path(path))]


def run_samples(run_dir: Path) -> dict[str, Path]:
    """file stem (the sanitised case id) -> samples file, for every case of a run that logged them."""
    folder = Path(run_dir) / SAMPLES_DIR
    if not folder.is_dir():
        return {}
    return {path.name.removesuffix(".jsonl"): path for path in sorted(folder.glob("*.jsonl"))}


def flipped_first(lines: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Lines ordered for reading: flipped the wrong way, then the right way, then unmoved; within
    each, probes that count (executed) first, then the file's order."""
    rank = {"wrong": 0, "right": 1, None: 2}
    return sorted(lines, key=lambda line: (rank.get(line.get("flip"), 2), not line.get("executed", False)))


def examples(lines: Sequence[Mapping[str, Any]], flip: str, limit: int = 5) -> list[Mapping[str, Any]]:
    """Up to `limit` executed probes that flipped `flip` ("right" / "wrong"), taken in turn from
    each probe type so one type does not crowd out the others."""
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for line in lines:
        if line.get("flip") == flip and line.get("executed"):
            by_type.setdefault(str(line.get("type")), []).append(line)
    out: list[Mapping[str, Any]] = []
    queues: list[Iterator[Mapping[str, Any]]] = [iter(group) for group in by_type.values()]
    while queues and len(out) < limit:
        alive = []
        for queue in queues:
            item = next(queue, None)
            if item is not None and len(out) < limit:
                out.append(item)
                alive.append(queue)
        queues = alive
    return out
