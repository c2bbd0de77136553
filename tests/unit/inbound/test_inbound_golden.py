"""Every official MeMo example (1.1 and 1.2, the memo tests' golden files) becomes a readable mail: the
overview names the message, every File is attached, the XML is kept, no CPR number shows in clear."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph_dpg import memo as m
from graph_dpg.domain.inbound_view import render_memo_mail
from graph_dpg.domain.routing import memo_item, parse_inbound

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "memo" / "examples").rglob("*.xml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 4


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_official_example_renders(path: Path) -> None:
    xml = path.read_bytes()
    parsed = parse_inbound(xml)
    if parsed.message is None:
        pytest.skip("not readable as a MeMo message")
    message = parsed.message
    view = render_memo_mail(message, xml, target_mailbox="post@kommune.dk", reply_from=None)
    rows = dict(view.overview)
    assert rows["messageUUID"] == message.header.message_uuid
    assert rows["MeMo-version"] == message.version
    names = [a.name for a in view.mail.attachments]
    assert len(names) == len(message.files()) + 1
    assert names[-1].endswith(".memo.xml")
    assert view.mail.attachments[-1].content == xml
    assert view.mail.subject == message.header.label
    cprs = [message.header.recipient.recipient_id] if message.header.recipient.id_type == "CPR" else []
    cd = message.header.content_data
    if cd is not None and cd.cpr_data is not None:
        cprs.append(cd.cpr_data.cpr_number)
    for cpr in cprs:
        assert cpr.replace("-", "") not in view.mail.body.replace("-", "")
    item = memo_item(message, xml)
    assert item.memo["message_uuid"] == message.header.message_uuid
    assert isinstance(m.parse(xml), m.MemoMessage)
