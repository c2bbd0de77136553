"""CLI command modules (thin: parse arguments, call services, print)."""

from __future__ import annotations

import argparse
from typing import Any


def command(subparsers: Any, name: str, help_text: str, doc: str | None) -> argparse.ArgumentParser:
    """A (sub)command whose ``--help`` shows the one-line ``help_text`` in lists and ``doc`` as written."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help_text, description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    return parser
