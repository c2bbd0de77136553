"""Mutual TLS for NgDP: the organisation's OCES3 function certificate as an ``ssl.SSLContext``.

NgDP authenticates the calling system by mutual TLS with its OCES3 (FOCES/VOCES) certificate; the Basic
header only identifies the system (docs/facts/ngdp.md, "Authentication"; github sjkp/digitalpost README:
"Authorization header is for identifiying calling system, the actual auth is the mutual tls").

The certificate comes as PEM or PKCS#12 and is read by :mod:`graph_dpg.adapters.certificates`.
``ssl.SSLContext.load_cert_chain`` only reads files, so the key and chain are re-serialised to PEM with the
key *encrypted under a random one-time password* and written to an anonymous in-memory file
(``memfd_create``, Linux) — or, where that is unavailable, to a 0600 temporary file that is deleted
immediately after loading. The clear private key never touches disk.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from graph_dpg.adapters import certificates
from graph_dpg.adapters.certificates import CertificateBundle

#: How the certificate is named in configuration errors.
LABEL = "NgDP"


@dataclass(frozen=True)
class ClientIdentity:
    """A loaded client certificate: what to put into an SSLContext, and when it expires."""

    certificate: x509.Certificate
    _pem_chain: bytes  # certificate + intermediates, PEM
    _pem_key: bytes  # private key, PEM, encrypted with _key_password
    _key_password: bytes | None

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    def days_left(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        return (self.not_valid_after - now).days

    def subject(self) -> str:
        return self.certificate.subject.rfc4514_string()

    def load_into(self, context: ssl.SSLContext) -> None:
        _load_chain_from_memory(context, self._pem_chain + self._pem_key, self._key_password)


def _load_chain_from_memory(context: ssl.SSLContext, pem: bytes, password: bytes | None) -> None:
    memfd_create = getattr(os, "memfd_create", None)
    if memfd_create is not None and Path("/proc/self/fd").is_dir():
        fd = memfd_create("graph-dpg-ngdp-cert", 0)
        try:
            os.write(fd, pem)
            context.load_cert_chain(f"/proc/self/fd/{fd}", password=password)
        finally:
            os.close(fd)
        return
    # mkstemp creates the file 0600; it exists only for the duration of load_cert_chain.
    fd, path = tempfile.mkstemp(prefix="graph-dpg-ngdp-", suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        context.load_cert_chain(path, password=password)
    finally:
        os.unlink(path)


def identity_from(bundle: CertificateBundle) -> ClientIdentity:
    """The key re-serialised to PEM, encrypted under a random one-time password, with its chain."""
    one_time = secrets.token_bytes(32).hex().encode()
    pem_key = bundle.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in bundle.chain)
    return ClientIdentity(bundle.certificate, chain, pem_key, one_time)


def load_pkcs12(path: str | os.PathLike[str], password: str | bytes | None) -> ClientIdentity:
    return identity_from(certificates.load_pkcs12(path, password, label=LABEL))


def load_pem(
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None = None,
    key_password: str | bytes | None = None,
) -> ClientIdentity:
    """Certificate (+ chain) PEM and a key PEM (the key may also sit in ``cert_file``)."""
    return identity_from(certificates.load_pem(cert_file, key_file, key_password, label=LABEL))


def load_certificate_file(path: str | os.PathLike[str], password: str | bytes | None) -> ClientIdentity:
    """One file holding certificate and key, PEM or PKCS#12 (what the settings carry; the format rule is
    :func:`graph_dpg.adapters.certificates.is_pem`)."""
    return identity_from(certificates.load_certificate_file(path, password, label=LABEL))


def client_ssl_context(
    identity: ClientIdentity | None, ca_bundle: str | os.PathLike[str] | None
) -> ssl.SSLContext:
    """Verify the server against ``ca_bundle`` (sandbox/test) or the system store, present ``identity``."""
    context = ssl.create_default_context(cafile=os.fspath(ca_bundle) if ca_bundle is not None else None)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # NgDP integrations force HTTP/1.1 (curl --http1.1 in sjkp/digitalpost README; ITK changelog 1.5.0).
    context.set_alpn_protocols(["http/1.1"])
    if identity is not None:
        identity.load_into(context)
    return context
