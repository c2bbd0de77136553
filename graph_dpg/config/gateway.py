"""The gateway file's model: what the gateway does for this organisation (YAML the admins edit).

Its CVR, the mailboxes, which CVR or sender contact point each function mailbox may send as, where each
recipient contact point is delivered, category names and colours, channel policy overrides and routing
rules (``examples/gateway.yaml`` is a complete, commented example). Build a :class:`GatewayConfig` with
:func:`graph_dpg.config.loader.load_gateway_file` for ``FILE:LINE`` messages, or with ``model_validate``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from graph_dpg.config._common import _DOMAIN, _did_you_mean
from graph_dpg.core.errors import IdentifierError
from graph_dpg.domain import texts
from graph_dpg.domain.addresses import DEFAULT_GATEWAY_DOMAIN, Channel
from graph_dpg.domain.identifiers import validate_cvr
from graph_dpg.domain.policies import DEFAULT_POLICIES, ChannelPolicy
from graph_dpg.domain.rules import MAIL_FIELDS, MEMO_FIELDS

#: The categories the gateway sets, by meaning: the states of an original, and ``receipt`` (on receipt mails).
CATEGORY_STATES: tuple[str, ...] = (
    "queued",
    "sent",
    "receipted",
    "failed",
    "inbound",
    "warning",
    "receipt",
)

# Outlook's rendering of the preset colours (Graph outlookCategory resource;
# see docs/facts/graph.md, "Master categories").
COLOR_NAMES: Mapping[str, str] = MappingProxyType(
    {
        "none": "no colour",
        "preset0": "red",
        "preset1": "orange",
        "preset2": "brown",
        "preset3": "yellow",
        "preset4": "green",
        "preset5": "teal",
        "preset6": "olive",
        "preset7": "blue",
        "preset8": "purple",
        "preset9": "cranberry",
        "preset10": "steel",
        "preset11": "dark steel",
        "preset12": "gray",
        "preset13": "dark gray",
        "preset14": "black",
        "preset15": "dark red",
        "preset16": "dark orange",
        "preset17": "dark brown",
        "preset18": "dark yellow",
        "preset19": "dark green",
        "preset20": "dark teal",
        "preset21": "dark olive",
        "preset22": "dark blue",
        "preset23": "dark purple",
        "preset24": "dark cranberry",
    }
)

# The defaults are Danish because the users are; admins rename them in the gateway file. They stay Danish
# whatever the receipt language: a category's name is its identity in the mailbox, so a changed default would
# leave the old name on every message already marked.
DEFAULT_CATEGORIES: Mapping[str, tuple[str, str]] = MappingProxyType(
    {
        "queued": (texts.text(texts.Text.CATEGORY_QUEUED, "da"), "preset3"),
        "sent": (texts.text(texts.Text.CATEGORY_SENT, "da"), "preset7"),
        "receipted": (texts.text(texts.Text.CATEGORY_RECEIPTED, "da"), "preset4"),
        "failed": (texts.text(texts.Text.CATEGORY_FAILED, "da"), "preset0"),
        "inbound": (texts.text(texts.Text.CATEGORY_INBOUND, "da"), "preset5"),
        "warning": (texts.text(texts.Text.CATEGORY_WARNING, "da"), "preset1"),
        "receipt": (texts.text(texts.Text.CATEGORY_RECEIPT, "da"), "preset8"),
    }
)

# The fields a rule may test are the rule engine's; one list, so config and engine cannot drift.
MEMO_CONDITION_FIELDS: frozenset[str] = MEMO_FIELDS
CONDITION_FIELDS: frozenset[str] = MAIL_FIELDS
# RFC 5322 §3.6.8: a header field name is printable US-ASCII except the colon.
_HEADER_NAME = re.compile(r"[!-9;-~]+")
_MAILBOX = re.compile(r"[^@\s]+@([a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9-]*[a-z0-9]")
_EXTENSION = re.compile(r"[a-z0-9]{1,16}")
_MIME = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]*/[a-z0-9][a-z0-9!#$&^_.+-]*")


def _require_str(value: object) -> str:
    # Non-text scalars are refused rather than converted: YAML turns 0101... into a number and 27.00 into
    # 27.0, so a silent str() would change what the admin wrote.
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError(f"must be text; put it in quotes so YAML keeps it as written (got {value!r})")
    return value


def _text(value: object) -> str:
    text = _require_str(value).strip()
    if not text:
        raise ValueError("must not be empty")
    return text


def _cvr(value: object) -> str:
    # An unquoted CVR is an int in YAML; CVR numbers never start with 0, so converting loses nothing
    # (and a too short result is reported as such by validate_cvr).
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    try:
        return validate_cvr(_text(value))
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def _uuid_text(value: object) -> str:
    text = _text(value)
    try:
        parsed = uuid.UUID(text)
    except ValueError:
        raise ValueError(f"must be a UUID like dfebd0ca-e211-47e4-af3a-f0d3344f018e, got {text!r}") from None
    if str(parsed) != text.lower():  # uuid.UUID also accepts braces, urn: and no dashes
        raise ValueError(f"must be a UUID in the form 8-4-4-4-12 hex digits, got {text!r}")
    return str(parsed)


def _mailbox(value: object) -> str:
    text = _text(value).lower()
    if not _MAILBOX.fullmatch(text):
        raise ValueError(f"must be a mailbox address like post@kommune.dk, got {text!r}")
    return text


def _domain(value: object) -> str:
    text = _text(value).lower().rstrip(".")
    if not _DOMAIN.fullmatch(text):
        raise ValueError(f"must be a domain name like digital-post.dk, got {text!r}")
    return text


def _color(value: object) -> str:
    text = _text(value).lower()
    if text not in COLOR_NAMES:
        raise ValueError(f"must be one of preset0 ... preset24 or none (Outlook's colours), got {text!r}")
    return text


def _condition_field(value: object) -> str:
    text = _text(value)
    prefix, colon, rest = text.partition(":")
    prefix = prefix.strip().lower()
    if not colon:
        if prefix in CONDITION_FIELDS:
            return prefix
        raise ValueError(
            f"unknown field {text!r}; use one of {', '.join(sorted(CONDITION_FIELDS))}, "
            f"header:<Name> or memo:<field>{_did_you_mean(prefix, CONDITION_FIELDS)}"
        )
    rest = rest.strip()
    if prefix == "header":
        if not _HEADER_NAME.fullmatch(rest):
            raise ValueError(
                f"header:<Name> needs a mail header name such as header:X-Priority, got {text!r}"
            )
        return f"header:{rest}"
    if prefix == "memo":
        name = rest.lower()
        if name not in MEMO_CONDITION_FIELDS:
            raise ValueError(
                f"unknown MeMo field {rest!r}; use one of {', '.join(sorted(MEMO_CONDITION_FIELDS))}"
                f"{_did_you_mean(name, MEMO_CONDITION_FIELDS)}"
            )
        return f"memo:{name}"
    raise ValueError(f"unknown field prefix {prefix!r} in {text!r}; only header: and memo: take a name")


Text = Annotated[str, BeforeValidator(_text)]
Cvr = Annotated[str, BeforeValidator(_cvr)]
UuidText = Annotated[str, BeforeValidator(_uuid_text)]
MailboxAddress = Annotated[str, BeforeValidator(_mailbox)]
Color = Annotated[str, BeforeValidator(_color)]


class _Frozen(BaseModel):
    # extra="forbid": a misspelt key in the gateway file must be an error, not a silently ignored line.
    model_config = ConfigDict(frozen=True, extra="forbid")


class Organisation(_Frozen):
    """The sending organisation (its name is the MeMo sender name when sending as its CVR)."""

    cvr: Cvr = Field(description="The organisation's CVR number (8 digits, modulus 11).")
    name: Text = Field(description="The organisation's name as recipients see it.")
    mandatory_allowed: bool = Field(False, description="May send MeMo mandatory=true (obligatorisk post).")
    legal_notification_allowed: bool = Field(
        False, description="May send MeMo legalNotification=true (retsvirkning)."
    )


class MailboxEntry(_Frozen):
    """A function (shared) mailbox: what it may send as and which folders the gateway reads."""

    address: MailboxAddress = Field(description="SMTP address / UPN of the mailbox.")
    cvrs: tuple[Cvr, ...] = Field((), description="CVR numbers the mailbox may send as.")
    sender_contact_points: tuple[UuidText, ...] = Field(
        (), description="Sender contact points (UUIDs) the mailbox may send as; each belongs to one mailbox."
    )
    outgoing_folder: Text = Field(
        "sentitems", description="Folder read for outgoing Digital Post (well-known name or folder path)."
    )
    inbox_folders: tuple[Text, ...] = Field(
        (), description="Folders of this mailbox whose mail is routed by the rules (secure mail)."
    )
    max_message_mb: int | None = Field(
        None,
        ge=1,
        le=150,
        description="This mailbox's maximum message size in MB, when the admin set it apart from "
        "GRAPH_DPG_MAX_MESSAGE_MB; bigger memos are delivered to it as several mails.",
    )
    digital_post_smtp: Literal["rest-receipt", "no-receipt"] | None = Field(
        None,
        description="This mailbox is NgDP's SMTP recipient system: Digital Post arrives in its inbox as "
        "S/MIME e-mail encrypted to the organisation's certificate and is delivered like a pulled memo. "
        "rest-receipt: answered with the business receipt over the REST API (needs the system's API "
        "credentials); no-receipt: an SMTP-only system, not answered.",
    )

    @property
    def may_send(self) -> bool:
        return bool(self.cvrs or self.sender_contact_points)


class ContactPoint(_Frozen):
    """A recipient contact point of the organisation and where its inbound Digital Post is delivered."""

    id: UuidText = Field(description="The contact point's UUID in NgDP.")
    name: Text = Field(description="A name for people (shown in summaries and warning banners).")
    mailbox: MailboxAddress | None = Field(
        description="Target mailbox; null = unmapped on purpose (goes to the main mailbox, with a warning)."
    )
    folder: Text | None = Field(None, description="Folder in the target mailbox (default: its inbox).")


class CategorySpec(_Frozen):
    """An Outlook category: display name and preset colour."""

    name: Text = Field(
        description="Display name in Outlook (created in the mailbox's master list on first use)."
    )
    color: Color = Field(description="preset0 ... preset24 or none.")


def _category(state: str) -> Any:
    name, color = DEFAULT_CATEGORIES[state]
    return Field(default_factory=lambda: CategorySpec(name=name, color=color), description=f"{state}: {name}")


class Categories(_Frozen):
    """The Outlook categories the gateway sets, by meaning. Give only what differs from the defaults."""

    queued: CategorySpec = _category("queued")
    sent: CategorySpec = _category("sent")
    receipted: CategorySpec = _category("receipted")
    failed: CategorySpec = _category("failed")
    inbound: CategorySpec = _category("inbound")
    warning: CategorySpec = _category("warning")
    receipt: CategorySpec = _category("receipt")

    @model_validator(mode="before")
    @classmethod
    def _fill_defaults(cls, data: Any) -> Any:
        # Lets an admin change only the colour (or only the name) of one state.
        if not isinstance(data, Mapping):
            return data
        merged: dict[str, Any] = dict(data)
        for state, value in data.items():
            if state in DEFAULT_CATEGORIES and isinstance(value, Mapping):
                name, color = DEFAULT_CATEGORIES[state]
                merged[state] = {"name": name, "color": color, **value}
        return merged

    def get(self, state: str) -> CategorySpec:
        """The category of a semantic state (``queued``, ``sent``, ...; a JobCategory works too)."""
        if state not in CATEGORY_STATES:
            raise KeyError(state)
        spec: CategorySpec = getattr(self, str(state))
        return spec

    def items(self) -> list[tuple[str, CategorySpec]]:
        return [(state, self.get(state)) for state in CATEGORY_STATES]


class ChannelOverride(_Frozen):
    """Per-channel changes to the attachment policy defaults (graph_dpg.domain.policies)."""

    max_attachments: int | None = Field(
        None,
        ge=1,
        le=10,
        description="At most this many attachments (NgDP, mit.dk and e-Boks refuse more than 10).",
    )
    allowed_types: dict[str, tuple[str, ...]] | None = Field(
        None,
        description=(
            "Replaces the default list: extension (no dot) → MIME types its content may be sniffed as."
        ),
    )
    max_message_mb: float | None = Field(
        None, gt=0, le=99.5, description="Largest message in MB (10^6 bytes); public senders may send 99.5."
    )

    @field_validator("allowed_types", mode="before")
    @classmethod
    def _types(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        result: dict[str, tuple[str, ...]] = {}
        for raw_ext, raw_mimes in value.items():
            ext = _text(raw_ext).lower().lstrip(".")
            if not _EXTENSION.fullmatch(ext):
                raise ValueError(f"{raw_ext!r} is not a file extension (letters and digits, e.g. pdf)")
            mimes = [raw_mimes] if isinstance(raw_mimes, str) else raw_mimes
            if not isinstance(mimes, Sequence) or not mimes:
                raise ValueError(f"{ext}: give a list of MIME types, e.g. [application/pdf]")
            clean: list[str] = []
            for mime in mimes:
                text = _text(mime).lower()
                if not _MIME.fullmatch(text):
                    raise ValueError(f"{ext}: {text!r} is not a MIME type like application/pdf")
                clean.append(text)
            result[ext] = tuple(clean)
        return result


class Condition(_Frozen):
    """One test of a routing rule: ``field`` ``op`` ``value``."""

    field: Annotated[str, BeforeValidator(_condition_field)] = Field(
        description="from, original_from, to, recipients, subject, body, header:<Name>, attachment_name, "
        "attachment_content or memo:<field>."
    )
    op: Literal["equals", "contains", "regex", "exists"] = Field(description="How value is compared.")
    value: str | None = Field(
        None,
        validate_default=True,
        description="Text to compare with (not for exists); a regex for op=regex.",
    )
    case_sensitive: bool = Field(False, description="Compare case-sensitively (default: ignore case).")

    _pattern: re.Pattern[str] | None = PrivateAttr(default=None)

    @field_validator("value", mode="before")
    @classmethod
    def _value(cls, value: object, info: ValidationInfo) -> object:
        op = info.data.get("op")
        if op == "exists":
            if value is not None:
                raise ValueError("op 'exists' takes no value; remove it")
            return None
        if value is None:
            if op is None:
                return None  # op itself is wrong and reported
            raise ValueError(f"op {op!r} needs a value")
        # Not stripped: leading/trailing spaces can matter in a comparison or a regular expression.
        text = _require_str(value)
        if not text:
            raise ValueError("must not be empty")
        if op == "regex":
            flags = 0 if info.data.get("case_sensitive") else re.IGNORECASE
            try:
                re.compile(text, flags)
            except re.error as exc:
                raise ValueError(f"regular expression {text!r} does not compile: {exc}") from None
        return text

    @model_validator(mode="after")
    def _compile(self) -> Condition:
        if self.op == "regex" and self.value is not None:
            # The flag is known only now (case_sensitive comes after value in the file's field order).
            self._pattern = re.compile(self.value, 0 if self.case_sensitive else re.IGNORECASE)
        return self

    @property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled regular expression for ``op: regex`` (compiled once, at load)."""
        return self._pattern


class DeliverTo(_Frozen):
    mailbox: MailboxAddress = Field(description="A configured mailbox.")
    folder: Text | None = Field(None, description="Folder in that mailbox (default: its inbox).")


class RuleActions(_Frozen):
    """What a matching rule does."""

    deliver_to: DeliverTo | None = Field(None, description="Deliver to this mailbox (and folder).")
    categories: tuple[Text, ...] = Field((), description="Outlook categories to add.")
    mark_read: bool = Field(False, description="Deliver as read.")
    archive_to: MailboxAddress | None = Field(None, description="Also file a copy in this (archive) mailbox.")
    stop: bool = Field(False, description="Evaluate no further rules after this one.")

    @model_validator(mode="after")
    def _does_something(self) -> RuleActions:
        if not (self.deliver_to or self.categories or self.mark_read or self.archive_to or self.stop):
            raise ValueError(
                "the rule does nothing: give deliver_to, categories, mark_read, archive_to or stop"
            )
        return self


class Rule(_Frozen):
    """A routing rule. Rules run by ascending ``priority`` (ties: file order)."""

    name: Text = Field(description="Unique name (logs, hit counts, automatic disabling refer to it).")
    priority: int = Field(100, description="Lower numbers run first.")
    enabled: bool = Field(True, description="Disabled rules are kept but not evaluated.")
    match: Literal["all", "any"] = Field("all", description="All conditions must hold, or any one.")
    conditions: tuple[Condition, ...] = Field(min_length=1, description="The tests (at least one).")
    exceptions: tuple[Condition, ...] = Field(
        (), description="If any of these holds, the rule does not match."
    )
    actions: RuleActions = Field(description="What happens when the rule matches.")
    description: Text | None = Field(
        None,
        description="What the rule does, in words for case workers; shown in the delivered mail with the "
        "rule's name (default: its conditions in plain words, never a regular expression).",
    )


class GatewayConfig(_Frozen):
    """The gateway file. Build it with :func:`load_gateway_file` (precise errors) or ``model_validate``."""

    organisation: Organisation
    gateway_domain: Annotated[str, BeforeValidator(_domain)] = Field(
        DEFAULT_GATEWAY_DOMAIN,
        description="Domain of the gateway addresses (<local>@<sender>.<channel>.<domain>).",
    )
    main_mailbox: MailboxAddress = Field(
        description="The main secure mailbox: unrouted Digital Post lands here; its inbox is routed by rules."
    )
    monitoring_mailbox: MailboxAddress = Field(
        description="Receives alerts (disabled rules, expiring certificates)."
    )
    archive_mailbox: MailboxAddress | None = Field(None, description="Optional mailbox for archived copies.")
    function_mailboxes: tuple[MailboxEntry, ...] = Field((), description="The function mailboxes.")
    contact_points: tuple[ContactPoint, ...] = Field((), description="Recipient contact point → mailbox.")
    categories: Categories = Field(default_factory=Categories, description="Outlook categories by state.")
    channels: dict[Channel, ChannelOverride] = Field(
        default_factory=dict, description="Attachment policy overrides per channel (ngdp, mitdk, eboks)."
    )
    rules: tuple[Rule, ...] = Field((), description="Routing rules for inbound Digital Post and secure mail.")

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_keys(cls, value: Any) -> Any:
        # Channels are lower-case in addresses; accept "NgDP:" as an admin may write it.
        if isinstance(value, Mapping):
            return {k.strip().lower() if isinstance(k, str) else k: v for k, v in value.items()}
        return value

    # --- look-ups --------------------------------------------------------------------------------------

    @property
    def mailboxes(self) -> list[str]:
        """Every configured mailbox address (main, monitoring, archive, function mailboxes), no duplicates."""
        seen: dict[str, None] = {self.main_mailbox: None, self.monitoring_mailbox: None}
        if self.archive_mailbox:
            seen[self.archive_mailbox] = None
        for box in self.function_mailboxes:
            seen[box.address] = None
        return list(seen)

    def function_mailbox(self, address: str) -> MailboxEntry | None:
        wanted = address.strip().lower()
        return next((box for box in self.function_mailboxes if box.address == wanted), None)

    def mailbox_for_sender(self, sender_kind: str, sender_id: str) -> list[str]:
        """The function mailboxes that may send as a CVR (``"cvr"``) or sender contact point
        (``"contact_point"``), in file order; empty when none may."""
        kind = str(sender_kind).lower()
        ident = sender_id.strip().lower()
        if kind == "cvr":
            return [box.address for box in self.function_mailboxes if ident in box.cvrs]
        if kind == "contact_point":
            return [box.address for box in self.function_mailboxes if ident in box.sender_contact_points]
        raise ValueError(f"unknown sender kind {sender_kind!r} (expected 'cvr' or 'contact_point')")

    def may_send_as(self, mailbox: str, sender_kind: str, sender_id: str) -> bool:
        return mailbox.strip().lower() in self.mailbox_for_sender(sender_kind, sender_id)

    def contact_point(self, contact_point_id: str | uuid.UUID) -> ContactPoint | None:
        wanted = str(contact_point_id).strip().lower()
        return next((cp for cp in self.contact_points if cp.id == wanted), None)

    def mailbox_for_contact_point(self, contact_point_id: str | uuid.UUID) -> str | None:
        """The mailbox a recipient contact point is mapped to; None when unknown or explicitly unmapped
        (both go to the main mailbox with a warning banner; :meth:`contact_point` tells them apart)."""
        cp = self.contact_point(contact_point_id)
        return cp.mailbox if cp is not None else None

    def channel_policy(self, channel: Channel | str) -> ChannelPolicy:
        """The default policy of the channel with this file's overrides applied."""
        key = Channel(str(channel).lower())
        policy = DEFAULT_POLICIES[key]
        override = self.channels.get(key)
        if override is None:
            return policy
        changes: dict[str, Any] = {}
        if override.max_attachments is not None:
            changes["max_attachments"] = override.max_attachments
        if override.max_message_mb is not None:
            changes["max_message_bytes"] = round(override.max_message_mb * 1_000_000)
        if override.allowed_types is not None:
            changes["allowed_types"] = MappingProxyType(
                {ext: frozenset(mimes) for ext, mimes in override.allowed_types.items()}
            )
        return replace(policy, **changes)

    def ordered_rules(self, *, include_disabled: bool = False) -> list[Rule]:
        """Rules in evaluation order: ascending priority, then file order."""
        indexed = sorted(enumerate(self.rules), key=lambda pair: (pair[1].priority, pair[0]))
        return [rule for _, rule in indexed if include_disabled or rule.enabled]

    def outgoing_sources(self) -> list[tuple[str, str]]:
        """``(mailbox, folder)`` pairs read for outgoing Digital Post."""
        return [(box.address, box.outgoing_folder) for box in self.function_mailboxes if box.may_send]

    def inbox_sources(self) -> list[tuple[str, str]]:
        """``(mailbox, folder)`` pairs whose mail is routed as secure mail: the main inbox first."""
        pairs = [(self.main_mailbox, "inbox")]
        for box in self.function_mailboxes:
            pairs += [(box.address, folder) for folder in box.inbox_folders]
            if box.digital_post_smtp is not None:
                pairs.append((box.address, "inbox"))
        return list(dict.fromkeys(pairs))
