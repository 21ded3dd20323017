"""CounterFact (ROME / MEMIT's `counterfact.json`, `multi_counterfact.json`) and EasyEdit's
flattened `counterfact-edit.json`.

ROME's record: `case_id`, `requested_rewrite{prompt with "{}", subject, relation_id,
target_new{str, id}, target_true{str, id}}`, `paraphrase_prompts`, `neighborhood_prompts`,
`attribute_prompts`, `generation_prompts`. EasyEdit's: `subject, prompt, target_new, ground_truth,
rephrase_prompt, locality_prompt, locality_ground_truth` (the prompt already filled).

| source | ksmith probe | family | answer before -> after |
|---|---|---|---|
| `requested_rewrite.prompt` / `prompt` | direct (held-in) | Q+ | target_true -> target_new |
| `paraphrase_prompts[i]` / `rephrase_prompt` | direct, held-out paraphrase | Q+ | target_true -> target_new |
| `neighborhood_prompts[i]` / `locality_prompt` | contextual (the new object is one option) | Q- | target_true |
| `attribute_prompts[i]` | retain item (constraint c) | - | target_new |
| `generation_prompts` | checked, not used (no answer to score) | - | - |

Distractors come from the answers of the same `relation_id` in the file (EasyEdit's file names no
relation: from all its answers). `--task unlearn` forgets `target_true`.
"""

from __future__ import annotations

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import Answer, Builder, ProbeSpec, Record, Source, cloze
from ksmith.probes.types import RetainItem

NAME = "counterfact"


def load(source: Source, task: str, **_: object) -> Dataset:
    builder = Builder(NAME, task, source)
    first = source.records[0]
    flat = isinstance(first, dict) and "requested_rewrite" not in first and "prompt" in first
    builder.info["layout"] = "easyedit" if flat else "rome"
    for index in range(len(source.records)):
        rec = Record.top(source, index)
        if flat:
            _easyedit(builder, rec)
        else:
            _rome(builder, rec)
    return builder.build()


def _rome(builder: Builder, rec: Record) -> None:
    rw = rec.sub("requested_rewrite")
    assert rw is not None
    subject = rw.text("subject")
    assert subject is not None
    relation = rw.text("relation_id")
    assert relation is not None
    new_rec, true_rec = rw.sub("target_new"), rw.sub("target_true")
    assert new_rec is not None and true_rec is not None
    new = Answer(new_rec.text("str"))  # type: ignore[arg-type]
    old = Answer(true_rec.text("str"))  # type: ignore[arg-type]
    prompt = cloze(rw, "prompt", subject)
    paraphrases = rec.texts("paraphrase_prompts")
    neighbours = rec.texts("neighborhood_prompts")
    attributes = rec.texts("attribute_prompts", optional=True)
    rec.texts("generation_prompts", optional=True)
    case = rec.label
    iv = builder.intervention(f"{NAME}-{case}", subject, relation, old.text, new.text, [prompt])
    common = dict(intervention=iv.id, pool=relation, source_case=case)
    builder.spec(ProbeSpec(key=f"{case}/rewrite", probe_type="direct", family="Q+", prompt=prompt, question=prompt,
                           old=old, new=new, test="rewrite", **common))
    for i, text in enumerate(paraphrases):
        builder.spec(ProbeSpec(key=f"{case}/paraphrase/{i}", probe_type="direct", family="Q+", prompt=text,
                               question=text, old=old, new=new, held_out=True, paraphrase_id=i + 1,
                               test="paraphrase", **common))
    for i, text in enumerate(neighbours):
        builder.spec(ProbeSpec(key=f"{case}/neighborhood/{i}", probe_type="contextual", family="Q-", prompt=text,
                               question=text, old=old, extra=(new,), test="neighborhood", **common))
    builder.retain.extend(RetainItem(prompt=text, answer=new.text) for text in attributes)


def _easyedit(builder: Builder, rec: Record) -> None:
    subject = rec.text("subject")
    prompt = rec.text("prompt")
    new = Answer(rec.text("target_new"))  # type: ignore[arg-type]
    old = Answer(rec.text("ground_truth"))  # type: ignore[arg-type]
    rephrase = rec.text("rephrase_prompt", optional=True)
    loc = rec.text("locality_prompt", optional=True)
    loc_answer = rec.text("locality_ground_truth") if loc is not None else None
    assert subject is not None and prompt is not None
    if subject not in prompt:
        raise rec.error("prompt", f"does not contain the subject {subject!r}")
    case = rec.label
    iv = builder.intervention(f"{NAME}-{case}", subject, NAME, old.text, new.text, [prompt])
    builder.edit_case(
        iv, case, old=old, new=new, rewrite=("rewrite", prompt), rephrase=("paraphrase", rephrase),
        locality=("neighborhood", loc, None if loc_answer is None else Answer(loc_answer)),
        locality_pool=f"{NAME}:locality", locality_extra=(new,),
    )
