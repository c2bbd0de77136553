"""Inbound routing, pure: what the rules see of a memo or a mail, and where a memo goes (``InboundRoute``).

A memo's route is decided once, before its delivery, and recorded: a redelivery after a crash goes to the
same place even if the rules changed meanwhile, and rule hits are counted once. Order of precedence for
a valid memo: (1) the first matching rule with ``deliver_to``, (2) the mailbox mapped to the
recipient contact point, (3) the main mailbox with a banner saying that the contact point has no mailbox.
Invalid memos (unreadable, unsafe XML, XSD or business-rule findings) go to the main mailbox with an
explanation banner and get an INVALID receipt; rules are not asked.

The route is stored as JSON (:meth:`InboundRoute.to_json` / :meth:`InboundRoute.from_json`); the JSON shape
is the one earlier versions stored, so a memo routed before an upgrade is delivered by the new version
where the old one decided.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from graph_dpg import memo as memolib
from graph_dpg.core.errors import Finding, InputError
from graph_dpg.domain.html_text import html_to_text
from graph_dpg.domain.identifiers import mask_cprs
from graph_dpg.domain.inbound_view import (
    Banner,
    foreign_banner,
    reply_address,
    undeliverable_banner,
    unmapped_banner,
)
from graph_dpg.domain.mail import MailMessage
from graph_dpg.domain.rules import (
    ATTACHMENT_TEXT_CAP,
    BODY_TEXT_CAP,
    DEFAULT_RULE_TIMEOUT_SECONDS,
    AttachmentText,
    InboundItem,
    RoutingDecision,
    RoutingRule,
    RuleCondition,
)
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo.model import MemoMessage

RouteBanner = Literal["unmapped", "invalid", "undeliverable", "unshown", "foreign"]
_BANNERS: tuple[RouteBanner, ...] = ("unmapped", "invalid", "undeliverable", "unshown", "foreign")


# ----------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class ContactPointRoute:
    id: str
    name: str
    mailbox: str | None  # None: explicitly unmapped (main mailbox + banner)
    folder: str | None = None


@dataclass(frozen=True)
class InboundSettings:
    """The inbound side's configuration as plain values, filled by the composition root
    (``graph_dpg.bootstrap.rules.inbound_settings``)."""

    organisation_cvr: str
    organisation_name: str
    main_mailbox: str
    monitoring_mailbox: str
    gateway_domain: str = "digital-post.dk"
    contact_points: Mapping[str, ContactPointRoute] = field(default_factory=dict)
    sender_contact_points: Mapping[str, frozenset[str]] = field(default_factory=dict)  # mailbox → its CPs
    rules: tuple[RoutingRule, ...] = ()
    categories: Mapping[str, tuple[str, str]] = field(default_factory=dict)  # key → (name, presetN)
    inbox_sources: tuple[tuple[str, str], ...] = ()  # (mailbox, folder); default: the main inbox
    rule_timeout_seconds: float = DEFAULT_RULE_TIMEOUT_SECONDS
    language: str = "da"
    mask_cpr: bool = True
    delivery_folder: str = "inbox"
    routed_folder: str | None = None  # where a secure mail copied to another mailbox is moved; None: stays
    # The original of a mail copied to another mailbox gets a category naming the target (routed_original).
    routed_mark: bool = False
    fallback_after_attempts: int = 3  # permanent failures before a memo goes to the main mailbox instead
    # Failing transiently (e.g. a full mailbox) for this long after it came: a memo goes to the main mailbox
    # instead, a secure mail stays in the inbox it came to.
    fallback_after_seconds: float = 3600.0
    batch_size: int = 200
    # The largest mail written into a mailbox (bytes; Exchange Online's default 35 MB), and per mailbox
    # (lower-case address) where the gateway file says otherwise. A memo bigger is split (domain.split).
    max_message_bytes: int = 35 * 1024 * 1024
    mailbox_max_message_bytes: Mapping[str, int] = field(default_factory=dict)
    # Mailboxes (lower-case) that are NgDP's SMTP recipient system (Digital Post forwarded as S/MIME
    # e-mail), and whether a memo found there is answered with the REST business receipt (False: SMTP only).
    forwarded_mailboxes: frozenset[str] = frozenset()
    forwarded_receipt: bool = True

    def message_limit(self, mailbox: str) -> int:
        """The largest mail the gateway writes into ``mailbox``, as configured."""
        return self.mailbox_max_message_bytes.get(mailbox.lower(), self.max_message_bytes)

    def category(self, key: str) -> str:
        return self.categories[key][0] if key in self.categories else key

    def sources(self) -> tuple[tuple[str, str], ...]:
        return self.inbox_sources or ((self.main_mailbox, "inbox"),)


# ----------------------------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class ParsedMemo:
    """An inbound memo as read: the message (None when unreadable) and the findings that make it invalid."""

    message: MemoMessage | None
    errors: tuple[Finding, ...]

    @property
    def valid(self) -> bool:
        return self.message is not None and not self.errors


def parse_inbound(xml: bytes) -> ParsedMemo:
    """Parse and validate an inbound memo (1.1 or 1.2). The sender's rights (mandatory, legal
    notification) are NgDP's business, not ours, so those checks are relaxed."""
    try:
        message, findings = memolib.parse_and_validate(
            xml, mandatory_allowed=True, legal_notification_allowed=True
        )
    except InputError as exc:  # UnsafeXmlError: DTD/entity tricks
        return ParsedMemo(None, (Finding("xml.unsafe", str(exc)),))
    errors = tuple(f for f in findings if f.severity != "warning")
    if message is None and not errors:
        errors = (Finding("memo.message", "the document could not be read as a MeMo message"),)
    return ParsedMemo(message, errors)


def attached_memo(mail: MailMessage) -> MemoMessage | None:
    """The first MeMo attached to a mail (e.g. a forwarded Digital Post message), for ``memo:`` rules."""
    for att in mail.attachments:
        if att.content is None or not att.name.lower().endswith(".xml"):
            continue
        if b"DigitalPost.dk/MeMo-1" not in att.content[:4096]:
            continue
        try:
            return memolib.parse(att.content)
        except InputError:
            continue
    return None


# ----------------------------------------------------------------------------------------------- items


def _text_of(content: bytes) -> str:
    return content[:ATTACHMENT_TEXT_CAP].decode("utf-8", errors="replace")


_TEXT_TYPES = ("text/", "application/json", "application/xml")
_TEXT_EXTENSIONS = (".json", ".xml", ".txt", ".csv", ".html", ".htm")


def is_text_attachment(name: str, content_type: str) -> bool:
    ctype = content_type.lower().split(";")[0].strip()
    return (
        ctype.startswith(_TEXT_TYPES)
        or ctype.endswith(("+xml", "+json"))
        or name.lower().endswith(_TEXT_EXTENSIONS)
    )


def _flag(value: bool | None) -> str | None:
    return None if value is None else ("true" if value else "false")


def memo_fields(message: MemoMessage) -> dict[str, str]:
    """MeMo fields by the rule engine's names (``memo:<name>``); absent ones are left out."""
    h = message.header
    cd = h.content_data
    fields: dict[str, str | None] = {
        "sender_id": h.sender.sender_id,
        "sender_id_type": h.sender.id_type,
        "recipient_id": h.recipient.recipient_id,
        "recipient_contact_point": h.recipient.contact_point.contact_point_id
        if h.recipient.contact_point
        else None,
        "sender_contact_point": h.sender.contact_point.contact_point_id if h.sender.contact_point else None,
        "kle": cd.kle_data.subject_key if cd and cd.kle_data else None,
        "case_id": cd.case_id.case_id if cd and cd.case_id else None,
        "message_type": h.message_type,
        "label": h.label,
        "message_uuid": h.message_uuid,
        "legal_notification": _flag(h.legal_notification),
        "mandatory": _flag(h.mandatory),
        "post_type": h.post_type,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _main_text(message: MemoMessage) -> str:
    if message.body is None:
        return message.header.notification or ""
    for f in message.body.main_document.files:
        fmt = f.encoding_format.lower()
        if fmt.startswith("text/html"):
            return html_to_text(f.content[:BODY_TEXT_CAP].decode("utf-8", errors="replace"))
        if fmt.startswith("text/"):
            return f.content[:BODY_TEXT_CAP].decode("utf-8", errors="replace")
    return ""


def memo_item(
    message: MemoMessage, xml: bytes, *, from_address: str | None = None, to: Sequence[str] = ()
) -> InboundItem:
    """What the rules see of a parsed memo."""
    h = message.header
    original = (h.forward_data.original_sender,) if h.forward_data else ()
    files = [
        AttachmentText(
            f.filename, _text_of(f.content) if is_text_attachment(f.filename, f.encoding_format) else None
        )
        for f in message.files()
    ]
    files.append(AttachmentText(f"{h.message_uuid}.memo.xml", _text_of(xml)))
    from_ = tuple(v for v in (from_address, h.sender.label, h.sender.sender_id) if v)
    return InboundItem(
        kind="memo",
        subject=h.label,
        body=_main_text(message),
        from_=from_,
        original_from=original,
        to=tuple(to),
        recipients=tuple(to),
        attachments=tuple(files),
        memo=memo_fields(message),
    )


def mail_item(mail: MailMessage, memo: MemoMessage | None = None) -> InboundItem:
    """What the rules see of a mail (secure mail, a business receipt mail). A MeMo attached to the mail
    (``memo``, parsed by the caller) contributes its fields."""
    body = mail.body[:BODY_TEXT_CAP]
    text = html_to_text(body) if mail.body_type == "html" else body
    original = [
        v
        for name in ("X-Original-From", "X-Original-Sender", "Resent-From", "Sender")
        for v in [mail.header(name)]
        if v
    ]
    from_ = [mail.sender.address, mail.sender.name] if mail.sender else []
    atts = tuple(
        AttachmentText(
            a.name,
            _text_of(a.content)
            if a.content is not None and is_text_attachment(a.name, a.content_type)
            else None,
        )
        for a in mail.attachments
    )
    return InboundItem(
        kind="mail",
        subject=mail.subject,
        body=text,
        from_=tuple(v for v in from_ if v),
        original_from=tuple(original),
        to=tuple(a.address for a in mail.to),
        recipients=tuple(a.address for a in mail.all_recipients),
        headers=tuple((h.name, h.value) for h in mail.headers),
        attachments=atts,
        memo=memo_fields(memo) if memo is not None else {},
    )


def gateway_reply_address(settings: InboundSettings, message: MemoMessage, mailbox: str) -> str | None:
    """From/Reply-To of a delivered memo: answers go out as our recipient contact point when ``mailbox``
    may send as it, else as the organisation's CVR (``domain.inbound_view.reply_address``)."""
    cp = message.header.recipient.contact_point
    ours = cp.contact_point_id.lower() if cp else None
    allowed = settings.sender_contact_points.get(mailbox.lower(), frozenset())
    sender = ours if ours is not None and ours in allowed else settings.organisation_cvr
    return reply_address(message, sender, settings.gateway_domain)


def _mapped(settings: InboundSettings, message: MemoMessage) -> tuple[str | None, ContactPointRoute | None]:
    cp = message.header.recipient.contact_point
    cp_id = cp.contact_point_id.lower() if cp else None
    return cp_id, settings.contact_points.get(cp_id) if cp_id else None


def memo_rule_item(settings: InboundSettings, message: MemoMessage, xml: bytes) -> InboundItem:
    """What the rules see of a memo: its fields, and From/To as they would be without a rule."""
    _, mapped = _mapped(settings, message)
    provisional = mapped.mailbox if mapped and mapped.mailbox else settings.main_mailbox
    return memo_item(
        message,
        xml,
        from_address=gateway_reply_address(settings, message, provisional),
        to=(provisional,),
    )


# ----------------------------------------------------------------------------------------------- the route


@dataclass(frozen=True)
class Undeliverable:
    """The target a memo was routed to first, and the error that made the gateway give up on it."""

    mailbox: str
    folder: str
    error: str


@dataclass(frozen=True)
class InboundRoute:
    """Where one inbound memo is delivered, and what its delivered mail says about why."""

    mailbox: str
    folder: str
    valid: bool = True
    banner: RouteBanner | None = None
    contact_point: str | None = None  # the recipient contact point named by the memo (lower case)
    rules: tuple[str, ...] = ()  # every rule that matched (their hits are counted once)
    deliver_rule: str | None = None  # the rule whose deliver_to decided the target
    reasons: tuple[str, ...] = ()  # why each rule matched (CPR-masked), shown in the mail
    note: str = ""  # how the target was chosen when no rule decided
    categories: tuple[str, ...] = ()
    mark_read: bool = False
    archive_to: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()  # an invalid memo's findings (CPR-masked), for its INVALID receipt
    undeliverable: Undeliverable | None = None  # set when this route replaced one that kept failing
    addressed_to: str | None = None  # the CVR a memo names when it is not this organisation's
    inbox_rules: tuple[str, ...] = ()  # the mailbox owner's Outlook inbox rules that acted on the mail
    importance: str | None = None  # set by an inbox rule's markImportance

    def fall_back(self, settings: InboundSettings, error: str) -> InboundRoute:
        """This route replaced by the main mailbox, with a banner naming the target and the error."""
        return replace(
            self,
            mailbox=settings.main_mailbox,
            folder=settings.delivery_folder,
            banner="undeliverable",
            undeliverable=Undeliverable(self.mailbox, self.folder, mask_cprs(error)[:500]),
            categories=tuple(dict.fromkeys([*self.categories, settings.category("warning")])),
            archive_to=(),
        )

    def to_json(self) -> dict[str, object]:
        failed = self.undeliverable
        return {
            "mailbox": self.mailbox,
            "folder": self.folder,
            "valid": self.valid,
            "banner": self.banner,
            "contact_point": self.contact_point,
            "rules": list(self.rules),
            "deliver_rule": self.deliver_rule,
            "reasons": list(self.reasons),
            "note": self.note,
            "categories": list(self.categories),
            "mark_read": self.mark_read,
            "archive_to": list(self.archive_to),
            "errors": list(self.errors),
            "failed_mailbox": failed.mailbox if failed else None,
            "failed_folder": failed.folder if failed else None,
            "failed_error": failed.error if failed else None,
            "addressed_to": self.addressed_to,
            "inbox_rules": list(self.inbox_rules),
            "importance": self.importance,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> InboundRoute:
        """Read a stored route; keys an older version did not write take their defaults."""
        banner = data.get("banner")
        known: RouteBanner | None = next((b for b in _BANNERS if b == banner), None)
        failed = (
            Undeliverable(
                _text(data.get("failed_mailbox")),
                _text(data.get("failed_folder")),
                _text(data.get("failed_error")),
            )
            if known == "undeliverable" or data.get("failed_mailbox")
            else None
        )
        return cls(
            mailbox=_text(data.get("mailbox")),
            folder=_text(data.get("folder")),
            valid=bool(data.get("valid", True)),
            banner=known,
            contact_point=_text(data.get("contact_point")) or None,
            rules=_strings(data.get("rules")),
            deliver_rule=_text(data.get("deliver_rule")) or None,
            reasons=_strings(data.get("reasons")),
            note=_text(data.get("note")),
            categories=_strings(data.get("categories")),
            mark_read=bool(data.get("mark_read")),
            archive_to=_strings(data.get("archive_to")),
            errors=_strings(data.get("errors")),
            undeliverable=failed,
            addressed_to=_text(data.get("addressed_to")) or None,
            inbox_rules=_strings(data.get("inbox_rules")),
            importance=_text(data.get("importance")) or None,
        )


def invalid_route(settings: InboundSettings, errors: Sequence[Finding]) -> InboundRoute:
    """Invalid memos: the main mailbox, an explanation banner, an INVALID receipt; rules are not asked."""
    return InboundRoute(
        mailbox=settings.main_mailbox,
        folder=settings.delivery_folder,
        valid=False,
        banner="invalid",
        categories=(settings.category("inbound"), settings.category("warning")),
        errors=tuple(mask_cprs(str(f)) for f in errors)[:50],
    )


def unshown_route(
    settings: InboundSettings, error: str, *, valid: bool, errors: Sequence[Finding] = ()
) -> InboundRoute:
    """A memo the gateway could not read, route or show (``error``: what went wrong, kept as the route's
    note): the main mailbox, the raw XML and a banner saying why; rules are not asked again. ``valid``
    and ``errors`` decide its business receipt, as for any other memo."""
    return InboundRoute(
        mailbox=settings.main_mailbox,
        folder=settings.delivery_folder,
        valid=valid,
        banner="unshown",
        note=mask_cprs(error)[:500],
        categories=(settings.category("inbound"), settings.category("warning")),
        errors=tuple(mask_cprs(str(f)) for f in errors)[:50],
    )


def memo_route(settings: InboundSettings, message: MemoMessage, decision: RoutingDecision) -> InboundRoute:
    """Where a valid memo goes: (1) the rules, (2) the recipient contact point's mailbox, (3) the main
    mailbox with the unmapped-contact-point banner. A memo addressed to another organisation (a CVR not
    ours) goes to the main mailbox with its own banner whatever the rules say: NgDP should not have sent it
    here, and no function mailbox should treat it as its own post."""
    s = settings
    cp_id, mapped = _mapped(settings, message)
    categories = [s.category("inbound")]
    banner: RouteBanner | None = None
    foreign = foreign_recipient(settings, message)
    if foreign is not None:
        target, folder, banner = s.main_mailbox, None, "foreign"
        note = text(Text.ROUTE_NOTE_FOREIGN, s.language, cvr=foreign)
        categories.append(s.category("warning"))
    elif decision.deliver_mailbox:
        target, folder, note = decision.deliver_mailbox, decision.deliver_folder, ""
    elif mapped is not None and mapped.mailbox:
        target, folder = mapped.mailbox, mapped.folder
        note = text(
            Text.ROUTE_NOTE_CONTACT_POINT, s.language, name=mapped.name, id=mapped.id, mailbox=mapped.mailbox
        )
    else:
        target, folder, banner = s.main_mailbox, None, "unmapped"
        note = text(Text.ROUTE_NOTE_MAIN_MAILBOX, s.language)
        categories.append(s.category("warning"))
    categories.extend(decision.categories)
    return InboundRoute(
        mailbox=target,
        folder=folder or s.delivery_folder,
        valid=True,
        banner=banner,
        contact_point=cp_id,
        rules=decision.matched_rules,
        deliver_rule=decision.deliver_rule,
        reasons=tuple(mask_cprs(r) for r in plain_reasons(decision, s.language)),
        note=note,
        categories=tuple(dict.fromkeys(categories)),
        mark_read=decision.mark_read and foreign is None,
        archive_to=() if foreign else tuple(a for a in decision.archive_to if a.lower() != target.lower()),
        addressed_to=foreign,
    )


_FIELD_WORDS: Mapping[str, Text] = {
    "from": Text.INB_FIELD_FROM,
    "original_from": Text.INB_FIELD_ORIGINAL_FROM,
    "to": Text.INB_FIELD_TO,
    "recipients": Text.INB_FIELD_RECIPIENTS,
    "subject": Text.INB_FIELD_SUBJECT,
    "body": Text.INB_FIELD_BODY,
    "attachment_name": Text.INB_FIELD_ATTACHMENT_NAME,
    "attachment_content": Text.INB_FIELD_ATTACHMENT_CONTENT,
    "memo:sender_id": Text.INB_FIELD_SENDER_ID,
    "memo:sender_id_type": Text.INB_FIELD_SENDER_ID_TYPE,
    "memo:recipient_id": Text.INB_FIELD_RECIPIENT_ID,
    "memo:recipient_contact_point": Text.INB_FIELD_RECIPIENT_CONTACT_POINT,
    "memo:sender_contact_point": Text.INB_FIELD_SENDER_CONTACT_POINT,
    "memo:kle": Text.INB_FIELD_KLE,
    "memo:case_id": Text.INB_FIELD_CASE_ID,
    "memo:message_type": Text.INB_FIELD_MESSAGE_TYPE,
    "memo:label": Text.INB_FIELD_LABEL,
    "memo:message_uuid": Text.INB_FIELD_MESSAGE_UUID,
    "memo:legal_notification": Text.INB_FIELD_LEGAL_NOTIFICATION,
    "memo:mandatory": Text.INB_FIELD_MANDATORY,
    "memo:post_type": Text.INB_FIELD_POST_TYPE,
}
_OP_WORDS: Mapping[str, Text] = {
    "equals": Text.INB_OP_EQUALS,
    "contains": Text.INB_OP_CONTAINS,
    "regex": Text.INB_OP_REGEX,
    "exists": Text.INB_OP_EXISTS,
}


def describe_condition(condition: RuleCondition, language: str = "da") -> str:
    """A rule's condition in words for a case worker; a regular expression is never shown."""
    if condition.field.lower().startswith("header:"):
        field_ = text(Text.INB_FIELD_HEADER, language, name=condition.field[7:])
    else:
        field_ = text(_FIELD_WORDS.get(condition.field.lower(), Text.INB_FIELD_OTHER), language)
    return text(_OP_WORDS[condition.op], language, field=field_, value=condition.value or "")


def describe_rule(rule: RoutingRule, language: str = "da") -> str:
    """A rule in words: its ``description`` from the gateway file, else its conditions in plain words."""
    if rule.description:
        return rule.description.rstrip(".")
    joiner = text(Text.INB_RULE_AND if rule.match == "all" else Text.INB_RULE_OR, language)
    return joiner.join(describe_condition(c, language) for c in rule.conditions)


def plain_reasons(decision: RoutingDecision, language: str = "da") -> list[str]:
    """Why each matching rule acted, for the delivered mail: the rule's name and a plain description."""
    return [
        text(Text.INB_RULE_REASON, language, name=t.rule.name, description=describe_rule(t.rule, language))
        for t in decision.matched
    ]


def foreign_recipient(settings: InboundSettings, message: MemoMessage) -> str | None:
    """The recipient CVR when the memo names an organisation other than this one (None otherwise: a
    citizen, our own CVR, or no organisation configured)."""
    recipient = message.header.recipient
    if recipient.id_type.upper() != "CVR" or not settings.organisation_cvr:
        return None
    cvr = recipient.recipient_id.strip()
    return None if cvr == settings.organisation_cvr else cvr


def route_banner(settings: InboundSettings, route: InboundRoute, memo_uuid: str = "") -> Banner | None:
    """The banner a route calls for (unmapped contact point, undeliverable target, another organisation's
    memo: named by ``memo_uuid`` in its support line); invalid memos get theirs from the findings."""
    if route.banner == "undeliverable":
        failed = route.undeliverable or Undeliverable("", "", "")
        return undeliverable_banner(failed.mailbox, failed.folder, failed.error, settings.language)
    if route.banner == "foreign":
        return foreign_banner(
            route.addressed_to or "", settings.organisation_cvr, settings.language, memo_uuid
        )
    if route.banner != "unmapped":
        return None
    cp_id = route.contact_point
    known = settings.contact_points.get(cp_id) if cp_id else None
    return unmapped_banner(cp_id, known.name if known else None, known is not None, settings.language)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def _strings(value: object) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    return ()
