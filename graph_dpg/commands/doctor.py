"""graph-dpg doctor: check settings, gateway file, Graph, NgDP and the database; one line per check.

Each line starts with ✓ (ok), ! (warning), ✗ (failed) or - (skipped, a prerequisite failed); a failed or
warning line is followed by "fix:" and what to do. Exit code 0 when nothing failed (warnings allowed),
1 when a check failed, 2 when the settings or the gateway file are unusable.

--fix creates what the gateway would create itself (missing polled folders, master categories, the
database schema). --sandbox starts the Graph and NgDP emulators on 127.0.0.1 (NgDP with mutual TLS from
a throw-away PKI), seeds them with the demo organisation (or --gateway-file) as a configured tenant
looks, and runs every check against them.

--probe checks, in a probe folder of one mailbox (--mailbox, default the main mailbox), each behaviour of
Graph the gateway relies on that no public document states (docs/facts/graph.md, "Inferences and how doctor
--probe checks them"), prints inference → observed → verdict, and deletes the folder, its message and its
category afterwards. --probe-concurrency adds the concurrency reading (a few parallel reads, stopping at
the first 429). --ngdp-test adds NgDP: one memo to the organisation's own CVR in NgDP's *test* environment,
with the NGDP_TEST_* settings (refused when they point at production), its business receipt, and the answer
to a resend. --json prints the report as JSON. Exit code 0 when every observation matches, 1 when one
contradicts an inference, 2 when the probe could not run (or a row could not be checked, or clean-up failed).
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
    from graph_dpg.diagnostics.probe import ProbeReport
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
    probe = parser.add_argument_group("probe (--probe; writes to the mailbox, then cleans up)")
    probe.add_argument(
        "--probe",
        action="store_true",
        help="observe each inferred Graph behaviour in a probe folder: inference → observed → matches",
    )
    probe.add_argument("--mailbox", help="the mailbox to probe (default: the main mailbox)")
    probe.add_argument(
        "--probe-concurrency",
        action="store_true",
        help="also read the concurrency limit: parallel reads, stopping at the first 429",
    )
    probe.add_argument(
        "--ngdp-test",
        action="store_true",
        help="also probe NgDP's test environment (NGDP_TEST_* settings; never production)",
    )
    probe.add_argument("--json", action="store_true", help="print the probe's report as JSON")
    parser.set_defaults(func=run_doctor)


def run_doctor(args: argparse.Namespace) -> int:
    from graph_dpg.diagnostics.doctor import EXIT_CONFIG, diagnose, exit_code, load_configuration
    from graph_dpg.observability import configure_logging

    # The report is the output; the adapters' retry warnings would only repeat it on stderr.
    configure_logging("console", "ERROR")
    out = sys.stdout
    printer = _Printer(out)
    probe_only = [
        flag
        for flag, given in (
            ("--mailbox", args.mailbox),
            ("--probe-concurrency", args.probe_concurrency),
            ("--ngdp-test", args.ngdp_test),
            ("--json", args.json),
        )
        if given
    ]
    if probe_only and not args.probe:
        sys.stderr.write(f"graph-dpg doctor: {', '.join(probe_only)} only with --probe\n")
        return EXIT_CONFIG
    if args.probe:
        return _run_probe(args, out)
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


# =====================================================================================================
# --probe
# =====================================================================================================

_VERDICT_SYMBOLS = {"matches": "✓", "contradicts": "✗", "not checked": "?", "skipped": "-"}
_VERDICT_ASCII = {
    "matches": "[ok]",
    "contradicts": "[CONTRADICTS]",
    "not checked": "[?]",
    "skipped": "[skip]",
}


def _run_probe(args: argparse.Namespace, out: TextIO) -> int:
    from graph_dpg.config.ngdp_test import NgdpTestSettings, load_ngdp_test_settings
    from graph_dpg.core.errors import ConfigError
    from graph_dpg.diagnostics.doctor import EXIT_CONFIG, load_configuration
    from graph_dpg.diagnostics.probe import probe

    options = {"mailbox": args.mailbox, "concurrency": args.probe_concurrency, "ngdp_test": args.ngdp_test}
    if args.sandbox:
        from graph_dpg.demo.scenario import DEMO_GATEWAY

        path = args.gateway_file or DEMO_GATEWAY
        _, _, checked = load_configuration(None, path)
        if checked is None:
            out.write(
                f"graph-dpg doctor --probe: the gateway file {path} is unusable (graph-dpg check-config)\n"
            )
            return EXIT_CONFIG
        with sandbox(path) as (settings, config, _urls):
            ngdp_settings = NgdpTestSettings(
                _env_file=None,
                base_url=settings.ngdp_base_url,
                system_id=settings.ngdp_system_id,
                api_token=settings.ngdp_api_token,
                certificate_path=settings.ngdp_certificate_path,
                certificate_password=settings.ngdp_certificate_password,
                ca_bundle=settings.ngdp_ca_bundle,
                receipt_wait_seconds=10,
            )
            report = asyncio.run(probe(settings, config, ngdp_settings=ngdp_settings, **options))
        return _print_probe(report, out, as_json=args.json)
    env_file: Path = args.env_file or Path(".env")
    results, settings_, config_ = load_configuration(
        env_file, args.gateway_file, env_file_required=args.env_file is not None
    )
    if settings_ is None or config_ is None:
        printer = _Printer(out)
        for result in results:
            printer(result)
        printer.summary(results, unusable=True)
        return EXIT_CONFIG
    ngdp_test_settings = None
    if args.ngdp_test:
        try:
            ngdp_test_settings = load_ngdp_test_settings(env_file if env_file.is_file() else None)
        except ConfigError as exc:
            out.write("graph-dpg doctor --probe --ngdp-test: the NgDP test settings are unusable:\n")
            out.write("".join(f"  {problem}\n" for problem in exc.problems))
            return EXIT_CONFIG
    report = asyncio.run(probe(settings_, config_, ngdp_settings=ngdp_test_settings, **options))
    return _print_probe(report, out, as_json=args.json)


def _print_probe(report: ProbeReport, out: TextIO, *, as_json: bool) -> int:
    import json

    code = report.exit_code()
    if as_json:
        out.write(json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n")
        return code
    encoding = getattr(out, "encoding", None) or "utf-8"
    try:
        "".join(_VERDICT_SYMBOLS.values()).encode(encoding)
        symbols = _VERDICT_SYMBOLS
    except (UnicodeEncodeError, LookupError):
        symbols = _VERDICT_ASCII
    folder = f", probe folder {report.folder!r}" if report.folder else ""
    lines = [f"graph-dpg doctor --probe: mailbox {report.mailbox}{folder}"]
    if report.problem:
        lines.append(f"could not run: {report.problem}")
    for row in report.rows:
        lines.append(f"{symbols[row.verdict]} {row.id}: {row.verdict}")
        wrapped = textwrap.wrap(row.inference.statement, _FIX_WIDTH - 15) or [""]
        lines.append(f"    inference: {wrapped[0]}")
        lines += [f"               {part}" for part in wrapped[1:]]
        lines.append(f"    observed:  {row.observed}")
    if report.cleaned:
        lines.append("cleaned up: " + "; ".join(report.cleaned))
    for problem in report.cleanup_problems:
        lines.append(f"NOT cleaned up: {problem}")
    counts = {v: sum(1 for r in report.rows if r.verdict == v) for v in _VERDICT_SYMBOLS}
    lines.append(
        f"{counts['matches']} match, {counts['contradicts']} contradict, "
        f"{counts['not checked']} not checked, {counts['skipped']} skipped (exit {code})"
    )
    out.write("\n".join(lines) + "\n")
    out.flush()
    return code
