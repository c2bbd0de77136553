"""GraphMailbox (real msgraph-sdk pipeline) against the Graph emulator, in-process and over a socket.

No SDK mocks: the adapter's httpx client talks to the emulator's ASGI app through httpx.ASGITransport
(or to uvicorn on 127.0.0.1), so auth, middleware, retries, URL building and JSON all run for real.
"""

from __future__ import annotations

import asyncio
import base64
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from graph_dpg.adapters.graph import GraphMailbox, RetryPolicy, StaticTokenCredential
from graph_dpg.core.errors import AuthError, NotFoundError, ThrottledError, TransientError
from graph_dpg.domain.mail import Attachment, EmailAddress, Header, MailMessage
from graph_dpg.sandbox.graph import GraphTenant, create_app, gateway_timeout, serve, throttle, unavailable
from graph_dpg.sandbox.graph.permissions import ALL_ROLES

TOKEN = "sandbox-token"
BASE = "http://127.0.0.1/v1.0"
FUNC = "post@kommune.dk"
OTHER = "byg@kommune.dk"
GATEWAY = "ngdp-cpr-0101012345@gw.kommune.dk"


@pytest.fixture
def tenant() -> GraphTenant:
    t = GraphTenant(TOKEN, roles=ALL_ROLES)  # send_mail too, which the gateway does not use yet
    t.add_mailbox(FUNC, "Digital Post")
    t.add_mailbox(OTHER, "Byggesag")
    return t


def make_mailbox(tenant: GraphTenant, **kw: object) -> GraphMailbox:
    kw.setdefault("retry", RetryPolicy.fast())
    return GraphMailbox(
        StaticTokenCredential(TOKEN),
        BASE,
        transport=httpx.ASGITransport(app=create_app(tenant)),
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
async def mbx(tenant: GraphTenant) -> AsyncIterator[GraphMailbox]:
    async with make_mailbox(tenant) as m:
        yield m


def sent(tenant: GraphTenant, n: int, *, start: int = 0) -> list[str]:
    return [
        tenant.put_sent_message(
            FUNC,
            f"Brev {i}",
            f"<p>Hej {i}</p>",
            to=[("Borger", GATEWAY)],
            cc=["kollega@kommune.dk"],
            internet_message_id=f"<msg-{i}@kommune.dk>",
        )
        for i in range(start, start + n)
    ]


async def test_delta_pages_and_rounds(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    ids = sent(tenant, 7)
    first = await mbx.read_delta(FUNC, "sentitems", None, page_size=3)
    assert sorted(m.id or "" for m in first.messages) == sorted(ids)
    assert first.resynced is False
    assert first.delta_link.startswith(BASE)
    assert tenant.count_requests(mailbox=FUNC, endpoint="messages.delta") == 3  # 3 + 3 + 1
    one = next(m for m in first.messages if m.subject == "Brev 0")
    assert one.to == [EmailAddress(GATEWAY, "Borger")]
    assert one.cc[0].address == "kollega@kommune.dk"
    assert one.sender is not None
    assert one.sender.address == FUNC
    assert one.internet_message_id == "<msg-0@kommune.dk>"
    assert one.is_draft is False
    assert one.body == ""  # delta rounds carry no body

    nothing = await mbx.read_delta(FUNC, "sentitems", first.delta_link, page_size=3)
    assert nothing.messages == []
    new = sent(tenant, 2, start=7)
    later = await mbx.read_delta(FUNC, "sentitems", nothing.delta_link, page_size=3)
    assert sorted(m.id or "" for m in later.messages) == sorted(new)
    assert later.delta_link != nothing.delta_link


async def test_expired_delta_token_resyncs(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    ids = sent(tenant, 4)
    first = await mbx.read_delta(FUNC, "sentitems", None)
    tenant.expire_delta_tokens()
    again = await mbx.read_delta(FUNC, "sentitems", first.delta_link)
    assert again.resynced is True
    assert sorted(m.id or "" for m in again.messages) == sorted(ids)
    assert tenant.count_requests(mailbox=FUNC, endpoint="messages.delta", status=410) == 1
    # The new link works normally.
    after = await mbx.read_delta(FUNC, "sentitems", again.delta_link)
    assert (after.resynced, after.messages) == (False, [])


async def test_throttling_and_503_are_retried_by_the_sdk(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    sent(tenant, 2)
    tenant.faults.script("GET", r"/messages/delta", throttle(0.05), unavailable(), gateway_timeout())
    rnd = await mbx.read_delta(FUNC, "sentitems", None)
    assert len(rnd.messages) == 2
    assert tenant.count_requests(mailbox=FUNC, status=429) == 1
    assert tenant.count_requests(mailbox=FUNC, status=503) == 1
    assert tenant.count_requests(mailbox=FUNC, status=504) == 1
    assert tenant.count_requests(mailbox=FUNC, status=200) == 1


async def test_persistent_throttling_surfaces_retry_after(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    tenant.faults.add_rate(1.0, throttle(0.02), path=r"/mailFolders")
    with pytest.raises(ThrottledError) as info:
        await mbx.check_mailbox(FUNC)
    assert info.value.retry_after == pytest.approx(0.02)
    assert tenant.count_requests(mailbox=FUNC, status=429) == 4  # 1 + 3 SDK retries


async def test_at_most_four_in_flight_per_mailbox(tenant: GraphTenant) -> None:
    tenant.latency = 0.005
    ids = sent(tenant, 3)
    async with make_mailbox(tenant, retry=RetryPolicy(max_retries=0)) as mbx:
        await asyncio.gather(
            *(mbx.get_mime(FUNC, ids[i % 3]) for i in range(40)),
            *(mbx.check_mailbox(OTHER) for _ in range(20)),
        )
    assert tenant.count_requests(status=429) == 0
    assert tenant.count_requests(mailbox=FUNC, status=200) == 40
    assert tenant.count_requests(mailbox=OTHER, status=200) == 20


async def test_concurrency_check_has_teeth(tenant: GraphTenant) -> None:
    """Without the limiter (8 in flight) the emulator throttles: the previous test proves something."""
    tenant.latency = 0.05  # long enough that the eight requests overlap even on a busy machine
    ids = sent(tenant, 1)
    async with make_mailbox(tenant, retry=RetryPolicy(max_retries=0), max_concurrency_per_mailbox=8) as mbx:
        results = await asyncio.gather(
            *(mbx.get_mime(FUNC, ids[0]) for _ in range(24)), return_exceptions=True
        )
    assert any(isinstance(r, ThrottledError) for r in results)
    assert tenant.count_requests(mailbox=FUNC, status=429) > 0


async def test_get_message_with_small_and_large_attachments_and_mime(tenant: GraphTenant) -> None:
    big = bytes(range(256)) * 4096  # 1 MiB: above the threshold, fetched via $value
    mid = tenant.put_sent_message(
        FUNC,
        "Med bilag",
        "<p>Se bilag</p>",
        to=[GATEWAY],
        attachments=[("lille.txt", "text/plain", b"hej"), ("stor.pdf", "application/pdf", big)],
        headers={"X-Memo-Type": "DIGITALPOST"},
    )
    async with make_mailbox(tenant) as mbx:
        msg = await mbx.get_message(FUNC, mid)
        mime = await mbx.get_mime(FUNC, mid)
    assert msg.body == "<p>Se bilag</p>"
    assert msg.body_type == "html"
    # A Sent Items copy has no internetMessageHeaders through Graph (microsoft-graph-docs issue 2716), but
    # its MIME keeps them (office-js issue 5413: "visible ... if the eml is downloaded via Graph API").
    assert msg.header("X-Memo-Type") is None
    assert b"X-Memo-Type: DIGITALPOST" in mime
    assert {a.name: a.content for a in msg.attachments} == {"lille.txt": b"hej", "stor.pdf": big}
    assert tenant.count_requests(mailbox=FUNC, endpoint="attachments.value") == 1
    assert b"Med bilag" in mime
    assert b"MIME-Version" in mime


async def test_create_received_message_with_5mb_attachment(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    big = bytes(range(256)) * 20_480  # 5 MiB → upload session
    msg = MailMessage(
        subject="Digital Post: Afgørelse",
        body="<p>Afgørelse æøå</p>",
        sender=EmailAddress("digitalpost@gw.kommune.dk", "Digital Post"),
        to=[EmailAddress(FUNC)],
        headers=[Header("X-Graph-Dpg-Memo", "uuid-1")],
        categories=["Digital Post"],
        attachments=[
            Attachment("memo.xml", "application/xml", b"<memo/>"),
            Attachment("afgoerelse.pdf", "application/pdf", big),
        ],
    )
    inbox = tenant.folder_id(FUNC, "inbox")
    new_id = await mbx.create_message(FUNC, "inbox", msg, extended_properties={"MemoUuid": "uuid-1"})
    stored = tenant.message(FUNC, new_id)
    assert stored["isDraft"] is False
    assert stored["isRead"] is False
    assert stored["parentFolderId"] == inbox
    assert stored["subject"] == "Digital Post: Afgørelse"
    assert stored["from"]["emailAddress"]["address"] == "digitalpost@gw.kommune.dk"
    by_name = {a["name"]: base64.b64decode(a["contentBytes"]) for a in stored["attachments"]}
    assert by_name == {"memo.xml": b"<memo/>", "afgoerelse.pdf": big}
    assert tenant.count_requests(mailbox=FUNC, endpoint="attachments.createUploadSession") == 1
    assert tenant.count_requests(endpoint="attachments.upload") >= 2
    # Findable through the project's extended property.
    assert await mbx.find_by_extended_property(FUNC, "inbox", "MemoUuid", "uuid-1") == [new_id]
    assert await mbx.find_by_extended_property(FUNC, "inbox", "MemoUuid", "other") == []
    back = await mbx.get_message(FUNC, new_id)
    assert back.is_draft is False
    assert back.id == new_id


async def test_created_as_draft_when_not_received(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    new_id = await mbx.create_message(
        FUNC, "drafts", MailMessage(subject="Kladde", to=[EmailAddress(OTHER)]), received=False
    )
    assert tenant.message(FUNC, new_id)["isDraft"] is True


async def test_send_mail_small_and_with_5mb_attachment(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    receipt = MailMessage(subject="Kvittering", body="<p>Sendt</p>", to=[EmailAddress(OTHER)])
    await mbx.send_mail(FUNC, receipt, save_to_sent_items=False)
    big = b"%PDF-1.7\n" + bytes(5 * 1024 * 1024)
    large = MailMessage(
        subject="Stort brev",
        body="<p>Se bilag</p>",
        to=[EmailAddress(OTHER)],
        attachments=[Attachment("stort.pdf", "application/pdf", big)],
    )
    await mbx.send_mail(FUNC, large)
    inbox = {m["subject"]: m for m in tenant.messages(OTHER, "inbox")}
    assert set(inbox) >= {"Kvittering", "Stort brev"}
    got = inbox["Stort brev"]["attachments"][0]
    assert base64.b64decode(got["contentBytes"]) == big
    assert tenant.count_requests(mailbox=FUNC, endpoint="sendMail") == 1
    assert tenant.count_requests(mailbox=FUNC, endpoint="attachments.createUploadSession") == 1
    sent_items = [m["subject"] for m in tenant.messages(FUNC, "sentitems")]
    assert "Stort brev" in sent_items
    assert "Kvittering" not in sent_items  # saveToSentItems=false


async def test_categories_and_master_categories(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    (mid,) = sent(tenant, 1)
    wanted = {"Digital Post: sendt": "preset4", "Digital Post: fejl": "preset0", "Red category": "preset9"}
    created = await mbx.ensure_master_categories(FUNC, wanted)
    assert created == ["Digital Post: sendt", "Digital Post: fejl"]
    colours = {c["displayName"]: c["color"] for c in tenant.master_categories(FUNC)}
    assert colours["Digital Post: sendt"] == "preset4"
    assert colours["Red category"] == "preset9"  # wrong colour fixed
    assert await mbx.get_master_categories(FUNC) == colours  # the read sees what the tenant holds
    assert await mbx.ensure_master_categories(FUNC, wanted) == []  # idempotent
    await mbx.set_categories(FUNC, mid, ["Digital Post: sendt", "Digital Post: sendt"])
    assert tenant.message(FUNC, mid)["categories"] == ["Digital Post: sendt"]


async def test_extended_property_marking_and_internet_message_id(
    tenant: GraphTenant, mbx: GraphMailbox
) -> None:
    a, b = sent(tenant, 2)
    await mbx.set_extended_property(FUNC, a, "ProcessedBy", "outbound")
    assert await mbx.find_by_extended_property(FUNC, "sentitems", "ProcessedBy", "outbound") == [a]
    assert await mbx.find_by_internet_message_id(FUNC, "sentitems", "<msg-1@kommune.dk>") == [b]
    assert await mbx.find_by_internet_message_id(FUNC, "sentitems", "<o'brien@x>") == []


async def test_move_and_ensure_folder(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    (mid,) = sent(tenant, 1)
    folder = await mbx.ensure_folder(FUNC, "Inbox/Digital Post/Behandlet")
    assert await mbx.ensure_folder(FUNC, "inbox/digital post/behandlet") == folder
    fresh = make_mailbox(tenant)  # no cache: finds the existing folders instead of creating twins
    assert await fresh.ensure_folder(FUNC, "Inbox/Digital Post/Behandlet") == folder
    await fresh.aclose()
    assert await mbx.find_folder(FUNC, "Inbox/Digital Post/Behandlet") == folder
    assert await mbx.find_folder(FUNC, "Inbox/Findes ikke/Behandlet") is None
    assert await mbx.find_folder(FUNC, "Findes ikke") is None
    top = await mbx.ensure_folder(FUNC, "Arkiv 2026")
    assert top != folder
    new_id = await mbx.move(FUNC, mid, folder)
    assert new_id == mid  # immutable ids survive moves
    assert tenant.message(FUNC, mid)["parentFolderId"] == folder


async def test_error_translation(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    with pytest.raises(NotFoundError):
        await mbx.check_mailbox("ukendt@kommune.dk")
    with pytest.raises(NotFoundError):
        await mbx.get_message(FUNC, sent(tenant, 1)[0] + "x")
    tenant.set_accessible(OTHER, False)
    with pytest.raises(AuthError):
        await mbx.check_mailbox(OTHER)
    wrong = GraphMailbox(
        StaticTokenCredential("stolen"), BASE, transport=httpx.ASGITransport(app=create_app(tenant))
    )
    with pytest.raises(AuthError) as info:
        await wrong.check_mailbox(FUNC)
    assert info.value.status == 401
    await wrong.aclose()


async def test_over_a_real_loopback_socket(tenant: GraphTenant) -> None:
    sent(tenant, 5)
    with serve(tenant) as base_url:
        assert base_url.startswith("http://127.0.0.1:")
        async with GraphMailbox(StaticTokenCredential(TOKEN), base_url, retry=RetryPolicy.fast()) as mbx:
            await mbx.check_mailbox(FUNC)
            rnd = await mbx.read_delta(FUNC, "sentitems", None, page_size=2)
            assert len(rnd.messages) == 5
            assert rnd.delta_link.startswith(base_url)
            big = bytes(4 * 1024 * 1024)
            await mbx.send_mail(
                FUNC,
                MailMessage(
                    subject="Over socket",
                    to=[EmailAddress(OTHER)],
                    attachments=[Attachment("x.bin", "application/octet-stream", big)],
                ),
            )
    assert [m["subject"] for m in tenant.messages(OTHER, "inbox")] == ["Over socket"]


async def test_failed_upload_leaves_no_half_created_message(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    tenant.faults.add_rate(1.0, unavailable(), method="PUT", path=r"upload")
    msg = MailMessage(
        subject="Halvt",
        to=[EmailAddress(FUNC)],
        attachments=[Attachment("stor.pdf", "application/pdf", bytes(4 * 1024 * 1024))],
    )
    with pytest.raises(TransientError):
        await mbx.create_message(FUNC, "inbox", msg)
    assert [m["subject"] for m in tenant.messages(FUNC, "inbox")] == []
    assert tenant.count_requests(endpoint="attachments.upload", status=503) == 4  # 1 + 3 retries


async def test_inline_image_round_trip_keeps_content_id(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(800_000)  # above the raw-bytes threshold, but inline: JSON path
    msg = MailMessage(
        subject="Logo",
        body='<p><img src="cid:logo@kommune"></p>',
        to=[EmailAddress(FUNC)],
        attachments=[Attachment("logo.png", "image/png", png, is_inline=True, content_id="logo@kommune")],
    )
    new_id = await mbx.create_message(FUNC, "inbox", msg)
    back = await mbx.get_message(FUNC, new_id)
    (att,) = back.attachments
    assert (att.name, att.is_inline, att.content_id, att.content) == ("logo.png", True, "logo@kommune", png)
    assert 'src="cid:logo@kommune"' in back.body


async def test_a_sent_reply_names_the_answered_message(tenant: GraphTenant, mbx: GraphMailbox) -> None:
    original = tenant.deliver_to_inbox(
        FUNC, "Brev", "<p>x</p>", internet_message_id="<memo-1@graph-dpg.invalid>"
    )
    mb = tenant.mailbox(FUNC)
    draft = tenant.create_reply(mb, tenant.get_message(mb, original), {"comment": "<p>svar</p>"})
    msg = await mbx.get_message(FUNC, draft.imm_id)
    assert msg.extended_properties["String 0x1042"] == "<memo-1@graph-dpg.invalid>"
    assert msg.header("In-Reply-To") == "<memo-1@graph-dpg.invalid>"


async def test_a_failed_request_carries_the_ids_graph_support_asks_for(
    tenant: GraphTenant, mbx: GraphMailbox
) -> None:
    """The adapter's client-request-id reaches Graph (the emulator echoes it in innerError, as
    learn.microsoft.com/graph/errors shows) and comes back in the error, with Graph's own request-id."""
    with pytest.raises(NotFoundError) as info:
        await mbx.get_mime(FUNC, "AAMkAGI2TG93AAA=")
    details = info.value.details
    inner = details["error"]["innerError"]  # type: ignore[index]
    assert uuid.UUID(str(details["client-request-id"])).version == 4
    assert inner["client-request-id"] == details["client-request-id"]
    assert inner["request-id"] == details["request-id"]
