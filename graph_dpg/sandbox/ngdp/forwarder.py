"""The NgDP emulator as the SMTP recipient system's forwarder (seed 000, "Videresend til egen e-mail"):
Digital Post mailed as S/MIME, encrypted to the organisation's certificate, into a mailbox of the Graph
emulator.

Sources: the guide (/work/shared/seeds/000: forwarding "via sikker e-mail (S/MIME)", encrypted, read
with the organisation's certificate); the OpenAPI's ``MailSystem.serviceProtocol`` SMTP. Not published,
so every one of these is **inference**, and each plausible variant is produced (``SHAPES``):

- ``memo-part``: ``multipart/mixed``: a short text/plain, then the MeMo as an inline
  ``application/xml`` part;
- ``memo-attachment``: the same, the MeMo as an attachment ``<messageUUID>.xml``
  (``application/octet-stream``);
- ``memo-bare``: the encrypted entity is the MeMo itself (``application/xml``);
- ``dp2``: the older DP2 forwarding: a metadata XML (``DigitalPostMeddelelse``: ``MeddelelseId``,
  ``Titel``, ``AfsenderNavn``, ``AfsenderId``, ``ModtagerCVR``) and the documents as attachments (here:
  the MeMo's files);
- ``large``: a memo above the 10 MB forwarding bound is not forwarded; a Danish text notice says it
  waits in Digital Post.

Outer headers: From ``noreply@digitalpost.dk`` (inference), To the mailbox, the memo's label as
Subject, and the enveloped-data entity (``application/pkcs7-mime; smime-type=enveloped-data; name=
smime.p7m``, base64; RFC 8551 3.3). The encryption is ``cryptography``'s PKCS7 envelope builder (RSA
PKCS#1 v1.5 key transport, AES-256-CBC) - never the gateway's code. The emulator does not sign
(inference: whether NgDP signs forwarded mail is not published).
"""

from __future__ import annotations

import base64
import email.header
import email.policy
import email.utils
from collections.abc import Callable
from email.message import EmailMessage
from typing import Literal
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.ciphers import algorithms
from cryptography.hazmat.primitives.serialization import pkcs7
from lxml import etree

from graph_dpg.sandbox.ngdp.state import NgdpState

Shape = Literal["memo-part", "memo-attachment", "memo-bare", "dp2", "large"]
SHAPES: tuple[Shape, ...] = ("memo-part", "memo-attachment", "memo-bare", "dp2", "large")
#: Forwarding stops above this size (issue 16: "forwarding stops above 10 MB"; inference as to bytes).
FORWARD_LIMIT = 10 * 1024 * 1024
FORWARDER = "Digital Post <noreply@digitalpost.dk>"
_NS = {"memo": "https://DigitalPost.dk/MeMo-1"}

LARGE_NOTICE = (
    "Du har modtaget en meddelelse i Digital Post, som er for stor til at blive videresendt "
    "(større end 10 MB).\r\nLog på Digital Post for at læse den.\r\n"
)


def _memo_fields(xml: bytes) -> tuple[str, str, str, str, str, list[tuple[str, str, bytes]]]:
    """messageUUID, label, sender label, sender id, recipient id and files (name, MIME type, bytes)."""
    root = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))

    def first(path: str) -> str:
        found = root.find(path, _NS)
        return (found.text or "").strip() if found is not None else ""

    files = [
        (
            (f.findtext("memo:filename", "", _NS) or "dokument").strip(),
            (f.findtext("memo:encodingFormat", "", _NS) or "application/octet-stream").strip(),
            base64.b64decode(f.findtext("memo:content", "", _NS) or ""),
        )
        for f in root.iterfind(".//memo:File", _NS)
    ]
    return (
        first("memo:MessageHeader/memo:messageUUID"),
        first("memo:MessageHeader/memo:label"),
        first("memo:MessageHeader/memo:Sender/memo:label"),
        first("memo:MessageHeader/memo:Sender/memo:senderID"),
        first("memo:MessageHeader/memo:Recipient/memo:recipientID"),
        files,
    )


def inner_entity(xml: bytes, shape: Shape) -> tuple[bytes, str]:
    """The MIME entity that is encrypted for ``shape``, and the Subject the mail carries."""
    memo_uuid, label, sender, sender_id, recipient_id, files = _memo_fields(xml)
    if shape == "large" or (len(xml) > FORWARD_LIMIT and shape != "memo-bare"):
        part = EmailMessage()
        part.set_content(LARGE_NOTICE, charset="utf-8")
        return part.as_bytes(policy=email.policy.SMTP), "Meddelelse for stor til videresendelse"
    if shape == "memo-bare":
        part = EmailMessage()
        part.set_content(xml, maintype="application", subtype="xml", cte="base64")
        return part.as_bytes(policy=email.policy.SMTP), label
    msg = EmailMessage()
    msg.set_content(f"Videresendt fra Digital Post: {label}\r\n", charset="utf-8")
    if shape == "memo-part":
        msg.add_attachment(xml, maintype="application", subtype="xml", disposition="inline")
    elif shape == "memo-attachment":
        msg.add_attachment(xml, maintype="application", subtype="octet-stream", filename=f"{memo_uuid}.xml")
    else:  # dp2
        metadata = (
            '<?xml version="1.0" encoding="UTF-8"?><DigitalPostMeddelelse>'
            f"<MeddelelseId>{escape(memo_uuid)}</MeddelelseId><Titel>{escape(label)}</Titel>"
            f"<AfsenderNavn>{escape(sender)}</AfsenderNavn><AfsenderId>{escape(sender_id)}</AfsenderId>"
            f"<ModtagerCVR>{escape(recipient_id)}</ModtagerCVR>"
            "</DigitalPostMeddelelse>"
        ).encode()
        msg.add_attachment(metadata, maintype="application", subtype="xml", filename="metadata.xml")
        for name, ctype, content in files:
            main, _, sub = ctype.partition("/")
            msg.add_attachment(
                content, maintype=main or "application", subtype=sub or "octet-stream", filename=name
            )
    return msg.as_bytes(policy=email.policy.SMTP), label


def encrypt(entity: bytes, recipient_pem: bytes) -> bytes:
    """The enveloped-data (DER) of ``entity`` for the certificate ``recipient_pem`` (AES-256-CBC)."""
    cert = x509.load_pem_x509_certificate(recipient_pem)
    builder = (
        pkcs7.PKCS7EnvelopeBuilder()
        .set_data(entity)
        .add_recipient(cert)
        .set_content_encryption_algorithm(algorithms.AES256)
    )
    return builder.encrypt(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def forwarded_mail(xml: bytes, shape: Shape, recipient_pem: bytes, to: str) -> bytes:
    """The whole S/MIME mail NgDP's forwarder sends for the memo ``xml`` in ``shape``."""
    entity, subject = inner_entity(xml, shape)
    der = encrypt(entity, recipient_pem)
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    encoded_subject = email.header.Header(subject, "utf-8").encode() if not subject.isascii() else subject
    msgid = email.utils.make_msgid(domain="digitalpost.dk")
    headers = (
        f"From: {FORWARDER}\r\nTo: {to}\r\nSubject: {encoded_subject}\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\nMessage-ID: {msgid}\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    )
    return headers.encode() + body


def forward(
    state: NgdpState,
    deliver: Callable[[str, bytes], str],
    xml: bytes,
    *,
    mailbox: str,
    recipient_pem: bytes,
    shape: Shape = "memo-part",
) -> str:
    """Hold the memo (its REST receipt is taken; never listed for pull) and mail it to ``mailbox`` through
    ``deliver`` (e.g. ``GraphTenant.deliver_mime``). Returns the memo's id."""
    memo_id = state.queue_forwarded_memo(xml)
    deliver(mailbox, forwarded_mail(xml, shape, recipient_pem, mailbox))
    return memo_id
