"""The `graph-dpg` command line: thin. Each command module registers its sub-command and calls services.

A command module exposes ``register(subparsers)``; the parser it adds sets ``func(args) -> int`` (the exit
code). ``COMMANDS`` maps each top-level command to its module. Only the module of the command being run is
imported (the service's modules pull in msgraph-sdk, SQLAlchemy and the emulators, ~1-3 s), so
``graph-dpg address explain`` starts as fast as the pure core allows; ``--help`` imports them all.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMANDS: dict[str, str] = {
    "address": "graph_dpg.commands.address",
    "check-config": "graph_dpg.commands.config",
    "consent-url": "graph_dpg.commands.onboarding",
    "memo": "graph_dpg.commands.memo",
    "run": "graph_dpg.commands.run",
    "sandbox": "graph_dpg.commands.sandbox",
    "rules": "graph_dpg.commands.rules",
    "letters": "graph_dpg.commands.letters",
    "doctor": "graph_dpg.commands.doctor",
    "secure-mail": "graph_dpg.commands.secure_mail",
    "lookup": "graph_dpg.commands.lookup",
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="graph-dpg",
        description="Digital Post gateway for Microsoft 365 function mailboxes.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).register(sub)
    return parser


def _version() -> str:
    from graph_dpg import __version__

    return __version__


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_in if not a.startswith("-")), None)
    parser = build_parser(command)
    args = parser.parse_args(args_in)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return 2
    code: int = func(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
