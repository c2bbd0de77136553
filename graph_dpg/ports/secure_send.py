"""The ports for sending secure mail (S/MIME) to external recipients: their certificates, and sealing.

Both are synchronous: a directory lookup reads files and sealing is CPU-bound, so services call them
through the CPU pool (``services.cpu``). Certificates cross the port as DER bytes with the few facts a
service needs, so services never import the cryptography library.

A service asks one :class:`RecipientCertificateLookup` (async): ``graph_dpg.adapters.smime.sources.
CertificateSources`` asks its sources in order - the directory of files (``adapters.smime.directory``), the
function mailbox's contacts (``adapters.smime.contacts``, through :class:`ContactCertificateReader`), an LDAP
certificate directory (``adapters.smime.ldap``) - caches each answer with its expiry and reports a source
that failed without stopping the others. A blocking source (files, LDAP) implements the synchronous
:class:`RecipientCertificates` and runs in a worker thread, never on the event loop. Sealing is
``graph_dpg.adapters.smime.SmimeSealer``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True)
class RecipientCertificate:
    """One recipient certificate: its DER encoding, whom it names, and until when it is valid."""

    der: bytes
    subject: str
    not_after: datetime
    fingerprint: str  # SHA-256, hex, for receipts and logs
    source: str  # where it came from (a file name, a contact's name, an LDAP DN), for receipts and logs
    kind: str = "file"  # which source found it: "file", "contacts" or "ldap"
    not_before: datetime | None = None


class RecipientCertificates(Protocol):
    def lookup(self, address: str, at: datetime) -> list[RecipientCertificate]:
        """The certificates valid at ``at`` that name ``address`` (case-insensitive; subjectAltName
        rfc822Name or the subject's emailAddress); [] when there is none. Raises core.errors ConfigError
        when the source itself cannot be read."""
        ...


@dataclass(frozen=True)
class CertificateLookup:
    """What the sources answered for one address: the valid certificates (from the first source that had
    any), and the sources that could not be asked, each with its technical reason (for IT, never for the
    case worker)."""

    certificates: list[RecipientCertificate]
    failures: list[str]


class RecipientCertificateLookup(Protocol):
    async def lookup(self, address: str, at: datetime, *, mailbox: str) -> CertificateLookup:
        """The certificates valid at ``at`` for ``address``, asked of every configured source in order;
        ``mailbox`` is the function mailbox sending (whose contacts are read). Never raises for a source
        that fails: the failure is in ``failures``."""
        ...


class ContactCertificateReader(Protocol):
    async def contact_certificates(
        self, mailbox: str, address: str
    ) -> list[tuple[str, list[str], list[bytes]]]:
        """The contacts of ``mailbox`` with ``address`` among their e-mail addresses: (display name, e-mail
        addresses, the raw values of PidTagUserX509Certificate). Raises core.errors (AuthError on 403)."""
        ...


class SecureMailSealer(Protocol):
    def seal(self, mime: bytes, recipients: Sequence[RecipientCertificate], at: datetime) -> bytes:
        """The whole message signed with the organisation's certificate, then encrypted (AES-256-CBC, RSA
        key transport) to every certificate in ``recipients``. Raises core.errors SecureMailError,
        NotMimeError or LimitExceededError."""
        ...
