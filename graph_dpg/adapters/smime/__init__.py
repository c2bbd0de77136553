"""S/MIME (secure mail) with OCES3 certificates: decrypt, verify, sign, encrypt.

``cms`` holds the CMS structures (pyasn1-modules) and the cryptography; ``mime`` the MIME around them
(:func:`~graph_dpg.adapters.smime.mime.open_message`, :func:`~graph_dpg.adapters.smime.mime.seal_message`);
this module loads the organisation's certificates and the trust anchors from files. What opening found is
told in the domain's types (``graph_dpg.domain.smime``); failures are ``core.errors`` SecureMailError,
NoMatchingKeyError, UnsupportedAlgorithmError, NotMimeError and LimitExceededError. Facts and sources:
docs/facts/smime.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from cryptography import x509

from graph_dpg.adapters.certificates import Password, load_certificate_file
from graph_dpg.adapters.smime.cms import DecryptionKey, TrustAnchors
from graph_dpg.adapters.smime.keyring import (
    OrganisationCertificate,
    OrganisationKeyring,
    choose_signing,
)
from graph_dpg.adapters.smime.mime import Opened, SigningKey, open_message, seal_message
from graph_dpg.core.errors import ConfigError, NoMatchingKeyError, TransientError
from graph_dpg.domain.smime import OpenedMessage, accept_only_organisation_certificates
from graph_dpg.ports.secure_send import RecipientCertificate

__all__ = [
    "DecryptionKey",
    "Opened",
    "OrganisationCertificate",
    "OrganisationKeyring",
    "SigningKey",
    "SmimeOpener",
    "SmimeSealer",
    "TrustAnchors",
    "choose_signing",
    "load_certificates",
    "load_decryption_keys",
    "load_organisation_certificates",
    "load_signing_key",
    "load_trust_anchors",
    "open_message",
    "seal_message",
]


def load_decryption_keys(paths: Sequence[str | os.PathLike[str]], password: Password) -> list[DecryptionKey]:
    """The organisation's certificates with their keys (PKCS#12 or PEM; one password for all), in order."""
    keys: list[DecryptionKey] = []
    for path in paths:
        bundle = load_certificate_file(path, password, label="S/MIME")
        keys.append(DecryptionKey(bundle.certificate, bundle.key))
    return keys


def load_organisation_certificates(
    paths: Sequence[str | os.PathLike[str]], password: Password
) -> list[OrganisationCertificate]:
    """The organisation's certificate files (PKCS#12 or PEM; one password for all), each with its source."""
    return [
        OrganisationCertificate(os.fspath(path), load_certificate_file(path, password, label="S/MIME"))
        for path in paths
    ]


def load_signing_key(path: str | os.PathLike[str], password: Password) -> SigningKey:
    bundle = load_certificate_file(path, password, label="S/MIME signing")
    return SigningKey(bundle.key, bundle.chain)


def load_certificates(path: str | os.PathLike[str], *, label: str) -> list[x509.Certificate]:
    """Every certificate in a PEM file (or the one in a DER file)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {label} {os.fspath(path)!r}: {exc.strerror}") from exc
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise ConfigError(f"the {label} {os.fspath(path)!r} holds no certificate") from exc


def load_trust_anchors(paths: Sequence[str | os.PathLike[str]]) -> TrustAnchors:
    certificates: list[x509.Certificate] = []
    for path in paths:
        certificates.extend(load_certificates(path, label="trust anchor file"))
    return TrustAnchors(tuple(certificates))


class SmimeOpener:
    """The ``ports.secure_mail.SecureMailOpener`` with the organisation's keys and the trust anchors."""

    def __init__(
        self,
        keys: Sequence[DecryptionKey] | OrganisationKeyring,
        anchors: TrustAnchors,
        *,
        organisation_only: bool = False,
    ) -> None:
        # A keyring is read on every call: a certificate refreshed from Key Vault is used at once.
        self._ring = keys if isinstance(keys, OrganisationKeyring) else None
        self._keys = () if isinstance(keys, OrganisationKeyring) else tuple(keys)
        self._anchors = anchors
        # GRAPH_DPG_SMIME_ORGANISATION_ONLY: a signature by a personal/employee certificate is REFUSED.
        self._organisation_only = organisation_only

    def open(self, mime: bytes, at: datetime | None) -> OpenedMessage:
        ring = self._ring
        keys = ring.decryption_keys() if ring is not None else self._keys
        try:
            opened = open_message(mime, keys, self._anchors, at=at).message
        except NoMatchingKeyError as exc:
            if ring is not None and ring.awaiting_vault:
                # Key Vault has not been read yet (unreachable at start): try again later, no banner.
                raise TransientError(
                    "the organisation's certificates from Key Vault are not loaded yet",
                    service="keyvault",
                    code="KeysNotLoaded",
                ) from exc
            raise
        return accept_only_organisation_certificates(opened) if self._organisation_only else opened


class SmimeSealer:
    """The ``ports.secure_send.SecureMailSealer``: signs with the organisation's certificate, then encrypts
    (AES-256-CBC, RSA key transport) to the recipients' certificates (``seal_message``)."""

    def __init__(self, signer: SigningKey | OrganisationKeyring) -> None:
        self._signer = signer

    def seal(self, mime: bytes, recipients: Sequence[RecipientCertificate], at: datetime) -> bytes:
        if not recipients:
            raise ValueError("secure mail needs at least one recipient certificate")
        certificates = [x509.load_der_x509_certificate(r.der) for r in recipients]
        # A keyring chooses at ``at``: the valid certificate with the latest notAfter (rollover).
        signer = self._signer.signer(at) if isinstance(self._signer, OrganisationKeyring) else self._signer
        return seal_message(mime, certificates, signer, at=at)
