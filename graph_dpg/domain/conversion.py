"""Outlook mail → MeMo messages: the pure half of outbound (docs/product.md, "Validation before sending",
"Conversion").

``plan_outbound`` takes one mail as read from the sending function mailbox and returns either the MeMo
messages to send (one per Digital Post recipient; for mass delivery one template plus a list of recipients)
or the findings that stop it. Nothing here does I/O; the outbound service fetches the mail, persists the
plan and sends.

Checks, in the order a sender would want to hear about them:
1. every gateway address parses (grammar) and its identifiers validate (CPR date/century, CVR mod 11);
2. the sending mailbox may send as the address's CVR / sender contact point;
3. the MemoHeader*.json leak guard, and the MemoHeader*.json overrides themselves;
4. mass delivery: one mass address alone, ``masseforsendelse.txt`` valid, count equal to the address's N;
5. attachments per channel policy (count, type by extension and content, file names, size);
6. the built MeMo validates against the XSD and the business rules.

One recipient, one letter: addresses are compared after parsing (case, ``DDMMYY-SSSS``), so the same
recipient in To and Cc, or written with and without the dash, gets one letter per (channel, sender,
recipient, recipient contact point); copies that differ only in ``-reply`` give one replyable letter, and
a warning says so. The special attachments (``masseforsendelse.txt``, ``body.pdf``, ``MemoHeader.json``,
``MemoHeaderInfo.json``) must each be there at most once and be named exactly: two of them, or a name that
only looks like one (a zero-width space, full-width letters), is refused with the names, never resolved
by picking one. A ``masseforsendelse.txt`` on a mail without a mass address is refused too: it would reach
every recipient as an attachment, with every other recipient's number in it.

Text is UTF-8 throughout: Graph hands the body over as Unicode already, and plain-text attachments in a legacy
charset (cp1252/latin-1, as older line-of-business systems write) are re-encoded as UTF-8 so æ, ø and å
survive.
"""

from __future__ import annotations

import base64
import functools
import re
import unicodedata
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from graph_dpg.core.errors import AddressError, Finding, MemoError
from graph_dpg.core.filenames import sanitize_filename
from graph_dpg.domain.addresses import (
    Channel,
    GatewayAddress,
    is_gateway_domain,
    parse_address,
    validate_address,
)
from graph_dpg.domain.html_text import (
    SanitizedHtml,
    html_to_text,
    sanitize_html_checked,
    text_to_html,
    wrap_document,
)
from graph_dpg.domain.identifiers import mask_cpr, mask_cprs
from graph_dpg.domain.local_time import local_time
from graph_dpg.domain.mail import Attachment, MailMessage
from graph_dpg.domain.mass import (
    BODY_PDF_NAME,
    MASS_FILE_NAME,
    check_count,
    iter_mass_recipients,
    parse_mass_file,
)
from graph_dpg.domain.meetings import meeting_letter
from graph_dpg.domain.memo_header import (
    HEADER_FILE_NAMES,
    HeaderOverrides,
    is_header_file,
    leak_findings,
    parse_header_file,
)
from graph_dpg.domain.policies import PDF as PDF_TYPE
from graph_dpg.domain.policies import (
    ChannelPolicy,
    canonical_type,
    check_attachments,
    embedded_image_type,
    sniff_type,
)
from graph_dpg.domain.smime import (
    MESSAGE_CLASS_PROPERTY,
    OpenedMessage,
    ReadableContent,
    Verdict,
    is_smime_mail,
    verdict_text,
)
from graph_dpg.domain.texts import Text, text
from graph_dpg.memo import build, validate
from graph_dpg.memo.model import (
    AdditionalContentData,
    AttentionData,
    AttentionPerson,
    CaseID,
    ContactPoint,
    ContentData,
    Document,
    File,
    KLEData,
    MemoMessage,
    MessageBody,
    MessageHeader,
    Recipient,
    ReplyData,
    Sender,
)

LABEL_MAX = 256  # memoTextType


@dataclass(frozen=True)
class OutboundContext:
    organisation_cvr: str
    organisation_name: str
    gateway_domain: str
    mailbox_address: str
    mailbox_configured: bool
    allowed_cvrs: frozenset[str]
    allowed_sender_contact_points: frozenset[str]
    policies: Mapping[Channel, ChannelPolicy]
    internal_domains: frozenset[str] | set[str]
    memo_version: str = "1.2"
    mandatory_allowed: bool = False
    legal_notification_allowed: bool = False
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    language: str = "da"
    #: NgDP's limits per recipient contact point (id → (memoSizeThresholdMB, allowedNumberOfAttachments)),
    #: as last read from NgDP; stricter than the channel policy where a contact point says so.
    contact_point_limits: Mapping[str, tuple[float | None, int | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class MemoPlan:
    """One MeMo to send. Mass-delivery rows after the first carry no XML: ``template_uuid`` names the row
    whose XML is re-addressed for them (``render_from_template``), so 100,000 recipients do not store
    100,000 copies of the same letter."""

    message_uuid: str
    recipient_kind: str  # "cpr" | "cvr"
    recipient_id: str = field(repr=False)
    recipient_contact_point: str | None = None
    memo_xml: bytes | None = field(default=None, repr=False)
    template_uuid: str | None = None
    line: int | None = None


@dataclass
class Plan:
    memos: list[MemoPlan] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    channel: Channel = Channel.NGDP
    #: A mass delivery planned with ``stream_mass=True``: ``memos`` holds the template MeMo only, and this
    #: yields the other recipients' rows one at a time (each call afresh, with new messageUUIDs), so
    #: 100,000 recipients are never in memory at once (issue 18). None otherwise.
    more: Callable[[], Iterator[MemoPlan]] | None = field(default=None, repr=False)
    #: MeMo messages in all: ``len(memos)`` plus what ``more`` yields.
    total: int = 0

    def all_memos(self) -> Iterator[MemoPlan]:
        """Every MeMo of the plan, the template first (``more`` read afresh)."""
        yield from self.memos
        if self.more is not None:
            yield from self.more()

    def materialise(self) -> None:
        """Read ``more`` into ``memos`` (for a step that needs every recipient at once)."""
        if self.more is not None:
            self.memos.extend(self.more())
            self.more = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity != "error"]


def _shown(address: str) -> str:
    # Invisible characters (NUL, zero-width space, ...) are written as \u escapes (e.g. \u200b): the sender
    # sees what is wrong, and the finding stays storable (PostgreSQL text and JSONB refuse NUL, so the job
    # was never answered).
    return "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in mask_cprs(address))


#: The Internet Message-ID of a memo delivered into Outlook; a reply's In-Reply-To names it.
REPLY_REFERENCE = re.compile(
    r"<memo-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})@graph-dpg\.invalid>"
)


def delivered_message_id(memo_uuid: str) -> str:
    return f"<memo-{memo_uuid.lower()}@graph-dpg.invalid>"


def replied_memo_uuid(msg: MailMessage) -> str | None:
    """The messageUUID of the delivered memo this mail answers (In-Reply-To first, then References)."""
    for name in ("In-Reply-To", "References"):
        found = REPLY_REFERENCE.findall(msg.header(name) or "")
        if found:
            return str(found[-1] if name == "References" else found[0]).lower()
    return None


#: Why a secure mail (S/MIME) in Sent Items cannot become a letter, by the opener's reason ("no-key",
#: "unsupported", "damaged"; "unopened" when no opener looked at it): what happened and what to do, once.
_SECURE_REFUSAL = {
    "no-key": Text.SMIME_OUT_ENCRYPTED,
    "unsupported": Text.SMIME_OUT_DAMAGED,
    "damaged": Text.SMIME_OUT_DAMAGED,
    "unopened": Text.SMIME_OUT_DAMAGED,
}


def secure_refusal(reason: str, language: str = "da") -> Finding:
    """The error finding of a case worker's secure mail the gateway cannot read: encrypted to the
    recipient (no key of ours opens it: send it again unencrypted) or damaged/unsupported."""
    return Finding(f"smime.{reason}", text(_SECURE_REFUSAL.get(reason, Text.SMIME_OUT_DAMAGED), language))


def unwrap_secure(
    msg: MailMessage, opened: OpenedMessage, content: ReadableContent, language: str = "da"
) -> tuple[MailMessage, list[Finding]]:
    """A case worker's signed (clear ``multipart/signed`` or opaque ``signed-data``, [MS-OXOSMIME]
    2.1.3.1/2.1.3.2) mail as the letter is made of: body and attachments from the signed content, the
    ``smime.p7m`` Exchange shows dropped, addresses, subject and headers as Exchange read them. The
    findings note each signature for the receipt (a warning: who signed, the verdict); a signature that
    does not hold (``Verdict.INVALID``: the content was changed after signing) is an error, nothing is
    sent. Untrusted or expired signatures are noted, not refused: the case worker sent it from the
    organisation's own mailbox, and the letter carries no signature anyway."""
    findings: list[Finding] = []
    for check in opened.signatures:
        signer = (
            check.signer.describe(language) if check.signer else text(Text.SMIME_UNKNOWN_SIGNER, language)
        )
        verdict = verdict_text(check.verdict, language)
        findings.append(
            Finding(
                f"smime.signed.{check.verdict.value}",
                text(Text.SMIME_OUT_SIGNED, language, signer=signer, verdict=verdict),
                severity="warning",
            )
        )
    if any(c.verdict is Verdict.INVALID for c in opened.signatures):
        findings.append(Finding("smime.invalid", text(Text.SMIME_OUT_INVALID, language)))
    properties = {k: v for k, v in msg.extended_properties.items() if k != MESSAGE_CLASS_PROPERTY}
    readable = replace(
        msg,
        body=content.body,
        body_type=content.body_type,
        attachments=list(content.attachments),
        has_attachments=bool(content.attachments),
        extended_properties=properties,
    )
    return readable, findings


def plan_outbound(
    msg: MailMessage,
    ctx: OutboundContext,
    *,
    replying_to: MemoMessage | None = None,
    replying_to_uuid: str | None = None,
    stream_mass: bool = False,
) -> Plan:
    """``replying_to``: the memo the mail answers (see ``replied_memo_uuid``), if the gateway has it.

    ``stream_mass``: a mass delivery's recipients after the first are not listed in ``plan.memos`` but
    yielded by ``plan.more`` (memory flat in the number of recipients; the service streams them into the
    store). Without it every row is in ``plan.memos`` (tests, the corpus, ``graph-dpg check``)."""
    plan = Plan()
    findings = plan.findings
    if is_smime_mail(msg):
        # The service unwraps signed mail first (``unwrap_secure``); what still is S/MIME here was not
        # opened, and its one smime.p7m must never become the letter.
        findings.append(secure_refusal("unopened", ctx.language))
        return plan
    # A meeting request/update/cancellation: the letter says when and where, and carries AFTALE.
    meeting = meeting_letter(msg, ctx.language)
    if isinstance(meeting, Finding):
        findings.append(meeting)
        return plan
    if meeting is not None:
        msg = meeting.message
        findings += meeting.findings
    recipients = msg.all_recipients
    # Everything under the gateway domain counts, also with an unknown or missing channel: such a mail must
    # get an error receipt naming the problem, not be ignored (the hostile-input corpus in tests/corpus/).
    gateway = [r.address for r in recipients if is_gateway_domain(r.address, ctx.gateway_domain)]
    if not gateway:
        findings.append(Finding("address.none", "the mail has no Digital Post recipient", "recipients"))
        return plan

    # 1./2. addresses and sender authorisation
    parsed: list[GatewayAddress] = []
    for address in gateway:
        try:
            addr = parse_address(address, ctx.gateway_domain)
        except AddressError as exc:
            findings.append(
                Finding(
                    "address.grammar",
                    f"{_shown(address)}: {exc.reason}",
                    "recipients",
                    params={"recipient": _shown(address)},
                )
            )
            continue
        for f in validate_address(addr):
            findings.append(
                replace(
                    f,
                    path="recipients",
                    message=f"{_shown(address)}: {mask_cprs(f.message)}",
                    params={**f.params, "recipient": _shown(address)},
                )
            )
        if not ctx.mailbox_configured:
            findings.append(
                Finding(
                    "sender.mailbox",
                    f"{ctx.mailbox_address} is not a function mailbox of the gateway",
                    "from",
                    params={"mailbox": ctx.mailbox_address},
                )
            )
        elif addr.sender_kind == "cvr" and addr.sender_id not in ctx.allowed_cvrs:
            findings.append(
                Finding(
                    "sender.cvr",
                    f"{ctx.mailbox_address} may not send as CVR {addr.sender_id}",
                    "from",
                    params={"mailbox": ctx.mailbox_address, "cvr": addr.sender_id},
                )
            )
        elif addr.sender_kind == "contact_point" and addr.sender_id not in ctx.allowed_sender_contact_points:
            findings.append(
                Finding(
                    "sender.contact_point",
                    f"{ctx.mailbox_address} may not send as sender contact point {addr.sender_id}",
                    "from",
                    params={"mailbox": ctx.mailbox_address, "contact_point": addr.sender_id},
                )
            )
        parsed.append(addr)
    findings[:] = _dedupe(findings)
    unparsed = len(gateway) - len(parsed)
    parsed = _one_per_recipient(parsed, findings)
    if parsed:
        plan.channel = parsed[0].channel

    # 3. leak guard, special files and header overrides
    names = [a.name for a in msg.attachments]
    mass_addresses = [a for a in parsed if a.is_mass]
    findings += _special_file_findings(names, mass=bool(mass_addresses))
    findings += leak_findings(
        names,
        [r.address for r in recipients],
        is_digital_post=[r.address in gateway for r in recipients],
        internal_domains=ctx.internal_domains,
    )
    overrides = HeaderOverrides()
    for att in sorted(
        (a for a in msg.attachments if is_header_file(a.name)),
        key=lambda a: a.name.lower() != "memoheaderinfo.json",
    ):
        o, fs = parse_header_file(att.name, att.content or b"")
        overrides = overrides.merged(o)
        findings += fs
    if overrides.reply_by is not None and overrides.reply_by <= ctx.created:
        findings.append(
            Finding(
                "memoheader.reply_by",
                f"replyByDateTime {overrides.reply_by:%Y-%m-%d %H:%M} is not in the future",
                "MemoHeader.json",
                params={"when": local_time(overrides.reply_by)},
            )
        )
    if overrides.mandatory and not ctx.mandatory_allowed:
        findings.append(
            Finding("memoheader.mandatory", "the organisation may not send mandatory post", "MemoHeader.json")
        )
    if overrides.legal_notification and not ctx.legal_notification_allowed:
        findings.append(
            Finding(
                "memoheader.legal",
                "the organisation may not send legal notifications (forkyndelse)",
                "MemoHeader.json",
            )
        )

    # 4. mass delivery
    mass_recipients: list[tuple[str, str, int | None]] = []
    mass_data: bytes | None = None
    body_pdf: Attachment | None = None
    special = {n.strip().lower() for n in names if is_header_file(n)}
    if mass_addresses:
        if len(parsed) + unparsed != 1:
            findings.append(
                Finding(
                    "mass.alone",
                    "a mass delivery must be the only Digital Post recipient of the mail",
                    "recipients",
                )
            )
        mass_file = next((a for a in msg.attachments if a.name.strip().lower() == MASS_FILE_NAME), None)
        if mass_file is None:
            findings.append(
                Finding("mass.file", f"attach {MASS_FILE_NAME} with one CPR or CVR per line", "attachments")
            )
        else:
            mass = parse_mass_file(mass_file.content or b"", keep_recipients=not stream_mass)
            findings += list(mass.findings)
            findings += check_count(mass, mass_addresses[0].mass_count or 0)
            if stream_mass:
                mass_data = mass_file.content or b""
                head = next(iter_mass_recipients(mass_data), None)
                mass_recipients = [(head.kind, head.id, head.line)] if head is not None else []
                plan.total = mass.count
            else:
                mass_recipients = [(r.kind, r.id, r.line) for r in mass.recipients]
        body_pdf = next((a for a in msg.attachments if a.name.strip().lower() == BODY_PDF_NAME), None)
        special |= {MASS_FILE_NAME, BODY_PDF_NAME}

    # 5. the body and the attachments per channel
    sanitized: SanitizedHtml | None = None
    if body_pdf is None and msg.body_type == "html":
        images = _image_data_uris(msg)
        sanitized = sanitize_html_checked(msg.body, images)
        findings += sanitized.findings
        missing = sorted(sanitized.image_cids - images.keys())
        if missing:
            # A MeMo document has no MIME parts: a cid: reference nothing fills shows as a broken image.
            listed = ", ".join(_shown(repr(f"cid:{cid}")) for cid in missing[:5])
            findings.append(
                Finding(
                    "html.missing-image",
                    f"the body shows {len(missing)} image(s) that are not attached as PNG, JPEG or GIF "
                    f"({listed}); the letter shows them as missing images",
                    "body",
                    params={"count": len(missing)},
                    severity="warning",
                )
            )
    shown_cids = sanitized.image_cids if sanitized is not None else frozenset()
    attached = [a for a in msg.attachments if a.name.strip().lower() not in special]
    # An image the body shows goes inside the HTML main document; everything else is sent as a file and
    # counts, also when Outlook flags it inline.
    documents = [a for a in attached if not _shown_image(a, shown_cids)]
    for channel in sorted({a.channel for a in parsed}):
        policy = ctx.policies.get(channel)
        if policy is not None:
            findings += [
                replace(f, message=f"{f.message} ({channel.value})") if len(parsed) > 1 else f
                for f in check_attachments(policy, attached, body_cids=shown_cids)
            ]
    if body_pdf is not None:
        # body.pdf becomes the main document of every memo: its content must really be a PDF (an executable
        # renamed body.pdf passed unchecked, as it is not among the attachments checked above).
        main_only = ChannelPolicy(plan.channel, allowed_types={"pdf": frozenset({PDF_TYPE})})
        findings += check_attachments(main_only, [body_pdf])
    findings[:] = _dedupe(findings)
    findings += _reply_findings(replying_to, replying_to_uuid, mass=bool(mass_addresses), now=ctx.created)
    if plan.errors or not parsed:
        return plan

    # 6. build and validate
    try:
        template = _build_memo(msg, parsed[0], ctx, overrides, documents, body_pdf, sanitized, findings)
        if meeting is not None and meeting.action is not None and template.body is not None:
            main = template.body.main_document
            main = replace(main, actions=(*main.actions, meeting.action))
            template = replace(template, body=replace(template.body, main_document=main))
    except (MemoError, ValueError) as exc:
        findings.append(Finding("memo.build", str(exc), "memo"))
        return plan
    if mass_addresses:
        recipients_ = mass_recipients
    else:
        recipients_ = [(a.recipient_kind or "cpr", a.recipient_id or "", None) for a in parsed]
    first = True
    template_uuid = ""
    for i, (kind, rid, line) in enumerate(recipients_):
        addr = parsed[0] if mass_addresses else parsed[i]
        message_uuid = str(uuid.uuid4())
        if mass_addresses and not first:
            plan.memos.append(MemoPlan(message_uuid, kind, rid, None, None, template_uuid, line))
            continue
        memo = _address(template, addr, kind, rid, message_uuid, ctx, overrides, replying_to)
        try:
            xml = build(memo, ctx.memo_version)
        except (MemoError, ValueError) as exc:
            # E.g. a subject or file name with NUL, U+FFFE or a lone surrogate, which no XML can carry: the
            # sender gets a refusal instead of the job failing on every cycle without a receipt.
            findings.append(Finding("memo.build", f"the message cannot be written as MeMo: {exc}", "memo"))
            plan.memos.clear()
            return plan
        problems = validate(
            xml,
            mandatory_allowed=ctx.mandatory_allowed,
            legal_notification_allowed=ctx.legal_notification_allowed,
        )
        errors = [replace(p, message=mask_cprs(p.message)) for p in problems if p.severity == "error"]
        if errors:
            findings += errors
            plan.memos.clear()
            return plan
        policy = ctx.policies.get(addr.channel)
        if policy is not None and len(xml) > policy.max_message_bytes:
            findings.append(
                Finding(
                    "size.memo",
                    f"the Digital Post message would be {len(xml) / 1_048_576:.1f} MB; "
                    f"{addr.channel.value} accepts at most {policy.max_message_bytes / 1_048_576:.1f} MB",
                    "attachments",
                    params={
                        "size_mb": f"{len(xml) / 1_048_576:.1f}",
                        "limit_mb": f"{policy.max_message_bytes / 1_048_576:.1f}",
                    },
                )
            )
            plan.memos.clear()
            return plan
        limit = _contact_point_findings(addr, xml, len(documents), ctx)
        if limit:
            findings += limit
            plan.memos.clear()
            return plan
        plan.memos.append(MemoPlan(message_uuid, kind, rid, addr.recipient_contact_point, xml, None, line))
        if first:
            template_uuid = message_uuid
            first = False
    if mass_data is not None and plan.memos:
        plan.more = functools.partial(_more_mass_memos, mass_data, template_uuid)
    else:
        plan.total = len(plan.memos)
    return plan


def _more_mass_memos(data: bytes, template_uuid: str) -> Iterator[MemoPlan]:
    """The rows of a streamed mass delivery after its template (the file's first recipient)."""
    recipients = iter_mass_recipients(data)
    next(recipients, None)
    for r in recipients:
        yield MemoPlan(str(uuid.uuid4()), r.kind, r.id, None, None, template_uuid, r.line)


def _contact_point_findings(
    addr: GatewayAddress, xml: bytes, attachments: int, ctx: OutboundContext
) -> list[Finding]:
    """The recipient contact point's own limits (docs/facts/ngdp.md, "Contact points"), checked first."""
    cp = addr.recipient_contact_point
    if cp is None or cp not in ctx.contact_point_limits:
        return []
    max_mb, max_attachments = ctx.contact_point_limits[cp]
    out = []
    if max_attachments is not None and attachments > max_attachments:
        out.append(
            Finding(
                "contact_point.attachments",
                f"contact point {cp} accepts at most {max_attachments} attachment(s); "
                f"the mail has {attachments}",
                "attachments",
                params={"limit": max_attachments, "count": attachments},
            )
        )
    if max_mb is not None and len(xml) > max_mb * 1_000_000:
        out.append(
            Finding(
                "contact_point.size",
                f"contact point {cp} accepts messages up to {max_mb:g} MB; "
                f"this one is {len(xml) / 1_000_000:.1f} MB",
                "attachments",
                params={"limit_mb": f"{max_mb:g}", "size_mb": f"{len(xml) / 1_000_000:.1f}"},
            )
        )
    return out


def _reply_findings(
    replying_to: MemoMessage | None, replying_to_uuid: str | None, *, mass: bool, now: datetime
) -> list[Finding]:
    if replying_to_uuid is None:
        return []
    if mass:
        return [Finding("reply.mass", "a reply cannot be a mass delivery", "recipients")]
    if replying_to is None:
        return [
            Finding(
                "reply.unknown",
                f"the answered message {replying_to_uuid} is no longer kept by the gateway; "
                "sent as a new message",
                "In-Reply-To",
                severity="warning",
            )
        ]
    h = replying_to.header
    if not h.reply:
        return [
            Finding(
                "reply.not_allowed",
                f"the message you answered ({h.label!r}) does not allow replies (reply=false); "
                "write a new message to the recipient instead",
                "In-Reply-To",
                params={"label": repr(mask_cprs(h.label))},
            )
        ]
    if h.reply_by_datetime is not None and h.reply_by_datetime < now:
        return [
            Finding(
                "reply.deadline",
                "the reply deadline of the answered message passed on "
                f"{h.reply_by_datetime:%Y-%m-%d %H:%M} UTC",
                "In-Reply-To",
                params={"when": local_time(h.reply_by_datetime)},
            )
        ]
    return []


def _dedupe(findings: Sequence[Finding]) -> list[Finding]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for f in findings:
        key = (f.rule, f.path, f.message)
        if key not in seen:
            seen.add(key)
            out.append(f)
    return out


def _one_per_recipient(parsed: list[GatewayAddress], findings: list[Finding]) -> list[GatewayAddress]:
    """One address per (channel, sender, recipient, recipient contact point), in the order first written;
    replyable when any copy was. Warnings say what was merged."""
    merged: dict[tuple[object, ...], GatewayAddress] = {}
    copies: dict[tuple[object, ...], list[GatewayAddress]] = {}
    for addr in parsed:
        key: tuple[object, ...] = (
            addr.channel,
            addr.sender_kind,
            addr.sender_id,
            addr.recipient_kind,
            addr.recipient_id,
            addr.recipient_contact_point,
            addr.mass_count,
        )
        copies.setdefault(key, []).append(addr)
        first = merged.setdefault(key, addr)
        if addr.reply and not first.reply:
            merged[key] = replace(first, reply=True)
    for key, same in copies.items():
        if len(same) < 2:
            continue
        shown = _shown(replace(merged[key], reply=False).format())
        if len({a.reply for a in same}) > 1:
            findings.append(
                Finding(
                    "address.reply-merged",
                    f"{shown} is written both with and without -reply; one letter is sent, and the "
                    "recipient can reply to it",
                    "recipients",
                    severity="warning",
                    params={"recipient": shown},
                )
            )
        else:
            findings.append(
                Finding(
                    "address.duplicate",
                    f"{shown} is written {len(same)} times (To, Cc, Bcc or spelled differently); one letter "
                    "is sent",
                    "recipients",
                    severity="warning",
                    params={"recipient": shown, "count": len(same)},
                )
            )
    return list(merged.values())


_SPECIAL_NAMES = (MASS_FILE_NAME, BODY_PDF_NAME, *sorted(HEADER_FILE_NAMES))


def _canonical_name(name: str) -> str:
    """A file name as it reads: compatibility forms folded (full-width letters), case folded, invisible
    and white-space characters removed."""
    folded = unicodedata.normalize("NFKC", name).casefold()
    return "".join(c for c in folded if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc"))


def _special_file_findings(names: Sequence[str], *, mass: bool) -> list[Finding]:
    """Each special attachment at most once, named exactly; no recipient list on a letter."""
    findings: list[Finding] = []
    exact: dict[str, list[str]] = {}
    for name in names:
        plain = name.strip().lower()
        if plain in _SPECIAL_NAMES:
            exact.setdefault(plain, []).append(name)
            continue
        canonical = _canonical_name(name)
        lookalike = next((s for s in _SPECIAL_NAMES if canonical == s), None)
        if lookalike is not None and (mass or lookalike not in (MASS_FILE_NAME, BODY_PDF_NAME)):
            findings.append(
                Finding(
                    "attachments.lookalike",
                    f"{_shown(repr(name))} looks like {lookalike} but is not named exactly that; rename it "
                    f"{lookalike} (or give it another name if it is an ordinary attachment)",
                    "attachments",
                    params={"file": _shown(repr(name)), "special": lookalike},
                )
            )
    for special, same in exact.items():
        if special == BODY_PDF_NAME and not mass:
            continue  # an ordinary attachment when the letter is not a mass delivery
        if special == MASS_FILE_NAME and not mass:
            findings.append(
                Finding(
                    "mass.file-without-mass",
                    f"{MASS_FILE_NAME} is only read for a masseforsendelse-<N> address; on this mail it "
                    "would be sent to every recipient, with every other recipient's number in it",
                    "attachments",
                )
            )
        if len(same) > 1:
            listed = ", ".join(_shown(repr(n)) for n in same)
            findings.append(
                Finding(
                    "attachments.ambiguous",
                    f"{len(same)} attachments are named {special} ({listed}); attach exactly one, so it is "
                    "clear which one counts",
                    "attachments",
                    params={"count": len(same), "special": special},
                )
            )
    return findings


def _image_data_uris(msg: MailMessage) -> dict[str, str]:
    """``data:`` URIs for the attachments the body may show as images: a Content-ID the body mentions, and
    content that is really a PNG, JPEG or GIF (its own type, not the declared one)."""
    uris: dict[str, str] = {}
    for att in msg.attachments:
        cid = (att.content_id or "").strip().strip("<>").strip()
        if not cid or cid not in msg.body or att.content is None:
            continue
        mime = embedded_image_type(att, (cid,))
        if mime is not None:
            uris.setdefault(cid, f"data:{mime};base64,{base64.b64encode(att.content).decode('ascii')}")
    return uris


def _shown_image(att: Attachment, shown_cids: frozenset[str]) -> bool:
    return embedded_image_type(att, shown_cids) is not None


def to_utf8_text(data: bytes) -> bytes:
    """Plain text in whatever charset → UTF-8 (BOM-aware; cp1252 as the legacy fallback)."""
    for bom, enc in ((b"\xef\xbb\xbf", "utf-8"), (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace").encode("utf-8")
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace").encode("utf-8")


def _label(msg: MailMessage, overrides: HeaderOverrides) -> str:
    label = (overrides.label or msg.subject or "").strip()
    label = re.sub(r"\s+", " ", label) or "Digital Post"
    return label[:LABEL_MAX]


def _main_document(
    msg: MailMessage,
    label: str,
    ctx: OutboundContext,
    body_pdf: Attachment | None,
    sanitized: SanitizedHtml | None,
) -> Document:
    safe_name, _ = sanitize_filename(label[:80])
    if body_pdf is not None and body_pdf.content is not None:
        return Document(
            "main",
            (File("application/pdf", sanitize_filename(body_pdf.name)[0], ctx.language, body_pdf.content),),
            label=label,
        )
    fragment = sanitized.html if sanitized is not None else text_to_html(msg.body)
    html_doc = wrap_document(fragment, label, ctx.language).encode("utf-8")
    text = html_to_text(fragment).encode("utf-8")
    return Document(
        "main",
        (
            File("text/html", f"{safe_name}.html", ctx.language, html_doc),
            File("text/plain", f"{safe_name}.txt", ctx.language, text),
        ),
        label=label,
    )


def _additional(att: Attachment, ctx: OutboundContext, findings: list[Finding]) -> Document:
    name, notes = sanitize_filename(att.name)
    findings += notes
    content = att.content or b""
    # encodingFormat is the extension's canonical type (text/xml for .xml, as the official examples);
    # sniffing only stands in for a name without a known extension (the policy check ran before).
    declared = (att.content_type or "").split(";")[0].strip().lower()
    mime = canonical_type(name) or sniff_type(content, name) or declared
    if mime.startswith("text/") and mime != "text/xml":
        # Plain text and HTML are re-encoded as UTF-8; XML keeps the encoding its declaration names.
        content = to_utf8_text(content)
    return Document(
        "additional", (File(mime or "application/octet-stream", name, ctx.language, content),), label=name
    )


def _build_memo(
    msg: MailMessage,
    addr: GatewayAddress,
    ctx: OutboundContext,
    o: HeaderOverrides,
    documents: Sequence[Attachment],
    body_pdf: Attachment | None,
    sanitized: SanitizedHtml | None,
    findings: list[Finding],
) -> MemoMessage:
    label = _label(msg, o)
    body = MessageBody(
        created_datetime=ctx.created,
        main_document=_main_document(msg, label, ctx, body_pdf, sanitized),
        additional_documents=tuple(_additional(a, ctx, findings) for a in documents),
    )
    sender_cvr = addr.sender_id if addr.sender_kind == "cvr" else ctx.organisation_cvr
    sender_cp = ContactPoint(contact_point_id=addr.sender_id) if addr.sender_kind == "contact_point" else None
    attention = (
        AttentionData(attention_person=AttentionPerson(label=o.attention_person))
        if o.attention_person
        else None
    )
    content = None
    if o.case_id or o.kle or o.additional_content:
        content = ContentData(
            case_id=CaseID(o.case_id, o.case_system or "graph_dpg") if o.case_id else None,
            # The header file names only the KLE number; the KLE version is the current published one.
            kle_data=KLEData(subject_key=o.kle, version="2.0", label=o.kle) if o.kle else None,
            additional_content_data=tuple(AdditionalContentData(n, v) for n, v in o.additional_content[:10]),
        )
    header = MessageHeader(
        message_type="DIGITALPOST",
        message_uuid="00000000-0000-4000-8000-000000000000",
        label=label,
        sender=Sender(
            sender_id=sender_cvr,
            id_type="CVR",
            label=o.sender_label or ctx.organisation_name,
            attention_data=attention,
            contact_point=sender_cp,
        ),
        recipient=Recipient(recipient_id="", id_type="CPR"),
        message_id=o.message_id,
        message_code=o.message_code,
        notification=o.notification,
        additional_notification=o.additional_notification,
        reply=addr.reply,
        reply_by_datetime=o.reply_by if addr.reply else None,
        do_not_deliver_until_date=o.do_not_deliver_until,
        mandatory=o.mandatory if o.mandatory is not None else False,
        legal_notification=o.legal_notification if o.legal_notification is not None else False,
        post_type=o.post_type,
        content_data=content,
    )
    return MemoMessage(header=header, body=body, version="1.1" if ctx.memo_version == "1.1" else "1.2")


def _address(
    template: MemoMessage,
    addr: GatewayAddress,
    kind: str,
    recipient_id: str,
    message_uuid: str,
    ctx: OutboundContext,
    o: HeaderOverrides,
    replying_to: MemoMessage | None = None,
) -> MemoMessage:
    """The template addressed for one recipient: sender, reply flag and ReplyData come from *this* address
    (one mail may address recipients through different sender contact points, some replyable)."""
    h = template.header
    sender = replace(
        h.sender,
        sender_id=addr.sender_id if addr.sender_kind == "cvr" else ctx.organisation_cvr,
        contact_point=ContactPoint(contact_point_id=addr.sender_id)
        if addr.sender_kind == "contact_point"
        else None,
    )
    contact_point = addr.recipient_contact_point or o.recipient_contact_point
    recipient = Recipient(
        recipient_id=recipient_id,
        id_type="CPR" if kind == "cpr" else "CVR",
        contact_point=ContactPoint(contact_point_id=contact_point) if contact_point else None,
    )
    reply_data: tuple[ReplyData, ...] = ()
    ours = ReplyData(
        message_uuid=message_uuid,
        sender_id=sender.sender_id,
        recipient_id=recipient_id,
        contact_point_id=sender.contact_point.contact_point_id if sender.contact_point else None,
    )
    if replying_to is not None:
        # The incoming ReplyData come back untouched, then ours, naming the answered memo (docs/facts/memo.md,
        # "Replies").
        reply_data = (
            *replying_to.header.reply_data,
            replace(ours, reply_uuid=replying_to.header.message_uuid),
        )
    elif addr.reply:
        # Our own ReplyData instance carries our messageUUID and where answers go.
        reply_data = (ours,)
    header = replace(
        h,
        message_uuid=message_uuid,
        sender=sender,
        recipient=recipient,
        reply=addr.reply,
        reply_by_datetime=o.reply_by if addr.reply else None,
        reply_data=reply_data,
    )
    return replace(template, header=header)


def render_from_template(
    template_xml: bytes, message_uuid: str, recipient_kind: str, recipient_id: str
) -> bytes:
    """Re-address a mass-delivery template MeMo for another recipient (new messageUUID, recipient id).

    Byte substitution on the XML the gateway built itself: the template's messageUUID occurs only in
    ``messageUUID`` elements (base64 content has no '-'), its recipient only in ``recipientID`` (and the
    ReplyData's). Cheap for a large letter and 100,000 recipients; the counts are checked, and anything
    unexpected falls back to parse → replace → build.
    """
    from graph_dpg.memo import parse

    old_uuid = _between(template_xml, b"<memo:messageUUID>", b"</memo:messageUUID>")
    old_rid = _between(template_xml, b"<memo:recipientID>", b"</memo:recipientID>")
    id_type = b"CPR" if recipient_kind == "cpr" else b"CVR"
    if old_uuid is not None and old_rid is not None:
        out = template_xml.replace(b">" + old_uuid + b"<", b">" + message_uuid.encode() + b"<")
        out = out.replace(
            b"<memo:recipientID>" + old_rid + b"</memo:recipientID>",
            b"<memo:recipientID>" + recipient_id.encode() + b"</memo:recipientID>",
        )
        for t in (b"CPR", b"CVR"):
            out = out.replace(
                b"<memo:recipientID>"
                + recipient_id.encode()
                + b"</memo:recipientID><memo:idType>"
                + t
                + b"</memo:idType>",
                b"<memo:recipientID>"
                + recipient_id.encode()
                + b"</memo:recipientID><memo:idType>"
                + id_type
                + b"</memo:idType>",
            )
        if (
            out.count(message_uuid.encode()) >= 1
            and out.count(b"<memo:recipientID>" + recipient_id.encode()) >= 1
        ):
            return out
    memo = parse(template_xml)
    h = memo.header
    new_reply = tuple(
        replace(r, message_uuid=message_uuid, recipient_id=recipient_id)
        if r.message_uuid == h.message_uuid
        else r
        for r in h.reply_data
    )
    header = replace(
        h,
        message_uuid=message_uuid,
        recipient=replace(h.recipient, recipient_id=recipient_id, id_type=id_type.decode()),
        reply_data=new_reply,
    )
    return build(replace(memo, header=header), memo.version)


def _between(data: bytes, start: bytes, end: bytes) -> bytes | None:
    i = data.find(start)
    if i < 0:
        return None
    j = data.find(end, i)
    return data[i + len(start) : j] if j > 0 else None


def mask_recipient(kind: str, recipient_id: str) -> str:
    return mask_cpr(recipient_id) if kind == "cpr" else recipient_id
