"""Settings for ``graph-dpg doctor --probe --ngdp-test``: NgDP's *test* environment, never production.

Their own prefix, ``NGDP_TEST_*`` (environment or the same ``.env`` file), so that the probe can never send
with the gateway's production credentials by accident: a system registered in NgDP's test environment has
its own system id, API token and certificate (docs/facts/ngdp.md, "Environments": each environment needs
its own certificate). :func:`load_ngdp_test_settings` refuses a base URL on NgDP's production host.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from graph_dpg.core.errors import ConfigError

NGDP_TEST_PREFIX = "NGDP_TEST_"
NGDP_TEST_BASE_URL = "https://api.test.digitalpost.dk/apis/v1"
#: NgDP's production API host (docs/facts/ngdp.md, "Environments"); the probe never talks to it.
NGDP_PRODUCTION_HOST = "api.digitalpost.dk"


class NgdpTestSettings(BaseSettings):
    """``NGDP_TEST_<FIELD>``: the system in NgDP's test environment the probe sends one memo with."""

    model_config = SettingsConfigDict(
        env_prefix=NGDP_TEST_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,
        extra="ignore",
    )

    base_url: str = Field(NGDP_TEST_BASE_URL, description="NgDP test environment API base URL.")
    system_id: str | None = Field(None, description="The system id registered in NgDP's test environment.")
    api_token: SecretStr | None = Field(None, description="That system's API token.")
    certificate_path: Path | None = Field(
        None, description="Its OCES3 test certificate with key (PEM/PKCS#12)."
    )
    certificate_password: SecretStr | None = Field(None, description="Password of that certificate file.")
    ca_bundle: Path | None = Field(
        None, description="PEM bundle of CAs to trust instead of the system store."
    )
    timeout_seconds: float = Field(60.0, gt=0, le=600, description="Timeout of one request.")
    receipt_wait_seconds: float = Field(
        120.0, ge=0, le=3600, description="How long to wait for the probe memo's business receipt."
    )


def is_production(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower().rstrip(".")
    return host == NGDP_PRODUCTION_HOST


def load_ngdp_test_settings(env_file: str | Path | None = ".env", **overrides: Any) -> NgdpTestSettings:
    """The ``NGDP_TEST_*`` settings; :class:`ConfigError` listing every problem, including a production URL
    or a missing system id, API token or certificate."""
    try:
        settings = NgdpTestSettings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = [
            f"{NGDP_TEST_PREFIX}{'.'.join(str(x) for x in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
        ]
        raise ConfigError(f"{len(problems)} problem(s) in the NgDP test settings", problems) from None
    problems = []
    if is_production(settings.base_url):
        problems.append(
            f"{NGDP_TEST_PREFIX}BASE_URL: {settings.base_url} is NgDP's production environment; the probe "
            f"only runs against the test environment ({NGDP_TEST_BASE_URL})"
        )
    for name in ("system_id", "api_token", "certificate_path"):
        if getattr(settings, name) is None:
            problems.append(f"{NGDP_TEST_PREFIX}{name.upper()}: required for --ngdp-test")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in the NgDP test settings", problems)
    return settings
