"""Shared by the benchmark scripts: the ``--json FILE`` option that ``bench/run_all`` reads.

Each script keeps printing its human-readable lines; with ``--json FILE`` it also writes the same figures as
one JSON object, so the report is built from numbers rather than from scraping text that may be reworded.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json",
        metavar="FILE",
        default=None,
        help="also write the figures as one JSON object to FILE (read by bench/run_all)",
    )


def write_json(path: str | None, results: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(results, indent=2, sort_keys=True) + "\n", encoding="utf-8")
