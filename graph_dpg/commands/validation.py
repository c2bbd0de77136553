"""One validation for `run` and `check-config`: the settings, the gateway file and what the service needs to
start, checked together, without writing anything (no database file, no directories).

`check-config` prints the summary of a :class:`ValidConfiguration` or the problems; `run` builds the gateway
from it or prints the same problems and exits 2 - so the two commands can never disagree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from graph_dpg.adapters.digital_post.tls import ClientIdentity, load_certificate_file
from graph_dpg.config import GatewayConfig, Settings, env_name, load_gateway_file, load_settings
from graph_dpg.core.errors import ConfigError

DEFAULT_ENV_FILE = ".env"
DEFAULT_GATEWAY_FILE = "gateway.yaml"
EXAMPLE_GATEWAY_FILE = "examples/gateway.yaml"
DOCS = "docs/sandbox.md, README.md (section Production) and .env.example"


@dataclass(frozen=True)
class ValidConfiguration:
    settings: Settings
    gateway: GatewayConfig
    gateway_path: Path
    identity: ClientIdentity | None  # the OCES3 certificate as the NgDP client loads it


class InvalidConfiguration(ConfigError):
    """Every problem at once (``problems``); when there is no gateway file yet, where to start (``hints``)."""

    def __init__(self, problems: list[str], hints: list[str]) -> None:
        super().__init__(f"{len(problems)} configuration problem(s)", problems)
        self.hints = hints


def validate_configuration(
    gateway_file: str | Path | None, env_file: str | Path | None
) -> ValidConfiguration:
    """Validate the settings (environment + ``env_file``, default ``.env`` when it exists), the gateway file
    (``gateway_file`` or GRAPH_DPG_GATEWAY_FILE) and the start-up prerequisites; reads only.

    Raises :class:`InvalidConfiguration` listing every problem."""
    problems: list[str] = []
    settings: Settings | None = None
    if env_file is not None and not Path(env_file).exists():
        problems.append(f"{env_file}: settings file not found")
    try:
        settings = load_settings(env_file if env_file is not None else DEFAULT_ENV_FILE)
    except ConfigError as exc:
        problems += exc.problems

    if gateway_file is not None:
        gateway_path = Path(gateway_file)
    elif settings is not None:
        gateway_path = settings.gateway_file
    else:
        gateway_path = Path(os.environ.get(env_name("gateway_file"), DEFAULT_GATEWAY_FILE))
    gateway: GatewayConfig | None = None
    try:
        gateway = load_gateway_file(gateway_path)
    except ConfigError as exc:
        problems += exc.problems

    identity: ClientIdentity | None = None
    if settings is not None:
        problems += startup_problems(settings)
        try:
            identity = load_ngdp_certificate(settings)
        except ConfigError as exc:
            problems.append(f"{env_name('ngdp_certificate_path')}: {exc}")
        if identity is not None and identity.days_left() < 0:
            problems.append(
                f"{env_name('ngdp_certificate_path')}: the certificate expired on "
                f"{identity.not_valid_after:%Y-%m-%d}; NgDP refuses it"
            )
    if problems or settings is None or gateway is None:
        hints = where_to_start(gateway_path) if not gateway_path.exists() else []
        raise InvalidConfiguration(problems, hints)
    return ValidConfiguration(settings, gateway, gateway_path, identity)


def startup_problems(settings: Settings) -> list[str]:
    """What the service needs beyond valid settings: the NgDP client cannot be built without the system
    credentials, whatever the Graph credential kind (the sandbox's NgDP emulator checks them too)."""
    return [
        f"{env_name(name)}: required to talk to NgDP ({what})"
        for name, what in (("ngdp_system_id", "the NgDP system id"), ("ngdp_api_token", "the NgDP API token"))
        if getattr(settings, name) is None
    ]


def where_to_start(gateway_path: Path) -> list[str]:
    """A few lines for IT when there is no gateway file yet."""
    return [
        f"No gateway file at {gateway_path}. Where to start:",
        "  - try the gateway first, with nothing configured: graph-dpg sandbox "
        "(emulated Microsoft 365 and Digital Post)",
        f"  - copy the commented example {EXAMPLE_GATEWAY_FILE} (in the graph_dpg repository) to "
        f"{DEFAULT_GATEWAY_FILE} and adapt it, or point {env_name('gateway_file')} (or --gateway-file) "
        "at yours",
        "  - put the settings in .env (every setting is described in .env.example), then run "
        "graph-dpg check-config",
        f"  - read {DOCS}",
    ]


def load_ngdp_certificate(settings: Settings) -> ClientIdentity | None:
    """The configured OCES3 certificate, loaded as the NgDP client will load it (None when not configured)."""
    path = settings.ngdp_certificate_path
    if path is None or not path.is_file():
        return None  # missing/nonexistent paths are already reported by the settings validation
    secret = settings.ngdp_certificate_password
    return load_certificate_file(path, secret.get_secret_value() if secret is not None else None)
