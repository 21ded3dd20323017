"""EasyEdit's KnowEdit files (WikiData-counterfact, WikiData-recent, ZsRE as KnowEdit ships them).

Record: `subject, prompt, target_new, ground_truth, rephrase_prompt, portability{Reasoning,
Subject_Aliasing, Logical_Generalization}, locality{Relation_Specificity, Forgetfulness}`; each
portability / locality entry is a list of `{prompt, ground_truth}`. An answer (`target_new`,
`ground_truth`) is a string, a list of aliases, or a list of alias lists; every alias is kept. A
prompt given as a list becomes one probe per element.

| source | ksmith probe | family | answer before -> after |
|---|---|---|---|
| `prompt` | direct (held-in) | Q+ | ground_truth -> target_new |
| `rephrase_prompt` | direct, held-out paraphrase | Q+ | ground_truth -> target_new |
| `portability.Subject_Aliasing` | direct under an alias (held out) | Q+ | ground_truth -> its ground_truth |
| `portability.Reasoning` | multi_hop, hop 2 | Q+ | (not stored) -> its ground_truth |
| `portability.Logical_Generalization` | multi_hop, hop 1 (KnowEdit names no relation, so an inverse cannot be told apart) | Q+ | (not stored) -> its ground_truth |
| `locality.Relation_Specificity`, `locality.Forgetfulness` | contextual | Q- | its ground_truth |

A Q+ probe whose answer before the edit the file does not store always counts (no precondition),
as in EasyEdit. A record without `ground_truth` (WikiData-recent inserts facts) has no old object;
`--task unlearn` needs it and says so. Distractors come from the answers of the same part
(`target_new` / `ground_truth`, each portability or locality key) in the file.
"""

from __future__ import annotations

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import Builder, ProbeSpec, Record, Source, answer_of

NAME = "knowedit"
PORTABILITY = {"Subject_Aliasing": ("direct", 0), "Reasoning": ("multi_hop", 2), "Logical_Generalization": ("multi_hop", 1)}
LOCALITY = ("Relation_Specificity", "Forgetfulness")


def _prompts(rec: Record, key: str) -> list[str]:
    value = rec.get(key, (str, list))
    if isinstance(value, str):
        prompts = [rec.text(key)]
    else:
        prompts = rec.texts(key)
    if not prompts:
        raise rec.error(key, "is empty")
    return prompts  # type: ignore[return-value]


def load(source: Source, task: str, **_: object) -> Dataset:
    builder = Builder(NAME, task, source)
    for index in range(len(source.records)):
        rec = Record.top(source, index, id_key="case_id")
        subject = rec.text("subject")
        prompt = rec.text("prompt")
        new = answer_of(rec, "target_new")
        old = answer_of(rec, "ground_truth", optional=True)
        assert subject is not None and prompt is not None and new is not None
        if old is not None and old.text == "<|endoftext|>":  # a placeholder some files carry
            old = None
        if old is None and task == "unlearn":
            raise rec.error("ground_truth", "is missing; --task unlearn forgets the ground truth")
        rephrase = rec.get("rephrase_prompt", (str, list), optional=True)
        case = rec.label
        iv = builder.intervention(f"{NAME}-{case}", subject, NAME, old.text if old else "", new.text, [prompt])
        common = dict(intervention=iv.id, source_case=case)
        builder.spec(ProbeSpec(key=f"{case}/prompt", probe_type="direct", family="Q+", prompt=prompt,
                               question=prompt, pool=NAME, old=old, new=new, test="prompt", **common))
        if rephrase is not None:
            for j, text in enumerate(_prompts(rec, "rephrase_prompt")):
                builder.spec(ProbeSpec(key=f"{case}/rephrase/{j}", probe_type="direct", family="Q+", prompt=text,
                                       question=text, pool=NAME, old=old, new=new, held_out=True,
                                       paraphrase_id=1, test="rephrase", **common))
        portability = rec.sub("portability", optional=True)
        if portability is not None:
            for key, (ptype, hop) in PORTABILITY.items():
                for i, item in enumerate(portability.items(key, optional=True)):
                    answer = answer_of(item, "ground_truth")
                    for j, text in enumerate(_prompts(item, "prompt")):
                        builder.spec(ProbeSpec(
                            key=f"{case}/portability/{key}/{i}/{j}", probe_type=ptype, family="Q+", prompt=text,
                            question=text, pool=f"{NAME}:{key}", old=old if key == "Subject_Aliasing" else None,
                            new=answer, hop=hop, held_out=key == "Subject_Aliasing",
                            paraphrase_id=2 if key == "Subject_Aliasing" else 0,
                            test=f"portability.{key}", **common))
        locality = rec.sub("locality", optional=True)
        if locality is not None:
            for key in LOCALITY:
                for i, item in enumerate(locality.items(key, optional=True)):
                    answer = answer_of(item, "ground_truth")
                    for j, text in enumerate(_prompts(item, "prompt")):
                        builder.spec(ProbeSpec(
                            key=f"{case}/locality/{key}/{i}/{j}", probe_type="contextual", family="Q-",
                            prompt=text, question=text, pool=f"{NAME}:locality", old=answer,
                            test=f"locality.{key}", **common))
    return builder.build()

