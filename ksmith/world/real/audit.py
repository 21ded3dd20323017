"""The real world's audit: every source it is built from, every override of a source with its
reason, and every other true answer a table adds, so a reader can check the world fact by fact.

It reads the domain modules' `SOURCES` and the override tables (`overrides/*.json`), never the
source packages, so `ksmith world audit` works offline and on a fresh install; `docs/real-world-audit.md`
holds the same text (`ksmith docs --write` regenerates it, a test compares it).
"""

from __future__ import annotations

from collections import Counter

from ksmith.world.domains import DOMAINS
from ksmith.world.real.common import Overrides


def _cell(text: object) -> str:
    return "" if text is None else str(text).replace("|", "\\|").replace("\n", " ")


def audit_markdown() -> str:
    """The audit as Markdown: sources, then overrides, then other true answers, per domain."""
    from ksmith.world.real import domain_modules, load_real_world

    world = load_real_world()
    by_rule = Counter((world.entities[s].domain, r) for s, r, _o in world.other_answers())
    lines: list[str] = [f"Committed real world `{world.hash}`: {len(world.stated_facts())} stated facts, "
                        f"{sum(by_rule.values())} other true answers.", ""]
    for domain in DOMAINS:
        module = domain_modules()[domain]
        table = Overrides(domain)
        overrides = list(table)
        lines += [f"### {domain}", "", "Sources:", ""]
        lines += [f"- {_cell(src)}" for src in module.SOURCES]
        lines.append("")
        if overrides:
            lines += [f"Overrides ({len(overrides)}):", "", "| subject | relation | source says | now | source | reason |",
                      "|---|---|---|---|---|---|"]
            lines += [f"| {_cell(o.subject)} | {_cell(o.relation)} | {_cell(o.was)} | {_cell(o.value) or '(removed)'} | "
                      f"{_cell(o.source)} | {_cell(o.reason)} |" for o in overrides]
        else:
            lines.append("Overrides: none.")
        lines.append("")
        extra = table.other_answers
        if extra:
            lines += [f"Other true answers from a table ({len(extra)}):", "", "| subject | relation | also true | source | reason |",
                      "|---|---|---|---|---|"]
            lines += [f"| {_cell(o.subject)} | {_cell(o.relation)} | {_cell(o.value)} | {_cell(o.source)} | {_cell(o.reason)} |"
                      for o in extra]
            lines.append("")
        counts = sorted((r, n) for (d, r), n in by_rule.items() if d == domain)
        if counts:
            lines.append("Other true answers in the world: " + ", ".join(f"{r} {n}" for r, n in counts) + ".")
            lines.append("")
    return "\n".join(lines).rstrip("\n")
