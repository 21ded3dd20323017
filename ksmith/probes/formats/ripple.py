"""RippleEdits (`popular.json`, `random.json`, `recent.json`).

Record: `example_type`, `edit{prompt, subject_id, relation, target_id, original_fact}` and six
test lists, `Relation_Specificity` (also spelled `Relation_Specifity`), `Logical_Generalization`,
`Subject_Aliasing`, `Compositionality_I`, `Compositionality_II`, `Forgetfulness`; each test is
`{test_queries, test_condition ("OR" / "AND"), condition_queries}` and each query
`{prompt, answers[{value, aliases}], subject_id, relation, target_ids, ...}`.

Answers come only from the stored `answers` (never from a live Wikidata query). The edit's prompt
is a sentence ending in the new target's label; the cloze and both labels are recovered by cutting
it where it departs from `original_fact.prompt` (a `recent` edit has no original fact: its label is
the stored answer of a query about the same target id, and it has no answer before).

| source | ksmith probe | family | answer before -> after |
|---|---|---|---|
| `edit.prompt` | direct (held-in) | Q+ | original label -> new label |
| `Subject_Aliasing` | direct under an alias (held out) | Q+ | (not stored) -> its answer |
| `Logical_Generalization`, asked from the target's side (subject = edit target, answers include the edit subject) | reverse | Q+ | (not stored) -> its answer |
| `Logical_Generalization`, other | multi_hop, hop 1 | Q+ | (not stored) -> its answer |
| `Compositionality_I`, `Compositionality_II` | multi_hop, hop 2 | Q+ | (not stored) -> its answer |
| `Relation_Specificity`, `Forgetfulness` | contextual | Q- | its answer |
| `condition_queries` | condition probes: scored before the update, never counted | - | their answer |

Executed, as in RippleEdits: a test counts only when the unedited model answers every one of its
condition queries (each test query `requires` them); a test passes when any (`OR`) / all (`AND`) of
its queries are right, and the authors' accuracy per family is over executed tests
(`ksmith.metrics.authors`). Several stored answers are all right: the first is the option, the
others (and every alias) count for `gen_match`. RippleEdits stores no subject label, only its
Wikidata id, so an intervention's `subject` is the whole edit prompt (methods that look for the
subject's last token then use the prompt's last token). Distractors come from the answers of the
same relation in the file. `--task unlearn` forgets the original label (a `recent` edit has none:
an error).
"""

from __future__ import annotations

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import Answer, Builder, ProbeSpec, Record, Source

NAME = "ripple"
#: Family -> (probe type, hop, family); Logical_Generalization is decided per query.
FAMILIES = {
    "Relation_Specificity": ("contextual", 0, "Q-"),
    "Logical_Generalization": ("multi_hop", 1, "Q+"),
    "Subject_Aliasing": ("direct", 0, "Q+"),
    "Compositionality_I": ("multi_hop", 2, "Q+"),
    "Compositionality_II": ("multi_hop", 2, "Q+"),
    "Forgetfulness": ("contextual", 0, "Q-"),
}
ALIASES = {"Relation_Specifity": "Relation_Specificity"}


def _answer(query: Record) -> Answer:
    answers = query.items("answers")
    if not answers:
        raise query.error("answers", "is empty")
    names: list[str] = []
    for a in answers:
        value = a.get("value", (str, int, float))
        if isinstance(value, str) and not value.strip():
            raise a.error("value", "is empty")
        names.append(str(value))
        names.extend(a.texts("aliases", optional=True))
    return Answer(names[0], tuple(dict.fromkeys(n for n in names[1:] if n != names[0])))


def _split_edit(rec: Record, edit: Record) -> tuple[str, str, str | None]:
    """(cloze, new label, original label or None) from the edit's phrased sentence."""
    sentence = edit.text("prompt")
    assert sentence is not None
    sentence = sentence.strip().removesuffix(".").rstrip()
    original = edit.sub("original_fact", optional=True)
    if original is not None:
        other = original.text("prompt").strip().removesuffix(".").rstrip()  # type: ignore[union-attr]
        a, b = sentence.split(" "), other.split(" ")
        n = 0
        while n < min(len(a), len(b)) - 1 and a[n] == b[n]:
            n += 1
        if n == 0 or n >= len(a) or n >= len(b):
            raise edit.error("prompt", "and original_fact.prompt share no cloze to cut the two targets from")
        return " ".join(a[:n]), " ".join(a[n:]), " ".join(b[n:])
    target = edit.get("target_id", (str, int))
    for family in (*FAMILIES, *ALIASES):
        for test in rec.items(family, optional=True):
            for query in test.items("test_queries") + test.items("condition_queries", optional=True):
                ids = query.get("target_ids", list, optional=True) or []
                answers = query.items("answers")
                for tid, ans in zip(ids, answers):
                    label = ans.get("value", (str, int, float))
                    if tid == target and sentence.endswith(" " + str(label)):
                        return sentence[: -len(str(label)) - 1], str(label), None
    raise edit.error("prompt", "cannot be cut into a cloze and the target's label: there is no original_fact "
                     "and no stored answer for target_id")


def load(source: Source, task: str, **_: object) -> Dataset:
    builder = Builder(NAME, task, source)
    for index in range(len(source.records)):
        rec = Record.top(source, index, id_key=None)
        edit = rec.sub("edit")
        assert edit is not None
        relation = edit.text("relation")
        subject_id = edit.get("subject_id", (str, int))
        target_id = edit.get("target_id", (str, int))
        assert relation is not None
        prompt, new_label, old_label = _split_edit(rec, edit)
        if old_label is None and task == "unlearn":
            raise edit.error("original_fact", "is missing; --task unlearn forgets the original fact")
        case = rec.label
        new = Answer(new_label)
        old = Answer(old_label) if old_label is not None else None
        iv = builder.intervention(f"{NAME}-{case}", prompt, relation, old_label or "", new_label, [prompt])
        builder.spec(ProbeSpec(key=f"{case}/edit", intervention=iv.id, probe_type="direct", family="Q+",
                               prompt=prompt, question=prompt, pool=relation, old=old, new=new,
                               source_case=case, test="edit"))
        present = [k for k in (*FAMILIES, *ALIASES) if rec.has(k)]
        for key in present:
            family = ALIASES.get(key, key)
            ptype, hop, fam = FAMILIES[family]
            for t, test in enumerate(rec.items(key)):
                rule = test.text("test_condition")
                if rule not in ("OR", "AND"):
                    raise test.error("test_condition", f"is {rule!r}, expected OR or AND")
                group = f"{iv.id}/{family}/{t}"
                conditions = []
                for c, query in enumerate(test.items("condition_queries", optional=True)):
                    text = query.text("prompt")
                    ckey = f"{group}/condition/{c}"
                    builder.spec(ProbeSpec(key=ckey, intervention=iv.id, probe_type="contextual", family="Q-",
                                           prompt=text, question=text, pool=query.text("relation"),  # type: ignore[arg-type]
                                           old=_answer(query), source_case=case, test=family,
                                           test_group=group, condition=True))
                    conditions.append(ckey)
                queries = test.items("test_queries")
                if not queries:
                    raise test.error("test_queries", "is empty")
                for q, query in enumerate(queries):
                    text = query.text("prompt")
                    answer = _answer(query)
                    qtype, qhop = ptype, hop
                    if family == "Logical_Generalization":
                        ids = query.get("target_ids", list, optional=True) or []
                        if query.get("subject_id", (str, int), optional=True) == target_id and subject_id in ids:
                            qtype, qhop = "reverse", 0
                    builder.spec(ProbeSpec(
                        key=f"{group}/query/{q}", intervention=iv.id, probe_type=qtype, family=fam, prompt=text,  # type: ignore[arg-type]
                        question=text, pool=query.text("relation"), old=answer if fam == "Q-" else None,  # type: ignore[arg-type]
                        new=answer if fam == "Q+" else None, hop=qhop, held_out=family == "Subject_Aliasing",
                        paraphrase_id=1 if family == "Subject_Aliasing" else 0, source_case=case, test=family,
                        test_group=group, group_rule="any" if rule == "OR" else "all",
                        requires=tuple(conditions)))
    return builder.build()
