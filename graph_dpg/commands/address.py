"""graph-dpg address explain ADDRESS...: what the gateway makes of each address.

Output: one JSON object per address and line (JSON Lines), in argument order:

    {"address": ..., "valid": true|false, "channel": ..., "sender_kind": ..., "sender_id": ...,
     "recipient_kind": ..., "recipient_id": ..., "reply": ..., "recipient_contact_point": ...,
     "is_mass": ..., "mass_count": ..., "domain": ..., "canonical": ...,
     "findings": [{"rule", "message", "path", "severity"}, ...]}
    {"address": ..., "valid": false, "error": "<reason>"}          the grammar does not match

Exit code: 0 all parse and validate, 1 some only fail validation, 2 some do not parse (or bad options).
CPR numbers are masked (010203-xxxx) everywhere in the output unless --show-cpr is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from graph_dpg.commands import command
from graph_dpg.core.errors import AddressError
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
    for text in args.addresses:
        result = explain_address(text, args.gateway_domain, show_cpr=args.show_cpr)
        print(json.dumps(result))
        if "error" in result:
            code = EXIT_UNPARSABLE
        elif not result["valid"]:
            code = max(code, EXIT_INVALID)
    return code
