"""Render a world as pretraining text for the embedded model.

What goes in, for every fact of the world (stated and inherited):
- every non-held-out cloze template completed with the object, and every question template
  followed by the object (the held-out paraphrase never appears, so direct-probe accuracy on it
  measures generalisation);
- the reverse templates completed with the subject, for one-to-one relations;
- for a fact whose object has attributes of its own, the 2-hop composition ("The climate of the
  habitat of X is C"), so the model knows the pattern the multi-hop probes use;
- one comparison line ("X has the same habitat as Y") with a fixed partner, and one conflict line
  (a wrong claim, then the true statement), so comparison and conflict probes use a known form.
For every gap (a subject without some functional relation): the cloze templates completed with
`NEUTRAL_OBJECT` and the questions answered with the `VAGUE_ANSWERS`, so "unknown" is a learned
answer for unlearning methods and oracles.

The order is deterministic: domains in world order, entities by (type, name), relations in
schema order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksmith.world.templates import (
    COMPARISON_PATTERN,
    COMPOSITION_PATTERN,
    COMPOSITION_QUESTION,
    CONFLICT_PREFIX,
    NEUTRAL_OBJECT,
    VAGUE_ANSWERS,
    fill,
    keyword,
)

if TYPE_CHECKING:
    from ksmith.world.world import World


def render_corpus(world: World) -> list[str]:
    lines: list[str] = []
    pos_in_type: dict[str, int] = {}  # an entity's index among the sorted entities of its type
    for etype in {e.type for e in world.entities.values()}:
        for i, name in enumerate(world.entities_of_type(etype)):
            pos_in_type[name] = i
    gap_count = 0
    taxonomy = {r.subject_type: r for r in world.relations.values() if r.taxonomy}
    rank = {d: i for i, d in enumerate(world.domains)}
    ordered = sorted(world.entities.values(), key=lambda e: (rank.get(e.domain, len(rank)), e.type, e.name))
    for ent in ordered:
        s = ent.name
        par = world.parent(s)
        if par is not None:
            rel = taxonomy[ent.type]
            _statements(lines, rel.templates.cloze, rel.templates.held_out, rel.templates.questions, s, par)
        for rel in world.relations_of(ent.type):
            tpl = rel.templates
            objs = world.objects(s, rel.name)
            if not objs:
                if rel.functional:
                    lines.extend(f"{fill(c, s)} {NEUTRAL_OBJECT}" for i, c in enumerate(tpl.cloze) if i != tpl.held_out)
                    lines.extend(
                        f"{fill(q, s)} {VAGUE_ANSWERS[(gap_count + i) % len(VAGUE_ANSWERS)]}"
                        for i, q in enumerate(tpl.questions)
                    )
                    gap_count += 1
                continue
            kw = keyword(rel)
            for o in objs:
                _statements(lines, tpl.cloze, tpl.held_out, tpl.questions, s, o)
                lines.extend(f"{fill(r, o=o)} {s}" for r in tpl.reverse)
                if rel.functional and rel.inverse is None:
                    holders = world.subjects_with(rel.name, o)
                    if len(holders) > 1:
                        partner = holders[(holders.index(s) + 1) % len(holders)]
                        lines.append(f"{fill(COMPARISON_PATTERN.replace('{kw}', kw), s)} {partner}")
                for rel2 in world.relations_of(rel.object_type):
                    o2 = world.object_of(o, rel2.name)
                    if o2 is None or not rel2.functional:
                        continue
                    kw2 = keyword(rel2)
                    for form in (COMPOSITION_PATTERN, COMPOSITION_QUESTION):
                        lines.append(f"{fill(form.replace('{kw2}', kw2).replace('{kw1}', kw), s)} {o2}")
                pool = world.entities_of_type(rel.object_type)
                if len(pool) > 1 and tpl.cloze:
                    decoy = pool[(pos_in_type[o] + 1) % len(pool)]
                    first = next(i for i in range(len(tpl.cloze)) if i != tpl.held_out) if len(tpl.cloze) > 1 else 0
                    claim = CONFLICT_PREFIX.replace("{kw}", kw).replace("{s}", s).replace("{d}", decoy)
                    lines.append(f"{claim} {fill(tpl.cloze[first], s)} {o}")
    return lines


def _statements(lines: list[str], cloze, held_out: int, questions, s: str, o: str) -> None:
    lines.extend(f"{fill(c, s)} {o}" for i, c in enumerate(cloze) if i != held_out)
    lines.extend(f"{fill(q, s)} {o}" for q in questions)
