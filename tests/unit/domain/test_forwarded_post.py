"""Finding the Digital Post in a decrypted mail forwarded by NgDP's SMTP recipient system
(``domain.forwarded_post``). The MIME shapes are inference (docs/facts/ngdp.md, "Receiving by SMTP"); the
emulator's forwarder makes the entities, so the shapes tested here are the ones the emulator produces."""

from __future__ import annotations

import uuid
from email.message import EmailMessage

import pytest

from graph_dpg.core.errors import LimitExceededError
from graph_dpg.domain.forwarded_post import (
    DP2_NAMESPACE,
    ForwardedPost,
    find_forwarded_post,
    large_notice_banner,
)
from graph_dpg.domain.routing import parse_inbound
from graph_dpg.sandbox.ngdp.forwarder import SHAPES, inner_entity
from graph_dpg.sandbox.ngdp.samples import sample_memo

UID = "5b1e8a4c-0d2f-4c3e-9a7b-6f5e4d3c2b1a"


@pytest.mark.parametrize("shape", [s for s in SHAPES if s != "large"])
def test_every_shape_the_forwarder_makes_yields_a_valid_memo(shape: str) -> None:
    xml = sample_memo(message_uuid=UID, attachments=1, recipient_id="29189846", recipient_id_type="CVR")
    entity, _ = inner_entity(xml, shape)  # type: ignore[arg-type]

    found = find_forwarded_post(entity)

    assert (found.kind, found.memo_uuid, found.shape) == ("memo", UID, shape)
    parsed = parse_inbound(found.xml)
    assert parsed.valid, parsed.errors  # the DP2 metadata made into a MeMo is valid too
    if shape != "dp2":
        assert found.xml == xml


def test_the_large_notice_is_recognised_and_its_banner_says_what_to_do() -> None:
    entity, subject = inner_entity(sample_memo(), "large")
    assert find_forwarded_post(entity).kind == "large"
    english = EmailMessage()
    english.set_content("This message is too large to be forwarded. Please log on to Digital Post.")
    assert find_forwarded_post(english.as_bytes()).kind == "large"
    banner = large_notice_banner("da")
    assert banner.title == "Et stort brev venter i Digital Post"
    assert any("Virk" in line for line in banner.lines) and "ngdp-smtp:too-large" in banner.lines[-1]
    assert subject


def test_xml_that_is_no_memo_and_plain_mail_are_not_digital_post() -> None:
    mail = EmailMessage()
    mail.set_content("Hej, her er fakturaen.")
    mail.add_attachment(
        b"<?xml version='1.0'?><Invoice/>", maintype="application", subtype="xml", filename="f.xml"
    )
    assert find_forwarded_post(mail.as_bytes()).kind == "none"
    named_like_a_memo = EmailMessage()
    named_like_a_memo.add_attachment(b"not xml", maintype="application", subtype="xml", filename=f"{UID}.xml")
    # An XML part that cannot be read is not ordinary mail either: it is Digital Post that cannot be read.
    assert find_forwarded_post(named_like_a_memo.as_bytes()) == ForwardedPost("unreadable", reason="xml")


def test_an_xml_bomb_is_not_read() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        b'<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1"><memo:MessageHeader>'
        b"<memo:messageUUID>&b;</memo:messageUUID></memo:MessageHeader></memo:Message>"
    )
    mail = EmailMessage()
    mail.set_content(bomb, maintype="application", subtype="xml")
    assert find_forwarded_post(mail.as_bytes()) == ForwardedPost("unreadable", reason="xml")


@pytest.mark.parametrize(
    ("xml", "documents", "reason"),
    [
        (b'<memo:Message xmlns:memo="https://DigitalPost.dk/MeMo-1"/>', 0, "memo-uuid"),
        (b"<Meddelelse><Titel>Uden id</Titel></Meddelelse>", 1, "dp2"),
        (b"<Meddelelse><MeddelelseId>DP2-1</MeddelelseId></Meddelelse>", 0, "dp2"),
    ],
)
def test_digital_post_that_cannot_be_made_a_memo_is_unreadable_with_its_reason(
    xml: bytes, documents: int, reason: str
) -> None:
    mail = EmailMessage()
    mail.set_content("Videresendt")
    mail.add_attachment(xml, maintype="application", subtype="xml", filename="metadata.xml")
    for i in range(documents):
        mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename=f"d{i}.pdf")
    assert find_forwarded_post(mail.as_bytes()) == ForwardedPost("unreadable", reason=reason)


def test_an_xml_part_over_the_bound_is_not_parsed() -> None:
    mail = EmailMessage()
    mail.set_content(b"<a>" + b"x" * 100 + b"</a>", maintype="application", subtype="xml")
    assert find_forwarded_post(mail.as_bytes(), max_xml_bytes=50) == ForwardedPost(
        "unreadable", reason="size"
    )


def test_dp2_metadata_without_a_uuid_gets_a_stable_one() -> None:
    mail = EmailMessage()
    mail.set_content("Videresendt")
    mail.add_attachment(
        b"<Meddelelse><MeddelelseId>DP2-4711</MeddelelseId><Titel>Skat</Titel><AfsenderCVR>19552101</AfsenderCVR>"
        b"</Meddelelse>",
        maintype="application",
        subtype="xml",
        filename="metadata.xml",
    )
    mail.add_attachment(b"%PDF-1.4", maintype="application", subtype="pdf", filename="brev.pdf")

    first, again = find_forwarded_post(mail.as_bytes()), find_forwarded_post(mail.as_bytes())

    derived = uuid.UUID(bytes=uuid.uuid5(DP2_NAMESPACE, "DP2-4711").bytes, version=4)
    assert first.memo_uuid == again.memo_uuid == str(derived)
    assert parse_inbound(first.xml).valid


def test_more_than_a_thousand_parts_is_refused_not_walked() -> None:
    parts = "".join(f"--b\r\nContent-Type: text/plain\r\n\r\n{i}\r\n" for i in range(1001))
    entity = f'Content-Type: multipart/mixed; boundary="b"\r\n\r\n{parts}--b--\r\n'.encode()
    with pytest.raises(LimitExceededError):
        find_forwarded_post(entity)
