"""Shared helpers for the MeMo tests (imported by module name: the test folder is on sys.path)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph_dpg import memo

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
EXAMPLES: list[tuple[str, Path]] = [
    *(("1.1", path) for path in sorted((EXAMPLES_DIR / "official-1.1").glob("*.xml"))),
    *(("1.2", path) for path in sorted((EXAMPLES_DIR / "memo-1.2").glob("*.xml"))),
]

SENDER_CVR = "29189846"
RECIPIENT_CPR = "2211771212"
MESSAGE_UUID = "8c2ea15d-61fb-4ba9-9366-42f8b194c114"


def example_id(item: tuple[str, Path]) -> str:
    return f"{item[0]}-{item[1].stem}"


def make_body(*documents: memo.Document, files: tuple[memo.File, ...] | None = None) -> memo.MessageBody:
    main = memo.Document(
        kind="main",
        files=files or (memo.File("application/pdf", "brev.pdf", "da", b"%PDF-1.7 test"),),
    )
    return memo.MessageBody(
        created_datetime=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        main_document=main,
        additional_documents=documents,
    )


def make_message(
    version: str = "1.2", body: memo.MessageBody | None = None, **header: Any
) -> memo.MemoMessage:
    """A small message that passes the XSD and every business rule; ``header`` overrides header fields."""
    fields: dict[str, Any] = {
        "message_type": memo.MESSAGE_TYPE_DIGITALPOST,
        "message_uuid": MESSAGE_UUID,
        "label": "Afgørelse",
        "sender": memo.Sender(sender_id=SENDER_CVR, id_type="CVR", label="Kommunen"),
        "recipient": memo.Recipient(recipient_id=RECIPIENT_CPR, id_type="CPR"),
    }
    fields.update(header)
    return memo.MemoMessage(
        header=memo.MessageHeader(**fields),
        body=body if body is not None else make_body(),
        version=version,  # type: ignore[arg-type]
    )


def rules(findings: list[memo.Finding]) -> list[str]:
    return [finding.rule for finding in findings]
