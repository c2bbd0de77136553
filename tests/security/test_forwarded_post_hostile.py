"""Hostile Digital Post forwarded by NgDP's SMTP recipient system (seed 000) through the inbound path on the
emulators: broken encryption and signatures, MeMo XML that is malformed, unsafe (DOCTYPE, billion laughs),
schema-invalid, too big or deeply nested; DP2 metadata without an id, with a hostile id, without or with
1,000 documents; 1,000 MIME parts and nesting beyond the bound; a resent memo; the large-letter notice in
odd encodings; a plain mail from the forwarder's address. Each ends in one answer (a memo delivered and
answered with the right NgDP receipt, or a banner in the main mailbox with at most one alert) and the next
forwarded memo in the same mailbox is still delivered in the same round ("never a stopped mailbox").

Inputs are made at test time: the encryption with ``cryptography``'s PKCS7 envelope builder (the NgDP
emulator's forwarder, not the gateway's code), signatures with ``openssl cms`` (the independent
counterpart); stored as Exchange stores S/MIME ([MS-OXOSMIME] 2.1.3.1). The forwarded shapes themselves
are inference (docs/facts/ngdp.md, "Receiving by SMTP")."""

from __future__ import annotations

import base64
import email.utils
import shutil
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from graph_dpg.domain.forwarded_post import MEMO_NS
from graph_dpg.ports.store import InboundState
from graph_dpg.sandbox.ngdp.forwarder import FORWARDER, encrypt, forward, inner_entity
from graph_dpg.sandbox.ngdp.state import NgdpState
from graph_dpg.services.inbound import InboundService
from graph_dpg.services.inbound.forwarded import forwarded_opening
from tests.integration.inbound.harness import BYG, MAIN, MONITOR, Harness, make_harness
from tests.smime_pki import Pki, make_pki, openssl

from inbound_memos import CP_BYG, citizen_memo  # isort: skip

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl binary")

SMTP = "sikkerpost@kommune.dk"
NEXT = "Næste brev"
#: The MeMo size bound the opening step is built with here (the product's bound is far larger; the same
#: code path).
SMALL_MEMO_BOUND = 200_000


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
async def h(db_url: str) -> AsyncIterator[Harness]:
    harness = make_harness(
        db_url,
        inbox_sources=((MAIN, "inbox"), (SMTP, "inbox")),
        forwarded_mailboxes=frozenset({SMTP}),
        forwarded_receipt=True,
    )
    harness.tenant.add_mailbox(SMTP, "Sikker post fra Digital Post")
    async with harness.mailbox:
        yield harness
    harness.store.close()


def service(h: Harness, pki: Pki) -> InboundService:
    opening = forwarded_opening(
        h.secure_opening(pki), h.store, frozenset({SMTP}), max_memo_bytes=SMALL_MEMO_BOUND
    )
    return h.service_with(open_mail=opening)


# ----------------------------------------------------------------------------------------------- builders


def outer(entity: bytes, pki: Pki, *, subject: str = "Digital Post", recipient: Path | None = None) -> bytes:
    """The forwarder's outer mail around ``entity`` encrypted to the organisation (RFC 8551 3.3)."""
    der = encrypt(entity, (recipient or pki.org.pem).read_bytes())
    body = base64.encodebytes(der).replace(b"\n", b"\r\n")
    return (
        f"From: {FORWARDER}\r\nTo: {SMTP}\r\nSubject: {subject}\r\n"
        f"Date: {email.utils.formatdate(usegmt=True)}\r\n"
        f"Message-ID: {email.utils.make_msgid(domain='digitalpost.dk')}\r\nMIME-Version: 1.0\r\n"
        'Content-Type: application/pkcs7-mime; smime-type=enveloped-data; name="smime.p7m"\r\n'
        'Content-Disposition: attachment; filename="smime.p7m"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + body


def with_xml(xml: bytes, *, name: str = "memo.xml", extra: bytes = b"") -> bytes:
    """multipart/mixed: a short text, the XML as an attachment, then ``extra`` (more parts)."""
    b64 = base64.encodebytes(xml).replace(b"\n", b"\r\n")
    return (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="fw"\r\n\r\n'
        b"--fw\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nVideresendt fra Digital Post\r\n"
        b"--fw\r\nContent-Type: application/xml\r\nContent-Transfer-Encoding: base64\r\n"
        + f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'.encode()
        + b64
        + extra
        + b"--fw--\r\n"
    )


def memo_xml(label: str) -> tuple[str, bytes]:
    return citizen_memo(label=label, contact_point=CP_BYG, body_html=None)


def signed(pki: Pki, tmp: Path, who: str, entity: bytes, *extra: str) -> bytes:
    path = tmp / f"entity-{who}.eml"
    path.write_bytes(entity)
    party = getattr(pki, who)
    return openssl("cms", "-sign", "-in", path, "-signer", party.pem, "-inkey", party.key_pem, *extra)


@dataclass(frozen=True)
class Case:
    build: Callable[[Pki, Path, NgdpState], bytes]
    #: "memo": delivered as Digital Post with receipt ``receipt``; "banner": the main mailbox gets a banner
    #: naming ``words`` and IT one alert; "routed": a readable mail routed by the rules, no memo.
    answer: str
    words: str = ""
    receipt: str | None = "COMPLETED"  # None: an id NgDP does not hold (made from a DP2 id)
    alerts: int = 0


def _memo_part(pki: Pki, tmp: Path, label: str) -> bytes:
    _, xml = memo_xml(label)
    return inner_entity(xml, "memo-part")[0]


def truncated(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    raw = outer(_memo_part(pki, tmp, "Afkortet"), pki)
    head, _, body = raw.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + body[: len(body) // 2]


def wrong_key(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_memo_part(pki, tmp, "Forkert nøgle"), pki, recipient=pki.stranger.pem)


def tampered(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    clear = signed(pki, tmp, "org2", _memo_part(pki, tmp, "Ændret"))
    return outer(clear.replace(b"Videresendt fra Digital Post", b"Videresendt fra Digital Pest"), pki)


def untrusted_signer(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(signed(pki, tmp, "stranger", _memo_part(pki, tmp, "Ukendt signatur"), "-nodetach"), pki)


def expired_signer(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(signed(pki, tmp, "expired", _memo_part(pki, tmp, "Udløbet signatur"), "-nodetach"), pki)


def not_well_formed(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(with_xml(f'<memo:Message xmlns:memo="{MEMO_NS}"><memo:MessageHeader>'.encode()), pki)


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + f']><memo:Message xmlns:memo="{MEMO_NS}">&lol9;</memo:Message>'
).encode()


def billion_laughs(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(with_xml(BILLION_LAUGHS), pki)


def doctype(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    _, xml = memo_xml("Med DOCTYPE")
    head, _, rest = xml.partition(b"?>")
    return outer(with_xml(head + b'?><!DOCTYPE x SYSTEM "file:///etc/passwd">' + rest), pki)


def schema_invalid(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    _, xml = memo_xml("Ugyldig MeMo")
    xml = xml.replace(b"<memo:messageType>DIGITALPOST</memo:messageType>", b"")
    ngdp.queue_forwarded_memo(xml)
    return outer(with_xml(xml), pki)


def huge(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    _, xml = memo_xml("Kæmpe MeMo")
    padding = b"<!--" + b"x" * SMALL_MEMO_BOUND + b"-->"
    return outer(with_xml(xml + padding), pki)


def deep_xml(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    _, xml = memo_xml("Dybt XML")
    depth = 10_000  # beyond libxml2's depth limit even with huge_tree (2,048)
    deep = b"<memo:x>" * depth + b"</memo:x>" * depth
    return outer(with_xml(xml.replace(b"</memo:MessageBody>", deep + b"</memo:MessageBody>")), pki)


def _queued(ngdp: NgdpState) -> str:
    """The id of a memo NgDP holds for forwarding (so its receipt can be taken)."""
    uid, xml = memo_xml("DP2")
    ngdp.queue_forwarded_memo(xml)
    return uid


def _dp2(meta: str, documents: int) -> bytes:
    parts = [
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="dp2"\r\n\r\n',
        b"--dp2\r\nContent-Type: application/xml\r\n"
        b'Content-Disposition: attachment; filename="metadata.xml"\r\n\r\n' + meta.encode() + b"\r\n",
    ]
    for i in range(documents):
        parts.append(
            f"--dp2\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="dok{i}.pdf"\r\n\r\n'.encode()
            + base64.encodebytes(b"%PDF-1.4 dokument " + str(i).encode()).replace(b"\n", b"\r\n")
        )
    parts.append(b"--dp2--\r\n")
    return b"".join(parts)


def _meta(ident: str | None, title: str) -> str:
    id_el = f"<MeddelelseId>{ident}</MeddelelseId>" if ident is not None else ""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><DigitalPostMeddelelse>{id_el}<Titel>{title}</Titel>'
        "<AfsenderNavn>Skattestyrelsen</AfsenderNavn><AfsenderId>19552101</AfsenderId>"
        "<ModtagerCVR>29189846</ModtagerCVR></DigitalPostMeddelelse>"
    )


def dp2_no_id(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_dp2(_meta(None, "DP2 uden id"), 1), pki)


def dp2_path_id(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_dp2(_meta("../../etc/passwd\\..\\x:y", "DP2 sti-id"), 1), pki)


def dp2_long_id(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_dp2(_meta("A" * 10_240, "DP2 langt id"), 1), pki)


def dp2_no_documents(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_dp2(_meta("dp2-uden-dokumenter", "DP2 uden dokumenter"), 0), pki)


def dp2_thousand_documents(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    return outer(_dp2(_meta(_queued(ngdp), "DP2 tusind dokumenter"), 998), pki)  # + multipart + metadata


def thousand_parts(  # 1,004 parts: beyond domain.smime.MAX_MIME_PARTS (the DP2 case has exactly 1,000)
    pki: Pki, tmp: Path, ngdp: NgdpState
) -> bytes:
    _, xml = memo_xml("Tusind dele")
    extra = b"".join(
        f'--fw\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename="d{i}.txt"\r\n\r\n{i}\r\n'.encode()
        for i in range(1001)
    )
    return outer(with_xml(xml, extra=extra), pki)


def nested(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    depth = 101
    opening = b"".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n".encode() for i in range(depth)
    )
    _, xml = memo_xml("Dybt MIME")
    inner = b"Content-Type: application/xml\r\n\r\n" + xml + b"\r\n"
    closing = b"".join(f"\r\n--b{i}--\r\n".encode() for i in reversed(range(depth)))
    return outer(b"MIME-Version: 1.0\r\n" + opening + inner + closing, pki)


def _notice(text: str, cte: str, charset: str, subject: str) -> Callable[[Pki, Path, NgdpState], bytes]:
    def build(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
        raw = text.encode(charset)
        if cte == "base64":
            body = base64.encodebytes(raw)
        else:
            import quopri

            body = quopri.encodestring(raw)
        entity = (
            f"MIME-Version: 1.0\r\nContent-Type: text/plain; charset={charset}\r\n"
            f"Content-Transfer-Encoding: {cte}\r\n\r\n"
        ).encode() + body
        return outer(entity, pki, subject=subject)

    return build


DA_NOTICE = (
    "Du har modtaget en meddelelse i Digital Post, som er for stor til at blive videresendt "
    "(større end 10 MB). Log på Digital Post for at læse den."
)
EN_NOTICE = (
    "You have received a message in Digital Post that is too large to be forwarded "
    "(larger than 10 MB). Log on to Digital Post to read it."
)


def plain_from_forwarder(pki: Pki, tmp: Path, ngdp: NgdpState) -> bytes:
    _, xml = memo_xml("Ikke krypteret")
    return f"From: {FORWARDER}\r\nTo: {SMTP}\r\nSubject: Ikke krypteret\r\n".encode() + with_xml(xml)


CASES: dict[str, Case] = {
    "truncated": Case(truncated, "banner", "smime:damaged", alerts=1),
    "wrong-key": Case(wrong_key, "banner", "smime:no-key", alerts=1),
    "tampered": Case(tampered, "banner", "smime:signature", alerts=1),
    "untrusted-signer": Case(untrusted_signer, "routed", "signaturen er ikke betroet"),
    "expired-signer": Case(expired_signer, "routed", "signaturen er udløbet"),
    "not-well-formed": Case(not_well_formed, "banner", "ngdp-smtp:unreadable", alerts=1),
    "billion-laughs": Case(billion_laughs, "banner", "ngdp-smtp:unreadable", alerts=1),
    "doctype": Case(doctype, "banner", "ngdp-smtp:unreadable", alerts=1),
    "schema-invalid": Case(schema_invalid, "memo", receipt="INVALID"),
    "huge": Case(huge, "banner", "ngdp-smtp:unreadable", alerts=1),
    "deep-xml": Case(deep_xml, "banner", "ngdp-smtp:unreadable", alerts=1),
    "dp2-no-id": Case(dp2_no_id, "banner", "ngdp-smtp:unreadable", alerts=1),
    "dp2-path-id": Case(dp2_path_id, "memo", receipt=None),
    "dp2-long-id": Case(dp2_long_id, "memo", receipt=None),
    "dp2-no-documents": Case(dp2_no_documents, "banner", "ngdp-smtp:unreadable", alerts=1),
    "dp2-1000-documents": Case(dp2_thousand_documents, "memo"),
    "over-1000-parts": Case(thousand_parts, "banner", "smime:damaged", alerts=1),
    "nested-101": Case(nested, "banner", "smime:damaged", alerts=1),
    "large-da-qp-latin1": Case(
        _notice(DA_NOTICE, "quoted-printable", "iso-8859-1", "=?iso-8859-1?q?Meddelelse_for_stor?="),
        "banner",
        "ngdp-smtp:too-large",
        alerts=1,
    ),
    "large-da-base64-utf8": Case(
        _notice(DA_NOTICE, "base64", "utf-8", "=?utf-8?b?U3TDuHJyZSBlbmQgMTAgTUI=?="),
        "banner",
        "ngdp-smtp:too-large",
        alerts=1,
    ),
    "large-en-base64-latin1": Case(
        _notice(EN_NOTICE, "base64", "iso-8859-1", "Message too large"),
        "banner",
        "ngdp-smtp:too-large",
        alerts=1,
    ),
    "large-en-qp-utf8": Case(
        _notice(EN_NOTICE, "quoted-printable", "utf-8", "Message too large"),
        "banner",
        "ngdp-smtp:too-large",
        alerts=1,
    ),
    "not-smime": Case(plain_from_forwarder, "routed", "Videresendt fra Digital Post"),
}


#: Every case on SQLite; on PostgreSQL one case per kind of answer. The store only records what became of
#: a mail; the parsing each case attacks runs before it, the same on either database, so the other cases
#: on PostgreSQL proved nothing more (and the 1,000-part ones cost seconds each).
ON_POSTGRES = ("truncated", "not-smime", "schema-invalid")
DB_AND_CASE = [pytest.param("sqlite", case, id=f"sqlite-{case}") for case in CASES] + [
    pytest.param("postgres", case, id=f"postgres-{case}", marks=pytest.mark.postgres) for case in ON_POSTGRES
]


@pytest.mark.parametrize(("db_url", "case"), DB_AND_CASE, indirect=["db_url"])
async def test_hostile_forwarded_post_ends_in_an_answer_and_the_next_memo_is_still_delivered(
    h: Harness, pki: Pki, tmp_path: Path, case: str
) -> None:
    spec = CASES[case]
    h.tenant.deliver_mime(SMTP, spec.build(pki, tmp_path, h.ngdp))
    next_uid, next_xml = memo_xml(NEXT)
    forward(h.ngdp, h.tenant.deliver_mime, next_xml, mailbox=SMTP, recipient_pem=pki.org.pem.read_bytes())

    stats = await service(h, pki).run_once(pull=False)
    again = await service(h, pki).run_once(pull=False)  # a second round answers no more

    assert stats.errors == [] and again.errors == []
    assert (again.delivered, again.acknowledged, again.forwarded) == (0, 0, 0)
    [after] = [m for m in h.messages(BYG) if m["subject"] == NEXT]  # the mailbox did not stop
    assert after["internetMessageId"] == f"<memo-{next_uid}@graph-dpg.invalid>"
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(next_uid)] == ["COMPLETED"]
    banners = [m for m in h.messages(MAIN) if "dpg-banner" in m["body"]["content"]]
    if spec.answer == "memo":
        assert stats.forwarded == 2 and stats.delivered == 2
        [row] = [r for r in h.store.inbound_in_state(InboundState.ACKNOWLEDGED) if r.memo_uuid != next_uid]
        assert row.state is InboundState.ACKNOWLEDGED
        assert uuid.UUID(row.memo_uuid).version == 4  # never the hostile id itself
        if spec.receipt is not None:
            assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(row.memo_uuid)] == [spec.receipt]
    elif spec.answer == "banner":
        assert stats.forwarded == 1 and stats.delivered == 1  # only the next memo
        [banner] = banners
        assert spec.words in banner["body"]["content"]
        assert [a["name"] for a in banner["attachments"]][-1] == "smime.p7m"  # nothing lost
    else:
        assert stats.forwarded == 1 and stats.delivered == 1  # not taken as Digital Post
        assert banners == [] and h.store.inbound_in_state(InboundState.ACKNOWLEDGED) == [
            h.store.get_inbound(next_uid)
        ]
        shown = [m["body"]["content"] for box in (SMTP, MAIN, BYG) for m in h.messages(box)]
        assert any(spec.words in body for body in shown)
    assert len(h.messages(MONITOR)) == spec.alerts


async def test_a_memo_forwarded_again_in_a_later_round_is_not_delivered_twice(h: Harness, pki: Pki) -> None:
    """NgDP resends (the same messageUUID, another shape, a new mail): stored once by the UUID."""
    uid, xml = memo_xml("Sendt igen")
    forward(h.ngdp, h.tenant.deliver_mime, xml, mailbox=SMTP, recipient_pem=pki.org.pem.read_bytes())
    first = await service(h, pki).run_once(pull=False)
    h.tenant.deliver_mime(SMTP, outer(inner_entity(xml, "memo-attachment")[0], pki))
    second = await service(h, pki).run_once(pull=False)

    assert first.errors == [] and second.errors == []
    assert (first.delivered, second.forwarded, second.delivered) == (1, 1, 0)
    assert len([m for m in h.messages(BYG) if m["subject"] == "Sendt igen"]) == 1
    assert [r["receiptStatus"] for r in h.ngdp.inbound_receipts(uid)] == ["COMPLETED"]
    assert h.messages(MONITOR) == []
