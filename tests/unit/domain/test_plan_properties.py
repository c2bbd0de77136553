"""Property: plan_outbound answers any mail with letters or findings, never an exception. Random
recipients, bodies, file names, MemoHeader.json and masseforsendelse.txt; every finding can be stored
(PostgreSQL refuses NUL, UTF-8 refuses lone surrogates) and shown; a refused mail has no letters, a sent
one has one letter per distinct recipient at most."""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from graph_dpg.domain.conversion import OutboundContext, plan_outbound
from graph_dpg.domain.mail import Attachment, EmailAddress, MailMessage
from graph_dpg.domain.policies import DEFAULT_POLICIES
from graph_dpg.memo import parse

ORG = "29189846"
GW = "ngdp.digital-post.dk"
CTX = OutboundContext(
    organisation_cvr=ORG,
    organisation_name="Kommunen",
    gateway_domain="digital-post.dk",
    mailbox_address="post@k.dk",
    mailbox_configured=True,
    allowed_cvrs=frozenset({ORG}),
    allowed_sender_contact_points=frozenset(),
    policies=DEFAULT_POLICIES,
    internal_domains=frozenset({"k.dk"}),
    created=datetime(2026, 11, 22, 12, tzinfo=UTC),
)
CPRS = ["0101701234", "010170-1234", "0201701234", "0201701234", "3213901234"]
HOSTILE_CHARS = '\x00\u200b\u202e\u2066\u00a0１٣<>:"/\\|?*\r\n\ud800ﬁ.-'

_valid_recipient = st.builds(
    lambda cpr, reply, sender: f"{cpr}{'-reply' if reply else ''}@{sender}.{GW}",
    st.sampled_from(CPRS),
    st.booleans(),
    st.sampled_from([ORG, ORG, ORG, "29189847"]),
)
_other_recipient = st.one_of(
    st.builds(lambda n: f"masseforsendelse-{n}@{ORG}.{GW}", st.sampled_from(["1", "2", "3", "0", "01", "١"])),
    st.builds(lambda t: f"{t}@{ORG}.{GW}", st.text(alphabet="0123456789-.ab" + HOSTILE_CHARS, max_size=14)),
    st.sampled_from(
        ["ven@gmail.com", "kollega@k.dk", f"0101701234@{ORG}.{GW}.", f"0101701234@{ORG}.{GW}.evil"]
    ),
)
# Mostly well-formed recipients, so that mails also get past the address checks to the later ones.
_recipient = st.tuples(st.integers(0, 9), _valid_recipient, _other_recipient).map(
    lambda t: t[1] if t[0] < 8 else t[2]
)

_json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=12,
)
_header_keys = st.sampled_from(
    [
        "label",
        "replyByDateTime",
        "doNotDeliverUntilDate",
        "kle",
        "mandatory",
        "caseId",
        "notification",
        "recipientContactPoint",
        "additionalContentData",
        "legalNotification",
        "�",
        "lab\u200bel",
    ]
)
_header_json = st.one_of(
    st.dictionaries(
        _header_keys,
        st.one_of(
            _json_value,
            st.sampled_from(["9999-12-31T23:59:59-14:00", "2030-01-01T00:00:00Z", "２７", "NaN"]),
        ),
        max_size=5,
    ).map(lambda d: json.dumps(d).encode("utf-8", "surrogatepass")),
    st.binary(max_size=60),
    st.sampled_from([b'{"label": ' + b"9" * 5000 + b"}", b'{"label": NaN}', b"[" * 3000]),
)
_mass_lines = st.lists(
    st.one_of(
        st.sampled_from([*CPRS, "35833684", "87654321"]),
        st.text(alphabet="0123456789-;" + HOSTILE_CHARS, max_size=12),
    ),
    max_size=8,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))


def _zip(member: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", member)
    return buffer.getvalue()


_content = st.one_of(
    st.sampled_from([b"%PDF-1.4\n%%EOF\n", b"\x89PNG\r\n\x1a\n" + b"\0" * 20, b"MZ\x90\x00", b"", b"hej"]),
    st.binary(max_size=80),
    st.binary(max_size=40).map(_zip),
    st.binary(min_size=30, max_size=60).map(lambda b: _zip(b"x" * 50)[:20] + b + _zip(b"y")[-60:]),
)
_name = st.one_of(
    st.sampled_from(["brev.pdf", "body.pdf", "BODY.PDF", "masseforsendelse.txt", "MemoHeader.json"]),
    st.sampled_from(
        ["memoheaderinfo.json", "masseforsendelse\u200b.txt", "faktura\u202egpj.exe", "logo.png"]
    ),
    st.text(alphabet="abc.pdftx" + HOSTILE_CHARS, max_size=16),
)


@st.composite
def _attachment(draw: st.DrawFn) -> Attachment:
    name = draw(_name)
    lowered = name.strip().lower()
    if lowered.startswith("memoheader"):
        content = draw(_header_json)
    elif lowered.startswith("masseforsendelse"):
        content = draw(_mass_lines)
    else:
        content = draw(_content)
    cid = draw(st.sampled_from([None, "<logo>", "logo", "<l\u200b>"]))
    return Attachment(
        name,
        draw(st.sampled_from(["", "image/png", "text/plain"])),
        content,
        content_id=cid,
        is_inline=cid is not None,
    )


_body = st.one_of(
    st.text(max_size=80),
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<div>",
                "<b>",
                "</div>",
                "<img src=cid:logo>",
                "<table><td>",
                "<!--",
                "&amp;",
                "x",
            ]
        ),
        max_size=40,
    ).map("".join),
)


@st.composite
def _mail(draw: st.DrawFn) -> MailMessage:
    return MailMessage(
        subject=draw(st.text(max_size=30)),
        body=draw(_body),
        body_type=draw(st.sampled_from(["html", "html", "text"])),
        to=[EmailAddress(a) for a in draw(st.lists(_recipient, min_size=1, max_size=2))],
        cc=[EmailAddress(a) for a in draw(st.lists(_recipient, max_size=1))],
        bcc=[EmailAddress(a) for a in draw(st.lists(_recipient, max_size=1))],
        attachments=draw(st.lists(_attachment(), max_size=4)),
    )


def _storable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@settings(
    # The loaded profile's budget (100 in ``ci``, 2,000 in ``fuzz``) and its randomness: ``ci`` derandomises.
    max_examples=settings.default.max_examples,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_mail())
@example(
    MailMessage(
        subject="Dobbelt",
        to=[EmailAddress(f"0101701234@{ORG}.{GW}")],
        cc=[EmailAddress(f"010170-1234-reply@{ORG}.{GW}")],
        attachments=[Attachment("MemoHeader.json", "", b'{"replyByDateTime": "9999-12-31T23:59:59-14:00"}')],
    )
)
def test_any_mail_is_answered_with_letters_or_findings(msg: MailMessage) -> None:
    plan = plan_outbound(msg, CTX)
    for finding in plan.findings:
        assert finding.severity in ("error", "warning")
        assert _storable(finding.rule) and _storable(finding.message) and _storable(finding.path), finding
    if plan.errors:
        assert plan.memos == []
        return
    if not plan.memos:
        return  # no Digital Post recipient at all is an error too; nothing else ends without letters
    recipients = {(m.recipient_kind, m.recipient_id, m.recipient_contact_point) for m in plan.memos}
    assert len(recipients) == len(plan.memos)  # one letter per recipient
    first = plan.memos[0].memo_xml
    assert first is not None
    parse(first)
