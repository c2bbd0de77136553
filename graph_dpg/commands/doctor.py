"""graph-dpg doctor: check settings, gateway file, Graph, NgDP and the database; one line per check.

Each line starts with ✓ (ok), ! (warning), ✗ (failed) or - (skipped, a prerequisite failed); a failed or
warning line is followed by "fix:" and what to do. Exit code 0 when nothing failed (warnings allowed),
1 when a check failed, 2 when the settings or the gateway file are unusable.

--fix creates what the gateway would create itself (missing polled folders, master categories, the
database schema). --sandbox starts the Graph and NgDP emulators on 127.0.0.1 (NgDP with mutual TLS from
a throw-away PKI), seeds them with the demo organisation (or --gateway-file) as a configured tenant
looks, and runs every check against them.
"""

# The checks themselves live in graph_dpg.diagnostics.doctor; this module parses options and prints.

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from graph_dpg.commands import command

if TYPE_CHECKING:
    from graph_dpg.config import GatewayConfig, Settings
    from graph_dpg.diagnostics.doctor import CheckResult
    from graph_dpg.sandbox.graph import GraphTenant
    from graph_dpg.sandbox.ngdp import NgdpState

# The checks import the SDKs; loaded only when doctor runs, so other commands start no slower.
_SYMBOLS = {"ok": "✓", "warn": "!", "fail": "✗", "skip": "-"}
_FIX_WIDTH = 100
_ASCII = {"ok": "[ok]", "warn": "[warn]", "fail": "[FAIL]", "skip": "[skip]"}


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = command(
        subparsers,
        "doctor",
        "check settings, gateway file, Graph, NgDP and the database, with the fix for each problem",
        __doc__,
    )
    parser.add_argument(
        "--env-file", type=Path, help="settings file (default: .env in the current directory, if present)"
    )
    parser.add_argument(
        "--gateway-file", type=Path, help="gateway file (default: GRAPH_DPG_GATEWAY_FILE from the settings)"
    )
    parser.add_argument(
        "--fix",
        action="store_true",
        help="create missing polled folders and master categories, and create/migrate the database",
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="check against the Graph and NgDP emulators on 127.0.0.1, seeded with the demo organisation",
    )
    parser.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from graph_dpg.diagnostics.doctor import EXIT_CONFIG, diagnose, exit_code, load_configuration
    from graph_dpg.observability import configure_logging

    # The report is the output; the adapters' retry warnings would only repeat it on stderr.
    configure_logging("console", "ERROR")
    out = sys.stdout
    printer = _Printer(out)
    if args.sandbox:
        return _run_sandbox(args.gateway_file, args.fix, printer)
    env_file: Path = args.env_file or Path(".env")
    results, settings, config = load_configuration(
        env_file, args.gateway_file, env_file_required=args.env_file is not None
    )
    for result in results:
        printer(result)
    if settings is None or config is None:
        printer.summary(results, unusable=True)
        return EXIT_CONFIG
    results += asyncio.run(diagnose(settings, config, fix=args.fix, on_result=printer))
    printer.summary(results)
    return exit_code(results)


def _run_sandbox(gateway_file: Path | None, fix: bool, printer: _Printer) -> int:
    from graph_dpg.demo.scenario import DEMO_GATEWAY
    from graph_dpg.diagnostics.doctor import (
        EXIT_CONFIG,
        CheckResult,
        Status,
        diagnose,
        exit_code,
        load_configuration,
    )

    path = gateway_file or DEMO_GATEWAY
    results, _, config = load_configuration(None, path)
    gateway_result = results[-1]
    if config is None:
        printer(gateway_result)
        printer.summary([gateway_result], unusable=True)
        return EXIT_CONFIG
    with sandbox(path) as (settings, config, urls):
        printer.out.write(f"sandbox: Graph emulator {urls[0]}, NgDP emulator {urls[1]} (mutual TLS)\n")
        settings_result = CheckResult(
            "settings", Status.OK, "sandbox settings for the emulators on 127.0.0.1 (generated)"
        )
        checked = [settings_result, gateway_result]
        for result in checked:
            printer(result)
        checked += asyncio.run(diagnose(settings, config, fix=fix, on_result=printer))
    printer.summary(checked)
    return exit_code(checked)


@contextmanager
def sandbox(gateway_file: Path) -> Iterator[tuple[Settings, GatewayConfig, tuple[str, str]]]:
    """Both emulators for the organisation of ``gateway_file``, seeded like a tenant that is set up: the
    mailboxes with their polled folders and master categories, NgDP with the organisation's contact points,
    and a migrated SQLite database."""
    from graph_dpg.adapters.store import create_store
    from graph_dpg.demo.player import free_port, sandbox_environment, sandbox_settings

    with (
        tempfile.TemporaryDirectory(prefix="graph-dpg-doctor-") as tmp,
        sandbox_environment(Path(tmp), gateway_file) as (work, tenant, graph_url, state, ngdp, config),
    ):
        seed(tenant, state, config)
        settings = sandbox_settings(work, graph_url, ngdp, free_port())
        create_store(settings.database_url, replica="doctor").close()
        yield settings, config, (graph_url, ngdp.base_url)


def seed(tenant: GraphTenant, state: NgdpState, config: GatewayConfig) -> None:
    """What a tenant that is set up has beyond its mailboxes: the polled folders, the master categories of
    the function mailboxes, and (at NgDP) the sender contact points."""
    for address, folder in [*config.outgoing_sources(), *config.inbox_sources()]:
        _seed_folder(tenant, address, folder)
    wanted = [(spec.name, spec.color) for _, spec in config.categories.items()]
    for box in config.function_mailboxes:
        mailbox = tenant.mailbox(box.address)
        present = {c["displayName"].casefold() for c in tenant.master_categories(box.address)}
        for name, color in wanted:
            if name.casefold() not in present:
                tenant.add_category(mailbox, name, color)
        for cp in box.sender_contact_points:
            if state.contact_point(cp) is None:
                state.add_contact_point(cp, f"sender contact point of {box.address}")


def _seed_folder(tenant: GraphTenant, mailbox: str, path: str) -> None:
    """Create ``path`` (``Inbox/Digital Post``, a top-level folder, or a well-known name) in the emulator."""
    from graph_dpg.sandbox.graph import GraphApiError

    box = tenant.mailbox(mailbox)
    parts = [p for p in path.strip("/").split("/") if p.strip()]
    try:
        parent = tenant.folder(box, parts[0])
        parts = parts[1:]
    except GraphApiError:
        parent = tenant.folder(box, "msgfolderroot")
    for part in parts:
        existing = [
            f for f in tenant.child_folders(box, parent) if f.display_name.casefold() == part.casefold()
        ]
        parent = existing[0] if existing else tenant.create_folder(box, parent, part)


class _Printer:
    """One line per result (continuation lines indented), ``fix:`` under failures and warnings."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        encoding = getattr(out, "encoding", None) or "utf-8"  # StringIO: no encoding, holds str
        try:
            "".join(_SYMBOLS.values()).encode(encoding)
            self.symbols = _SYMBOLS
        except (UnicodeEncodeError, LookupError):
            self.symbols = _ASCII

    def __call__(self, result: CheckResult) -> None:
        first, *rest = result.detail.splitlines() or [""]
        lines = [f"{self.symbols[result.status]} {result.name}: {first}"]
        lines += [f"    {line}" for line in rest]
        if result.fix and result.status in ("fail", "warn"):
            # The status line stays one line (grep-able); the advice is wrapped to read in a terminal.
            fix_lines = [
                part
                for line in result.fix.splitlines()
                for part in (textwrap.wrap(line, _FIX_WIDTH) if len(line) > _FIX_WIDTH else [line])
            ]
            lines.append(f"    fix: {fix_lines[0]}")
            lines += [f"         {line}" for line in fix_lines[1:]]
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()

    def summary(self, results: list[CheckResult], *, unusable: bool = False) -> None:
        from graph_dpg.diagnostics.doctor import Status, summary_counts

        counts = summary_counts(results)
        text = (
            f"{counts[Status.OK]} ok, {counts[Status.WARN]} warning(s), {counts[Status.FAIL]} failed, "
            f"{counts[Status.SKIP]} skipped"
        )
        if unusable:
            text += " - the configuration is unusable; fix it first (exit 2)"
        self.out.write(text + "\n")
