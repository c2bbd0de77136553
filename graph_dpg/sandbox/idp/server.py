"""Serve an ``IdpState`` over HTTPS on loopback (uvicorn in a background thread), like the Key Vault emulator.

HTTPS because msal refuses an authority that is not an https URL (msal.authority: "an https url with
hostname and a minimum of one segment in a path"); the certificate is the caller's (the sandbox CA's server
certificate).
"""

from __future__ import annotations

import os

from graph_dpg.sandbox.idp.app import IdpState, create_app
from graph_dpg.sandbox.loopback import LoopbackServer, start_on_loopback


class RunningIdp(LoopbackServer):
    """A started emulator: ``authority`` is what msal is given (``https://127.0.0.1:PORT/{tenant}``)."""

    def __init__(self, started: LoopbackServer, state: IdpState) -> None:
        super().__init__(started._server, started._thread, started.port)
        self.state = state
        self.url = f"https://127.0.0.1:{self.port}"
        self.authority = f"{self.url}/{state.tenant}"


def serve(
    state: IdpState,
    *,
    certfile: str | os.PathLike[str],
    keyfile: str | os.PathLike[str],
    port: int = 0,
    startup_timeout: float = 10.0,
) -> RunningIdp:
    """Start the emulator on 127.0.0.1 (``port=0``: a free port) and return once it accepts connections."""
    server, thread, bound = start_on_loopback(
        create_app(state),
        name="idp-emulator",
        port=port,
        startup_timeout=startup_timeout,
        ssl_certfile=os.fspath(certfile),
        ssl_keyfile=os.fspath(keyfile),
    )
    # Nothing can have asked yet: the address is known only now, and it is returned below.
    state.base_url = f"https://127.0.0.1:{bound}"
    return RunningIdp(LoopbackServer(server, thread, bound), state)
