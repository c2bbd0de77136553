"""What expires when: the certificates this gateway process uses, for the expiry alerts
(:mod:`graph_dpg.services.expiry`)."""

from __future__ import annotations

from datetime import datetime

from graph_dpg.adapters.certificates import certificate_not_after
from graph_dpg.config import Settings
from graph_dpg.services.alerts import GRAPH_APP_CERTIFICATE, NGDP_CERTIFICATE


def expiring_credentials(ngdp: object, settings: Settings) -> list[tuple[str, datetime]]:
    """The certificates this gateway process uses and when they expire: the NgDP client's (when it has
    one) and, with ``credential_kind=certificate``, the Graph app certificate file."""
    found: list[tuple[str, datetime]] = []
    not_after = getattr(ngdp, "certificate_not_after", None)
    if callable(not_after):
        value = not_after()
        if isinstance(value, datetime):
            found.append((NGDP_CERTIFICATE, value))
    path = settings.client_certificate_path
    if settings.credential_kind == "certificate" and path is not None:
        secret = settings.client_certificate_password
        app_not_after = certificate_not_after(path, secret.get_secret_value() if secret else None)
        if app_not_after is not None:
            found.append((GRAPH_APP_CERTIFICATE, app_not_after))
    return found
