"""The ports for sending secure mail (S/MIME) to external recipients: their certificates, and sealing.

Both are synchronous: a directory lookup reads files and sealing is CPU-bound, so services call them
through the CPU pool (``services.cpu``). Certificates cross the port as DER bytes with the few facts a
service needs, so services never import the cryptography library.

Implemented by ``graph_dpg.adapters.smime.directory.CertificateDirectory`` (files in a directory, in Azure
mounted from Key Vault) and ``graph_dpg.adapters.smime.SmimeSealer``. Further certificate sources (the
function mailbox's contacts, an LDAP directory) implement the same :class:`RecipientCertificates`.
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
    source: str  # where it came from (a file name), for receipts and logs


class RecipientCertificates(Protocol):
    def lookup(self, address: str, at: datetime) -> list[RecipientCertificate]:
        """The certificates valid at ``at`` that name ``address`` (case-insensitive; subjectAltName
        rfc822Name or the subject's emailAddress); [] when there is none. Raises core.errors ConfigError
        when the source itself cannot be read."""
        ...


class SecureMailSealer(Protocol):
    def seal(self, mime: bytes, recipients: Sequence[RecipientCertificate], at: datetime) -> bytes:
        """The whole message signed with the organisation's certificate, then encrypted (AES-256-CBC, RSA
        key transport) to every certificate in ``recipients``. Raises core.errors SecureMailError,
        NotMimeError or LimitExceededError."""
        ...
