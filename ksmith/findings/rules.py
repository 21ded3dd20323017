"""The paper's findings (docs/findings.md), each tested on a run's results by a rule fixed in advance.

Input: the `CaseResult`s of one run (`reports/<run-id>/results.jsonl`). Output: one `Finding` per
claim, with the numbers behind it and a verdict — "reproduced", "not reproduced" or
"inconclusive" — decided by the rule printed next to it, never by hand. How estimates are pooled
and compared: `ksmith.findings.estimates`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ksmith.findings.estimates import (
    MATCH_LEVELS,
    MATCH_TASKS,
    NON_PARAMETRIC,
    NOT_REPRODUCED,
    REPRODUCED,
    Finding,
    above,
    compare,
    has_metric,
    matched,
    passed,
    pooled,
    pooled_curve,
    pooled_over_cells,
    select,
    table_row,
    tasks_of,
    values_of,
)
from ksmith.metrics.trends import consistency_collapse, curve_shape
from ksmith.report.records import CaseResult
from ksmith.world.schema import LEVELS


def spread(results: Sequence[CaseResult]) -> Finding:
    f = Finding(
        "spread",
        "Editing over-spreads, unlearning under-spreads",
        "Editing changes facts it should not (collateral changes, stronger at lower levels), while "
        "unlearning fails to reach the facts that depend on the forgotten one.",
        "Reproduced if editing's over-spread > unlearning's AND unlearning's propagation < "
        "editing's (both significant). Not reproduced if either holds significantly the other way. "
        "Otherwise inconclusive. (Sub-claim, reported apart: editing's over-spread at leaf > at root, or at "
        "intermediate where the run has no root cell.)",
    )
    edit, unl = select(results, task="edit"), select(results, task="unlearn")
    sides = {"edit": edit, "unlearn": unl}
    over, prop = compare(sides, "over_spread", MATCH_TASKS), compare(sides, "propagation", MATCH_TASKS)
    e_os, u_os = over["edit"], over["unlearn"]
    e_pr, u_pr = prop["edit"], prop["unlearn"]
    f.rows += [
        table_row("over_spread, edit ↓ (matched cells)", e_os),
        table_row("over_spread, unlearn ↓ (matched cells)", u_os),
        table_row("propagation, edit ↑ (matched cells)", e_pr),
        table_row("propagation, unlearn ↑ (matched cells)", u_pr),
        table_row("ccr, edit ↓", pooled(edit, "ccr")),
        table_row("ccr, unlearn ↓", pooled(unl, "ccr")),
    ]
    for level in LEVELS:
        f.rows.append(
            table_row(
                f"over_spread, edit, {level}",
                pooled(select(edit, level=level), "over_spread"),
            )
        )
    if above(e_os, u_os) and above(e_pr, u_pr):
        f.verdict = REPRODUCED
    elif above(u_os, e_os) or above(u_pr, e_pr):
        f.verdict = NOT_REPRODUCED
    top = higher_level(edit) or "root"
    by_level = compare(
        {"leaf": select(edit, level="leaf"), "high": select(edit, level=top)}, "over_spread", MATCH_LEVELS
    )
    leaf, high = by_level["leaf"], by_level["high"]
    if leaf is not None and high is not None:
        sub = (
            "holds"
            if above(leaf, high)
            else ("is reversed" if above(high, leaf) else "is not significant")
        )
        f.notes.append(
            f"Sub-claim 'stronger at lower levels' {sub} (leaf {leaf.text()} vs {top} {high.text()})."
        )
    return f


def higher_level(results: Sequence[CaseResult]) -> str | None:
    """The level the 'root vs leaf' comparison reads as the higher one: root, or where the run has no
    root cell (the real world states no fact on a root) intermediate; None with neither."""
    return next((level for level in ("root", "intermediate") if select(results, level=level)), None)


def levels(results: Sequence[CaseResult]) -> Finding:
    f = Finding(
        "levels",
        "Root-level updates are harder than leaf-level ones",
        "Higher, more central nodes are harder to change.",
        "Per task, compare direct_acc at root and at leaf (pooled over methods and scales, matched "
        "cells); where the run has no root cell (a world that states no fact on a root, such as the "
        "real one) intermediate stands in for root. Reproduced if root < leaf significantly in at "
        "least one task and in no task root > leaf significantly. Not reproduced if root > leaf "
        "significantly in some task and in none the other way. Otherwise inconclusive.",
    )
    top = higher_level(results)
    if top == "intermediate":
        f.notes.append("The run has no root cell: intermediate is compared with leaf.")
    harder, easier = 0, 0
    for task in tasks_of(results):
        cells = select(results, task=task)
        both = {"high": select(cells, level=top), "leaf": select(cells, level="leaf")}
        direct = compare(both, "direct_acc", MATCH_LEVELS)
        high, leaf = direct["high"], direct["leaf"]
        f.rows += [
            table_row(f"direct_acc, {task}, {top or 'root'} ↑ (matched cells)", high),
            table_row(f"direct_acc, {task}, leaf ↑ (matched cells)", leaf),
        ]
        if top == "root":
            mid = pooled(select(cells, level="intermediate"), "direct_acc")
            if mid is not None:
                f.rows.append(table_row(f"direct_acc, {task}, intermediate ↑", mid))
        q_plus = compare(both, "q_plus_acc", MATCH_LEVELS)
        f.rows.append(table_row(f"q_plus_acc, {task}, {top or 'root'} ↑ (matched cells)", q_plus["high"]))
        f.rows.append(table_row(f"q_plus_acc, {task}, leaf ↑ (matched cells)", q_plus["leaf"]))
        harder += above(leaf, high)
        easier += above(high, leaf)
    if harder and not easier:
        f.verdict = REPRODUCED
    elif easier and not harder:
        f.verdict = NOT_REPRODUCED
    return f


#: k of the paper's drift table, and its normalised KL and CKA per task at those k (issue text of the
#: real-model findings; the paper does not state its normalisation, so ksmith prints its own values
#: raw and divided by their largest value over the run's k, and never compares them numerically).
PAPER_DRIFT_SCALES: tuple[int, ...] = (1, 10, 100, 1000, 10000)
PAPER_DRIFT: dict[str, dict[str, tuple[float, ...]]] = {
    "kl": {"unlearn": (0.014, 0.392, 0.805, 0.838, 0.883), "edit": (0.140, 0.522, 0.606, 0.647, 0.652)},
    "cka": {"unlearn": (0.917, 0.861, 0.566, 0.576, 0.692), "edit": (0.958, 0.852, 0.801, 0.714, 0.714)},
}


def drift_table(results: Sequence[CaseResult]) -> list[tuple[str, str]]:
    """Rows per task and k: ksmith's drift_kl (raw; divided by its largest value over k) and CKA
    similarity (1 - drift_cka), pooled over the parametric methods, beside the paper's normalised KL
    and CKA at that k where it has one."""
    rows = []
    for task in ("edit", "unlearn"):
        cells = [r for r in select(results, task=task) if r.key["method"] not in NON_PARAMETRIC]
        kl, cka = pooled_curve(cells, "drift_kl"), pooled_curve(cells, "drift_cka")
        top = max((e.value for e in kl.values()), default=0.0)
        for k in sorted(set(kl) | set(cka)):
            ours = []
            if k in kl:
                share = f" = {kl[k].value / top:.3f} of its max" if top > 0 else ""
                ours.append(f"KL {kl[k].value:.4g}{share}")
            if k in cka:
                ours.append(f"CKA {1.0 - cka[k].value:.3f}")
            paper = ""
            if k in PAPER_DRIFT_SCALES:
                i = PAPER_DRIFT_SCALES.index(k)
                paper = f"; paper (normalised): KL {PAPER_DRIFT['kl'][task][i]:.3f}, CKA {PAPER_DRIFT['cka'][task][i]:.3f}"
            rows.append((f"drift per k, {task}, k={k} (pooled over methods)", ", ".join(ours) + paper))
    return rows


def drift_shapes(results: Sequence[CaseResult]) -> Finding:
    f = Finding(
        "drift",
        "Editing drift plateaus; unlearning shows an abrupt transition past a critical k",
        "Editing drifts early and plateaus, while unlearning changes little until a critical number "
        "of facts, then abruptly.",
        "Per parametric method, classify drift_kl against k (pooled over levels; at least 3 scales) "
        "with `ksmith.metrics.trends.curve_shape` (none / abrupt / plateau / gradual). Reproduced if "
        "more than half of the edit methods are 'plateau' and more than half of the unlearning "
        "methods 'abrupt'. Not reproduced if more than half of the edit methods are 'abrupt' or more "
        "than half of the unlearning methods 'plateau'. Otherwise (or with fewer than 3 scales) "
        "inconclusive.",
    )
    shares: dict[str, list[str]] = {"edit": [], "unlearn": []}
    for task in ("edit", "unlearn"):
        cells = select(results, task=task)
        for method in values_of(cells, "method"):
            if method in NON_PARAMETRIC:
                continue
            curve = pooled_curve(select(cells, method=method), "drift_kl")
            if len(curve) < 3:
                f.notes.append(
                    f"{task}/{method}: drift_kl at {len(curve)} scale(s); a shape needs 3."
                )
                continue
            shape = curve_shape({k: e.value for k, e in curve.items()})
            shares[task].append(shape.shape)
            points = ", ".join(
                f"k={k}: {e.value:.4g}" for k, e in sorted(curve.items())
            )
            crit = f", critical k={shape.k_critical}" if shape.k_critical else ""
            f.rows.append((f"{task}/{method}", f"{shape.shape}{crit} ({points})"))
    f.rows += drift_table(results)
    edit, unl = shares["edit"], shares["unlearn"]

    def most(shapes: list[str], name: str) -> bool:
        return bool(shapes) and shapes.count(name) * 2 > len(shapes)

    if most(edit, "plateau") and most(unl, "abrupt"):
        f.verdict = REPRODUCED
    elif most(edit, "abrupt") or most(unl, "plateau"):
        f.verdict = NOT_REPRODUCED
    return f


def collapse(results: Sequence[CaseResult]) -> Finding:
    f = Finding(
        "collapse",
        "Consistency collapse past capacity",
        "Past the model's capacity, direct-probe accuracy falls while reverse-probe accuracy stays high.",
        "Per edit method (pooled over levels), `ksmith.metrics.trends.consistency_collapse`: direct_acc "
        "falls by >= 0.2 below its best at a smaller k with non-overlapping intervals, while reverse_acc "
        "is at most 0.1 below its value at the smallest k and at least direct_acc. Reproduced if at "
        "least one method collapses. "
        "Not reproduced if some method's direct_acc falls significantly, reverse_acc measured at that k "
        "does not stay high, and no method collapses. Inconclusive if no method's direct_acc falls "
        "significantly (capacity not reached in this grid), if reverse_acc is not measured where it falls "
        "(no reverse probe survived the known-set filter: a missing reverse is not a low one), or with "
        "fewer than 2 scales.",
    )
    cells = select(results, task="edit")
    collapsed, fell = [], []
    for method in values_of(cells, "method"):
        mine = select(cells, method=method)
        direct, reverse = pooled_curve(mine, "direct_acc"), pooled_curve(mine, "reverse_acc")
        if len(direct) < 2:
            # a k=1 cell can lose its only intervention's direct probes to the precondition filter,
            # and a curve uses only the (model, level, seed) groups present at every k
            f.notes.append(
                f"{method}: direct_acc at {len(direct)} scale(s) over the (model, level, seed) groups "
                f"that have it at every k of the run ({len(mine)} cell(s)); a fall needs 2."
            )
            continue
        res = consistency_collapse(
            {k: (e.value, e.ci) for k, e in direct.items()},
            {k: (e.value, e.ci) for k, e in reverse.items()},
        )
        pts = ", ".join(
            f"k={k}: {direct[k].value:.2f}/{reverse[k].value:.2f}"
            if k in reverse
            else f"k={k}: {direct[k].value:.2f}/—"
            for k in sorted(direct)
        )
        # `reverse_drop` is None when reverse_acc was not measured at the k of the fall (or at no k):
        # that fall says nothing about whether reverse stays high, so it is no evidence either way
        against = bool(res.direct_drop) and not res.collapsed and res.reverse_drop is not None
        if res.collapsed:
            state = f"collapse at k={res.k_critical}"
        elif against:
            state = "direct falls, reverse does not stay high"
        elif res.direct_drop:
            state = "direct falls, reverse not measured there"
        else:
            state = "no significant fall"
        f.rows.append((f"{method} (direct/reverse)", f"{state} ({pts})"))
        collapsed += [method] if res.collapsed else []
        fell += [method] if against else []
    if collapsed:
        f.verdict = REPRODUCED
    elif fell:
        f.verdict = NOT_REPRODUCED
    return f


def geometry_view(results: Sequence[CaseResult]) -> Finding:
    f = Finding(
        "geometry",
        "Editing looks like rotation, unlearning like anisotropic scaling (SVD view)",
        "In weight space, editing rotates the top singular subspaces (with mild scaling) while "
        "unlearning rescales singular directions unevenly.",
        "Per parametric cell, rho = geom_rotation_excess / geom_anisotropy_excess (each relative to a "
        "random update of the same rank and singular values; rho > 1: rotation dominates). Pool log(rho) per task with a "
        "bootstrap over cells. Reproduced if edit's mean log(rho) > unlearning's significantly. Not "
        "reproduced if it is significantly lower. Otherwise inconclusive.",
    )
    ests = {}
    sides = matched(
        {
            task: [r for r in select(results, task=task) if r.key["method"] not in NON_PARAMETRIC]
            for task in ("edit", "unlearn")
        },
        "geom_rotation_excess",
        MATCH_TASKS,
    )
    for task in ("edit", "unlearn"):
        cells = sides[task]
        rot = pooled(cells, "geom_rotation_excess")
        ani = pooled(cells, "geom_anisotropy_excess")
        logs = []
        for r in cells:
            a, b = (
                r.metrics.get("geom_rotation_excess"),
                r.metrics.get("geom_anisotropy_excess"),
            )
            if a is not None and b is not None and a.value > 0 and b.value > 0:
                logs.append(math.log(a.value / b.value))
        ests[task] = pooled_over_cells(logs, f"geometry-{task}")
        per_method = []
        for method in values_of(cells, "method"):
            mine = [
                math.log(
                    r.metrics["geom_rotation_excess"].value
                    / r.metrics["geom_anisotropy_excess"].value
                )
                for r in select(cells, method=method)
                if r.metrics.get("geom_rotation_excess")
                and r.metrics.get("geom_anisotropy_excess")
                and r.metrics["geom_rotation_excess"].value > 0
                and r.metrics["geom_anisotropy_excess"].value > 0
            ]
            if mine:
                per_method.append(f"{method} {np.mean(mine):+.2f}")
        if per_method:
            f.notes.append(
                f"log(rho) per {task} method: " + ", ".join(per_method) + "."
            )
        f.rows += [
            table_row(f"rotation / random, {task}", rot),
            table_row(f"anisotropy / random, {task}", ani),
            table_row(f"log(rho), {task} (> 0: rotation-like)", ests[task]),
        ]
    if above(ests["edit"], ests["unlearn"]):
        f.verdict = REPRODUCED
    elif above(ests["unlearn"], ests["edit"]):
        f.verdict = NOT_REPRODUCED
    return f


def domains(
    results: Sequence[CaseResult], profile: Mapping[str, Mapping[str, Any]] | None = None
) -> Finding:
    f = Finding(
        "domains",
        "Domain dependence: History is the most resistant domain",
        "Updates succeed less often in History than in the other domains.",
        "Pool q_plus_acc_<domain> (Q+ accuracy over the interventions of one domain), History against "
        "each other domain over the cells that hold both. "
        "Reproduced if History's is below every other domain's significantly. Not reproduced if some "
        "other domain's is below History's significantly. Otherwise inconclusive.",
    )
    names = sorted(
        {
            name[len("q_plus_acc_") :]
            for r in results
            for name in r.metrics
            if name.startswith("q_plus_acc_")
        }
        & {"biology", "economics", "history", "physics"}
    )
    ests = {d: pooled(results, f"q_plus_acc_{d}") for d in names}
    for d in names:
        f.rows.append(table_row(f"q_plus_acc, {d} ↑ (all cells)", ests[d]))
    pairs = []  # (history, other) over the cells that hold both domains
    for d in names:
        if d == "history" or "history" not in names:
            continue
        both = [r for r in results if has_metric(r, "q_plus_acc_history") and has_metric(r, f"q_plus_acc_{d}")]
        hist_d, other = pooled(both, "q_plus_acc_history"), pooled(both, f"q_plus_acc_{d}")
        if hist_d is not None and other is not None:
            pairs.append((hist_d, other))
            f.rows.append(table_row(f"history vs {d}: history ↑ (matched cells)", hist_d))
            f.rows.append(table_row(f"history vs {d}: {d} ↑ (matched cells)", other))
    if pairs:
        if all(above(o, h) for h, o in pairs):
            f.verdict = REPRODUCED
        elif any(above(h, o) for h, o in pairs):
            f.verdict = NOT_REPRODUCED
    else:
        f.notes.append(
            "The run has no per-domain accuracies for History and another domain."
        )
    if profile:
        f.notes.append(describe_profile(profile))
    return f


def describe_profile(profile: Mapping[str, Mapping[str, Any]]) -> str:
    """One paragraph: which schema properties differ between the domains, and how."""
    keys = sorted({k for p in profile.values() for k in p})
    differ = [k for k in keys if len({repr(p.get(k)) for p in profile.values()}) > 1]
    same = [k for k in keys if k not in differ]
    if not differ:
        return (
            "The domains' schemas in this world share one plan ("
            + ", ".join(f"{k}={next(iter(profile.values()))[k]}" for k in same)
            + "); only entity names, keywords and random draws differ, so a difference between domains "
            "here cannot come from the schema's shape."
        )
    parts = [
        f"{k}: " + ", ".join(f"{d} {p.get(k)}" for d, p in profile.items())
        for k in differ
    ]
    return (
        "What differs between the domains' schemas in this world — "
        + "; ".join(parts)
        + (f". The same in all: {', '.join(same)}." if same else ".")
    )


FINDINGS: tuple[Callable[..., Finding], ...] = (
    spread,
    levels,
    drift_shapes,
    collapse,
    geometry_view,
)


def evaluate(
    results: Iterable[CaseResult], profile: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Finding]:
    """Every finding on the passed cases of a run (failed and errored cases are left out)."""
    ok = passed(results)
    return [fn(ok) for fn in FINDINGS] + [domains(ok, profile)]


def evaluate_per_model(
    results: Iterable[CaseResult], profile: Mapping[str, Mapping[str, Any]] | None = None
) -> dict[str, list[Finding]]:
    """`evaluate` on each model's cells apart: a claim about LLMs holds or fails per model, and
    pooling a 135M and a 270M model would let one hide the other."""
    ok = passed(results)
    return {model: evaluate(select(ok, model=model), profile) for model in values_of(ok, "model")}


# -- what differs between domains --------------------------------------------------------------------


def domain_profile(world: Any) -> dict[str, dict[str, Any]]:
    """Per domain: size and shape of the taxonomy and of the relations (to explain a domain difference).

    taxa, max_depth, mean_children (of inner nodes), leaf_share, relations, inherited, one_to_one,
    objects_per_relation (mean distinct objects: fewer means more subjects share an answer), facts.
    """
    out: dict[str, dict[str, Any]] = {}
    entities = world.entities
    facts = world.stated_facts()
    for domain in world.domains:
        rels = [
            r for r in world.relations.values() if r.domain == domain and not r.taxonomy
        ]
        taxon_types = {
            r.subject_type
            for r in world.relations.values()
            if r.domain == domain and r.taxonomy
        }
        taxa = [
            n
            for n, e in entities.items()
            if e.domain == domain and e.type in taxon_types
        ]
        inner = [n for n in taxa if world.children(n)]
        dom_facts = [fa for fa in facts if fa.relation in {r.name for r in rels}]
        objects = [
            len({fa.object for fa in dom_facts if fa.relation == r.name}) for r in rels
        ]
        out[domain] = {
            "taxa": len(taxa),
            "max_depth": max((world.depth(n) for n in taxa), default=0),
            "mean_children": round(
                float(np.mean([len(world.children(n)) for n in inner])), 2
            )
            if inner
            else 0,
            "leaf_share": round(
                sum(world.level(n) == "leaf" for n in taxa) / len(taxa), 2
            )
            if taxa
            else 0,
            "relations": len(rels),
            "inherited": sum(r.inherited for r in rels),
            "one_to_one": sum(r.inverse is not None for r in rels),
            "objects_per_relation": round(float(np.mean(objects)), 1) if objects else 0,
            "facts": len(dom_facts),
        }
    return out
