"""Mutual TLS for NgDP: the organisation's OCES3 function certificate as an ``ssl.SSLContext``.

NgDP authenticates the calling system by mutual TLS with its OCES3 (FOCES/VOCES) certificate; the Basic
header only identifies the system (docs/facts/ngdp.md, "Authentication"; github sjkp/digitalpost README:
"Authorization header is for identifiying calling system, the actual auth is the mutual tls").

The certificate comes as PEM (certificate, optionally with the key in the same file) or as PKCS#12 (what
MitID Erhverv hands out, .p12/.pfx + password). ``ssl.SSLContext.load_cert_chain`` only reads files, so a
PKCS#12 bundle is re-serialised to PEM with the key *encrypted under a random one-time password* and
written to an anonymous in-memory file (``memfd_create``, Linux) — or, where that is unavailable, to a 0600
temporary file that is deleted immediately after loading. The clear private key never touches disk.
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
from cryptography.hazmat.primitives.serialization import pkcs12

from graph_dpg.core.errors import ConfigError


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


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the NgDP {what} {os.fspath(path)!r}: {exc.strerror}") from exc


def load_pkcs12(path: str | os.PathLike[str], password: str | bytes | None) -> ClientIdentity:
    data = _read(path, "PKCS#12 certificate")
    pw = password.encode() if isinstance(password, str) else password
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, pw)
    except ValueError as exc:
        raise ConfigError(
            f"the NgDP PKCS#12 file {os.fspath(path)!r} cannot be opened (wrong password or not PKCS#12)"
        ) from exc
    if key is None or cert is None:
        raise ConfigError(f"the NgDP PKCS#12 file {os.fspath(path)!r} lacks the certificate or its key")
    one_time = secrets.token_bytes(32).hex().encode()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in extra or ()
    )
    return ClientIdentity(cert, chain, pem_key, one_time)


def load_pem(
    cert_file: str | os.PathLike[str],
    key_file: str | os.PathLike[str] | None = None,
    key_password: str | bytes | None = None,
) -> ClientIdentity:
    """Certificate (+ chain) PEM and a key PEM (the key may also sit in ``cert_file``)."""
    cert_pem = _read(cert_file, "certificate")
    key_pem = _read(key_file, "private key") if key_file is not None else cert_pem
    pw = key_password.encode() if isinstance(key_password, str) else key_password
    try:
        certs = x509.load_pem_x509_certificates(cert_pem)
    except ValueError as exc:
        raise ConfigError(f"the NgDP certificate {os.fspath(cert_file)!r} holds no PEM certificate") from exc
    try:
        key = serialization.load_pem_private_key(key_pem, password=pw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            "the NgDP private key cannot be loaded (missing, wrong password or not PEM)"
        ) from exc
    one_time = secrets.token_bytes(32).hex().encode()
    pem_key = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(one_time),
    )
    chain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)
    return ClientIdentity(certs[0], chain, pem_key, one_time)


def load_certificate_file(path: str | os.PathLike[str], password: str | bytes | None) -> ClientIdentity:
    """One file holding certificate and key, PEM or PKCS#12 (what the settings carry): PEM when the file
    is text with a ``-----BEGIN`` block, PKCS#12 otherwise."""
    head = _read(path, "certificate")[:4096]
    if b"-----BEGIN" in head:
        return load_pem(path, None, password)
    return load_pkcs12(path, password)


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
