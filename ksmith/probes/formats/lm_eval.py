"""Export: an lm-evaluation-harness task that scores the probes exactly as ksmith's `mcq` protocol.

`ksmith data export --format lm-eval D.jsonl --out DIR` writes `DIR/<task>.yaml` and
`DIR/<task>.jsonl` (one document per probe; condition queries left out). Run it with
`lm_eval --model hf --model_args pretrained=... --include_path DIR --tasks <task>`.

Why the two agree: lm-eval's `multiple_choice` output type sends one `loglikelihood(context,
target_delimiter + choice)` request per option and its `acc` takes the argmax of the summed
log-likelihoods; ksmith's `mcq` sends `loglikelihood(prompt, " " + choice)` and takes the same
argmax. So the task's context is the probe's `prompt` (what ksmith scores, not its `question`),
the delimiter is one space, and the options are the probe's `choices` in order. `gold` is the
option ksmith expects after the update (`answer_after`, else `answer_before`): for an unlearning
Q+ probe that is the old object, so lm-eval's `acc` there is residual retention, not accuracy.

The YAML names the JSONL by absolute path (lm-eval resolves `data_files` from the working
directory), so re-export after moving the directory.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import FormatError


def task_name(dataset: Dataset) -> str:
    return f"ksmith_{dataset.task}_{dataset.hash}"


def documents(dataset: Dataset) -> list[dict[str, object]]:
    """One lm-eval document per counted probe."""
    return [
        {"id": p.id, "probe_type": p.probe_type, "family": p.family, "prompt": p.prompt,
         "choices": list(p.choices),
         "gold": p.answer_after if p.answer_after is not None else p.answer_before}
        for p in dataset.probes
        if not p.condition
    ]


def task_yaml(name: str, data_file: Path) -> str:
    """The task config (YAML; written by hand so exporting needs no YAML library)."""
    return "\n".join([
        f"task: {name}",
        "dataset_path: json",
        "dataset_kwargs:",
        "  data_files:",
        f"    test: {json.dumps(str(data_file))}",
        "test_split: test",
        "output_type: multiple_choice",
        "doc_to_text: prompt",
        "doc_to_choice: choices",
        "doc_to_target: gold",
        'target_delimiter: " "',
        "metric_list:",
        "  - metric: acc",
        "    aggregation: mean",
        "    higher_is_better: true",
        "metadata:",
        "  version: 1.0",
        "",
    ])


def write(dataset: Dataset, out: Path) -> list[Path]:
    """Write the task into directory `out`; both files appear together or not at all."""
    docs = documents(dataset)
    if not docs:
        raise FormatError("the dataset has no probe to export")
    out = out.resolve()
    if out.exists() and not out.is_dir():
        raise FormatError(f"{out} exists and is not a directory; --out names the task directory to write")
    out.mkdir(parents=True, exist_ok=True)
    name = task_name(dataset)
    data_path, yaml_path = out / f"{name}.jsonl", out / f"{name}.yaml"
    texts = {
        data_path: "".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs),
        yaml_path: task_yaml(name, data_path),
    }
    staged: list[tuple[str, Path]] = []
    try:
        for path, text in texts.items():
            fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{path.name}.")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
            staged.append((tmp, path))
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return [yaml_path, data_path]
