"""The organisation's S/MIME certificates in one place: from files (GRAPH_DPG_SMIME_CERTIFICATES) and from
Azure Key Vault (GRAPH_DPG_SMIME_KEYVAULT_CERTIFICATES, :mod:`graph_dpg.adapters.smime.keyvault`).

Decryption tries every loaded key (a rollover has two or more; mail encrypted to last year's certificate
still opens while its key is loaded). Signing uses one of them, chosen at the moment of signing by
:func:`choose_signing`: among the certificates valid *now*, the one with the latest notAfter (ties: the
latest notBefore); never an expired or not-yet-valid one. With files alone the order of the setting does
not matter any more.

Key Vault is read again on a timer (``Runtime``'s ``smime_keyvault`` job):
:meth:`OrganisationKeyring.replace_vault` swaps the whole Key Vault set at once (a tuple assignment, safe
for the CPU pool's threads that open mail at the same time); a failed refresh leaves the last good set in
place. Keys live in memory only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from graph_dpg.adapters.certificates import CertificateBundle
from graph_dpg.adapters.smime.cms import DecryptionKey
from graph_dpg.adapters.smime.mime import SigningKey
from graph_dpg.core.errors import TransientError


@dataclass(frozen=True)
class OrganisationCertificate:
    """One loaded certificate with its key and where it came from (a path or ``keyvault:name/version``)."""

    source: str
    bundle: CertificateBundle

    @property
    def certificate(self) -> x509.Certificate:
        return self.bundle.certificate

    @property
    def not_before(self) -> datetime:
        return self.bundle.certificate.not_valid_before_utc

    @property
    def not_after(self) -> datetime:
        return self.bundle.certificate.not_valid_after_utc

    def subject(self) -> str:
        return self.bundle.certificate.subject.rfc4514_string()

    def valid_at(self, at: datetime) -> bool:
        return self.not_before <= at < self.not_after


def choose_signing(
    certificates: Sequence[OrganisationCertificate], at: datetime
) -> OrganisationCertificate | None:
    """The certificate to sign with at ``at``: valid then, latest notAfter, ties broken by the latest
    notBefore (the newer of two certificates issued for the same period), then by the order loaded.
    None when no certificate is valid at ``at`` (expired ones are never used)."""
    valid = [c for c in certificates if c.valid_at(at)]
    if not valid:
        return None
    # max() keeps the first of equals: the configured order decides only a complete tie.
    return max(valid, key=lambda c: (c.not_after, c.not_before))


def no_signing_certificate(at: datetime, loaded: int) -> TransientError:
    """No organisation certificate is valid at ``at`` (all expired, or none loaded yet): transient, since
    a renewed certificate may arrive from Key Vault on the next refresh; a job that keeps failing is given
    up with an error receipt like any other transient failure, and nothing is sent unsigned."""
    return TransientError(
        f"no organisation S/MIME certificate is valid at {at:%Y-%m-%d %H:%M} UTC ({loaded} loaded)",
        service="smime",
        code="NoSigningCertificate",
    )


class OrganisationKeyring:
    """Files + Key Vault certificates; decryption keys for the opener, the signer for the sealer.

    ``awaiting_vault`` is True while Key Vault is configured but has not been read successfully yet (the
    opener then treats "no matching key" as transient: the mail is tried again, not bannered)."""

    def __init__(
        self, files: Sequence[OrganisationCertificate] = (), *, vault_configured: bool = False
    ) -> None:
        self._files = tuple(files)
        self._vault: tuple[OrganisationCertificate, ...] = ()
        self._all = self._files
        self._keys = self._decryption(self._all)
        self.vault_configured = vault_configured
        self.vault_loaded = False

    @staticmethod
    def _decryption(certs: Sequence[OrganisationCertificate]) -> tuple[DecryptionKey, ...]:
        return tuple(DecryptionKey(c.bundle.certificate, c.bundle.key) for c in certs)

    @property
    def awaiting_vault(self) -> bool:
        return self.vault_configured and not self.vault_loaded

    @property
    def certificates(self) -> tuple[OrganisationCertificate, ...]:
        return self._all

    @property
    def vault_certificates(self) -> tuple[OrganisationCertificate, ...]:
        return self._vault

    def replace_vault(self, certificates: Sequence[OrganisationCertificate]) -> None:
        """The Key Vault set, replaced as a whole (duplicates of a file certificate are dropped)."""
        known = {c.certificate.fingerprint(hashes.SHA256()) for c in self._files}
        fresh: list[OrganisationCertificate] = []
        for cert in certificates:
            fingerprint = cert.certificate.fingerprint(hashes.SHA256())
            if fingerprint not in known:
                known.add(fingerprint)
                fresh.append(cert)
        vault = tuple(fresh)
        combined = self._files + vault
        keys = self._decryption(combined)
        # One assignment each; a reader sees the old or the new set, never half of one.
        self._vault, self._all, self._keys = vault, combined, keys
        self.vault_loaded = True

    def decryption_keys(self) -> tuple[DecryptionKey, ...]:
        return self._keys

    def signing_certificate(self, at: datetime) -> OrganisationCertificate | None:
        return choose_signing(self._all, at)

    def signer(self, at: datetime) -> SigningKey:
        chosen = self.signing_certificate(at)
        if chosen is None:
            raise no_signing_certificate(at, len(self._all))
        return SigningKey(chosen.bundle.key, chosen.bundle.chain)
