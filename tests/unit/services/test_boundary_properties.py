"""Property: whatever a mail or a memo holds, it ends in a terminal state with exactly one answer, and the
next, ordinary one still goes through.

Random mails (subjects, bodies, recipients, attachments: MemoHeader.json with hostile JSON,
masseforsendelse.txt, damaged .docx, bytes) go through the real outbound service on the fakes; random
memos (a valid memo with one part made hostile: dates the calendar cannot hold, broken XML, odd labels,
deep HTML, truncation, or plain bytes) through the real inbound service. Every item must end answered:
the sender gets exactly one receipt (delivered, error, or internal error), a memo is delivered exactly
once (raw with a banner if nothing else works) and gets exactly one business receipt; and an ordinary
mail or memo handled right after it goes out as usual.

Derandomised unless a Hypothesis profile other than the default one is asked for
(``HYPOTHESIS_PROFILE``, see tests/conftest.py); the example budget is half the loaded
profile's, so a longer profile lengthens it too.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import uuid
import zipfile
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.ports.store import JOB_TERMINAL, InboundState, JobState
from graph_dpg.services.inbound import MEMO_PROPERTY
from graph_dpg.services.outbound import RECEIPT_PROPERTY, job_id_for
from tests.unit.inbound.inbound_memos import CP_BYG, citizen_memo
from tests.unit.services.test_inbound_edges import BYG
from tests.unit.services.test_inbound_edges import rig as inbound_rig
from tests.unit.services.test_outbound_edges import CITIZEN2, GW, MAILBOX, Rig
from tests.unit.services.test_outbound_edges import rig as outbound_rig

PROPERTIES = settings(
    max_examples=max(10, settings.default.max_examples // 2),
    derandomize=settings.default.derandomize or not os.environ.get("HYPOTHESIS_PROFILE"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE = "\x00\u200b\u202e\u2066\u00a0１٣<>&\"'/\\|?*\r\n\ud800ﬁ.-é"
_text = st.text(alphabet=st.characters(codec=None, categories=None) | st.sampled_from(HOSTILE), max_size=40)

# ---------------------------------------------------------------------------------------------- mails

VALID_CPRS = ["0101701234", "010170-1234", "0202802345"]
HOSTILE_CPRS = ["3213901234", "0101701235", "٠١٠١٧٠١٢٣٤", "0000000000", "01017O1234"]
_valid_recipient = st.builds(
    lambda cpr, reply: f"{cpr}{'-reply' if reply else ''}@{GW}", st.sampled_from(VALID_CPRS), st.booleans()
)
_other_recipient = st.one_of(
    st.builds(lambda cpr: f"{cpr}@{GW}", st.sampled_from(HOSTILE_CPRS)),
    st.builds(lambda n: f"masseforsendelse-{n}@{GW}", st.sampled_from(["1", "2", "3", "0", "01", "١"])),
    st.text(alphabet="0123456789-.ab" + HOSTILE, max_size=14).map(lambda t: f"{t}@{GW}"),
)
# Mostly well-formed recipients, so that mails also get past the address checks to what comes after them.
_recipient = st.tuples(st.integers(0, 9), _valid_recipient, _other_recipient).map(
    lambda t: t[1] if t[0] < 7 else t[2]
)
_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=10,
)
_header_keys = st.sampled_from(
    ["label", "replyByDateTime", "doNotDeliverUntilDate", "kle", "mandatory", "caseId", "notification"]
)
_memo_header = st.one_of(
    st.dictionaries(_header_keys | _text, _json_value, max_size=4).map(
        lambda d: json.dumps(d, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")
    ),
    st.sampled_from(
        [
            b'{"label": ' + b"9" * 5000 + b"}",  # an integer of 5,000 digits
            b'{"replyByDateTime": "9999-12-31T23:59:59-14:00"}',  # past the calendar once in UTC
            b'{"\\ud800": "lone surrogate key"}',
            b'{"label": NaN, "mandatory": Infinity}',
            b"[" * 5000,
            b"\xff\xfe{}",
        ]
    ),
)
_mass_list = st.lists(
    st.sampled_from([*VALID_CPRS, *HOSTILE_CPRS, "", "x", "0101701234;Anders", "\ufeff0101701234"]),
    max_size=6,
).map(lambda lines: "\r\n".join(lines).encode("utf-8"))


def _docx(damage: list[tuple[int, int]]) -> bytes:
    """A zip container as Word writes one, then bytes overwritten at the given offsets (a damaged
    deflate stream, a broken directory)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>" * 50)
        z.writestr("word/document.xml", "<w:document>" + "tekst " * 200 + "</w:document>")
    data = bytearray(buffer.getvalue())
    for offset, value in damage:
        data[offset % len(data)] = value
    return bytes(data)


_attachment = st.one_of(
    st.builds(lambda c: ("MemoHeader.json", "application/json", c), _memo_header),
    st.builds(lambda c: ("masseforsendelse.txt", "text/plain", c), _mass_list),
    st.builds(
        lambda d: (
            "bilag.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            _docx(d),
        ),
        st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=4),
    ),
    st.builds(lambda n, c: (n, "application/octet-stream", c), _text, st.binary(max_size=200)),
    st.just(("brev.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n")),
)
_body = st.one_of(
    _text,
    st.builds(lambda depth, t: "<div>" * depth + t + "</div>" * depth, st.integers(0, 300), _text),
    st.sampled_from(['<img src="cid:nothing">', "<p>Hej</p><script>x</script>", "&#0;&#xD800;"]),
)
_mail = st.builds(
    lambda subject, body, to, atts: MailMessage(
        subject=subject,
        body=body,
        sender=EmailAddress(MAILBOX),
        to=[EmailAddress(a) for a in to],
        attachments=[Attachment(n, t, c, size=len(c)) for n, t, c in atts],
        sent_at=datetime(2026, 12, 1, 9, 0, tzinfo=UTC),
    ),
    _text,
    _body,
    st.lists(_recipient, min_size=1, max_size=3),
    st.lists(_attachment, max_size=3),
)


def _answers(r: Rig, message_id: str) -> list[str]:
    job_id = job_id_for(MAILBOX, message_id)
    return [
        s.message.subject
        for s in r.mail.in_folder(MAILBOX, "inbox")
        if s.properties.get(RECEIPT_PROPERTY, "").startswith(f"receipt:{job_id}")
    ]


async def _mail_then_an_ordinary_one(mail: MailMessage) -> None:
    r = outbound_rig()
    mid = r.mail.put(MAILBOX, "sentitems", mail)
    await r.service.run_once()
    job = r.store.get_job(job_id_for(MAILBOX, mid))
    assert job is not None, "a mail to the gateway became no job"
    assert job.state in JOB_TERMINAL, (job.state, job.error)
    assert len(_answers(r, mid)) == 1, _answers(r, mid)

    sent_before = len(r.ngdp.accepted)
    ordinary = r.send("Almindeligt brev", CITIZEN2)
    await r.service.run_once()
    after = r.store.get_job(job_id_for(MAILBOX, ordinary))
    assert after is not None and after.state is JobState.DONE, after
    assert _answers(r, ordinary) == ["DPG kvittering: Almindeligt brev"]
    assert len(r.ngdp.accepted) == sent_before + 1
    assert len(_answers(r, mid)) == 1  # still one answer for the first


@PROPERTIES
@given(_mail)
@example(
    MailMessage(
        subject="Skadet bilag",
        to=[EmailAddress(f"0101701234@{GW}")],
        attachments=[Attachment("bilag.docx", "application/octet-stream", _docx([(60, 0), (61, 255)]))],
    )
)
@example(
    MailMessage(
        subject="Label på 5.000 cifre",
        to=[EmailAddress(f"0101701234@{GW}")],
        attachments=[Attachment("MemoHeader.json", "application/json", b'{"label": ' + b"9" * 5000 + b"}")],
    )
)
def test_every_mail_ends_answered_once_and_the_next_one_goes_out(mail: MailMessage) -> None:
    asyncio.run(_mail_then_an_ordinary_one(mail))


# ---------------------------------------------------------------------------------------------- memos


def _replace(tag: bytes, value: bytes) -> object:
    pattern = re.compile(rb"(<memo:" + tag + rb">)[^<]*(</memo:" + tag + rb">)")
    return lambda xml: pattern.sub(lambda m: m.group(1) + value + m.group(2), xml, count=1)


_bytes_text = _text.map(lambda t: t.encode("utf-8", "surrogatepass"))
_mutation = st.one_of(
    st.builds(
        lambda v: _replace(b"createdDateTime", v),
        st.sampled_from(
            [
                b"9999-12-31T23:59:59-14:00",
                b"0001-01-01T00:00:00+14:00",
                b"2026-13-40T99:99:99Z",
                b"",
                b"9" * 400,
            ]
        )
        | _bytes_text,
    ),
    st.builds(lambda v: _replace(b"label", v), _bytes_text),
    st.builds(lambda v: _replace(b"contactPointID", v), _bytes_text),
    st.builds(lambda v: _replace(b"messageUUID", v), _bytes_text),
    st.builds(lambda v: _replace(b"filename", v), _bytes_text),
    st.builds(
        lambda v: _replace(b"content", v), st.sampled_from([b"!!!", b"", b"PHA+" * 1000]) | _bytes_text
    ),
    st.builds(lambda n: lambda xml: xml[:n], st.integers(0, 3000)),
    st.builds(lambda junk: lambda xml: junk, st.binary(max_size=300)),
)
_memo_kind = st.fixed_dictionaries(
    {
        "label": _text,
        "body_html": st.one_of(st.none(), _text, st.integers(0, 400).map(lambda d: "<div>" * d + "x")),
        "kle": st.sampled_from([None, "02.00.00", "27.10.00"]),
        "contact_point": st.sampled_from([CP_BYG, None, "ukendt"]),
        "mutation": _mutation,
    }
)


async def _memo_then_an_ordinary_one(kind: dict[str, object]) -> None:
    r = inbound_rig()
    label, body_html, kle, cp = kind["label"], kind["body_html"], kind["kle"], kind["contact_point"]
    assert isinstance(label, str) and (body_html is None or isinstance(body_html, str))
    try:
        _, xml = citizen_memo(label=label, body_html=body_html, kle=kle, contact_point=cp)  # type: ignore[arg-type]
    except Exception:  # the library refuses to build it: a hostile sender sends whatever it likes instead
        xml = label.encode("utf-8", "surrogatepass")
    mutate = kind["mutation"]
    hostile = mutate(xml)  # type: ignore[operator]
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    r.ngdp.hold_memo(first, hostile)
    ordinary_uuid, ordinary = citizen_memo(label="Almindelig post", contact_point=CP_BYG)
    r.ngdp.hold_memo(second, ordinary)

    await r.service().run_once()

    for memo_id in (first, second):
        row = r.store.get_inbound(memo_id)
        assert row is not None and row.state in (InboundState.ACKNOWLEDGED, InboundState.DELETED), row
        delivered = [s for s in r.mail.messages.values() if s.properties.get(MEMO_PROPERTY) == memo_id]
        assert len(delivered) == 1, (memo_id, row)
        assert memo_id in r.ngdp.memo_receipts
    [normal] = [s for s in r.mail.in_folder(BYG, "inbox") if s.properties.get(MEMO_PROPERTY) == second]
    assert normal.message.subject == "Almindelig post" and ordinary_uuid in (
        normal.message.internet_message_id or ""
    )
    assert r.ngdp.memo_receipts[second].status == "COMPLETED"


@PROPERTIES
@given(_memo_kind)
def test_every_memo_is_delivered_and_answered_once_and_the_next_one_too(kind: dict[str, object]) -> None:
    asyncio.run(_memo_then_an_ordinary_one(kind))


def test_the_year_9999_memo_is_delivered_and_answered_once() -> None:
    kind = {
        "label": "Fra fremtiden",
        "body_html": "<p>Hej</p>",
        "kle": None,
        "contact_point": CP_BYG,
        "mutation": _replace(b"createdDateTime", b"9999-12-31T23:59:59-14:00"),
    }
    asyncio.run(_memo_then_an_ordinary_one(kind))
