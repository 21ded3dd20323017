"""The probe generator: six probe types per intervention, every expected answer from the oracle.

For a batch of interventions, the world *before* is the given world and the world *after* is
`world.apply(interventions)`. Every probe is a 4-option multiple-choice item whose options are
entity names of the type the question asks for; exactly one option is right in the world before,
and (for an edit) exactly one in the world after, counting every true answer of a fact with several
(`World.true_objects`). For unlearning, the `Q+` probes have no right answer after (`answer_after`
is null) and `avoid` is the index of the old answer. A fact whose subject gives its answer away
(`ksmith.world.giveaway`) is never asked. Subjects are named by their mention ("the United States").

Per intervention (S, R, O -> O'):

- direct (Q+): every cloze paraphrase of (S, R), with the fact's own four options
  (`ksmith.probes.options.fact_options`, the known set's question; O' is one of them); the held-out
  one is marked `held_out`.
- reverse (Q+), one-to-one relations: asked from the object's side ("O' is the founder of"); the
  answer moves from O''s previous holder to S (unlearning: from S to nobody).
- multi_hop (Q+): descendants that inherit (S, R), one per distance 1-3 (`hop`), and the 2-hop
  composition through the object ("the climate of the habitat of S"), `hop` 2.
- comparison (Q+): "The R of S is the same as that of" ("S has the same R as" on the synthetic
  world) -- the right option moves from a holder of O to a holder of O'.
- conflict: a wrong claim in the context, then the question; Q+ on (S, R), Q- on an unaffected
  fact of the same relation.
- contextual (Q-): unaffected facts: a sibling of S, another subject with R, another relation of S,
  and a fact from another domain.

Unaffected means: no intervention of the batch writes or reads it, and both worlds agree on it.
Retain items (constraint c) are drawn from unaffected facts the Q- probes do not test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from ksmith.probes.dataset import Dataset
from ksmith.probes.interventions import Pair, inheritors, select_with_footprints
from ksmith.probes.known import KnownSet
from ksmith.probes.options import fact_options, subject_gives_away
from ksmith.probes.types import Intervention, Probe, RetainItem
from ksmith.world.derived import comparison, composition, conflict_claim
from ksmith.world.templates import fill
from ksmith.world.world import World

#: Upper bound on the retain set (training on it costs time in every method).
RETAIN_CAP = 2000


def retain_size(k: int) -> int:
    """How many retain items a batch of k interventions gets: max(20, 2k), capped."""
    return min(RETAIN_CAP, max(20, 2 * k))


class _Generator:
    def __init__(self, before: World, after: World, task: str, scale: int, busy: set[Pair], seed: int) -> None:
        self.before = before
        self.after = after
        self.task = task
        self.scale = scale
        self.busy = busy
        self.seed = seed
        self.tested: set[Pair] = set()  # facts the Q- probes test (kept out of the retain set)
        self.taxa_by_domain: dict[str, list[str]] = {}
        for t in sorted(before.taxon_types):
            for n in before.entities_of_type(t):
                self.taxa_by_domain.setdefault(before.entities[n].domain, []).append(n)
        self.roots: dict[str, list[str]] = {}
        for taxa in self.taxa_by_domain.values():
            for n in taxa:
                if before.parent(n) is None and before.children(n):
                    self.roots.setdefault(before.entities[n].type, []).append(n)
        self.functional: dict[str, list] = {
            t: [r for r in before.relations_of(t) if r.functional] for t in before.taxon_types
        }

    # -- helpers -------------------------------------------------------------------------------

    def stable(self, subject: str, relation: str) -> str | None:
        """The object of an unaffected fact, or None when the fact is absent, affected, or given away
        by the subject's name."""
        if (subject, relation) in self.busy:
            return None
        o = self.before.object_of(subject, relation)
        if o is None or self.after.object_of(subject, relation) != o or self.gives_away(subject, o):
            return None
        return o

    def true_answers(self, subject: str, relation: str) -> set[str]:
        """Every answer a reader accepts for (subject, relation) in the world before or after:
        none of them may be a wrong option."""
        return set(self.before.true_objects(subject, relation)) | set(self.after.true_objects(subject, relation))

    def gives_away(self, subject: str, *answers: str | None) -> bool:
        return subject_gives_away(self.before, subject, *answers)

    @staticmethod
    def choices(
        rng: random.Random,
        required: Sequence[str],
        pool: Sequence[str],
        ok: Callable[[str], bool] | None = None,
        exclude: frozenset[str] | set[str] = frozenset(),
    ) -> tuple[str, str, str, str] | None:
        """`required` plus distinct distractors from `pool` that pass `ok`, shuffled; None if the
        pool cannot give 4 options."""
        chosen = list(required)
        seen = set(required)
        tries = 0
        n = len(pool)
        while len(chosen) < 4 and tries < 48 and n:
            tries += 1
            c = pool[rng.randrange(n)]
            if c in seen or c in exclude or (ok is not None and not ok(c)):
                continue
            chosen.append(c)
            seen.add(c)
        if len(chosen) < 4:  # small or crowded pool: scan it in a seeded order
            for i in rng.sample(range(n), n):
                c = pool[i]
                if c in seen or c in exclude or (ok is not None and not ok(c)):
                    continue
                chosen.append(c)
                seen.add(c)
                if len(chosen) == 4:
                    break
            else:
                return None
        rng.shuffle(chosen)
        return (chosen[0], chosen[1], chosen[2], chosen[3])

    def probe(
        self,
        out: list[Probe],
        iv: Intervention,
        ptype: str,
        family: str,
        question: str,
        prompt: str,
        choices: tuple[str, str, str, str],
        before: str,
        after: str | None,
        *,
        domain: str,
        asks: str,
        hop: int = 0,
        paraphrase_id: int = 0,
        held_out: bool = False,
    ) -> None:
        ab = choices.index(before)
        if ptype in ("reverse", "comparison"):  # the options are subjects: named as a sentence names them
            choices = tuple(self.before.mention(c) for c in choices)  # type: ignore[assignment]
            after = self.before.mention(after) if after is not None else None
        if family == "Q-":
            aa, avoid = ab, None
        elif self.task == "edit":
            assert after is not None
            aa, avoid = choices.index(after), None
        else:
            aa, avoid = None, ab
        out.append(
            Probe(
                id=f"{iv.id}/{ptype}/{sum(1 for p in out if p.probe_type == ptype)}",
                task=self.task,
                domain=domain,
                level=iv.level,
                scale=self.scale,
                intervention_id=iv.id,
                probe_type=ptype,
                family=family,
                question=question,
                prompt=prompt,
                choices=choices,
                answer_before=ab,
                answer_after=aa,
                avoid=avoid,
                hop=hop,
                paraphrase_id=paraphrase_id,
                held_out=held_out,
                asks=asks,
            )
        )

    # -- one intervention ----------------------------------------------------------------------

    def probes_for(self, iv: Intervention) -> list[Probe]:
        w, after = self.before, self.after
        rng = random.Random(f"ksmith-probes:{self.seed}:{iv.id}")
        s, r, o, new = iv.subject, iv.relation, iv.old_object, iv.new_object
        rel = w.relations[r]
        tpl = rel.templates
        stype = w.entities[s].type
        nq = len(tpl.questions)
        held_in = [i for i in range(len(tpl.cloze)) if i != tpl.held_out] or [0]
        m = w.mention

        def question(i: int, subject: str) -> str:
            return fill(tpl.questions[i % nq], m(subject)) if nq else fill(tpl.cloze[i], m(subject))

        out: list[Probe] = []
        spool = w.subject_pool(r, s)
        required = [o, new] if new is not None else [o]
        # the known set's question of this fact, whose wrong options include the edit target
        main = fact_options(w, s, r, o)
        if main is not None and (new not in main and new is not None):
            raise AssertionError(f"{iv.id}: the edit target {new!r} is not among the fact's options {main}")
        wrong = set(main or ()) - set(required)

        # direct
        if main is not None:
            for i, c in enumerate(tpl.cloze):
                self.probe(out, iv, "direct", "Q+", question(i, s), fill(c, m(s)), main, o, new,
                           domain=iv.domain, asks=f"{s}|{r}", paraphrase_id=i, held_out=i == tpl.held_out)

        # reverse: from the object's side
        if rel.inverse is not None and tpl.reverse:
            if new is not None:
                prev = [x for x in w.subjects_with(r, new) if x != s]
                q, right_before, right_after = new, (prev[0] if prev else None), s
            else:
                q, right_before, right_after = o, s, None
            if right_before is not None and not self.gives_away(q, right_before, right_after):
                req = [right_before] + ([right_after] if right_after else [])
                opts = self.choices(rng, req, spool)
                qform = next((t for t in tpl.reverse if t.startswith("Q:")), tpl.reverse[-1])
                if opts is not None:
                    for j, form in enumerate(tpl.reverse):
                        self.probe(out, iv, "reverse", "Q+", fill(qform, o=m(q)), fill(form, o=m(q)), opts,
                                   right_before, right_after, domain=iv.domain, asks=f"{q}|{rel.inverse}",
                                   paraphrase_id=j)

        # multi_hop: inheritance down the taxonomy
        if rel.inherited and main is not None:
            by_hop: dict[int, list[str]] = {}
            for d, hop in inheritors(w, s, r):
                if not self.gives_away(d, o, new) and not (self.true_answers(d, r) & wrong):
                    by_hop.setdefault(hop, []).append(d)
            for hop in (1, 2, 3):
                if hop not in by_hop:
                    break
                d = by_hop[hop][rng.randrange(len(by_hop[hop]))]
                if w.object_of(d, r) != o or after.object_of(d, r) != new:  # pragma: no cover
                    raise AssertionError(f"inheritance of ({s}, {r}) to {d} disagrees with the oracle")
                p = rng.choice(held_in)
                self.probe(out, iv, "multi_hop", "Q+", question(p, d), fill(tpl.cloze[p], m(d)), main, o, new,
                           domain=iv.domain, asks=f"{d}|{r}", hop=hop, paraphrase_id=p)
        # multi_hop: 2-hop composition through the object
        for rel2 in w.relations_of(rel.object_type):
            if not rel2.functional:
                continue
            cb = w.object_of(o, rel2.name)
            ca = after.object_of(new, rel2.name) if new is not None else None
            if cb is None or (new is not None and (ca is None or ca == cb)) or self.gives_away(s, cb, ca):
                continue
            # every second hop of a true answer is right in its world: none is a wrong option, and
            # each expected answer is right in its own world only
            right_before = {x for a in w.true_objects(s, r) for x in w.true_objects(a, rel2.name)}
            right_after = {x for a in after.true_objects(s, r) for x in after.true_objects(a, rel2.name)}
            if cb in right_after or (ca is not None and ca in right_before):
                continue
            opts = self.choices(rng, [cb, ca] if ca else [cb], w.object_pool(rel2.name, cb),
                                exclude=right_before | right_after)
            if opts is None:
                continue
            prompt, qtext = composition(rel, rel2, m(s))
            self.probe(out, iv, "multi_hop", "Q+", qtext, prompt, opts, cb, ca,
                       domain=iv.domain, asks=f"{s}|{r}/{rel2.name}", hop=2)

        # comparison: which other subject shares S's object
        if rel.inverse is None:
            # each right answer is right in one world only: it shares no true answer with S in the other
            x_old = self._holder(rng, r, o, s, avoid=set(after.true_objects(s, r)))
            x_new = self._holder(rng, r, new, s, avoid=set(w.true_objects(s, r))) if new is not None else None
            if x_old is not None and (new is None or x_new is not None) and not self.gives_away(s, x_old, x_new):
                bad = self.true_answers(s, r) | {o, *([new] if new else [])}

                def ok(c: str) -> bool:
                    return not (self.true_answers(c, r) & bad)

                opts = self.choices(rng, [x_old, x_new] if x_new else [x_old], spool, ok, exclude={s})
                if opts is not None:
                    prompt, qtext = comparison(rel, m(s))
                    self.probe(out, iv, "comparison", "Q+", qtext, prompt, opts, x_old, x_new,
                               domain=iv.domain, asks=f"{s}|{r}")

        # conflict: a wrong claim in the context
        if main is not None:
            decoy = next(c for c in main if c not in required)
            claim = conflict_claim(rel, m(s), decoy)
            p = rng.choice(held_in)
            self.probe(out, iv, "conflict", "Q+", f"{claim} {question(p, s)}", f"{claim} {fill(tpl.cloze[p], m(s))}",
                       main, o, new, domain=iv.domain, asks=f"{s}|{r}", paraphrase_id=p)
        other = self._other_subject(rng, spool, r, avoid={s})
        if other is not None:
            y, oy = other
            opts = self.choices(rng, [oy], w.object_pool(r, oy), exclude=self.true_answers(y, r))
            if opts is not None:
                self.tested.add((y, r))
                decoy = next(c for c in opts if c != oy)
                claim = conflict_claim(rel, m(y), decoy)
                p = rng.choice(held_in)
                self.probe(out, iv, "conflict", "Q-", f"{claim} {question(p, y)}",
                           f"{claim} {fill(tpl.cloze[p], m(y))}", opts, oy, oy, domain=iv.domain,
                           asks=f"{y}|{r}", paraphrase_id=p)

        # contextual: facts the intervention must leave alone
        par = w.parent(s)
        sibs = [x for x in (w.children(par) if par is not None else self.roots.get(stype, ())) if x != s]
        rng.shuffle(sibs)
        for x in sibs[:8]:
            if (x, r) not in self.tested and self.stable(x, r) is not None:
                self._contextual(out, iv, rng, x, r)
                break
        other = self._other_subject(rng, spool, r, avoid={s, *sibs})
        if other is not None:
            self._contextual(out, iv, rng, other[0], r)
        rels2 = [x for x in self.functional.get(stype, ()) if x.name != r]
        rng.shuffle(rels2)
        for rel2 in rels2:
            if (s, rel2.name) not in self.tested and self.stable(s, rel2.name) is not None:
                self._contextual(out, iv, rng, s, rel2.name)
                break
        domains = [d for d in self.taxa_by_domain if d != iv.domain]
        if domains:
            taxa = self.taxa_by_domain[rng.choice(domains)]
            for _ in range(16):
                y = taxa[rng.randrange(len(taxa))]
                rels_y = self.functional.get(w.entities[y].type, ())
                if not rels_y:
                    continue
                ry = rels_y[rng.randrange(len(rels_y))].name
                if (y, ry) not in self.tested and self.stable(y, ry) is not None:
                    self._contextual(out, iv, rng, y, ry)
                    break
        return out

    def _holder(self, rng: random.Random, r: str, obj: str | None, s: str, avoid: set[str]) -> str | None:
        """An unaffected subject other than `s`, at `s`'s level, whose `r` is `obj` and none of
        whose true answers is in `avoid`."""
        if obj is None:
            return None
        level = self.before.level(s)
        holders = [x for x in self.before.subjects_with(r, obj) if self.before.level(x) == level]
        if len(holders) > 16:
            picks = [holders[rng.randrange(len(holders))] for _ in range(16)]
        else:
            picks = rng.sample(holders, len(holders))
        for x in picks:
            if x != s and self.stable(x, r) == obj and not (self.true_answers(x, r) & avoid):
                return x
        return None

    def _other_subject(self, rng: random.Random, spool: Sequence[str], r: str, avoid: set[str]) -> tuple[str, str] | None:
        for _ in range(24):
            y = spool[rng.randrange(len(spool))]
            if y in avoid or (y, r) in self.tested:
                continue
            oy = self.stable(y, r)
            if oy is not None:
                return y, oy
        return None

    def _contextual(self, out: list[Probe], iv: Intervention, rng: random.Random, y: str, r: str) -> None:
        w = self.before
        rel = w.relations[r]
        oy = w.object_of(y, r)
        assert oy is not None
        opts = self.choices(rng, [oy], w.object_pool(r, oy), exclude=self.true_answers(y, r))
        if opts is None:
            return
        self.tested.add((y, r))
        tpl = rel.templates
        held_in = [i for i in range(len(tpl.cloze)) if i != tpl.held_out] or [0]
        p = rng.choice(held_in)
        my = w.mention(y)
        q = fill(tpl.questions[p % len(tpl.questions)], my) if tpl.questions else fill(tpl.cloze[p], my)
        self.probe(out, iv, "contextual", "Q-", q, fill(tpl.cloze[p], my), opts, oy, oy,
                   domain=w.entities[y].domain, asks=f"{y}|{r}", paraphrase_id=p)

    # -- constraint c --------------------------------------------------------------------------

    def retain(self, k: int) -> tuple[RetainItem, ...]:
        want = retain_size(k)
        rng = random.Random(f"ksmith-retain:{self.seed}:{self.task}:{k}")
        taxa = [n for d in self.taxa_by_domain for n in self.taxa_by_domain[d]]
        picked: list[RetainItem] = []
        seen: set[Pair] = set()
        w = self.before
        for _ in range(want * 20):
            if len(picked) == want or not taxa:
                break
            y = taxa[rng.randrange(len(taxa))]
            rels = self.functional.get(w.entities[y].type, ())
            if not rels:
                continue
            rel = rels[rng.randrange(len(rels))]
            key = (y, rel.name)
            if key in seen or key in self.tested:
                continue
            oy = self.stable(y, rel.name)
            if oy is None:
                continue
            seen.add(key)
            tpl = rel.templates
            held_in = [i for i in range(len(tpl.cloze)) if i != tpl.held_out] or [0]
            picked.append(RetainItem(prompt=fill(tpl.cloze[rng.choice(held_in)], w.mention(y)), answer=oy))
        return tuple(picked)


def build_dataset(
    world: World,
    task: str,
    level: str,
    scale: int,
    seed: int,
    domains: Sequence[str] | None = None,
    known: KnownSet | None = None,
) -> Dataset:
    """Interventions, probes and retain items for one (world, task, level, scale, seed).

    domains: restrict the interventions to these domains (contextual probes may still come from
    the others). Raises `DatasetError` when the level cannot give `scale` interventions.
    known: a model's known set (`ksmith.probes.known`): interventions are drawn only from the facts
    it knows, and its hash goes into the dataset's header and hash.
    """
    if known is not None:
        known.check_world(world)
    pairs = known.known_pairs() if known is not None else None
    picked = select_with_footprints(world, task, level, scale, seed, domains, pairs)
    interventions = tuple(iv for iv, _ in picked)
    after = world.apply(interventions)
    busy: set[Pair] = set()
    for _, fp in picked:
        busy |= fp.reads
    gen = _Generator(world, after, task, scale, busy, seed)
    probes: list[Probe] = []
    for iv in interventions:
        probes.extend(gen.probes_for(iv))
    return Dataset(
        task=task,
        level=level,
        scale=scale,
        seed=seed,
        world_hash=world.hash,
        interventions=interventions,
        probes=tuple(probes),
        retain=gen.retain(scale),
        known_hash=known.hash if known is not None else None,
    )
