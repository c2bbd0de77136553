"""graph-dpg check-config [FILE] [--env-file F]: validate the settings and the gateway file.

Prints a readable summary (organisation, mailboxes and what each may send as, contact point mapping with
unmapped ones flagged, categories, channel policies, rules, settings with secrets masked) and exits 0, or
lists every problem on stderr and exits 2. Settings and gateway file are both checked in one run, so an
admin sees all problems at once.

FILE defaults to GRAPH_DPG_GATEWAY_FILE (gateway.yaml); the settings come from the environment and
--env-file (default .env when it exists).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, TextIO

from graph_dpg.commands import command
from graph_dpg.commands.validation import (
    DEFAULT_ENV_FILE,
    InvalidConfiguration,
    validate_configuration,
)
from graph_dpg.config import COLOR_NAMES, Condition, GatewayConfig, Rule, Settings
from graph_dpg.domain.addresses import Channel
from graph_dpg.domain.regex_risk import backtracking_risk, quote
from graph_dpg.domain.rules import DEFAULT_RULE_TIMEOUT_SECONDS

EXIT_OK = 0
EXIT_INVALID = 2
RENEW_WARNING_DAYS = 30  # the runtime alerts the monitoring mailbox from 30 days before expiry


def register(subparsers: Any) -> None:
    parser = command(
        subparsers, "check-config", "validate the settings and the gateway file; print a summary", __doc__
    )
    parser.add_argument(
        "file", nargs="?", metavar="FILE", help="gateway file (default: GRAPH_DPG_GATEWAY_FILE)"
    )
    parser.add_argument(
        "--env-file",
        metavar="F",
        default=None,
        help=f"settings file in .env format (default: {DEFAULT_ENV_FILE} if it exists)",
    )
    parser.set_defaults(func=run_check_config)


def run_check_config(args: argparse.Namespace) -> int:
    return check_config(args.file, args.env_file, sys.stdout, sys.stderr)


def check_config(file: str | None, env_file: str | None, out: TextIO, err: TextIO) -> int:
    """Validate both sources; print the summary to ``out`` or every problem to ``err``. The exit code.
    The validation is the one `run` performs before it starts (:func:`validate_configuration`)."""
    try:
        valid = validate_configuration(file, env_file)
    except InvalidConfiguration as exc:
        print_problems(exc, err)
        return EXIT_INVALID
    print_summary(valid.gateway, valid.settings, valid.gateway_path, out)
    identity = valid.identity
    if identity is not None:
        days = identity.days_left()
        renew = (
            f" - renew it now (alerts start {RENEW_WARNING_DAYS} days before)"
            if days < RENEW_WARNING_DAYS
            else ""
        )
        print(
            f"\nNgDP certificate: {identity.subject()}\n"
            f"  valid until {identity.not_valid_after:%Y-%m-%d %H:%M} UTC ({days} days left){renew}",
            file=out,
        )
    warnings = regex_warnings(valid.gateway)
    if warnings:
        print(f"\nWarnings ({len(warnings)}):", file=out)
        for warning in warnings:
            print(f"  {warning}", file=out)
    with_warnings = f", with {len(warnings)} warning(s) above" if warnings else ""
    print(f"\nOK: {valid.gateway_path} and the settings are valid{with_warnings}.", file=out)
    return EXIT_OK


def regex_warnings(gateway: GatewayConfig) -> list[str]:
    """A warning per rule regex that can backtrack catastrophically (domain/regex_risk.py, static)."""
    warnings = []
    budget = f"{DEFAULT_RULE_TIMEOUT_SECONDS:g} s"
    for rule in gateway.rules:
        for where, conditions in (("conditions", rule.conditions), ("exceptions", rule.exceptions)):
            for index, condition in enumerate(conditions):
                if condition.op != "regex" or condition.value is None:
                    continue
                why = backtracking_risk(condition.value)
                if why is not None:
                    warnings.append(
                        f"rule {rule.name!r} {where}[{index}]: the regex {quote(condition.value)} can "
                        f"backtrack catastrophically: {why}. A long mail can then use up the rule's time "
                        f"budget ({budget}) and the gateway disables the rule; rewrite it without "
                        "repetitions inside repetitions or overlapping alternatives "
                        "(e.g. (a+)+ -> a+, (a|aa)* -> a*)"
                    )
    return warnings


def print_problems(exc: InvalidConfiguration, err: TextIO) -> None:
    """The problems, indented under a count, then where to start when nothing is configured."""
    print(f"The configuration has {len(exc.problems)} problem(s):", file=err)
    for problem in exc.problems:
        print(f"  {problem}", file=err)
    if exc.hints:
        print(file=err)
        for hint in exc.hints:
            print(hint, file=err)


def print_summary(gateway: GatewayConfig, settings: Settings, path: Path, out: TextIO) -> None:
    def line(text: str = "") -> None:
        print(text, file=out)

    org = gateway.organisation
    line(f"Gateway file: {path}")
    line(f"Organisation: {org.name} (CVR {org.cvr})")
    line(
        f"  may send mandatory post: {_yes(org.mandatory_allowed)}; "
        f"legal notification: {_yes(org.legal_notification_allowed)}"
    )
    line(f"Gateway domain: {gateway.gateway_domain}")
    line(f"Main mailbox: {gateway.main_mailbox} (routes mail arriving in: inbox)")
    line(f"Monitoring mailbox: {gateway.monitoring_mailbox}")
    line(f"Archive mailbox: {gateway.archive_mailbox or '(none)'}")

    names = {cp.id: cp.name for cp in gateway.contact_points}
    line()
    line(f"Function mailboxes ({len(gateway.function_mailboxes)}):")
    for box in gateway.function_mailboxes:
        line(f"  {box.address}")
        sends_as = [f"CVR {cvr}" for cvr in box.cvrs]
        sends_as += [
            f"contact point {cp}" + (f" ({names[cp]})" if cp in names else "")
            for cp in box.sender_contact_points
        ]
        line(f"    may send as: {', '.join(sends_as) if sends_as else '(nothing: receives only)'}")
        if box.may_send:
            line(f"    outgoing folder: {box.outgoing_folder}")
        if box.inbox_folders:
            line(f"    routes mail arriving in: {', '.join(box.inbox_folders)}")

    unmapped = [cp for cp in gateway.contact_points if cp.mailbox is None]
    line()
    line(f"Contact points ({len(gateway.contact_points)}, {len(unmapped)} unmapped):")
    for cp in gateway.contact_points:
        if cp.mailbox is None:
            target = f"UNMAPPED -> main mailbox {gateway.main_mailbox} with a warning banner"
        else:
            target = cp.mailbox + (f" / {cp.folder}" if cp.folder else "")
        line(f"  {cp.id}  {cp.name}  -> {target}")
    line("  any other contact point -> main mailbox with a warning banner")

    line()
    line("Categories:")
    for state, spec in gateway.categories.items():
        line(f"  {state:<10} {spec.name!r} {spec.color} ({COLOR_NAMES[spec.color]})")

    line()
    line("Channels:")
    for channel in Channel:
        policy = gateway.channel_policy(channel)
        changed = " (overridden)" if channel in gateway.channels else ""
        types = ", ".join(policy.allowed_extensions)
        line(
            f"  {channel.value:<6} max {policy.max_attachments} attachments, "
            f"{policy.max_message_bytes / 1_000_000:g} MB, types: {types}{changed}"
        )

    enabled = sum(rule.enabled for rule in gateway.rules)
    line()
    line(f"Rules ({len(gateway.rules)}, {enabled} enabled), in evaluation order:")
    for rule in gateway.ordered_rules(include_disabled=True):
        line(f"  {_describe_rule(rule)}")

    line()
    line("Settings (secrets masked):")
    for name, value in settings.summary():
        line(f"  {name:<44} {value}")


def _describe_rule(rule: Rule) -> str:
    state = "" if rule.enabled else " [disabled]"
    joiner = " and " if rule.match == "all" else " or "
    text = f"{rule.priority:>4}  {rule.name}{state}: if {joiner.join(_describe(c) for c in rule.conditions)}"
    if rule.exceptions:
        text += f" unless {' or '.join(_describe(c) for c in rule.exceptions)}"
    actions = rule.actions
    does: list[str] = []
    if actions.deliver_to is not None:
        where = actions.deliver_to.mailbox + (
            f" / {actions.deliver_to.folder}" if actions.deliver_to.folder else ""
        )
        does.append(f"deliver to {where}")
    if actions.categories:
        does.append(f"categories {', '.join(actions.categories)}")
    if actions.mark_read:
        does.append("mark read")
    if actions.archive_to:
        does.append(f"archive to {actions.archive_to}")
    if actions.stop:
        does.append("stop")
    return f"{text} -> {'; '.join(does)}"


def _describe(condition: Condition) -> str:
    if condition.op == "exists":
        return f"{condition.field} exists"
    case = " (case-sensitive)" if condition.case_sensitive else ""
    return f"{condition.field} {condition.op} {condition.value!r}{case}"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"
