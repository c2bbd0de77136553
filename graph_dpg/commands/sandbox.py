"""graph-dpg sandbox: the gateway's main job on its embedded sandbox, in one command.

Starts the Graph and NgDP emulators on 127.0.0.1, seeds the demo organisation, plays a scenario (built in,
or --scenario FILE) through the real service loop, prints a summary and optionally writes the full JSON
report (formats: docs/sandbox.md). Exit 0 when the scenario settled and every outcome was as expected,
1 otherwise, 2 for an unreadable scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from graph_dpg.bootstrap import build_gateway
from graph_dpg.commands import command
from graph_dpg.config import Settings
from graph_dpg.core.errors import ConfigError
from graph_dpg.demo.export import ExportedMail, collect, snapshot, write_export
from graph_dpg.demo.names import name_sandbox
from graph_dpg.demo.player import (
    Environment,
    MassProgress,
    Played,
    build_report,
    demo_users_line,
    free_port,
    inject,
    ngdp_pusher,
    print_summary,
    push_memos,
    push_receipts_until,
    sandbox_environment,
    sandbox_settings,
    seed,
    start_console_idp,
    unexpected,
    wait_settled,
)
from graph_dpg.demo.scenario import Scenario, load_scenario
from graph_dpg.demo.smime import make_demo_pki
from graph_dpg.demo.words import check_mails
from graph_dpg.demo.words import describe as describe_words
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, RuntimeOptions
from graph_dpg.sandbox.ngdp import NgdpPusher
from graph_dpg.sandbox.ngdp.state import (
    DUPLICATE_ANSWER_ENV,
    DUPLICATE_ANSWERS,
    VALIDATE_MEMOS_ENV,
    DuplicateAnswer,
    settings_from_env,
)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = command(
        subparsers,
        "sandbox",
        "run the gateway against emulated Graph and NgDP and play a demo scenario",
        __doc__,
    )
    parser.add_argument("--scenario", type=Path, help="scenario YAML (default: the built-in demo scenario)")
    parser.add_argument("--report", type=Path, help="write the full JSON report to this file")
    parser.add_argument(
        "--export",
        type=Path,
        metavar="DIR",
        help="write every mail the gateway wrote or delivered to DIR (created if missing) as .eml and .html,"
        " named <scenario item>-<n>-<kind>; decrypted demo content included (docs/sandbox.md)",
    )
    parser.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the emulators and the gateway running (URLs printed) until Ctrl-C",
    )
    parser.add_argument(
        "--workdir", type=Path, help="directory for the database and certificates (default: a temp dir)"
    )
    parser.add_argument(
        "--ngdp-duplicate-answer",
        choices=DUPLICATE_ANSWERS,
        help="how the NgDP emulator answers a messageUUID it already has (NgDP does not document it; each"
        f" shape is an inference; default: {DUPLICATE_ANSWER_ENV} or 400-code)",
    )
    parser.add_argument(
        "--ngdp-no-validation",
        action="store_true",
        help="switch off the NgDP emulator's own MeMo validation (xmlschema + its business rules), for"
        f" throughput measurements only; the summary says so (also {VALIDATE_MEMOS_ENV}=false)",
    )
    parser.add_argument(
        "--no-notifications",
        action="store_true",
        help="poll Sent Items every second instead of using Graph change notifications (the gateway's"
        " default without GRAPH_DPG_NOTIFICATIONS_URL); by default the sandbox subscribes and the Graph"
        " emulator notifies the gateway over loopback",
    )
    parser.set_defaults(func=run_sandbox)


def run_sandbox(args: argparse.Namespace) -> int:
    try:
        scenario = load_scenario(args.scenario)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2
    try:
        shape, validate = settings_from_env(os.environ)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    emulator = NgdpOptions(
        args.ngdp_duplicate_answer or shape, validate_memos=validate and not args.ngdp_no_validation
    )
    configure_logging("console", "WARNING")
    return asyncio.run(
        _play(
            scenario,
            args.report,
            args.keep_running,
            args.workdir,
            emulator,
            export_dir=args.export,
            notifications=not args.no_notifications,
        )
    )


@dataclass(frozen=True)
class NgdpOptions:
    """The NgDP emulator's documented settings (docs/sandbox.md, "NgDP emulator settings")."""

    duplicate_answer: DuplicateAnswer = "400-code"
    validate_memos: bool = True


async def _play(
    scenario: Scenario,
    report_path: Path | None,
    keep_running: bool,
    workdir: Path | None,
    emulator: NgdpOptions | None = None,
    *,
    export_dir: Path | None = None,
    notifications: bool = True,
) -> int:
    out = sys.stdout
    report: dict[str, object] = {"settled": False}
    wrong: list[str] = []
    emulator = emulator or NgdpOptions()
    with (
        ExitStack() as stack,
        sandbox_environment(
            workdir, duplicate_answer=emulator.duplicate_answer, validate_memos=emulator.validate_memos
        ) as (work, tenant, graph_url, state, ngdp, config),
    ):
        seed(scenario, state)
        pki = make_demo_pki(work / "smime", config.organisation.name, config.organisation.cvr)
        assert ngdp.pki is not None
        # The name registers (Datafordeler with mutual TLS from the NgDP emulator's CA, the CVR search).
        names = stack.enter_context(name_sandbox(ngdp.pki))
        http_port = free_port()
        idp = start_console_idp(ngdp, http_port)  # the console's emulated Entra ID (stopped below)
        try:
            settings = sandbox_settings(
                work,
                graph_url,
                ngdp,
                http_port,
                smime=pki,
                console=idp,
                extra=names.settings,
                notifications=notifications,
            )
            gateway = build_gateway(settings, config)
        except BaseException:
            idp.stop()
            raise
        runtime = Runtime(
            gateway,
            RuntimeOptions(jitter_s=0.2, heartbeat_s=2.0, backoff_base_s=0.5, shutdown_grace_s=10.0),
        )
        env = Environment(work, tenant, state, ngdp, graph_url, settings, config, gateway, runtime, pki)
        pushes: dict[int, int] = {}
        stop_pushing = asyncio.Event()
        pusher: NgdpPusher | None = None
        pushing: asyncio.Task[None] | None = None
        try:
            await runtime.start()
            pusher = ngdp_pusher(ngdp, runtime.http_url)
            pushing = asyncio.create_task(push_receipts_until(pusher, stop_pushing, pushes))
            out.write(
                f"graph_dpg sandbox: {config.organisation.name} (CVR {config.organisation.cvr}), "
                f"{len(config.function_mailboxes)} function mailboxes\n"
                f"  Graph emulator  {graph_url}\n  NgDP emulator   {ngdp.base_url} (mutual TLS)\n"
                f"  names           Datafordeler {names.settings['datafordeler_token_url']} (mutual TLS), "
                f"CVR {names.settings['cvr_base_url']}\n"
                f"  gateway         {runtime.http_url} (/healthz /readyz /metrics)\n"
                f"  console         {runtime.http_url}/console/ (sign-in: emulated Entra ID {idp.url})\n"
                f"  NgDP push       {runtime.http_url}/ngdp/push/ (NgDP's client certificate via the"
                " ingress header)\n"
                f"  NgDP emulator   duplicate answer {emulator.duplicate_answer}, MeMo validation "
                f"{'on' if emulator.validate_memos else 'OFF (throughput measurement only)'}\n"
                f"  Sent Items      {_outbound_mode(settings)}\n"
                f"  work directory  {work}\n"
                f"playing {len(scenario.outbound)} outgoing mails, {len(scenario.inbound)} inbound memos, "
                f"{len(scenario.inbox_mails)} secure mails...\n"
            )
            out.flush()
            if notifications and not await _subscribed(runtime, len(gateway.outbound.settings.mailboxes)):
                out.write(
                    "  (not every Sent Items subscription was made within 20 s: the safety net polls)\n"
                )
            played = inject(scenario, tenant, state, pki)
            before = snapshot(tenant)  # what the gateway did not write (for --export)
            await push_memos(env, played)
            left = await wait_settled(env, played, scenario.timeout_seconds, MassProgress(scenario, out))
            report = await asyncio.to_thread(build_report, env, scenario, played, left)
            print_summary(report, out)
            written = await asyncio.to_thread(_written, env, scenario, played, before)
            # Issue 17's evidence: no Danish mail shows English findings, raw codes or raw statuses.
            report["words"] = words = await asyncio.to_thread(_check_words, env, written)
            out.write(describe_words(words) + "\n")
            if report_path is not None:
                text = json.dumps(report, ensure_ascii=False, indent=2)
                await asyncio.to_thread(report_path.write_text, text, encoding="utf-8")
                out.write(f"full report: {report_path}\n")
            if export_dir is not None:
                files = await asyncio.to_thread(write_export, export_dir, written)
                out.write(f"exported {len(files) // 2} mail(s) as .eml and .html: {export_dir}\n")
            wrong = unexpected(report)
            if not words["passed"]:
                wrong.append("words in Danish mails")
            refused = {status: n for status, n in pushes.items() if status != 200}
            out.write(
                f"NgDP pushed {pushes.get(200, 0)} business receipt(s) with its client certificate: "
                + (f"refused {refused}\n" if refused else "all accepted\n")
            )
            if refused:
                wrong.append("NgDP push (certificate)")
            if wrong:
                out.write("not as expected: " + ", ".join(wrong) + "\n")
            if keep_running:
                await _wait_for_signal(out, runtime.http_url, graph_url, ngdp.base_url)
        finally:
            stop_pushing.set()
            if pushing is not None:
                await pushing
            if pusher is not None:
                await pusher.aclose()
            await runtime.stop()
            await gateway.aclose()
            idp.stop()
    return 0 if report["settled"] and not wrong else 1


def _outbound_mode(settings: Settings) -> str:
    if not settings.notifications_url:
        return f"polled every {settings.outbound_poll_seconds} s (--no-notifications)"
    return (
        f"change notifications to {settings.notifications_url}/graph/notifications (a new mail wakes its "
        f"folder's poll); safety-net poll every {settings.poll_interval_with_notifications_seconds} s"
    )


async def _subscribed(runtime: Runtime, folders: int, bound_s: float = 20.0) -> bool:
    """Wait (bounded) until every function mailbox's Sent Items has its subscription, so that the
    scenario's mails are announced by notifications rather than found by the start-up poll or the safety
    net. The emulator's state has no event to wait on: the counter is read every 0.1 s."""
    deadline = time.monotonic() + bound_s
    while runtime.counters.subscriptions.get("created", 0) < folders:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.1)
    return True


def _written(
    env: Environment, scenario: Scenario, played: Played, before: set[tuple[str, str]]
) -> list[ExportedMail]:
    """Every mail the gateway wrote or delivered since ``before``, named after its scenario item."""
    jobs: dict[str, str] = {}
    for name, (mailbox, message_id) in played.outbound.items():
        job = env.gateway.store.find_job(mailbox, message_id)
        if job is not None:
            jobs[str(job.id)] = name
    mails = collect(
        env.tenant,
        scenario,
        before,
        jobs=jobs,
        memos={memo_id: name for name, memo_id in played.inbound.items()},
        inbox=played.inbox,
        monitoring_mailbox=env.config.monitoring_mailbox,
    )
    return mails


def _check_words(env: Environment, mails: list[ExportedMail]) -> dict[str, object]:
    """The words check of every mail the gateway wrote (``demo.words``); alerts to IT for language only."""
    monitoring = env.config.monitoring_mailbox.lower()
    checked = [
        (f"{m.item}-{m.kind}", m.message, m.kind == "alert" or m.mailbox.lower() == monitoring) for m in mails
    ]
    return check_mails(checked, env.settings.receipt_language)


async def _wait_for_signal(out: object, gateway_url: str, graph_url: str, ngdp_url: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(
        "\nstill running (Ctrl-C to stop):\n"
        f"  console  {gateway_url}/console/  (demo users: {demo_users_line()})\n"
        f"  gateway  {gateway_url}/metrics  {gateway_url}/readyz\n"
        f"  Graph    {graph_url}/users  (Authorization: Bearer sandbox-token)\n"
        f"  NgDP     {ngdp_url}  (mutual TLS; certificates in the work directory)",
        flush=True,
    )
    await stop.wait()
