"""Certificate files as the settings carry them: one file, PEM or PKCS#12, with a chain and its private key.

The NgDP OCES3 certificate (``GRAPH_DPG_NGDP_CERTIFICATE_PATH``) and the Graph app certificate
(``GRAPH_DPG_CLIENT_CERTIFICATE_PATH``) each come as PEM (certificate, optionally chain and key in the same
file) or as PKCS#12 (what MitID Erhverv hands out, .p12/.pfx + password). One rule tells them apart,
everywhere: PEM is text with a ``-----BEGIN`` armour in its first 64 KiB; anything else is PKCS#12.

:func:`load_certificate_file` (and the explicit :func:`load_pem` / :func:`load_pkcs12`) load a private key
and its chain, leaf first, or raise :class:`~graph_dpg.core.errors.ConfigError`;
:func:`certificate_not_after` only reads when the certificate expires, and never raises.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from graph_dpg.core.errors import ConfigError

#: How far into a file the PEM armour is looked for (text before it, e.g. "Bag Attributes", is allowed).
PEM_SNIFF_BYTES = 65536

Password = str | bytes | None


@dataclass(frozen=True)
class CertificateBundle:
    """A private key and its certificate chain (leaf first)."""

    key: PrivateKeyTypes
    chain: tuple[x509.Certificate, ...]

    @property
    def certificate(self) -> x509.Certificate:
        return self.chain[0]

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc


def is_pem(data: bytes) -> bool:
    """The one format rule: PEM when the ``-----BEGIN`` armour appears near the start, else PKCS#12."""
    return b"-----BEGIN" in data[:PEM_SNIFF_BYTES]


def load_certificate_file(
    path: str | os.PathLike[str], password: Password, *, label: str
) -> CertificateBundle:
    """One file holding certificate and key, PEM or PKCS#12 (``label`` names it in messages, e.g. "NgDP")."""
    data = _read(path, f"{label} certificate")
    if is_pem(data):
        return _from_pem(data, path, data, password, label=label)
    return _from_pkcs12(data, path, password, label=label)


def load_certificate_data(data: bytes, source: str, password: Password, *, label: str) -> CertificateBundle:
    """The same rule for bytes that come from elsewhere than a file (a Key Vault secret); ``source`` names
    them in messages. Nothing is written to disk."""
    if is_pem(data):
        return _from_pem(data, source, data, password, label=label)
    return _from_pkcs12(data, source, password, label=label)


def load_pkcs12(path: str | os.PathLike[str], password: Password, *, label: str) -> CertificateBundle:
    return _from_pkcs12(_read(path, f"{label} PKCS#12 certificate"), path, password, label=label)


def load_pem(
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None = None,
    key_password: Password = None,
    *,
    label: str,
) -> CertificateBundle:
    """Certificate (+ chain) PEM and a key PEM (the key may also sit in ``cert_file``)."""
    cert_pem = _read(cert_file, f"{label} certificate")
    key_pem = _read(key_file, f"{label} private key") if key_file is not None else cert_pem
    return _from_pem(cert_pem, cert_file, key_pem, key_password, label=label)


def certificate_not_after(path: str | os.PathLike[str], password: Password) -> datetime | None:
    """Expiry of the first certificate in a PEM or PKCS#12 file (None when it cannot be read).

    A PEM file needs no key (and no password) for this; a PKCS#12 file needs its password.
    """
    try:
        data = Path(path).read_bytes()
        if is_pem(data):
            certs = x509.load_pem_x509_certificates(data)
            return certs[0].not_valid_after_utc if certs else None
        _, cert, _ = pkcs12.load_key_and_certificates(data, _bytes(password))
        return cert.not_valid_after_utc if cert is not None else None
    except (OSError, ValueError):
        return None


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the {what} {os.fspath(path)!r}: {exc.strerror}") from exc


def _bytes(password: Password) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


def _from_pkcs12(
    data: bytes, path: str | os.PathLike[str], password: Password, *, label: str
) -> CertificateBundle:
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, _bytes(password))
    except ValueError as exc:
        raise ConfigError(
            f"the {label} PKCS#12 file {os.fspath(path)!r} cannot be opened (wrong password or not PKCS#12)"
        ) from exc
    if key is None or cert is None:
        raise ConfigError(f"the {label} PKCS#12 file {os.fspath(path)!r} lacks the certificate or its key")
    return CertificateBundle(key, (cert, *(extra or ())))


def _from_pem(
    cert_pem: bytes, cert_file: str | os.PathLike[str], key_pem: bytes, password: Password, *, label: str
) -> CertificateBundle:
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise ConfigError(
            f"the {label} certificate {os.fspath(cert_file)!r} holds no PEM certificate"
        ) from exc
    try:
        try:
            key = serialization.load_pem_private_key(key_pem, password=_bytes(password))
        except TypeError:
            if password is None:
                raise
            # An unencrypted key needs no password: with one password for several files (S/MIME during
            # a rollover: a PKCS#12 file and a PEM file) cryptography refuses it with TypeError.
            key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"the {label} private key cannot be loaded (missing, wrong password or not PEM)"
        ) from exc
    return CertificateBundle(key, tuple(certs))
