"""Inbound Digital Post as Outlook shows it: a MeMo (valid or not) → the received mail.

The delivered mail (docs/product.md, "Delivered mail")::

    Subject        the MeMo label (nothing added; never a CPR number the gateway would add)
    From/Reply-To  {senderID}[.{sender contact point}]@{our contact point | our CVR}.ngdp.{gateway domain}
                   so Outlook's "Reply" writes to a gateway address that sends the answer as a MeMo reply
    Message-ID     <memo-{messageUUID}@graph-dpg.invalid>: the reply's In-Reply-To names the memo, and the
                   outbound side finds the answered memo (its ReplyData chain) by it
    Body (HTML)    [warning banner] · overview table of the central MeMo fields · which rule handled it
                   and why · the main document (HTML sanitised / text inline; otherwise "see attachment")
    Attachments    every File of every document (main, additional, technical), then ``{uuid}.memo.xml``
                   (up to 25 MB; the store keeps it anyway, replies read it from there)

A memo too big for one mail of its mailbox is delivered as parts (``domain.split``): part 1 is the mail
above with the files that fit and a banner listing which file is in which part; parts 2..N
(:func:`render_memo_part`) carry the other files, each saying which part it is and where the letter is.
A file too big for any mail is named in part 1's banner with its size and what to do.
    Categories     the inbound category (+ warning when a banner is shown) + the rules' categories

CPR numbers in the overview are masked (``010203-xxxx``) unless the caller asks otherwise; CVR numbers
are public and shown. An invalid memo still becomes a mail: what could be read of it, the validation
findings in a banner, and the raw XML attached, so nothing is lost and the admin can see why.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from graph_dpg.core.errors import Finding, IdentifierError, MemoError
from graph_dpg.domain.addresses import Channel, GatewayAddress
from graph_dpg.domain.html_text import MAIL_STYLE, sanitize_html, text_to_html, wrap_document
from graph_dpg.domain.identifiers import mask_cpr, mask_cprs
from graph_dpg.domain.local_time import format_local_datetime
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.domain.split import SplitPlan
from graph_dpg.domain.texts import LANGUAGES, Text, text
from graph_dpg.memo.model import ID_TYPE_CPR, File, MemoMessage

MEMO_MESSAGE_ID_DOMAIN = "graph-dpg.invalid"
#: Custom header on delivered memos (Graph accepts only X- names on create).
MEMO_UUID_HEADER = "X-DPG-Memo-UUID"

BannerKind = Literal["unmapped", "invalid", "info"]


def memo_internet_message_id(message_uuid: str) -> str:
    """The Internet Message-ID of the mail a memo is delivered as (contract with the outbound reply path)."""
    return f"<memo-{message_uuid.lower()}@{MEMO_MESSAGE_ID_DOMAIN}>"


def memo_uuid_from_message_id(internet_message_id: str | None) -> str | None:
    """The messageUUID named by :func:`memo_internet_message_id` (e.g. in a reply's In-Reply-To)."""
    text = (internet_message_id or "").strip().lower()
    suffix = f"@{MEMO_MESSAGE_ID_DOMAIN}>"
    if text.startswith("<memo-") and text.endswith(suffix):
        return text[len("<memo-") : -len(suffix)] or None
    return None


def reply_address(
    message: MemoMessage, our_sender: str, gateway_domain: str, channel: Channel = Channel.NGDP
) -> str | None:
    """The gateway address that answers ``message``'s sender: ``our_sender`` is our recipient contact point
    (when the target mailbox may send as it) or our CVR. None when the sender is no CPR/CVR."""
    sender = message.header.sender
    kind = sender.id_type.upper()
    if kind not in ("CPR", "CVR"):
        return None
    sender_cp = sender.contact_point.contact_point_id.lower() if sender.contact_point else None
    try:
        address = GatewayAddress(
            channel=channel,
            sender_kind="contact_point" if "-" in our_sender else "cvr",
            sender_id=our_sender.lower(),
            recipient_kind="cpr" if kind == "CPR" else "cvr",
            recipient_id=sender.sender_id.replace("-", ""),
            recipient_contact_point=sender_cp,
            domain=gateway_domain,
        )
    except ValueError:
        return None
    return address.format()


@dataclass(frozen=True)
class Banner:
    kind: BannerKind
    title: str
    lines: tuple[str, ...] = ()


@dataclass(frozen=True)
class ViewOptions:
    language: str = "da"
    mask_cpr: bool = True
    #: The sending company's current name from the CVR register (issue 20), when looked up.
    sender_cvr_name: str | None = None


def unmapped_banner(
    contact_point_id: str | None, contact_point_name: str | None, known: bool, language: str = "da"
) -> Banner:
    """The warning shown when the recipient contact point has no mailbox (unknown or mapped to none): for
    the case worker, what happened and whom to tell; the contact point's id only in the support line (the
    configuration fix goes to the monitoring mailbox: :func:`unmapped_alert_lines`)."""
    if contact_point_id is None:
        return Banner(
            "unmapped",
            text(Text.INB_UNMAPPED_NONE_TITLE, language),
            (text(Text.INB_UNMAPPED_NONE_WHAT, language), text(Text.INB_UNMAPPED_NONE_ACTION, language)),
        )
    if known and contact_point_name:
        title = text(Text.INB_UNMAPPED_TITLE, language, name=contact_point_name)
    else:
        title = text(Text.INB_UNMAPPED_UNKNOWN_TITLE, language)
    return Banner(
        "unmapped",
        title,
        (
            text(Text.INB_UNMAPPED_WHAT, language),
            text(Text.INB_UNMAPPED_ACTION, language),
            support_line(f"contact point {contact_point_id}", language),
        ),
    )


def support_line(code: str, language: str = "da") -> str:
    """The one line of a banner that may carry codes: for IT support; it is the banner's last line and
    is rendered small, as the receipts' support line (:func:`render_banner`)."""
    return text(Text.INB_SUPPORT, language, code=code)


def memo_support_line(memo_uuid: str, language: str = "da") -> str:
    """The support line that names a memo by its messageUUID (how IT finds it in the store and at NgDP)."""
    return support_line(f"messageUUID {memo_uuid}", language)


_SUPPORT_PREFIXES = tuple(text(Text.INB_SUPPORT, language, code="") for language in LANGUAGES)


def is_support_line(line: str) -> bool:
    """Whether ``line`` is a banner's support line (in either language)."""
    return line.startswith(_SUPPORT_PREFIXES)


def unmapped_fix(contact_point_id: str, contact_point_name: str | None, language: str = "da") -> str:
    """The gateway-file snippet that maps ``contact_point_id`` to a mailbox (a placeholder to fill in)."""
    name = contact_point_name or text(Text.INB_PLACEHOLDER_NAME, language)
    mailbox = text(Text.INB_PLACEHOLDER_MAILBOX, language)
    return (
        f"contact_points:\n  - id: {contact_point_id}\n    name: {json.dumps(name, ensure_ascii=False)}\n"
        f"    mailbox: {mailbox}\n"
    )


def foreign_banner(addressed_to: str, ours: str, language: str = "da", memo_uuid: str = "") -> Banner:
    """Shown on a memo NgDP delivered to us although it names another organisation as its recipient; the
    messageUUID (what Digital Post support needs) only in the support line."""
    return Banner(
        "unmapped",
        text(Text.BANNER_FOREIGN_TITLE, language, cvr=addressed_to),
        (
            text(Text.BANNER_FOREIGN_WHAT, language, cvr=addressed_to, ours=ours),
            text(Text.BANNER_FOREIGN_ACTION, language),
            *([memo_support_line(memo_uuid, language)] if memo_uuid else []),
        ),
    )


def undeliverable_banner(mailbox: str, folder: str, error: str, language: str = "da") -> Banner:
    """Shown when the routed target refused the memo repeatedly and the main mailbox got it instead."""
    return Banner(
        "unmapped",
        text(Text.BANNER_UNDELIVERABLE_TITLE, language, mailbox=mailbox, folder=folder),
        (
            text(Text.BANNER_UNDELIVERABLE_TRIED, language),
            text(Text.BANNER_UNDELIVERABLE_CHECK, language, mailbox=mailbox),
            support_line(mask_cprs(error), language),
        ),
    )


#: What an invalid memo's findings mean for a reader, by the finding's rule (``graph_dpg.memo``): the
#: first matching prefix decides; anything else is a broken business rule of Digital Post.
_FINDING_WORDS: tuple[tuple[str, Text], ...] = (
    ("xml.unsafe", Text.INB_INVALID_UNSAFE),
    ("xml.", Text.INB_INVALID_UNREADABLE),
    ("memo.unreadable", Text.INB_INVALID_UNREADABLE),
    ("memo.", Text.INB_INVALID_FORMAT),
    ("xsd", Text.INB_INVALID_FORMAT),
    ("id.", Text.INB_INVALID_IDS),
)


def _finding_words(findings: Sequence[Finding]) -> list[Text]:
    said: dict[Text, None] = {}
    for f in findings:
        if f.severity == "warning":
            continue
        said[next((k for p, k in _FINDING_WORDS if f.rule.startswith(p)), Text.INB_INVALID_CONTENT)] = None
    return list(said) or [Text.INB_INVALID_UNREADABLE]


def finding_codes(findings: Sequence[Finding]) -> str:
    """The findings' rules, once each, for the support line."""
    return ", ".join(dict.fromkeys(f.rule for f in findings if f.severity != "warning")) or "memo"


def invalid_banner(
    findings: Sequence[Finding],
    language: str = "da",
    *,
    receipt_sent: bool = True,
    readable: bool = True,
    memo_uuid: str = "",
) -> Banner:
    """The explanation shown on a memo that failed parsing or validation: what is wrong in words, what
    happens next (``receipt_sent``: NgDP is answered INVALID), where the details are; codes only in the
    support line. ``readable``: what could be read of the memo follows the banner."""
    details = text(Text.INB_INVALID_DETAILS_NAME, language)
    lines = [text(key, language) for key in _finding_words(findings)]
    lines.append(text(Text.INB_INVALID_TOLD if receipt_sent else Text.INB_INVALID_NOT_TOLD, language))
    shown = Text.INB_INVALID_PARTLY if readable else Text.INB_INVALID_RAW
    lines.append(text(shown, language, details=details))
    code = finding_codes(findings) + (f"; messageUUID {memo_uuid}" if memo_uuid else "")
    lines.append(support_line(code, language))
    return Banner("invalid", text(Text.INB_INVALID_TITLE, language), tuple(lines))


def invalid_details(
    findings: Sequence[Finding], memo_uuid: str, language: str = "da", *, receipt_sent: bool = True
) -> Attachment:
    """The technical detail of an invalid memo, for IT: every finding (CPR-masked) as a text file."""
    head = text(Text.INB_INVALID_DETAILS_HEAD, language, uuid=memo_uuid)
    shown = [f"- {mask_cprs(str(f))}" for f in findings if f.severity != "warning"][:200]
    answer = Text.INB_INVALID_DETAILS_RECEIPT if receipt_sent else Text.INB_INVALID_DETAILS_NO_RECEIPT
    body = "\r\n".join([head, "", *shown, "", text(answer, language), ""]).encode("utf-8")
    name = text(Text.INB_INVALID_DETAILS_NAME, language)
    return Attachment(name, "text/plain; charset=utf-8", body, size=len(body))


def unshown_banner(error: str, reference: str, language: str = "da") -> Banner:
    """Shown on a memo delivered raw because something unexpected happened while it was read, routed or
    shown: what happened (``error``), that nothing is lost, and the reference for IT support."""
    return Banner(
        "invalid",
        text(Text.BANNER_UNSHOWN_TITLE, language),
        (
            text(Text.BANNER_UNSHOWN_WHY, language),
            text(Text.BANNER_UNSHOWN_RAW, language),
            text(Text.BANNER_UNSHOWN_SUPPORT, language),
            support_line(f"{reference}; {mask_cprs(error)}", language),
        ),
    )


# ----------------------------------------------------------------------------------------------- render


def _party(ident: str, id_type: str, label: str | None, opts: ViewOptions) -> str:
    shown = ident
    if id_type.upper() == ID_TYPE_CPR and opts.mask_cpr:
        try:
            shown = mask_cpr(ident)
        except IdentifierError:  # an id typed CPR that is no CPR: still never shown in clear
            shown = "xxxxxx-xxxx"
    text = f"{id_type.upper()} {shown}"
    return f"{label} ({text})" if label else text


def overview_rows(
    message: MemoMessage, opts: ViewOptions, contact_point_name: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) rows of the overview table, in reading order; values are plain text."""
    lang = opts.language

    def t(key: Text) -> str:
        return text(key, lang)

    h = message.header
    yes_no = {True: t(Text.VIEW_YES), False: t(Text.VIEW_NO), None: t(Text.VIEW_NO)}
    rows: list[tuple[str, str]] = [
        (t(Text.VIEW_SENDER), _party(h.sender.sender_id, h.sender.id_type, h.sender.label, opts)),
    ]
    if opts.sender_cvr_name:
        rows.append((t(Text.VIEW_SENDER_CVR_NAME), opts.sender_cvr_name))
    if h.sender.contact_point:
        rows.append((t(Text.VIEW_SENDER_CONTACT_POINT), h.sender.contact_point.contact_point_id))
    rows.append(
        (
            t(Text.VIEW_RECIPIENT),
            _party(h.recipient.recipient_id, h.recipient.id_type, h.recipient.label, opts),
        )
    )
    if h.recipient.contact_point:
        cp = h.recipient.contact_point.contact_point_id
        rows.append(
            (t(Text.VIEW_CONTACT_POINT), f"{contact_point_name} ({cp})" if contact_point_name else cp)
        )
    rows.append((t(Text.VIEW_LABEL), h.label))
    if message.body is not None:
        rows.append((t(Text.VIEW_CREATED), format_local_datetime(message.body.created_datetime, lang)))
    reply = yes_no[h.reply]
    if h.reply and h.reply_by_datetime:
        reply += f", {t(Text.VIEW_REPLY_BY)} {format_local_datetime(h.reply_by_datetime, lang)}"
    rows += [
        (t(Text.VIEW_REPLY), reply),
        (t(Text.VIEW_LEGAL), yes_no[h.legal_notification]),
        (t(Text.VIEW_MANDATORY), yes_no[h.mandatory]),
    ]
    cd = h.content_data
    if cd is not None:
        if cd.case_id:
            rows.append((t(Text.VIEW_CASE), f"{cd.case_id.case_id} ({cd.case_id.case_system})"))
        if cd.kle_data:
            rows.append((t(Text.VIEW_KLE), f"{cd.kle_data.subject_key} {cd.kle_data.label}"))
        if cd.form_data:
            rows.append((t(Text.VIEW_FORM), f"{cd.form_data.task_key} {cd.form_data.label}"))
        if cd.cpr_data:
            rows.append(
                (t(Text.VIEW_ABOUT_CPR), _party(cd.cpr_data.cpr_number, "CPR", cd.cpr_data.name, opts))
            )
        if cd.cvr_data:
            rows.append(
                (
                    t(Text.VIEW_ABOUT_CVR),
                    _party(cd.cvr_data.cvr_number, "CVR", cd.cvr_data.company_name, opts),
                )
            )
        for extra in cd.additional_content_data:
            rows.append((extra.content_data_name, extra.content_data_value))
    if h.post_type:
        rows.append((t(Text.VIEW_POST_TYPE), h.post_type))
    if h.notification:
        rows.append((t(Text.VIEW_NOTIFICATION), h.notification))
    if h.forward_data:
        rows.append((t(Text.VIEW_FORWARDED), h.forward_data.original_sender))
    rows.append((t(Text.VIEW_MESSAGE_UUID), h.message_uuid))
    if h.message_id:
        rows.append((t(Text.VIEW_MESSAGE_ID), h.message_id))
    rows.append((t(Text.VIEW_MEMO_VERSION), message.version))
    if opts.mask_cpr:
        rows = [(k, mask_cprs(v)) for k, v in rows]
    return rows


_BANNER_STYLE = {
    "unmapped": "background:#fff4ce;border:2px solid #c19c00;",
    "invalid": "background:#fde7e9;border:2px solid #a80000;",
    "info": "background:#eef6fc;border:1px solid #0078d4;",
}


#: The support line's look: small and grey at the end, as in the receipts.
SUPPORT_STYLE = "color:#767676;font-size:8pt"


def render_banner(banner: Banner) -> str:
    lines = "".join(
        f"<p style='margin:4px 0;{SUPPORT_STYLE}'>{html.escape(line)}</p>"
        if is_support_line(line)
        else f"<p style='margin:4px 0'>{html.escape(line)}</p>"
        for line in banner.lines
    )
    return (
        f"<div class='dpg-banner dpg-{banner.kind}' style='{_BANNER_STYLE[banner.kind]}padding:8px;"
        f"margin-bottom:12px'><p style='margin:0 0 4px 0'><b>{html.escape(banner.title)}</b></p>{lines}</div>"
    )


def render_table(rows: Sequence[tuple[str, str]], title: str) -> str:
    body = "".join(
        f"<tr><th align='left' valign='top' style='padding:2px 12px 2px 0'>{html.escape(k)}</th>"
        f"<td style='padding:2px 0'>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    caption = f"<caption align='left'><b>{html.escape(title)}</b></caption>"
    return f"<table class='dpg-overview' cellpadding='0' cellspacing='0'>{caption}{body}</table>"


def _unique(name: str, taken: set[str], unnamed: str) -> str:
    candidate = name or unnamed
    n = 2
    while candidate.lower() in taken:
        stem, dot, ext = (name or unnamed).rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name or unnamed} ({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


#: Largest MeMo XML attached. Its Files are attached one by one anyway, and replies read the XML from the
#: store, so a 99.5 MB memo is not carried twice (Exchange's message size limit, often 35-150 MB).
MEMO_XML_ATTACH_LIMIT = 25_000_000
#: Largest main document shown inline. Graph refuses request bodies over 4 MB and the mail body cannot go
#: through an upload session (docs/facts/graph.md, "Request size and upload sessions"), so a bigger one is
#: only attached (it always is).
INLINE_MAIN_LIMIT = 1_000_000


def _main_html(message: MemoMessage, language: str) -> str:
    if message.body is None:
        note = message.header.notification or text(Text.VIEW_NO_MAIN, language)
        return f"<p>{html.escape(note)}</p>"
    files = message.body.main_document.files
    small = [f for f in files if f.size <= INLINE_MAIN_LIMIT]
    for f in small:
        if f.encoding_format.lower().startswith("text/html"):
            return sanitize_html(f.content.decode("utf-8", errors="replace"))
    for f in small:
        if f.encoding_format.lower().startswith("text/"):
            return text_to_html(f.content.decode("utf-8", errors="replace"))
    if files:
        attached = text(Text.VIEW_MAIN_ATTACHED, language, name=files[0].filename)
        return f"<p><i>{html.escape(attached)}</i></p>"
    return f"<p>{html.escape(text(Text.VIEW_NO_MAIN, language))}</p>"


def _file_attachment(f: File, name: str) -> Attachment:
    content = f.content
    return Attachment(name, f.encoding_format or "application/octet-stream", content, size=len(content))


def file_names(message: MemoMessage, language: str) -> list[str]:
    """The attachment names of the memo's files, in order, unique within the memo (whichever part carries
    them, a file has the same name)."""
    taken: set[str] = set()
    unnamed = text(Text.VIEW_UNNAMED_FILE, language)
    return [_unique(f.filename, taken, unnamed) for f in message.files()]


def format_size(size: int, language: str = "da") -> str:
    """A size for people: ``12.3 MB`` (``12,3 MB`` in Danish); MB are 1024 x 1024 bytes, as Exchange's."""
    mb = 1024 * 1024
    shown = f"{size / mb:.1f} MB" if size >= mb else f"{max(1, round(size / 1024))} KB"
    return shown.replace(".", ",") if language != "en" else shown


def _part_lines(names: Sequence[str], plan: SplitPlan, language: str) -> list[str]:
    lines = []
    for number, part in enumerate(plan.parts, start=1):
        listed = ", ".join(names[i] for i in part) or text(Text.VIEW_PART_NO_FILES, language)
        lines.append(text(Text.BANNER_SPLIT_PART, language, part=number, total=plan.total, files=listed))
    return lines


def split_banners(message: MemoMessage, plan: SplitPlan, language: str = "da") -> list[Banner]:
    """Part 1's banners for a split memo: which file is in which of the mails, and what to do; then the
    files no mail could carry, with their sizes and what to do (each said once)."""
    names = file_names(message, language)
    uuid = message.header.message_uuid
    limit = format_size(plan.limit, language)
    out: list[Banner] = []
    if plan.total > 1:
        out.append(
            Banner(
                "info",
                text(Text.BANNER_SPLIT_TITLE, language, total=plan.total),
                (
                    text(Text.BANNER_SPLIT_WHY, language, limit=limit, total=plan.total),
                    *_part_lines(names, plan, language),
                    text(Text.BANNER_SPLIT_ACTION, language, total=plan.total),
                    text(Text.BANNER_SPLIT_MAY_GROW, language),
                    *([] if plan.oversized else [memo_support_line(uuid, language)]),
                ),
            )
        )
    if plan.oversized:
        files = message.files()
        out.append(
            Banner(
                "unmapped",
                text(Text.BANNER_OVERSIZED_TITLE, language),
                (
                    *(
                        text(
                            Text.BANNER_OVERSIZED_FILE,
                            language,
                            name=names[i],
                            size=format_size(files[i].size, language),
                            limit=limit,
                        )
                        for i in plan.oversized
                    ),
                    text(Text.BANNER_OVERSIZED_ACTION, language),
                    memo_support_line(uuid, language),
                ),
            )
        )
    return out


def render_memo_part(
    message: MemoMessage,
    plan: SplitPlan,
    part: int,
    *,
    target_mailbox: str,
    reply_from: EmailAddress | None,
    categories: Sequence[str] = (),
    options: ViewOptions = ViewOptions(),
    mark_read: bool = False,
) -> MailMessage:
    """Part ``part`` (2..N) of a split memo: its files, and a banner saying which part it is, what the other
    parts hold and that the letter is in part 1. It has no Message-ID of the memo: replies go from part 1."""
    lang = options.language
    h = message.header
    names = file_names(message, lang)
    files = message.files()
    # part 1 keeps the subject it was written with ("del 1 af {announced}" after a re-plan)
    first = text(Text.VIEW_PART_SUBJECT, lang, label=h.label, part=1, total=plan.announced or plan.total)
    subject = text(Text.VIEW_PART_SUBJECT, lang, label=h.label, part=part, total=plan.total)
    mine = plan.parts[part - 1]
    # Part 1 is in the mailbox and cannot be changed (message-update.md: body and subject are updatable only
    # while isDraft): after a re-plan every later part corrects its overview; the last one says it is last.
    corrected = (
        [text(Text.BANNER_PART_CORRECTED, lang, announced=plan.announced, total=plan.total)]
        if plan.announced
        else []
    )
    if plan.announced and plan.oversized:  # files left out since part 1 was written: said here too
        limit = format_size(plan.limit, lang)
        corrected += [
            text(
                Text.BANNER_OVERSIZED_FILE,
                lang,
                name=names[i],
                size=format_size(files[i].size, lang),
                limit=limit,
            )
            for i in plan.oversized
        ]
        corrected.append(text(Text.BANNER_OVERSIZED_ACTION, lang))
    last = [text(Text.BANNER_PART_LAST, lang)] if part == plan.total else []
    banner = Banner(
        "info",
        text(Text.BANNER_PART_TITLE, lang, part=part, total=plan.total, label=h.label),
        (
            text(Text.BANNER_PART_HERE, lang, files=", ".join(names[i] for i in mine)),
            text(Text.BANNER_PART_LETTER, lang, subject=first),
            *corrected,
            *_part_lines(names, plan, lang),
            *last,
            memo_support_line(h.message_uuid, lang),
        ),
    )
    overview = [(text(Text.VIEW_MESSAGE_UUID, lang), h.message_uuid)]
    body = _styled(render_banner(banner) + render_table(overview, text(Text.VIEW_OVERVIEW, lang)))
    return MailMessage(
        subject=subject,
        body=wrap_document(body, subject, lang),
        body_type="html",
        sender=reply_from,
        reply_to=[reply_from] if reply_from is not None else [],
        to=[EmailAddress(target_mailbox)],
        attachments=[_file_attachment(files[i], names[i]) for i in mine],
        headers=[Header(MEMO_UUID_HEADER, h.message_uuid)],
        categories=list(dict.fromkeys(categories)),
        sent_at=message.body.created_datetime if message.body is not None else None,
        is_read=mark_read,
    )


@dataclass(frozen=True)
class DeliveredView:
    mail: MailMessage
    banners: tuple[Banner, ...] = ()
    overview: tuple[tuple[str, str], ...] = field(default=())


def _rule_section(reasons: Sequence[str], language: str, note: str | None) -> str:
    """Why the letter is here: the rules that acted (their names and plain descriptions,
    ``domain.routing.plain_reasons``), then how the target was chosen when no rule chose it."""
    items = "".join(f"<li>{html.escape(mask_cprs(r))}</li>" for r in reasons)
    shown = f"<ul style='margin:4px 0'>{items}</ul>" if items else ""
    why = note or ("" if items else text(Text.VIEW_RULE_NONE, language))
    if why:
        shown += f"<p style='margin:4px 0'>{html.escape(why)}</p>"
    title = html.escape(text(Text.VIEW_RULE, language))
    return f"<div class='dpg-rule'><p style='margin:12px 0 4px 0'><b>{title}</b></p>{shown}</div>"


def _styled(fragment: str) -> str:
    """The gateway's part of a mail in the receipts' typography."""
    return f'<div style="{MAIL_STYLE}">{fragment}</div>'


def render_memo_mail(
    message: MemoMessage,
    xml: bytes,
    *,
    target_mailbox: str,
    reply_from: EmailAddress | None,
    banners: Sequence[Banner] = (),
    rule_reasons: Sequence[str] = (),
    routing_note: str | None = None,
    categories: Sequence[str] = (),
    contact_point_name: str | None = None,
    options: ViewOptions = ViewOptions(),
    mark_read: bool = False,
    plan: SplitPlan | None = None,
) -> DeliveredView:
    """The received mail for a valid (parsed) memo; see the module docstring for its shape. With a ``plan``
    (``domain.split``): part 1 of it, carrying only the files of ``plan.parts[0]``."""
    lang = options.language
    h = message.header
    rows = overview_rows(message, options, contact_point_name)
    parts = [render_banner(b) for b in banners]
    parts.append(render_table(rows, text(Text.VIEW_OVERVIEW, lang)))
    parts.append(_rule_section(rule_reasons, lang, routing_note))
    parts.append("<hr>")
    parts.append(_main_html(message, lang))
    files = message.files()
    names = file_names(message, lang)
    chosen = range(len(files)) if plan is None else plan.parts[0]
    attachments = [_file_attachment(files[i], names[i]) for i in chosen]
    if len(xml) <= MEMO_XML_ATTACH_LIMIT and (plan is None or plan.attach_xml):
        xml_name = _unique(f"{h.message_uuid}.memo.xml", {n.lower() for n in names}, "")
        attachments.append(Attachment(xml_name, "application/xml", xml, size=len(xml)))
    else:
        parts.append(f"<p><i>{html.escape(text(Text.VIEW_XML_KEPT, lang))}</i></p>")
    subject = h.label
    if plan is not None and plan.split:
        shown = split_banners(message, plan, lang)
        parts[len(banners) : len(banners)] = [render_banner(b) for b in shown]
        banners = [*banners, *shown]
        if plan.total > 1:
            subject = text(Text.VIEW_PART_SUBJECT, lang, label=h.label, part=1, total=plan.total)
    mail = MailMessage(
        subject=subject,
        body=wrap_document(_styled("".join(parts)), subject, options.language),
        body_type="html",
        sender=reply_from,
        reply_to=[reply_from] if reply_from is not None else [],
        to=[EmailAddress(target_mailbox)],
        attachments=attachments,
        headers=[Header(MEMO_UUID_HEADER, h.message_uuid)],
        categories=list(dict.fromkeys(categories)),
        internet_message_id=memo_internet_message_id(h.message_uuid),
        sent_at=message.body.created_datetime if message.body is not None else None,
        is_read=mark_read,
    )
    return DeliveredView(mail, tuple(banners), tuple(rows))


def invalid_sender(message: MemoMessage | None, mailbox: str, language: str = "da") -> EmailAddress:
    """From of an invalid memo's mail: the mailbox it is delivered to, named after the MeMo's sender when
    that could be read ("Anders And via Digital Post"), else after the gateway. Not the gateway address a
    valid memo gets: a reply would answer, as a MeMo, a letter NgDP was told is invalid; answering the
    mail writes to the main mailbox itself, where nothing is sent."""
    label = message.header.sender.label if message is not None else None
    if label:
        name = text(Text.INB_INVALID_SENDER, language, name=mask_cprs(label))
    else:
        name = text(Text.GATEWAY_SENDER_NAME, language)
    return EmailAddress(mailbox, name)


def render_invalid_mail(
    xml: bytes,
    memo_uuid: str,
    findings: Sequence[Finding],
    *,
    target_mailbox: str,
    message: MemoMessage | None = None,
    categories: Sequence[str] = (),
    options: ViewOptions = ViewOptions(),
    too_big: int | None = None,
    receipt_sent: bool = True,
) -> DeliveredView:
    """The received mail for a memo that failed parsing or validation: banner (what is wrong in words, what
    happens next), what could be read, raw XML and the technical details as a text file.

    ``too_big``: the mailbox's limit, when the memo with its files and XML would not fit into one mail of
    it; then the mail is the banner and the messageUUID alone, saying that the gateway keeps the XML.
    ``receipt_sent``: NgDP is answered INVALID (not for Digital Post forwarded by SMTP without the REST
    receipt, ``services.inbound.memos``)."""
    lang = options.language
    details = invalid_details(findings, memo_uuid, lang, receipt_sent=receipt_sent)
    sender = invalid_sender(message, target_mailbox, lang)

    def banner_for(readable: bool) -> Banner:
        return invalid_banner(
            findings, lang, receipt_sent=receipt_sent, readable=readable, memo_uuid=memo_uuid
        )

    banner = banner_for(readable=False)
    if too_big is not None:
        banner = _xml_not_attached(banner, memo_uuid, too_big, lang)
    elif message is not None:
        try:
            view = render_memo_mail(
                message,
                xml,
                target_mailbox=target_mailbox,
                reply_from=None,
                banners=[banner_for(readable=True)],
                categories=categories,
                options=options,
                routing_note=text(Text.INB_NOTE_INVALID, lang),
            )
        except MemoError:
            # What parsed may still not render: parse leaves File content undecoded, so content that is not
            # base64 fails only here. Without this the memo was never delivered (retried every cycle).
            pass
        else:
            view.mail.internet_message_id = memo_internet_message_id(memo_uuid)
            view.mail.sender = sender
            view.mail.attachments.append(details)
            return view
    subject = text(Text.VIEW_INVALID_SUBJECT, lang)
    return _raw_mail(
        xml,
        memo_uuid,
        banner,
        subject,
        target_mailbox,
        categories,
        lang,
        too_big is None,
        sender=sender,
        extra=(details,),
    )


def render_unshown_mail(
    xml: bytes,
    memo_uuid: str,
    error: str,
    *,
    target_mailbox: str,
    categories: Sequence[str] = (),
    options: ViewOptions = ViewOptions(),
    too_big: int | None = None,
) -> DeliveredView:
    """The received mail for a memo the gateway could not show (``error``: what went wrong): a banner that
    says so, the messageUUID, and the raw XML attached (unless it is ``too_big`` for the mailbox's limit:
    see :func:`render_invalid_mail`). Built from nothing the memo's content decides."""
    lang = options.language
    banner = unshown_banner(error, memo_uuid, lang)
    if too_big is not None:
        banner = _xml_not_attached(banner, memo_uuid, too_big, lang)
    subject = text(Text.VIEW_UNSHOWN_SUBJECT, lang)
    return _raw_mail(xml, memo_uuid, banner, subject, target_mailbox, categories, lang, too_big is None)


def _xml_not_attached(banner: Banner, memo_uuid: str, limit: int, language: str) -> Banner:
    """``banner`` with the line that the XML it speaks of is not attached: too big for the mailbox (before
    the support line, which names the memo and stays last)."""
    line = text(Text.BANNER_XML_NOT_ATTACHED, language, limit=format_size(limit, language))
    lines = [x for x in banner.lines if not is_support_line(x)]
    support = [x for x in banner.lines if is_support_line(x)] or [memo_support_line(memo_uuid, language)]
    return Banner(banner.kind, banner.title, (*lines, line, *support))


def _raw_mail(
    xml: bytes,
    memo_uuid: str,
    banner: Banner,
    subject: str,
    target_mailbox: str,
    categories: Sequence[str],
    language: str,
    attach_xml: bool = True,
    *,
    sender: EmailAddress | None = None,
    extra: Sequence[Attachment] = (),
) -> DeliveredView:
    """A memo as a mail without reading it: the banner, its messageUUID, and the XML attached."""
    overview = [(text(Text.VIEW_MESSAGE_UUID, language), memo_uuid)]
    body = _styled(render_banner(banner) + render_table(overview, text(Text.VIEW_OVERVIEW, language)))
    xml_attachment = Attachment(f"{memo_uuid}.memo.xml", "application/xml", xml, size=len(xml))
    mail = MailMessage(
        subject=subject,
        body=wrap_document(body, subject, language),
        body_type="html",
        sender=sender,
        to=[EmailAddress(target_mailbox)],
        attachments=[*([xml_attachment] if attach_xml else []), *extra],
        headers=[Header(MEMO_UUID_HEADER, memo_uuid)],
        categories=list(dict.fromkeys(categories)),
        internet_message_id=memo_internet_message_id(memo_uuid),
    )
    return DeliveredView(mail, (banner,), tuple(overview))


def findings_json(findings: Sequence[Finding]) -> str:
    """Findings as compact JSON (CPR-masked) for the INVALID receipt's errorMessage."""
    return json.dumps(
        [mask_cprs(str(f)) for f in findings if f.severity != "warning"][:10], ensure_ascii=False
    )
