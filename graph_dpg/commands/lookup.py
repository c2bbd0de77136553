"""graph-dpg lookup NUMBER...: the name the registers give a CPR or CVR number.

Output: one JSON object per number and line (JSON Lines), in argument order:

    {"number": "010170-xxxx" | "35833684", "kind": "cpr" | "cvr", "name": <string or null>,
     "status": "active" | "inactive" | "protected" | "unknown" | "error"}

inactive: a ceased company, or a person who is dead or has emigrated; protected: name and address
protection (the name is not shown); unknown: the register does not know the number; error: the lookup
failed (the reason on stderr). CPR numbers are never printed in clear.

CPR names come from Datafordeler (GRAPH_DPG_DATAFORDELER_*), CVR names from the CVR distribution search
(GRAPH_DPG_CVR_*); a kind that is not configured answers "error". --sandbox starts the Datafordeler and CVR
emulators on 127.0.0.1 (Datafordeler's token endpoint with mutual TLS from a throw-away PKI) and looks up
there; --all-samples (only with --sandbox) looks up every number the emulators hold, and one unknown number
of each kind.

Exit code: 0 every number got an answer (whatever its status), 1 a lookup failed, 2 an invalid number or
bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from graph_dpg.commands import command

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    parser = command(
        subparsers, "lookup", "the name of a CPR or CVR number; one JSON object per line", __doc__
    )
    parser.add_argument("numbers", nargs="*", metavar="NUMBER", help="CPR (10 digits) or CVR (8 digits)")
    parser.add_argument(
        "--env-file", type=Path, help="settings file (default: .env in the current directory, if present)"
    )
    parser.add_argument(
        "--sandbox", action="store_true", help="look up in the Datafordeler and CVR emulators on 127.0.0.1"
    )
    parser.add_argument(
        "--all-samples", action="store_true", help="with --sandbox: every number the emulators hold"
    )
    parser.set_defaults(func=run_lookup)


def _fail(message: str) -> int:
    sys.stderr.write(f"graph-dpg lookup: {message}\n")
    return EXIT_USAGE


def run_lookup(args: argparse.Namespace) -> int:
    from graph_dpg.core.errors import IdentifierError
    from graph_dpg.domain.names import classify_number
    from graph_dpg.observability import configure_logging

    # The answers are the output and failures are told on stderr once; the service's log lines would repeat
    # them.
    configure_logging("console", "ERROR")
    if args.all_samples and not args.sandbox:
        return _fail("--all-samples only with --sandbox")
    if not args.numbers and not args.all_samples:
        return _fail("give at least one CPR or CVR number (or --sandbox --all-samples)")
    invalid = False
    for text in args.numbers:
        try:
            classify_number(text)
        except IdentifierError as exc:
            sys.stderr.write(f"graph-dpg lookup: {exc}\n")
            invalid = True
    if invalid:
        return EXIT_USAGE
    if args.sandbox:
        return _run_sandbox(list(args.numbers), all_samples=args.all_samples)
    from graph_dpg.config import load_settings
    from graph_dpg.core.errors import ConfigError

    env_file: Path | None = args.env_file or Path(".env")
    if args.env_file is None and not Path(".env").is_file():
        env_file = None
    try:
        settings = load_settings(env_file)
        if settings.cpr_lookup_enabled or settings.cvr_lookup_enabled:
            # The composition root (its package imports every adapter: ~2 s) only when something is on.
            from graph_dpg.bootstrap.names import make_name_service

            service = make_name_service(settings)
        else:
            from graph_dpg.services.names import NameService

            service = NameService()  # nothing configured: every number answers "not configured"
    except ConfigError as exc:
        problems = "".join(f"  {p}\n" for p in exc.problems) or f"  {exc}\n"
        sys.stderr.write(f"graph-dpg lookup: the settings are unusable:\n{problems}")
        return EXIT_USAGE
    return asyncio.run(_look_up(service, list(args.numbers)))


def _run_sandbox(numbers: list[str], *, all_samples: bool) -> int:
    from graph_dpg.config import load_settings
    from graph_dpg.demo.names import name_sandbox
    from graph_dpg.sandbox.ngdp import generate_test_pki

    with tempfile.TemporaryDirectory(prefix="graph-dpg-lookup-") as tmp:
        pki = generate_test_pki(Path(tmp))
        with name_sandbox(pki) as sandbox:
            from graph_dpg.bootstrap.names import make_name_service

            settings = load_settings(None, **sandbox.settings)
            wanted = numbers + (sandbox.sample_numbers() if all_samples else [])
            return asyncio.run(_look_up(make_name_service(settings), wanted))


async def _look_up(service: Any, numbers: list[str]) -> int:
    code = EXIT_OK
    try:
        results = await service.lookup_many(numbers)
    finally:
        await service.aclose()
    for result in results:
        sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        if result.status == "error":
            sys.stderr.write(f"graph-dpg lookup: {result.shown_number}: {result.reason}\n")
            code = EXIT_FAILED
    sys.stdout.flush()
    return code
