"""zsRE as MEND / ROME / EasyEdit ship it (`zsre_mend_eval.json`).

Record: `subject, src, pred, rephrase, alt, answers, loc, loc_ans` (and `cond`, unused). The two
toolkits differ in what they edit toward, so `--target` says which (recorded in the header):

- `alt` (EasyEdit, the default): edit `src` from `answers[0]` to `alt`; records whose `alt` is
  empty are dropped, as EasyEdit drops them (the header counts them).
- `answers` (ROME / MEMIT): edit `src` toward `answers[0]`; the answer before is `pred` (the
  prediction stored with the record), so where `pred` already is `answers[0]` the edit changes
  nothing and its direct probe is right before and after.

| source | ksmith probe | family | answer before -> after |
|---|---|---|---|
| `src` | direct (held-in) | Q+ | answers[0] -> alt (or pred -> answers[0]) |
| `rephrase` | direct, held-out paraphrase | Q+ | same |
| `loc` (+ `loc_ans`) | contextual | Q- | loc_ans |

Every element of `answers` is kept as an alias of `answers[0]`. zsRE names no relation, so
distractors come from all of the file's edit answers (and `loc` questions' from all `loc_ans`).
`--task unlearn` forgets the answer before.
"""

from __future__ import annotations

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import Answer, Builder, FormatError, Record, Source

NAME = "zsre"
TARGETS = ("alt", "answers")


def load(source: Source, task: str, target: str | None = None, **_: object) -> Dataset:
    target = target or "alt"
    if target not in TARGETS:
        raise FormatError(f"--target must be one of {', '.join(TARGETS)}, got {target!r}")
    builder = Builder(NAME, task, source)
    dropped = 0
    for index in range(len(source.records)):
        rec = Record.top(source, index, id_key=None)
        subject = rec.text("subject")
        src = rec.text("src")
        rephrase = rec.text("rephrase", optional=True)
        answers = rec.texts("answers")
        if not answers:
            raise rec.error("answers", "is empty")
        pred = rec.get("pred", (str, list), optional=target == "alt")
        if isinstance(pred, list):  # some copies store pred as a one-element list
            pred = pred[0] if pred and isinstance(pred[0], str) else None
            if pred is None and target == "answers":
                raise rec.error("pred", "is an empty list or not a list of strings")
        alt = rec.text("alt", empty_ok=True)
        loc = rec.text("loc", optional=True)
        loc_ans = rec.text("loc_ans") if loc is not None else None
        assert subject is not None and src is not None and alt is not None
        truth = Answer(answers[0], tuple(answers[1:]))
        if target == "alt":
            if not alt.strip():
                dropped += 1
                continue
            old, new = truth, Answer(alt)
        else:
            if not isinstance(pred, str) or not pred.strip():
                raise rec.error("pred", "is empty")
            old, new = Answer(pred), truth
        case = rec.label
        iv = builder.intervention(f"{NAME}-{case}", subject, NAME, old.text, new.text, [src])
        builder.edit_case(
            iv, case, old=old, new=new, rewrite=("src", src), rephrase=("rephrase", rephrase),
            locality=("loc", loc, None if loc_ans is None else Answer(loc_ans)), locality_pool=f"{NAME}:loc",
        )
    builder.info["target"] = target
    builder.info["dropped_empty_alt"] = str(dropped)
    return builder.build()
