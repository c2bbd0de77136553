"""The organisation's S/MIME certificates from Azure Key Vault (GRAPH_DPG_KEYVAULT_URL,
GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES), read with ``azure-keyvault-secrets``.

A Key Vault *certificate* is stored together with an addressable key and an addressable *secret* of the
same name; the secret's value is the certificate with its private key — base64 PFX without a password
(content type ``application/x-pkcs12``) or PEM text (``application/x-pem-file``) — provided the
certificate's policy marks the key exportable (learn.microsoft.com/azure/key-vault/certificates/
about-certificates, "Composition of a certificate", "Exportable or non-exportable key"). So the gateway
reads secrets, and the identity needs only "Key Vault Secrets User" on the vault
(learn.microsoft.com/azure/key-vault/general/rbac-guide). Facts and sources: docs/facts/smime.md,
"Key Vault".

Per configured name (``name`` or ``name/version``): the current version (GET /secrets/{name}), and — when
no version is pinned — up to ``older_versions`` older *enabled* versions (GET /secrets/{name}/versions,
newest first), so mail encrypted to last year's certificate still opens. An older version that cannot be
read is skipped with a warning; a name whose current version cannot be read fails the whole load (the
caller keeps the last good set rather than shrink it).

Errors become the project's: 403 and 401 → :class:`~graph_dpg.core.errors.AuthError` (with the fix: the
role assignment), 404 → :class:`~graph_dpg.core.errors.ConfigError`, a secret that is not a certificate
with its key → ConfigError, network trouble, 429 and 5xx → :class:`~graph_dpg.core.errors.TransientError`.
Key material stays in memory; messages name secrets and versions, never values.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from graph_dpg.adapters.certificates import load_certificate_data
from graph_dpg.adapters.smime.keyring import OrganisationCertificate, OrganisationKeyring
from graph_dpg.core.errors import AuthError, ConfigError, GraphDpgError, TransientError

log = logging.getLogger(__name__)

#: Key Vault's secret content types for a certificate's secret (about-certificates; the SDKs'
#: CertificateContentType: "application/x-pkcs12", "application/x-pem-file").
PKCS12_CONTENT_TYPE = "application/x-pkcs12"
PEM_CONTENT_TYPE = "application/x-pem-file"
#: A secret value is at most 25 KB in Key Vault (service limits); anything far bigger is not ours to parse.
MAX_SECRET_CHARS = 256 * 1024
#: At most this many version entries are looked at per name (the listing is paged and unbounded).
MAX_VERSIONS_LISTED = 200
#: The role whose "read secret contents" data action the gateway's identity needs (rbac-guide).
SECRETS_ROLE = "Key Vault Secrets User"
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def access_fix(vault_url: str) -> str:
    return (
        f"grant the gateway's identity '{SECRETS_ROLE}' on the vault {vault_url} (Azure portal → the key "
        "vault → Access control (IAM) → Add role assignment; with the legacy access-policy model: a policy "
        "with the secret permission Get and List)"
    )


@dataclass(frozen=True)
class CertificateName:
    """One entry of GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES: ``name`` or ``name/version``."""

    name: str
    version: str | None = None

    @classmethod
    def parse(cls, text: str) -> CertificateName:
        name, _, version = text.strip().strip("/").partition("/")
        if not name or "/" in version:
            raise ConfigError(
                f"Key Vault certificate {text!r} is not 'name' or 'name/version'",
                [f"GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES: {text!r} is not 'name' or 'name/version'"],
            )
        return cls(name, version or None)

    def __str__(self) -> str:
        return f"{self.name}/{self.version}" if self.version else self.name


def certificate_from_secret(
    value: str | None, content_type: str | None, source: str
) -> OrganisationCertificate:
    """A secret's value as certificate + private key (PKCS#12 base64 or PEM); ConfigError when it is not."""
    if not value:
        raise ConfigError(
            f"{source} has no value (disabled, or not a certificate's secret)",
            [f"{source}: empty value"],
        )
    if len(value) > MAX_SECRET_CHARS:
        raise ConfigError(f"{source} is too big to be a certificate", [f"{source}: {len(value)} characters"])
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == PEM_CONTENT_TYPE or (kind != PKCS12_CONTENT_TYPE and "-----BEGIN" in value[:4096]):
        data = value.encode("ascii", "replace")
    else:
        try:
            data = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ConfigError(
                f"{source} is neither base64 PKCS#12 nor PEM (content type {content_type or 'none'})",
                [f"{source}: import the certificate as a Key Vault certificate, not as a plain secret"],
            ) from exc
    # The certificate's secret carries no password (about-certificates: the PFX is exported without one).
    try:
        bundle = load_certificate_data(data, source, None, label="S/MIME (Key Vault)")
    except ConfigError as exc:
        raise ConfigError(
            f"{source} is not a certificate with its private key ({exc})",
            [
                f"{source}: the certificate's policy must mark the key exportable, and it must be imported "
                "as a Key Vault certificate (PFX or PEM with the key)"
            ],
        ) from exc
    return OrganisationCertificate(source, bundle)


def translate(exc: Exception, vault_url: str, what: str) -> GraphDpgError:
    """An azure-core exception as one of the project's, with the fix for IT."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ResourceNotFoundError):
        return ConfigError(
            f"Key Vault {vault_url} has no {what} (404)",
            [
                f"{what}: not found in {vault_url}; a certificate's secret has the certificate's name "
                "(check GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES)"
            ],
        )
    status = getattr(exc, "status_code", None)
    code = _error_code(exc)
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        if status == 403:
            message = f"Key Vault {vault_url} refused access to {what} (403 {code or 'Forbidden'})"
        elif status == 401:
            message = f"Key Vault {vault_url} did not accept the gateway's token for {what} (401)"
        else:
            message = f"no token for Key Vault {vault_url}: {_first_line(exc)}"
        return AuthError(
            message, service="keyvault", status=status, code=code, details={"fix": access_fix(vault_url)}
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return TransientError(f"Key Vault {vault_url} is unreachable: {_first_line(exc)}", service="keyvault")
    if isinstance(exc, HttpResponseError):
        if status is not None and (status == 429 or status >= 500):
            return TransientError(
                f"Key Vault {vault_url} answered {status} for {what}",
                service="keyvault",
                status=status,
                code=code,
            )
        return ConfigError(
            f"Key Vault {vault_url} answered {status} {code or ''} for {what}".rstrip(),
            [f"{what}: {_first_line(exc)}"],
        )
    return TransientError(
        f"Key Vault {vault_url}: {type(exc).__name__}: {_first_line(exc)}", service="keyvault"
    )


def _error_code(exc: Exception) -> str | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return str(code) if code else None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


class KeyVaultCertificates:
    """Reads the configured certificates' secrets from one vault (async ``SecretClient``)."""

    def __init__(
        self,
        vault_url: str,
        credential: Any,
        names: Sequence[str],
        *,
        older_versions: int = 2,
        connection_verify: bool | str | None = None,
    ) -> None:
        from azure.keyvault.secrets.aio import SecretClient

        self.vault_url = vault_url.rstrip("/")
        self.names = [CertificateName.parse(n) for n in names]
        self.older_versions = max(0, older_versions)
        options: dict[str, Any] = {}
        if connection_verify is not None:
            options["connection_verify"] = connection_verify  # tests: the emulator's test CA
        if urlsplit(self.vault_url).hostname in _LOOPBACK:
            # The emulator on loopback cannot be a subdomain of the challenge's resource (vault.azure.net);
            # a real vault's challenge is always verified.
            options["verify_challenge_resource"] = False
        self._client = SecretClient(self.vault_url, credential, **options)

    async def aclose(self) -> None:
        await self._client.close()

    async def load(self) -> list[OrganisationCertificate]:
        """Every configured certificate (current + bounded older versions), or raise (see the module)."""
        found: list[OrganisationCertificate] = []
        for entry in self.names:
            found.append(await self._get(entry.name, entry.version))
            if entry.version is None and self.older_versions:
                current_version = found[-1].source.rsplit("/", 1)[-1]
                found.extend(await self._older(entry.name, current_version))
        return found

    async def refresh(self, ring: OrganisationKeyring, at: datetime | None = None) -> GraphDpgError | None:
        """Load and swap the keyring's Key Vault set; on failure keep the last good set, log for IT and
        return the error (None on success). Logs name certificates by subject and expiry, never keys."""
        try:
            loaded = await self.load()
        except GraphDpgError as exc:
            kept = len(ring.vault_certificates)
            fix = exc.details.get("fix") if isinstance(exc, AuthError) else None
            log.error(
                "S/MIME certificates from Key Vault not refreshed (%s); keeping the %d loaded before%s",
                exc,
                kept,
                f"; fix: {fix}" if fix else "",
            )
            return exc
        ring.replace_vault(loaded)
        now = at or datetime.now(UTC)
        chosen = ring.signing_certificate(now)
        log.info(
            "S/MIME certificates from Key Vault: %s; signing with %s",
            "; ".join(f"{c.source} {c.subject()} until {c.not_after:%Y-%m-%d}" for c in loaded) or "none",
            f"{chosen.source} (until {chosen.not_after:%Y-%m-%d})"
            if chosen
            else "none (no valid certificate)",
        )
        return None

    async def _get(self, name: str, version: str | None) -> OrganisationCertificate:
        what = f"secret {name}" + (f"/{version}" if version else "")
        try:
            secret = await self._client.get_secret(name, version)
        except Exception as exc:
            raise translate(exc, self.vault_url, what) from exc
        props = secret.properties
        source = f"keyvault:{name}/{props.version or version or ''}"
        return certificate_from_secret(secret.value, props.content_type, source)

    async def _older(self, name: str, current: str) -> list[OrganisationCertificate]:
        candidates: list[tuple[datetime, str]] = []
        seen = 0
        try:
            async for props in self._client.list_properties_of_secret_versions(name):
                seen += 1
                if seen > MAX_VERSIONS_LISTED:
                    break
                if props.version and props.version != current and props.enabled is not False:
                    created = props.created_on or datetime.min.replace(tzinfo=UTC)
                    candidates.append((created, props.version))
        except Exception as exc:
            error = translate(exc, self.vault_url, f"versions of {name}")
            log.warning("Key Vault: older versions of %s not listed: %s", name, error)
            return []
        candidates.sort(reverse=True)
        older: list[OrganisationCertificate] = []
        for _, version in candidates[: self.older_versions]:
            try:
                older.append(await self._get(name, version))
            except GraphDpgError as exc:
                log.warning("Key Vault: older version %s/%s skipped: %s", name, version, exc)
        return older
