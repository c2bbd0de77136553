"""graph-dpg run: the gateway as a service (production). Settings from the environment and .env, the
gateway file from GRAPH_DPG_GATEWAY_FILE (or --gateway-file); runs until SIGTERM/SIGINT, then finishes
in-flight work, releases its leases and exits 0. Exit 2 when the configuration is invalid (the
same validation as check-config, before anything is written: no database file, no directories).

A database that does not answer at start-up (PostgreSQL restarting, a replica started before its database)
is waited for, with backoff, for up to 2 minutes; then the process exits 1 with one log line instead of a
traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

from graph_dpg.bootstrap import Gateway, build_gateway
from graph_dpg.commands import command
from graph_dpg.commands.config import print_problems
from graph_dpg.commands.validation import InvalidConfiguration, validate_configuration
from graph_dpg.config import GatewayConfig, Settings
from graph_dpg.core.backoff import Backoff
from graph_dpg.core.errors import ConfigError, StoreError
from graph_dpg.observability import configure_logging
from graph_dpg.runtime import Runtime, quiet_library_logs

log = logging.getLogger("graph_dpg.run")

#: How long start-up waits for an unreachable database before giving up (exit 1); the help says 2 minutes.
STARTUP_PATIENCE_S = 120.0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = command(
        subparsers,
        "run",
        "run the gateway service (polling, sending, receiving, HTTP health/metrics/push)",
        __doc__,
    )
    parser.add_argument("--env-file", type=Path, help="dotenv file (default: .env when it exists)")
    parser.add_argument("--gateway-file", type=Path, help="gateway file (default: GRAPH_DPG_GATEWAY_FILE)")
    parser.set_defaults(func=run_service)


def run_service(args: argparse.Namespace) -> int:
    # The same validation as check-config, before anything is written (database file, directories).
    try:
        valid = validate_configuration(args.gateway_file, args.env_file)
    except InvalidConfiguration as exc:
        print_problems(exc, sys.stderr)
        return 2
    settings, config = valid.settings, valid.gateway
    configure_logging(settings.log_format, settings.log_level)
    quiet_library_logs()

    async def main() -> None:
        gateway = await build_when_database_answers(settings, config)
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
    except StoreError as exc:
        log.error("database unreachable for %.0f s at start-up, giving up: %s", STARTUP_PATIENCE_S, exc)
        return 1
    log.info("stopped")
    return 0


async def build_when_database_answers(
    settings: Settings, config: GatewayConfig, *, patience_s: float = STARTUP_PATIENCE_S
) -> Gateway:
    """``build_gateway``, retried with backoff (1 s doubling to 10 s) while the store cannot be opened."""
    deadline = time.monotonic() + patience_s
    backoff = Backoff(1.0, 10.0)
    attempt = 0
    while True:
        try:
            return build_gateway(settings, config)
        except StoreError as exc:
            attempt += 1
            delay = backoff.delay(attempt)
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database not reachable at start-up, retrying in %.0f s: %s", delay, exc)
            await asyncio.sleep(delay)
