"""graph-dpg letters: where is my letter? Search, show, retry and cancel from the command line.

    graph-dpg letters search QUERY [--mailbox M] [--state S] [--since D] [--until D] [--kind K] [--json]
    graph-dpg letters show ID [--memo] [--json]
    graph-dpg letters retry ID [--json]
    graph-dpg letters cancel ID [--json]
    graph-dpg letters resend-receipt ID [--json]
    graph-dpg letters mass [--active] [--json]

QUERY is a UUID (a letter job, a messageUUID or an inbound memo), a CPR number (shown masked), a mailbox
address, or a part of the subject; "" lists the newest. ID is a letter job (one original mail) or a
messageUUID (one recipient's MeMo). The same settings and state database as `graph-dpg run`
(GRAPH_DPG_DATABASE_URL / --env-file, or --database-url). Actions are carried out by the running gateway
(retry and cancel between two batches, a receipt mail with the next effects) and audited as
cli:<operating-system user>. docs/console.md explains the state names.

Exit code: 0 done (an action repeated is done too: nothing happens twice), 1 not found or not allowed
(the words say why), 2 usage or the state database cannot be opened.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from graph_dpg.bootstrap.letters import open_letters
from graph_dpg.commands import command
from graph_dpg.config import Settings, load_settings
from graph_dpg.core.errors import GraphDpgError
from graph_dpg.services.letters import (
    ActionRefused,
    ActionResult,
    Actor,
    LetterNotFound,
    LettersService,
    Query,
    Role,
    SearchResult,
    Timeline,
)

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2

_STATES = (
    "new",
    "planned",
    "sending",
    "done",
    "rejected",
    "failed",
    "received",
    "delivered",
    "acknowledged",
    "deleted",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("letters", help="where is my letter: search, show, retry, cancel")
    sub = parser.add_subparsers(dest="letters_command", metavar="SUBCOMMAND", required=True)

    search = command(sub, "search", "find letters and inbound post", __doc__)
    search.add_argument(
        "query", metavar="QUERY", help="UUID, CPR number, mailbox address or part of a subject"
    )
    search.add_argument("--mailbox", help="only this function mailbox")
    search.add_argument("--state", choices=_STATES, help="only letters (or inbound memos) in this state")
    search.add_argument("--since", type=_when, help="created at or after (ISO date or time, UTC)")
    search.add_argument("--until", type=_when, help="created before (ISO date or time, UTC)")
    search.add_argument("--kind", choices=("letters", "inbound", "all"), default="all")
    search.add_argument("--limit", type=int, default=50, help="at most this many of each kind (max 500)")
    _common(search)
    search.set_defaults(func=lambda a: _run(a, _search))

    show = command(sub, "show", "a letter's timeline and recipients", __doc__)
    show.add_argument("id", metavar="ID", help="a letter job or a messageUUID")
    show.add_argument(
        "--memo", action="store_true", help="print the MeMo as sent (CPR masked); ID a messageUUID"
    )
    _common(show)
    show.set_defaults(func=lambda a: _run(a, _show))

    for name, help_text, handler in (
        ("retry", "send a failed or refused recipient again", _retry),
        ("cancel", "cancel a queued or running mass delivery", _cancel),
        ("resend-receipt", "write a finished letter's receipt mail again", _resend),
    ):
        action = command(sub, name, help_text, __doc__)
        action.add_argument("id", metavar="ID", help="a letter job or a messageUUID")
        _common(action)
        action.set_defaults(func=lambda a, h=handler: _run(a, h))

    mass = command(sub, "mass", "mass deliveries with their progress", __doc__)
    mass.add_argument("--active", action="store_true", help="only those not finished yet")
    mass.add_argument("--limit", type=int, default=50)
    _common(mass)
    mass.set_defaults(func=lambda a: _run(a, _mass))


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--language", choices=("da", "en"), help="words in (default: the receipt language)")
    parser.add_argument("--env-file", metavar="F", default=".env", help="settings file (default: .env)")
    parser.add_argument("--database-url", metavar="URL", help="state database (default: from the settings)")


def _when(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date or time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def cli_actor() -> Actor:
    """The operating-system user, as the audit names it: ``cli:<user>``, with the admin role."""
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "unknown"
    return Actor(f"cli:{user}", Role.ADMIN, via="cli")


Handler = Callable[[LettersService, argparse.Namespace, Actor, TextIO], Coroutine[Any, Any, int]]


def _run(
    args: argparse.Namespace, handler: Handler, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    try:
        settings: Settings | None = None
        if args.database_url is None or args.language is None:
            env = args.env_file if Path(args.env_file).is_file() else None
            try:
                settings = load_settings(env)
            except GraphDpgError:
                if args.database_url is None:
                    raise
        service, store = open_letters(settings, database_url=args.database_url, language=args.language)
    except GraphDpgError as exc:
        print(f"cannot open the state database: {exc}", file=err)
        for problem in getattr(exc, "problems", ()):
            print(f"  {problem}", file=err)
        return EXIT_USAGE
    try:
        return asyncio.run(handler(service, args, cli_actor(), out))
    except LetterNotFound as exc:
        print(f"not found: {exc}", file=err)
        return EXIT_REFUSED
    except ActionRefused as exc:
        print(exc.words(service.language), file=err)
        return EXIT_REFUSED
    except GraphDpgError as exc:
        print(f"failed: {exc}", file=err)
        return EXIT_USAGE
    finally:
        store.close()


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def _json(out: TextIO, value: Any) -> None:
    out.write(json.dumps(_plain(value), ensure_ascii=False, indent=2) + "\n")


def _ts(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _table(out: TextIO, header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    for line in [header, *rows]:
        out.write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() + "\n")


def _counts(progress: Mapping[str, int]) -> str:
    return " ".join(f"{k}={v}" for k, v in progress.items() if v) or "-"


async def _search(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    query = Query(
        text=args.query,
        mailbox=args.mailbox,
        state=args.state,
        since=args.since,
        until=args.until,
        kind=args.kind,
        limit=args.limit,
    )
    found: SearchResult = await svc.search(query, actor)
    if args.json:
        _json(out, found)
    else:
        if found.letters:
            rows = [
                [
                    h.job_id,
                    _ts(h.created_at),
                    h.mailbox,
                    h.state + (" (cancelled)" if h.cancelled else ""),
                    _counts(h.progress),
                    (f"{h.message_uuid} {h.recipient} {h.recipient_state}" if h.message_uuid else ""),
                    h.subject[:60],
                ]
                for h in found.letters
            ]
            _table(
                out, ["LETTER", "CREATED (UTC)", "MAILBOX", "STATE", "RECIPIENTS", "MATCHED", "SUBJECT"], rows
            )
        if found.inbound:
            if found.letters:
                out.write("\n")
            rows = [
                [m.memo_uuid, _ts(m.received_at), m.mailbox or "-", m.state, m.source, (m.error or "")[:60]]
                for m in found.inbound
            ]
            _table(out, ["INBOUND MEMO", "RECEIVED (UTC)", "MAILBOX", "STATE", "SOURCE", "ERROR"], rows)
        if not found.letters and not found.inbound:
            out.write("nothing found\n")
        for note in found.notes:
            out.write(f"note: {note}\n")
    return EXIT_OK


async def _show(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    if args.memo:
        memo = await svc.memo_as_sent(args.id, actor)
        if args.json:
            _json(out, memo)
        else:
            out.write(f"{memo.words}\n")
            if memo.xml is not None:
                out.write(memo.xml.decode("utf-8", errors="replace") + "\n")
        return EXIT_OK
    tl: Timeline = await svc.timeline(args.id, actor)
    if args.json:
        _json(out, tl)
        return EXIT_OK
    job = tl.job
    out.write(f"letter    {job.id}\nmailbox   {job.mailbox}\nsubject   {job.subject}\n")
    out.write(f"state     {job.state.value}   recipients {tl.recipients_total}: {_counts(tl.progress)}\n")
    if tl.cancellation is not None and tl.cancellation.active:
        c = tl.cancellation
        out.write(f"cancelled {_ts(c.requested_at)} by {c.actor} via {c.via}\n")
    out.write("\n")
    rows = [
        [
            _ts(s.at),
            s.words + (f" [{s.message_uuid}]" if s.message_uuid and not tl.focus else ""),
            s.replica or "",
            s.reason or "",
        ]
        for s in tl.steps
    ]
    _table(out, ["WHEN (UTC)", "WHAT", "REPLICA", "WHY"], rows)
    if tl.recipients:
        out.write("\n")
        rows = [
            [
                r.message_uuid,
                r.recipient,
                r.state + (f"/{r.receipt_status}" if r.receipt_status else ""),
                str(r.attempts),
                (f"-> {r.replaced_by}" if r.replaced_by else "") + (f"<- {r.replaces}" if r.replaces else ""),
                r.reason or "",
            ]
            for r in tl.recipients
        ]
        _table(out, ["MESSAGEUUID", "RECIPIENT", "STATE", "ATTEMPTS", "LINKED", "WHY"], rows)
        if tl.recipients_total > len(tl.recipients):
            out.write(f"... {tl.recipients_total - len(tl.recipients)} more (use --json or the console)\n")
    return EXIT_OK


async def _print_action(result: ActionResult, args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        _json(out, result)
    else:
        out.write(f"{result.words}\n")
        for uid in result.retried[:50]:
            out.write(f"  same messageUUID  {uid}\n")
        for old, new in list(result.replaced.items())[:50]:
            out.write(f"  new letter        {old} -> {new}\n")
    return EXIT_OK


async def _retry(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    return await _print_action(await svc.retry(args.id, actor), args, out)


async def _cancel(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    return await _print_action(await svc.cancel(args.id, actor), args, out)


async def _resend(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    return await _print_action(await svc.resend_receipt(args.id, actor), args, out)


async def _mass(svc: LettersService, args: argparse.Namespace, actor: Actor, out: TextIO) -> int:
    found = await svc.mass_deliveries(actor, active_only=args.active, limit=args.limit)
    if args.json:
        _json(out, found)
        return EXIT_OK
    rows = [
        [
            m.job.id,
            _ts(m.job.created_at),
            m.job.mailbox,
            m.job.state.value + (" (cancelled)" if m.cancelled else ""),
            _counts(m.progress),
            m.job.subject[:60],
        ]
        for m in found
    ]
    _table(out, ["LETTER", "CREATED (UTC)", "MAILBOX", "STATE", "PROGRESS", "SUBJECT"], rows)
    return EXIT_OK
