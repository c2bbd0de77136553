"""``graph-dpg run``: the gateway as a service (production). Settings from the environment and ``.env``,
the gateway file from ``GRAPH_DPG_GATEWAY_FILE`` (or ``--gateway-file``); runs until SIGTERM/SIGINT, then
finishes in-flight work, releases its leases and exits 0. Exit 2 when the configuration is invalid."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from graph_dpg.bootstrap import build_gateway
from graph_dpg.config import load_gateway_file, load_settings
from graph_dpg.domain.errors import ConfigError
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, quiet_library_logs

log = logging.getLogger("graph_dpg.run")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "run",
        help="run the gateway service (polling, sending, receiving, HTTP health/metrics/push)",
        description=__doc__,
    )
    parser.add_argument("--env-file", type=Path, default=Path(".env"), help="dotenv file (default: .env)")
    parser.add_argument("--gateway-file", type=Path, help="gateway file (default: GRAPH_DPG_GATEWAY_FILE)")
    parser.set_defaults(func=run_service)


def run_service(args: argparse.Namespace) -> int:
    env_file = args.env_file if args.env_file.is_file() else None
    try:
        settings = load_settings(env_file)
        configure_logging(settings.log_format, settings.log_level)
        quiet_library_logs()
        config = load_gateway_file(args.gateway_file or settings.gateway_file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 2

    async def main() -> None:
        gateway = build_gateway(settings, config)
        try:
            await Runtime(gateway).run_until_signalled()
        finally:
            await gateway.aclose()

    try:
        asyncio.run(main())
    except ConfigError as exc:
        for problem in exc.problems:
            log.error("configuration: %s", problem)
        return 2
    log.info("stopped")
    return 0
