"""MQuAKE (MQuAKE-CF-3k v1 and v2, MQuAKE-CF, MQuAKE-T, and MQuAKE-Remastered's `split` labels).

Record: `case_id`, `requested_rewrite[]` (each `{prompt with "{}", subject, relation_id,
target_new{str, id}, target_true{str, id}, question}`), `questions[3]`, `answer`, `answer_alias`,
`new_answer`, `new_answer_alias`, `single_hops[{question, cloze, answer, answer_alias}]`,
`new_single_hops`, `orig{triples, edit_triples, ...}`; Remastered adds `split`.

A case is several *simultaneous* edits: each rewrite is its own intervention, the case's probes
hang off its first rewrite, and the bench's scale keeps a case's rewrites together.

| source | ksmith probe | family | answer before -> after |
|---|---|---|---|
| `requested_rewrite[j].prompt` | direct (held-in) | Q+ | target_true -> target_new |
| `requested_rewrite[j].question` | direct, held-out paraphrase | Q+ | target_true -> target_new |
| `questions[i]` | multi_hop, hop = number of `single_hops` | Q+ | answer -> new_answer (all aliases kept) |
| `single_hops[h].cloze` whose fact no rewrite touches | contextual | Q- | its answer |

MQuAKE's own multi-hop accuracy (a case is right when any of its three questions gives the new
answer or an alias) is computed beside ksmith's per-probe accuracy (`ksmith.metrics.authors`).
Distractors: the rewrites' from the same `relation_id`, the questions' from all final answers of
the file, the single hops' from the same relation (from `orig.triples`). `--task unlearn` forgets
`target_true` and, on the questions, the old `answer`.
"""

from __future__ import annotations

import json

from ksmith.probes.dataset import Dataset
from ksmith.probes.formats.common import Answer, Builder, ProbeSpec, Record, Source, cloze

NAME = "mquake"


def _answer(rec: Record, key: str, alias_key: str) -> Answer:
    text = rec.text(key)
    assert text is not None
    return Answer(text, tuple(a for a in rec.texts(alias_key, optional=True) if a != text))


def load(source: Source, task: str, **_: object) -> Dataset:
    builder = Builder(NAME, task, source)
    splits: dict[str, str] = {}
    for index in range(len(source.records)):
        rec = Record.top(source, index)
        case = rec.label
        rewrites = rec.items("requested_rewrite")
        if not rewrites:
            raise rec.error("requested_rewrite", "is empty")
        questions = rec.texts("questions")
        if not questions:
            raise rec.error("questions", "is empty")
        old_final = _answer(rec, "answer", "answer_alias")
        new_final = _answer(rec, "new_answer", "new_answer_alias")
        hops = rec.items("single_hops", optional=True)
        rec.items("new_single_hops", optional=True)
        split = rec.text("split", optional=True)
        if split is not None:
            splits[case] = split
        first = None
        for j, rw in enumerate(rewrites):
            subject = rw.text("subject")
            relation = rw.text("relation_id")
            assert subject is not None and relation is not None
            new_rec, true_rec = rw.sub("target_new"), rw.sub("target_true")
            assert new_rec is not None and true_rec is not None
            new, old = Answer(new_rec.text("str")), Answer(true_rec.text("str"))  # type: ignore[arg-type]
            prompt = cloze(rw, "prompt", subject)
            iv = builder.intervention(f"{NAME}-{case}-{j}", subject, relation, old.text, new.text, [prompt])
            first = first or iv.id
            common = dict(intervention=iv.id, pool=relation, source_case=case)
            builder.spec(ProbeSpec(key=f"{case}/rewrite/{j}", probe_type="direct", family="Q+", prompt=prompt,
                                   question=prompt, old=old, new=new, test="rewrite", **common))
            question = rw.text("question", optional=True)
            if question is not None:
                builder.spec(ProbeSpec(key=f"{case}/rewrite/{j}/question", probe_type="direct", family="Q+",
                                       prompt=question, question=question, old=old, new=new, held_out=True,
                                       paraphrase_id=1, test="rewrite_question", **common))
        assert first is not None
        n_hops = len(hops) if hops else 2
        for i, text in enumerate(questions):
            builder.spec(ProbeSpec(
                key=f"{case}/question/{i}", intervention=first, probe_type="multi_hop", family="Q+", prompt=text,
                question=text, pool=f"{NAME}:answer", old=old_final, new=new_final, hop=n_hops, source_case=case,
                test="multi_hop", test_group=f"{NAME}-{case}/questions", group_rule="any"))
        triples, edit_pairs = _triples(rec, "triples"), {(t[0], t[1]) for t in _triples(rec, "edit_triples")}
        relations = {rw.data["relation_id"] for rw in rewrites}
        for h, hop in enumerate(hops):
            if h >= len(triples):
                break  # without the hop's triple it cannot be told whether an edit touches it
            subject, relation = triples[h][0], triples[h][1]
            # orig.edit_triples names the edited (subject id, relation); without it, any hop sharing a
            # rewrite's relation is left out rather than risk testing a changed fact as unchanged.
            touched = (subject, relation) in edit_pairs if edit_pairs else relation in relations
            if touched:
                continue
            text = hop.text("cloze")
            answer = _answer(hop, "answer", "answer_alias")
            builder.spec(ProbeSpec(
                key=f"{case}/hop/{h}", intervention=first, probe_type="contextual", family="Q-", prompt=text,  # type: ignore[arg-type]
                question=text, pool=relation, old=answer, source_case=case, test="single_hop"))
    if splits:
        builder.info["split"] = json.dumps(splits, sort_keys=True)
    return builder.build()


def _triples(rec: Record, key: str) -> list[list[str]]:
    """`orig.<key>` ([subject id, relation, object id] lists), checked; empty when absent."""
    orig = rec.sub("orig", optional=True)
    if orig is None or not orig.has(key):
        return []
    triples = orig.get(key, list)
    for i, triple in enumerate(triples):
        if not (isinstance(triple, list) and len(triple) == 3 and all(isinstance(x, str) for x in triple)):
            raise orig.error(f"{key}[{i}]", "is not a [subject, relation, object] list of strings")
    return triples
