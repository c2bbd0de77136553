"""Secure-mail addresses: the gateway-domain address a case worker writes to send S/MIME to an outside party.

Grammar (docs/product.md, "Secure mail to external recipients")::

    secure-address := <local> "=" <domain> "@" "sikkermail." <gateway-domain>
    target         := <local> "@" <domain>              the real recipient

A case worker who wants to write secure mail to ``post@kommune.dk`` writes to
``post=kommune.dk@sikkermail.digital-post.dk``. The mail lands in Sent Items (the transport rules keep
everything under the gateway domain inside the tenant); the gateway signs it, encrypts it to the real
recipient's certificate and sends it itself.

Decisions (each one is a test):

* **No escaping is needed for '='.** A domain never contains '=' (DNS host names are letters, digits and
  '-'; RFC 1123 2.1, RFC 5321 4.1.2 ``Domain``), so the wrapped address is split at its *last* '=': everything
  before it is the real local part, which may itself contain '=' (it is ``atext``, RFC 5322 3.2.3), e.g.
  ``a=b=kommune.dk@sikkermail...`` wraps ``a=b@kommune.dk``. Any escape scheme would be one more thing
  case workers must learn; this one needs none.
* The real local part must be an RFC 5322 ``dot-atom`` (``atext`` characters and single inner dots). A
  quoted local part (``"john doe"@x``) cannot be written inside another local part and is refused by name.
* Only ASCII: an internationalised address (SMTPUTF8) cannot be wrapped without a second encoding; a domain
  must be written in its A-label form (``xn--...``).
* The real domain is a DNS name with at least two labels; address literals (``[192.0.2.1]``) are refused,
  and so is any domain under the gateway domain itself (the wrapped mail would come back to the gateway).
* Case: the domain and the gateway part are lower-cased; the real local part keeps its case (RFC 5321
  2.4: the local part may be case-sensitive, and only the receiving host may decide).
* Lengths: the whole address at most 254 characters, its local part (``<local>=<domain>``) at most 64
  (RFC 5321 4.5.3.1.1): a long real address does not fit and is refused with that reason.

Reasons never repeat the address itself: they reach logs and receipts next to it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from graph_dpg.core.errors import AddressError
from graph_dpg.domain.addresses import (
    DEFAULT_GATEWAY_DOMAIN,
    MAX_ADDRESS_LENGTH,
    MAX_LOCAL_LENGTH,
    normalize_gateway_domain,
)

SECURE_LABEL = "sikkermail"
SEPARATOR = "="

# RFC 5322 3.2.3 atext: ALPHA / DIGIT / any of !#$%&'*+-/=?^_`{|}~
ATEXT = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True)
class SecureMailAddress:
    """A parsed secure-mail address: the real recipient ``local@domain`` and the gateway domain."""

    local: str
    domain: str
    gateway_domain: str = DEFAULT_GATEWAY_DOMAIN

    def __post_init__(self) -> None:
        problem = _local_problem(self.local) or _domain_problem(self.domain, self.gateway_domain)
        if problem is None and self.gateway_domain != normalize_gateway_domain(self.gateway_domain):
            problem = "the gateway domain must be lower-case without a trailing dot"
        if problem is None and len(self.wrapped_local) > MAX_LOCAL_LENGTH:
            problem = f"the wrapped local part is longer than {MAX_LOCAL_LENGTH} characters"
        if problem is None and len(self.format()) > MAX_ADDRESS_LENGTH:
            problem = f"the wrapped address is longer than {MAX_ADDRESS_LENGTH} characters"
        if problem:
            raise ValueError(f"inconsistent SecureMailAddress: {problem}")

    @property
    def target(self) -> str:
        """The real recipient's address."""
        return f"{self.local}@{self.domain}"

    @property
    def wrapped_local(self) -> str:
        return f"{self.local}{SEPARATOR}{self.domain}"

    def format(self) -> str:
        """The canonical wrapped address (domain and gateway part lower-case)."""
        return f"{self.wrapped_local}@{SECURE_LABEL}.{self.gateway_domain}"

    def __str__(self) -> str:
        return self.format()


def secure_domain(gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> str:
    return f"{SECURE_LABEL}.{normalize_gateway_domain(gateway_domain)}"


def is_secure_mail_address(text: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> bool:
    """Cheap test: is the address at ``sikkermail.<gateway domain>``? (It may still fail to parse.)"""
    _, at, domain = text.strip().lower().rpartition("@")
    return bool(at) and domain == f"{SECURE_LABEL}.{gateway_domain.strip().lower().rstrip('.')}"


def wrap_address(target: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> SecureMailAddress:
    """The secure-mail address for the real address ``target``; AddressError when it cannot be wrapped."""
    gateway = normalize_gateway_domain(gateway_domain)
    if target.startswith('"'):
        raise AddressError(target, "a quoted local part cannot be wrapped in a secure-mail address")
    _check_characters(target)
    local, at, domain = target.rpartition("@")
    if not at:
        raise AddressError(target, "missing '@'")
    return _build(target, local, domain, gateway)


def parse_secure_address(text: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> SecureMailAddress:
    """Parse ``<local>=<domain>@sikkermail.<gateway-domain>``; AddressError says exactly what is wrong."""
    gateway = normalize_gateway_domain(gateway_domain)
    if not text:
        raise AddressError(text, "the address is empty")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise AddressError(text, f"the address is longer than {MAX_ADDRESS_LENGTH} characters")
    if text.startswith('"'):
        raise AddressError(text, "a quoted local part cannot be wrapped in a secure-mail address")
    _check_characters(text)
    wrapped, at, host = text.rpartition("@")
    if not at:
        raise AddressError(text, "missing '@'")
    if host.lower() != f"{SECURE_LABEL}.{gateway}":
        raise AddressError(text, f"the domain is not {SECURE_LABEL}.{gateway}")
    if len(wrapped) > MAX_LOCAL_LENGTH:
        raise AddressError(text, f"the local part is longer than {MAX_LOCAL_LENGTH} characters")
    local, sep, domain = wrapped.rpartition(SEPARATOR)
    if not sep:
        raise AddressError(
            text,
            f"missing '=' between the recipient's name and domain (expected <name>=<domain>@{host.lower()})",
        )
    return _build(text, local, domain, gateway)


def _build(text: str, local: str, domain: str, gateway: str) -> SecureMailAddress:
    problem = _local_problem(local) or _domain_problem(domain.lower(), gateway)
    if problem:
        raise AddressError(text, problem)
    domain = domain.lower()
    if len(local) + len(SEPARATOR) + len(domain) > MAX_LOCAL_LENGTH:
        raise AddressError(
            text,
            f"the recipient's address is too long to wrap (local part over {MAX_LOCAL_LENGTH} characters)",
        )
    if len(local) + len(SEPARATOR) + len(domain) + len(f"@{SECURE_LABEL}.{gateway}") > MAX_ADDRESS_LENGTH:
        raise AddressError(text, f"the wrapped address is longer than {MAX_ADDRESS_LENGTH} characters")
    return SecureMailAddress(local, domain, gateway)


def _check_characters(text: str) -> None:
    for position, ch in enumerate(text, start=1):
        if ch.isascii() and not ch.isspace() and ch.isprintable():
            continue
        what = f"U+{ord(ch):04X} {unicodedata.name(ch, 'unnamed character')}"
        if ch.isspace() or unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Cf", "Cc"):
            raise AddressError(text, f"white space or invisible character {what} at position {position}")
        raise AddressError(
            text,
            f"non-ASCII character {what} at position {position} "
            "(write an international domain in its xn-- form)",
        )


def _local_problem(local: str) -> str | None:
    if not local:
        return "the recipient's name before '=' is empty"
    if local.startswith('"'):
        return "a quoted local part cannot be wrapped in a secure-mail address"
    for ch in local:
        if ch != "." and ch not in ATEXT:
            return f"character {ch!r} is not allowed in the recipient's name (RFC 5322 atext and '.')"
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return "the recipient's name may not start or end with '.' or hold '..'"
    return None


def _domain_problem(domain: str, gateway: str) -> str | None:
    if not domain:
        return "the recipient's domain after '=' is empty"
    if domain.startswith("["):
        return "an address literal cannot be a secure-mail recipient; use the domain name"
    labels = domain.split(".")
    if len(labels) < 2:
        return "the recipient's domain needs at least two labels (e.g. kommune.dk)"
    if not all(_DNS_LABEL.fullmatch(label) for label in labels):
        return "the recipient's domain is not a DNS name (letters, digits, '-', labels of 1-63 characters)"
    if domain == gateway or domain.endswith("." + gateway):
        return "the recipient's domain is the gateway domain itself"
    return None
