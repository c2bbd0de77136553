"""The project's one exception tree.

Every adapter translates the errors of its SDK/HTTP/SQL library into these at its boundary, so services
decide what to do (retry, receipt, alert) from the *kind* of failure, never from a library type::

    GraphDpgError
    ├── ConfigError                    settings / gateway file invalid or inconsistent (exit code 2)
    ├── InputError                     untrusted input is wrong; the sender gets an error receipt
    │   ├── AddressError               gateway address breaks the grammar (docs/product.md, "Address grammar")
    │   ├── IdentifierError            CPR/CVR fails date/century or modulus-11 rules
    │   ├── MemoError                  MeMo cannot be built or parsed
    │   │   └── MemoValidationError    XSD or business rule failed (carries every finding)
    │   ├── UnsafeXmlError             DTD / entity / external reference in untrusted XML
    │   └── ContentError               untrusted content cannot be read: damaged, or not what it claims
    │       ├── LimitExceededError     reading it would go beyond a bound (size, depth, expansion, digits)
    │       ├── NotMimeError           a file that should be a mail (.eml) or a .p7m is neither
    │       └── SecureMailError        S/MIME that cannot be opened (``reason``: damaged, no-key, unsupported)
    │           ├── NoMatchingKeyError         encrypted to none of our certificates
    │           └── UnsupportedAlgorithmError  an algorithm we do not implement (or refuse)
    ├── RemoteError                    a remote service (Graph, NgDP) failed; ``service`` names it
    │   ├── TransientError             retry later with backoff (429, 503, 504, timeouts, resets)
    │   │   ├── ThrottledError         429 with ``retry_after`` seconds
    │   │   ├── AmbiguousOutcomeError  request may or may not have taken effect (timeout after send)
    │   │   └── MailboxFullError       the target mailbox is over its quota (Graph 507 / ErrorQuotaExceeded)
    │   ├── PermanentError             retrying the same request will fail the same way (400, 404, 409 ...)
    │   │   ├── NotFoundError          the resource is gone (404)
    │   │   └── RejectedError          the remote refused the content (NgDP 400 ErrorMessage, Graph 400)
    │   │       └── MessageTooLargeError  the message would exceed the mailbox's size limit (Graph
    │   │                                 ErrorMessageSizeExceeded)
    │   ├── AuthError                  401/403, bad credential, missing role: alert, do not hammer
    │   └── SyncStateExpiredError      Graph delta token expired (410 / syncStateNotFound): resync
    └── StoreError                     the database failed
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


class GraphDpgError(Exception):
    """Root of every error the project raises on purpose."""


class ConfigError(GraphDpgError):
    """Settings or the gateway file are invalid; ``problems`` lists every finding."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems: list[str] = list(problems) or [message]


class InputError(GraphDpgError):
    """Untrusted input (a mail, an address, a MeMo) is wrong. Safe to show to the sender."""


class AddressError(InputError):
    """A gateway address does not follow the grammar."""

    def __init__(self, address: str, reason: str) -> None:
        super().__init__(f"{address!r}: {reason}")
        self.address = address
        self.reason = reason


class IdentifierError(InputError):
    """A CPR or CVR number is not valid."""


@dataclass(frozen=True)
class Finding:
    """One problem found by a validator: where (path/field), which rule, what is wrong."""

    rule: str
    message: str  # English, for logs and IT; people read the catalogue's sentence for ``rule``
    path: str = ""
    severity: str = "error"  # "error" stops sending; "warning" is reported and the value was fixed
    #: What the catalogue's sentence for ``rule`` names (``file``: the attachment's name as the sender wrote
    #: it, ``recipient``: the address as written, CPR masked, ``line``: the line in masseforsendelse.txt,
    #: limits and counts): texts are rendered per language from these, never parsed from ``message``.
    params: Mapping[str, str | int] = field(default_factory=dict, hash=False)

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.rule}]"


class MemoError(InputError):
    """A MeMo message cannot be built or parsed."""


class MemoValidationError(MemoError):
    """A MeMo message failed XSD or business-rule validation."""

    def __init__(self, message: str, findings: Sequence[Finding] = ()) -> None:
        super().__init__(message)
        self.findings: list[Finding] = list(findings)


class UnsafeXmlError(InputError):
    """Untrusted XML tried to use a DTD, entities or external references."""


class ContentError(InputError):
    """Untrusted content (a zip container, a JSON document) cannot be read: it is damaged, or it is not
    what it claims to be (e.g. a JSON number that is not a number, text that is not Unicode)."""


class LimitExceededError(ContentError):
    """Reading untrusted content would go beyond a bound: its size, nesting depth, expansion ratio, or the
    number of digits in a number. ``limit`` names the bound ("size", "depth", "ratio", ...)."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message)
        self.limit = limit


class NotMimeError(ContentError):
    """Bytes that should be a MIME message (.eml) or a CMS/PKCS#7 file (.p7m) are neither."""


class SecureMailError(ContentError):
    """S/MIME (CMS) content cannot be opened. ``reason`` is a stable code for support lines and banners:
    "damaged" (truncated, garbage, a check that fails), "no-key" or "unsupported"."""

    reason = "damaged"


class NoMatchingKeyError(SecureMailError):
    """The message is encrypted to certificates none of whose private keys we hold; ``recipients``
    describes each of them (issuer and serial number, or subject key identifier)."""

    reason = "no-key"

    def __init__(self, message: str, recipients: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.recipients: list[str] = list(recipients)


class UnsupportedAlgorithmError(SecureMailError):
    """The message uses an algorithm (key transport, content encryption, digest) we do not implement."""

    reason = "unsupported"


@dataclass
class RemoteError(GraphDpgError):
    """A remote service call failed. ``service`` is "graph" or "ngdp"."""

    message: str
    service: str = ""
    status: int | None = None
    code: str | None = None
    details: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def __str__(self) -> str:
        bits = [self.service or "remote"]
        if self.status is not None:
            bits.append(str(self.status))
        if self.code:
            bits.append(self.code)
        return f"[{' '.join(bits)}] {self.message}"


@dataclass
class TransientError(RemoteError):
    """Retry later with backoff."""

    retry_after: float | None = None


@dataclass
class ThrottledError(TransientError):
    """HTTP 429; ``retry_after`` seconds from the Retry-After header when given."""


@dataclass
class AmbiguousOutcomeError(TransientError):
    """The request may have taken effect (e.g. timeout after the body was sent). Retry idempotently."""


@dataclass
class MailboxFullError(TransientError):
    """The mailbox written to is over its storage quota: transient (it works once someone makes room),
    but worth an alert, and a reason to deliver elsewhere after a while."""


@dataclass
class PermanentError(RemoteError):
    """The same request will fail the same way."""


@dataclass
class NotFoundError(PermanentError):
    """The resource does not exist (any more)."""


@dataclass
class RejectedError(PermanentError):
    """The remote refused the content; ``details`` carries its error body (e.g. NgDP ErrorMessage)."""


@dataclass
class MessageTooLargeError(RejectedError):
    """The mailbox refused the message (or an attachment added to it) because the message would exceed its
    maximum message size (Graph 400 ``ErrorMessageSizeExceeded``; docs/facts/graph.md, "Message size
    limit"). Sending the same message again fails the same way: it must be made smaller (split)."""


@dataclass
class AuthError(RemoteError):
    """Authentication or authorisation failed: a configuration problem, not a transient one."""


@dataclass
class SyncStateExpiredError(RemoteError):
    """A Graph delta token is no longer valid; start a full resync."""


class StoreError(GraphDpgError):
    """The state store failed."""
