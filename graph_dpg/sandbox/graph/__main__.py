"""Run the Graph emulator on loopback until interrupted: ``python -m graph_dpg.sandbox.graph``.

Seeds the given mailboxes and prints the base URL and token, for poking at it with curl or a client.
"""

from __future__ import annotations

import argparse
import sys
import time

from graph_dpg.sandbox.graph.permissions import ALL_ROLES, GATEWAY_ROLES
from graph_dpg.sandbox.graph.server import serve
from graph_dpg.sandbox.graph.tenant import GraphTenant
from graph_dpg.sandbox.latency import InjectedLatency


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m graph_dpg.sandbox.graph", description=__doc__)
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    parser.add_argument("--token", default="sandbox-token", help="bearer token the emulator accepts")
    parser.add_argument(
        "--mailbox", action="append", default=[], help="UPN of a mailbox to create (repeatable)"
    )
    parser.add_argument(
        "--role",
        action="append",
        default=[],
        help="application permission granted to the token (repeatable; default: the gateway's own, "
        f"{', '.join(sorted(GATEWAY_ROLES))}; 'all' for every emulated one)",
    )
    parser.add_argument(
        "--latency-ms",
        default="",
        metavar="LOW-HIGH",
        help="a benchmark aid, not emulated behaviour: delay every request by a time drawn uniformly from "
        "LOW-HIGH ms (e.g. 100-300; one number: fixed; default: off)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the injected latency")
    args = parser.parse_args(argv)
    roles = ALL_ROLES if "all" in args.role else (frozenset(args.role) or GATEWAY_ROLES)
    try:
        latency = InjectedLatency.parse(args.latency_ms, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    tenant = GraphTenant(args.token, roles=roles, injected_latency=latency)
    for upn in args.mailbox or ["post@kommune.example"]:
        tenant.add_mailbox(upn)
    with serve(tenant, port=args.port) as base_url:
        sys.stdout.write(
            f"Graph emulator at {base_url} (Authorization: Bearer {args.token}); injected latency "
            f"{latency or 'off'}; Ctrl-C stops it\n"
        )
        sys.stdout.flush()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
