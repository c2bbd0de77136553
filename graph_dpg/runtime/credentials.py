"""What expires when: the certificates this gateway process uses, for the expiry alerts
(:mod:`graph_dpg.services.expiry`)."""

from __future__ import annotations

from datetime import UTC, datetime

from graph_dpg.adapters.certificates import certificate_not_after
from graph_dpg.adapters.smime import OrganisationKeyring
from graph_dpg.config import Settings
from graph_dpg.services.alerts import GRAPH_APP_CERTIFICATE, NGDP_CERTIFICATE, SMIME_CERTIFICATE


def expiring_credentials(
    ngdp: object, settings: Settings, keyring: OrganisationKeyring | None = None
) -> list[tuple[str, datetime]]:
    """The certificates this gateway process uses and when they expire: the NgDP client's (when it has
    one), with ``credential_kind=certificate`` the Graph app certificate file, and the organisation's
    S/MIME certificate that signs now (files or Key Vault): once a renewed one is loaded, it signs and
    the old one's expiry no longer alerts."""
    found: list[tuple[str, datetime]] = []
    signing = keyring.signing_certificate(datetime.now(UTC)) if keyring is not None else None
    if signing is not None:
        found.append((SMIME_CERTIFICATE, signing.not_after))
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
