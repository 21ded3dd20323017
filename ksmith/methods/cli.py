"""`ksmith methods`: every registered method, the tasks it supports and where it comes from."""

from __future__ import annotations

import argparse
import json

from tabulate import tabulate

from ksmith.methods.registry import available_methods, method_info


def _rows(names: list[str] | None) -> list[dict[str, str]]:
    infos = [method_info(n) for n in names] if names else list(available_methods().values())
    return [
        {
            "method": info.name,
            "family": ",".join(sorted(info.families)),
            "origin": info.origin,
            "class": f"{info.cls.__module__}.{info.cls.__qualname__}",
        }
        for info in infos
    ]


def _methods(args: argparse.Namespace) -> int:
    rows = _rows(args.names)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(tabulate([[r["method"], r["family"], r["origin"]] for r in rows],
                       headers=["method", "family", "origin"]))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "methods",
        help="list registered update methods (built-in and entry-point plug-ins)",
        description="List every registered method, its family (edit, unlearn) and its origin "
        "(ksmith, or the entry point of the package that provides it).",
    )
    parser.add_argument("names", nargs="*", help="only these methods (unknown names fail with suggestions)")
    parser.add_argument("--json", action="store_true", help="print JSON records instead of a table")
    parser.set_defaults(func=_methods)
