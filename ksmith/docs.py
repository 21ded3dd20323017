"""`ksmith docs`: the tables of `docs/` that mirror code, generated from the declarations they mirror.

A page holds each such table between `<!-- generated: NAME -->` and `<!-- end generated -->`. The
blocks are rewritten by `ksmith docs --write` and compared by `ksmith docs --check` (and a test), so a
new option, preset, metric or model spec cannot be missing from its page. The declarations: the
plugin's `OPTIONS` and `FLAG_OPTIONS`, the grid's `PRESETS`, the metrics' `METRICS`, the model
zoo's `SPECS`, and the real world's sources and override tables (its audit).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

from ksmith.errors import KsmithError

BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


def _cell(text: object) -> str:
    """Table-cell text: pipes escaped, and angle brackets, so `hf:<path>` is not read as an HTML tag."""
    return str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;").replace(">", "&gt;")


def options_table() -> str:
    from ksmith.plugin.options import FLAG_OPTIONS, OPTIONS

    rows = ["| option | default | meaning |", "|---|---|---|"]
    for name, (help_text, default) in OPTIONS.items():
        shown = "the preset's" if default is None else f"`{default}`"
        rows.append(f"| `--ksmith-{name}` | {shown} | {_cell(help_text)} |")
    for name, help_text in FLAG_OPTIONS.items():
        rows.append(f"| `--ksmith-{name}` | off | {_cell(help_text)} |")
    return "\n".join(rows)


def presets_table() -> str:
    from ksmith.grid import PRESETS

    rows = ["| preset | models | world | levels | k | seeds |", "|---|---|---|---|---|---|"]
    for name, spec in PRESETS.items():
        world = spec.world if spec.world != "synthetic" else f"synthetic, {spec.world_size}"
        rows.append(
            f"| `{name}` | {', '.join(spec.models)} | {world} | {', '.join(spec.levels)} | "
            f"{', '.join(map(str, spec.scales))} | {', '.join(map(str, spec.seeds))} |"
        )
    return "\n".join(rows)


def metrics_table() -> str:
    from ksmith.metrics.names import METRICS

    rows = ["| metric | better | family | meaning | aggregation |", "|---|---|---|---|---|"]
    rows += [
        f"| `{m.name}` | {m.better} | {m.family} | {_cell(m.meaning)} | {_cell(m.aggregation)} |" for m in METRICS
    ]
    return "\n".join(rows)


def models_table() -> str:
    from ksmith.models.zoo import SPECS

    rows = ["| spec | what it loads |", "|---|---|"]
    rows += [f"| `{spec}` | {_cell(what)} |" for spec, what in SPECS.items()]
    return "\n".join(rows)


def audit_text() -> str:
    from ksmith.world.real.audit import audit_markdown

    return audit_markdown()


#: Table name -> (its generator, the page of docs/ that holds it).
TABLES: dict[str, tuple[Callable[[], str], str]] = {
    "options": (options_table, "running.md"),
    "presets": (presets_table, "running.md"),
    "metrics": (metrics_table, "metrics.md"),
    "models": (models_table, "models.md"),
    "real-world-audit": (audit_text, "real-world-audit.md"),
}


def refresh(text: str) -> str:
    """`text` with every generated block rewritten from the code (an unknown block name is an error)."""

    def one(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in TABLES:
            raise KsmithError(f"unknown generated table {name!r}; the tables are {', '.join(TABLES)}")
        return f"{match[1]}{TABLES[name][0]()}\n{match[4]}"

    return BLOCK.sub(one, text)


def stale_pages(docs: Path) -> list[str]:
    """The pages whose generated tables differ from the code, or that lack a table they should hold."""
    stale = []
    for page in sorted({page for _, page in TABLES.values()}):
        path = docs / page
        text = path.read_text(encoding="utf-8") if path.is_file() else ""
        missing = [name for name, (_, where) in TABLES.items() if where == page and f"<!-- generated: {name} -->" not in text]
        if missing or refresh(text) != text:
            stale.append(page + (f" (no block for {', '.join(missing)})" if missing else ""))
    return stale


def _run(args: argparse.Namespace) -> int:
    docs = Path(args.docs)
    if not docs.is_dir():
        raise KsmithError(f"{docs} is not a directory; run from the repository root or pass --docs DIR")
    if args.write:
        for page in sorted({page for _, page in TABLES.values()}):
            path = docs / page
            path.write_text(refresh(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"rewrote the generated tables of {docs}")
        return 0
    stale = stale_pages(docs)
    for page in stale:
        print(f"out of date: {docs / page}")
    if stale:
        print("run `ksmith docs --write` to regenerate them")
        return 1
    print(f"every generated table of {docs} matches the code")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "docs",
        help="check (or rewrite) the tables of docs/ that are generated from the code",
        description="The options, presets, metrics and model specs tables of docs/ are generated from the "
        "declarations in the code. Without --write: exit 1 if a page is out of date.",
    )
    parser.add_argument("--docs", default="docs", help="the docs directory (default: docs)")
    parser.add_argument("--write", action="store_true", help="rewrite the generated tables")
    parser.set_defaults(func=_run)
