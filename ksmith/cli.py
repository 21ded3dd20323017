"""The `ksmith` command. Each package adds its own subcommands through a `register` function.

Bad input (any `KsmithError`, or a path that cannot be read or written) is reported on stderr with
exit code 2, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ksmith.errors import KsmithError

#: Modules that define `register(subparsers)`; imported lazily so `ksmith --help` stays fast.
COMMAND_MODULES: tuple[str, ...] = (
    "ksmith.world.cli",
    "ksmith.probes.cli",
    "ksmith.known.cli",
    "ksmith.models.cli",
    "ksmith.methods.cli",
    "ksmith.report.cli",
    "ksmith.findings.cli",
    "ksmith.ci",
    "ksmith.cache_cli",
    "ksmith.docs",
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(2, f"ksmith: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ksmith", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (INFO level)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:  # that package has no commands yet
                continue
            raise
        module.register(sub)
    return parser


#: Loggers that warn on import about what a CPU install lacks: torchao (which peft imports when it is
#: installed, and `ksmith.attacks` quantises with) about its CUDA extensions, torch about an enum torchao
#: registers. Neither is news to a user; the CLI shows their errors only.
QUIET_LOGGERS: tuple[str, ...] = ("torchao", "torch.utils._pytree")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    try:
        return int(args.func(args) or 0)
    except KsmithError as exc:
        print(f"ksmith: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a path that cannot be read or written: bad input, not a crash
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"ksmith: error: {where}{exc.strerror or exc}; check the path and its permissions", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ksmith: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
