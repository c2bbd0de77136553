"""The `graph-dpg` command line: thin. Each command module registers its sub-commands and calls services.

A command module exposes ``register(subparsers)``; the parser it adds sets ``func(args) -> int`` (the exit
code). Modules are listed in ``COMMAND_MODULES``; add a line there for a new command module.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    # one line per command module, e.g. "graph_dpg.commands.address",
    "graph_dpg.commands.address",
    "graph_dpg.commands.config",
    "graph_dpg.commands.onboarding",
    "graph_dpg.commands.memo",
    "graph_dpg.commands.run",
    "graph_dpg.commands.sandbox",
    "graph_dpg.commands.rules",
    "graph_dpg.commands.doctor",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graph-dpg",
        description="Digital Post gateway for Microsoft 365 function mailboxes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from graph_dpg import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
