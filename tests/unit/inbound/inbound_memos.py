"""Inbound test memos built with the project's MeMo library (valid against the XSD)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from graph_dpg import memo as m

ORG_CVR = "29189846"
CP_BYG = "bdcc201c-600c-4254-92c4-bab15dc075b5"
CP_UNMAPPED = "0f9c3b1e-8a51-4c1e-b2f7-4b6a5f0e2d11"
CP_UNKNOWN = "6a1d2c3b-4e5f-4a7b-8c9d-0e1f2a3b4c5d"
CITIZEN = "0101701234"
CITIZEN_CP = "3c2b1a09-8f7e-4d6c-9b5a-4f3e2d1c0b9a"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def citizen_memo(
    *,
    label: str = "Spørgsmål om byggetilladelse",
    contact_point: str | None = CP_BYG,
    reply: bool = True,
    body_html: str | None = "<p>Hej kommune</p><script>alert(1)</script>",
    attachments: int = 1,
    kle: str | None = "02.00.00",
    case_id: str | None = "SAG-2024-17",
    message_uuid: str | None = None,
    sender_cp: str | None = None,
    about_cpr: str | None = None,
    **header: Any,
) -> tuple[str, bytes]:
    uid = message_uuid or str(uuid.uuid4())
    files: list[m.File] = []
    if body_html is not None:
        files.append(m.File("text/html", "brev.html", "da", body_html.encode()))
    else:
        files.append(m.File("application/pdf", "brev.pdf", "da", PDF))
    content = m.ContentData(
        cpr_data=m.CPRData(about_cpr, "Anders And") if about_cpr else None,
        case_id=m.CaseID(case_id, "ESDH") if case_id else None,
        kle_data=m.KLEData(kle, "2023", "Byggeri") if kle else None,
    )
    message = m.MemoMessage(
        header=m.MessageHeader(
            message_type="DIGITALPOST",
            message_uuid=uid,
            label=label,
            sender=m.Sender(
                CITIZEN,
                "CPR",
                "Anders And",
                contact_point=m.ContactPoint(sender_cp) if sender_cp else None,
            ),
            recipient=m.Recipient(
                ORG_CVR,
                "CVR",
                label="Sandbox Kommune",
                contact_point=m.ContactPoint(contact_point) if contact_point else None,
            ),
            reply=reply,
            content_data=content if (kle or case_id or about_cpr) else None,
            **header,
        ),
        body=m.MessageBody(
            created_datetime=datetime(2026, 11, 20, 9, 30, tzinfo=UTC),
            main_document=m.Document("main", tuple(files), label="Brev"),
            additional_documents=tuple(
                m.Document(
                    "additional",
                    (m.File("application/pdf", f"bilag-{i + 1}.pdf", "da", PDF),),
                    label=f"Bilag {i + 1}",
                )
                for i in range(attachments)
            ),
        ),
    )
    return uid, m.build(message)
