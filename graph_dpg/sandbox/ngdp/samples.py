"""Small, schema-valid MeMo messages for the sandbox and tests (inbound memos to queue, memos to send),
shaped like the official minimum example (MeMo_Minimum_Example.xml, a copy is in tests/unit/memo/examples/)
without depending on the MeMo library. Values are XML-escaped; file contents are base64 of the given bytes.
"""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from xml.sax.saxutils import escape


def sample_memo(
    *,
    message_uuid: str | None = None,
    version: str = "1.2",
    sender_cvr: str = "29189846",
    sender_label: str = "Sandbox Kommune",
    sender_contact_point: str | None = None,
    recipient_id: str = "0101900000",
    recipient_id_type: str = "CPR",
    recipient_contact_point: str | None = None,
    label: str = "Besked fra kommunen",
    mandatory: bool = False,
    legal_notification: bool = False,
    reply: bool = False,
    main_filename: str = "brev.txt",
    main_content: bytes = "Hej, dette er en prøve.".encode(),
    attachments: int = 0,
    attachment_size: int = 16,
) -> bytes:
    """One DIGITALPOST MeMo (1.1 or 1.2) with a text main document and ``attachments`` PDFs."""
    uid = message_uuid or str(uuid.uuid4())
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def contact_point(point: str | None) -> str:
        if point is None:
            return ""
        return (
            f"<memo:ContactPoint><memo:contactPointID>{escape(point)}</memo:contactPointID>"
            "</memo:ContactPoint>"
        )

    def file(fmt: str, name: str, content: bytes) -> str:
        return (
            f"<memo:File><memo:encodingFormat>{fmt}</memo:encodingFormat>"
            f"<memo:filename>{escape(name)}</memo:filename><memo:language>da</memo:language>"
            f"<memo:content>{base64.b64encode(content).decode()}</memo:content></memo:File>"
        )

    flags = ""
    if version == "1.1" or mandatory or legal_notification:
        flags = (
            f"<memo:mandatory>{str(mandatory).lower()}</memo:mandatory>"
            f"<memo:legalNotification>{str(legal_notification).lower()}</memo:legalNotification>"
        )
    reply_el = "<memo:reply>true</memo:reply>" if reply else ""
    extra = "".join(
        f"<memo:AdditionalDocument><memo:label>Bilag {i + 1}</memo:label>"
        f"{file('application/pdf', f'bilag-{i + 1}.pdf', b'%PDF-1.4 ' + bytes(attachment_size))}"
        f"</memo:AdditionalDocument>"
        for i in range(attachments)
    )
    sch = ' memoSchVersion="1.1.0"' if version == "1.1" else ""
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1" memoVersion="{version}"{sch}>'
        "<memo:MessageHeader>"
        "<memo:messageType>DIGITALPOST</memo:messageType>"
        f"<memo:messageUUID>{uid}</memo:messageUUID>"
        f"<memo:label>{escape(label)}</memo:label>"
        f"{reply_el}{flags}"
        f"<memo:Sender><memo:senderID>{escape(sender_cvr)}</memo:senderID><memo:idType>CVR</memo:idType>"
        f"<memo:label>{escape(sender_label)}</memo:label>{contact_point(sender_contact_point)}</memo:Sender>"
        f"<memo:Recipient><memo:recipientID>{escape(recipient_id)}</memo:recipientID>"
        f"<memo:idType>{escape(recipient_id_type)}</memo:idType>{contact_point(recipient_contact_point)}"
        "</memo:Recipient>"
        "</memo:MessageHeader>"
        "<memo:MessageBody>"
        f"<memo:createdDateTime>{created}</memo:createdDateTime>"
        f"<memo:MainDocument>{file('text/plain', main_filename, main_content)}</memo:MainDocument>"
        f"{extra}"
        "</memo:MessageBody>"
        "</memo:Message>"
    )
    return xml.encode("utf-8")
