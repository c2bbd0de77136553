"""graph-dpg address explain ADDRESS...: what the gateway makes of each address.

Output: one JSON object per address and line (JSON Lines), in argument order:

    {"address": ..., "valid": true|false, "channel": ..., "sender_kind": ..., "sender_id": ...,
     "recipient_kind": ..., "recipient_id": ..., "reply": ..., "recipient_contact_point": ...,
     "is_mass": ..., "mass_count": ..., "domain": ..., "canonical": ...,
     "findings": [{"rule", "message", "path", "severity"}, ...]}
    {"address": ..., "valid": false, "error": "<reason>"}          the grammar does not match

Exit code: 0 all parse and validate, 1 some only fail validation, 2 some do not parse (or bad options).
CPR numbers are masked (010203-xxxx) everywhere in the output unless --show-cpr is given.

--lookup adds the names the registers give the recipient and a CVR sender (the settings
GRAPH_DPG_DATAFORDELER_* and GRAPH_DPG_CVR_*, see `graph-dpg lookup`): "recipient_name",
"recipient_name_status", "sender_name", "sender_name_status" (status active, inactive, protected, unknown
or error; a name only when active). A failed lookup does not change the exit code; its reason goes to
stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from graph_dpg.commands import command
from graph_dpg.core.errors import AddressError, InputError
from graph_dpg.domain.addresses import (
    DEFAULT_GATEWAY_DOMAIN,
    normalize_gateway_domain,
    parse_address,
    validate_address,
)
from graph_dpg.domain.identifiers import mask_cprs

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_UNPARSABLE = 2


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("address", help="gateway addresses: how a mail addresses Digital Post")
    sub = parser.add_subparsers(dest="address_command", metavar="SUBCOMMAND", required=True)
    explain = command(
        sub, "explain", "parse and validate gateway addresses; one JSON object per line", __doc__
    )
    explain.add_argument(
        "addresses", nargs="+", metavar="ADDRESS", help="e.g. 0102031234-reply@35833684.ngdp.digital-post.dk"
    )
    explain.add_argument(
        "--show-cpr", action="store_true", help="print CPR numbers in clear (default: masked)"
    )
    explain.add_argument(
        "--gateway-domain",
        default=DEFAULT_GATEWAY_DOMAIN,
        help=f"the gateway domain the addresses must end in (default: {DEFAULT_GATEWAY_DOMAIN})",
    )
    explain.add_argument(
        "--lookup", action="store_true", help="add the recipient's and a CVR sender's name from CPR/CVR"
    )
    explain.add_argument(
        "--env-file", type=Path, help="settings file for --lookup (default: .env in the current directory)"
    )
    explain.set_defaults(func=run_explain)


def explain_address(text: str, gateway_domain: str, show_cpr: bool = False) -> dict[str, Any]:
    """The JSON-ready explanation of one address (CPR masked unless ``show_cpr``)."""
    mask = (lambda s: s) if show_cpr else mask_cprs
    try:
        address = parse_address(text, gateway_domain)
    except AddressError as exc:
        return {"address": mask(text), "valid": False, "error": mask(exc.reason)}
    findings = validate_address(address)
    recipient_id = address.recipient_id
    return {
        "address": mask(text),
        "valid": not any(f.severity == "error" for f in findings),
        "channel": address.channel.value,
        "sender_kind": address.sender_kind,
        "sender_id": address.sender_id,
        "recipient_kind": address.recipient_kind,
        "recipient_id": mask(recipient_id) if recipient_id is not None else None,
        "reply": address.reply,
        "recipient_contact_point": address.recipient_contact_point,
        "is_mass": address.is_mass,
        "mass_count": address.mass_count,
        "domain": address.domain,
        "canonical": mask(address.format()),
        "findings": [
            {"rule": f.rule, "message": mask(f.message), "path": f.path, "severity": f.severity}
            for f in findings
        ],
    }


def run_explain(args: argparse.Namespace) -> int:
    try:
        normalize_gateway_domain(args.gateway_domain)
    except ValueError as exc:
        print(f"graph-dpg address explain: {exc}", file=sys.stderr)
        return EXIT_UNPARSABLE
    code = EXIT_OK
    results = [explain_address(text, args.gateway_domain, show_cpr=args.show_cpr) for text in args.addresses]
    if getattr(args, "lookup", False):
        names = _names(args)
        if names is None:
            return EXIT_UNPARSABLE
        asyncio.run(_add_names(names, args, results))
    for result in results:
        print(json.dumps(result, ensure_ascii=False))
        if "error" in result:
            code = EXIT_UNPARSABLE
        elif not result["valid"]:
            code = max(code, EXIT_INVALID)
    return code


def _names(args: argparse.Namespace) -> Any:
    """The name service from the settings (None, with the problems on stderr, when they are unusable)."""
    from graph_dpg.config import load_settings
    from graph_dpg.core.errors import ConfigError
    from graph_dpg.services.names import NameService

    env_file: Path | None = args.env_file or (Path(".env") if Path(".env").is_file() else None)
    try:
        settings = load_settings(env_file)
        if not (settings.cpr_lookup_enabled or settings.cvr_lookup_enabled):
            return NameService()
        from graph_dpg.bootstrap.names import make_name_service

        return make_name_service(settings)
    except ConfigError as exc:
        problems = "".join(f"  {p}\n" for p in exc.problems) or f"  {exc}\n"
        sys.stderr.write(f"graph-dpg address explain --lookup: the settings are unusable:\n{problems}")
        return None


async def _add_names(names: Any, args: argparse.Namespace, results: list[dict[str, Any]]) -> None:
    """Fill the name fields of each parsed address (the addresses are parsed again for the clear numbers)."""
    try:
        for text, result in zip(args.addresses, results, strict=True):
            if "error" in result:
                continue
            address = parse_address(text, args.gateway_domain)
            wanted = {"recipient": address.recipient_id, "sender": None}
            if address.sender_kind == "cvr":
                wanted["sender"] = address.sender_id
            for role, number in wanted.items():
                if number is None:
                    result[f"{role}_name"] = result[f"{role}_name_status"] = None
                    continue
                try:
                    answer = await names.lookup(number)
                except InputError:
                    result[f"{role}_name"] = result[f"{role}_name_status"] = None
                    continue
                result[f"{role}_name"] = answer.name
                result[f"{role}_name_status"] = answer.status
                if answer.status == "error":
                    sys.stderr.write(f"graph-dpg address explain: {answer.shown_number}: {answer.reason}\n")
    finally:
        await names.aclose()
