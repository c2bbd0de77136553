"""The admin console's settings turned into plain values (the composition root's part of issue 19)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from graph_dpg.config import Settings


@dataclass(frozen=True)
class ConsoleOptions:
    """What the console (runtime/console) needs to sign people in; secrets hidden from repr."""

    authority: str
    client_id: str
    client_secret: str = field(repr=False)
    redirect_uri: str
    session_secret: str = field(repr=False)
    ca_bundle: Path | None = None
    language: str = "da"
    proxy_hops: int = (
        0  # proxies appending to X-Forwarded-For (the ingress: 1): whose address is rate-limited
    )

    @property
    def secure_cookies(self) -> bool:
        """Secure cookies unless the console is reached over plain http on loopback (the sandbox): a
        browser does not send a Secure cookie back over http, and production is always https behind the
        Container Apps ingress."""
        parts = urlsplit(self.redirect_uri)
        return not (parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1"))


def console_problems(settings: Settings) -> list[str]:
    """Why the console cannot be served with these settings (empty: it can, or it is not configured)."""
    values = _values(settings)
    given = [name for name, value in values.items() if value]
    if not given:
        return []
    problems = [f"GRAPH_DPG_{name.upper()} is not set" for name, value in values.items() if not value]
    authority = settings.console_authority or ""
    if authority and urlsplit(authority).scheme != "https":
        problems.append("GRAPH_DPG_CONSOLE_AUTHORITY must be an https URL (msal requires one)")
    redirect = settings.console_redirect_uri or ""
    if redirect and not redirect.rstrip("/").endswith("/console/auth/callback"):
        problems.append("GRAPH_DPG_CONSOLE_REDIRECT_URI must end in /console/auth/callback")
    session = settings.console_session_secret
    if session is not None and len(session.get_secret_value()) < 32:
        problems.append("GRAPH_DPG_CONSOLE_SESSION_SECRET must have at least 32 characters")
    return problems


def console_options(settings: Settings) -> ConsoleOptions | None:
    """The console's options, or None when it is not configured or its settings are wrong
    (``console_problems`` says why; the runtime logs it and serves no console)."""
    if not any(_values(settings).values()) or console_problems(settings):
        return None
    assert settings.console_client_secret is not None
    assert settings.console_session_secret is not None
    return ConsoleOptions(
        authority=str(settings.console_authority).rstrip("/"),
        client_id=str(settings.console_client_id),
        client_secret=settings.console_client_secret.get_secret_value(),
        redirect_uri=str(settings.console_redirect_uri),
        session_secret=settings.console_session_secret.get_secret_value(),
        ca_bundle=settings.console_ca_bundle,
        language=settings.receipt_language,
        proxy_hops=settings.push_proxy_hops,
    )


def _values(settings: Settings) -> dict[str, object]:
    return {
        "console_authority": settings.console_authority,
        "console_client_id": settings.console_client_id,
        "console_client_secret": settings.console_client_secret,
        "console_redirect_uri": settings.console_redirect_uri,
        "console_session_secret": settings.console_session_secret,
    }
