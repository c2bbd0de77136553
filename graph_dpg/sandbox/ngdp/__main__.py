"""Run the NgDP emulator on loopback until interrupted: ``python -m graph_dpg.sandbox.ngdp``.

Serves NgDP's REST v1 (``/apis/v1/...``) over HTTPS with mutual TLS from a throw-away CA written to
``--workdir`` (or plain HTTP with ``--no-tls``), and prints the base URL, system id and API token, for poking
at it with curl or a client. The emulator's two documented settings (docs/sandbox.md, "NgDP emulator
settings") come from the flags or, without them, from the environment:

  --duplicate-answer SHAPE   how a repeated messageUUID is answered (409, 400-code, 400-field-errors, 422,
                             400-opaque; NgDP does not document it, each shape is an inference)
                             [GRAPH_DPG_SANDBOX_NGDP_DUPLICATE_ANSWER]
  --no-validate-memos        skip the emulator's own MeMo validation, for throughput measurements only
                             [GRAPH_DPG_SANDBOX_NGDP_VALIDATE_MEMOS=false]

A benchmark aid, not an emulated behaviour: --send-latency-ms LOW-HIGH delays every send (POST memos/) by a
time drawn uniformly from that range (sandbox/latency.py; default off).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from graph_dpg.sandbox.latency import InjectedLatency
from graph_dpg.sandbox.ngdp.certs import generate_test_pki
from graph_dpg.sandbox.ngdp.server import TlsConfig, serve
from graph_dpg.sandbox.ngdp.state import (
    DUPLICATE_ANSWER_ENV,
    DUPLICATE_ANSWERS,
    VALIDATE_MEMOS_ENV,
    NgdpState,
    settings_from_env,
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m graph_dpg.sandbox.ngdp",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free port)")
    p.add_argument("--workdir", type=Path, help="directory for the throw-away PKI (default: a temp dir)")
    p.add_argument("--no-tls", action="store_true", help="plain HTTP instead of mutual TLS")
    p.add_argument(
        "--duplicate-answer",
        choices=DUPLICATE_ANSWERS,
        help=f"answer to a repeated messageUUID (default: {DUPLICATE_ANSWER_ENV} or 400-code)",
    )
    p.add_argument(
        "--no-validate-memos",
        action="store_true",
        help=f"skip the emulator's MeMo validation (throughput only; also {VALIDATE_MEMOS_ENV}=false)",
    )
    p.add_argument(
        "--send-latency-ms",
        default="",
        metavar="LOW-HIGH",
        help="a benchmark aid, not emulated behaviour: delay every send by LOW-HIGH ms (default: off)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the injected latency")
    p.add_argument(
        "--register", action="append", default=[], metavar="CPR", help="a citizen to register (repeatable)"
    )
    return p


def state_from(args: argparse.Namespace, environ: dict[str, str] | os._Environ[str]) -> NgdpState:
    """The emulator's state as the flags and the environment set it (flags win)."""
    shape, validate = settings_from_env(environ)
    state = NgdpState(
        duplicate_answer=args.duplicate_answer or shape,
        validate_memos=validate and not args.no_validate_memos,
        send_latency=InjectedLatency.parse(args.send_latency_ms, seed=args.seed),
    )
    for cpr in args.register:
        state.register(cpr=cpr)
    return state


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        state = state_from(args, os.environ)
    except ValueError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    with tempfile.TemporaryDirectory(prefix="ngdp-emulator-") as tmp:
        tls = None
        if not args.no_tls:
            pki = generate_test_pki(args.workdir or Path(tmp))
            tls = TlsConfig(pki.server_cert, pki.server_key, pki.ca_cert)
        with serve(state, tls, port=args.port) as server:
            sys.stdout.write(
                f"NgDP emulator at {server.base_url} (system id {state.system_id}, API token "
                f"{state.api_token}); duplicate answer {state.duplicate_answer}, MeMo validation "
                f"{'on' if state.validate_memos else 'OFF (throughput measurement only)'}; injected send "
                f"latency {state.send_latency or 'off'}\n"
            )
            if tls is not None:
                sys.stdout.write(
                    f"  client certificate {pki.client.cert} + {pki.client.key}, CA {pki.ca_cert}\n"
                )
            sys.stdout.write("Ctrl-C stops it\n")
            sys.stdout.flush()
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                return 0


if __name__ == "__main__":
    raise SystemExit(main())
