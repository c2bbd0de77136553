"""Credentials for the Graph adapter: azure-identity (async) in production, a fixed token for the sandbox.

All of them are ``azure.core.credentials_async.AsyncTokenCredential`` so the msgraph-sdk pipeline
(kiota ``AzureIdentityAuthenticationProvider``) awaits them without blocking the event loop; a sync
credential would block the loop during its hourly refresh (docs/facts/graph.md, "msgraph-sdk: credentials
and scopes").
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any, Literal

from azure.core.credentials import AccessToken
from azure.core.credentials_async import AsyncTokenCredential

from graph_dpg.core.errors import ConfigError

CredentialKind = Literal["certificate", "client_secret", "managed_identity"]
CREDENTIAL_KINDS: tuple[str, ...] = ("certificate", "client_secret", "managed_identity")


class StaticTokenCredential(AsyncTokenCredential):
    """Returns one fixed bearer token (the sandbox emulator accepts ``sandbox-token``)."""

    def __init__(self, token: str, *, lifetime_s: int = 24 * 3600) -> None:
        self._token = token
        self._lifetime_s = lifetime_s
        self.calls = 0

    async def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        enable_cae: bool = False,
        **kwargs: Any,
    ) -> AccessToken:
        self.calls += 1
        return AccessToken(self._token, int(time.time()) + self._lifetime_s)

    async def close(self) -> None:
        return None

    async def __aenter__(self) -> StaticTokenCredential:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        return None


def credential_from(
    kind: str,
    tenant_id: str | None = None,
    client_id: str | None = None,
    certificate_path: str | None = None,
    certificate_password: str | None = None,
    client_secret: str | None = None,
    managed_identity_client_id: str | None = None,
) -> AsyncTokenCredential:
    """Build the async azure-identity credential for ``kind``; raise ConfigError naming what is missing.

    Certificates are preferred over secrets for production (docs/facts/graph.md, "Credentials"); managed
    identity needs no secret at all when hosted in Azure.
    """
    from azure.identity.aio import (
        CertificateCredential,
        ClientSecretCredential,
        ManagedIdentityCredential,
    )

    def need(**values: str | None) -> None:
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(
                f"credential kind {kind!r} needs {', '.join(missing)}",
                [f"credential kind {kind!r}: {name} is not set" for name in missing],
            )

    if kind == "certificate":
        need(tenant_id=tenant_id, client_id=client_id, certificate_path=certificate_path)
        assert tenant_id
        assert client_id
        assert certificate_path
        try:
            return CertificateCredential(
                tenant_id,
                client_id,
                certificate_path=certificate_path,
                password=certificate_password or None,
            )
        except (OSError, ValueError) as exc:
            # Unreadable file, wrong password, or a non-RSA key (azure-identity signs with RS256).
            raise ConfigError(
                f"certificate {certificate_path!r} cannot be used: {exc}",
                [f"certificate_path {certificate_path!r}: {exc}"],
            ) from exc
    if kind == "client_secret":
        need(tenant_id=tenant_id, client_id=client_id, client_secret=client_secret)
        assert tenant_id
        assert client_id
        assert client_secret
        return ClientSecretCredential(tenant_id, client_id, client_secret)
    if kind == "managed_identity":
        # None selects the system-assigned identity; a client id selects a user-assigned one.
        if managed_identity_client_id:
            return ManagedIdentityCredential(client_id=managed_identity_client_id)
        return ManagedIdentityCredential()
    raise ConfigError(
        f"unknown credential kind {kind!r}",
        [f"credential kind must be one of {', '.join(CREDENTIAL_KINDS)}, not {kind!r}"],
    )
