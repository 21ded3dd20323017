"""`ksmith cache info` / `ksmith cache clear`: see and empty the on-disk cache (`ksmith.cache`)."""

from __future__ import annotations

import argparse

from ksmith import cache
from ksmith.errors import KsmithError


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def _info(args: argparse.Namespace) -> int:
    root = cache.cache_root()
    print(f"cache root: {root}")
    print(f"code version (all of ksmith + {', '.join(cache.VERSIONED_PACKAGES)}): {cache.code_version()}")
    for kind, parts in cache.CACHE_PARTS.items():
        print(f"  {kind:<9} keyed by {cache.kind_version(kind)} (from {', '.join(parts)})")
    rows = cache.usage(root)
    if not rows:
        print("empty")
    for row in rows:
        print(f"{row.kind:<12} {row.entries:>6} entries  {_mib(row.bytes):>12}")
    if rows:
        print(f"{'total':<12} {sum(r.entries for r in rows):>6} entries  {_mib(sum(r.bytes for r in rows)):>12}")
    return 0


def _clear(args: argparse.Namespace) -> int:
    try:
        removed = cache.clear(tuple(args.kinds))
    except ValueError as exc:
        raise KsmithError(str(exc)) from None
    for row in removed:
        print(f"removed {row.kind}: {row.entries} entries, {_mib(row.bytes)}")
    if not removed:
        print("nothing to remove")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("cache", help="show or clear the on-disk cache ($KSMITH_CACHE)")
    actions = parser.add_subparsers(dest="cache_command", required=True, parser_class=type(parser))
    info = actions.add_parser("info", help="cache root, code versions, entries and size per kind")
    info.set_defaults(func=_info)
    clear = actions.add_parser("clear", help="delete cache kinds (all when none is named)")
    clear.add_argument("kinds", nargs="*", help="kinds to delete, e.g. scores datasets (see `ksmith cache info`)")
    clear.set_defaults(func=_clear)
