"""Recipient certificates from a directory of files (``GRAPH_DPG_SMIME_RECIPIENT_CERT_DIR``).

Implements ``ports.secure_send.RecipientCertificates``. Every regular file in the directory (not in
subdirectories, no hidden files) that holds certificates - PEM (one or more ``CERTIFICATE`` blocks), or DER
(``.cer``/``.der``/``.crt`` as Windows exports them) - is read; a file that holds none is skipped and
logged once by name. In Azure the directory is a Key Vault secret store mount, one file per certificate.

A certificate is found by the recipient's e-mail address: subjectAltName rfc822Name (RFC 5280 4.2.1.6; RFC
8550 3: the address SHOULD be there) or, for older certificates, the subject's emailAddress attribute
(PKCS #9, 1.2.840.113549.1.9.1). Addresses are compared case-insensitively (the local part too: one
recipient, however it is spelt). Only certificates valid at the lookup time count: expired and
not-yet-valid ones are ignored, so a renewed certificate dropped next to the old one simply takes over.

The index is cached with each certificate's validity and re-read when the directory changed (its own and
its files' modification times and sizes) and at most every ``refresh_seconds`` otherwise, so a certificate
added to the mount is used without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from graph_dpg.core.errors import ConfigError
from graph_dpg.ports.secure_send import RecipientCertificate

log = logging.getLogger(__name__)

MAX_FILE_BYTES = 1_000_000
MAX_FILES = 10_000


@dataclass(frozen=True)
class _Entry:
    addresses: frozenset[str]
    certificate: RecipientCertificate
    not_before: datetime


def certificate_addresses(cert: x509.Certificate) -> frozenset[str]:
    """The e-mail addresses a certificate names (lower-cased): SAN rfc822Name and subject emailAddress."""
    found: set[str] = set()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found.update(str(name).strip().lower() for name in san.get_values_for_type(x509.RFC822Name))
    except x509.ExtensionNotFound:
        pass
    except ValueError:  # a malformed extension: the certificate names nobody
        return frozenset()
    for attribute in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS):
        value = attribute.value
        if isinstance(value, str):
            found.add(value.strip().lower())
    return frozenset(a for a in found if "@" in a)


def _read_certificates(data: bytes) -> list[x509.Certificate]:
    if b"-----BEGIN CERTIFICATE-----" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


class CertificateDirectory:
    """Recipient certificates from the files of one directory (see the module docstring)."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        refresh_seconds: float = 300.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._dir = Path(directory)
        self._refresh = refresh_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._entries: tuple[_Entry, ...] = ()
        self._stamp: tuple[tuple[str, int, int], ...] | None = None
        self._read_at: float | None = None
        self._skipped: set[str] = set()

    def lookup(self, address: str, at: datetime) -> list[RecipientCertificate]:
        wanted = address.strip().lower()
        at = _utc(at)
        with self._lock:
            self._refresh_if_needed()
            entries = self._entries
        return [
            e.certificate
            for e in entries
            if wanted in e.addresses and e.not_before <= at <= e.certificate.not_after
        ]

    def _listing(self) -> list[Path]:
        try:
            names = sorted(os.listdir(self._dir))
        except OSError as exc:
            raise ConfigError(
                f"cannot read the recipient certificate directory {str(self._dir)!r}: {exc.strerror}"
            ) from exc
        files = [self._dir / n for n in names if not n.startswith(".") and (self._dir / n).is_file()]
        return files[:MAX_FILES]

    def _refresh_if_needed(self) -> None:
        now = self._monotonic()
        if self._read_at is not None and now - self._read_at < self._refresh:
            return
        files = self._listing()
        stamp = tuple((p.name, *self._stat(p)) for p in files)
        self._read_at = now
        if stamp == self._stamp:
            return
        entries: list[_Entry] = []
        for path in files:
            entries.extend(self._read(path))
        self._entries = tuple(entries)
        self._stamp = stamp
        log.info("recipient certificates: %d read from %s", len(entries), self._dir)

    @staticmethod
    def _stat(path: Path) -> tuple[int, int]:
        try:
            st = path.stat()
        except OSError:
            return (0, -1)
        return (st.st_mtime_ns, st.st_size)

    def _read(self, path: Path) -> list[_Entry]:
        try:
            if path.stat().st_size > MAX_FILE_BYTES:
                raise ValueError("too large")
            certificates = _read_certificates(path.read_bytes())
        except (OSError, ValueError):
            if path.name not in self._skipped:
                self._skipped.add(path.name)
                log.warning("recipient certificates: %s holds no certificate, skipped", path.name)
            return []
        entries: list[_Entry] = []
        for cert in certificates:
            addresses = certificate_addresses(cert)
            if not addresses:
                continue
            der = cert.public_bytes(Encoding.DER)
            entries.append(
                _Entry(
                    addresses,
                    RecipientCertificate(
                        der=der,
                        subject=cert.subject.rfc4514_string(),
                        not_after=cert.not_valid_after_utc,
                        fingerprint=hashlib.sha256(der).hexdigest(),
                        source=path.name,
                        kind="file",
                        not_before=cert.not_valid_before_utc,
                    ),
                    cert.not_valid_before_utc,
                )
            )
        return entries


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)
