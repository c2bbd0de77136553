"""Inbound Digital Post as Outlook shows it: a MeMo (valid or not) → the received mail.

The delivered mail (DESIGN §2, issue 7 step 4)::

    Subject        the MeMo label (nothing added; never a CPR number the gateway would add)
    From/Reply-To  {senderID}[.{sender contact point}]@{our contact point | our CVR}.ngdp.{gateway domain}
                   so Outlook's "Reply" writes to a gateway address that sends the answer as a MeMo reply
    Message-ID     <memo-{messageUUID}@graph-dpg.invalid>: the reply's In-Reply-To names the memo, and the
                   outbound side finds the answered memo (its ReplyData chain) by it
    Body (HTML)    [warning banner] · overview table of the central MeMo fields · which rule handled it
                   and why · the main document (HTML sanitised / text inline; otherwise "see attachment")
    Attachments    every File of every document (main, additional, technical), then ``{uuid}.memo.xml``
                   (up to 25 MB; the store keeps it anyway, replies read it from there)
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
from datetime import datetime
from typing import Literal

from graph_dpg.core.errors import Finding, IdentifierError, MemoError
from graph_dpg.domain.addresses import Channel, GatewayAddress
from graph_dpg.domain.html_text import sanitize_html, text_to_html, wrap_document
from graph_dpg.domain.identifiers import mask_cpr, mask_cprs
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
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


_T: dict[str, dict[str, str]] = {
    "da": {
        "overview": "Digital Post – oversigt",
        "sender": "Afsender",
        "recipient": "Modtager",
        "contact_point": "Kontaktpunkt",
        "sender_contact_point": "Afsenders kontaktpunkt",
        "label": "Titel",
        "created": "Oprettet",
        "reply": "Svar tilladt",
        "reply_by": "senest",
        "legal": "Retsvirkning",
        "mandatory": "Obligatorisk",
        "case": "Sag",
        "kle": "KLE",
        "form": "FORM",
        "about_cpr": "Vedrører (CPR)",
        "about_cvr": "Vedrører (CVR)",
        "post_type": "Posttype",
        "notification": "Notifikation",
        "message_uuid": "messageUUID",
        "message_id": "messageID",
        "forwarded": "Videresendt fra",
        "memo_version": "MeMo-version",
        "yes": "ja",
        "no": "nej",
        "rule": "Routing",
        "rule_none": "Ingen regel matchede; leveret efter kontaktpunkt/hovedpostkasse.",
        "main_attached": "Hoveddokumentet er vedhæftet ({name}).",
        "no_main": "Meddelelsen har intet hoveddokument.",
        "invalid_subject": "Ugyldig Digital Post-meddelelse",
        "documents": "Dokumenter",
        "xml_kept": "MeMo-XML'en er for stor til at blive vedhæftet; gatewayen gemmer den (svar virker).",
    },
    "en": {
        "overview": "Digital Post – overview",
        "sender": "Sender",
        "recipient": "Recipient",
        "contact_point": "Contact point",
        "sender_contact_point": "Sender contact point",
        "label": "Title",
        "created": "Created",
        "reply": "Reply allowed",
        "reply_by": "by",
        "legal": "Legal notification",
        "mandatory": "Mandatory",
        "case": "Case",
        "kle": "KLE",
        "form": "FORM",
        "about_cpr": "Concerns (CPR)",
        "about_cvr": "Concerns (CVR)",
        "post_type": "Post type",
        "notification": "Notification",
        "message_uuid": "messageUUID",
        "message_id": "messageID",
        "forwarded": "Forwarded from",
        "memo_version": "MeMo version",
        "yes": "yes",
        "no": "no",
        "rule": "Routing",
        "rule_none": "No rule matched; delivered by contact point / main mailbox.",
        "main_attached": "The main document is attached ({name}).",
        "no_main": "The message has no main document.",
        "invalid_subject": "Invalid Digital Post message",
        "documents": "Documents",
        "xml_kept": "The MeMo XML is too large to attach; the gateway keeps it (replies work).",
    },
}


def _t(language: str) -> dict[str, str]:
    return _T.get(language, _T["da"])


def unmapped_banner(
    contact_point_id: str | None, contact_point_name: str | None, known: bool, language: str = "da"
) -> Banner:
    """The warning shown when the recipient contact point has no mailbox (unknown or mapped to none)."""
    cp = contact_point_id or "(none)"
    shown = f"{contact_point_name} ({cp})" if contact_point_name else cp
    if language == "en":
        title = f"Contact point {shown} has no mailbox"
        if contact_point_id is None:
            lines = [
                "The memo names no recipient contact point, so it was delivered to the main mailbox.",
                "Add a routing rule (rules: in the gateway file) if such memos belong elsewhere.",
            ]
        elif known:
            lines = [
                "The gateway file lists this contact point with mailbox: null, so it went to the main "
                "mailbox.",
                f"To deliver it elsewhere, set contact_points: - id: {cp} mailbox: <function mailbox>.",
            ]
        else:
            lines = [
                "The gateway file does not know this contact point, so it went to the main mailbox.",
                f"Add to the gateway file: contact_points: - id: {cp} name: <name> "
                "mailbox: <function mailbox>",
            ]
        return Banner("unmapped", title, tuple(lines))
    title = f"Kontaktpunktet {shown} har ingen postkasse"
    if contact_point_id is None:
        lines = [
            "Meddelelsen angiver intet modtagerkontaktpunkt og er derfor leveret i hovedpostkassen.",
            "Tilføj en routingregel (rules: i gateway-filen), hvis den slags post hører til et andet sted.",
        ]
    elif known:
        lines = [
            "Gateway-filen angiver kontaktpunktet med mailbox: null, så det er leveret i hovedpostkassen.",
            f"Skal det leveres et andet sted, så sæt contact_points: - id: {cp} "
            "mailbox: <funktionspostkasse>.",
        ]
    else:
        lines = [
            "Gateway-filen kender ikke kontaktpunktet, så meddelelsen er leveret i hovedpostkassen.",
            f"Tilføj i gateway-filen: contact_points: - id: {cp} name: <navn> mailbox: <funktionspostkasse>",
        ]
    return Banner("unmapped", title, tuple(lines))


def undeliverable_banner(mailbox: str, folder: str, error: str, language: str = "da") -> Banner:
    """Shown when the routed target refused the memo repeatedly and the main mailbox got it instead."""
    if language == "en":
        return Banner(
            "unmapped",
            f"Could not be delivered to {mailbox} ({folder})",
            (
                f"The gateway tried several times and got: {mask_cprs(error)}",
                "Check that the mailbox exists and is within the app's access scope (RBAC for "
                "Applications), and the folder name in the gateway file.",
            ),
        )
    return Banner(
        "unmapped",
        f"Kunne ikke leveres i {mailbox} ({folder})",
        (
            f"Gatewayen har prøvet flere gange og fik: {mask_cprs(error)}",
            "Kontrollér at postkassen findes og er omfattet af appens adgang (RBAC for Applications), "
            "og mappenavnet i gateway-filen.",
        ),
    )


def invalid_banner(findings: Sequence[Finding], language: str = "da") -> Banner:
    """The explanation shown on a memo that failed parsing or validation (it got an INVALID receipt)."""
    shown = [mask_cprs(str(f)) for f in findings if f.severity != "warning"][:20]
    if language == "en":
        title = "This Digital Post message is invalid"
        intro = "NgDP was answered with an INVALID receipt. The original MeMo XML is attached. Problems:"
    else:
        title = "Denne Digital Post-meddelelse er ugyldig"
        intro = "NgDP har fået en INVALID-kvittering. Den oprindelige MeMo-XML er vedhæftet. Fejl:"
    return Banner("invalid", title, (intro, *shown))


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


def _fmt_dt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def overview_rows(
    message: MemoMessage, opts: ViewOptions, contact_point_name: str | None = None
) -> list[tuple[str, str]]:
    """(label, value) rows of the overview table, in reading order; values are plain text."""
    t = _t(opts.language)
    h = message.header
    yes_no = {True: t["yes"], False: t["no"], None: t["no"]}
    rows: list[tuple[str, str]] = [
        (t["sender"], _party(h.sender.sender_id, h.sender.id_type, h.sender.label, opts)),
    ]
    if h.sender.contact_point:
        rows.append((t["sender_contact_point"], h.sender.contact_point.contact_point_id))
    rows.append(
        (t["recipient"], _party(h.recipient.recipient_id, h.recipient.id_type, h.recipient.label, opts))
    )
    if h.recipient.contact_point:
        cp = h.recipient.contact_point.contact_point_id
        rows.append((t["contact_point"], f"{contact_point_name} ({cp})" if contact_point_name else cp))
    rows.append((t["label"], h.label))
    if message.body is not None:
        rows.append((t["created"], _fmt_dt(message.body.created_datetime)))
    reply = yes_no[h.reply]
    if h.reply and h.reply_by_datetime:
        reply += f", {t['reply_by']} {_fmt_dt(h.reply_by_datetime)}"
    rows += [
        (t["reply"], reply),
        (t["legal"], yes_no[h.legal_notification]),
        (t["mandatory"], yes_no[h.mandatory]),
    ]
    cd = h.content_data
    if cd is not None:
        if cd.case_id:
            rows.append((t["case"], f"{cd.case_id.case_id} ({cd.case_id.case_system})"))
        if cd.kle_data:
            rows.append((t["kle"], f"{cd.kle_data.subject_key} {cd.kle_data.label}"))
        if cd.form_data:
            rows.append((t["form"], f"{cd.form_data.task_key} {cd.form_data.label}"))
        if cd.cpr_data:
            rows.append((t["about_cpr"], _party(cd.cpr_data.cpr_number, "CPR", cd.cpr_data.name, opts)))
        if cd.cvr_data:
            rows.append(
                (t["about_cvr"], _party(cd.cvr_data.cvr_number, "CVR", cd.cvr_data.company_name, opts))
            )
        for extra in cd.additional_content_data:
            rows.append((extra.content_data_name, extra.content_data_value))
    if h.post_type:
        rows.append((t["post_type"], h.post_type))
    if h.notification:
        rows.append((t["notification"], h.notification))
    if h.forward_data:
        rows.append((t["forwarded"], h.forward_data.original_sender))
    rows.append((t["message_uuid"], h.message_uuid))
    if h.message_id:
        rows.append((t["message_id"], h.message_id))
    rows.append((t["memo_version"], message.version))
    if opts.mask_cpr:
        rows = [(k, mask_cprs(v)) for k, v in rows]
    return rows


_BANNER_STYLE = {
    "unmapped": "background:#fff4ce;border:2px solid #c19c00;",
    "invalid": "background:#fde7e9;border:2px solid #a80000;",
    "info": "background:#eef6fc;border:1px solid #0078d4;",
}


def render_banner(banner: Banner) -> str:
    lines = "".join(f"<p style='margin:4px 0'>{html.escape(line)}</p>" for line in banner.lines)
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


def _unique(name: str, taken: set[str]) -> str:
    candidate = name or "fil"
    n = 2
    while candidate.lower() in taken:
        stem, dot, ext = (name or "fil").rpartition(".")
        candidate = f"{stem} ({n}).{ext}" if dot and stem else f"{name} ({n})"
        n += 1
    taken.add(candidate.lower())
    return candidate


#: Largest MeMo XML attached. Its Files are attached one by one anyway, and replies read the XML from the
#: store, so a 99.5 MB memo is not carried twice (Exchange's message size limit, often 35-150 MB).
MEMO_XML_ATTACH_LIMIT = 25_000_000
#: Largest main document shown inline. Graph refuses request bodies over 4 MB and the mail body cannot go
#: through an upload session (graph-facts: 4 MB limit), so a bigger one is only attached (it always is).
INLINE_MAIN_LIMIT = 1_000_000


def _main_html(message: MemoMessage, t: dict[str, str]) -> str:
    if message.body is None:
        note = message.header.notification or t["no_main"]
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
        return f"<p><i>{html.escape(t['main_attached'].format(name=files[0].filename))}</i></p>"
    return f"<p>{html.escape(t['no_main'])}</p>"


def _file_attachment(f: File, taken: set[str]) -> Attachment:
    content = f.content
    return Attachment(
        _unique(f.filename, taken),
        f.encoding_format or "application/octet-stream",
        content,
        size=len(content),
    )


@dataclass(frozen=True)
class DeliveredView:
    mail: MailMessage
    banners: tuple[Banner, ...] = ()
    overview: tuple[tuple[str, str], ...] = field(default=())


def _rule_section(reasons: Sequence[str], t: dict[str, str], note: str | None) -> str:
    items = "".join(f"<li>{html.escape(mask_cprs(r))}</li>" for r in reasons)
    text = f"<ul>{items}</ul>" if items else f"<p>{html.escape(note or t['rule_none'])}</p>"
    return f"<div class='dpg-rule'><p><b>{html.escape(t['rule'])}</b></p>{text}</div>"


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
) -> DeliveredView:
    """The received mail for a valid (parsed) memo; see the module docstring for its shape."""
    t = _t(options.language)
    h = message.header
    rows = overview_rows(message, options, contact_point_name)
    parts = [render_banner(b) for b in banners]
    parts.append(render_table(rows, t["overview"]))
    parts.append(_rule_section(rule_reasons, t, routing_note))
    parts.append("<hr>")
    parts.append(_main_html(message, t))
    taken: set[str] = set()
    attachments = [_file_attachment(f, taken) for f in message.files()]
    if len(xml) <= MEMO_XML_ATTACH_LIMIT:
        attachments.append(
            Attachment(_unique(f"{h.message_uuid}.memo.xml", taken), "application/xml", xml, size=len(xml))
        )
    else:
        parts.append(f"<p><i>{html.escape(t['xml_kept'])}</i></p>")
    mail = MailMessage(
        subject=h.label,
        body=wrap_document("".join(parts), h.label, options.language),
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


def render_invalid_mail(
    xml: bytes,
    memo_uuid: str,
    findings: Sequence[Finding],
    *,
    target_mailbox: str,
    message: MemoMessage | None = None,
    categories: Sequence[str] = (),
    options: ViewOptions = ViewOptions(),
) -> DeliveredView:
    """The received mail for a memo that failed parsing or validation: banner, what could be read, raw XML."""
    t = _t(options.language)
    banner = invalid_banner(findings, options.language)
    if message is not None:
        try:
            view = render_memo_mail(
                message,
                xml,
                target_mailbox=target_mailbox,
                reply_from=None,
                banners=[banner],
                categories=categories,
                options=options,
                routing_note=t["rule_none"],
            )
        except MemoError:
            # What parsed may still not render: parse leaves File content undecoded, so content that is not
            # base64 fails only here. Without this the memo was never delivered (retried every cycle).
            pass
        else:
            view.mail.internet_message_id = memo_internet_message_id(memo_uuid)
            return view
    subject = f"{t['invalid_subject']} ({memo_uuid})"
    body = render_banner(banner) + render_table([(t["message_uuid"], memo_uuid)], t["overview"])
    mail = MailMessage(
        subject=subject,
        body=wrap_document(body, subject, options.language),
        body_type="html",
        to=[EmailAddress(target_mailbox)],
        attachments=[Attachment(f"{memo_uuid}.memo.xml", "application/xml", xml, size=len(xml))],
        headers=[Header(MEMO_UUID_HEADER, memo_uuid)],
        categories=list(dict.fromkeys(categories)),
        internet_message_id=memo_internet_message_id(memo_uuid),
    )
    return DeliveredView(mail, (banner,), ((t["message_uuid"], memo_uuid),))


def findings_json(findings: Sequence[Finding]) -> str:
    """Findings as compact JSON (CPR-masked) for the INVALID receipt's errorMessage."""
    return json.dumps(
        [mask_cprs(str(f)) for f in findings if f.severity != "warning"][:10], ensure_ascii=False
    )
