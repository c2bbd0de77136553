"""Gateway addresses: the e-mail addresses Outlook users write to send Digital Post.

Grammar (docs/product.md, "Address grammar"; from the DPG release notes,
https://www.sikker-post.dk/release-notes-dpg-service/)::

    address   := <local> "@" <sender> "." <channel> "." <gateway-domain>
    channel   := "ngdp" | "mitdk" | "eboks"
    sender    := CVR (8 digits)                  the organisation name is shown as sender
               | SenderContactPoint (UUID)
    local     := <recipient> ["-reply"] ["." <RecipientContactPoint UUID>]
               | "masseforsendelse-" <N>         mass delivery, ngdp only, N = exact recipient count
    recipient := CPR (10 digits, or DDMMYY-SSSS) | CVR (8 digits)

Two separate steps, because the release notes' own examples are placeholders that follow the grammar but
are not real numbers (``1234567890`` is no date, ``87654321`` fails modulus 11):

1. :func:`parse_address` checks the grammar only and returns a :class:`GatewayAddress`, or raises
   :class:`AddressError` whose ``reason`` says exactly what is wrong;
2. :func:`validate_address` checks the identifiers (CPR date/century, CVR modulus 11) and returns findings.

Sending requires both to pass.

Decisions beyond the release notes (each one is a test):

* Case-insensitive: the address is lower-cased; :meth:`GatewayAddress.format` writes the canonical
  lower-case form, so ``parse_address(a.format()) == a``.
* Only ASCII is accepted. A non-ASCII digit (e.g. full-width ``１`` or Arabic-Indic ``١``) is refused by
  name rather than silently converted, and lower-casing happens only after this check (``str.lower`` maps
  e.g. KELVIN SIGN to ``k``).
* White space anywhere (also around the address) is refused: a recipient address in a mail never carries it,
  and accepting it would make ``87654321. bdcc...`` (a typo in the release notes) mean something.
* A CPR recipient may be written ``DDMMYY-SSSS``; the dash is removed (``format`` writes 10 digits).
* Mass delivery: ``N`` is 1..1,000,000 without leading zeros; ``-reply`` and a recipient contact point are
  refused on it; only the ngdp channel offers it.
* Contact point UUIDs must be in the canonical 8-4-4-4-12 form (no braces, no ``urn:uuid:``).
* Lengths: at most 254 characters, local part at most 64 (RFC 5321).

Reasons never repeat a recipient number: AddressError texts reach logs and receipts.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Literal

from graph_dpg.core.errors import AddressError, Finding
from graph_dpg.domain.identifiers import cpr_findings, cvr_findings

DEFAULT_GATEWAY_DOMAIN = "digital-post.dk"
MASS_PREFIX = "masseforsendelse"
REPLY_SUFFIX = "-reply"
MAX_MASS_COUNT = 1_000_000
MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_LENGTH = 64


class Channel(StrEnum):
    NGDP = "ngdp"
    MITDK = "mitdk"
    EBOKS = "eboks"


SenderKind = Literal["cvr", "contact_point"]
RecipientKind = Literal["cpr", "cvr"]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_DIGITS = re.compile(r"[0-9]+")
_DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_CPR_DASHED = re.compile(r"([0-9]{6})-([0-9]{4})")
_ALLOWED_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-@")
_CHANNELS = ", ".join(c.value for c in Channel)
_CHANNEL_VALUES = frozenset(c.value for c in Channel)


@dataclass(frozen=True)
class GatewayAddress:
    """A parsed gateway address. Identifiers are kept as text (leading zeros matter); UUIDs lower-case."""

    channel: Channel
    sender_kind: SenderKind
    sender_id: str
    recipient_kind: RecipientKind | None  # None for mass delivery
    recipient_id: str | None
    reply: bool = False
    recipient_contact_point: str | None = None
    mass_count: int | None = None
    domain: str = DEFAULT_GATEWAY_DOMAIN

    def __post_init__(self) -> None:
        # Values built in code (e.g. reply addressing) must obey the same grammar as parsed ones, so that
        # format() always yields an address that parses back to an equal value.
        problem = _shape_problem(self)
        if problem:
            raise ValueError(f"inconsistent GatewayAddress: {problem}")

    @property
    def is_mass(self) -> bool:
        return self.mass_count is not None

    @property
    def local_part(self) -> str:
        if self.mass_count is not None:
            return f"{MASS_PREFIX}-{self.mass_count}"
        local = self.recipient_id or ""
        if self.reply:
            local += REPLY_SUFFIX
        if self.recipient_contact_point:
            local += f".{self.recipient_contact_point}"
        return local

    def format(self) -> str:
        """The canonical (lower-case) address."""
        return f"{self.local_part}@{self.sender_id}.{self.channel.value}.{self.domain}"

    def __str__(self) -> str:
        return self.format()


def _shape_problem(a: GatewayAddress) -> str | None:
    if not isinstance(a.channel, Channel):
        return f"channel must be a Channel, not {a.channel!r}"
    if a.sender_kind == "cvr":
        if not (_DIGITS.fullmatch(a.sender_id) and len(a.sender_id) == 8):
            return "a CVR sender needs 8 ASCII digits"
    elif a.sender_kind == "contact_point":
        if not _UUID.fullmatch(a.sender_id):
            return "a contact point sender needs a lower-case 8-4-4-4-12 UUID"
    else:
        return f"unknown sender kind {a.sender_kind!r}"
    if a.domain != normalize_gateway_domain(a.domain):
        return "the domain must be lower-case without a trailing dot"
    if a.mass_count is not None:
        if a.recipient_kind is not None or a.recipient_id is not None or a.reply or a.recipient_contact_point:
            return "mass delivery has no recipient, reply flag or recipient contact point"
        if not 1 <= a.mass_count <= MAX_MASS_COUNT or a.channel is not Channel.NGDP:
            return f"mass delivery needs ngdp and a count of 1..{MAX_MASS_COUNT}"
        return None
    expected = {"cpr": 10, "cvr": 8}.get(a.recipient_kind or "")
    if expected is None or a.recipient_id is None:
        return "a recipient kind ('cpr' or 'cvr') and id are required unless mass_count is set"
    if not (_DIGITS.fullmatch(a.recipient_id) and len(a.recipient_id) == expected):
        return f"a {a.recipient_kind} recipient needs {expected} ASCII digits"
    if a.recipient_contact_point is not None and not _UUID.fullmatch(a.recipient_contact_point):
        return "the recipient contact point must be a lower-case 8-4-4-4-12 UUID"
    return None


def parse_address(text: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> GatewayAddress:
    """Parse the grammar of a gateway address (identifiers are *not* validated; see validate_address)."""
    gateway = normalize_gateway_domain(gateway_domain)
    if not text:
        raise AddressError(text, "the address is empty")
    if len(text) > MAX_ADDRESS_LENGTH:
        raise AddressError(text, f"the address is longer than {MAX_ADDRESS_LENGTH} characters")
    _check_characters(text)
    address = text.lower()
    if "@" not in address:
        raise AddressError(text, "missing '@'")
    local, _, domain = address.partition("@")
    if "@" in domain:
        raise AddressError(text, "more than one '@'")
    if not local:
        raise AddressError(text, "empty local part before '@' (expected recipient or masseforsendelse-<N>)")
    if len(local) > MAX_LOCAL_LENGTH:
        raise AddressError(text, f"the local part is longer than {MAX_LOCAL_LENGTH} characters")
    if not domain:
        raise AddressError(text, "empty domain after '@'")
    channel, sender_kind, sender_id = _parse_domain(text, domain, gateway)
    if local.startswith(MASS_PREFIX):
        count = _parse_mass(text, local, channel)
        return GatewayAddress(channel, sender_kind, sender_id, None, None, mass_count=count, domain=gateway)
    recipient_kind, recipient_id, reply, contact_point = _parse_recipient(text, local)
    return GatewayAddress(
        channel,
        sender_kind,
        sender_id,
        recipient_kind,
        recipient_id,
        reply=reply,
        recipient_contact_point=contact_point,
        domain=gateway,
    )


def normalize_gateway_domain(gateway_domain: str) -> str:
    """The gateway domain lower-cased without a trailing dot; ValueError when it is no DNS name."""
    gateway = gateway_domain.strip().lower().rstrip(".")
    labels = gateway.split(".")
    if not gateway.isascii() or not all(_DNS_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            f"invalid gateway domain {gateway_domain!r}: expected a DNS name such as digital-post.dk"
        )
    return gateway


def _check_characters(text: str) -> None:
    for position, ch in enumerate(text, start=1):
        if ch.isascii():
            if ch.isspace():
                raise AddressError(text, f"white space (U+{ord(ch):04X}) at position {position}")
            if ch.lower() not in _ALLOWED_CHARS:
                raise AddressError(
                    text,
                    f"character {ch!r} at position {position} is not allowed "
                    "(only letters, digits, '.', '-' and '@')",
                )
            continue
        name = unicodedata.name(ch, "unnamed character")
        what = f"U+{ord(ch):04X} {name}"
        if unicodedata.category(ch) == "Nd":
            reason = f"non-ASCII digit {what} at position {position}; only the digits 0-9 are allowed"
        elif ch.isspace() or unicodedata.category(ch) in ("Zs", "Zl", "Zp", "Cf"):
            reason = f"white space or invisible character {what} at position {position}"
        else:
            reason = f"non-ASCII character {what} at position {position}"
        raise AddressError(text, reason)


def _parse_domain(text: str, domain: str, gateway: str) -> tuple[Channel, SenderKind, str]:
    expected = f"<sender>.<channel>.{gateway}"
    if domain == gateway:
        raise AddressError(
            text, f"missing sender and channel before the gateway domain (expected {expected})"
        )
    if not domain.endswith("." + gateway):
        raise AddressError(text, f"domain {domain!r} is not the gateway domain {gateway!r}")
    labels = domain[: -len(gateway) - 1].split(".")
    if any(not label for label in labels):
        raise AddressError(text, f"empty label in domain {domain!r}")
    channel_label = labels[-1]
    if channel_label not in _CHANNEL_VALUES:
        if len(labels) == 1:
            raise AddressError(text, f"missing channel (expected {expected} with channel {_CHANNELS})")
        raise AddressError(text, f"unknown channel {channel_label!r} (expected one of {_CHANNELS})")
    channel = Channel(channel_label)
    if len(labels) == 1:
        raise AddressError(text, f"missing sender (CVR or contact point UUID) before {channel.value!r}")
    if len(labels) > 2:
        raise AddressError(
            text,
            f"sender {'.'.join(labels[:-1])!r} must be one label: a CVR number or a contact point UUID",
        )
    sender = labels[0]
    if _DIGITS.fullmatch(sender):
        if len(sender) != 8:
            raise AddressError(text, f"sender CVR number must have 8 digits, got {len(sender)}")
        return channel, "cvr", sender
    if _UUID.fullmatch(sender):
        return channel, "contact_point", sender
    if "-" in sender:
        raise AddressError(
            text, f"sender contact point {sender!r} is not a UUID (expected 8-4-4-4-12 hexadecimal digits)"
        )
    raise AddressError(text, f"sender {sender!r} is neither a CVR number (8 digits) nor a contact point UUID")


def _parse_mass(text: str, local: str, channel: Channel) -> int:
    rest = local[len(MASS_PREFIX) :]
    if not rest.startswith("-") or rest == "-":
        raise AddressError(text, f"mass delivery needs the recipient count: {MASS_PREFIX}-<N>")
    count_text = rest[1:]
    if "." in count_text:
        raise AddressError(text, "a recipient contact point is not allowed on mass delivery")
    if count_text.endswith(REPLY_SUFFIX) or REPLY_SUFFIX + "." in count_text:
        raise AddressError(text, "'-reply' is not allowed on mass delivery")
    if not _DIGITS.fullmatch(count_text):
        raise AddressError(text, "the mass delivery recipient count must be a whole number")
    if len(count_text) > 1 and count_text.startswith("0"):
        raise AddressError(text, "the mass delivery recipient count must not have leading zeros")
    if len(count_text) > len(str(MAX_MASS_COUNT)) or int(count_text) > MAX_MASS_COUNT:
        raise AddressError(text, f"the mass delivery recipient count is above {MAX_MASS_COUNT:,}")
    count = int(count_text)
    if count == 0:
        raise AddressError(text, "the mass delivery recipient count must be at least 1")
    if channel is not Channel.NGDP:
        raise AddressError(text, f"mass delivery is only available on the ngdp channel, not {channel.value}")
    return count


def _parse_recipient(text: str, local: str) -> tuple[RecipientKind, str, bool, str | None]:
    recipient, dot, contact_point = local.partition(".")
    if dot:
        if not contact_point:
            raise AddressError(text, "empty recipient contact point after '.'")
        if not _UUID.fullmatch(contact_point):
            if contact_point.endswith(REPLY_SUFFIX) and _UUID.fullmatch(contact_point[: -len(REPLY_SUFFIX)]):
                raise AddressError(
                    text, "'-reply' must come before the recipient contact point: <recipient>-reply.<uuid>"
                )
            raise AddressError(
                text,
                "recipient contact point after '.' is not a UUID (expected 8-4-4-4-12 hexadecimal digits)",
            )
    if not recipient:
        raise AddressError(text, "empty recipient before '.'")
    reply = recipient.endswith(REPLY_SUFFIX)
    if reply:
        recipient = recipient[: -len(REPLY_SUFFIX)]
        if not recipient:
            raise AddressError(text, "missing recipient before '-reply'")
    dashed = _CPR_DASHED.fullmatch(recipient)
    if dashed:
        return "cpr", dashed.group(1) + dashed.group(2), reply, contact_point or None
    if _DIGITS.fullmatch(recipient):
        if len(recipient) == 10:
            return "cpr", recipient, reply, contact_point or None
        if len(recipient) == 8:
            return "cvr", recipient, reply, contact_point or None
        raise AddressError(
            text,
            "recipient must be a CPR number (10 digits) or a CVR number (8 digits), "
            f"got {len(recipient)} digits",
        )
    if REPLY_SUFFIX in recipient:
        raise AddressError(text, "'-reply' may appear once, right after the recipient number")
    raise AddressError(text, "recipient must be a CPR number (10 digits) or a CVR number (8 digits)")


def is_gateway_address(text: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> bool:
    """Cheap test: does the address end in ``.<channel>.<gateway domain>``? (It may still fail to parse.)"""
    _, at, domain = text.strip().lower().rpartition("@")
    if not at:
        return False
    gateway = gateway_domain.strip().lower().rstrip(".")
    return any(domain.endswith(f".{channel.value}.{gateway}") for channel in Channel)


def is_gateway_domain(text: str, gateway_domain: str = DEFAULT_GATEWAY_DOMAIN) -> bool:
    """Is the address anywhere under the gateway domain (also with an unknown channel)?

    Mail to such an address must never leave the tenant; the outbound service answers it with an error
    receipt when it does not parse.
    """
    _, at, domain = text.strip().lower().rpartition("@")
    gateway = gateway_domain.strip().lower().rstrip(".")
    return bool(at) and (domain == gateway or domain.endswith("." + gateway))


def validate_address(address: GatewayAddress) -> list[Finding]:
    """Identifier findings (CPR date/century, CVR modulus 11) for the recipient and a CVR sender."""
    findings: list[Finding] = []
    if address.recipient_id is not None:
        check = cpr_findings if address.recipient_kind == "cpr" else cvr_findings
        findings.extend(_at("recipient", f) for f in check(address.recipient_id))
    if address.sender_kind == "cvr":
        findings.extend(_at("sender", f) for f in cvr_findings(address.sender_id))
    return findings


def _at(path: str, finding: Finding) -> Finding:
    return replace(finding, path=path)
